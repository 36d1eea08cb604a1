"""Turning a report notebook into a published, self-contained HTML report.

``render_report`` resolves the notebook, checks the parameters against the ones it declares (papermill
only warns about unknown ones; a credential-like name is refused outright), pins the snapshot, executes
the notebook with papermill on the project's kernel, strips what must not travel (the injected-parameters
cell, papermill's parameter metadata, stderr and warnings), exports HTML with nbconvert through a
template that loads nothing from anywhere, writes the executed notebook, summary tables (CSV and one
XLSX) and ``manifest.json`` beside it, scans all of it for secrets, and only then publishes it and
rebuilds ``reports/index.html``. The tables and the manifest's figures are the ones the kernel prepared
for the HTML (:mod:`credit_reports.report.handoff`): the report is prepared once per render.

Layout: one folder per close period (``<out_dir>/2026-11/``, ``2026-Q4/``, ``2026/``) or, for a report without
a period, per snapshot (``<out_dir>/<as-of, UTC, e.g. 2026-12-01T061500Z>/``), holding ``<name>.html`` plus
``<name>.ipynb``, ``<name>.<table>.csv``, ``<name>.xlsx``, ``<name>.pdf`` (when asked for) and the manifest
(``manifest.json`` for the default report name, ``<name>.manifest.json`` for any other, so several reports of
one folder share it). The folder is a link to its current version (``2026-11.v3/``): every render builds the
whole next version outside ``out_dir`` (the other reports' files as hard links, then its own), scans it and
publishes it by one rename and one link switch (:mod:`credit_reports.delivery.publish`); earlier versions stay
beside it, never overwritten. A notebook that fails leaves ``failed/<folder>/<name>.failed.ipynb`` and
publishes nothing else.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from credit_reports._version import __version__
from credit_reports.core import timestamps
from credit_reports.core.errors import UsageError
from credit_reports.delivery.config import DEFAULT_NOTEBOOK, CloseSettings
from credit_reports.delivery.config import DEFAULT_REPORT_NAME as DEFAULT_OUTPUT_NAME
from credit_reports.delivery.index import build_index, manifest_name
from credit_reports.delivery.notebook_html import clean_notebook, compact_images, export_html
from credit_reports.delivery.notebook_run import (
    DEFAULT_KERNEL,
    check_parameter_names,
    default_title,
    execute,
    jsonable,
    notebook_parameters,
    resolve_notebook,
    shared_salt,
)
from credit_reports.delivery.publish import (
    ReportFailedError,
    SecretLeakError,
    assemble_version,
    current_version,
    external_resources,
    find_secrets,
    next_version,
    publish_files,
    publish_version,
    redact_key,
    refuse_external_resources,
    scan_for_secrets,
    staging_folder,
)
from credit_reports.report import handoff
from credit_reports.report.handoff import ExportFacts
from credit_reports.store.manifests import ReportManifest, ReportSnapshot

__all__ = [
    "DEFAULT_NOTEBOOK",
    "DEFAULT_OUTPUT_NAME",
    "DEFAULT_KERNEL",
    "RenderResult",
    "ReportFailedError",
    "SecretLeakError",
    "build_index",
    "clean_notebook",
    "compact_images",
    "export_html",
    "external_resources",
    "notebook_parameters",
    "render_report",
    "resolve_notebook",
    "check_parameter_names",
]

log = logging.getLogger("credit_reports.render")

_OUTPUT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class RenderResult:
    """Where a rendered report was published and what it was rendered from."""

    html: Path
    notebook: Path
    manifest: Path
    directory: Path
    complete: bool
    files: tuple[Path, ...]
    as_of: dt.datetime
    pdf: Path | None = None
    warnings: tuple[str, ...] = ()
    attention: tuple[str, ...] = ()
    #: Why the newest snapshot was not the one shown (it is unusable), or None: an Attention, and exit 3 under
    #: ``render`` (README "Exit codes"), never a silent fallback to the one before.
    fallback: str | None = None


# ---------------------------------------------------------------------------------------------------
# snapshot, manifest, tables


def _report_arguments(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of the notebook's parameters that ``report.prepare`` takes (the report's own ones)."""
    from credit_reports.report.parameters import parameter_names

    accepted = parameter_names()
    return {k: v for k, v in parameters.items() if k in accepted}


def _history_summary(snapshot: Any) -> dict[str, Any] | None:
    """The tie-out of the history from day one behind this snapshot (``credit-reports history``), or None."""
    from credit_reports.report.history_notes import stored_summary

    try:
        return stored_summary(snapshot)
    except (OSError, ValueError, AttributeError):
        return None


