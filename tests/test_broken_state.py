"""Broken state in the store, over real HTTP: corrupt snapshots, stray future folders, a kill after publish.

Each test fetches from the simulator through the CLI, breaks the store the way the reliability probe
did (issue 13), and checks the next commands: one line each, no traceback, the right exit code, and the
next snapshot exactly the simulator's ledger.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from credit_reports.app.cli import main
from credit_reports.core.errors import StoreError
from credit_reports.store.reader import list_snapshots, load_snapshot, usable_snapshot

COLUMNS = ["customer_id", "currency_code", "available", "reserved", "used"]


@pytest.fixture
def sim(make_sim, monkeypatch):
    simulator = make_sim(customers=40, seed=3)
    monkeypatch.setenv("PADDLE_API_KEY", simulator.api_key)
    return simulator


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["--quiet", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def fetch(capsys, sim, data: Path, *extra: str) -> tuple[int, Path | None, str]:
    code, out, err = cli(capsys, "fetch", "--base-url", sim.base_url, "--max-rpm", "100000", "--data-dir",
                         str(data), *extra)
    return code, (Path(out.strip()) if out.strip() else None), err


def ledger(sim) -> pd.DataFrame:
    return pd.DataFrame(sim.account.expected_balances(), columns=COLUMNS)


def same_balances(snapshot_path: Path, sim) -> bool:
    got = load_snapshot(snapshot_path).balances[COLUMNS].astype(object).reset_index(drop=True)
    want = ledger(sim).sort_values(["customer_id", "currency_code"]).astype(object).reset_index(drop=True)
    return got.values.tolist() == want.values.tolist()


def test_a_truncated_file_is_marked_unusable_checked_and_skipped_as_the_incremental_base(sim, tmp_path, capsys):
    data = tmp_path / "data"
    code, first, _ = fetch(capsys, sim, data)
    assert code == 0
    sim.advance(5)
    code, second, _ = fetch(capsys, sim, data)
    assert code == 0 and load_snapshot(second).strategy == "incremental"
    raw = (second / "balances.parquet").read_bytes()
    (second / "balances.parquet").write_bytes(raw[: len(raw) // 2])
    assert usable_snapshot(second) is None and usable_snapshot(first) is not None

    code, out, err = cli(capsys, "snapshots", "--data-dir", str(data))
    assert code == 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and str(second) in lines[0] and "balances.parquet" in lines[0], err
    table = list_snapshots(data)
    assert table.set_index("path").loc[str(second), "usable"] == False  # noqa: E712 - numpy bool
    assert table.set_index("path").loc[str(first), "usable"] == True  # noqa: E712

    code, out, _ = cli(capsys, "snapshots", "--check", "--data-dir", str(data))
    assert code == 3
    assert f"ok        {first}" in out and f"UNUSABLE  {second}: balances.parquet" in out

    code, _, err = cli(capsys, "render", "--data-dir", str(data), "--snapshot", second.name)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "unusable" in err

    sim.advance(6)
    code, third, err = fetch(capsys, sim, data, "--strategy", "incremental")
    assert code == 0, err
    manifest = load_snapshot(third).manifest
    assert manifest["strategy"] == "incremental" and manifest["base_snapshot"] == first.name
    assert same_balances(third, sim)


def test_a_manifest_that_is_a_list_or_a_copy_under_a_non_date_name_is_unusable_not_a_traceback(
    sim, tmp_path, capsys
):
    data = tmp_path / "data"
    code, first, _ = fetch(capsys, sim, data)
    assert code == 0
    copy = first.parent / "backup-of-monday"
    shutil.copytree(first, copy)
    listed = first.parent / "20200101T000000Z"
    shutil.copytree(first, listed)
    (listed / "manifest.json").write_text("[1, 2, 3]\n")

    code, out, err = cli(capsys, "snapshots", "--data-dir", str(data))
    assert code == 0
    problems = sorted(line for line in err.splitlines() if line.strip())
    assert len(problems) == 2
    assert "not a JSON object" in problems[0] and "20200101T000000Z" in problems[0]
    assert "backup-of-monday" in problems[1] and "not an as-of" in problems[1]
    with pytest.raises(StoreError, match="not a JSON object"):
        load_snapshot(listed)

    sim.advance(4)
    code, second, err = fetch(capsys, sim, data)
    assert code == 0, err
    assert load_snapshot(second).manifest["base_snapshot"] == first.name
    assert same_balances(second, sim)


def test_a_stray_folder_in_the_future_never_moves_the_next_as_of(sim, tmp_path, capsys, caplog):
    data = tmp_path / "data"
    env = data / "snapshots" / "local"
    (env / "20991231T000000Z").mkdir(parents=True)  # empty, as the probe left it
    code, first, err = fetch(capsys, sim, data)
    assert code == 0, err
    now = pd.Timestamp.now(tz="UTC")
    assert abs(pd.Timestamp(first.name) - now) < pd.Timedelta(minutes=5), first.name
    warned = [r.getMessage() for r in caplog.records if "20991231T000000Z" in r.getMessage()]
    assert len(warned) == 1 and "future" in warned[0]

    future = env / "20991230T000000Z"  # a whole snapshot copied there, manifest and all
    shutil.copytree(first, future)
    manifest = json.loads((future / "manifest.json").read_text())
    manifest["as_of"] = "2099-12-30T00:00:00Z"
    (future / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = cli(capsys, "snapshots", "--data-dir", str(data))
    assert code == 0 and "in the future" in err
    assert load_snapshot("latest", data_dir=data).path == first

    sim.advance(2)
    code, second, err = fetch(capsys, sim, data)
    assert code == 0, err
    assert second.name < "2099" and load_snapshot(second).manifest["base_snapshot"] == first.name
    assert same_balances(second, sim)


def test_a_kill_between_publish_and_cleanup_is_finished_by_the_next_fetch(sim, tmp_path, capsys):
    data = tmp_path / "data"
    code, first, _ = fetch(capsys, sim, data)
    assert code == 0
    left = first / "checkpoint"  # what a SIGKILL right after the publishing rename leaves
    left.mkdir()
    (left / "balances.jsonl").write_text('{"id":"ctm_x","rows":[]}\n')
    (left / "state.json").write_text("{}")
    assert same_balances(first, sim)  # loading ignores it
    code, out, _ = cli(capsys, "snapshots", "--check", "--data-dir", str(data))
    assert code == 0 and "UNUSABLE" not in out
    sim.advance(3)
    code, second, _ = fetch(capsys, sim, data)
    assert code == 0
    assert not left.exists() and not list(first.parent.glob(".deleting-*"))
    # the same tables, apart from what only a first fetch (adjustments) or an incremental one (movements) keeps
    own = {"adjustments.parquet", "movements.parquet"}
    assert sorted(p.name for p in first.iterdir() if p.name not in own) == sorted(
        p.name for p in second.iterdir() if p.name not in own)
