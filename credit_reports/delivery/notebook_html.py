"""What a report's HTML is made of: the executed notebook cleaned, its images compacted, exported and labelled.

:func:`clean_notebook` strips what must not travel (the injected-parameters cell, papermill's copy of the
parameters, stderr and warnings); :func:`compact_images` re-encodes chart PNGs and gives each the alt text of
its section; :func:`export_html` runs nbconvert through a template that loads nothing from anywhere; and
:func:`label_table_cells` gives table cells the labels phones show.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat

from credit_reports.delivery.notebook_run import INJECTED_TAG

log = logging.getLogger("credit_reports.render")

#: The nbconvert template that loads nothing from anywhere (credit_reports/delivery/templates/credit_reports).
TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "credit_reports"


def clean_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip what must not travel with a report: injected parameters, papermill's copy of them, stderr.

    Removes cells tagged ``injected-parameters``, ``metadata.papermill.parameters`` (and the staging
    output path), widget state, and every stderr stream output (warnings, logs, progress bars).
    Returns the same notebook, changed in place.
    """
    nb.cells = [c for c in nb.cells if INJECTED_TAG not in (c.get("metadata", {}).get("tags") or [])]
    papermill_meta = nb.metadata.get("papermill")
    if isinstance(papermill_meta, dict):
        papermill_meta.pop("parameters", None)
        papermill_meta.pop("output_path", None)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        cell.outputs = [
            out for out in cell.get("outputs", [])
            if not (out.get("output_type") == "stream" and out.get("name") == "stderr")
        ]
    return nb


def _compact_png(data: str) -> str:
    """A base64 PNG re-encoded as a 256-colour palette PNG when that is smaller (charts: 3-4x smaller).

    Matplotlib charts use a handful of flat colours plus anti-aliasing, which a 256-colour palette
    keeps visually identical; the pixel size (2x for sharp display) is unchanged.
    """
    import base64
    import io

    from PIL import Image

    raw = base64.b64decode(data)
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 25 and raw[25] == 3:
        return data  # IHDR colour type 3: already a palette PNG (credit_reports.figures.charts makes those)
    try:
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            source = image if image.mode in ("RGB", "RGBA") else image.convert("RGBA")
            palette = source.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
            out = io.BytesIO()
            palette.save(out, format="PNG", optimize=True)
    except (OSError, ValueError):
        return data
    smaller = out.getvalue()
    return base64.b64encode(smaller).decode("ascii") if len(smaller) < len(raw) else data


def _heading(cell: Any) -> str | None:
    """The last Markdown heading in a cell, as plain text."""
    found = None
    for line in str(cell.get("source", "")).splitlines():
        match = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            found = re.sub(r"[*_`]", "", match.group(1)).strip()
    return found


def compact_images(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Shrink PNG outputs (palette re-encoding) and give each chart an alt text from its section heading.

    Keeps the report within its size budget with sharp 2x charts, and lets screen readers say which
    chart is which. Changes the notebook in place and returns it.
    """
    heading = None
    for cell in nb.cells:
        if cell.get("cell_type") == "markdown":
            heading = _heading(cell) or heading
            continue
        for out in cell.get("outputs", []):
            data = out.get("data") or {}
            if "image/png" not in data:
                continue
            data["image/png"] = _compact_png(data["image/png"])
            meta = out.setdefault("metadata", {})
            if heading and "alt" not in meta:
                meta["alt"] = f"Chart: {heading}"
    return nb


# ---------------------------------------------------------------------------------------------------
# HTML


def export_html(
    nb: nbformat.NotebookNode,
    *,
    title: str,
    footer: str = "",
    as_of_line: str = "",
    downloads: list[tuple[str, str]] | None = None,
    pack: Mapping[str, str] | None = None,
) -> str:
    """The report page: outputs only (no code, no prompts), inline styles, no external resources.

    ``as_of_line`` is shown above the report (the as-of it was asked for); ``downloads`` are (label,
    relative link) pairs to the exports beside it; ``pack`` the close pack's HTML pieces (``signoff``,
    ``journal``: shown after the cells tagged ``close-signoff`` / ``close-journal``) and the PDF's
    ``running_header`` (a CSS string).
    """
    from nbconvert import HTMLExporter

    nb.metadata["title"] = title
    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_anchor_links=True,
        embed_images=True,
        theme="light",
    )
    resources = {
        "credit_reports_footer": footer,
        "credit_reports_as_of": as_of_line,
        "credit_reports_downloads": downloads or [],
        "credit_reports_pack": dict(pack or {}),
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return label_table_cells(body)


_TABLE = re.compile(r"<table\b[^>]*>.*?</table>", re.S)
_HEADING = re.compile(r'<th\b[^>]*class="col_heading level0 (col\d+)"[^>]*>(.*?)</th>', re.S)
#: A cell holding one word (an amount, a date, a customer id) is marked so that it never wraps inside.
_ONE_WORD = re.compile(r'(<td\b[^>]*?class="data )(row\d+ col\d+"[^>]*>[^<\s]+</td>)')
#: Tables with more columns than this are stacked into cards on a phone.
_NARROW_COLUMNS = 3
_CELL = re.compile(r'<td\b(?P<attrs>[^>]*?)class="(?P<cls>data row\d+ (?P<col>col\d+))"')


def label_table_cells(page: str) -> str:
    """Give every cell of the report's tables its column's header as ``data-label``.

    On a phone the stylesheet stacks each row into label/value lines (``td::before`` shows the label),
    so no column is lost and nothing scrolls sideways. Cells of one word (amounts, dates, ids) get the
    class ``credit-nowrap`` so a laptop or paper layout never breaks ``2026-11-30`` at its hyphen. Only
    pandas Styler tables (the report's) are touched; their cells carry ``colN`` classes naming the header.
    """

    def one_table(match: re.Match[str]) -> str:
        table = match.group(0)
        labels = {col: re.sub(r"<[^>]+>", "", text).strip() for col, text in _HEADING.findall(table)}
        if not labels:
            return table

        if len(labels) > _NARROW_COLUMNS:  # narrow tables fit a phone as they are; wide ones stack
            table = table.replace('class="credit-table"', 'class="credit-table credit-table-wide"', 1)

        def one_cell(cell: re.Match[str]) -> str:
            label = labels.get(cell.group("col"), "")
            label = label.replace('"', "&quot;")
            return f'<td{cell.group("attrs")}data-label="{label}" class="{cell.group("cls")}"'

        return _ONE_WORD.sub(r'\1credit-nowrap \2', _CELL.sub(one_cell, table))

    return _TABLE.sub(one_table, page)
