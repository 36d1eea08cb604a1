"""Per-currency figures for the reports: totals, headline, roll-forward, trend, concentration, conversion.

Inputs are balance frames as the snapshot stores them (``customer_id``, ``currency_code``, ``available``,
``reserved``, ``used``; amounts int64 in the currency's minor units) or, for :func:`trend`, a history
frame with an extra ``as_of`` column. Every money table returned here has a ``currency_code`` column and
int64 amounts in that currency's minor units. No function here adds amounts of different currencies,
except :func:`convert_totals`, which does so only in a reporting currency the caller names, with the
rate, its date and its source beside every converted figure.

Everything is vectorised pandas/numpy: a million balance rows take well under a second per metric
(``bench/metrics.py``).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credit_reports.core.errors import MissingRateError, TotalOverflowError, UsageError
from credit_reports.core.money import minor_unit_decimals
from credit_reports.figures import periods
from credit_reports.ledger.sums import (
    AMOUNT_COLUMNS,
    INT64_MAX,
    INT64_MIN,
    TOTALS_COLUMNS,
    balance_change,
    balance_change_dict,
    checked_amounts,
    currency_totals,
    empty_table,
    grouped_totals,
    headline,
    int64_amounts,
    per_currency_ints,
)

__all__ = [
    "AMOUNT_COLUMNS",
    "MissingRateError",
    "balance_change",
    "balance_change_dict",
    "checked_amounts",
    "concentration",
    "convert_totals",
    "currency_totals",
    "headline",
    "load_rates",
    "rates_rows",
    "per_currency_ints",
    "reserved_counts",
    "reserved_customers",
    "roll_forward",
    "subledger",
    "top_share",
    "trend",
    "trend_points",
]

#: Columns :func:`convert_totals` converts when present (and ``amount_columns`` is not given).
CONVERTIBLE_COLUMNS: tuple[str, ...] = (
    "available", "reserved", "used", "outstanding", "opening", "issued", "closing",
)
RATES_COLUMNS: tuple[str, ...] = ("currency", "rate", "date", "source")


def roll_forward(opening: Any, closing: Any, *, currencies: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
    """The reconciled roll-forward from snapshot ``opening`` to snapshot ``closing``, per currency: the
    one the report shows (``report.roll_forward``), with the same columns
    (:data:`credit_reports.ledger.reconcile.RECONCILIATION_COLUMNS`).

    ``opening + issued - reversed - used = expected_closing``; ``closing - expected_closing`` is the
    ``unexplained`` difference. Issued, reversed and used (with their counts) are summed from the Paddle
    event movements stored with the snapshots between the two, never from the balances, so a balance
    that moved without an event shows. When a window between them lacks event evidence, ``evidence`` is
    False and the figures are derived from the balances (see :func:`balance_change`): they then prove
    nothing. ``opening`` / ``closing``: :class:`~credit_reports.store.reader.Snapshot` objects (e.g.
    ``load_snapshot(...)``); two balance frames raise :class:`UsageError` pointing at
    :func:`balance_change`. For the customers and movements behind a difference use
    ``credit_reports.ledger.reconcile.between(opening, closing)``.
    """
    from credit_reports.core.accounts import check_same_account
    from credit_reports.ledger.reconcile import between

    check_same_account([opening, closing], what="the roll-forward's opening and closing snapshots")
    return between(opening, closing, currencies=currencies).table


def trend(history: pd.DataFrame) -> pd.DataFrame:
    """Totals per snapshot and currency over a history frame (balances plus an ``as_of`` column).

    Columns: ``as_of``, then the :func:`currency_totals` columns; sorted by ``as_of`` then currency.
    """
    b = checked_amounts(history, "history", extra=("as_of",))
    if b.empty:
        out = empty_table(TOTALS_COLUMNS)
        out.insert(0, "as_of", pd.Series(dtype="datetime64[ns, UTC]"))
        return out
    return grouped_totals(b, ["as_of", "currency_code"])[["as_of", *TOTALS_COLUMNS]]


# ---------------------------------------------------------------------------------------------------
# concentration and reserved credit


def _holders(balances: pd.DataFrame) -> pd.DataFrame:
    """Rows with available > 0 (the holders of available credit), with a sortable currency code."""
    b = checked_amounts(balances, "balances", extra=("customer_id",))
    return b.loc[b["available"].to_numpy() > 0, ["currency_code", "customer_id", "available"]]


def _rank_within_currency(codes: np.ndarray, amounts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order sorting rows by currency then amount descending, and each sorted row's 0-based rank."""
    order = np.lexsort((-amounts, codes))
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(sorted_codes[1:] != sorted_codes[:-1]) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(sorted_codes)]))
    return order, np.arange(len(sorted_codes)) - group_start


