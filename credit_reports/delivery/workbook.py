"""The close-ready XLSX workbook, written with XlsxWriter in constant-memory mode.

Rows stream to disk one at a time (a million-customer sub-ledger costs no more memory than ten), so every
sheet's layout (column widths, filter, print set-up) is decided before its first row. A sheet never passes
Excel's 1,048,576 rows: a longer table is cut there and its last row says so and names the CSV that holds
every row.

What makes it close-ready:

- **About** first (what the figures are), then **Checks**: per currency, the sub-ledger's totals as
  ``SUMIFS`` formulas beside the headline figures, their difference and an OK/CHECK cell; the roll-forward
  ``opening + issued - reversed - used = expected closing`` and ``closing - expected = unexplained`` as
  formulas over the Roll-forward sheet; each journal entry's debits minus credits. Every formula carries its
  computed value, so a viewer that does not calculate shows the same figure.
- Customer data is always written as text (``write_string``): ``=HYPERLINK(...)`` in a name stays a name.
- Amounts are numbers in major units with their currency's decimals beside a Currency column; the signs
  of the roll-forward are in its headers (``+ Issued``, ``- Reversed``, ``- Used``, ``= Expected closing``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from credit_reports.core.money import minor_unit_decimals

__all__ = ["EXCEL_MAX_ROWS", "SheetColumn", "SheetData", "write_workbook"]

#: Excel's rows per sheet.
EXCEL_MAX_ROWS = 1_048_576
_SHEET_NAME_MAX = 31
_DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"
#: Control characters a workbook cannot hold (the file would not open); removed from text cells.
_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


@dataclass
class SheetColumn:
    """One column of a table as the workbook writes it, worked out once for the whole column.

    ``kind`` says how every cell is written: ``amount`` (a number in its row's currency format, ``codes``
    giving the currency per row), ``date`` (naive UTC datetimes), ``text``, ``bool``, ``int``, ``float``
    (a percentage when the column's name ends in ``share``), or ``mixed`` (cells of several types, each
    written by its own type). ``values`` holds one Python value per row (None: an empty cell); for an amount
    the float the cell holds. ``exact`` gives the values the Checks sheet sums (Decimals for amounts).
    """

    name: str
    kind: str
    values: list[Any]
    codes: list[str | None] | None = None
    exact_values: Callable[[], list[Any]] | None = None
    _exact: list[Any] | None = field(default=None, repr=False)

    def exact(self) -> list[Any]:
        """The cells' exact values (amounts as Decimal major units), computed once."""
        if self._exact is None:
            self._exact = self.exact_values() if self.exact_values is not None else self.values
        return self._exact


@dataclass
class SheetData:
    """A table as columns (:func:`credit_reports.delivery.exports.major_units_table`).

    It still unpacks as ``columns, rows, currencies`` (rows of exact values, per-cell currency codes)
    for code that reads a table row by row; the workbook itself never builds the rows.
    """

    columns: list[SheetColumn]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __len__(self) -> int:
        return len(self.columns[0].values) if self.columns else 0

    def rows(self, stop: int | None = None) -> list[list[Any]]:
        """Rows of exact values (amounts as Decimal), the first ``stop`` only when given."""
        cells = [c.exact()[:stop] for c in self.columns]
        return [list(row) for row in zip(*cells, strict=True)]

    def currencies(self) -> list[list[str | None]]:
        """Per cell, the currency code its amount is in (None for every cell that is not an amount)."""
        n = len(self)
        cells = [c.codes if c.kind == "amount" and c.codes is not None else [None] * n for c in self.columns]
        return [list(row) for row in zip(*cells, strict=True)]

    def __iter__(self) -> Iterator[Any]:
        yield self.names
        yield self.rows()
        yield self.currencies()


Sheet = SheetData | tuple[list[str], list[list[Any]], list[list[str | None]]]


def _number_format(code: str | None) -> str:
    decimals = minor_unit_decimals(code) if code else None
    return "#,##0" if not decimals else "#,##0." + "0" * decimals


def _width(value: Any, code: str | None) -> int:
    """About how many characters a cell needs when shown."""
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return 19
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        if code is not None:
            return len(f"{Decimal(value):,.{minor_unit_decimals(code) or 0}f}")
        return 8 if isinstance(value, float) else len(f"{value:,}")
    return len(str(value))


class _Formats:
    """XlsxWriter formats, one per look, made once per workbook."""

    def __init__(self, book: Any) -> None:
        self.book = book
        self.header = book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
        self.date = book.add_format({"num_format": _DATE_FORMAT})
        self.day = book.add_format({"num_format": "yyyy-mm-dd"})
        self.status = book.add_format({"bold": True, "text_wrap": True, "valign": "top", "align": "left"})
        self.share = book.add_format({"num_format": "0.00%"})
        self.bold = book.add_format({"bold": True, "valign": "top"})
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.wrapped = book.add_format({"text_wrap": True, "valign": "top", "align": "left"})
        self.text = book.add_format({})
        self.note = book.add_format({"italic": True})
        self._money: dict[str, Any] = {}

    def money(self, code: str | None) -> Any:
        pattern = _number_format(code)
        if pattern not in self._money:
            self._money[pattern] = self.book.add_format({"num_format": pattern})
        return self._money[pattern]


