"""The report's tables as files beside the HTML: one CSV per table and one close-ready XLSX workbook.

The tables are the raw frames behind what the report shows (``credit_reports.report.preparation.Report.tables()``:
int64 minor units with a ``currency_code`` column), plus the customer sub-ledger (every customer and
currency with a balance) and, when the snapshot keeps them, the period's credit movements.

The workbook is made to go into a month-end close: a first sheet "About" (title, period, opening and
closing as-of with the time zone, environment in words, completeness, reconciliation status, toolkit
version, how amounts are stated); one sheet per table named and headed in the report's own words; amounts
as numbers in major units with each currency's decimals (JPY and KRW: none) beside a currency column;
dates as real dates in UTC (the header says so); columns sized to their content; an autofilter on each
table; landscape print set-up, fit to page width, header row repeated on every page.

The CSVs are made for imports and for people: a first column with the report's as-of, every amount twice
(exact integer minor units in ``<column>_minor`` and major units in ``<column>``), shares rounded to four
decimals (0.1234 = 12.34%), UTF-8 (with a byte-order mark for Excel when ``csv_bom`` is set).

Customer data can hold text a spreadsheet would run as a formula (``=HYPERLINK(...)``): text cells that
start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return are written as text cells in the XLSX and
prefixed with ``'`` in the CSV (OWASP's advice on CSV injection). Currencies are never summed together.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from credit_reports.core import timestamps
from credit_reports.core.money import data_major, minor_unit_decimals

__all__ = [
    "AMOUNT_COLUMNS",
    "ExportContext",
    "SHEET_TITLES",
    "header_for",
    "major_units_table",
    "neutralize_formula",
    "report_tables",
    "write_exports",
]

#: Columns holding int64 minor units of the row's ``currency_code``.
AMOUNT_COLUMNS = frozenset(
    {"available", "reserved", "used", "outstanding", "opening", "issued", "closing", "reversed",
     "top_1pct_available", "top_10pct_available",
     # the reconciliation, ageing, issued-by-source and movements tables
     "expected_closing", "unexplained", "used_change", "used_difference", "reserved_expected",
     "reserved_difference", "amount", "available_delta", "reserved_delta", "used_delta", "released",
     "debit", "credit",
     # the close pack's checks and GL tie-out (delivery/close_pack.py)
     "expected", "actual", "difference", "subledger", "gl_balance", "reconciling_items"}
)
_CONVERTED_SUFFIX = "_converted"
_SHEET_NAME_MAX = 31
_SHARE_DECIMALS = 4

#: Sheet (and link) titles in the report's words, in the order the report shows them.
SHEET_TITLES: dict[str, str] = {
    "totals": "Credit per currency",
    "roll_forward": "Roll-forward",
    "translation": "Roll-forward translated",
    "journal_entries": "Journal entries",
    "customer_subledger": "Customer sub-ledger",
    "movements": "Movements",
    "cohorts": "Cohorts",
    "trend": "Trend",
    "top_share": "Top holders' share",
    "concentration": "Largest holders",
    "reserved": "Reserved credit",
    "converted": "Converted",
    "gl_tieout": "GL tie-out",
    "pack_checks": "Pack checks",
}

#: Column headers in the report's words; dates name their time zone.
HEADERS: dict[str, str] = {
    "currency_code": "Currency",
    "customer_id": "Customer",
    "email": "Email",
    "name": "Name",
    "available": "Available",
    "reserved": "Reserved",
    "used": "Used",
    "outstanding": "Outstanding (available + reserved)",
    "customers_with_credit": "Customers holding credit",
    "customers": "Customers",
    "customers_with_balance": "With a balance in this currency",
    "cohort": "Cohort",
    "rank": "Rank",
    "share": "Share of currency",
    "cumulative_share": "Cumulative share",
    "holders": "Holders",
    "top_1pct_holders": "Top 1%: holders",
    "top_1pct_available": "Top 1%: available",
    "top_1pct_share": "Top 1%: share",
    "top_10pct_holders": "Top 10%: holders",
    "top_10pct_available": "Top 10%: available",
    "top_10pct_share": "Top 10%: share",
    "opening": "Opening outstanding",
    "issued": "+ Issued",
    "reversed": "- Reversed",
    "closing": "= Closing outstanding",
    "expected_closing": "Expected closing outstanding",
    "unexplained": "Unexplained difference",
    "as_of": "As of (UTC)",
    "rate": "Rate",
    "rate_date": "Rate date",
    "rate_source": "Rate source",
    "reporting_currency": "Reporting currency",
    "kind": "Kind",
    "amount": "Amount",
    "available_delta": "Change in available",
    "reserved_delta": "Change in reserved",
    "used_delta": "Change in used",
    "occurred_at": "Occurred at (UTC)",
    "source": "Source",
    "event_id": "Paddle event",
    "transaction_id": "Paddle transaction",
    "adjustment_id": "Paddle adjustment",
    "amount_unit": "Amount unit",
    "gl_account": "GL account",
    "opening_rate": "Opening rate",
    "opening_rate_date": "Opening rate date",
    "opening_rate_source": "Opening rate source",
    "movement_rate": "Movement rate",
    "movement_rate_date": "Movement rate date",
    "movement_rate_source": "Movement rate source",
    "closing_rate": "Closing rate",
    "closing_rate_date": "Closing rate date",
    "closing_rate_source": "Closing rate source",
}

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: One table as the workbook takes it: columns, rows (amounts as major-unit Decimals), per-cell currency.
Sheet = tuple[list[str], list[list[Any]], list[list[str | None]]]


@dataclass(frozen=True)
class ExportContext:
    """What the "About" sheet and the CSVs' as-of column say about the report."""

    title: str
    report: str
    as_of: dt.datetime
    environment: str
    complete: bool = True
    opening_as_of: dt.datetime | None = None
    failed_customers: int = 0
    reconciliation: str = ""
    toolkit_version: str = ""
    extra: Sequence[tuple[str, str]] = field(default_factory=tuple)


