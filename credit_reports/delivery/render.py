"""Turning a report notebook into a published, self-contained HTML report.

``render_report`` resolves the notebook, checks the parameters against the ones it declares (papermill
only warns about unknown ones; a credential-like name is refused outright), pins the snapshot, executes
the notebook with papermill on the project's kernel, strips what must not travel (the injected-parameters
cell, papermill's parameter metadata, stderr and warnings), exports HTML with nbconvert through a
template that loads nothing from anywhere, writes the executed notebook, summary tables (CSV and one
XLSX) and ``manifest.json`` beside it, scans all of it for secrets, and only then publishes it and
rebuilds ``reports/index.html``. The tables and the manifest's figures are the ones the kernel prepared
for the HTML (:mod:`credit_reports.report.handoff`): the report is prepared once per render.

Layout: one folder per snapshot, ``<out_dir>/<as-of, UTC, e.g. 2026-12-01T061500Z>/``, holding
``<name>.html`` plus ``<name>.ipynb``, ``<name>.<table>.csv``, ``<name>.xlsx``, ``<name>.pdf`` (when
asked for) and the manifest (``manifest.json`` for the default report name, ``<name>.manifest.json`` for
any other, so several reports of one snapshot share a folder). A render of another snapshot never
touches that folder; re-rendering the same snapshot and report replaces that report's files only (each
an atomic rename, the manifest last) and removes the files its previous render published that this one
no longer writes. A notebook that fails leaves ``<name>.failed.ipynb`` there and publishes nothing else.
"""

from __future__ import annotations

import datetime as dt
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
    external_resources,
    find_secrets,
    publish_files,
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


# ---------------------------------------------------------------------------------------------------
# snapshot, manifest, tables


def _report_arguments(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of the notebook's parameters that ``report.prepare`` takes (the report's own ones)."""
    from credit_reports.report.parameters import parameter_names

    accepted = parameter_names()
    return {k: v for k, v in parameters.items() if k in accepted}


def _history_summary(snapshot: Any) -> dict[str, Any] | None:
    """The tie-out of the history from day one behind this snapshot (``credit-reports history``), or None."""
    from credit_reports.fetch.history import stored_summary

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
        extra={"history": _history_summary(snapshot)},  # the tie-out of the history from day one, or null
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
    """Keep the failed executed notebook (cleaned) next to the reports, unless it holds a secret."""
    if not staged.is_file():
        return None
    nb = clean_notebook(nbformat.read(staged, as_version=4))
    nbformat.write(nb, staged)
    if find_secrets([staged], api_key, other_secrets=others):
        log.error("the failed notebook holds a secret, so it was not kept")
        return None
    return publish_files([staged.rename(staged.with_name(f"{name}.failed.ipynb"))], destination)[0]


def snapshot_folder_name(as_of: dt.datetime) -> str:
    """The published folder of one snapshot: its as-of in UTC, readable and unique (``2026-12-01T061500Z``)."""
    return as_of.astimezone(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")


def _remove_previous(destination: Path, manifest_path: Path, keep: set[str]) -> None:
    """Remove the files this report's previous render of this snapshot published that this one does not."""
    try:
        previous = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for name in previous.get("files") or []:
        if isinstance(name, str) and name not in keep and "/" not in name and not name.startswith("."):
            (destination / name).unlink(missing_ok=True)


def _export_context(facts: ExportFacts, *, title: str, name: str, snapshot: Any, close: Any = None) -> Any:
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
        extra=(("Snapshot", snapshot.path.name), *_close_rows(close, facts)),
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


def _print_pdf(html_path: Path, name: str) -> tuple[Path | None, str | None]:
    """The report printed to ``<name>.pdf`` beside its HTML, or (None, why not) in one line."""
    from credit_reports.delivery.pdf import PdfUnavailableError, print_to_pdf

    target = html_path.with_name(f"{name}.pdf")
    # paper shows the appendix open: a print copy with every <details> open, removed afterwards
    printable = html_path.with_name(f".{name}.print.html")
    printable.write_text(_APPENDIX.sub(r"\1 open>", html_path.read_text(encoding="utf-8")), encoding="utf-8")
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
    destination: Path

    @property
    def as_of(self) -> dt.datetime:
        return timestamps.parse_datetime(self.snapshot.as_of)