def _print_setup(sheet: Any, *, repeat_header: bool, landscape: bool = True) -> None:
    if landscape:
        sheet.set_landscape()
    else:
        sheet.set_portrait()
    sheet.fit_to_pages(1, 0)
    if repeat_header:
        sheet.repeat_rows(0)


def _write_cell(sheet: Any, row: int, col: int, value: Any, code: str | None, column: str, fmt: _Formats) -> None:
    """One cell: text as text (never a formula), amounts in their currency's format, dates as dates."""
    if value is None:
        sheet.write_blank(row, col, None)
    elif isinstance(value, str):
        sheet.write_string(row, col, _ILLEGAL.sub("", value))
    elif isinstance(value, bool):
        sheet.write_boolean(row, col, value)
    elif isinstance(value, dt.datetime):
        sheet.write_datetime(row, col, value, fmt.date)
    elif isinstance(value, dt.date):  # a booking date (the journal's): a real date, without a time
        sheet.write_datetime(row, col, dt.datetime.combine(value, dt.time()), fmt.day)
    elif isinstance(value, Decimal | int | float):
        if code is not None:
            sheet.write_number(row, col, float(value), fmt.money(code))
        elif isinstance(value, float) and column.endswith("share"):
            sheet.write_number(row, col, value, fmt.share)
        else:
            sheet.write_number(row, col, float(value) if isinstance(value, Decimal) else value)
    else:
        sheet.write_string(row, col, str(value))


def _as_columns(data: Sheet) -> SheetData:
    """A table given as (columns, rows, per-cell currencies) as :class:`SheetData` (each cell by its type)."""
    if isinstance(data, SheetData):
        return data
    names, rows, currencies = data
    columns = []
    for i, name in enumerate(names):
        codes = [row_codes[i] for row_codes in currencies]
        columns.append(SheetColumn(name, "mixed", [row[i] for row in rows],
                                   codes if any(c is not None for c in codes) else None))
    return SheetData(columns)


def _money_width(column: SheetColumn, stop: int) -> int:
    """The widest amount of a column shown in its currency's decimals: per currency only its smallest and
    largest amount can be widest (the width grows with the magnitude and the sign), found with numpy on the
    cells' floats (which order amounts as their exact values do) and measured on the exact values."""
    numbers = np.array([np.nan if v is None else v for v in column.values[:stop]], dtype="float64")
    codes = np.array((column.codes or [None] * len(numbers))[:stop], dtype=object)
    exact = column.exact()
    widest = 0
    for code in {c for c in codes.tolist() if c is not None}:
        rows = np.flatnonzero((codes == code) & ~np.isnan(numbers))
        if len(rows):
            for row in (rows[np.argmin(numbers[rows])], rows[np.argmax(numbers[rows])]):
                widest = max(widest, _width(Decimal(exact[row]), code))
    return widest


def _column_width(column: SheetColumn, stop: int) -> int:
    """About how many characters the widest shown cell of ``column`` needs (what :func:`_width` gives for
    its widest cell), worked out for the whole column at once."""
    values = column.values[:stop]
    if column.kind == "amount":
        return _money_width(column, stop)
    if column.kind == "date":
        return 19 if any(v is not None for v in values) else 0
    if column.kind == "text":
        return max((len(v) for v in values if v is not None), default=0)
    if column.kind == "bool":
        return max((len(str(v)) for v in set(values) if v is not None), default=0)
    if column.kind == "int":
        present = [v for v in values if v is not None]
        return max((len(f"{v:,}") for v in (min(present), max(present))), default=0) if present else 0
    if column.kind == "float":
        return 8 if any(v is not None for v in values) else 0
    codes = column.codes or [None] * len(values)
    return max((_width(v, c) for v, c in zip(values, codes, strict=False)), default=0)


def _column_writer(sheet: Any, fmt: _Formats, column: SheetColumn, stop: int) -> tuple[Any, list[Any], list[Any]]:
    """How every cell of ``column`` is written: (write method, values, formats per row), chosen once per
    column, so the row loop does no type tests. XlsxWriter's undecorated ``_write_*`` methods: the
    decorated public ones only add A1-notation parsing, which these row/column numbers never need."""
    values = column.values[:stop]
    n = len(values)
    if column.kind == "amount":
        money = {code: fmt.money(code) for code in set(column.codes or [])}
        return sheet._write_number, values, [money[c] for c in (column.codes or [None] * n)[:stop]]
    if column.kind == "date":
        return sheet._write_datetime, values, [fmt.date] * n
    if column.kind == "text":
        if any(_ILLEGAL.search(v) for v in values if v is not None):
            values = [None if v is None else _ILLEGAL.sub("", v) for v in values]
        return sheet._write_string, values, [None] * n
    if column.kind == "bool":
        return sheet._write_boolean, values, [None] * n
    if column.kind in ("int", "float"):
        share = column.kind == "float" and column.name.endswith("share")
        return sheet._write_number, values, [fmt.share if share else None] * n
    codes = (column.codes or [None] * n)[:stop]

    def write(row: int, col: int, value: Any, code: str | None) -> None:
        _write_cell(sheet, row, col, value, code, column.name, fmt)

    return write, values, codes


