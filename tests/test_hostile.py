"""Hostile data over real HTTP: nothing wrong is ever published, and every failure is one line.

A tiny Paddle-shaped server (tests/hostile.py) sends what the simulator never does: a customer on two
list pages, a currency twice, amounts whose sum leaves int64, error bodies echoing the key, a ``next``
that never ends. Expected figures are computed by hand here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hostile import KEY, HostilePaddle  # tests/ is on sys.path; paddle-python-sdk installs a top-level "tests"

from credit_reports.app.cli import main
from credit_reports.core.errors import APIConnectionError, TotalOverflowError
from credit_reports.core.retries import RetryPolicy
from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.figures import cohorts, metrics
from credit_reports.paddle.client import PaddleClient
from credit_reports.store.reader import load_snapshot


@pytest.fixture
def hostile() -> Iterator[HostilePaddle]:
    server = HostilePaddle().start()
    yield server
    server.stop()


def client(server: HostilePaddle, **kwargs) -> PaddleClient:
    attempts = kwargs.pop("max_attempts", 2)
    return PaddleClient(KEY, base_url=server.base_url, max_rpm=100_000, max_attempts=attempts,
                        retry_policy=RetryPolicy(max_attempts=attempts, base=0.001, cap=0.002), **kwargs)


def fetch(server: HostilePaddle, data_dir: Path, strategy: str, **kwargs):
    with client(server, **kwargs) as c:
        return fetch_snapshot(c, data_dir=data_dir, strategy=strategy, progress=False)


# -- 1. duplicates -----------------------------------------------------------------------------------


def test_a_customer_on_two_list_pages_is_fetched_once_and_counted_once(hostile, tmp_path):
    ids = [f"ctm_{i}" for i in range(6)]
    hostile.customer_pages = [ids[:4], ids[3:]]  # ctm_3 is on both pages, as when the list moves
    amounts = [1000, 2000, 3000, 4000, 5000, 6000]
    hostile.balances = {cid: [("USD", str(a), "0", "0")] for cid, a in zip(ids, amounts, strict=True)}
    snap = fetch(hostile, tmp_path, "full")
    assert len(snap.balances) == 6
    assert int(snap.balances["available"].sum()) == 21000  # $210.00, not $250.00 with ctm_3 twice
    assert snap.manifest["duplicates_collapsed"] == 1
    assert snap.manifest["counts"]["balance_rows"] == 6
    assert hostile.requests["/customers/ctm_3/credit-balances"] == 1
    assert metrics.headline(snap.balances)["USD"]["available"] == 21000


@pytest.mark.parametrize("rows, field, value", [
    ([("KRW", "100", "0", "0"), ("KRW", "1000", "0", "0")], "currency_code", "'KRW' appears twice"),
    ([("krw", "100", "0", "0")], "currency_code", "'krw' is not upper case"),
    ([("ZZZ", "100", "0", "0")], "currency_code", "'ZZZ' is not one of Paddle's currency codes"),
    ([(None, "100", "0", "0")], "currency_code", "None is not one of Paddle's currency codes"),
    ([("", "100", "0", "0")], "currency_code", "'' is not one of Paddle's currency codes"),
    ([("USD", "-5", "0", "0")], "USD available", "'-5' is negative"),
    ([("USD", "0", "-696026", "0")], "USD reserved", "'-696026' is negative"),
    ([("USD", "\u0661\u0662\u0663", "0", "0")], "USD available", "is not an integer amount"),
    ([("USD", "12.5", "0", "0")], "USD available", "'12.5' is not an integer amount"),
    ([("USD", " 5", "0", "0")], "USD available", "' 5' is not an integer amount"),
    ([("USD", str(2**63), "0", "0")], "USD available", "does not fit in 64 bits"),
    ([("USD", None, "0", "0")], "USD available", "None is not an integer amount"),
])
def test_a_value_the_spec_does_not_allow_fails_that_customer_alone_exit_3_in_one_line(
        hostile, tmp_path, capsys, monkeypatch, rows, field, value):
    hostile.customer_pages = [["ctm_bad", "ctm_good"]]
    hostile.balances = {"ctm_bad": [("EUR", "700", "0", "0"), *rows], "ctm_good": [("USD", "300", "0", "0")]}
    monkeypatch.setenv("PADDLE_API_KEY", KEY)
    code = main(["--quiet", "fetch", "--strategy", "full", "--base-url", hostile.base_url, "--data-dir",
                 str(tmp_path), "--max-rpm", "100000"])
    err = capsys.readouterr().err
    assert code == 3, err
    lines = [line for line in err.splitlines() if " credit-reports:" in line]
    assert len(lines) == 1 and "ctm_bad" in lines[0] and f"{field} " in lines[0] and value in lines[0], err
    assert "permanent" in lines[0] and "run fetch again" not in lines[0] and "Traceback" not in err
    snap = load_snapshot("latest", data_dir=tmp_path)
    assert not snap.complete and snap.manifest["failed_customer_ids"] == ["ctm_bad"]
    assert value in snap.manifest["refused_at_door"]["ctm_bad"]
    # the good customer is kept exactly; not one figure of the bad one (not even its sound EUR row)
    assert snap.balances[["customer_id", "currency_code", "available"]].values.tolist() == [["ctm_good", "USD", 300]]


def test_a_malformed_balance_is_never_carried_as_a_new_currency_into_the_next_snapshot(hostile, tmp_path):
    hostile.customer_pages = [["ctm_a"]]
    hostile.balances = {"ctm_a": [("KRW", "117741", "0", "0")]}
    first = fetch(hostile, tmp_path, "full")
    assert first.complete
    hostile.balances = {"ctm_a": [("KRW", "117741", "0", "0"), ("krw", "1000000", "0", "0")]}
    second = fetch(hostile, tmp_path, "full")
    assert not second.complete and second.manifest["failed_customer_ids"] == ["ctm_a"]
    # the last good figure is carried over and said so; "krw" never becomes a currency
    assert second.manifest["failed_carried_over_ids"] == ["ctm_a"]
    assert second.balances[["currency_code", "available"]].values.tolist() == [["KRW", 117741]]


def test_a_customer_listed_twice_that_fails_is_one_failed_customer(hostile, tmp_path):
    hostile.customer_pages = [["ctm_a", "ctm_b"], ["ctm_b"]]
    hostile.balances = {"ctm_a": [("USD", "100", "0", "0")]}
    hostile.echo_auth_for = {"ctm_b"}  # answers 500 every time
    snap = fetch(hostile, tmp_path, "full")
    assert not snap.complete
    assert snap.manifest["failed_customer_ids"] == ["ctm_b"] and snap.manifest["counts"]["failed"] == 1
    assert hostile.requests["/customers/ctm_b/credit-balances"] == 2  # one customer, two attempts


# -- 2. overflow -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_total_beyond_int64_is_an_error_naming_the_currency_never_a_number(hostile, tmp_path, capsys):
    hostile.customer_pages = [["ctm_1", "ctm_2", "ctm_3"]]
    nine = str(9 * 10**18)  # each fits int64 (max 9.22e18); their sum does not
    hostile.balances = {"ctm_1": [("USD", nine, "0", "0")], "ctm_2": [("USD", nine, "0", "0")],
                        "ctm_3": [("EUR", "500", "0", "0")]}
    snap = fetch(hostile, tmp_path, "full")
    assert snap.complete  # the snapshot holds exactly what Paddle sent
    with pytest.raises(TotalOverflowError) as caught:
        metrics.currency_totals(snap.balances)
    assert caught.value.currency == "USD" and "USD" in str(caught.value)
    with pytest.raises(TotalOverflowError):
        cohorts.cohort_totals(snap.balances, pd.Series({"ctm_1": "a", "ctm_2": "a", "ctm_3": "b"}))
    # reserved alone fits, but available + reserved (outstanding) would not
    near = pd.DataFrame({"customer_id": ["x"], "currency_code": ["JPY"], "available": [2**62 + 2**61],
                         "reserved": [2**62], "used": [0]})
    with pytest.raises(TotalOverflowError, match="JPY total of outstanding"):
        metrics.headline(near)
    out = tmp_path / "reports"
    code = main(["--quiet", "render", "--data-dir", str(tmp_path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if " credit-reports:" in line]
    assert len(lines) == 1 and "USD" in lines[0] and "64 bits" in lines[0], err
    assert "Traceback" not in err
    assert not list(out.rglob("*.html")) and not list(out.rglob("manifest.json"))


def test_totals_just_inside_int64_are_exact(tmp_path):
    big = 2**62
    frame = pd.DataFrame({"customer_id": ["a", "b"], "currency_code": ["USD", "USD"],
                          "available": [big, big - 1], "reserved": [0, 0], "used": [0, 0]})
    assert metrics.headline(frame)["USD"]["available"] == 2**63 - 1


# -- 6. the key never leaks --------------------------------------------------------------------------


def test_an_error_body_echoing_the_key_reaches_no_log_line_journal_or_message(hostile, tmp_path, caplog):
    hostile.customer_pages = [["ctm_1", "ctm_2"], ["ctm_3"]]
    hostile.balances = {"ctm_1": [("USD", "100", "0", "0")]}
    hostile.echo_auth_for = {"ctm_2"}
    hostile.fail_customers_page = 1  # the listing dies after page one: the working folder stays on disk
    hostile.fail_delay = 0.5
    caplog.set_level(logging.DEBUG, logger="credit_reports")
    with pytest.raises(Exception) as caught:
        fetch(hostile, tmp_path, "full")
    assert hostile.requests["/customers/ctm_2/credit-balances"] == 2  # the echo was really sent, twice
    assert KEY not in str(caught.value)
    assert "Authorization: [redacted]" in caplog.text
    assert KEY not in caplog.text and KEY[-20:] not in caplog.text
    journals = list(tmp_path.rglob("balances.jsonl"))
    assert journals, "the failed fetch should leave its checkpoint for a resume"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    assert "[redacted]" in journals[0].read_text()


def test_a_query_secret_in_the_base_url_is_not_echoed(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PADDLE_API_KEY", KEY)
    code = main(["--quiet", "fetch", "--base-url", "http://127.0.0.1:9/?token=s3cr3tvalue", "--data-dir",
                 str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "s3cr3tvalue" not in err and "token=[redacted]" in err


@pytest.mark.parametrize("value, needle", [
    (f'"{KEY}"', "quotes"), (f"'{KEY}'", "quotes"), (f" {KEY}", "spaces"), (f"{KEY}\n", "line break"),
])
def test_the_key_validator_strips_nothing_and_refuses_quotes_and_whitespace(tmp_path, capsys, monkeypatch,
                                                                           value, needle):
    monkeypatch.setenv("PADDLE_API_KEY", value)
    code = main(["--quiet", "fetch", "--base-url", "http://127.0.0.1:9", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and needle in lines[0], err
    assert KEY not in err


# -- 8. pagination is bounded ------------------------------------------------------------------------


def test_endless_pagination_stops_at_the_hard_cap_with_a_clear_error(hostile):
    hostile.endless = True
    with client(hostile, max_pages=5) as c, pytest.raises(APIConnectionError, match="did not end after 5 pages"):
        list(c.paginate("/customers"))
    assert hostile.requests["/customers"] == 5


def test_endless_pagination_stops_soon_after_the_estimated_total(hostile):
    hostile.endless = True
    hostile.estimated_total = 3  # one item a page: at most 2 * 3 + 10 pages
    with client(hostile) as c, pytest.raises(APIConnectionError, match="did not end after 16 pages"):
        list(c.paginate("/customers"))
    assert hostile.requests["/customers"] == 16


def test_endless_pagination_in_a_fetch_exits_5_and_publishes_nothing(hostile, tmp_path, capsys, monkeypatch):
    hostile.endless = True
    hostile.estimated_total = 2
    monkeypatch.setenv("PADDLE_API_KEY", KEY)
    code = main(["--quiet", "fetch", "--strategy", "full", "--base-url", hostile.base_url, "--data-dir",
                 str(tmp_path), "--max-rpm", "100000"])
    err = capsys.readouterr().err
    assert code == 5
    lines = [line for line in err.splitlines() if " credit-reports:" in line]
    assert len(lines) == 1 and "did not end after 14 pages" in lines[0], err
    assert not list(tmp_path.glob("snapshots/*/2*"))


def test_the_manifest_of_a_published_snapshot_is_plain_json_with_the_duplicate_count(hostile, tmp_path):
    hostile.customer_pages = [["ctm_1"]]
    hostile.balances = {"ctm_1": [("USD", "5", "0", "0")]}
    snap = fetch(hostile, tmp_path, "full")
    manifest = json.loads((snap.path / "manifest.json").read_text())
    assert manifest["duplicates_collapsed"] == 0
    assert load_snapshot(snap.path).balances["available"].tolist() == [5]


def test_a_list_page_whose_items_are_not_objects_exits_5_in_one_line(hostile, tmp_path, capsys, monkeypatch):
    hostile.raw_customer_items = ["ctm_1", 42, None]
    monkeypatch.setenv("PADDLE_API_KEY", KEY)
    code = main(["--quiet", "fetch", "--strategy", "full", "--base-url", hostile.base_url, "--data-dir",
                 str(tmp_path)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if " credit-reports:" in line]
    assert code == 5 and len(lines) == 1 and "array of objects" in lines[0], err
    assert "Traceback" not in err and not list(tmp_path.glob("snapshots/*/2*"))


def _event(event_id: str, occurred_at: str, credit: str = "0") -> dict:
    """A transaction.completed event in Paddle's shape."""
    return {"event_id": event_id, "event_type": "transaction.completed", "occurred_at": occurred_at,
            "data": {"id": f"txn_{event_id[4:]}", "customer_id": "ctm_a", "currency_code": "USD",
                     "status": "completed", "details": {"totals": {"credit": credit, "credit_to_balance": "0"}},
                     "totals": {"total": "100"}}}


