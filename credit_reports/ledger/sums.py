"""Exact per-currency sums of balances, in int64 minor units: the amount checks every figure reads its input
through (:func:`checked_amounts`, refusing a total that could leave int64), per-currency totals, and the change
between two balance frames written as a roll-forward (:func:`balance_change`, which proves nothing).

The ledger's reconciliation and ageing and the figures' metrics share these, so a total is computed one way; they
live in the ledger because the ledger is the lowest stage that sums money (figures sit above it).
"""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd

from credit_reports.core.errors import TotalOverflowError, UsageError
from credit_reports.core.money import parse_minor

__all__ = [
    "AMOUNT_COLUMNS",
    "INT64_MAX",
    "INT64_MIN",
    "BALANCE_CHANGE_COLUMNS",
    "TOTALS_COLUMNS",
    "balance_change",
    "balance_change_dict",
    "checked_amounts",
    "currency_totals",
    "empty_table",
    "grouped_totals",
    "headline",
    "int64_amounts",
    "per_currency_ints",
]

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
#: Below this float bound on a currency's summed magnitudes no int64 total can overflow (float error is far
#: smaller than the margin to 2**63); at or above it the exact sums are computed with Python ints.
_SAFE_MAGNITUDE = float(2**62)

#: The balance amount columns Paddle returns, int64 minor units.
AMOUNT_COLUMNS: tuple[str, ...] = ("available", "reserved", "used")
TOTALS_COLUMNS: tuple[str, ...] = (
    "currency_code", "available", "reserved", "used", "outstanding", "customers_with_credit",
    "customers_with_balance",
)
BALANCE_CHANGE_COLUMNS: tuple[str, ...] = ("currency_code", "opening", "issued", "used", "closing")



# ---------------------------------------------------------------------------------------------------
# input checks