def header_for(column: str) -> str:
    """A column's header in words (``top_1pct_share`` -> ``Top 1%: share``; unknown: spaced, capitalised)."""
    if column in HEADERS:
        return HEADERS[column]
    if column.endswith(_CONVERTED_SUFFIX):
        return f"{header_for(column.removesuffix(_CONVERTED_SUFFIX))} (converted)"
    words = column.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def neutralize_formula(text: str) -> str:
    """``text`` prefixed with ``'`` when a spreadsheet would run it as a formula (OWASP CSV injection)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _major(value: Any, code: Any) -> Decimal | None:
    """An exact major-unit amount, or None for a missing cell (e.g. the own-currency cells of a TOTAL row)."""
    if _is_missing(value) or _is_missing(code):
        return None
    code = str(code)
    if minor_unit_decimals(code) is None and code.upper() == "TOTAL":
        return None
    return data_major(int(value), code)


def _plain(value: Any) -> Any:
    """Cell values files can hold: UTC timestamps as naive UTC datetimes (Excel has no zones), NA as None."""
    if _is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        stamp = value.tz_convert("UTC").tz_localize(None) if value.tzinfo else value
        return stamp.to_pydatetime()
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return value.item()  # numpy scalar -> Python
    return value


def _amount_code(table: pd.DataFrame, col: str) -> str | None:
    """The column holding the currency of ``col``'s amounts, or None when ``col`` is not an amount."""
    if col in AMOUNT_COLUMNS and "currency_code" in table.columns:
        return "currency_code"
    if col.endswith(_CONVERTED_SUFFIX) and "reporting_currency" in table.columns:
        return "reporting_currency"
    return None