@pytest.mark.parametrize("bad, field", [
    ({"occurred_at": "2025-13-45T99:99:99Z"}, "occurred_at '2025-13-45T99:99:99Z'"),
    ({"occurred_at": "yesterday"}, "occurred_at 'yesterday'"),
    ({"data": {"id": "txn_x", "details": {"totals": {"credit": "12.5"}}}}, "data.details.totals.credit '12.5'"),
    ({"event_type": 5}, "event_type 5"),
])
def test_a_malformed_event_never_blocks_a_fetch_it_names_the_event_and_the_strategy_that_works(
        hostile, tmp_path, caplog, monkeypatch, bad, field):
    hostile.customer_pages = [["ctm_a"]]
    hostile.balances = {"ctm_a": [("USD", "100", "0", "0")]}
    hostile.events = [_event("evt_01good", "2025-01-02T03:04:05.000Z"),
                      {**_event("evt_02bad", "2025-01-03T03:04:05.000Z"), **bad}]
    monkeypatch.setenv("PADDLE_API_KEY", KEY)
    args = ["fetch", "--base-url", hostile.base_url, "--data-dir", str(tmp_path), "--max-rpm", "100000"]
    caplog.set_level(logging.WARNING, logger="credit_reports")
    assert main([*args, "--strategy", "full"]) == 0
    lines = [r.getMessage() for r in caplog.records if "events not used" in r.getMessage()]
    assert len(lines) == 1 and "event evt_02bad" in lines[0] or bad.get("event_id", 0) is None, lines
    assert field in lines[0] and "strategy full, which reads no events" in lines[0], lines
    assert not [r for r in caplog.records if "unexpected" in r.getMessage()]
    caplog.clear()
    assert main(args) == 0  # the next scheduled fetch (auto) works too, every day, not exit 1 for 90 days
    lines = [r.getMessage() for r in caplog.records if "events not used" in r.getMessage()]
    assert len(lines) == 1 and field in lines[0], lines
    snap = load_snapshot("latest", data_dir=tmp_path)
    assert snap.complete and snap.manifest["events_readable"] is False
    assert snap.balances[["customer_id", "available"]].values.tolist() == [["ctm_a", 100]]


