"""A render's exports start the moment its kernel hands the prepared report over, not after the kernel ends."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from stores import write_snapshot

from credit_reports.report import handoff
from credit_reports.report.preparation import prepare


def _report(data_dir: Path):
    write_snapshot(data_dir, "2026-10-01T06:00:00Z", [("c1", "USD", 500, 0, 0), ("c2", "EUR", 300, 20, 0)])
    write_snapshot(data_dir, "2026-11-01T06:00:00Z", [("c1", "USD", 400, 0, 100), ("c2", "EUR", 300, 20, 0)], [])
    return prepare(data_dir=str(data_dir), environment="local")


def test_the_work_runs_while_the_kernel_still_runs_and_a_second_handover_wins(tmp_path: Path, monkeypatch) -> None:
    report = _report(tmp_path / "data")
    folder = tmp_path / "stage" / ".handoff"
    folder.parent.mkdir()
    monkeypatch.setenv(handoff.ENV, str(folder))
    started = threading.Event()

    def work(facts: handoff.ExportFacts) -> dict[str, int]:
        started.set()
        return {name: len(table) for name, table in facts.tables.items()}

    early = handoff.EarlyExports(folder, work, poll=0.01)
    handoff.save(report)  # the kernel's cell; the charts would come after it
    assert started.wait(5), "the work did not start while the kernel was still running"
    facts = early.finish()
    assert early.result == {name: len(table) for name, table in report.tables().items()}
    assert facts.headline == report.headline() and not folder.exists()

    again = handoff.EarlyExports(folder, work, poll=0.01)
    handoff.save(report)
    deadline = time.monotonic() + 5
    while again.result is None and time.monotonic() < deadline:
        time.sleep(0.01)
    handoff.save(report)  # handed over a second time, after the work began: those facts win
    facts = again.finish()
    assert again.result is None and facts is not None and facts.headline == report.headline()


def test_a_failed_notebook_drops_the_early_work(tmp_path: Path) -> None:
    folder = tmp_path / ".handoff"
    early = handoff.EarlyExports(folder, lambda facts: 1 / 0, poll=0.01)
    early.cancel()
    assert early.facts is None and early.result is None
