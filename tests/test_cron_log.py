"""The log a schedule keeps: the command line run as cron runs it, stderr a pipe (not a terminal).

Every line starts with a UTC timestamp, progress is plain lines (never carriage-return redraws), a
failure is exactly one line, and a successful ``--quiet run`` still leaves one summary line (issue 19,
item 5). The simulator serves on loopback; the command is the installed console script in a subprocess.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \S")
SCRIPT = Path(sys.executable).with_name("credit-reports")


def _run(*argv: str, key: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PADDLE_API_KEY": key, "CREDIT_REPORTS_PSEUDONYM_SALT": "cron-log-test", **env}
    environment.pop("TQDM_DISABLE", None)
    return subprocess.run([str(SCRIPT), *argv], capture_output=True, text=True, env=environment, timeout=120,
                          check=False)


def _lines(stderr: str) -> list[str]:
    assert "\r" not in stderr, "a redrawn bar reached the log"
    lines = [line for line in stderr.split("\n") if line.strip()]
    for line in lines:
        assert STAMP.match(line), f"a log line without its timestamp: {line!r}"
    return lines


def test_progress_in_a_pipe_is_timestamped_lines_not_redraws(make_sim, tmp_path):
    sim = make_sim(customers=120, seed=5)
    done = _run("fetch", "--base-url", sim.base_url, "--max-rpm", "6000", "--data-dir", str(tmp_path),
                key=sim.api_key, CREDIT_REPORTS_PROGRESS_SECONDS="0")
    assert done.returncode == 0, done.stderr
    lines = _lines(done.stderr)
    progress = [line for line in lines if " progress: " in line]
    assert any("progress: balances fetched" in line for line in progress), lines
    final = [line for line in progress if "balances fetched" in line][-1]
    assert re.search(r"balances fetched (\d+)/\1 \(100%\) in \d+ s", final), final
    assert len(done.stderr) < 20_000  # a line per refresh at most, not one line of thousands of redraws


def test_an_unreachable_host_is_exactly_one_stamped_line_and_exit_5(tmp_path):
    done = _run("--quiet", "fetch", "--base-url", "http://127.0.0.1:9", "--data-dir", str(tmp_path),
                key="pdl_sdbx_apikey_01abcdefghijklmnopqrstuvwxyz_0123456789abcdefghijklmnopqrstuvwx")
    assert done.returncode == 5
    lines = _lines(done.stderr)
    assert len(lines) == 1, lines
    assert "credit-reports: error: Could not reach Paddle" in lines[0] and "after 3 attempts" in lines[0]


def test_a_bad_argument_is_one_stamped_line_and_exit_2(tmp_path):
    done = _run("fetch", "--bogus", key="")
    assert done.returncode == 2
    assert len(_lines(done.stderr)) == 1 and "--bogus" in done.stderr


@pytest.mark.slow
def test_a_quiet_successful_run_prints_one_summary_line(make_sim, tmp_path):
    sim = make_sim(customers=60, seed=6)
    data, out = tmp_path / "data", tmp_path / "reports"
    done = _run("--quiet", "run", "--base-url", sim.base_url, "--max-rpm", "6000", "--data-dir", str(data),
                "--out", str(out), "--no-mail", key=sim.api_key)
    assert done.returncode == 0, done.stderr
    lines = _lines(done.stderr)
    assert len(lines) == 1, lines
    (snapshot,) = [p for p in (data / "snapshots").glob("*/*") if p.is_dir()]
    summary = lines[0]
    assert "credit-reports: run done, exit 0" in summary
    assert f"snapshot {snapshot.parent.name}/{snapshot.name} (complete)" in summary
    assert "1 report(s):" in summary and "credit-balances.html" in summary