def _manifest(
    *,
    name: str,
    title: str,
    notebook: Path,
    parameters: Mapping[str, Any],
    snapshot: Any,
    facts: ExportFacts,
    files: list[str],
    requested: str,
    exports: list[tuple[str, str]],
) -> ReportManifest:
    """The manifest beside a report: what it shows, from which snapshot, with which parameters.

    ``headline`` and ``roll_forward`` come from the same prepared report the notebook showed (the
    reported currencies only; roll-forward from the previous snapshot, or ``compare_to``; null when
    there is no earlier snapshot).
    """
    manifest_snapshot = snapshot.manifest if isinstance(snapshot.manifest, Mapping) else {}
    opening = facts.opening
    as_of = timestamps.iso(timestamps.parse_datetime(snapshot.as_of))
    return ReportManifest(
        report=name,
        title=title,
        notebook=notebook.name,
        parameters=dict(parameters),
        requested_snapshot=requested,
        period={
            "from": timestamps.iso(timestamps.parse_datetime(opening.as_of)) if opening is not None else None,
            "to": as_of,
        },
        snapshot=ReportSnapshot(
            path=str(snapshot.path),
            name=snapshot.path.name,
            as_of=as_of,
            environment=snapshot.environment,
            complete=bool(snapshot.complete),
            strategy=manifest_snapshot.get("strategy"),
            verification=manifest_snapshot.get("verification"),
        ),
        headline=facts.headline,
        roll_forward=facts.roll_forward,
        compared_to=(
            {"path": str(opening.path), "as_of": timestamps.iso(timestamps.parse_datetime(opening.as_of))}
            if opening is not None
            else None
        ),
        toolkit_version=__version__,
        rendered_at=timestamps.iso(dt.datetime.now(dt.UTC), fraction=True),
        files=files,
        exports=[{"label": label, "file": file} for label, file in exports],
        absent=frozenset({"url", "attention"}),  # added once the address and the alert reasons are known
        # the tie-out of the history from day one, or null; and when the credit will be used (issue 26), when
        # renewal plans were read with the snapshot
        extra={"history": _history_summary(snapshot), **({"maturity": facts.maturity} if facts.maturity else {})},
    )


# ---------------------------------------------------------------------------------------------------
# the whole render


class _Timer:
    """Seconds spent per step of a render, for the log line a slow schedule is debugged from."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.steps: list[tuple[str, float]] = []

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.steps.append((step, now - self.last))
        self.last = now

    def __str__(self) -> str:
        parts = ", ".join(f"{step} {seconds:.2f}" for step, seconds in self.steps)
        return f"{self.last - self.start:.2f} s ({parts})"


def _check_output_name(output_name: str) -> str:
    if not _OUTPUT_NAME.match(output_name) or output_name.endswith((".html", ".ipynb", ".json")):
        raise UsageError(
            f"output name {output_name!r} is not a plain file name: use letters, digits, '-', '_' or '.', "
            "without an extension"
        )
    return output_name


def _failed_message(exc: Exception) -> tuple[str, int | None, str | None, str | None]:
    """One line about a failed execution: which cell, which error (no traceback, no ANSI colours)."""
    ename = getattr(exc, "ename", None) or type(exc).__name__
    evalue = getattr(exc, "evalue", None)
    if evalue is None:
        evalue = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    evalue = re.sub(r"\x1b\[[0-9;]*m", "", str(evalue))
    cell = getattr(exc, "exec_count", None)
    where = f" in cell [{cell}]" if cell is not None else ""
    return f"{where}: {ename}: {evalue}".rstrip(": "), cell, ename, evalue


def _keep_failed(
    staged: Path, destination: Path, name: str, api_key: str | None, others: Mapping[str, str | None]
) -> Path | None:
    """Keep the failed executed notebook (cleaned) under ``destination``, unless it holds a secret or cannot
    be read back whole (a full disk truncates it: the disk, not the notebook, is then what the line names)."""
    if not staged.is_file():
        return None
    try:
        nb = clean_notebook(nbformat.read(staged, as_version=4))
        nbformat.write(nb, staged)
    except Exception as exc:  # noqa: BLE001 - a truncated or unreadable notebook is simply not kept
        log.warning("the failed notebook was not kept: %s", str(exc).splitlines()[0] if str(exc) else exc)
        return None
    if find_secrets([staged], api_key, other_secrets=others):
        log.error("the failed notebook holds a secret, so it was not kept")
        return None
    return publish_files([staged.rename(staged.with_name(f"{name}.failed.ipynb"))], destination)[0]


def failed_folder(out_dir: Path, folder: str) -> Path:
    """Where a failed render keeps its notebook: ``<out_dir>/failed/<folder>/`` (published folders are never
    written into after their one rename)."""
    return out_dir / "failed" / folder


def period_folder_name(period: Any) -> str:
    """The published folder of a close period: ``2026-11`` (a month), ``2026-Q4`` (a quarter), ``2026`` (a
    year): a quarter never shares a folder with the month that ends it."""
    start, end = period.start, period.end
    months = (end.year - start.year) * 12 + end.month - start.month
    if months == 12 and start.month == 1:
        return f"{start.year}"
    if months == 3 and start.month % 3 == 1:
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year}-{start.month:02d}"


def snapshot_folder_name(as_of: dt.datetime) -> str:
    """The published folder of one snapshot: its as-of in UTC, readable and unique (``2026-12-01T061500Z``)."""
    return as_of.astimezone(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")


def _export_context(facts: ExportFacts, *, title: str, name: str, snapshot: Any, close: Any = None,
                    pack_status: str = "") -> Any:
    """What the workbook's About sheet says: title, period, environment, completeness, reconciliation."""
    from credit_reports.delivery.exports import ExportContext

    if facts.reconciled is not None:
        status = (
            "Derived from balances, no evidence: a snapshot window of the period has no Paddle events"
            if not facts.evidence else
            "Reconciled against Paddle events: no unexplained difference in any currency" if facts.reconciled else
            "DOES NOT RECONCILE: see the Roll-forward sheet and the customers behind each difference"
        )
    elif facts.roll_forward is not None:
        status = ("Roll-forward derived from the two snapshots' balances (opening + issued - used = closing); "
                  "not reconciled against credit movements")
    else:
        status = "No roll-forward: " + (facts.roll_forward_note or "no earlier snapshot")
    return ExportContext(
        title=title, report=name, as_of=timestamps.parse_datetime(snapshot.as_of),
        environment=str(snapshot.environment),
        complete=bool(snapshot.complete),
        opening_as_of=timestamps.parse_datetime(facts.opening.as_of) if facts.opening is not None else None,
        failed_customers=facts.failed_customers, reconciliation=str(status), toolkit_version=__version__,
        extra=(*((("Status", pack_status),) if pack_status else ()), ("Snapshot", snapshot.path.name),
               *_close_rows(close, facts)),
    )