def major_units_table(table: pd.DataFrame) -> tuple[list[str], list[list[Any]], list[list[str | None]]]:
    """Columns, rows (amounts as major-unit Decimals) and, per cell, the currency its amount is in.

    The third element gives, for each amount cell, the currency code whose decimals format it, and None
    for every other cell (counts, shares, text, dates).
    """
    columns = [str(c) for c in table.columns]
    code_columns = {col: _amount_code(table, col) for col in columns}
    rows: list[list[Any]] = []
    currencies: list[list[str | None]] = []
    for record in table.to_dict("records"):
        row, row_codes = [], []
        for col in columns:
            value = record[col]
            code_column = code_columns[col]
            if code_column is not None:
                code = record[code_column]
                row.append(_major(value, code))
                row_codes.append(None if _is_missing(code) else str(code))
            else:
                row.append(_plain(value))
                row_codes.append(None)
        rows.append(row)
        currencies.append(row_codes)
    codes = table["currency_code"] if "currency_code" in table.columns else None
    return _mark_unknown_units(columns, rows, currencies, codes)


def _mark_unknown_units(
    columns: list[str], rows: list[list[Any]], currencies: list[list[str | None]], codes: pd.Series | None
) -> tuple[list[str], list[list[Any]], list[list[str | None]]]:
    """Add an ``amount_unit`` column when a currency is unknown: its amounts stay in minor units.

    Without it a reader would take an unknown code's minor units for major units (100x too large).
    """
    if codes is None:
        return columns, rows, currencies
    unknown = [
        not _is_missing(c) and str(c).upper() != "TOTAL" and minor_unit_decimals(str(c)) is None for c in codes
    ]
    if not any(unknown):
        return columns, rows, currencies
    for row, row_codes, is_unknown in zip(rows, currencies, unknown, strict=True):
        row.append("minor units (unknown currency)" if is_unknown else "major units")
        row_codes.append(None)
    return [*columns, "amount_unit"], rows, currencies


# ---------------------------------------------------------------------------------------------------
# CSV


def _csv_text(value: Any, column: str) -> str:
    """One CSV cell: ISO UTC times, shares rounded for people, formula-like text neutralised."""
    if value is None or _is_missing(value):
        return ""
    if isinstance(value, dt.datetime | pd.Timestamp):
        return timestamps.iso(pd.Timestamp(value).to_pydatetime())
    if isinstance(value, float) and column.endswith("share"):
        return f"{round(value, _SHARE_DECIMALS):.{_SHARE_DECIMALS}f}"
    if isinstance(value, str):
        return neutralize_formula(value)
    return str(value)


def _csv_table(table: pd.DataFrame, as_of: dt.datetime | None) -> tuple[list[str], list[list[str]]]:
    """The CSV's header and rows: an as-of column first, every amount in major units and exact minor units."""
    columns = [str(c) for c in table.columns]
    code_columns = {col: _amount_code(table, col) for col in columns}
    as_of_name = "report_as_of" if "as_of" in columns else "as_of"
    header = [as_of_name] if as_of is not None else []
    for col in columns:
        header.append(col)
        if code_columns[col] is not None:
            header.append(f"{col}_minor")
    stamp = timestamps.iso(as_of) if as_of is not None else None
    rows: list[list[str]] = []
    for record in table.to_dict("records"):
        row = [stamp] if stamp is not None else []
        for col in columns:
            value = _plain(record[col])
            code_column = code_columns[col]
            if code_column is None:
                row.append(_csv_text(value, col))
                continue
            code = record[code_column]
            known = not _is_missing(code) and minor_unit_decimals(str(code)) is not None
            major = _major(value, code) if known else None
            row.append("" if major is None else str(major))
            row.append("" if value is None else str(int(value)))
        rows.append(row)
    return header, rows


def _write_csv(path: Path, header: list[str], rows: list[list[str]], *, bom: bool) -> None:
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


# ---------------------------------------------------------------------------------------------------
# XLSX


