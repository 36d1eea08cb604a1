"""``credit-reports run``: one scheduled run, fetch then render every configured report.

Exit codes (the contract schedulers rely on):
  0  done, every report rendered from a complete snapshot
  1  a report failed (its failed notebook is kept; the last good report stays published)
  2  bad input (one line on stderr says what and what to do)
  3  rendered, but from an incomplete snapshot (the report carries a banner saying so)
  4  another run holds the lock for this data folder; nothing was done
  6  every report was rendered and published, but emailing one failed (one line on stderr says why)
  7  every report was rendered and published, but one needs attention (its status says why; the run's summary
     line lists the reasons). ``--attention-exit-code 0`` keeps the old behaviour (exit 0)

When several apply, the first in this order wins: 1, 6, 3, 7, 0 (5 is kept for "Paddle unreachable").
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from credit_reports.core import locks
from credit_reports.core.errors import (
    EXIT_ATTENTION,
    EXIT_INCOMPLETE,
    EXIT_MAIL_FAILED,
    EXIT_OK,
    EXIT_REPORT_FAILED,
    RunLockedError,
    UsageError,
)
from credit_reports.delivery.config import MailSettings, ReportSpec, Settings

log = logging.getLogger("credit_reports.run")

LOCK_NAME = ".credit-reports.lock"


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


def resolve_file_parameters(specs: list[ReportSpec], base: Path | None = None) -> list[ReportSpec]:
    """The reports with every file parameter made absolute from where the command runs
    (:func:`credit_reports.delivery.config.absolute_file_parameters`)."""
    from credit_reports.delivery.config import absolute_file_parameters

    return [dataclasses.replace(spec, parameters=absolute_file_parameters(spec.parameters, base)) for spec in specs]


def check_pinned_account(client: Any, expected: str) -> None:
    """Refuse, before anything is fetched, a key that reads another account than ``[paddle] account`` names."""
    from credit_reports.core.accounts import describe
    from credit_reports.fetch.account import read_account

    account = read_account(client)
    if account.get("identity") != expected:
        raise UsageError(f"the key reads {describe(account)}, but [paddle] account names {expected}: use that "
                         "account's key, or change [paddle] account")


def check_out_dir(out_dir: Path) -> Path:
    """Prove ``out_dir`` writable before any Paddle call (a file written and removed in it, or in its nearest
    existing parent when it does not exist yet: nothing is created), so a read-only disk fails in one line, not
    after an hour of fetching."""
    out_dir = Path(out_dir).expanduser().absolute()
    existing = next((p for p in (out_dir, *out_dir.parents) if p.exists()), None)
    try:
        if existing is None or not existing.is_dir():
            raise NotADirectoryError(f"{existing} is not a folder")
        handle, probe = tempfile.mkstemp(prefix=".credit-reports-write-check-", dir=existing)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"--out {out_dir} is not writable ({exc.strerror or exc}): give a folder this user can "
                         "write to") from None
    return out_dir


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
    attention: dict[str, list[str]] = field(default_factory=dict)  # report name -> its Attention reasons
    attention_exit_code: int = EXIT_ATTENTION  # 0 keeps the behaviour before exit code 7

    @property
    def exit_code(self) -> int:
        """1 when any report failed, else 6 when an email failed, else 3 for an incomplete snapshot, else 7
        (``attention_exit_code``) when a published report needs attention, else 0."""
        if self.failed:
            return EXIT_REPORT_FAILED
        if self.mail_failed:
            return EXIT_MAIL_FAILED
        if not self.snapshot_complete:
            return EXIT_INCOMPLETE
        if self.attention:
            return self.attention_exit_code
        return EXIT_OK

    def attention_summary(self) -> str:
        """The reasons of every report that needs attention, on one line (empty when none does)."""
        return "; ".join(f"{name}: " + "; ".join(reasons) for name, reasons in self.attention.items())


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
    attention_exit_code: int = EXIT_ATTENTION,
    renewal_plans: bool = True,
) -> RunOutcome:
    """Fetch one snapshot, render each report from exactly that snapshot, rebuild the index, then email.

    With ``renewal_plans`` (the default; ``run --no-plans`` turns it off) the credit holders' subscriptions
    are read right after a complete fetch and stored with the snapshot (:func:`add_renewal_plans`), so the
    pack shows when the credit will be used (issue 26).

    A failing report (a notebook error, a leaked secret, a bad parameter value) does not stop the others;
    the outcome lists it and the exit code becomes 1. With ``mail``, every published report is emailed
    after the index is rebuilt; a failed send leaves the report published and makes the exit code 6.
    """
    settings = settings or Settings()
    from credit_reports.fetch.snapshot import fetch_snapshot

    outcome = RunOutcome(attention_exit_code=attention_exit_code)
    check_out_dir(out_dir)  # before the fetch: a read-only --out costs no Paddle call
    if settings.paddle_account and client is not None:
        check_pinned_account(client, settings.paddle_account)
    with run_lock(data_dir):
        snapshot = fetch_snapshot(client, data_dir=data_dir, **fetch_kwargs)
        outcome.snapshot_path = snapshot.path
        outcome.snapshot_complete = bool(snapshot.complete)
        if renewal_plans:
            snapshot = add_renewal_plans(client, snapshot, outcome.warnings)
        derive_boundaries(data_dir, snapshot.environment, _close_timezones(reports))
        published = render_each(
            ((spec, snapshot, None) for spec in reports), data_dir=data_dir, out_dir=out_dir, api_key=api_key,
            settings=settings, outcome=outcome,
        )
    if mail is not None:
        _email(published, mail, settings, outcome)
    return outcome


def add_renewal_plans(client: Any, snapshot: Any, warnings: list[str]) -> Any:
    """The snapshot with its renewal plans stored (``fetch/subscriptions_forecast.py``), or as it was, with one
    line in ``warnings``, when the snapshot is incomplete (its holders are not all known) or Paddle refused the
    plans (e.g. a key without subscription read access): the pack then says the split was not estimated, and
    the run goes on; the maturity figures are an estimate, never a reason to withhold the close pack."""
    from credit_reports.core.errors import CreditReportsError
    from credit_reports.fetch.subscriptions_forecast import store_renewal_plans

    if not snapshot.complete:
        warnings.append("renewal plans not read: the snapshot is incomplete, so the current / non-current split "
                        "is not estimated")
        return snapshot
    try:
        revised = store_renewal_plans(client, snapshot)
    except CreditReportsError as exc:
        warnings.append(f"renewal plans not read ({exc}); the current / non-current split is not estimated")
        return snapshot
    plans = revised.manifest.get("renewal_plans") or {}
    log.info("renewal plans: %s subscriptions of %s credit holders in %s calls", plans.get("subscriptions"),
             plans.get("customers"), plans.get("calls"))
    return revised


def render_each(
    jobs: Iterable[tuple[ReportSpec, Any, str | None]],
    *,
    data_dir: Path,
    out_dir: Path,
    api_key: str | None,
    settings: Settings,
    outcome: RunOutcome,
    pdf: bool = False,
    tolerate: tuple[type[BaseException], ...] | None = None,
    on_failed: Callable[[str, BaseException], None] | None = None,
    on_rendered: Callable[[Any], None] | None = None,
) -> list[tuple[str, Path]]:
    """The one render loop (``run`` and ``render``): each report from the snapshot it is pinned to, then the
    index rebuilt once; returns (report name, manifest path) of every published report.

    ``jobs`` yields (report, snapshot, snapshot asked for or None); it may load each snapshot lazily. A report
    that fails with one of ``tolerate`` (default: a failed notebook or a bad value) does not stop the others:
    ``outcome.failed`` records it and ``on_failed`` hears of it; any other error ends the loop. ``outcome``
    collects what was rendered, its warnings and whether every snapshot was complete.
    """
    from credit_reports.delivery.render import ReportFailedError, build_index, render_report

    tolerated = tolerate if tolerate is not None else (ReportFailedError, UsageError)
    published: list[tuple[str, Path]] = []
    for spec, snapshot, requested in jobs:
        outcome.snapshot_complete = outcome.snapshot_complete and bool(snapshot.complete)
        _one_account_chain(data_dir, snapshot)  # a chain of two accounts is refused before any kernel starts
        pinned = {"snapshot": _pinned_snapshot(spec, snapshot, requested), "environment": snapshot.environment}
        try:
            result = render_report(
                spec.notebook,
                parameters={**spec.parameters, **pinned},
                data_dir=data_dir,
                out_dir=out_dir,
                output_name=spec.name,
                api_key=api_key,
                requested_snapshot=requested,
                pdf=pdf or spec.pdf,
                csv_bom=settings.exports.csv_bom,
                outstanding_change_share=settings.alerts.outstanding_change_share,
                close=settings.close,
                base_url=settings.publish.base_url,
                index=False,  # built once, after the last report
            )
        except tolerated as exc:  # one bad report must not stop the others
            log.debug("report %s failed: %s", spec.name, exc)  # the CLI prints it once
            outcome.failed[spec.name] = str(exc)
            if on_failed is not None:
                on_failed(spec.name, exc)
            continue
        outcome.rendered.append(Path(result.html))
        outcome.warnings.extend(result.warnings)
        if result.attention:
            outcome.attention[spec.name] = list(result.attention)
        published.append((spec.name, Path(result.manifest)))
        if on_rendered is not None:
            on_rendered(result)
    build_index(out_dir)
    return published


def _one_account_chain(data_dir: Path, snapshot: Any) -> None:
    """Refuse (one line naming both) a snapshot whose environment's chain up to it holds two Paddle accounts:
    the report's roll-forward, trend and comparison read that chain."""
    from credit_reports.core.accounts import check_same_account
    from credit_reports.store.reader import chain

    snapshots = chain(data_dir, snapshot.environment, until=snapshot.as_of)
    check_same_account([*snapshots, snapshot], what=f"the {snapshot.environment} snapshots up to {snapshot.name}")