def _close_rows(close: Any, facts: ExportFacts) -> tuple[tuple[str, str], ...]:
    """The About sheet's close-pack lines: entity, sign-off names, the liability's GL account."""
    if close is None:
        return ()
    rows = [("Entity", close.entity or "not named ([close] entity)"),
            ("Prepared by", close.prepared_by or "not named ([close] prepared_by)"),
            ("Reviewed by", close.reviewed_by or "not named ([close] reviewed_by)"),
            ("GL accounts", "; ".join(f"{k}: {getattr(close.accounts, k if k != 'reversed' else 'reversed_account')}"
                                      for k in ("liability", "issued", "reversed", "used", "translation"))
             + ("" if close.accounts_configured else " (placeholders: name them in [close.accounts])"))]
    if facts.period_label:
        rows.insert(0, ("Close period", facts.period_label))
    return tuple(rows)


def _print_pdf(html_path: Path, name: str, link_base: str | None = None) -> tuple[Path | None, str | None]:
    """The report printed to ``<name>.pdf`` beside its HTML, or (None, why not) in one line; its links point
    at ``link_base`` (the published folder's address) or are plain file names, never the staging folder."""
    from credit_reports.delivery.pdf import PdfUnavailableError, paper_links, print_to_pdf

    target = html_path.with_name(f"{name}.pdf")
    # paper shows the appendix open: a print copy with every <details> open, removed afterwards
    printable = html_path.with_name(f".{name}.print.html")
    printable.write_text(paper_links(_APPENDIX.sub(r"\1 open>", html_path.read_text(encoding="utf-8")), link_base),
                         encoding="utf-8")
    try:
        print_to_pdf(printable, target)
    except PdfUnavailableError as exc:
        return None, f"no PDF for report {name}: {exc}"
    finally:
        printable.unlink(missing_ok=True)
    return target, None


_APPENDIX = re.compile(r'(<details class="credit-appendix")>')


@dataclass(frozen=True)
class _Job:
    """One render, resolved before any kernel starts: which notebook, parameters, snapshot and names."""

    name: str
    notebook: Path
    parameters: dict[str, Any]  # what the notebook receives: the caller's plus the pinned snapshot
    report_arguments: dict[str, Any]  # the subset ``report.prepare`` takes
    report_parameters: Any  # those, validated (report.Parameters)
    snapshot: Any  # store.Snapshot
    requested: str
    title: str
    out_dir: Path
    destination: Path  # out_dir / folder: the link readers use, switched to each new version
    #: why the pack's figures are not its period's boundaries, or the period is open (report/selection.py)
    attention: tuple[str, ...] = ()
    data_dir: Path | None = None

    @property
    def folder(self) -> str:
        """The published folder's name: the period (``2026-11``) or, without one, the snapshot's as-of."""
        return self.destination.name

    @property
    def as_of(self) -> dt.datetime:
        return timestamps.parse_datetime(self.snapshot.as_of)