# -- exit codes as documented ------------------------------------------------------------------------


def test_a_fetch_colliding_with_another_fetch_exits_4_as_the_readme_promises(hostile, tmp_path, capsys,
                                                                             monkeypatch):
    from credit_reports.store.writer import lock_environment

    hostile.customer_pages = [["ctm_a"]]
    hostile.balances = {"ctm_a": [("USD", "100", "0", "0")]}
    env_dir = tmp_path / "snapshots" / "local"
    env_dir.mkdir(parents=True)
    held = lock_environment(env_dir)  # another fetch holds the lock
    monkeypatch.setenv("PADDLE_API_KEY", KEY)
    try:
        code = main(["--quiet", "fetch", "--strategy", "full", "--base-url", hostile.base_url, "--data-dir",
                     str(tmp_path)])
    finally:
        from credit_reports.core import locks

        locks.release(held)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if " credit-reports:" in line]
    assert code == 4 and len(lines) == 1 and "another fetch" in lines[0], err
    assert hostile.requests["/customers"] == 0 and not list(env_dir.glob("2*"))


def test_snapshots_check_fails_a_snapshot_whose_listed_movements_were_deleted(hostile, tmp_path, capsys):
    hostile.customer_pages = [["ctm_a"]]
    hostile.balances = {"ctm_a": [("USD", "100", "0", "0")]}
    hostile.events = [_event("evt_01good", "2025-01-02T03:04:05.000Z")]
    fetch(hostile, tmp_path, "full")
    second = fetch(hostile, tmp_path, "incremental")
    assert second.manifest["evidence"] is True and (second.path / "movements.parquet").is_file()
    assert main(["--quiet", "snapshots", "--check", "--data-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    (second.path / "movements.parquet").unlink()
    code = main(["--quiet", "snapshots", "--check", "--data-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 3 and "movements.parquet is missing" in out + err, out + err


# -- bounded work ------------------------------------------------------------------------------------


def test_an_endless_listing_stops_at_twice_the_pages_the_first_page_implies_like_paddle_counts(hostile):
    hostile.endless = True
    hostile.honour_skip_count = True  # as Paddle: estimated_total only on the first page, the rest skip the count
    hostile.estimated_total = 5  # one item a page: 2 * 5 + 10 pages at most
    with client(hostile) as c, pytest.raises(APIConnectionError, match="did not end after 20 pages"):
        list(c.paginate("/customers"))
    assert hostile.requests["/customers"] == 20


def test_an_estimated_total_at_paddles_cap_bounds_nothing(hostile):
    hostile.endless = True
    hostile.estimated_total = 100_001  # Paddle's "more than 100,000": no bound may be derived from it
    with client(hostile, max_pages=30) as c, pytest.raises(APIConnectionError, match="after 30 pages"):
        list(c.paginate("/customers"))


def test_an_endless_listing_stops_at_the_wall_clock_budget_in_one_line(hostile):
    hostile.endless = True
    with client(hostile, listing_budget=0.3) as c, pytest.raises(APIConnectionError) as caught:
        list(c.paginate("/customers"))
    assert "did not end within" in str(caught.value) and len(str(caught.value).splitlines()) == 1


def test_the_key_is_not_in_vars_of_the_client(hostile):
    with client(hostile) as c:
        assert KEY not in repr(vars(c)) and KEY[-20:] not in str(vars(c))


def test_retries_and_429s_on_the_clock_check_are_counted_in_the_manifest(hostile, tmp_path):
    hostile.customer_pages = [["ctm_a"]]
    hostile.balances = {"ctm_a": [("USD", "100", "0", "0")]}
    hostile.root_failures = 1  # GET / (Paddle's clock, asked before the fetch starts) answers 429 once
    snap = fetch(hostile, tmp_path, "full")
    assert hostile.requests["/"] == 2
    assert snap.manifest["rate_limited"] == 1 and snap.manifest["api_calls"] >= 2 + hostile.requests["/customers"]


# -- text is text ------------------------------------------------------------------------------------


HOSTILE_COHORTS = ["$$", "50% off $x^$", "\\frac{1}{0}", "gro\u202e$ 001", "=HYPERLINK(\"x\")", "<b>x</b>"]


def test_hostile_cohort_names_render_in_charts_literally_never_as_mathtext(caplog):
    import io

    from credit_reports.figures import charts

    frame = pd.DataFrame({"customer_id": [f"ctm_{i}" for i in range(len(HOSTILE_COHORTS))],
                          "currency_code": "USD", "available": 100, "reserved": 0, "used": 0})
    cohort_of = pd.DataFrame({"customer_id": frame["customer_id"], "cohort": HOSTILE_COHORTS})
    totals = cohorts.cohort_totals(frame, cohort_of, min_cohort_size=1)
    fig = charts.cohort_bars(totals, title="Credit of $$ cohorts")
    fig.savefig(io.BytesIO(), format="png")  # mathtext would raise here on "$$" and "50% off $x^$"
    shown = [t.get_text() for t in fig.axes[-1].get_xticklabels()]
    drawn = [t._preprocess_math(t.get_text())[0] for t in fig.axes[-1].get_xticklabels()]
    assert all(math is False for _, math in (t._preprocess_math(t.get_text()) for t in
                                              fig.axes[-1].get_xticklabels())), shown
    assert {"$$", "50% off $x^$", "gro$ 001", "\\frac{1}{0}"} <= {d.split("\n")[0] for d in drawn}
    assert not any("\u202e" in d for d in drawn)
    assert "bidirectional control characters" in caplog.text and "\\u202e" in caplog.text


def test_the_readmes_per_currency_sum_of_changes_stays_exact_at_int64_max():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    line = next(x for x in readme.splitlines() if x.startswith('changes.groupby("currency_code")'))
    changes = pd.DataFrame({"currency_code": ["USD", "USD"], "available_change": [2**62, 2**62],
                            "reserved_change": [0, 0], "used_change": [0, 0]})
    assert int(changes["available_change"].sum()) < 0  # what a plain .sum() gives: wrapped round
    summed = eval(line, {"changes": changes})  # noqa: S307 - the README's own line
    assert int(summed.loc["USD", "available_change"]) == 2**63


# -- publishing: whole or not at all, never overwritten ------------------------------------------------

TINY = 'snapshot = "latest"\nenvironment = ""\ndata_dir = ""\nperiod = ""\ntimezone = "UTC"\ntitle = "Tiny"'


@pytest.fixture
def month_ends(hostile, tmp_path):
    """A store of three month-end snapshots (Sep, Oct, Nov 2026) read from the hostile server, and a tiny
    two-cell report that declares ``period``: renders in a couple of seconds."""
    from render_demo import two_cell_notebook

    hostile.customer_pages = [["ctm_a", "ctm_b"]]
    data_dir = tmp_path / "data"
    for as_of, amount in [("2026-09-30T23:59:59Z", "100"), ("2026-10-31T23:59:59Z", "200"),
                          ("2026-11-30T23:59:59Z", "300")]:
        hostile.balances = {"ctm_a": [("USD", amount, "0", "0")], "ctm_b": [("EUR", "5", "0", "0")]}
        with client(hostile) as c:
            fetch_snapshot(c, data_dir=data_dir, strategy="full", progress=False, as_of=as_of)
    notebook = two_cell_notebook(tmp_path / "tiny.ipynb", TINY, "print(title, snapshot, period)")
    return {"data_dir": data_dir, "notebook": notebook, "out": tmp_path / "site" / "reports"}


#: The snapshot that closes each period of the fixture: given with the period, since until issue 23's one
#: resolver lands the CLI pins the newest snapshot and refuses a period it does not close.
CLOSING = {"2026-09": "20260930T235959Z", "2026-Q3": "20260930T235959Z", "2026-10": "20261031T235959Z",
           "2026-11": "20261130T235959Z"}


def _render(store, *extra: str) -> int:
    period = extra[extra.index("period") + 1] if "period" in extra else None
    pinned = ["--snapshot", CLOSING[period]] if period else []
    return main(["--quiet", "render", "--data-dir", str(store["data_dir"]), "--out", str(store["out"]),
                 "--notebook", str(store["notebook"]), "--name", "tiny", *pinned, *extra])


def _whole(folder: Path) -> bool:
    """A published folder is whole: each manifest's listed files are all there, with its HTML."""
    manifests = list(folder.glob("*manifest.json"))
    return bool(manifests) and all(
        all((folder / name).is_file() for name in json.loads(m.read_text())["files"]) for m in manifests)


@pytest.mark.slow
def test_a_period_pack_lives_in_its_periods_folder_and_a_quarter_never_replaces_the_month(month_ends, capsys):
    out = month_ends["out"]
    assert _render(month_ends, "-p", "period", "2026-09") == 0
    september = out / "2026-09"
    signed = {p.name: p.read_bytes() for p in september.iterdir()}
    assert _render(month_ends, "-p", "period", "2026-Q3") == 0
    printed = capsys.readouterr().out.split()
    assert printed[0] == str(september / "tiny.html") and printed[1] == str(out / "2026-Q3" / "tiny.html")
    assert {p.name: p.read_bytes() for p in september.iterdir()} == signed  # the signed month is untouched
    assert _whole(out / "2026-Q3") and _whole(september)
    assert not list(out.glob(".render-*")) and not list((out.parent / ".reports.staging").iterdir())


@pytest.mark.slow
def test_a_rerender_keeps_the_published_version_beside_the_new_one_and_says_which_is_current(month_ends, capsys):
    from bs4 import BeautifulSoup

    out = month_ends["out"]
    assert _render(month_ends, "-p", "period", "2026-10") == 0
    first = json.loads((out / "2026-10" / "tiny.manifest.json").read_text())
    assert _render(month_ends, "-p", "period", "2026-10", "-p", "title", "Tiny again") == 0
    capsys.readouterr()
    assert (out / "2026-10").is_symlink() and (out / "2026-10").resolve() == (out / "2026-10.v2")
    kept = json.loads((out / "2026-10.v1" / "tiny.manifest.json").read_text())
    assert kept == first and kept["publication"]["version"] == 1  # the earlier version, byte for byte
    current = json.loads((out / "2026-10" / "tiny.manifest.json").read_text())
    assert current["publication"] == {"folder": "2026-10", "version": 2, "version_folder": "2026-10.v2",
                                      "version_url": None}
    assert "Tiny again" in (out / "2026-10" / "tiny.html").read_text()
    soup = BeautifulSoup((out / "index.html").read_text(), "html.parser")
    hrefs = [a["href"] for a in soup.find_all("a") if a["href"].endswith(".html")]
    assert hrefs.count("2026-10/tiny.html") == 1 and "2026-10.v1/tiny.html" in hrefs
    assert "current version; earlier, kept as published: v1" in soup.get_text()


@pytest.mark.slow
def test_a_corrupt_newest_snapshot_is_an_attention_and_exit_3_never_a_silent_fallback(month_ends, capsys):
    newest = sorted((month_ends["data_dir"] / "snapshots" / "local").glob("2*"))[-1]
    (newest / "balances.parquet").write_bytes(b"not parquet")
    code = _render(month_ends)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if " credit-reports:" in line]
    assert code == 3 and len(lines) == 1 and f"newest snapshot {newest.name} is unusable" in lines[0], err
    manifest = json.loads((Path(out.split()[0]).parent / "tiny.manifest.json").read_text())
    assert manifest["snapshot"]["name"] != newest.name
    assert any(f"newest snapshot {newest.name} is unusable" in reason for reason in manifest["attention"])


@pytest.mark.slow
def test_a_full_reports_disk_is_one_line_naming_the_path_and_the_folder_to_clear_exit_2(month_ends, capsys,
                                                                                       monkeypatch):
    import errno

    from credit_reports.delivery import exports

    assert _render(month_ends, "-p", "period", "2026-11") == 0
    before = {p.name: p.read_bytes() for p in (month_ends["out"] / "2026-11").iterdir()}
    capsys.readouterr()

    def full(tables, folder, name, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / f"{name}.totals.csv"))

    monkeypatch.setattr(exports, "write_exports", full)
    code = _render(month_ends, "-p", "period", "2026-11")
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if " credit-reports:" in line]
    assert code == 2 and len(lines) == 1, err
    assert "disk is full" in lines[0] and "tiny.totals.csv" in lines[0] and str(month_ends["out"]) in lines[0]
    assert "fetch" not in lines[0] and "NotJSONError" not in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in (month_ends["out"] / "2026-11").iterdir()} == before