def _pinned_snapshot(spec: ReportSpec, snapshot: Any, requested: str | None) -> str:
    """The snapshot a report is pinned to: the one of its job; for a close period the selector asked for (or
    "latest"), so the period's own resolver (report/selection.py) picks the account at its boundaries."""
    if spec.parameters.get("period") not in (None, ""):
        return str(requested or "latest")
    return str(snapshot.path.name)


def derive_boundaries(data_dir: Path, environment: str, timezones: Iterable[str]) -> list[Any]:
    """Derive the month ends (so quarter and year ends) the newest fetch crossed, in each close time zone: the
    account at each boundary from the snapshots around it (report/boundaries.py), so a close never needs a
    fetch at midnight. A boundary without evidence is logged here and said in the pack that closes on it."""
    from credit_reports.report.boundaries import derive_crossed

    found = []
    for zone in dict.fromkeys(timezones):
        for item in derive_crossed(data_dir, environment, zone):
            if item.exact:
                log.info("account at the boundary %s (%s): %s", item.moment, zone, item.snapshot.name)
            else:
                log.warning("boundary %s (%s) not derived: %s", item.moment, zone, item.attention)
            found.append(item)
    return found


def _close_timezones(reports: list[ReportSpec]) -> list[str]:
    """The time zones the reports close in (their ``timezone`` parameter, UTC when unset)."""
    return [str(spec.parameters.get("timezone") or "UTC") for spec in reports] or ["UTC"]


def _email(published: list[tuple[str, Path]], mail: MailSettings, settings: Settings, outcome: RunOutcome) -> None:
    """Send each published report; a failure is recorded per report and never unpublishes anything."""
    from credit_reports.delivery.mail import MailError, send_report

    for name, manifest in published:
        try:
            send_report(manifest, mail, outstanding_change_share=settings.alerts.outstanding_change_share)
        except (MailError, UsageError) as exc:
            outcome.mail_failed[name] = str(exc)
            continue
        outcome.emailed.append(name)
