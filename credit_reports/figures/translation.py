"""The roll-forward in one reporting currency, translated the way accountants translate a foreign balance.

Per currency (IAS 21 / ASC 830 practice for a monetary liability):

- the **opening** outstanding credit at the *opening rate* (the spot rate of the opening date),
- **issued**, **reversed** and **used** at the *stated rate* of the config's ``rate_type``: ``average`` (the
  period's average rate, one row of type ``average`` dated inside the period) or ``spot`` (each movement at
  the spot rate of the day it happened),
- the **unexplained** difference (if any) and the **closing** outstanding at the *closing rate*,
- and the **translation difference** as its own line: closing at the closing rate minus everything above,
  so ``opening + issued - reversed - used + unexplained + translation = closing`` holds exactly in the
  reporting currency's minor units. The reporting currency itself has rate 1 and no translation difference.

The rates file is a CSV ``currency,rate,date,source`` with an optional ``type`` column (``spot``, the
default, or ``average``); a currency may have several rows (one per date and type). ``rate`` is how many
units of the reporting currency one major unit of ``currency`` buys. Every converted figure carries its
rate, the rate's date and its source. Amounts are exact: Decimal arithmetic on integer minor units,
rounded half to even once per line.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path

import pandas as pd

from credit_reports.core.errors import UsageError
from credit_reports.core.money import minor_unit_decimals
from credit_reports.figures import metrics

__all__ = [
    "RATE_TYPES", "Rate", "TRANSLATION_LINES", "closing_rates", "load_rate_history", "translate",
]

#: How the period's movements are translated: at the period's average rate or each at its day's spot rate.
RATE_TYPES: tuple[str, ...] = ("average", "spot")
_KINDS = ("spot", "average")
#: The lines of the translated roll-forward, in order: (column, label).
TRANSLATION_LINES: tuple[tuple[str, str], ...] = (
    ("opening", "Opening outstanding, at the opening rate"),
    ("issued", "+ Issued, at the stated rate"),
    ("reversed", "- Reversed, at the stated rate"),
    ("used", "- Used, at the stated rate"),
    ("unexplained", "+ Unexplained difference, at the closing rate"),
    ("translation", "+ Translation difference"),
    ("closing", "= Closing outstanding, at the closing rate"),
)


@dataclass(frozen=True)
class Rate:
    """One rate of the file: 1 ``currency`` = ``rate`` reporting currency, on ``date``, from ``source``."""

    currency: str
    rate: Decimal
    date: dt.date
    source: str
    kind: str = "spot"


def _error(path: Path, line: int | None, what: str) -> UsageError:
    where = f"{path}, line {line}" if line else str(path)
    return UsageError(f"rates file {where}: {what}; expected CSV columns currency,rate,date,source[,type]")


def load_rate_history(path: str | Path) -> list[Rate]:
    """Every rate in a rates file, oldest first; one :class:`UsageError` line for any bad row."""
    path = Path(path)
    rates: list[Rate] = []
    seen: set[tuple[str, str, dt.date]] = set()
    for line, raw in metrics.rates_rows(path, ("currency", "rate", "date", "source"), _error):
        currency = (raw.get("currency") or "").strip().upper()
        kind = (raw.get("type") or "spot").strip().lower() or "spot"
        if kind not in _KINDS:
            raise _error(path, line, f"type {kind!r} must be spot or average")
        try:
            rate = Decimal((raw.get("rate") or "").strip())
            date = dt.date.fromisoformat((raw.get("date") or "").strip())
        except (InvalidOperation, ValueError):
            raise _error(path, line, f"rate and date of {currency} must be a number and YYYY-MM-DD") from None
        if not rate.is_finite() or rate <= 0:
            raise _error(path, line, f"rate of {currency} must be a positive number")
        if (currency, kind, date) in seen:
            raise _error(path, line, f"{currency} has two {kind} rates on {date}")
        seen.add((currency, kind, date))
        rates.append(Rate(currency, rate, date, (raw.get("source") or "").strip(), kind))
    return sorted(rates, key=lambda r: (r.currency, r.kind, r.date))


def _spot(rates: list[Rate], currency: str, on: dt.date) -> Rate | None:
    """The newest spot rate of ``currency`` dated on or before ``on``."""
    found = [r for r in rates if r.currency == currency and r.kind == "spot" and r.date <= on]
    return found[-1] if found else None


def _average(rates: list[Rate], currency: str, after: dt.date, until: dt.date) -> Rate | None:
    """The period's average rate: the newest ``average`` row dated after the opening, up to the closing."""
    found = [r for r in rates if r.currency == currency and r.kind == "average" and after < r.date <= until]
    return found[-1] if found else None