@pytest.mark.slow
def test_sigterm_during_a_render_leaves_no_staging_and_publishes_nothing(month_ends, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from render_demo import two_cell_notebook

    slow = two_cell_notebook(tmp_path / "slow.ipynb", TINY, "import time\ntime.sleep(60)")
    staging = month_ends["out"].parent / ".reports.staging"
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "credit-reports"), "--quiet", "render", "--data-dir",
         str(month_ends["data_dir"]), "--out", str(month_ends["out"]), "--notebook", str(slow), "--name", "slow"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PADDLE_API_KEY": KEY})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(staging.glob(".render-slow-*")):
        time.sleep(0.2)
    assert list(staging.glob(".render-slow-*")), "the render never started staging"
    time.sleep(2)  # inside the render: its kernel runs the notebook's minute-long cell
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode == 143, proc.stderr.read()
    assert not list(staging.glob(".render-*")) and not list(month_ends["out"].glob(".render-*"))
    assert not list(month_ends["out"].rglob("slow.html"))


_KILL_SCRIPT = r'''
import builtins, json, os, shutil, sys
from pathlib import Path

kill_at, out, stage = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
writes = 0


def counted(function):
    def wrapper(*args, **kwargs):
        global writes
        writes += 1
        if writes == kill_at:
            os._exit(137)  # killed, as by SIGKILL: no finally, no cleanup
        return function(*args, **kwargs)
    return wrapper


for name in ("replace", "rename", "link", "symlink", "unlink", "chmod"):
    setattr(os, name, counted(getattr(os, name)))
shutil.copy2 = counted(shutil.copy2)
_open = builtins.open
builtins.open = lambda file, mode="r", *a, **k: (counted(_open) if any(c in mode for c in "wax+") else _open)(
    file, mode, *a, **k)

from credit_reports.delivery.index import build_index
from credit_reports.delivery.render import _Job, _publish

job = _Job(name="tiny", notebook=Path("tiny.ipynb"), parameters={}, report_arguments={}, report_parameters=None,
           snapshot=None, requested="latest", title="Tiny", out_dir=out, destination=out / "2026-11")
staged = sorted(p for p in stage.iterdir() if not p.name.endswith("manifest.json"))
staged.append(stage / "tiny.manifest.json")
_publish(job, stage, staged, int(json.loads((stage / "tiny.manifest.json").read_text())["publication"]["version"]),
         api_key=None, others={})
build_index(out)
print(writes)
'''