def _plan(
    notebook: str | os.PathLike[str], parameters: Mapping[str, Any] | None, *, data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str], output_name: str | None, requested_snapshot: str | None,
) -> _Job:
    """Resolve the notebook, check its parameters, pin the snapshot: every bad input fails here (exit 2)."""
    from credit_reports.report.parameters import Parameters
    from credit_reports.report.preparation import period_closing
    from credit_reports.store.reader import load_snapshot

    name = _check_output_name(output_name or DEFAULT_OUTPUT_NAME)
    path = resolve_notebook(notebook)
    declared = notebook_parameters(path)
    given = {str(k): jsonable(v) for k, v in (parameters or {}).items()}
    check_parameter_names(given, declared, path.name)

    data_dir = Path(data_dir).expanduser().resolve()
    out_dir = Path(out_dir).expanduser().resolve()
    asked = str(given.get("snapshot") or "latest")
    requested = str(requested_snapshot or asked)
    if given.get("period") and "period" in declared:  # a close period pins the snapshot that closes it
        snapshot = period_closing(str(given["period"]), timezone=str(given.get("timezone") or "UTC"),
                                  data_dir=data_dir, environment=given.get("environment"), snapshot=asked)
        requested = f"period {given['period']}"
    else:
        snapshot = load_snapshot(asked, data_dir=data_dir, environment=given.get("environment"))
    pinned = {"data_dir": str(data_dir), "snapshot": snapshot.path.name, "environment": snapshot.environment}
    effective = {**given, **{k: v for k, v in pinned.items() if k in declared}}
    report_arguments = _report_arguments(effective)
    report_parameters = Parameters.check(**report_arguments)  # a bad value fails before a kernel starts
    return _Job(
        name=name, notebook=path, parameters=effective, report_arguments=report_arguments,
        report_parameters=report_parameters, snapshot=snapshot, requested=requested,
        title=str(effective.get("title") or default_title(declared, "Customer credit balances")),
        out_dir=out_dir, destination=out_dir / snapshot_folder_name(timestamps.parse_datetime(snapshot.as_of)),
    )


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
        kept = _keep_failed(executed_path, job.destination, job.name, api_key, others)
        where, cell, ename, evalue = _failed_message(exc)
        kept_text = f"the failed notebook is kept at {kept}" if kept else "the failed notebook was not kept"
        raise ReportFailedError(
            f"notebook {job.notebook.name} failed{redact_key(where, api_key)}; {kept_text}; nothing was "
            "published and the last good report stays in place",
            failed_notebook=kept, cell=cell, ename=ename, evalue=redact_key(str(evalue or ""), api_key),
        ) from None
    return nb, (early.finish() if early is not None else handoff.load(handoff_path))


def _exports(job: _Job, facts: ExportFacts, close: Any, stage: Path,
             csv_bom: bool) -> tuple[dict[str, Any], list[Path]]:
    """The close tables and the export files (CSVs, workbook) of ``facts``, written into ``stage``."""
    from credit_reports.delivery.exports import write_exports

    tables = _close_tables(job, facts, close)
    context = _export_context(facts, title=job.title, name=job.name, snapshot=job.snapshot, close=close)
    return tables, write_exports(tables, stage, job.name, context=context, csv_bom=csv_bom)


def _early_exports(job: _Job, close: Any, stage: Path, csv_bom: bool) -> handoff.EarlyExports:
    """Exports that start as soon as the kernel hands over the report prepared with this render's parameters
    (they then run beside the kernel's charts); other facts are left to the render, as before."""

    def work(facts: ExportFacts) -> tuple[dict[str, Any], list[Path]] | None:
        if not facts.same_parameters(job.report_parameters):
            return None
        return _exports(job, facts, close, stage, csv_bom)

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
    pack = _pack_resources(job, facts, close or CloseSettings(), journal)
    html = export_html(nb, title=job.title, footer=footer, as_of_line=as_of_line, downloads=downloads + pdf_link,
                       pack=pack)
    refuse_external_resources(html)
    html_path = stage / f"{name}.html"
    html_path.write_text(html, encoding="utf-8")
    if not pdf:
        return html_path, None
    pdf_path, why_not = _print_pdf(html_path, name)
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


def _close_tables(job: _Job, facts: ExportFacts, close: Any) -> dict[str, Any]:
    """The exported tables with the close pack's journal entries and GL / reporting-currency columns."""
    from credit_reports.delivery.close_pack import close_tables

    day = _closing_day(job)
    if facts.period_label:
        period = facts.period_label
    elif facts.opening is not None:
        period = f"{timestamps.display(facts.opening.as_of)} to {timestamps.display(job.snapshot.as_of)}"
    else:
        period = f"to {day:%d %b %Y}"
    return close_tables(dict(facts.tables), close, date=day.isoformat(), period=period,
                        reference=f"CR-{day:%Y-%m}", evidence=facts.evidence)