#: Rows of sheet XML built at a time by :func:`_write_rows_as_xml` (bounds the text held in memory).
_XML_CHUNK = 50_000
#: Text XlsxWriter would rewrite on its way to the sheet (control-character escapes, rich strings):
#: a column holding any is written cell by cell instead.
_XLSX_REWRITES = re.compile("_x|\r|\ufffe|\uffff")
#: A text XlsxWriter would write as rich text: starting with ``<r>`` and ending with ``</r>`` (cells joined by NUL).
_RICH = re.compile("(?:^|\x00)<r>[^\x00]*</r>(?:\x00|$)")
_FAST_KINDS = frozenset({"amount", "text", "int", "float", "date"})


def _cell_styles(column: SheetColumn, fmt: _Formats, values: list[Any]) -> list[Any]:
    """The format of each cell of ``column`` (None: no format), as the cell-by-cell writer gives them."""
    n = len(values)
    if column.kind == "amount":
        money = {code: fmt.money(code) for code in set(column.codes or [])}
        return [money[c] for c in (column.codes or [None] * n)[:n]]
    if column.kind == "date":
        return [fmt.date] * n
    if column.kind == "float" and column.name.endswith("share"):
        return [fmt.share] * n
    return [None] * n


def _writes_as_xml(table: SheetData, shown: int) -> bool:
    """True when every cell of the shown rows can be written as sheet XML directly, exactly as XlsxWriter
    writes it: numbers, dates and plain text (nothing XlsxWriter would escape as ``_xHHHH_``, no rich
    strings, no text near Excel's 32,767-character cell limit)."""
    if shown == 0 or any(c.kind not in _FAST_KINDS for c in table.columns):
        return False
    for column in table.columns:
        if column.kind != "text":
            continue
        text = [v for v in column.values[:shown] if v is not None]
        joined = "\x00".join(text)
        if _XLSX_REWRITES.search(joined) or _RICH.search(joined) or max(map(len, text), default=0) > 16_000:
            return False
    return True


def _xml_cells(sheet: Any, column: SheetColumn, col: int, values: list[Any], styles: list[Any],
               first_row: int) -> list[str]:
    """``column``'s cells as the ``<c>`` elements XlsxWriter writes (empty text for an empty cell), a whole
    column at a time; ``first_row`` is the sheet row (0-based) of ``values[0]``."""
    from xlsxwriter.utility import xl_col_to_name

    letter = xl_col_to_name(col)
    ids = [None if s is None else s._get_xf_index() for s in styles]
    refs = [f"{letter}{first_row + 1 + i}" for i in range(len(values))]
    attrs = [f'<c r="{r}"' if x is None else f'<c r="{r}" s="{x}"' for r, x in zip(refs, ids, strict=True)]
    if column.kind == "text":
        out = []
        illegal = bool(_ILLEGAL.search("\n".join(v for v in values if v is not None)))
        for a, v in zip(attrs, values, strict=True):
            if v is None:
                out.append("")
                continue
            v = _ILLEGAL.sub("", v) if illegal else v
            # XlsxWriter's test for leading or trailing whitespace (re's \s is str.isspace)
            space = ' xml:space="preserve"' if v[:1].isspace() or v[-1:].isspace() else ""
            v = v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            out.append(f'{a} t="inlineStr"><is><t{space}>{v}</t></is></c>')
        return out
    if column.kind == "date":
        values = [None if v is None else sheet._convert_date_time(v) for v in values]
    return ["" if v is None else f"{a}><v>{v:.16G}</v></c>" for a, v in zip(attrs, values, strict=True)]


def _register_styles(table: SheetData, styles: list[list[Any]], shown: int) -> None:
    """Give every format its workbook index in the order XlsxWriter would meet it (row by row, left to right),
    so the sheet and styles.xml come out as the cell-by-cell writer makes them."""
    firsts: dict[int, tuple[tuple[int, int], Any]] = {}
    for col, (column, column_styles) in enumerate(zip(table.columns, styles, strict=True)):
        seen: set[int] = set()
        for row, (value, style) in enumerate(zip(column.values[:shown], column_styles, strict=True)):
            if style is None or value is None or id(style) in seen:
                continue
            seen.add(id(style))
            if id(style) not in firsts or (row, col) < firsts[id(style)][0]:
                firsts[id(style)] = ((row, col), style)
    for _place, style in sorted(firsts.values(), key=lambda f: f[0]):
        style._get_xf_index()


def _write_rows_as_xml(sheet: Any, fmt: _Formats, table: SheetData, shown: int) -> None:
    """The data rows written as sheet XML straight into the constant-memory sheet's row file, a column at
    a time per chunk of rows: the same bytes XlsxWriter writes cell by cell, at a fraction of the cost
    (docs/benchmarks/render.md; ``bench/xlsx_writers.py``). The header row (row 0) is written before."""
    values = [c.values[:shown] for c in table.columns]
    styles = [_cell_styles(c, fmt, v) for c, v in zip(table.columns, values, strict=True)]
    sheet._write_single_row(1)  # the header row goes out first, as the first data cell would send it
    _register_styles(table, styles, shown)
    for col, column_values in enumerate(values):
        present = [r for r, v in enumerate(column_values) if v is not None]
        if present:
            sheet._check_dimensions(present[0] + 1, col)
            sheet._check_dimensions(present[-1] + 1, col)
    for start in range(0, shown, _XML_CHUNK):
        stop = min(start + _XML_CHUNK, shown)
        cells = [_xml_cells(sheet, c, i, v[start:stop], s[start:stop], start + 1)
                 for i, (c, v, s) in enumerate(zip(table.columns, values, styles, strict=True))]
        heads = [f'<row r="{r + 2}">' for r in range(start, stop)]
        sheet.fh.write("".join(["".join(parts) + "</row>" for parts in zip(heads, *cells, strict=True)]))
    sheet.previous_row = shown  # the next write (the cut note) starts after the rows written here