def _stage_report(stage: Path, name: str, version: int, text: str) -> list[Path]:
    """A report's files as a render stages them: HTML, notebook, an export, and its manifest listing them."""
    from credit_reports.delivery.index import manifest_name

    stage.mkdir(parents=True, exist_ok=True)
    files = {f"{name}.html": f"<html><body>{text}</body></html>", f"{name}.ipynb": "{}",
             f"{name}.totals.csv": f"currency_code,available\nUSD,{len(text)}\n"}
    for file, content in files.items():
        (stage / file).write_text(content)
    manifest = {"report": name, "title": name, "snapshot": {"name": "20261130T235959Z",
                                                           "as_of": "2026-11-30T23:59:59Z"},
                "files": [*files, manifest_name(name)], "rendered_at": f"2026-12-0{version}T00:00:00Z",
                "publication": {"folder": "2026-11", "version": version, "version_folder": f"2026-11.v{version}"},
                "marker": text}
    (stage / manifest_name(name)).write_text(json.dumps(manifest))
    return [stage / f for f in [*files, manifest_name(name)]]


def _check_published(out: Path) -> str:
    """Every invariant a reader relies on after any kill; returns the marker of the tiny report shown."""
    current = (out / "2026-11").resolve()
    assert current.is_dir() and current.name.startswith("2026-11.v")
    for folder in [current, *out.glob("2026-11.v*")]:
        assert _whole(folder), folder
    assert not [p for p in out.rglob(".*") if p.name != "index.html"], list(out.rglob(".*"))  # no staging, no temp
    tiny = json.loads((out / "2026-11" / "tiny.manifest.json").read_text())
    assert tiny["marker"] in (out / "2026-11" / "tiny.html").read_text()  # HTML and manifest of one render
    assert (out / "2026-11" / "other.html").is_file()  # the folder's other report is never lost
    if (out / "index.html").is_file():
        from bs4 import BeautifulSoup

        hrefs = [a["href"] for a in BeautifulSoup((out / "index.html").read_text(), "html.parser").find_all("a")]
        assert all((out / h).is_file() for h in hrefs), hrefs
    return tiny["marker"]


