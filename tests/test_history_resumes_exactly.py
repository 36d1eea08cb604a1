"""``credit-reports history`` killed at any write resumes to the very store an uninterrupted run leaves (issue 28
points 3 and 5): the same folders, revisions and Parquet bytes, the same JSON but for times and the run's own
call counts. The kill is a SIGKILL just before each durable write in turn (tests/kill_at_write.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.paddle.client import PaddleClient
from credit_reports.simulator import Simulator

pytestmark = pytest.mark.slow

HELPER = Path(__file__).with_name("kill_at_write.py")
#: What two runs of the same history may differ in: times, and the calls a resumed run made itself.
RUN_STATS = {"seconds", "api_calls", "batches_resumed", "published_at"}


def _history(sim: Simulator, data_dir: Path, kill_at: int) -> subprocess.CompletedProcess:
    command = [sys.executable, str(HELPER), str(kill_at), "--quiet", "history", "--base-url", sim.base_url,
               "--data-dir", str(data_dir), "--max-rpm", "60000", "--workers", "1", "--ids-per-request", "10"]
    env = {**os.environ, "PADDLE_API_KEY": sim.api_key}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


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
        done = _history(sim, reference, 0)
        assert done.returncode == 0, done.stderr
        points = int(done.stdout.strip().splitlines()[-1].removeprefix("writes: "))
        expected = _store(reference)
        assert any("/revisions/0001/history.json" in k for k in expected)  # the source is revised, not edited
        assert points >= 10
        for at in range(1, points + 1):
            data = tmp_path / f"kill-{at}"
            shutil.copytree(base, data)
            killed = _history(sim, data, at)
            assert killed.returncode == -9, (at, killed.returncode, killed.stderr[-500:])
            again = _history(sim, data, 0)
            assert again.returncode == 0, (at, again.stderr[-500:])
            assert _store(data) == expected, f"killed before write {at} of {points}"
            shutil.rmtree(data)