def _environment_words(environment: str) -> str:
    """The environment as a finance reader reads it."""
    known = {
        "production": "Production: the live Paddle account (real customer credit)",
        "sandbox": "Sandbox: Paddle's test account (not real money)",
    }
    return known.get(environment, f"{environment}: not a live Paddle account (local or test data)")


def _about_rows(context: ExportContext, sheets: Mapping[str, str]) -> list[tuple[str, Any]]:
    """The About sheet's label/value pairs."""
    closing = context.as_of.astimezone(dt.UTC).replace(tzinfo=None)
    opening = context.opening_as_of.astimezone(dt.UTC).replace(tzinfo=None) if context.opening_as_of else None
    if opening is not None:
        period = f"{opening:%d %b %Y %H:%M:%S} UTC to {closing:%d %b %Y %H:%M:%S} UTC"
    else:
        period = f"As of {closing:%d %b %Y %H:%M:%S} UTC (no earlier snapshot: no period)"
    if context.complete:
        completeness = "Complete: every customer's balances were fetched"
    else:
        who = f"{context.failed_customers:,} customer(s)" if context.failed_customers else "some customers"
        completeness = f"INCOMPLETE: the balances of {who} could not be fetched; totals understate credit"
    rows: list[tuple[str, Any]] = [
        ("Report", context.report),
        ("Period", period),
        ("Opening as of (UTC)", opening if opening is not None else "none"),
        ("Closing as of (UTC)", closing),
        ("Time zone", "UTC: every date and time in this workbook is in UTC"),
        ("Environment", _environment_words(context.environment)),
        ("Snapshot completeness", completeness),
        ("Reconciliation", context.reconciliation or "not reconciled"),
        ("Amounts", "Numbers in major units of the row's currency (the Currency column), with that currency's "
                    "decimals (JPY and KRW have none). Currencies are never added together. The CSV files "
                    "beside this workbook also carry exact integer minor units."),
        ("Outstanding", "Available + reserved: credit customers can still spend or have set aside for unpaid "
                        "invoices."),
        *context.extra,
        ("Toolkit", f"credit-reports {context.toolkit_version}".strip()),
    ]
    rows.append(("Sheets", ", ".join(sheets.values())))
    return rows


#: Headers that differ on one sheet: the roll-forward signs every line the same way (the amounts are
#: positive; the header says whether a line adds or takes away).
SHEET_HEADERS: dict[str, dict[str, str]] = {
    "roll_forward": {
        "opening": "Opening outstanding",
        "issued": "+ Issued",
        "issued_count": "Issued: movements",
        "reversed": "- Reversed",
        "reversed_count": "Reversed: movements",
        "used": "- Used",
        "used_count": "Used: movements",
        "expected_closing": "= Expected closing outstanding",
        "closing": "Closing outstanding (actual)",
        "unexplained": "Unexplained (actual - expected)",
        "used_change": "Check: change in used (balances)",
        "used_difference": "Check: used difference",
        "reserved_expected": "Check: reserved on open invoices",
        "reserved": "Check: reserved (balances)",
        "reserved_difference": "Check: reserved difference",
        "evidence": "Backed by Paddle events",
    },
    "translation": {
        "opening": "Opening outstanding",
        "issued": "+ Issued",
        "reversed": "- Reversed",
        "used": "- Used",
        "unexplained": "+ Unexplained",
        "closing": "= Closing outstanding",
        "translation_converted": "+ Translation difference (converted)",
    },
    "journal_entries": {
        "entry": "Journal entry",
        "date": "Date",
        "line": "Line",
        "account": "Account",
        "description": "Description",
        "debit": "Debit",
        "credit": "Credit",
        "source_currency": "Credit held in",
        "period": "Period",
        "basis": "Basis",
    },
    "gl_tieout": {
        "account": "GL account",
        "subledger": "Sub-ledger (outstanding)",
        "gl_balance": "GL balance",
        "reconciling_items": "Reconciling items",
        "difference": "Difference (sub-ledger - GL - items)",
        "reconciling_detail": "Reconciling items, what they are",
    },
    "pack_checks": {
        "check": "Check",
        "subject": "Of",
        "expected": "Expected",
        "actual": "Found",
        "difference": "Difference",
        "status": "Status",
        "where": "Where to look",
    },
}