def _write_cells(sheet: Any, fmt: _Formats, table: SheetData, shown: int) -> None:
    """The data rows written cell by cell through XlsxWriter, each column's write method chosen once."""
    plan = [(i, *_column_writer(sheet, fmt, c, shown)) for i, c in enumerate(table.columns)]
    for r in range(shown):
        row = r + 1
        for i, write, values, formats in plan:
            value = values[r]
            if value is not None:  # an empty cell is not written (write_blank without a format writes nothing)
                write(row, i, value, formats[r])


def _table_sheet(book: Any, fmt: _Formats, title: str, data: Sheet, headers: list[str], *,
                 max_rows: int, csv_name: str | None, rows_as_xml: bool = True) -> dict[str, Any]:
    """One table on its own sheet, written a column plan at a time; returns where its columns are (for the
    Checks formulas)."""
    table = _as_columns(data)
    columns = table.names
    sheet = book.add_worksheet(title)
    limit = max(1, max_rows - 2)  # the header row, and a last row saying the table was cut
    total = len(table)
    cut = total > limit
    shown = min(total, limit)
    widths = [max(min(len(h), 24), _column_width(c, shown)) for h, c in zip(headers, table.columns, strict=False)]
    for i, width in enumerate(widths):
        sheet.set_column(i, i, min(60, width + 3))
    sheet.freeze_panes(1, 0)
    if columns:
        sheet.autofilter(0, 0, max(1, shown), len(columns) - 1)
    _print_setup(sheet, repeat_header=True)
    for i, text in enumerate(headers):
        sheet.write_string(0, i, text, fmt.header)
    if rows_as_xml and _writes_as_xml(table, shown):
        _write_rows_as_xml(sheet, fmt, table, shown)
    else:
        _write_cells(sheet, fmt, table, shown)
    if cut:
        where = f"; every row is in {csv_name}" if csv_name else ""
        sheet.write_string(shown + 1, 0, f"Cut at Excel's row limit: {shown:,} of {total:,} rows "
                           f"shown{where}.", fmt.note)
    return {"title": title, "columns": columns, "rows": shown, "cut": cut, "all_rows": _RowView(table),
            "data": table}


class _RowView(Sequence):
    """A table's rows of exact values, built once and only when a check reads them (the small tables' checks
    do; the sub-ledger's read its columns, :func:`_values`). Reads like the list of rows it stands for."""

    def __init__(self, table: SheetData) -> None:
        self.table = table
        self._rows: list[list[Any]] | None = None

    def _all(self) -> list[list[Any]]:
        if self._rows is None:
            self._rows = self.table.rows()
        return self._rows

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __iter__(self) -> Iterator[list[Any]]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self.table)


def _col(index: int) -> str:
    from xlsxwriter.utility import xl_col_to_name

    return xl_col_to_name(index)


