"""``credit-reports run``: one scheduled run, fetch then render every configured report.

Exit codes (the contract schedulers rely on):
  0  done, every report rendered from a complete snapshot
  1  a report failed (its failed notebook is kept; the last good report stays published)
  2  bad input (one line on stderr says what and what to do)
  3  rendered, but from an incomplete snapshot (the report carries a banner saying so)
  4  another run holds the lock for this data folder; nothing was done
  6  every report was rendered and published, but emailing one failed (one line on stderr says why)

When several apply, the first in this order wins: 1, 6, 3, 0 (5 is kept for "Paddle unreachable").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from credit_reports import locks
from credit_reports.config import MailSettings, ReportSpec, Settings
from credit_reports.errors import CreditReportsError, UsageError

log = logging.getLogger("credit_reports.run")

EXIT_OK = 0
EXIT_REPORT_FAILED = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_LOCKED = 4
EXIT_MAIL_FAILED = 6
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
    try:
        fd = locks.acquire(path)
    except locks.LockHeld as held:
        raise RunLockedError(
            f"another credit-reports run (pid {held.holder or 'unknown'}) is using {data_dir}: "
            "this run did nothing; schedule runs further apart"
        ) from None
    try:
        yield path
    finally:
        locks.release(fd)


@dataclass
class RunOutcome:
    """What a run produced, and the exit code it maps to."""

    snapshot_path: Path | None = None
    snapshot_complete: bool = True
    rendered: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # report name -> why it failed
    emailed: list[str] = field(default_factory=list)  # report names sent
    mail_failed: dict[str, str] = field(default_factory=dict)  # report name -> why it was not sent
    warnings: list[str] = field(default_factory=list)  # e.g. no PDF: Chromium is not installed

    @property
    def exit_code(self) -> int:
        """1 when any report failed, else 6 when an email failed, else 3 for an incomplete snapshot, else 0."""
        if self.failed:
            return EXIT_REPORT_FAILED
        if self.mail_failed:
            return EXIT_MAIL_FAILED
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
    settings: Settings | None = None,
    mail: MailSettings | None = None,
) -> RunOutcome:
    """Fetch one snapshot, render each report from exactly that snapshot, rebuild the index, then email.

    A failing report (a notebook error, a leaked secret, a bad parameter value) does not stop the others;
    the outcome lists it and the exit code becomes 1. With ``mail``, every published report is emailed
    after the index is rebuilt; a failed send leaves the report published and makes the exit code 6.
    """
    settings = settings or Settings()
    from credit_reports.render import ReportFailedError, build_index, render_report
    from credit_reports.snapshot_fetch import fetch_snapshot

    outcome = RunOutcome()
    published: list[tuple[str, Path]] = []
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
                    pdf=spec.pdf,
                    csv_bom=settings.exports.csv_bom,
                    outstanding_change_share=settings.alerts.outstanding_change_share,
                    index=False,  # built once, after the last report
                )
            except (ReportFailedError, UsageError) as exc:  # one bad report must not stop the others
                log.debug("report %s failed: %s", spec.name, exc)  # the CLI prints it once
                outcome.failed[spec.name] = str(exc)
                continue
            outcome.rendered.append(Path(result.html))
            outcome.warnings.extend(result.warnings)
            published.append((spec.name, Path(result.manifest)))
        build_index(out_dir)
    if mail is not None:
        _email(published, mail, settings, outcome)
    return outcome


def _email(published: list[tuple[str, Path]], mail: MailSettings, settings: Settings, outcome: RunOutcome) -> None:
    """Send each published report; a failure is recorded per report and never unpublishes anything."""
    from credit_reports.mail import MailError, send_report

    for name, manifest in published:
        try:
            send_report(manifest, mail, outstanding_change_share=settings.alerts.outstanding_change_share)
        except (MailError, UsageError) as exc:
            outcome.mail_failed[name] = str(exc)
            continue
        outcome.emailed.append(name)
