"""The report's summary tables as files beside the HTML: one CSV per table and one XLSX workbook.

The tables are the raw frames behind what the report shows (``credit_reports.report.Report.tables()``:
int64 minor units with a ``currency_code`` column). Here every amount becomes an exact major-unit
``Decimal`` in its own row's currency (converted amounts in the reporting currency), so a finance reader
opening the CSV or the workbook sees 1234.56 USD, not 123456. Workbook cells carry a number format with
the currency's decimals (JPY and KRW: none). Amounts of different currencies are never summed here.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from .money import minor_unit_decimals, to_major

__all__ = ["AMOUNT_COLUMNS", "major_units_table", "report_tables", "write_exports"]

#: Columns holding int64 minor units of the row's ``currency_code``.
AMOUNT_COLUMNS = frozenset(
    {"available", "reserved", "used", "outstanding", "opening", "issued", "closing",
     "top_1pct_available", "top_10pct_available",
     # the reconciliation, ageing and issued-by-source tables
     "reversed", "expected_closing", "unexplained", "used_change", "used_difference", "reserved_expected",
     "reserved_difference", "amount"}
)
_CONVERTED_SUFFIX = "_converted"
_SHEET_NAME_MAX = 31


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
    return to_major(int(value), code)


def _plain(value: Any) -> Any:
    """Cell values files can hold: UTC timestamps as naive datetimes (Excel has no zones), NA as None."""
    if _is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        stamp = value.tz_convert("UTC").tz_localize(None) if value.tzinfo else value
        return stamp.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return value.item()  # numpy scalar -> Python
    return value


def major_units_table(table: pd.DataFrame) -> tuple[list[str], list[list[Any]], list[list[str | None]]]:
    """Columns, rows (amounts as major-unit Decimals) and, per cell, the currency its amount is in.

    The third element gives, for each amount cell, the currency code whose decimals format it, and None
    for every other cell (counts, shares, text, dates).
    """
    columns = [str(c) for c in table.columns]
    codes = table["currency_code"] if "currency_code" in table.columns else None
    reporting = table["reporting_currency"] if "reporting_currency" in table.columns else None
    rows: list[list[Any]] = []
    currencies: list[list[str | None]] = []
    records = table.to_dict("records")
    for i, record in enumerate(records):
        row, row_codes = [], []
        for col in columns:
            value = record[col]
            if codes is not None and col in AMOUNT_COLUMNS:
                code = codes.iloc[i]
                row.append(_major(value, code))
                row_codes.append(None if _is_missing(code) else str(code))
            elif reporting is not None and col.endswith(_CONVERTED_SUFFIX):
                code = reporting.iloc[i]
                row.append(_major(value, code))
                row_codes.append(None if _is_missing(code) else str(code))
            else:
                row.append(_plain(value))
                row_codes.append(None)
        rows.append(row)
        currencies.append(row_codes)
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


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _write_csv(path: Path, columns: list[str], rows: list[list[Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_text(v) for v in row])


def _number_format(code: str) -> str:
    decimals = minor_unit_decimals(code)
    if not decimals:
        return "#,##0"
    return "#,##0." + "0" * decimals


Sheet = tuple[list[str], list[list[Any]], list[list[str | None]]]


def _write_xlsx(path: Path, sheets: Mapping[str, Sheet]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for name, (columns, rows, currencies) in sheets.items():
        sheet = book.create_sheet(title=name[:_SHEET_NAME_MAX])
        sheet.append(columns)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row, row_codes in zip(rows, currencies, strict=True):
            sheet.append(row)
            excel_row = sheet.max_row
            for col_index, (value, code) in enumerate(zip(row, row_codes, strict=True), start=1):
                cell = sheet.cell(row=excel_row, column=col_index)
                if code is not None and value is not None:
                    cell.number_format = _number_format(code)
                elif isinstance(value, float) and columns[col_index - 1].endswith("share"):
                    cell.number_format = "0.00%"
                elif isinstance(value, dt.datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
        for col_index, column in enumerate(columns, start=1):
            letter = sheet.cell(row=1, column=col_index).column_letter
            sheet.column_dimensions[letter].width = max(12, min(40, len(column) + 4))
        sheet.freeze_panes = "A2"
    book.save(path)


def write_exports(
    tables: Mapping[str, pd.DataFrame], folder: str | os.PathLike[str], stem: str
) -> list[Path]:
    """Write ``<stem>.<table>.csv`` per table and ``<stem>.xlsx`` (a sheet per table); return the paths.

    Table names become file and sheet names with ``_`` shown as ``-`` in file names
    (``credit-balances.roll-forward.csv``).
    """
    folder = Path(folder)
    sheets = {}
    paths: list[Path] = []
    for name, table in tables.items():
        if table is None:
            continue
        converted = major_units_table(table)
        sheets[name] = converted
        path = folder / f"{stem}.{name.replace('_', '-')}.csv"
        _write_csv(path, converted[0], converted[1])
        paths.append(path)
    if sheets:
        workbook = folder / f"{stem}.xlsx"
        _write_xlsx(workbook, sheets)
        paths.append(workbook)
    return paths


def report_tables(report: Any) -> dict[str, pd.DataFrame]:
    """The tables to export for a prepared report (``credit_reports.report.Report``)."""
    return dict(report.tables())