def _ref(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def _about_sheet(book: Any, fmt: _Formats, title: str, rows: Sequence[tuple[str, Any]]) -> None:
    sheet = book.add_worksheet("About")
    sheet.set_column(0, 0, 24)
    sheet.set_column(1, 1, 90)
    _print_setup(sheet, repeat_header=False, landscape=False)
    sheet.write_string(0, 0, title, fmt.title)
    status = [value for label, value in rows if label == "Status"]
    if status:  # the pack's status comes first: Ready to sign, or Attention with its reasons
        sheet.write_string(1, 0, "Status", fmt.bold)
        sheet.write_string(1, 1, str(status[0]), fmt.status)
    rows = [(label, value) for label, value in rows if label != "Status"]
    for r, (label, value) in enumerate(rows, start=3 if status else 2):
        sheet.write_string(r, 0, label, fmt.bold)
        if isinstance(value, dt.datetime):
            sheet.write_datetime(r, 1, value, fmt.date)
        else:
            sheet.write_string(r, 1, str(value), fmt.wrapped)


_SUMMED = ("available", "reserved", "used", "outstanding")


class _Recorder:
    """Records a sheet's writes so they can be replayed after the summary row: a constant-memory sheet takes
    its rows in order, and the summary (row 2) depends on every check below it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []
        self.failures = 0

    def __getattr__(self, method: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            if method == "write_formula" and len(args) >= 5 and args[4] == "CHECK":
                self.failures += 1
            self.calls.append((method, args, kwargs))
        return record

    def replay(self, sheet: Any) -> None:
        for method, args, kwargs in self.calls:
            getattr(sheet, method)(*args, **kwargs)


def _checks_sheet(sheet: Any, fmt: _Formats, sheets: Mapping[str, dict[str, Any]]) -> None:
    """Formulas a reviewer can follow, under one summary cell: sub-ledger against headline, the roll-forward,
    its closing against the headline, the translated roll-forward, the journal's balance and the journal
    against the roll-forward, the GL tie-out.

    Each formula is written with the value it computes (from the same figures), so the sheet reads the
    same in a viewer that does not recalculate; Excel recalculates on opening.
    """
    sheet.set_column(0, 0, 44)
    sheet.set_column(1, 8, 20)
    _print_setup(sheet, repeat_header=False)
    ok = '"OK"'
    body = _Recorder()
    r = 4
    ledger, totals = sheets.get("customer_subledger"), sheets.get("totals")
    if ledger is not None and totals is not None and not ledger["cut"]:
        r = _ledger_checks(body, fmt, r, ledger, totals, ok)
    roll = sheets.get("roll_forward")
    if roll is not None:
        r = _roll_checks(body, fmt, r, roll, ok)
        if totals is not None:
            r = _closing_checks(body, fmt, r, roll, totals, ok)
    translation = sheets.get("translation")
    if translation is not None:
        r = _translation_checks(body, fmt, r, translation, ok)
    journal = sheets.get("journal_entries")
    if journal is not None:
        r = _journal_checks(body, fmt, r, journal, ok)
        if roll is not None:
            r = _journal_roll_checks(body, fmt, r, journal, roll, ok)
    tieout = sheets.get("gl_tieout")
    if tieout is not None:
        r = _gl_checks(body, fmt, r, tieout, ok)
    sheet.write_string(0, 0, "Checks (formulas over the sheets of this workbook; OK when the difference is zero)",
                       fmt.title)
    sheet.write_string(2, 0, "Summary of every check below", fmt.bold)
    count = f'COUNTIF(B5:J{max(r, 5) + 1},"CHECK")'
    summary = ("OK: every check below passes" if not body.failures else
               f"CHECK: {body.failures} check(s) below fail")
    sheet.write_formula(2, 1, f'=IF({count}=0,"OK: every check below passes","CHECK: "&{count}&" check(s) below '
                        'fail")', fmt.bold, summary)
    body.replay(sheet)


def _values(info: dict[str, Any], column: str) -> list[Any]:
    """The exact values of one column's shown cells, straight from the column (no rows are built)."""
    return info["data"].columns[info["columns"].index(column)].exact()[: info["rows"]]


def _ledger_checks(sheet: Any, fmt: _Formats, r: int, ledger: dict, totals: dict, ok: str) -> int:
    """Per currency and kind: the headline (Credit per currency) against the sub-ledger's SUMIFS."""
    sheet.write_string(r, 0, "Customer sub-ledger against the headline (Credit per currency)", fmt.bold)
    r += 1
    for i, text in enumerate(["Currency / figure", "Headline", "Sum of the sub-ledger", "Difference", "Status"]):
        sheet.write_string(r, i, text, fmt.header)
    r += 1
    codes_l = _values(ledger, "currency_code")
    codes_t = _values(totals, "currency_code")
    ledger_ref, totals_ref = _ref(ledger["title"]), _ref(totals["title"])
    code_col_l = _col(ledger["columns"].index("currency_code"))
    n_l = ledger["rows"] + 1
    for t_row, code in enumerate(codes_t, start=2):
        for kind in _SUMMED:
            if kind not in totals["columns"] or kind not in ledger["columns"]:
                continue
            head = _values(totals, kind)[t_row - 2]
            summed = sum((v for c, v in zip(codes_l, _values(ledger, kind), strict=True) if c == code), Decimal(0))
            money = fmt.money(str(code))
            kcol_t, kcol_l = _col(totals["columns"].index(kind)), _col(ledger["columns"].index(kind))
            sheet.write_string(r, 0, f"{code} {kind}")
            sheet.write_formula(r, 1, f"={totals_ref}!{kcol_t}{t_row}", money, float(head or 0))
            sheet.write_formula(
                r, 2, f'=SUMIFS({ledger_ref}!{kcol_l}2:{kcol_l}{n_l},{ledger_ref}!{code_col_l}2:{code_col_l}{n_l},'
                f'"{code}")', money, float(summed))
            sheet.write_formula(r, 3, f"=C{r + 1}-B{r + 1}", money, float(summed - Decimal(head or 0)))
            status = "OK" if summed == Decimal(head or 0) else "CHECK"
            sheet.write_formula(r, 4, f'=IF(ROUND(D{r + 1},4)=0,{ok},"CHECK")', None, status)
            r += 1
    return r + 1


def _roll_checks(sheet: Any, fmt: _Formats, r: int, roll: dict, ok: str) -> int:
    """Per currency: opening + issued - reversed - used = expected closing; closing - expected = unexplained."""
    columns = roll["columns"]
    need = ("currency_code", "opening", "issued", "reversed", "used", "closing", "unexplained")
    if not all(c in columns for c in need):
        return r
    sheet.write_string(r, 0, "Roll-forward (Roll-forward sheet)", fmt.bold)
    r += 1
    heads = ["Currency", "Opening + issued - reversed - used", "Closing (actual)", "Closing - expected",
             "Unexplained (as reported)", "Status"]
    for i, text in enumerate(heads):
        sheet.write_string(r, i, text, fmt.header)
    r += 1
    ref = _ref(roll["title"])
    c = {name: _col(columns.index(name)) for name in need}
    for row_no, values in enumerate(roll["all_rows"][: roll["rows"]], start=2):
        v = dict(zip(columns, values, strict=True))
        code = str(v["currency_code"])
        money = fmt.money(code)
        amounts = {k: Decimal(v[k] or 0) for k in need[1:]}
        expected = amounts["opening"] + amounts["issued"] - amounts["reversed"] - amounts["used"]
        sheet.write_string(r, 0, code)
        sheet.write_formula(r, 1, f"={ref}!{c['opening']}{row_no}+{ref}!{c['issued']}{row_no}-{ref}!{c['reversed']}"
                            f"{row_no}-{ref}!{c['used']}{row_no}", money, float(expected))
        sheet.write_formula(r, 2, f"={ref}!{c['closing']}{row_no}", money, float(amounts["closing"]))
        sheet.write_formula(r, 3, f"=C{r + 1}-B{r + 1}", money, float(amounts["closing"] - expected))
        sheet.write_formula(r, 4, f"={ref}!{c['unexplained']}{row_no}", money, float(amounts["unexplained"]))
        status = "OK" if amounts["closing"] - expected == amounts["unexplained"] == 0 else "CHECK"
        sheet.write_formula(r, 5, f'=IF(AND(ROUND(D{r + 1},4)=0,ROUND(E{r + 1},4)=0),{ok},"CHECK")', None, status)
        r += 1
    return r + 1


def _journal_checks(sheet: Any, fmt: _Formats, r: int, journal: dict, ok: str) -> int:
    """Per journal entry: the sum of its debits minus the sum of its credits (zero in a balanced entry)."""
    columns = journal["columns"]
    if not all(c in columns for c in ("entry", "currency_code", "debit", "credit")):
        return r
    sheet.write_string(r, 0, "Journal entries (Journal entries sheet): debits = credits", fmt.bold)
    r += 1
    for i, text in enumerate(["Entry", "Debits", "Credits", "Debits - credits", "Status"]):
        sheet.write_string(r, i, text, fmt.header)
    r += 1
    ref, n = _ref(journal["title"]), journal["rows"] + 1
    e, d, k = (_col(columns.index(x)) for x in ("entry", "debit", "credit"))
    sums: dict[str, list[Any]] = {}
    for values in journal["all_rows"][: journal["rows"]]:
        v = dict(zip(columns, values, strict=True))
        entry = sums.setdefault(str(v["entry"]), [str(v["currency_code"]), Decimal(0), Decimal(0)])
        entry[1] += Decimal(v["debit"] or 0)
        entry[2] += Decimal(v["credit"] or 0)
    for entry, (code, debit, credit) in sums.items():
        money = fmt.money(code)
        sheet.write_string(r, 0, entry)
        sheet.write_formula(r, 1, f'=SUMIFS({ref}!{d}2:{d}{n},{ref}!{e}2:{e}{n},A{r + 1})', money, float(debit))
        sheet.write_formula(r, 2, f'=SUMIFS({ref}!{k}2:{k}{n},{ref}!{e}2:{e}{n},A{r + 1})', money, float(credit))
        sheet.write_formula(r, 3, f"=B{r + 1}-C{r + 1}", money, float(debit - credit))
        sheet.write_formula(r, 4, f'=IF(ROUND(D{r + 1},4)=0,{ok},"CHECK")', None,
                            "OK" if debit == credit else "CHECK")
        r += 1
    return r + 1


def _row_of(info: dict[str, Any], code: str) -> int | None:
    """The sheet row (1-based, header in row 1) of ``code`` in a per-currency table, or None."""
    for i, value in enumerate(_values(info, "currency_code"), start=2):
        if str(value) == code:
            return i
    return None


def _closing_checks(sheet: Any, fmt: _Formats, r: int, roll: dict, totals: dict, ok: str) -> int:
    """Per currency: the roll-forward's closing against the headline's outstanding (Credit per currency)."""
    if "closing" not in roll["columns"] or "outstanding" not in totals["columns"]:
        return r
    sheet.write_string(r, 0, "Roll-forward closing against the headline (Credit per currency)", fmt.bold)
    r += 1
    for i, text in enumerate(["Currency", "Headline outstanding", "Roll-forward closing", "Difference", "Status"]):
        sheet.write_string(r, i, text, fmt.header)
    r += 1
    rref, tref = _ref(roll["title"]), _ref(totals["title"])
    rc, tc = _col(roll["columns"].index("closing")), _col(totals["columns"].index("outstanding"))
    for row_no, code in enumerate(_values(roll, "currency_code"), start=2):
        t_row = _row_of(totals, str(code))
        if t_row is None:
            continue
        closing = Decimal(_values(roll, "closing")[row_no - 2] or 0)
        head = Decimal(_values(totals, "outstanding")[t_row - 2] or 0)
        money = fmt.money(str(code))
        sheet.write_string(r, 0, str(code))
        sheet.write_formula(r, 1, f"={tref}!{tc}{t_row}", money, float(head))
        sheet.write_formula(r, 2, f"={rref}!{rc}{row_no}", money, float(closing))
        sheet.write_formula(r, 3, f"=C{r + 1}-B{r + 1}", money, float(closing - head))
        sheet.write_formula(r, 4, f'=IF(ROUND(D{r + 1},4)=0,{ok},"CHECK")', None, "OK" if closing == head else "CHECK")
        r += 1
    return r + 1


_TRANSLATED = (("opening_converted", "+"), ("issued_converted", "+"), ("reversed_converted", "-"),
               ("used_converted", "-"), ("unexplained_converted", "+"), ("translation_converted", "+"))


def _translation_checks(sheet: Any, fmt: _Formats, r: int, translation: dict, ok: str) -> int:
    """Per currency, in the reporting currency: opening + issued - reversed - used + unexplained + translation
    = closing; and the total line against the sum of the currency lines."""
    columns = translation["columns"]
    need = [c for c, _sign in _TRANSLATED] + ["closing_converted", "currency_code", "reporting_currency"]
    if not all(c in columns for c in need):
        return r
    sheet.write_string(r, 0, "Translated roll-forward (Roll-forward translated sheet)", fmt.bold)
    r += 1
    for i, text in enumerate(["Line", "Opening + movements + translation", "Closing (translated)", "Difference",
                              "Status"]):
        sheet.write_string(r, i, text, fmt.header)
    r += 1
    ref = _ref(translation["title"])
    col = {c: _col(columns.index(c)) for c in need}
    rows = translation["all_rows"][: translation["rows"]]
    n = translation["rows"] + 1
    for row_no, values in enumerate(rows, start=2):
        v = dict(zip(columns, values, strict=True))
        code, rep = str(v["currency_code"]), str(v["reporting_currency"])
        money = fmt.money(rep)
        closing = Decimal(v["closing_converted"] or 0)
        if code == "TOTAL":
            label = f"Total in {rep}: closing against the sum of the currency lines"
            formula = (f'=SUMIFS({ref}!{col["closing_converted"]}2:{col["closing_converted"]}{n},'
                       f'{ref}!{col["currency_code"]}2:{col["currency_code"]}{n},"<>TOTAL")')
            expected = sum((Decimal(dict(zip(columns, o, strict=True))["closing_converted"] or 0) for o in rows
                            if str(dict(zip(columns, o, strict=True))["currency_code"]) != "TOTAL"), Decimal(0))
        else:
            label = f"{code} in {rep}"
            formula = "=" + "".join(f"{sign}{ref}!{col[c]}{row_no}" for c, sign in _TRANSLATED).lstrip("+")
            expected = sum((Decimal(v[c] or 0) * (1 if sign == "+" else -1) for c, sign in _TRANSLATED), Decimal(0))
        sheet.write_string(r, 0, label)
        sheet.write_formula(r, 1, formula, money, float(expected))
        sheet.write_formula(r, 2, f"={ref}!{col['closing_converted']}{row_no}", money, float(closing))
        sheet.write_formula(r, 3, f"=C{r + 1}-B{r + 1}", money, float(closing - expected))
        sheet.write_formula(r, 4, f'=IF(ROUND(D{r + 1},4)=0,{ok},"CHECK")', None,
                            "OK" if closing == expected else "CHECK")
        r += 1
    return r + 1


def _liability_account(journal: dict) -> str | None:
    """The account every journal entry books (the customer-credit liability), or None."""
    accounts: dict[str, set[str]] = {}
    for entry, account in zip(_values(journal, "entry"), _values(journal, "account"), strict=True):
        accounts.setdefault(str(entry), set()).add(str(account))
    common = set.intersection(*accounts.values()) if accounts else set()
    return sorted(common)[0] if len(common) == 1 else None


def _journal_roll_checks(sheet: Any, fmt: _Formats, r: int, journal: dict, roll: dict, ok: str) -> int:
    """Per currency: the journal's net credit to the liability (own currency) against issued - reversed -
    used of the roll-forward."""
    jc, rc = journal["columns"], roll["columns"]
    if not all(c in jc for c in ("account", "source_currency", "currency_code", "debit", "credit")) or not all(
            c in rc for c in ("currency_code", "issued", "reversed", "used")):
        return r
    liability = _liability_account(journal)
    if liability is None:
        return r
    sheet.write_string(r, 0, f"Journal against the roll-forward: net credit to {liability}", fmt.bold)
    r += 1
    for i, text in enumerate(["Currency", "Issued - reversed - used", "Journal: credits - debits", "Difference",
                              "Status"]):
        sheet.write_string(r, i, text, fmt.header)
    r += 1
    jref, rref, n = _ref(journal["title"]), _ref(roll["title"]), journal["rows"] + 1
    a, s_, c_, d, k = (_col(jc.index(x)) for x in ("account", "source_currency", "currency_code", "debit", "credit"))
    booked_codes = {str(c) for c, cur in zip(_values(journal, "source_currency"), _values(journal, "currency_code"),
                                            strict=True) if c == cur}
    lines = list(zip(_values(journal, "account"), _values(journal, "source_currency"),
                     _values(journal, "currency_code"), _values(journal, "debit"), _values(journal, "credit"),
                     strict=True))
    cols = {x: _col(rc.index(x)) for x in ("issued", "reversed", "used")}
    for row_no, code in enumerate(_values(roll, "currency_code"), start=2):
        code = str(code)
        if code not in booked_codes:
            continue  # not journalled (no evidence, negative figures): the status says why
        v = {x: Decimal(_values(roll, x)[row_no - 2] or 0) for x in cols}
        expected = v["issued"] - v["reversed"] - v["used"]
        booked = sum((Decimal(cr or 0) - Decimal(db or 0) for acc, src, cur, db, cr in lines
                      if str(acc) == liability and str(src) == code and str(cur) == code), Decimal(0))
        crit = (f'{jref}!{a}2:{a}{n},"{liability.replace(chr(34), chr(34) * 2)}",{jref}!{s_}2:{s_}{n},"{code}",'
                f'{jref}!{c_}2:{c_}{n},"{code}"')
        money = fmt.money(code)
        sheet.write_string(r, 0, code)
        sheet.write_formula(r, 1, f"={rref}!{cols['issued']}{row_no}-{rref}!{cols['reversed']}{row_no}-"
                            f"{rref}!{cols['used']}{row_no}", money, float(expected))
        sheet.write_formula(r, 2, f"=SUMIFS({jref}!{k}2:{k}{n},{crit})-SUMIFS({jref}!{d}2:{d}{n},{crit})", money,
                            float(booked))
        sheet.write_formula(r, 3, f"=C{r + 1}-B{r + 1}", money, float(booked - expected))
        sheet.write_formula(r, 4, f'=IF(ROUND(D{r + 1},4)=0,{ok},"CHECK")', None,
                            "OK" if booked == expected else "CHECK")
        r += 1
    return r + 1


def _gl_checks(sheet: Any, fmt: _Formats, r: int, tieout: dict, ok: str) -> int:
    """Per GL account and currency: the sub-ledger against the GL balance plus the reconciling items."""
    columns = tieout["columns"]
    need = ("currency_code", "account", "subledger", "gl_balance", "reconciling_items")
    if not all(c in columns for c in need):
        return r
    sheet.write_string(r, 0, "GL tie-out (GL tie-out sheet): sub-ledger against GL + reconciling items", fmt.bold)
    r += 1
    for i, text in enumerate(["Currency / account", "GL + reconciling items", "Sub-ledger", "Difference", "Status"]):
        sheet.write_string(r, i, text, fmt.header)
    r += 1
    ref = _ref(tieout["title"])
    col = {c: _col(columns.index(c)) for c in need}
    for row_no, values in enumerate(tieout["all_rows"][: tieout["rows"]], start=2):
        v = dict(zip(columns, values, strict=True))
        code = str(v["currency_code"])
        money = fmt.money(code)
        gl = Decimal(v["gl_balance"] or 0) + Decimal(v["reconciling_items"] or 0)
        sub = Decimal(v["subledger"] or 0)
        sheet.write_string(r, 0, f"{code} {v['account']}")
        sheet.write_formula(r, 1, f"={ref}!{col['gl_balance']}{row_no}+{ref}!{col['reconciling_items']}{row_no}",
                            money, float(gl))
        sheet.write_formula(r, 2, f"={ref}!{col['subledger']}{row_no}", money, float(sub))
        sheet.write_formula(r, 3, f"=C{r + 1}-B{r + 1}", money, float(sub - gl))
        sheet.write_formula(r, 4, f'=IF(ROUND(D{r + 1},4)=0,{ok},"CHECK")', None, "OK" if sub == gl else "CHECK")
        r += 1
    return r + 1


def write_workbook(
    path: Path,
    sheets: Mapping[str, Sheet],
    *,
    titles: Mapping[str, str],
    headers: Mapping[str, list[str]],
    title: str = "",
    about: Sequence[tuple[str, Any]] | None = None,
    csv_names: Mapping[str, str] | None = None,
    max_rows: int = EXCEL_MAX_ROWS,
    rows_as_xml: bool = True,
) -> Path:
    """Write the workbook: About (when ``about`` is given), Checks, then one sheet per table in order.

    ``sheets`` maps a table name to (columns, rows, per-cell currency) from
    :func:`credit_reports.delivery.exports.major_units_table`; ``titles`` and ``headers`` give each sheet's name
    and column headers in words; ``csv_names`` the CSV holding every row (named when a sheet is cut at
    ``max_rows``). ``rows_as_xml`` writes the rows of a table of numbers, dates and plain text as sheet XML
    directly (the same bytes, a fraction of the time); False writes every cell through XlsxWriter.
    """
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                           "strings_to_urls": False, "strings_to_numbers": False})
    try:
        fmt = _Formats(book)
        if about is not None:
            _about_sheet(book, fmt, title, about)
        checks_wanted = any(k in sheets for k in ("customer_subledger", "roll_forward", "journal_entries",
                                                  "gl_tieout"))
        check_sheet = book.add_worksheet("Checks") if checks_wanted else None
        written: dict[str, dict[str, Any]] = {}
        for name, data in sheets.items():
            written[name] = _table_sheet(book, fmt, titles[name], data, headers[name], max_rows=max_rows,
                                         csv_name=(csv_names or {}).get(name), rows_as_xml=rows_as_xml)
        if check_sheet is not None:
            # added second (its place among the tabs) but filled last: only now is it known where every
            # table landed; each constant-memory sheet streams its own rows, in order
            _checks_sheet(check_sheet, fmt, written)
    finally:
        book.close()
    return path