def concentration(balances: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The ``top`` holders of available credit per currency, largest first.

    Columns: ``currency_code``, ``rank`` (1 = largest), ``customer_id``, ``available`` (int64 minor
    units), ``share`` (of the currency's total available, a float for display) and
    ``cumulative_share``. Ties are broken by customer ID so the table is deterministic.
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise UsageError(f"top must be a positive integer, got {top!r}")
    h = _holders(balances)
    columns = ("currency_code", "rank", "customer_id", "available", "share", "cumulative_share")
    if h.empty:
        out = empty_table(columns, str_columns=("currency_code", "customer_id"))
        return out.astype({"share": float, "cumulative_share": float})
    codes, uniques = pd.factorize(h["currency_code"], sort=True)
    amounts = h["available"].to_numpy()
    order, rank = _rank_within_currency(codes, amounts)
    # k-th largest amount per currency: rows at or above it are the candidates (ties included), then the
    # small candidate set is ordered exactly, with customer_id breaking ties.
    sorted_codes, sorted_amounts = codes[order], amounts[order]
    at_k = rank == top - 1
    threshold = np.full(len(uniques), np.iinfo(np.int64).min, dtype=np.int64)
    threshold[sorted_codes[at_k]] = sorted_amounts[at_k]
    cand = h.iloc[np.flatnonzero(amounts >= threshold[codes])]
    cand = cand.sort_values(
        ["currency_code", "available", "customer_id"], ascending=[True, False, True], kind="mergesort"
    )
    cand = cand.groupby("currency_code", sort=False).head(top).reset_index(drop=True)
    totals = h.groupby("currency_code", sort=True)["available"].sum()
    total = cand["currency_code"].map(totals).to_numpy(dtype="float64")
    cand.insert(1, "rank", cand.groupby("currency_code", sort=False).cumcount().astype("int64") + 1)
    cand["share"] = cand["available"].to_numpy(dtype="float64") / total
    cumulative = cand.groupby("currency_code", sort=False)["available"].cumsum().to_numpy()
    cand["cumulative_share"] = cumulative.astype("float64") / total
    return cand[list(columns)].astype({"available": "int64"})


def top_share(balances: pd.DataFrame) -> pd.DataFrame:
    """Share of available credit held by the top 1% and top 10% of holders, per currency.

    Holders are customers with available > 0. The top 1% is ``ceil(holders / 100)`` holders and the top
    10% ``ceil(holders / 10)``. Columns: ``currency_code``, ``holders``, ``available`` (total, int64),
    ``top_1pct_holders``, ``top_1pct_available`` (int64), ``top_1pct_share`` (float, display only),
    ``top_10pct_holders``, ``top_10pct_available``, ``top_10pct_share``.
    """
    columns = (
        "currency_code", "holders", "available",
        "top_1pct_holders", "top_1pct_available", "top_1pct_share",
        "top_10pct_holders", "top_10pct_available", "top_10pct_share",
    )
    h = _holders(balances)
    if h.empty:
        return empty_table(columns).astype({"top_1pct_share": float, "top_10pct_share": float})
    codes, uniques = pd.factorize(h["currency_code"], sort=True)
    amounts = h["available"].to_numpy()
    order, rank = _rank_within_currency(codes, amounts)
    sorted_codes, sorted_amounts = codes[order], amounts[order]
    n = len(uniques)
    holders = np.bincount(codes, minlength=n).astype("int64")
    top1 = -(-holders // 100)
    top10 = -(-holders // 10)

    def group_sum(mask: np.ndarray) -> np.ndarray:
        # int64 sums per currency (pandas groupby keeps exact integer accumulation)
        s = pd.Series(np.where(mask, sorted_amounts, 0)).groupby(sorted_codes).sum()
        return s.reindex(range(n), fill_value=0).to_numpy(dtype="int64")

    total = group_sum(np.ones(len(sorted_amounts), dtype=bool))
    top1_sum = group_sum(rank < top1[sorted_codes])
    top10_sum = group_sum(rank < top10[sorted_codes])
    return pd.DataFrame(
        {
            "currency_code": pd.array(np.asarray(uniques, dtype=object), dtype="string"),
            "holders": holders,
            "available": total,
            "top_1pct_holders": top1,
            "top_1pct_available": top1_sum,
            "top_1pct_share": top1_sum / total,
            "top_10pct_holders": top10,
            "top_10pct_available": top10_sum,
            "top_10pct_share": top10_sum / total,
        }
    )


def reserved_customers(balances: pd.DataFrame) -> pd.DataFrame:
    """Customers with reserved credit (tied to issued invoices not yet paid), largest first per currency.

    Columns: ``currency_code``, ``customer_id``, ``reserved``, ``available``, ``used`` (int64 minor
    units). Sorted by currency, then reserved descending, then customer ID.
    """
    b = checked_amounts(balances, "balances", extra=("customer_id",))
    r = b.loc[b["reserved"].to_numpy() > 0, ["currency_code", "customer_id", "reserved", "available", "used"]]
    r = r.sort_values(
        ["currency_code", "reserved", "customer_id"], ascending=[True, False, True], kind="mergesort"
    )
    return r.reset_index(drop=True)



def reserved_counts(reserved: pd.DataFrame) -> dict[str, int]:
    """Customers with reserved credit per currency, from :func:`reserved_customers`'s frame."""
    return reserved.groupby("currency_code").size().astype("int64").to_dict()


def subledger(balances: pd.DataFrame) -> pd.DataFrame:
    """Every customer and currency with a non-zero balance: available, reserved, used and outstanding
    (available + reserved) in minor units, largest outstanding first per currency. Its columns add up
    to the currency totals: the sub-ledger finance ties to the general ledger."""
    b = balances
    out = b.assign(outstanding=b["available"] + b["reserved"])
    out = out[(out["available"] != 0) | (out["reserved"] != 0) | (out["used"] != 0)]
    out = out.sort_values(["currency_code", "outstanding", "customer_id"], ascending=[True, False, True])
    return out[["currency_code", "customer_id", "available", "reserved", "used", "outstanding"]].reset_index(
        drop=True
    )


def trend_points(history: pd.DataFrame, view: str, timezone: str = "UTC") -> pd.DataFrame:
    """The rows of a history frame (an ``as_of`` column) a trend shows: every snapshot for the ``snapshot``
    view; for ``month-end`` only the newest snapshot of each calendar month in ``timezone``
    (:func:`credit_reports.figures.periods.month_end_points`)."""
    if view != "month-end" or not len(history):
        return history
    when = pd.to_datetime(history["as_of"], utc=True)
    stamps = sorted(when.unique())
    keep = [stamps[i] for i in periods.month_end_points(stamps, timezone)]
    return history[when.isin(keep)]


# ---------------------------------------------------------------------------------------------------
# conversion to a reporting currency


def _rates_error(path: Path, line: int | None, what: str) -> UsageError:
    where = f"{path}" if line is None else f"{path} line {line}"
    return UsageError(
        f"bad rates file {where}: {what} (expected CSV columns currency,rate,date,source; "
        "rate = reporting-currency units per 1 unit, date YYYY-MM-DD)"
    )


def rates_rows(
    path: Path, required: Iterable[str], error: Callable[[Path, int | None, str], UsageError],
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row with lower-case column names) of every non-blank row of a rates CSV file.

    The one reader of a rates file's text and header, behind :func:`load_rates` (one rate per currency) and
    ``translation.load_rate_history`` (dated rates): an unreadable file or a missing required column is one
    :class:`UsageError` line, made by ``error`` so each caller keeps its own wording.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read rates file {path}: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise error(path, 1, f"missing column(s) {', '.join(missing)}")
    reader.fieldnames = header
    for line, raw in enumerate(reader, start=2):
        if any((v or "").strip() for v in raw.values() if isinstance(v, str)):  # blank lines are skipped
            yield line, raw


def load_rates(path: str | Path) -> pd.DataFrame:
    """Read a rates file: CSV ``currency,rate,date,source``, one line per currency.

    ``rate`` is how many units of the reporting currency one major unit of ``currency`` buys (e.g.
    ``JPY,0.0067,2026-11-25,ECB``); it is kept as an exact :class:`~decimal.Decimal`. Returns columns
    ``currency`` (upper case), ``rate`` (Decimal), ``date`` (ISO text), ``source``. Any problem (missing
    file, missing column, a rate that is not a positive number, a bad date, an empty source, a currency
    listed twice) raises :class:`UsageError` with one line naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"rates file not found: {path}")
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    for line, raw in rates_rows(path, RATES_COLUMNS, _rates_error):
        currency = (raw.get("currency") or "").strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            raise _rates_error(path, line, f"currency {currency!r} is not a 3-letter code")
        if currency in seen:
            raise _rates_error(path, line, f"{currency} is listed twice")
        seen.add(currency)
        rate_text = (raw.get("rate") or "").strip()
        try:
            rate = Decimal(rate_text)
        except InvalidOperation:
            raise _rates_error(path, line, f"rate {rate_text!r} for {currency} is not a number") from None
        if not rate.is_finite() or rate <= 0:
            raise _rates_error(path, line, f"rate {rate_text!r} for {currency} must be a positive number")
        date_text = (raw.get("date") or "").strip()
        try:
            date = dt.date.fromisoformat(date_text)
        except ValueError:
            raise _rates_error(path, line, f"date {date_text!r} for {currency} is not YYYY-MM-DD") from None
        source = (raw.get("source") or "").strip()
        if not source:
            raise _rates_error(path, line, f"no source given for {currency}")
        rows.append({"currency": currency, "rate": rate, "date": date.isoformat(), "source": source})
    if not rows:
        raise _rates_error(path, None, "no rates in it")
    return pd.DataFrame(rows, columns=list(RATES_COLUMNS))


def _rate_table(rates: pd.DataFrame) -> dict[str, tuple[Decimal, str | None, str | None]]:
    missing = [c for c in RATES_COLUMNS if c not in rates.columns]
    if missing:
        raise UsageError(f"rates lacks column(s) {', '.join(missing)}; use load_rates(path)")
    table = {}
    for row in rates.to_dict("records"):
        rate = row["rate"] if isinstance(row["rate"], Decimal) else Decimal(str(row["rate"]))
        table[str(row["currency"]).strip().upper()] = (rate, row["date"], row["source"])
    return table


def convert_totals(
    totals: pd.DataFrame,
    rates: pd.DataFrame,
    reporting_currency: str,
    *,
    amount_columns: list[str] | None = None,
    include_total: bool = False,
) -> pd.DataFrame:
    """Convert a per-currency table into ``reporting_currency``, stating rate, date and source per row.

    ``totals`` is any table with a ``currency_code`` column and int64 amount columns (by default the
    ones of :data:`CONVERTIBLE_COLUMNS` present, e.g. :func:`currency_totals` or :func:`roll_forward`).
    The result keeps the input columns (amounts still in their own currency) and adds, per row:
    ``rate`` (exact Decimal), ``rate_date``, ``rate_source``, ``reporting_currency`` and, for each amount
    column ``X``, ``X_converted``: int64 minor units of the reporting currency, computed exactly with
    Decimal and rounded half-to-even per row. The reporting currency itself converts at rate 1.

    Only with ``include_total=True`` is a cross-currency total added: a last row with ``currency_code``
    ``"TOTAL"`` whose converted columns are the sums of the rounded rows above (so the table adds up) and
    whose own-currency amounts are empty (``<NA>``). A currency without a rate raises
    :class:`MissingRateError` naming it; nothing is silently dropped.
    """
    reporting = str(reporting_currency).strip().upper()
    rep_decimals = minor_unit_decimals(reporting)
    if rep_decimals is None:
        raise UsageError(f"reporting currency {reporting_currency!r} is not a currency Paddle supports")
    if "currency_code" not in totals.columns:
        raise UsageError("totals lacks a currency_code column")
    if amount_columns is None:
        amount_columns = [c for c in CONVERTIBLE_COLUMNS if c in totals.columns]
    if not amount_columns:
        raise UsageError("totals has no amount columns to convert")
    for col in amount_columns:
        int64_amounts(totals[col], f"totals.{col}")
    table = _rate_table(rates)
    if reporting in table and table[reporting][0] != 1:
        raise UsageError(
            f"the rates file gives {reporting} a rate of {table[reporting][0]}, but {reporting} is the "
            "reporting currency: its rate must be 1"
        )
    table.setdefault(reporting, (Decimal(1), None, "reporting currency"))
    codes = [str(c).strip().upper() for c in totals["currency_code"]]
    missing = sorted({c for c in codes if c not in table})
    if missing:
        raise MissingRateError(missing, reporting)
    unknown = sorted({c for c in codes if minor_unit_decimals(c) is None})
    if unknown:
        raise UsageError(
            f"cannot convert {', '.join(unknown)}: not a Paddle currency, so its minor unit is unknown"
        )
    # per-currency factor from source minor units to reporting minor units; one Decimal op per cell
    factor = {
        c: table[c][0].scaleb(rep_decimals - minor_unit_decimals(c)) for c in set(codes)
    }
    out = totals.reset_index(drop=True).copy()
    out["rate"] = [table[c][0] for c in codes]
    out["rate_date"] = [table[c][1] for c in codes]
    out["rate_source"] = [table[c][2] for c in codes]
    out["reporting_currency"] = reporting
    for col in amount_columns:
        values = int64_amounts(totals[col], col).to_numpy()
        converted = [
            int((Decimal(int(v)) * factor[c]).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
            for v, c in zip(values, codes, strict=True)
        ]
        for value, code in zip(converted, codes, strict=True):
            if not INT64_MIN <= value <= INT64_MAX:
                raise TotalOverflowError(f"{code} (converted to {reporting})", col, value)
        if include_total and not INT64_MIN <= sum(converted) <= INT64_MAX:
            raise TotalOverflowError(f"TOTAL in {reporting}", col, sum(converted))
        out[f"{col}_converted"] = pd.Series(converted, dtype="int64")
    if include_total:
        converted = [f"{col}_converted" for col in amount_columns]
        total: dict[str, object] = {c: pd.NA for c in out.columns}
        total.update(
            currency_code="TOTAL", rate=None, rate_date=None,
            rate_source="sum of the converted rows above", reporting_currency=reporting,
        )
        total.update({c: int(out[c].sum()) for c in converted})
        # own-currency figures cannot be summed across currencies: they stay empty (<NA>) on this row
        nullable = {
            c: "Int64" for c in out.columns
            if c not in converted and pd.api.types.is_integer_dtype(out[c].dtype)
        }
        out = out.astype(nullable)
        out = pd.concat([out, pd.DataFrame([total], columns=out.columns).astype(nullable)], ignore_index=True)
        out = out.astype({c: "int64" for c in converted})
    return out


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