def _plan(
    notebook: str | os.PathLike[str], parameters: Mapping[str, Any] | None, *, data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str], output_name: str | None, requested_snapshot: str | None,
) -> _Job:
    """Resolve the notebook, check its parameters, pin the snapshot: every bad input fails here (exit 2)."""
    from credit_reports.report.parameters import Parameters
    from credit_reports.report.selection import resolve

    name = _check_output_name(output_name or DEFAULT_OUTPUT_NAME)
    path = resolve_notebook(notebook)
    declared = notebook_parameters(path)
    from credit_reports.delivery.config import absolute_file_parameters

    # a relative rates_file/cohort_file is read from where the caller runs, not from the kernel's notebooks/
    given = absolute_file_parameters({str(k): jsonable(v) for k, v in (parameters or {}).items()})
    check_parameter_names(given, declared, path.name)

    data_dir = Path(data_dir).expanduser().resolve()
    out_dir = Path(out_dir).expanduser().resolve()
    asked = str(given.get("snapshot") or "latest")
    requested = str(requested_snapshot or asked)
    # the one resolver decides the snapshot (a period's closing boundary, derived when needed); the kernel is
    # pinned to it, so it reads the same one
    folder: str | None = None
    chosen = resolve(Parameters.check(**_report_arguments({**given, "data_dir": str(data_dir)})))
    snapshot = chosen.closing
    if chosen.period is not None:
        requested = f"period {given['period']}"
        folder = _period_folder(str(given["period"]), str(given.get("timezone") or "UTC"))
    pinned = {"data_dir": str(data_dir), "snapshot": snapshot.path.name, "environment": snapshot.environment}
    effective = {**given, **{k: v for k, v in pinned.items() if k in declared}}
    report_arguments = _report_arguments(effective)
    report_parameters = Parameters.check(**report_arguments)  # a bad value fails before a kernel starts
    return _Job(
        name=name, notebook=path, parameters=effective, report_arguments=report_arguments,
        report_parameters=report_parameters, snapshot=snapshot, requested=requested,
        title=str(effective.get("title") or default_title(declared, "Customer credit balances")),
        out_dir=out_dir,
        destination=out_dir / (folder or snapshot_folder_name(timestamps.parse_datetime(snapshot.as_of))),
        attention=chosen.attention, data_dir=data_dir,
    )


def _newer_unusable(job: _Job) -> str | None:
    """One line when "latest" was asked for but a newer snapshot of the environment is unusable (corrupt,
    a file missing): the report shows the one before, and must say so. None otherwise."""
    if job.requested != "latest" or job.data_dir is None:
        return None
    from credit_reports.store.reader import list_snapshots

    listed = list_snapshots(job.data_dir, str(job.snapshot.environment))
    shown = job.snapshot.path.name
    newer = [(Path(str(path)).name, problem) for path, usable, problem
             in zip(listed["path"], listed["usable"], listed["problem"], strict=True)
             if not usable and timestamps.FOLDER_NAME.match(Path(str(path)).name) and Path(str(path)).name > shown]
    if not newer:
        return None
    name, problem = newer[-1]
    return (f"the newest snapshot {name} is unusable ({problem}); this report shows the one before, {shown}: run "
            "`credit-reports snapshots --check`, then remove or re-fetch it")


def _period_folder(period: str, timezone: str) -> str:
    """The folder a close period's pack is published in (the period as :func:`period_folder_name` names it)."""
    from credit_reports.figures.periods import parse_period

    return period_folder_name(parse_period(period, timezone))


def _run_notebook(
    job: _Job, stage: Path, *, kernel_name: str, api_key: str | None, others: Mapping[str, str | None],
    early: Any = None,
) -> tuple[nbformat.NotebookNode, ExportFacts | None]:
    """Execute the notebook into ``stage``; return it and the export facts its kernel handed over.

    A failed execution raises: the parameter's own UsageError when the data cannot serve a value
    (the notebook's check cell raised the same; exit 2), else ReportFailedError with the failed
    notebook kept beside the reports.
    """
    executed_path = stage / f"{job.name}.ipynb"
    handoff_path = stage / ".handoff"
    try:
        with _environment(handoff.ENV, str(handoff_path)):
            nb = execute(job.notebook, executed_path, job.parameters, kernel_name)
    except Exception as exc:  # papermill's execution error, a dead kernel, a timeout
        if early is not None:
            early.cancel()
        shutil.rmtree(handoff_path, ignore_errors=True)
        if isinstance(exc, UsageError):
            raise
        _raise_bad_input(job)
        _raise_disk_full(exc, job)
        kept = _keep_failed(executed_path, failed_folder(job.out_dir, job.folder), job.name, api_key, others)
        where, cell, ename, evalue = _failed_message(exc)
        kept_text = f"the failed notebook is kept at {kept}" if kept else "the failed notebook was not kept"
        raise ReportFailedError(
            f"notebook {job.notebook.name} failed{redact_key(where, api_key)}; {kept_text}; nothing was "
            "published and the last good report stays in place",
            failed_notebook=kept, cell=cell, ename=ename, evalue=redact_key(str(evalue or ""), api_key),
        ) from None
    return nb, (early.finish() if early is not None else handoff.load(handoff_path))


