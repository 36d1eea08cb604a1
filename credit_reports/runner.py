"""``credit-reports run``: one scheduled run, fetch then render every configured report.

Exit codes (the contract schedulers rely on):
  0  done, every report rendered from a complete snapshot
  1  a report failed (its failed notebook is kept; the last good report stays published)
  2  bad input (one line on stderr says what and what to do)
  3  rendered, but from an incomplete snapshot (the report carries a banner saying so)
  4  another run holds the lock for this data folder; nothing was done
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import ReportSpec
from .errors import CreditReportsError, UsageError

log = logging.getLogger("credit_reports.run")

EXIT_OK = 0
EXIT_REPORT_FAILED = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_LOCKED = 4
LOCK_NAME = ".credit-reports.lock"


class RunLockedError(CreditReportsError):
    """Another ``credit-reports run`` is working on the same data folder."""


@contextmanager
def run_lock(data_dir: Path) -> Iterator[Path]:
    """Hold an exclusive, non-blocking lock on ``<data_dir>/.credit-reports.lock`` for one run.

    flock is released by the kernel when the process dies, so a killed run never leaves a stale lock.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_NAME
    handle = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunLockedError(
                f"another credit-reports run (pid {holder}) is using {data_dir}: "
                "this run did nothing; schedule runs further apart"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield path
    finally:
        handle.close()


@dataclass
class RunOutcome:
    """What a run produced, and the exit code it maps to."""

    snapshot_path: Path | None = None
    snapshot_complete: bool = True
    rendered: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # report name -> why it failed

    @property
    def exit_code(self) -> int:
        """1 when any report failed, else 3 when the snapshot was incomplete, else 0."""
        if self.failed:
            return EXIT_REPORT_FAILED
        if not self.snapshot_complete:
            return EXIT_INCOMPLETE
        return EXIT_OK


def run_reports(
    *,
    reports: list[ReportSpec],
    data_dir: Path,
    out_dir: Path,
    fetch_kwargs: dict[str, Any],
    client: Any = None,
    api_key: str | None = None,
) -> RunOutcome:
    """Fetch one snapshot, then render each report from exactly that snapshot, then rebuild the index.

    A failing report (a notebook error, a leaked secret, a bad parameter value) does not stop the others;
    the outcome lists it and the exit code becomes 1.
    """
    from .fetch import fetch_snapshot
    from .render import ReportFailedError, build_index, render_report

    outcome = RunOutcome()
    with run_lock(data_dir):
        snapshot = fetch_snapshot(client, data_dir=data_dir, **fetch_kwargs)
        outcome.snapshot_path = snapshot.path
        outcome.snapshot_complete = bool(snapshot.complete)
        pinned = {"snapshot": snapshot.path.name, "environment": snapshot.environment}
        for spec in reports:
            parameters = {**spec.parameters, **pinned}
            try:
                result = render_report(
                    spec.notebook,
                    parameters=parameters,
                    data_dir=data_dir,
                    out_dir=out_dir,
                    output_name=spec.name,
                    api_key=api_key,
                )
            except (ReportFailedError, UsageError) as exc:  # one bad report must not stop the others
                log.debug("report %s failed: %s", spec.name, exc)  # the CLI prints it once
                outcome.failed[spec.name] = str(exc)
                continue
            outcome.rendered.append(Path(result.html))
        build_index(out_dir)
    return outcome