@pytest.mark.slow
def test_a_publish_killed_at_every_write_leaves_the_old_folder_or_the_new_one_whole(tmp_path):
    import shutil
    import subprocess
    import sys

    from credit_reports.delivery.index import build_index
    from credit_reports.delivery.render import _Job, _publish

    base = tmp_path / "base" / "reports"
    base.mkdir(parents=True)
    for version, (name, text) in enumerate([("other", "other one"), ("tiny", "tiny old")], 1):
        staged = _stage_report(tmp_path / "base" / f"stage{version}", name, version, text)
        job = _Job(name=name, notebook=Path("x"), parameters={}, report_arguments={}, report_parameters=None,
                   snapshot=None, requested="latest", title=name, out_dir=base, destination=base / "2026-11")
        _publish(job, tmp_path / "base" / f"stage{version}", staged, version, api_key=None, others={})
    build_index(base)
    assert _check_published(base) == "tiny old"

    def attempt(kill_at: int, root: Path) -> subprocess.CompletedProcess:
        shutil.copytree(base.parent, root, symlinks=True, ignore=shutil.ignore_patterns("stage*"))
        stage = root / ".reports.staging" / ".render-tiny-x"
        _stage_report(stage, "tiny", 3, "tiny new")
        return subprocess.run([sys.executable, "-c", _KILL_SCRIPT, str(kill_at), str(root / "reports"), str(stage)],
                              capture_output=True, text=True, timeout=60)

    clean = attempt(0, tmp_path / "clean")
    assert clean.returncode == 0, clean.stderr
    writes = int(clean.stdout.split()[-1])
    assert writes >= 8 and _check_published(tmp_path / "clean" / "reports") == "tiny new"
    seen = set()
    for kill_at in range(1, writes + 1):
        root = tmp_path / f"kill{kill_at}"
        killed = attempt(kill_at, root)
        assert killed.returncode == 137, (kill_at, killed.stderr)
        seen.add(_check_published(root / "reports"))
    assert seen == {"tiny old", "tiny new"}  # killed before the switch: the old folder; after: the new one