@dataclass(frozen=True)
class _Exported:
    """What the exports step made: the close tables, the files written, the pack's manifest record (checks and
    journal) and its status block for the page."""

    tables: dict[str, Any]
    paths: list[Path]
    pack: dict[str, Any]
    status: str


def _exports(job: _Job, facts: ExportFacts, close: Any, stage: Path, csv_bom: bool,
             outstanding_change_share: float | None) -> _Exported:
    """The close tables, the pack's checks and status, and the export files (CSVs, workbook) of ``facts``,
    written into ``stage``."""
    from credit_reports.delivery.exports import write_exports

    tables, journal = _close_tables(job, facts, close)
    pack, status, status_text = _pack_status(job, facts, tables, close, journal, outstanding_change_share)
    context = _export_context(facts, title=job.title, name=job.name, snapshot=job.snapshot, close=close,
                              pack_status=status_text)
    paths = write_exports(tables, stage, job.name, context=context, csv_bom=csv_bom)
    return _Exported(tables=tables, paths=paths, pack=pack, status=status)


def _early_exports(job: _Job, close: Any, stage: Path, csv_bom: bool,
                   outstanding_change_share: float | None) -> handoff.EarlyExports:
    """Exports that start as soon as the kernel hands over the report prepared with this render's parameters
    (they then run beside the kernel's charts); other facts are left to the render, as before."""

    def work(facts: ExportFacts) -> _Exported | None:
        if not facts.same_parameters(job.report_parameters):
            return None
        return _exports(job, facts, close, stage, csv_bom, outstanding_change_share)

    return handoff.EarlyExports(stage / ".handoff", work)


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """``$name`` set to ``value`` while the kernel starts (it inherits os.environ), then as it was."""
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def _raise_bad_input(job: _Job) -> None:
    """Raise the UsageError when a failed notebook stopped on a value the data cannot serve (exit 2)."""
    from credit_reports.report.preparation import prepare

    try:
        prepare(**job.report_arguments)
    except UsageError as exc:
        raise exc from None
    except Exception:  # the notebook's own failure is the one to report
        return


def _export_facts(job: _Job, handed_over: ExportFacts | None) -> ExportFacts:
    """The facts the kernel prepared when it prepared what this render asked for; else prepared here.

    (A notebook that does not call ``handoff.save``, or prepares other parameters, still gets exports.)
    """
    if handed_over is not None and handed_over.same_parameters(job.report_parameters):
        return handed_over
    from credit_reports.report.preparation import prepare

    log.info("the notebook handed over no prepared report for these parameters: preparing it here")
    return handoff.facts_of(prepare(**job.report_arguments))


def _asked_in_words(requested: str, period_label: str = "") -> str:
    """What the reader asked for, in words: the latest snapshot, a named one, or a period's closing one
    (named by its label, "November 2026", rather than the parameter's value, "previous-month")."""
    if requested == "latest":
        return "the latest snapshot"
    if requested.startswith("period "):
        return f"the closing snapshot of {period_label or requested}"
    return f"snapshot {requested}"


def _write_html(
    job: _Job, nb: nbformat.NotebookNode, facts: ExportFacts, stage: Path,
    downloads: list[tuple[str, str]], *, pdf: bool, warnings: list[str], close: Any = None, journal: Any = None,
    status: str = "", base_url: str | None = None, tieout: Any = None,
) -> tuple[Path, Path | None]:
    """``<name>.html`` (and ``<name>.pdf`` when asked and possible) in ``stage``; refuses external loads."""
    as_of, snapshot, name = job.as_of, job.snapshot, job.name
    as_of_line = (
        f"As of {as_of:%d %b %Y, %H:%M:%S} UTC "
        f"({_asked_in_words(job.requested, facts.period_label)}; {snapshot.environment})"
        + ("" if facts.opening is None else
           f"; roll-forward from {timestamps.display(facts.opening.as_of)}")
    )
    footer = (
        f"Snapshot {snapshot.path.name} ({snapshot.environment}, as of {timestamps.iso(as_of)}) "
        f"rendered {timestamps.iso(dt.datetime.now(dt.UTC))} by credit-reports {__version__}."
    )
    pdf_link = [("Printable report (PDF)", f"{name}.pdf")] if pdf else []
    pack = _pack_resources(job, facts, close or CloseSettings(), journal, status, tieout)
    html = export_html(nb, title=job.title, footer=footer, as_of_line=as_of_line, downloads=downloads + pdf_link,
                       pack=pack)
    refuse_external_resources(html)
    html_path = stage / f"{name}.html"
    html_path.write_text(html, encoding="utf-8")
    if not pdf:
        return html_path, None
    link_base = f"{base_url.rstrip('/')}/{job.destination.name}/" if base_url else None
    pdf_path, why_not = _print_pdf(html_path, name, link_base)
    if pdf_path is not None:
        downloads.extend(pdf_link)
    else:  # no PDF after all: the page must not link to one
        warnings.append(str(why_not))
        html = export_html(nb, title=job.title, footer=footer, as_of_line=as_of_line, downloads=downloads,
                           pack=pack)
        html_path.write_text(html, encoding="utf-8")
    return html_path, pdf_path


