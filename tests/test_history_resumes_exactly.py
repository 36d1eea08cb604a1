"""``credit-reports history`` killed at any write resumes to the very store an uninterrupted run leaves (issue 28
points 3 and 5): the same folders, revisions and Parquet bytes, the same JSON but for times and the run's own
call counts. The kill is a SIGKILL just before each durable write in turn (tests/kill_at_write.py), in a forked
copy of this process (a fork starts in milliseconds where a new interpreter takes seconds)."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import kill_at_write
import pytest

from credit_reports.fetch import history as credit_history
from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.paddle.client import PaddleClient
from credit_reports.simulator import Simulator

pytestmark = pytest.mark.slow

#: What two runs of the same history may differ in: times, and the calls a resumed run made itself.
RUN_STATS = {"seconds", "api_calls", "batches_resumed", "published_at"}


def _history(sim: Simulator, data_dir: Path, kill_at: int) -> tuple[int, int]:
    """Run the history in a forked child that kills itself before its ``kill_at``-th write (0: never); returns
    (the child's exit status as subprocess reports it, the writes it counted)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: count (and maybe die at) every durable write, run the history, report the count
        os.close(read)
        code = 1
        try:
            counter = kill_at_write.arm(kill_at)
            with PaddleClient(api_key=sim.api_key, base_url=sim.base_url, max_rpm=60_000) as client:
                credit_history.run_history(client, data_dir=data_dir, progress=False, workers=1, ids_per_request=10)
            os.write(write, str(counter[0]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        counted = pipe.read()
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return code, int(counted or 0)


def _points(count: int) -> list[int]:
    """The writes to kill at: every one with ``CREDIT_REPORTS_KILL_EVERY_WRITE=1`` (101 in this account: about
    7 min on two busy cores); by default every one of the first 15 (the journal, the plan, the first month end
    whole) and the last 15 (the last month end, the source's revision, the checkpoint's removal), and every
    fifth between (the same writes again, one month end after another)."""
    if os.environ.get("CREDIT_REPORTS_KILL_EVERY_WRITE") == "1":
        return list(range(1, count + 1))
    return sorted({*range(1, min(count, 15) + 1), *range(15, count - 15, 5), *range(max(1, count - 14), count + 1)})


def _without_stats(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_stats(v) for k, v in value.items() if k not in RUN_STATS}
    if isinstance(value, list):
        return [_without_stats(v) for v in value]
    return value


def _store(data_dir: Path) -> dict[str, object]:
    """Every file of the store by path: JSON without times and run stats, anything else as bytes (the lock file,
    which holds the last holder's pid, aside)."""
    out: dict[str, object] = {}
    for path in sorted(data_dir.rglob("*")):
        if not path.is_file() or path.name.endswith(".lock"):
            continue
        key = str(path.relative_to(data_dir))
        out[key] = (_without_stats(json.loads(path.read_text())) if path.suffix == ".json" else path.read_bytes())
    return out


def test_history_killed_at_every_write_resumes_to_the_store_of_one_run(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    anchor = datetime(now.year, now.month, 1, tzinfo=UTC) - timedelta(days=75)
    base = tmp_path / "base"
    with Simulator(customers=30, seed=41, anchor=anchor) as sim:
        with PaddleClient(api_key=sim.api_key, base_url=sim.base_url, max_rpm=60_000) as client:
            fetch_snapshot(client, data_dir=base, strategy="subscribers", progress=False)
        reference = tmp_path / "reference"
        shutil.copytree(base, reference)
        code, points = _history(sim, reference, 0)
        assert code == 0
        expected = _store(reference)
        revised = [k for k in expected if k.endswith("/revisions/0001/history.json")]  # revised, not edited
        assert len(revised) == 1 and expected[revised[0]]["window_base"]  # issue 28 point 5: it must survive a kill
        assert points >= 10
        for at in _points(points):
            data = tmp_path / f"kill-{at}"
            shutil.copytree(base, data)
            assert _history(sim, data, at)[0] == -9, at
            assert _history(sim, data, 0)[0] == 0, at
            assert _store(data) == expected, f"killed before write {at} of {points}"
            shutil.rmtree(data)
