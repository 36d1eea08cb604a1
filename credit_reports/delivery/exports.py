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

import numpy as np
import pandas as pd

from credit_reports.core import timestamps
from credit_reports.core.money import minor_unit_decimals
from credit_reports.delivery.workbook import SheetColumn, SheetData

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
     "expected", "actual", "difference", "subledger", "gl_balance", "reconciling_items",
     # the maturity split (report/maturity_report.py split_table)
     "current", "current_p10", "current_p90", "non_current", "dormant"}
)
_CONVERTED_SUFFIX = "_converted"
_SHEET_NAME_MAX = 31
_SHARE_DECIMALS = 4

#: Sheet (and link) titles in the report's words, in the order the report shows them.
SHEET_TITLES: dict[str, str] = {
    "totals": "Credit per currency",
    "maturity": "Maturity",
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


# ---------------------------------------------------------------------------------------------------
# Columns: every table is turned into files a column at a time


def _code_facts(codes: pd.Series) -> tuple[list[str | None], np.ndarray, np.ndarray]:
    """Per row of a currency column: the code as text (None where missing), the decimals of its minor unit
    (-1 where the code is missing, TOTAL or no currency) and whether it is a code that is no currency (not
    TOTAL), whose amounts stay in minor units. Each distinct code is looked up once, never once per cell."""
    values = codes.astype(object).to_numpy()
    positions, distinct = pd.factorize(values, use_na_sentinel=True)
    text = [str(c) for c in distinct]
    decimals = [minor_unit_decimals(c) for c in text]
    per_code = np.array([-1 if d is None else d for d in decimals] + [-1], dtype="int64")
    unknown = np.array([d is None and c.upper() != "TOTAL" for c, d in zip(text, decimals, strict=True)] + [False])
    labels = np.array([*text, None], dtype=object)
    return labels[positions].tolist(), per_code[positions], unknown[positions]


def _minor_ints(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(int64 minor units with 0 where missing, the missing mask) of an amount column of any dtype."""
    missing = values.isna().to_numpy()
    if values.dtype.kind in "iu":
        return values.to_numpy(dtype="int64", na_value=0), missing
    filled = values.where(~missing, 0) if missing.any() else values
    return np.array([int(v) for v in filled], dtype="int64"), missing  # int() as the cells were read


def _major_text(ints: np.ndarray, decimals: np.ndarray) -> np.ndarray:
    """Exact major units as text (``str(Decimal(minor).scaleb(-decimals))``: ``-0.05``, ``1234.56``, ``12``)."""
    out = ints.astype(str)  # decimals 0 (and the rows the caller blanks)
    for d in np.unique(decimals[decimals > 0]):
        rows = decimals == d
        size = 10 ** int(d)
        magnitude = np.abs(ints[rows])
        sign = np.where(ints[rows] < 0, "-", "")
        whole = np.strings.add(sign, (magnitude // size).astype(str))
        part = np.strings.zfill((magnitude % size).astype(str), int(d))
        out = out.astype(object)
        out[rows] = np.strings.add(np.strings.add(whole, "."), part)
    return out


@dataclass
class AmountColumn:
    """An amount column worked out once for both files: minor units, their currency, exact text, floats."""

    ints: np.ndarray  # int64 minor units (0 where missing)
    missing: np.ndarray  # bool: no amount in the cell
    codes: list[str | None]  # the row's currency code as text (None where missing)
    decimals: np.ndarray  # the currency's decimals, -1 where the code is missing, TOTAL or unknown
    unknown: np.ndarray  # bool: a code that is no currency (not TOTAL): its amount stays in minor units

    @classmethod
    def of(cls, values: pd.Series, codes: tuple[list[str | None], np.ndarray, np.ndarray]) -> AmountColumn:
        """``values`` in the currencies ``codes`` (:func:`_code_facts` of the table's currency column)."""
        ints, missing = _minor_ints(values)
        return cls(ints, missing, *codes)

    def csv_major(self) -> list[str]:
        """The CSV's major-unit text: empty where the amount or a known currency is missing."""
        text = _major_text(self.ints, np.maximum(self.decimals, 0))
        return np.where(self.missing | (self.decimals < 0), "", text).tolist()

    def csv_minor(self) -> list[str]:
        """The CSV's exact minor units: empty where the amount is missing."""
        return np.where(self.missing, "", self.ints.astype(str)).tolist()

    def sheet_numbers(self) -> list[float | None]:
        """The workbook's numbers: major units (minor units for a code that is no currency), None where
        there is no amount or no currency (a TOTAL row's own-currency cells). Exact: an int64 divided by
        a power of ten rounds once, as ``float(Decimal)`` does (below 2**53, every amount a ledger holds)."""
        scale = np.where(self.unknown, 0, np.maximum(self.decimals, 0))
        shown = ~self.missing & ((self.decimals >= 0) | self.unknown)
        numbers = self.ints / np.power(10.0, scale)
        if np.abs(self.ints).max(initial=0) >= 2**53:  # pragma: no cover - beyond any real balance
            numbers = np.array([float(Decimal(int(i)).scaleb(-int(s))) for i, s in zip(self.ints, scale, strict=True)])
        return np.where(shown, numbers, None).tolist()

    def exact(self) -> list[Decimal | None]:
        """The workbook's amounts as exact Decimals (what a Checks formula's computed value is summed from)."""
        scale = np.where(self.unknown, 0, np.maximum(self.decimals, 0))
        text = _major_text(self.ints, scale)
        shown = ~self.missing & ((self.decimals >= 0) | self.unknown)
        return [Decimal(t) if s else None for t, s in zip(text.tolist(), shown.tolist(), strict=True)]

    def sheet_codes(self) -> list[str | None]:
        """Per cell, the currency whose format the workbook gives its amount."""
        return self.codes


def _plain_column(values: pd.Series) -> tuple[str, list[Any]]:
    """A column that is no amount, as the workbook writes it: (kind, one Python value per row, None where
    empty), what :func:`_plain` gives for each cell, decided once from the column's dtype."""
    dtype = values.dtype
    missing = values.isna().to_numpy()
    if dtype.kind == "M":
        utc = values.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(dtype, "tz", None) else values
        stamps = utc.astype(object).tolist()
        return "date", [None if m else t.to_pydatetime() for t, m in zip(stamps, missing, strict=True)]
    if dtype.kind == "b":  # numpy bool, or pandas' nullable boolean (missing: an empty cell)
        return "bool", [None if m else v for v, m in zip(values.tolist(), missing, strict=True)]
    if dtype.kind in "iu":  # numpy integers, or pandas' nullable Int64 (missing: an empty cell)
        return "int", [None if m else v for v, m in zip(values.tolist(), missing, strict=True)]
    if dtype.kind == "f":
        return "float", [None if m else v for v, m in zip(values.tolist(), missing, strict=True)]
    if isinstance(dtype, pd.StringDtype) or (dtype.kind == "O" and _all_text(values, missing)):
        return "text", [None if m else v for v, m in zip(values.tolist(), missing, strict=True)]
    return "mixed", [_plain(v) for v in values.tolist()]


def _all_text(values: pd.Series, missing: np.ndarray) -> bool:
    return all(isinstance(v, str) for v, m in zip(values.tolist(), missing, strict=True) if not m)


def _share_text(value: float) -> str:
    return f"{round(value, _SHARE_DECIMALS):.{_SHARE_DECIMALS}f}"


def _csv_plain(kind: str, values: list[Any], column: str, source: pd.Series) -> list[str]:
    """A column that is no amount as CSV text, what :func:`_csv_text` gives each cell."""
    if kind == "date":
        stamps = source.dt.tz_convert("UTC") if getattr(source.dtype, "tz", None) else source
        return stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ").fillna("").tolist()
    if kind in ("int", "bool"):
        return ["" if v is None else str(v) for v in values]
    if kind == "float":
        text = _share_text if column.endswith("share") else str
        return ["" if v is None or v != v else text(v) for v in values]
    if kind == "text":
        return ["" if v is None else ("'" + v if v.startswith(_FORMULA_START) else v) for v in values]
    return [_csv_text(v, column) for v in values]


@dataclass
class TableColumns:
    """One table worked out a column at a time, once, for both its CSV and its workbook sheet."""

    table: pd.DataFrame
    amounts: dict[str, AmountColumn] = field(default_factory=dict)
    plain: dict[str, tuple[str, list[Any]]] = field(default_factory=dict)

    @classmethod
    def of(cls, table: pd.DataFrame) -> TableColumns:
        out = cls(table)
        facts: dict[str, tuple[list[str | None], np.ndarray, np.ndarray]] = {}
        for col in table.columns:
            name = str(col)
            code_column = _amount_code(table, name)
            if code_column is not None:
                if code_column not in facts:  # several amount columns share one currency column
                    facts[code_column] = _code_facts(table[code_column])
                out.amounts[name] = AmountColumn.of(table[col], facts[code_column])
            else:
                out.plain[name] = _plain_column(table[col])
        return out

    def sheet(self) -> SheetData:
        """The workbook's columns, an ``amount_unit`` column added when a currency is unknown."""
        columns = []
        for col in self.table.columns:
            name = str(col)
            if name in self.amounts:
                amount = self.amounts[name]
                columns.append(SheetColumn(name, "amount", amount.sheet_numbers(), amount.sheet_codes(),
                                           amount.exact))
            else:
                kind, values = self.plain[name]
                columns.append(SheetColumn(name, kind, values))
        if "currency_code" in self.table.columns:
            unknown = _code_facts(self.table["currency_code"])[2]
            if unknown.any():  # without it a reader would take minor units for major units (100x too large)
                units = np.where(unknown, "minor units (unknown currency)", "major units").tolist()
                columns.append(SheetColumn("amount_unit", "text", units))
        return SheetData(columns)

    def csv(self, as_of: dt.datetime | None) -> tuple[list[str], list[list[str]]]:
        """The CSV's header and its columns of text (an as-of column first, every amount twice)."""
        columns = [str(c) for c in self.table.columns]
        as_of_name = "report_as_of" if "as_of" in columns else "as_of"
        header = [as_of_name] if as_of is not None else []
        cells: list[list[str]] = [[timestamps.iso(as_of)] * len(self.table)] if as_of is not None else []
        for name, col in zip(columns, self.table.columns, strict=True):
            header.append(name)
            if name in self.amounts:
                header.append(f"{name}_minor")
                cells.append(self.amounts[name].csv_major())
                cells.append(self.amounts[name].csv_minor())
            else:
                kind, values = self.plain[name]
                cells.append(_csv_plain(kind, values, name, self.table[col]))
        return header, cells


def major_units_table(table: pd.DataFrame) -> SheetData:
    """The table as the workbook writes it, a column at a time (:class:`~credit_reports.delivery.workbook.SheetData`).

    It unpacks as ``columns, rows, currencies``: rows with amounts as major-unit Decimals, and per cell the
    currency code whose decimals format it (None for every other cell: counts, shares, text, dates). An
    unknown currency's amounts stay in minor units, with an ``amount_unit`` column saying so.
    """
    return TableColumns.of(table).sheet()


# ---------------------------------------------------------------------------------------------------
# CSV


def _csv_text(value: Any, column: str) -> str:
    """One CSV cell: ISO UTC times, shares rounded for people, formula-like text neutralised."""
    if value is None or _is_missing(value):
        return ""
    if isinstance(value, dt.datetime | pd.Timestamp):
        return timestamps.iso(pd.Timestamp(value).to_pydatetime())
    if isinstance(value, float) and column.endswith("share"):
        return _share_text(value)
    if isinstance(value, str):
        return neutralize_formula(value)
    return str(value)


def _write_csv(path: Path, header: list[str], cells: list[list[str]], *, bom: bool) -> None:
    """The CSV from its columns of text: the csv module quotes them, rows zipped from the columns in C."""
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(zip(*cells, strict=True))


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
    "maturity": {
        "stated": "Stated",
        "outstanding": "Outstanding",
        "current": "Current (P50, used within 12 months)",
        "current_p10": "Current, P10",
        "current_p90": "Current, P90",
        "non_current": "Non-current",
        "dormant": "of which dormant",
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


def _write_xlsx(path: Path, sheets: Mapping[str, SheetData], context: ExportContext | None, stem: str) -> None:
    """The workbook (:mod:`credit_reports.delivery.workbook`): About, Checks, then one sheet per table."""
    from credit_reports.delivery.workbook import write_workbook

    titles = {name: _sheet_title(name) for name in sheets}
    headers = {name: [SHEET_HEADERS.get(name, {}).get(c) or header_for(c) for c in data.names]
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
    sheets: dict[str, SheetData] = {}
    paths: list[Path] = []
    as_of = context.as_of if context is not None else None
    for name, table in _ordered(tables):
        columns = TableColumns.of(table)
        sheets[name] = columns.sheet()
        path = folder / csv_name(stem, name)
        header, cells = columns.csv(as_of)
        _write_csv(path, header, cells, bom=csv_bom)
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