@pytest.mark.parametrize("value", ["2025-13-45T99:99:99Z", "not a time", 20250101])
def test_a_customer_with_a_malformed_time_is_kept_without_it_and_never_blocks_the_fetch(
        hostile, tmp_path, caplog, monkeypatch, value):
    from hostile import customer

    bad = {**customer("ctm_a"), "created_at": value}
    never = {**customer("ctm_c"), "created_at": "0001-01-01T00:00:00Z"}  # Paddle's "never": no warning
    hostile.raw_customer_items = [bad, customer("ctm_b"), never]
    hostile.balances = {"ctm_a": [("USD", "5", "0", "0")], "ctm_b": [("USD", "7", "0", "0")]}
    monkeypatch.setenv("PADDLE_API_KEY", KEY)
    caplog.set_level(logging.WARNING, logger="credit_reports")
    code = main(["--quiet", "fetch", "--strategy", "full", "--base-url", hostile.base_url, "--data-dir",
                 str(tmp_path), "--max-rpm", "100000"])
    assert code == 0
    lines = [r.getMessage() for r in caplog.records if "kept without it" in r.getMessage()]
    assert len(lines) == 1 and "customer ctm_a: created_at" in lines[0] and repr(value) in lines[0], lines
    snap = load_snapshot("latest", data_dir=tmp_path)
    assert snap.complete and snap.balances["available"].tolist() == [5, 7]
    created = snap.customers.set_index("customer_id")["created_at"]
    assert pd.isna(created["ctm_a"]) and pd.isna(created["ctm_c"]) and not pd.isna(created["ctm_b"])


