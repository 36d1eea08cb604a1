"""Progress: one bar at a time for a fetch's concurrent stages, drawn by one owner; none when off."""

from __future__ import annotations

import re
import threading

import pytest
from clients import client_for
from tqdm import tqdm

from credit_reports.fetch.progress import ProgressBoard
from credit_reports.fetch.snapshot import fetch_snapshot

LINE = re.compile(r"^[a-z ]+: .*\[\d\d:\d\d[^\]]*\]$")  # one whole tqdm line, nothing left over after it


def _screen(raw: str) -> list[str]:
    """What a terminal shows after ``raw``: carriage returns overwrite, newlines advance, ESC[A goes up."""
    lines, row, col, i = [""], 0, 0, 0
    while i < len(raw):
        m = re.match(r"\x1b\[(\d*)([A-Za-z])", raw[i:])
        if m:
            if m.group(2) == "A":
                row = max(0, row - int(m.group(1) or 1))
            i += len(m.group(0))
            continue
        ch = raw[i]
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row, col = row + 1, 0
            lines.extend([""] * (row + 1 - len(lines)))
        else:
            text = lines[row].ljust(col)
            lines[row] = text[:col] + ch + text[col + 1:]
            col += 1
        i += 1
    return [line.rstrip() for line in lines if line.strip()]


@pytest.fixture
def bars(monkeypatch):
    """Draw tqdm bars as on a terminal, although pytest's captured stderr is none (the board's own switch)."""
    from credit_reports.fetch import progress

    monkeypatch.setattr(progress.board(), "mode", "bar")


def _board() -> ProgressBoard:
    board = ProgressBoard()
    board.mode = "bar"
    return board


def test_a_fetch_leaves_one_clean_line_per_stage_shown_and_no_cursor_moves(make_sim, tmp_path, capsys, bars):
    sim = make_sim(customers=300, seed=4)
    with client_for(sim) as client:
        fetch_snapshot(client, data_dir=tmp_path, strategy="subscribers", progress=True)
    raw = capsys.readouterr().err
    assert "\x1b[A" not in raw  # no bars stacked over each other with cursor moves
    screen = _screen(raw)
    assert screen, raw[-500:]
    for line in screen:
        assert LINE.match(line), f"garbled progress line: {line!r}"
    # the listings ran beside the balances: they are named in the one bar, not drawn as bars of their own;
    # then the verification sample of the skipped customers has its own line
    assert [line.split(":")[0] for line in screen] == ["balances fetched", "skipped customers sampled"], screen
    credit_adjusted = {a["customer_id"] for a in sim.account.adjustments.items if a["action"] == "credit"}
    candidates = len(sim.account.subscriber_ids() | credit_adjusted)
    assert f"{candidates}/{candidates}" in screen[0] and "50/50" in screen[1]
    assert "subscriptions listed" in raw and "customers listed" in raw


def test_no_progress_output_when_progress_is_off(make_sim, tmp_path, capsys):
    sim = make_sim(customers=60, seed=4)
    with client_for(sim) as client:
        fetch_snapshot(client, data_dir=tmp_path, strategy="subscribers", progress=False)
    assert capsys.readouterr().err == ""


def test_quiet_cli_fetch_draws_no_bar_and_a_later_fetch_still_does(make_sim, tmp_path, capsys, monkeypatch, bars):
    from credit_reports.app.cli import main

    sim = make_sim(customers=60, seed=4)
    monkeypatch.setenv("PADDLE_API_KEY", sim.api_key)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)  # a developer's own setting; undone after the test
    argv = ["fetch", "--base-url", sim.base_url, "--max-rpm", "6000", "--data-dir", str(tmp_path)]
    assert main(["--quiet", *argv]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.strip()
    with client_for(sim) as client:  # --quiet is for that command only, not for the process
        fetch_snapshot(client, data_dir=tmp_path / "again", strategy="subscribers", progress=True)
    assert "balances fetched" in capsys.readouterr().err


def test_stages_counted_from_many_threads_share_one_bar(capsys):
    board = _board()
    alive: list[int] = []
    lead = board.open("balances fetched", total=4 * 500, unit=" customers", lead=True)
    others = [board.open(f"listing {i}", unit=" rows") for i in range(3)]

    def work(item, n):
        for _ in range(n):
            item.update(1)
            alive.append(len(tqdm._instances))

    threads = [threading.Thread(target=work, args=(lead, 2000))]
    threads += [threading.Thread(target=work, args=(o, 300)) for o in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for o in others:
        o.close()
    lead.close()
    assert max(alive) == 1  # never more than one bar on screen
    assert lead.n == 2000 and all(o.n == 300 for o in others)
    screen = _screen(capsys.readouterr().err)
    assert screen[-1].startswith("balances fetched: 100%") and "2000/2000" in screen[-1]


@pytest.mark.parametrize("lead_first", [True, False])
def test_the_lead_stage_takes_the_bar_whenever_it_starts(lead_first, capsys):
    board = _board()
    first = board.open("balances fetched" if lead_first else "customers listed", lead=lead_first)
    second = board.open("customers listed" if lead_first else "balances fetched", lead=not lead_first)
    lead = first if lead_first else second
    assert board.shown is lead
    (second if lead_first else first).update(5)
    board.changed(lead, force=True)
    assert "customers listed 5" in str(board.bar)
    for s in (first, second):
        s.close()
    assert board.bar is None


def test_a_stage_an_earlier_failed_fetch_left_open_is_dropped_when_a_new_fetch_starts(capsys, monkeypatch):
    from credit_reports.fetch import progress

    board = _board()
    abandoned = board.open("credit adjustments", unit=" adj")
    abandoned.update(3)
    monkeypatch.setattr(progress, "STALE_SECONDS", 0.0)  # as if it had been silent for minutes
    lead = board.open("balances fetched", total=2, lead=True)
    lead.update(2)
    lead.close()
    assert board.bar is None and board.stages == []  # no stuck bar for the abandoned stage
    assert "credit adjustments" not in _screen(capsys.readouterr().err)[-1]


@pytest.mark.parametrize("mode", ["bar", "lines"])
def test_a_finished_stage_leaves_its_running_eta_off_its_final_line(mode, capsys):
    board = ProgressBoard()
    board.mode = mode
    lead = board.open("balances fetched", total=40, unit=" customers", lead=True)
    lead.update(20)
    lead.set_postfix_str("limit 240/60s, ETA at limit 0.1 min")
    assert "ETA at limit 0.1 min" in (str(board.bar) if mode == "bar" else board.bar.line())
    lead.update(20)
    lead.close()
    err = capsys.readouterr().err
    final = _screen(err)[-1] if mode == "bar" else err.splitlines()[-1]
    assert "40/40" in final and "ETA" not in final, final