def closing_rates(rates: list[Rate], on: dt.date) -> pd.DataFrame:
    """One spot rate per currency for the closing balances (``metrics.load_rates`` shape): the newest on
    or before ``on``; a currency whose every rate is later keeps its earliest (a file of one rate per
    currency converts as it always did)."""
    rows = []
    for currency in sorted({r.currency for r in rates if r.kind == "spot"}):
        spots = [r for r in rates if r.currency == currency and r.kind == "spot"]
        pick = _spot(rates, currency, on) or spots[0]
        rows.append({"currency": currency, "rate": pick.rate, "date": pick.date.isoformat(), "source": pick.source})
    return pd.DataFrame(rows, columns=["currency", "rate", "date", "source"])


def _convert(amount: int, code: str, rate: Decimal, reporting: str) -> int:
    """``amount`` minor units of ``code`` in minor units of ``reporting``, rounded half to even."""
    factor = rate.scaleb(int(minor_unit_decimals(reporting) or 0) - int(minor_unit_decimals(code) or 0))
    return int((Decimal(int(amount)) * factor).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _one(rate: Rate | None, code: str, reporting: str) -> Rate | None:
    if code == reporting:
        return Rate(code, Decimal(1), dt.date.min, "reporting currency")
    return rate


def translate(
    roll: pd.DataFrame,
    rates: list[Rate],
    reporting_currency: str,
    *,
    opening_date: dt.date,
    closing_date: dt.date,
    rate_type: str = "average",
    movements: pd.DataFrame | None = None,
    timezone: str = "UTC",
) -> tuple[pd.DataFrame, str]:
    """The translated roll-forward, one row per currency plus a ``TOTAL`` row, and a note ("" when none).

    ``roll`` is the reconciliation table (``opening``, ``issued``, ``reversed``, ``used``, ``unexplained``,
    ``closing`` in each currency's minor units). Returns columns ``currency_code``, ``reporting_currency``,
    each line in its own currency and ``<line>_converted`` in the reporting currency, and the rates used
    (``opening_rate``, ``movement_rate``, ``closing_rate`` with ``*_rate_date`` and ``*_rate_source``).
    Raises :class:`UsageError` naming the currency and date when a rate is missing.
    """
    reporting = reporting_currency.upper()
    if rate_type not in RATE_TYPES:
        raise UsageError(f"rate_type {rate_type!r} must be one of {', '.join(RATE_TYPES)}")
    rows: list[dict] = []
    for r in roll.to_dict("records"):
        code = str(r["currency_code"])
        opening_rate = _one(_spot(rates, code, opening_date), code, reporting)
        closing_rate = _one(_spot(rates, code, closing_date), code, reporting)
        if opening_rate is None or closing_rate is None:
            day = opening_date if opening_rate is None else closing_date
            raise UsageError(f"rates file: no spot rate for {code} on or before {day:%Y-%m-%d}, needed to "
                             f"translate the roll-forward into {reporting}; add a spot rate of that day")
        row: dict = {"currency_code": code, "reporting_currency": reporting}
        for col in ("opening", "issued", "reversed", "used", "unexplained", "closing"):
            row[col] = int(r.get(col, 0) or 0)
        row["opening_converted"] = _convert(row["opening"], code, opening_rate.rate, reporting)
        row["closing_converted"] = _convert(row["closing"], code, closing_rate.rate, reporting)
        row["unexplained_converted"] = _convert(row["unexplained"], code, closing_rate.rate, reporting)
        movement_rate = _movements(row, code, reporting, rates, rate_type, opening_date, closing_date,
                                   movements, timezone)
        row["translation_converted"] = (row["closing_converted"] - row["opening_converted"]
                                        - row["issued_converted"] + row["reversed_converted"]
                                        + row["used_converted"] - row["unexplained_converted"])
        for prefix, rate in (("opening", opening_rate), ("movement", movement_rate), ("closing", closing_rate)):
            row[f"{prefix}_rate"] = rate.rate if rate is not None else None
            row[f"{prefix}_rate_date"] = (rate.date.isoformat() if rate is not None and rate.date != dt.date.min
                                          else None)
            row[f"{prefix}_rate_source"] = (rate.source if rate is not None else
                                            "spot rate of each movement's day")
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame, "No roll-forward to translate."
    total = {c: pd.NA for c in frame.columns}
    total.update(currency_code="TOTAL", reporting_currency=reporting,
                 opening_rate_source="sum of the translated rows above")
    for col in [c for c in frame.columns if c.endswith("_converted")]:
        total[col] = int(frame[col].sum())
    frame = pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
    for col in [c for c in frame.columns if c.endswith("_converted")]:
        frame[col] = frame[col].astype("int64")
    for col in ("opening", "issued", "reversed", "used", "unexplained", "closing"):
        frame[col] = frame[col].astype("Int64")
    how = ("the period's average rate" if rate_type == "average" else "the spot rate of the day each movement "
           "happened")
    return frame, (f"Opening at the opening rate ({opening_date:%d %b %Y}), movements at {how} (rate_type = "
                   f"\"{rate_type}\"), closing at the closing rate ({closing_date:%d %b %Y}); the translation "
                   "difference is what the change of rates alone did to the liability.")


def _movements(row: dict, code: str, reporting: str, rates: list[Rate], rate_type: str, opening_date: dt.date,
               closing_date: dt.date, movements: pd.DataFrame | None, timezone: str) -> Rate | None:
    """Fill ``issued/reversed/used_converted`` in ``row``; return the single rate used (None: per movement)."""
    if code == reporting:
        for col in ("issued", "reversed", "used"):
            row[f"{col}_converted"] = row[col]
        return _one(None, code, reporting)
    if rate_type == "average":
        rate = _average(rates, code, opening_date, closing_date)
        if rate is None:
            raise UsageError(f"rates file: no average rate for {code} dated after {opening_date} and up to "
                             f"{closing_date} (rate_type = \"average\"); add one (type average) or set rate_type "
                             "= \"spot\"")
        for col in ("issued", "reversed", "used"):
            row[f"{col}_converted"] = _convert(row[col], code, rate.rate, reporting)
        return rate
    if movements is None or movements.empty:  # no movements with dates: the lines are at the closing rate
        rate = _spot(rates, code, closing_date)
        for col in ("issued", "reversed", "used"):
            row[f"{col}_converted"] = _convert(row[col], code, rate.rate, reporting)
        return rate
    mine = movements[movements["currency_code"] == code]
    days = pd.to_datetime(mine["occurred_at"], utc=True).dt.tz_convert(timezone).dt.date
    for col in ("issued", "reversed", "used"):
        total = 0
        kind = mine["kind"] == col
        for amount, day in zip(mine.loc[kind, "amount"], days[kind], strict=True):
            rate = _spot(rates, code, day)
            if rate is None:
                raise UsageError(f"rates file: no spot rate for {code} on or before {day} (a movement of that "
                                 "day, rate_type = \"spot\")")
            total += _convert(int(amount), code, rate.rate, reporting)
        row[f"{col}_converted"] = total
    return None
