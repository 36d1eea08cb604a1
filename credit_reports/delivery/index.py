"""``reports/index.html``: every published report, newest first: period, as-of, title, outstanding credit,
links to its exports, and "Attention:" with the reasons when a report needs a look (``alerts.py``).

The index is built only from the manifests of published reports, so a failed render (which publishes no
manifest) never appears in it and the index keeps pointing at the last good report. The page is
self-contained (inline styles, no scripts) and uses relative links, so the whole ``reports/`` folder can
be copied to a shared drive or attached to an email and still work. On a phone (narrow screens) each
row becomes a card of label/value lines, so no column is lost and nothing scrolls sideways.
"""

from __future__ import annotations

import html
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from credit_reports.core import timestamps
from credit_reports.core.money import format_money
from credit_reports.delivery.config import DEFAULT_REPORT_NAME as DEFAULT_OUTPUT_NAME
from credit_reports.delivery.publish import VERSION_FOLDER, current_version, staging_root, versions
from credit_reports.store.manifests import ReportManifest, ReportSnapshot

__all__ = ["INDEX_NAME", "PublishedReport", "build_index", "manifest_name", "published_reports"]

log = logging.getLogger("credit_reports.index")

INDEX_NAME = "index.html"


def manifest_name(report_name: str) -> str:
    """``manifest.json`` for the default report, ``<name>.manifest.json`` for others sharing a day folder."""
    return "manifest.json" if report_name == DEFAULT_OUTPUT_NAME else f"{report_name}.manifest.json"


@dataclass(frozen=True)
class PublishedReport:
    """One published report: its manifest and its HTML page's path relative to the reports folder."""

    manifest: ReportManifest
    html: str
    #: Earlier versions of this report in the same folder (``2026-11.v1/credit-balances.html``), oldest first:
    #: a re-render never overwrites a published pack; the folder's own link (``2026-11/``) is the current one.
    earlier: tuple[str, ...] = ()


def published_reports(out_dir: str | os.PathLike[str]) -> list[PublishedReport]:
    """The manifests of every published report under ``out_dir``, newest as-of first.

    Each with ``html``, the path of the report relative to ``out_dir``. Manifests whose HTML is missing, or
    that cannot be read as a JSON object, are skipped with a log line.
    """
    root = Path(out_dir)
    found = []
    for path in sorted(root.glob("*/*manifest.json")):
        if path.parent.name.startswith(".") or VERSION_FOLDER.match(path.parent.name):
            continue  # a version is reached through its folder's link while current, else listed as earlier
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("skipping unreadable manifest %s: %s", path, exc)
            continue
        if not isinstance(data, dict):
            log.warning("skipping manifest %s: it is not a JSON object", path)
            continue
        manifest = ReportManifest.from_json(data)
        report = path.parent / f"{manifest.report or DEFAULT_OUTPUT_NAME}.html"
        if not report.is_file():
            log.warning("skipping manifest %s: its report %s is missing", path, report.name)
            continue
        found.append(PublishedReport(manifest, report.relative_to(root).as_posix(),
                                     _earlier(root, path.parent.name, report.name)))
    found.sort(key=lambda r: (r.manifest.snapshot.as_of or "", r.manifest.rendered_at or "", r.html), reverse=True)
    return found


def _earlier(root: Path, folder: str, html_name: str) -> tuple[str, ...]:
    """The earlier, superseded versions of one report of ``folder`` (paths relative to ``root``)."""
    current = current_version(root, folder)
    seen = {_identity(current / html_name)} if current is not None else set()
    found = []
    for n in versions(root, folder):  # a version that only carried this report over holds the same file
        identity = _identity(root / f"{folder}.v{n}" / html_name)
        if identity is not None and identity not in seen:
            found.append(f"{folder}.v{n}/{html_name}")
        seen.add(identity)
    return tuple(found)


def _identity(path: Path) -> tuple[int, int] | None:
    """A file's (device, inode): versions share the files they carried over as hard links; None if absent."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _versions_note(report: PublishedReport) -> str:
    """"current version; earlier: v1, v2" under a report that was re-rendered (links to the earlier ones)."""
    if not report.earlier:
        return ""
    links = ", ".join(
        f'<a href="{html.escape(path, quote=True)}">{html.escape(path.split("/")[0].rsplit(".", 1)[1])}</a>'
        for path in report.earlier)
    return f'<div class="sub">current version; earlier, kept as published: {links}</div>'


def _outstanding(manifest: ReportManifest) -> str:
    """Outstanding credit per currency as HTML list items, each in its own currency."""
    headline = manifest.headline or {}
    items = []
    for code in sorted(headline):
        figures = headline[code] or {}
        if "outstanding" not in figures:
            continue
        items.append(
            f'<li><span class="code">{html.escape(code)}</span> '
            f'{html.escape(format_money(int(figures["outstanding"]), code))}</li>'
        )
    return f'<ul class="money">{"".join(items)}</ul>' if items else "&ndash;"


def _when(text: str | None) -> str:
    """An ISO timestamp as people read it, as in the report: '26 Nov 2026, 06:15:00 UTC'."""
    if not text:
        return "&ndash;"
    try:
        return timestamps.display(text)
    except ValueError:
        return html.escape(text)


def _period(manifest: ReportManifest) -> str:
    """The report's period: opening to closing as-of, or 'as of' alone when there is no earlier snapshot."""
    period = manifest.period or {}
    start = period.get("from") or (manifest.compared_to or {}).get("as_of")
    end = period.get("to") or manifest.snapshot.as_of
    if not start:
        return "single snapshot"
    return f"{_when(start)} to {_when(end)}"