def _write_xlsx(path: Path, sheets: Mapping[str, Sheet], context: ExportContext | None, stem: str) -> None:
    """The workbook (:mod:`credit_reports.delivery.workbook`): About, Checks, then one sheet per table."""
    from credit_reports.delivery.workbook import write_workbook

    titles = {name: _sheet_title(name) for name in sheets}
    headers = {name: [SHEET_HEADERS.get(name, {}).get(c) or header_for(c) for c in data[0]]
               for name, data in sheets.items()}
    about = _about_rows(context, titles) if context is not None else None
    write_workbook(path, sheets, titles=titles, headers=headers, title=context.title if context else "",
                   about=about, csv_names={name: csv_name(stem, name) for name in sheets})


def _sheet_title(name: str) -> str:
    """A table's sheet name in words (Excel allows 31 characters and no ``[]:*?/\\``)."""
    title = SHEET_TITLES.get(name) or header_for(name)
    return re.sub(r"[\[\]:*?/\\]", " ", title)[:_SHEET_NAME_MAX]


def _ordered(tables: Mapping[str, pd.DataFrame | None]) -> list[tuple[str, pd.DataFrame]]:
    """The tables in the report's order (known ones first), skipping missing ones."""
    known = [n for n in SHEET_TITLES if n in tables]
    rest = [n for n in tables if n not in SHEET_TITLES]
    return [(n, tables[n]) for n in [*known, *rest] if tables[n] is not None]


def csv_name(stem: str, table: str) -> str:
    """``<stem>.<table>.csv`` with ``_`` shown as ``-`` (``credit-balances.customer-subledger.csv``)."""
    return f"{stem}.{table.replace('_', '-')}.csv"


def write_exports(
    tables: Mapping[str, pd.DataFrame | None],
    folder: str | os.PathLike[str],
    stem: str,
    *,
    context: ExportContext | None = None,
    csv_bom: bool = False,
) -> list[Path]:
    """Write ``<stem>.<table>.csv`` per table and ``<stem>.xlsx`` (About, then a sheet per table).

    Returns the paths, the workbook last. ``context`` fills the About sheet and the CSVs' as-of column.
    """
    folder = Path(folder)
    sheets: dict[str, Sheet] = {}
    paths: list[Path] = []
    as_of = context.as_of if context is not None else None
    for name, table in _ordered(tables):
        sheets[name] = major_units_table(table)
        path = folder / csv_name(stem, name)
        header, rows = _csv_table(table, as_of)
        _write_csv(path, header, rows, bom=csv_bom)
        paths.append(path)
    if sheets:
        workbook = folder / f"{stem}.xlsx"
        _write_xlsx(workbook, sheets, context, stem)
        paths.append(workbook)
    return paths


def export_links(paths: Sequence[Path], stem: str) -> list[tuple[str, str]]:
    """(label, file name) for each export, for the report's and the index's download links."""
    links = []
    for path in paths:
        if path.suffix == ".xlsx":
            links.append(("Workbook (XLSX)", path.name))
            continue
        table = path.name.removeprefix(f"{stem}.").removesuffix(".csv").replace("-", "_")
        links.append((f"{SHEET_TITLES.get(table) or header_for(table)} (CSV)", path.name))
    return sorted(links, key=lambda link: (not link[0].startswith("Workbook"),))


def report_tables(report: Any) -> dict[str, pd.DataFrame]:
    """The tables to export for a prepared report (``credit_reports.report.preparation.Report``)."""
    return dict(report.tables())


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