def _closing_day(job: _Job) -> Any:
    """The day the closing snapshot closes, in the report's time zone (the journal's booking date)."""
    import pandas as pd

    zone = getattr(job.report_parameters, "timezone", "UTC") or "UTC"
    return pd.Timestamp(job.as_of).tz_convert(zone).date()


def _close_tables(job: _Job, facts: ExportFacts, close: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The exported tables with the close pack's journal entries, GL tie-out and GL / reporting-currency
    columns, and what the manifest records of the journal (period key, version, why a currency is withheld)."""
    from credit_reports.delivery.close_pack import close_tables, journal_reference, withheld_reasons
    from credit_reports.figures.journal import period_key

    day = _closing_day(job)
    if facts.period_label:
        period = facts.period_label
    elif facts.opening is not None:
        period = f"{timestamps.display(facts.opening.as_of)} to {timestamps.display(job.snapshot.as_of)}"
    else:
        period = f"to {day:%d %b %Y}"
    key = period_key(facts.period_label, facts.opening.as_of if facts.opening is not None else None,
                     job.snapshot.as_of)
    reference, journal = journal_reference(job.out_dir, key, facts.tables.get("roll_forward"),
                                           facts.tables.get("translation"))
    tables = close_tables(dict(facts.tables), close, date=day.isoformat(), period=period, reference=reference,
                          evidence=facts.evidence, headline=facts.headline)
    return tables, {**journal, "withheld": withheld_reasons(tables)}


def _pack_resources(job: _Job, facts: ExportFacts, close: Any, journal: Any, status: str = "",
                    tieout: Any = None) -> dict[str, str]:
    """The template's close-pack pieces: status, sign-off block, journal table, the PDF's running header."""
    from credit_reports.delivery.close_pack import (
        css_string,
        gl_tieout_html,
        journal_html,
        running_header,
        signoff_html,
    )

    account = close.entity or f"Paddle {job.snapshot.environment} account"
    header = running_header(title=job.title, period=facts.period_label,
                            as_of=timestamps.display(job.snapshot.as_of), account=account)
    return {
        "signoff": signoff_html(close, prepared_on=f"{dt.datetime.now(dt.UTC):%d %b %Y}") + gl_tieout_html(tieout),
        "journal": journal_html(journal, close, notes=_journal_notes(facts)),
        "running_header": css_string(header),
        "status": status,
    }


def _journal_notes(facts: ExportFacts) -> tuple[str, ...]:
    """The paragraphs under the journal entries: the maturity split (a disclosure, not an entry) when estimated."""
    if not facts.maturity:
        return ()
    from credit_reports.report.maturity_report import journal_note

    return (journal_note(facts.maturity),)


def _write_manifest(
    job: _Job, facts: ExportFacts, staged: list[Path], downloads: list[tuple[str, str]],
    outstanding_change_share: float | None, *, base_url: str | None = None, pack: Mapping[str, Any] | None = None,
    version: int = 1,
) -> tuple[Path, ReportManifest]:
    """``manifest.json`` (or ``<name>.manifest.json``) beside the staged files, with its alert reasons."""

    manifest_path = staged[0].with_name(manifest_name(job.name))
    manifest = _manifest(
        name=job.name, title=job.title, notebook=job.notebook, parameters=job.parameters, snapshot=job.snapshot,
        facts=facts, files=[p.name for p in [*staged, manifest_path]], requested=job.requested,
        exports=downloads,
    )
    manifest = manifest.updated(extra={**manifest.extra, **(pack or {})})  # checks and journal (close pack)
    folder = job.folder
    manifest = manifest.updated(url=f"{base_url.rstrip('/')}/{folder}/{job.name}.html" if base_url else None)
    # which version of the folder this is: <folder> links to the current one, earlier ones stay as <folder>.vN
    manifest.extra["publication"] = {
        "folder": folder, "version": version, "version_folder": f"{folder}.v{version}",
        # the permanent address of this very version (what a signed pack links to), when base_url is known
        "version_url": f"{base_url.rstrip('/')}/{folder}.v{version}/{job.name}.html" if base_url else None,
    }
    reasons = _reasons(job, manifest, outstanding_change_share)
    manifest = manifest.updated(attention=reasons)
    manifest_path.write_text(json.dumps(manifest.to_json(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return manifest_path, manifest


def _reasons(job: _Job, manifest: ReportManifest, outstanding_change_share: float | None) -> list[str]:
    """Every reason the pack needs attention, in the order a reader acts on them: a newer snapshot that could
    not be used, the period's boundaries (report/selection.py), then the alerts on the figures and checks."""
    from credit_reports.report.alerts import attention_reasons

    fallback = _newer_unusable(job)
    return [*([fallback] if fallback else []), *job.attention,
            *attention_reasons(manifest, outstanding_change_share=outstanding_change_share)]


def _pack_status(job: _Job, facts: ExportFacts, tables: Mapping[str, Any], close: Any, journal: dict[str, Any],
                 outstanding_change_share: float | None) -> tuple[dict[str, Any], str, str]:
    """The pack's checks and journal record (for the manifest) and its status block (the page's first
    thing), from the same reasons the manifest's ``attention`` will hold."""
    from credit_reports.delivery.close_pack import checks_table, pack_checks, status_html
    from credit_reports.report.status import checks_json, status_text

    checks = pack_checks(tables, facts.headline, close)
    if checks:
        tables["pack_checks"] = checks_table(checks)  # the workbook's and CSV's list of every check
    pack = {"checks": checks_json(checks), "journal": journal}
    draft = _manifest(name=job.name, title=job.title, notebook=job.notebook, parameters=job.parameters,
                      snapshot=job.snapshot, facts=facts, files=[], requested=job.requested, exports=[])
    reasons = _reasons(job, draft.updated(extra={**draft.extra, **pack}), outstanding_change_share)
    return pack, status_html(reasons, checks, gl_entered="gl_tieout" in tables), status_text(reasons)


def _own_files(current: Path | None, name: str) -> set[str]:
    """The files report ``name`` has in the current version (its manifest's list, the manifest, a failed
    notebook of the older layout): left out of the next version, which gets this render's files instead."""
    own = {manifest_name(name), f"{name}.failed.ipynb"}
    if current is None:
        return own
    try:
        previous = json.loads((current / manifest_name(name)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return own
    listed = previous.get("files") if isinstance(previous, dict) else None
    return own | {f for f in listed or [] if isinstance(f, str) and "/" not in f}


def _publish(job: _Job, stage: Path, staged: list[Path], version: int, *, api_key: str | None,
             others: Mapping[str, str | None]) -> list[Path]:
    """Assemble the whole new version of the folder in ``stage`` (the other reports' files, then these),
    scan it, and publish it in one rename; return the published paths as readers reach them."""
    current = current_version(job.out_dir, job.folder)
    version_dir = stage / f".publish-{job.folder}.v{version}"
    assemble_version(version_dir, current, _own_files(current, job.name))
    for path in staged:
        os.replace(path, version_dir / path.name)
    scan_for_secrets([stage], api_key, other_secrets=others)
    folder = publish_version(version_dir, job.out_dir, job.folder, version)
    failed = failed_folder(job.out_dir, job.folder) / f"{job.name}.failed.ipynb"
    failed.unlink(missing_ok=True)
    return [folder / path.name for path in staged]


def _raise_disk_full(exc: BaseException, job: _Job) -> None:
    """Raise one line naming the path and the folder to clear when ``exc`` (or what caused it) is a full
    disk, so a truncated file read back later never hides it (exit 2)."""
    from credit_reports.core.errors import DiskFullError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            raise DiskFullError(seen.filename or job.out_dir, job.out_dir) from None
        seen = seen.__cause__ or seen.__context__
    if "No space left on device" in str(exc) or "[Errno 28]" in str(exc):
        raise DiskFullError(None, job.out_dir) from None


def render_report(
    notebook: str | os.PathLike[str] = DEFAULT_NOTEBOOK,
    *,
    parameters: Mapping[str, Any] | None = None,
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] = "reports",
    output_name: str | None = None,
    kernel_name: str = DEFAULT_KERNEL,
    api_key: str | None = None,
    requested_snapshot: str | None = None,
    pdf: bool = False,
    csv_bom: bool = False,
    outstanding_change_share: float | None = None,
    index: bool = True,
    close: Any = None,
    base_url: str | None = None,
) -> RenderResult:
    """Execute a report notebook on a stored snapshot and publish it as self-contained HTML.

    ``parameters`` are the notebook's declared parameters (``snapshot``, ``currencies``, ``cohort``,
    ``title``, ...); ``data_dir`` and the resolved ``snapshot`` and ``environment`` are passed to the
    notebook when it declares them, so the notebook and the manifest read the same snapshot.
    ``api_key`` (else ``$PADDLE_API_KEY``) is used only to make sure no written file contains it.
    ``requested_snapshot`` is what the caller was asked for (``latest`` or an as-of), recorded in the
    manifest and shown on the report. ``pdf`` also prints the report to ``<name>.pdf`` with
    headless Chromium (a warning when it is not installed); ``csv_bom`` starts CSVs with a UTF-8
    byte-order mark; ``outstanding_change_share`` is the alert threshold behind the manifest's
    ``attention`` (see :mod:`credit_reports.report.alerts`). ``index=False`` leaves ``index.html`` to the
    caller (one that renders several reports builds it once, after the last). ``close``
    (:class:`credit_reports.delivery.config.CloseSettings`, ``[close]`` of the config) names the sign-off block's
    people, the entity on every PDF page and the journal's GL accounts; ``base_url`` (``[publish]``) is
    where ``out_dir`` is served: the manifest records the report's address there, for the email and index.

    Raises UsageError for a bad notebook name, parameter or snapshot; ReportFailedError when the
    notebook fails (the failed notebook is kept as ``<name>.failed.ipynb``; nothing is published);
    SecretLeakError (a ReportFailedError) when an output holds a secret (nothing is published).
    """
    timer = _Timer()
    job = _plan(notebook, parameters, data_dir=data_dir, out_dir=out_dir, output_name=output_name,
                requested_snapshot=requested_snapshot)
    log.info("rendering %s from snapshot %s into %s", job.notebook.name, job.snapshot.path.name, job.destination)
    warnings: list[str] = []
    try:
        with shared_salt() as salt, staging_folder(job.out_dir, job.name) as stage:
            published, manifest, names = _render_in(job, stage, salt, timer=timer, kernel_name=kernel_name,
                                                    api_key=api_key, pdf=pdf, csv_bom=csv_bom, close=close,
                                                    outstanding_change_share=outstanding_change_share,
                                                    base_url=base_url, warnings=warnings)
    except OSError as exc:
        _raise_disk_full(exc, job)
        raise
    if index:
        build_index(job.out_dir)
    timer.lap("publish" + (" and index" if index else ""))
    log.info("rendered %s in %s", job.name, timer)
    by_name = {p.name: p for p in published}
    html_name, notebook_name, manifest_file = names
    return RenderResult(
        html=by_name[html_name], notebook=by_name[notebook_name], manifest=by_name[manifest_file],
        directory=job.destination, complete=bool(job.snapshot.complete), files=tuple(published), as_of=job.as_of,
        pdf=by_name.get(f"{job.name}.pdf"), warnings=tuple(warnings), attention=tuple(manifest.attention or ()),
        fallback=_newer_unusable(job),
    )


def _render_in(
    job: _Job, stage: Path, salt: str | None, *, timer: _Timer, kernel_name: str, api_key: str | None, pdf: bool,
    csv_bom: bool, close: Any, outstanding_change_share: float | None, base_url: str | None, warnings: list[str],
) -> tuple[list[Path], ReportManifest, tuple[str, str, str]]:
    """Execute, export, write the manifest and publish, all staged in ``stage`` until the one rename."""
    from credit_reports.delivery.exports import export_links

    others = {"the pseudonymisation salt": salt}
    close = close or CloseSettings()
    early = _early_exports(job, close, stage, csv_bom, outstanding_change_share)
    nb, handed_over = _run_notebook(job, stage, kernel_name=kernel_name, api_key=api_key, others=others,
                                    early=early)
    timer.lap("execute")
    nb = compact_images(clean_notebook(nb))
    executed_path = stage / f"{job.name}.ipynb"
    nbformat.write(nb, executed_path)
    timer.lap("clean")
    facts = _export_facts(job, handed_over)
    timer.lap("prepared report")
    if early.result is not None and early.facts is facts:  # written while the kernel drew its charts
        exported = early.result
        log.info("exports written beside the kernel in %.2f s", early.seconds)
    else:
        exported = _exports(job, facts, close, stage, csv_bom, outstanding_change_share)
    tables, export_paths, pack = exported.tables, exported.paths, exported.pack
    downloads = export_links(export_paths, job.name)
    timer.lap("exports")
    html_path, pdf_path = _write_html(job, nb, facts, stage, downloads, pdf=pdf, warnings=warnings,
                                      close=close, journal=tables.get("journal_entries"), status=exported.status,
                                      base_url=base_url, tieout=tables.get("gl_tieout"))
    timer.lap("html" + (" and pdf" if pdf else ""))
    staged = [html_path, executed_path, *export_paths, *([pdf_path] if pdf_path else [])]
    version = next_version(job.out_dir, job.folder)
    manifest_path, manifest = _write_manifest(job, facts, staged, downloads, outstanding_change_share,
                                              base_url=base_url, pack=pack, version=version)
    staged.append(manifest_path)
    published = _publish(job, stage, staged, version, api_key=api_key, others=others)
    timer.lap("secret scan and publish")
    return published, manifest, (html_path.name, executed_path.name, manifest_path.name)


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
