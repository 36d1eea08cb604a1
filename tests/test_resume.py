"""Resumable fetches: SIGKILL mid-fetch, then the next fetch finishes the same snapshot without redoing work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from clients import client_for

from credit_reports.core.errors import ServerError
from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.store.reader import list_snapshots
from credit_reports.store.writer import SnapshotWriter

BALANCES_PATH = "/customers/{id}/credit-balances"
COLUMNS = ["customer_id", "currency_code", "available", "reserved", "used"]

FETCH_IN_A_SUBPROCESS = """
import sys
from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.paddle.client import PaddleClient
client = PaddleClient(base_url=sys.argv[1], max_rpm=100000)  # key from PADDLE_API_KEY
fetch_snapshot(client, data_dir=sys.argv[2], strategy="full", workers=2, progress=False)
"""




def records(df: pd.DataFrame) -> list[tuple]:
    return sorted((str(a), str(b), int(c), int(d), int(e)) for a, b, c, d, e in df[COLUMNS].itertuples(index=False))


def journal_ids(data_dir: Path) -> set[str]:
    """Customers whose balances the checkpoint journal of the unfinished snapshot holds in full."""
    done = set()
    for path in data_dir.glob("snapshots/local/.partial-*/checkpoint/balances.jsonl"):
        for line in path.read_text().splitlines(keepends=True):
            if line.endswith("\n"):
                record = json.loads(line)
                if "rows" in record:
                    done.add(record["id"])
    return done


def test_a_fetch_killed_with_sigkill_resumes_without_refetching_finished_customers(make_sim, tmp_path, repo_root):
    sim = make_sim(customers=200, seed=21, latency_ms=25)
    data_dir = tmp_path / "data"
    env = {**os.environ, "PADDLE_API_KEY": sim.api_key}
    python = repo_root / ".venv" / "bin" / "python"
    proc = subprocess.Popen([str(python) if python.exists() else sys.executable, "-c", FETCH_IN_A_SUBPROCESS,
                             sim.base_url, str(data_dir)], env=env, cwd=repo_root)
    try:
        deadline = time.monotonic() + 30
        while len(journal_ids(data_dir)) < 40:
            assert proc.poll() is None, "the fetch ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint rows appeared"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    finished = journal_ids(data_dir)
    partial = next((data_dir / "snapshots" / "local").glob(".partial-*"))
    assert list_snapshots(data_dir).empty  # nothing half-published

    sim.reset_stats()
    with client_for(sim) as c:
        resumed = fetch_snapshot(c, data_dir=data_dir, strategy="auto", progress=False)
    assert resumed.manifest["resumed"] is True
    assert resumed.name == partial.name.removeprefix(".partial-")  # same as-of as the killed run
    assert resumed.manifest["strategy"] == "full"
    assert sim.stats["by_path"][BALANCES_PATH] == 200 - len(finished)  # finished customers not re-fetched
    # the listed customers came from the checkpoint: the one /customers call is the account's identity (per_page 1)
    assert sim.stats["by_path"].get("/customers", 0) == 1
    assert resumed.manifest["api_calls"] > sim.stats["requests"]  # the killed attempt's calls are counted
    assert not partial.exists()

    with client_for(sim) as c:
        uninterrupted = fetch_snapshot(c, data_dir=tmp_path / "other", strategy="full", progress=False)
    expected = pd.DataFrame(sim.account.expected_balances(), columns=COLUMNS)
    assert records(resumed.balances) == records(expected)
    assert resumed.balances.equals(uninterrupted.balances)
    assert resumed.customers.equals(uninterrupted.customers)
    assert resumed.subscriptions.equals(uninterrupted.subscriptions)


def test_a_fetch_that_raised_is_resumed_with_the_same_as_of(make_sim, tmp_path):
    sim = make_sim(customers=50, seed=22)
    with client_for(sim) as c:
        sim.inject("503", count=2, path="/adjustments")  # after customers were listed and checkpointed
        with pytest.raises(ServerError):
            fetch_snapshot(c, data_dir=tmp_path, strategy="subscribers", progress=False)
        partial = next((tmp_path / "snapshots" / "local").glob(".partial-*"))
        sim.reset_stats()
        snap = fetch_snapshot(c, data_dir=tmp_path, strategy="subscribers", progress=False)
    assert snap.manifest["resumed"] is True and snap.name == partial.name.removeprefix(".partial-")
    assert sim.stats["by_path"].get("/customers", 0) == 1  # the account's identity, not a new listing
    assert records(snap.balances) == records(pd.DataFrame(sim.account.expected_balances(), columns=COLUMNS))


def test_an_unfinished_fetch_of_another_strategy_is_discarded_not_resumed(make_sim, tmp_path):
    sim = make_sim(customers=30, seed=23)
    writer = SnapshotWriter.open(tmp_path, "local", now=pd.Timestamp("2026-01-01", tz="UTC"))
    writer.update_state(requested_strategy="full", strategy="full", base_url=sim.base_url)
    writer.close()
    with client_for(sim) as c:
        snap = fetch_snapshot(c, data_dir=tmp_path, strategy="subscribers", progress=False)
    assert snap.manifest["resumed"] is False and snap.manifest["strategy"] == "subscribers"
    assert snap.name != "20260101T000000Z"
    assert list((tmp_path / "snapshots" / "local").glob(".partial-*")) == []