def checked_amounts(frame: pd.DataFrame, name: str, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """The columns a metric needs, with amounts as int64; a clear UsageError when they are not there."""
    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    needed = ("currency_code", *AMOUNT_COLUMNS, *extra)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise UsageError(f"{name} lacks column(s) {', '.join(missing)}; expected {', '.join(needed)}")
    if frame["currency_code"].isna().any():
        # a groupby would drop these rows silently; an amount without its currency cannot be shown
        raise UsageError(f"{name} has rows without a currency_code; every amount needs its currency")
    out = {}
    for col in needed:
        series = frame[col]
        if col in AMOUNT_COLUMNS:
            series = int64_amounts(series, f"{name}.{col}")
        out[col] = series
    b = pd.DataFrame(out, index=frame.index, copy=False)
    _check_totals_fit(b)
    return b


def _check_totals_fit(b: pd.DataFrame) -> None:
    """Raise :class:`TotalOverflowError` naming the currency when a total could leave int64.

    Every metric sums amounts with numpy int64, which wraps around silently. A currency passes when the
    sum of the magnitudes of available + reserved (outstanding) and of used fits, since then no total,
    sub-total (cohort, top holders) or cumulative sum of it can overflow. The cheap float bound settles
    almost every case; only a currency near the limit has its exact sums computed with Python ints.
    """
    if b.empty:
        return
    codes = b["currency_code"].to_numpy()
    mags = pd.DataFrame({c: b[c].to_numpy(dtype="float64") for c in AMOUNT_COLUMNS})
    mags = mags.abs()
    mags["outstanding"] = mags["available"] + mags["reserved"]
    bound = mags.groupby(codes, sort=True).sum()
    for currency in bound.index[(bound >= _SAFE_MAGNITUDE).any(axis=1).to_numpy()]:
        rows = b[b["currency_code"] == currency]
        avail = [int(v) for v in rows["available"].tolist()]
        reserved = [int(v) for v in rows["reserved"].tolist()]
        exact = {
            "available": avail,
            "reserved": reserved,
            "used": [int(v) for v in rows["used"].tolist()],
            "outstanding": [a + r for a, r in zip(avail, reserved, strict=True)],
        }
        for column, values in exact.items():
            total = sum(values)
            magnitude = sum(abs(v) for v in values)
            if not INT64_MIN <= total <= INT64_MAX or magnitude > INT64_MAX:
                raise TotalOverflowError(str(currency), column, total)


def int64_amounts(series: pd.Series, label: str) -> pd.Series:
    """int64 view of an amount column; floats and missing values are refused (amounts are exact)."""
    if series.dtype == np.int64:
        return series
    if pd.api.types.is_integer_dtype(series.dtype):
        if series.isna().any():
            raise UsageError(f"{label} has missing amounts; amounts must be integers in minor units")
        return series.astype("int64")
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        # Python ints or Paddle's integer strings ("1000"); floats, decimals and blanks are refused
        try:
            return series.map(_exact_int).astype("int64") if len(series) else series.astype("int64")
        except (TypeError, ValueError, OverflowError):
            pass
    raise UsageError(f"{label} must hold integers in minor units (int64), got dtype {series.dtype}")


def _exact_int(value: object) -> int:
    if isinstance(value, str):
        return parse_minor(value)
    if isinstance(value, bool):
        raise TypeError("bool is not an amount")
    return operator.index(value)


def empty_table(columns: tuple[str, ...], str_columns: tuple[str, ...] = ("currency_code",)) -> pd.DataFrame:
    """An empty table with ``columns`` typed as every result here is: ``string`` text columns, int64 amounts."""
    return pd.DataFrame({c: pd.Series(dtype="string" if c in str_columns else "int64") for c in columns})


# ---------------------------------------------------------------------------------------------------
# totals, headline, roll-forward, trend


def grouped_totals(b: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sums of the amount columns per ``keys``, plus outstanding and customer counts (all int64)."""
    outstanding = b["available"] + b["reserved"]
    frame = pd.DataFrame(
        {
            "available": b["available"],
            "reserved": b["reserved"],
            "used": b["used"],
            "outstanding": outstanding,
            "customers_with_credit": (outstanding > 0).astype("int64"),
            "customers_with_balance": np.ones(len(b), dtype="int64"),
        },
        index=b.index,
    )
    grouped = frame.groupby([b[k] for k in keys], sort=True, observed=True).sum()
    return grouped.astype("int64").reset_index()


def currency_totals(balances: pd.DataFrame) -> pd.DataFrame:
    """One row per currency: what customers hold, in that currency's minor units.

    Columns: ``currency_code``, ``available``, ``reserved``, ``used``, ``outstanding`` (available +
    reserved: credit not yet consumed), ``customers_with_credit`` (customers with outstanding > 0 in that
    currency) and ``customers_with_balance`` (customers Paddle returned a balance for in that currency,
    whatever its amount), the same names and meanings as in :func:`~credit_reports.figures.cohorts.cohort_totals`.
    ``currency_code`` is pandas ``string``, the rest int64; sorted by currency code.
    """
    b = checked_amounts(balances, "balances")
    if b.empty:
        return empty_table(TOTALS_COLUMNS)
    return grouped_totals(b, ["currency_code"])[list(TOTALS_COLUMNS)]


def headline(balances: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Headline figures per currency for manifests: ``{"USD": {"available": 1234, ...}, ...}``.

    Keys per currency are the :func:`currency_totals` columns; values are plain Python ints (JSON-ready).
    """
    return per_currency_ints(currency_totals(balances), TOTALS_COLUMNS[1:])


def per_currency_ints(table: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> dict[str, dict[str, int]]:
    """A per-currency table as ``{currency: {column: int}}`` of plain Python ints, JSON-ready (manifests).

    The one conversion behind :func:`headline`, :func:`balance_change_dict` and the reconciliation's
    manifest dict, so every manifest figure is written the same way.
    """
    return {
        str(row["currency_code"]): {c: int(row[c]) for c in columns}
        for row in table.to_dict("records")
    }


def _totals_frame(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Per-currency totals indexed by currency; accepts balances or an existing totals table."""
    if "customer_id" not in frame.columns and "outstanding" in frame.columns:
        t = checked_amounts(frame, name).groupby("currency_code", sort=True).sum()
    else:
        t = currency_totals(frame).set_index("currency_code")[list(AMOUNT_COLUMNS)]
    return t[list(AMOUNT_COLUMNS)]


def balance_change(opening: pd.DataFrame, closing: pd.DataFrame) -> pd.DataFrame:
    """The change between two balance frames, per currency, written as a roll-forward: it proves nothing.

    ``issued`` here is whatever makes the table balance (the change in available + reserved + used), so
    ``opening + issued - used == closing`` holds by construction, whatever happened: a balance that moved
    without any Paddle event is simply "issued". Use it for two frames without snapshots (e.g. filtered
    or hand-made ones); to check the balances against the events use :func:`roll_forward`.

    Columns ``currency_code``, ``opening`` (outstanding = available + reserved at the opening),
    ``issued`` (change in available + reserved + used: credit granted, net of reversals), ``used``
    (change in used), ``closing`` (outstanding at the closing), int64 minor units. A currency present in
    only one frame counts as zero in the other. Accepts balance frames (or :func:`currency_totals` tables).
    """
    o = _totals_frame(opening, "opening")
    c = _totals_frame(closing, "closing")
    currencies = o.index.union(c.index).sort_values()
    if len(currencies) == 0:
        return empty_table(BALANCE_CHANGE_COLUMNS)
    o = o.reindex(currencies, fill_value=0).astype("int64")
    c = c.reindex(currencies, fill_value=0).astype("int64")
    out = pd.DataFrame(
        {
            "currency_code": pd.array(np.asarray(currencies, dtype=object), dtype="string"),
            "opening": (o["available"] + o["reserved"]).to_numpy(),
            "issued": (c.sum(axis=1) - o.sum(axis=1)).to_numpy(),
            "used": (c["used"] - o["used"]).to_numpy(),
            "closing": (c["available"] + c["reserved"]).to_numpy(),
        }
    )
    return out.astype({k: "int64" for k in BALANCE_CHANGE_COLUMNS[1:]})


def balance_change_dict(opening: pd.DataFrame, closing: pd.DataFrame) -> dict[str, dict[str, int]]:
    """:func:`balance_change` as ``{currency: {opening, issued, used, closing}}`` of plain ints."""
    return per_currency_ints(balance_change(opening, closing), BALANCE_CHANGE_COLUMNS[1:])


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