def _exports(report: PublishedReport) -> str:
    """Links to the report's exports (relative to the index), as a compact list."""
    folder = _href(report).rsplit("/", 1)[0]
    items = []
    for export in report.manifest.exports or []:
        if not isinstance(export, dict) or not export.get("file"):
            continue
        href = html.escape(f"{folder}/{export['file']}", quote=True)
        items.append(f'<li><a href="{href}">{html.escape(str(export.get("label") or export["file"]))}</a></li>')
    return f'<ul class="exports">{"".join(items)}</ul>' if items else ""


def _status(manifest: ReportManifest) -> str:
    """Complete, or "Attention:" and the reasons the report needs a look."""
    reasons = manifest.attention or []
    complete = manifest.snapshot.complete if "complete" in manifest.snapshot else True
    if not reasons and not complete:
        reasons = ["incomplete snapshot"]
    if not reasons:
        return "complete"
    listed = "; ".join(html.escape(str(r)) for r in reasons)
    return f'<strong class="warn">Attention:</strong> <span class="warn">{listed}</span>'


def _snapshot_name(snapshot: ReportSnapshot) -> str:
    """`` · snapshot <as-of folder name>``, so a reader can name the exact snapshot a report read."""
    name = snapshot.name or (Path(str(snapshot.path)).name if snapshot.path else "")
    return f" &middot; snapshot {html.escape(str(name))}" if name else ""


def _href(report: PublishedReport) -> str:
    """The report's link: its address where ``reports/`` is served (``[publish] base_url``, recorded in the
    manifest as ``url``), else its path relative to the index."""
    url = report.manifest.url
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else report.html


def _row(report: PublishedReport) -> str:
    manifest = report.manifest
    snapshot = manifest.snapshot
    title = manifest.title or manifest.report or report.html
    return (
        "<tr>"
        f'<td class="when" data-label="As of">{_when(snapshot.as_of)}</td>'
        f'<td data-label="Period">{_period(manifest)}</td>'
        f'<td data-label="Report"><a href="{html.escape(_href(report), quote=True)}">{html.escape(str(title))}</a>'
        f'<div class="sub">{html.escape(str(manifest.report or ""))}{_snapshot_name(snapshot)}</div>'
        f"{_versions_note(report)}{_exports(report)}</td>"
        f'<td data-label="Environment">{html.escape(str(snapshot.environment or ""))}</td>'
        f'<td data-label="Outstanding credit">{_outstanding(manifest)}</td>'
        f'<td data-label="Status">{_status(manifest)}</td>'
        f'<td class="when" data-label="Rendered">{_when(manifest.rendered_at)}</td>'
        "</tr>"
    )


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1100px; padding: 24px 32px; color: #1f2328; }
h1 { font-size: 24px; margin-bottom: 4px; }
p.lead { color: #555; margin-top: 0; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 8px 10px; border-bottom: 1px solid #ddd; }
th { background: #f6f8fa; font-weight: 600; }
td .sub { color: #777; font-size: 12px; }
ul.money { list-style: none; margin: 0; padding: 0; font-variant-numeric: tabular-nums; }
ul.money .code { display: inline-block; width: 3.5em; color: #555; }
.warn { color: #b35900; }
ul.exports { list-style: none; margin: 6px 0 0 0; padding: 0; font-size: 12px; }
ul.exports li { display: inline-block; margin-right: 10px; }
ul.money li, ul.exports li, td.when { white-space: nowrap; }
@media (max-width: 640px) {
  body { padding: 12px; }
  table, thead, tbody, tr, th, td { display: block; width: auto; }
  thead { position: absolute; left: -10000px; }
  tr { border: 1px solid #ddd; border-radius: 4px; margin-bottom: 12px; padding: 4px 0; }
  td { border: none; padding: 4px 10px; overflow-wrap: anywhere; }
  td::before { content: attr(data-label); display: block; font-size: 12px; color: #666; font-weight: 600; }
  ul.exports li { display: block; margin: 2px 0; }
}
@media print {
  body { max-width: none; padding: 0; }
  tr { break-inside: avoid; }
  td, th { overflow-wrap: anywhere; }
}
"""


def build_index(out_dir: str | os.PathLike[str]) -> Path:
    """Write ``<out_dir>/index.html`` listing every published report, newest first; return its path.

    Written to a temporary file outside ``out_dir`` and renamed in, so a reader never sees half an index.
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    reports = published_reports(root)
    rows = "\n".join(_row(r) for r in reports)
    body = (
        f"<table><thead><tr><th>As of</th><th>Period</th><th>Report and exports</th><th>Environment</th>"
        f"<th>Outstanding credit</th><th>Status</th><th>Rendered</th></tr></thead><tbody>\n{rows}\n</tbody></table>"
        if reports
        else "<p>No reports have been rendered yet: run <code>credit-reports render</code>.</p>"
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
        f"<title>Credit balance reports</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        "<h1>Credit balance reports</h1>\n"
        '<p class="lead">Every rendered report, newest first. Outstanding credit is available plus '
        "reserved credit, shown per currency; currencies are never added together.</p>\n"
        f"{body}\n</body>\n</html>\n"
    )
    target = root / INDEX_NAME
    # written beside reports/ (the staging root) and renamed in: a killed build leaves nothing where it is served
    handle, temp = tempfile.mkstemp(prefix=".index-", suffix=".html", dir=staging_root(root))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(page)
        os.chmod(temp, 0o644)  # mkstemp makes it private; the index is for every reader of reports/
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