def _pack_resources(job: _Job, facts: ExportFacts, close: Any, journal: Any) -> dict[str, str]:
    """The template's close-pack pieces: sign-off block, journal table, the PDF's running header."""
    from credit_reports.delivery.close_pack import css_string, journal_html, running_header, signoff_html

    account = close.entity or f"Paddle {job.snapshot.environment} account"
    header = running_header(title=job.title, period=facts.period_label,
                            as_of=timestamps.display(job.snapshot.as_of), account=account)
    return {
        "signoff": signoff_html(close, prepared_on=f"{dt.datetime.now(dt.UTC):%d %b %Y}"),
        "journal": journal_html(journal, close),
        "running_header": css_string(header),
    }


def _write_manifest(
    job: _Job, facts: ExportFacts, staged: list[Path], downloads: list[tuple[str, str]],
    outstanding_change_share: float | None, *, base_url: str | None = None,
) -> tuple[Path, ReportManifest]:
    """``manifest.json`` (or ``<name>.manifest.json``) beside the staged files, with its alert reasons."""
    from credit_reports.report.alerts import attention_reasons

    manifest_path = staged[0].with_name(manifest_name(job.name))
    manifest = _manifest(
        name=job.name, title=job.title, notebook=job.notebook, parameters=job.parameters, snapshot=job.snapshot,
        facts=facts, files=[p.name for p in [*staged, manifest_path]], requested=job.requested,
        exports=downloads,
    )
    folder = job.destination.name
    manifest = manifest.updated(url=f"{base_url.rstrip('/')}/{folder}/{job.name}.html" if base_url else None)
    reasons = attention_reasons(manifest, outstanding_change_share=outstanding_change_share)
    manifest = manifest.updated(attention=reasons)
    manifest_path.write_text(json.dumps(manifest.to_json(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return manifest_path, manifest


def _publish(job: _Job, staged: list[Path], *, last: list[Path]) -> list[Path]:
    """Move the scanned files next to the reports (the manifest last); drop what the last render left."""
    _remove_previous(job.destination, job.destination / last[-1].name, {p.name for p in staged})
    published = publish_files(staged, job.destination, last=last)
    (job.destination / f"{job.name}.failed.ipynb").unlink(missing_ok=True)
    return published


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
    from credit_reports.delivery.exports import export_links

    timer = _Timer()
    job = _plan(notebook, parameters, data_dir=data_dir, out_dir=out_dir, output_name=output_name,
                requested_snapshot=requested_snapshot)
    log.info("rendering %s from snapshot %s into %s", job.notebook.name, job.snapshot.path.name, job.destination)
    warnings: list[str] = []
    with shared_salt() as salt, staging_folder(job.out_dir, job.name) as stage:
        others = {"the pseudonymisation salt": salt}
        close = close or CloseSettings()
        early = _early_exports(job, close, stage, csv_bom)
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
            tables, export_paths = early.result
            log.info("exports written beside the kernel in %.2f s", early.seconds)
        else:
            tables, export_paths = _exports(job, facts, close, stage, csv_bom)
        downloads = export_links(export_paths, job.name)
        timer.lap("exports")
        html_path, pdf_path = _write_html(job, nb, facts, stage, downloads, pdf=pdf, warnings=warnings,
                                          close=close, journal=tables.get("journal_entries"))
        timer.lap("html" + (" and pdf" if pdf else ""))
        staged = [html_path, executed_path, *export_paths, *([pdf_path] if pdf_path else [])]
        manifest_path, manifest = _write_manifest(job, facts, staged, downloads, outstanding_change_share,
                                                  base_url=base_url)
        staged.append(manifest_path)
        scan_for_secrets([stage], api_key, other_secrets=others)
        timer.lap("secret scan")
        published = _publish(job, staged, last=[html_path, manifest_path])
    if index:
        build_index(job.out_dir)
    timer.lap("publish" + (" and index" if index else ""))
    log.info("rendered %s in %s", job.name, timer)
    by_name = {p.name: p for p in published}
    return RenderResult(
        html=by_name[html_path.name], notebook=by_name[executed_path.name], manifest=by_name[manifest_path.name],
        directory=job.destination, complete=bool(job.snapshot.complete), files=tuple(published), as_of=job.as_of,
        pdf=by_name.get(f"{job.name}.pdf"), warnings=tuple(warnings), attention=tuple(manifest.attention or ()),
    )


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