@pytest.mark.slow
def test_a_refused_customer_is_never_a_published_figure_and_the_pack_says_attention(hostile, tmp_path, capsys,
                                                                                    monkeypatch):
    from render_demo import two_cell_notebook

    hostile.customer_pages = [["ctm_bad", "ctm_good"]]
    hostile.balances = {"ctm_bad": [("KRW", "117741", "0", "0"), ("KRW", "1000000", "0", "0")],
                        "ctm_good": [("USD", "300", "0", "0")]}
    monkeypatch.setenv("PADDLE_API_KEY", KEY)
    data, out = tmp_path / "data", tmp_path / "reports"
    assert main(["--quiet", "fetch", "--strategy", "full", "--base-url", hostile.base_url, "--data-dir",
                 str(data), "--max-rpm", "100000"]) == 3
    capsys.readouterr()
    notebook = two_cell_notebook(tmp_path / "tiny.ipynb", TINY, "print(title)")
    code = main(["--quiet", "render", "--data-dir", str(data), "--out", str(out), "--notebook", str(notebook),
                 "--name", "tiny"])
    printed, err = capsys.readouterr()
    assert code == 3, err
    manifest = json.loads((Path(printed.split()[0]).parent / "tiny.manifest.json").read_text())
    assert set(manifest["headline"]) == {"USD"} and manifest["headline"]["USD"]["available"] == 300
    assert any("incomplete" in reason for reason in manifest["attention"])
    assert not [p for p in out.rglob("*.csv") if "KRW" in p.read_text()]


@pytest.mark.parametrize("bad_id", [None, 42, "../../ctm_x", ""])
def test_a_listed_customer_without_a_usable_id_is_skipped_in_one_line_and_the_snapshot_is_incomplete(
        hostile, tmp_path, capsys, monkeypatch, bad_id):
    from hostile import customer

    hostile.raw_customer_items = [{**customer("ctm_a"), "id": bad_id}, customer("ctm_b")]
    hostile.balances = {"ctm_b": [("USD", "7", "0", "0")]}
    monkeypatch.setenv("PADDLE_API_KEY", KEY)
    code = main(["--quiet", "fetch", "--strategy", "full", "--base-url", hostile.base_url, "--data-dir",
                 str(tmp_path), "--max-rpm", "100000"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if " credit-reports:" in line]
    assert code == 3 and len(lines) == 1, err
    assert f"customers list item 0: id {bad_id!r} is not a Paddle id" in lines[0] and "Traceback" not in err
    snap = load_snapshot("latest", data_dir=tmp_path)
    assert not snap.complete and snap.balances[["customer_id", "available"]].values.tolist() == [["ctm_b", 7]]
    assert list(snap.manifest["refused_at_door"]) == ["customers list item 0"]


def test_a_malformed_adjustment_never_blocks_the_fetch_and_never_becomes_a_row(hostile, tmp_path, caplog,
                                                                              monkeypatch):
    hostile.customer_pages = [["ctm_a"]]
    hostile.balances = {"ctm_a": [("USD", "100", "0", "0")]}
    monkeypatch.setenv("PADDLE_API_KEY", KEY)
    args = ["--quiet", "fetch", "--base-url", hostile.base_url, "--data-dir", str(tmp_path), "--max-rpm", "100000"]
    assert main([*args, "--strategy", "full"]) == 0
    # a billed-then-completed transaction whose seller credit R1 looks up, and that adjustment's total is '12.5'
    # inside the incremental's window: after the first fetch's as-of (windows are cut by occurred_at)
    now = dt.datetime.now(dt.UTC)
    event = _event("evt_02", f"{now:%Y-%m-%dT%H:%M:%S}.000Z", credit="100")
    event["data"].update(billed_at=f"{now - dt.timedelta(days=1):%Y-%m-%dT%H:%M:%S}Z", collection_mode="manual",
                         origin="web")
    hostile.events = [event]
    hostile.raw_adjustments = [{"id": "adj_1", "transaction_id": "txn_02", "customer_id": "ctm_a",
                                "status": "approved", "action": "credit", "credit_applied_to_balance": False,
                                "totals": {"total": "12.5"}}]
    caplog.set_level(logging.WARNING, logger="credit_reports")
    assert main([*args, "--strategy", "incremental"]) == 0  # was: unexpected ValueError ... '12.5', exit 1
    lines = [r.getMessage() for r in caplog.records if "adjustment adj_1: totals.total '12.5'" in r.getMessage()]
    assert lines and all("permanent" in line for line in lines), caplog.text
    snap = load_snapshot("latest", data_dir=tmp_path)
    assert snap.complete and snap.balances["available"].tolist() == [100]
    assert "adj_1" not in snap.adjustments["id"].tolist()
