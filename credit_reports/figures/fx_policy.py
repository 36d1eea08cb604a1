"""Foreign currency as the standards treat customer credit (issue 26 point 5): ``fx_policy``.

Credit usable only against future invoices is a non-monetary contract liability (IAS 21.16, ASC 830-10-45-18):
in the seller's books it stays at the rate of the day it arose and is not remeasured at the closing rate.
``historical`` (the default) translates each FIFO lot still outstanding at the rate of the day it was issued;
``closing`` translates the whole outstanding at the closing rate (what a monetary, i.e. refundable, balance
would need). Both figures are always computed, so the pack shows the policy chosen and what the other would
give; the journal's FX line is the difference only under ``closing``. Rates come from the rates file by date
(``translation.load_rate_history``): the newest spot rate on or before the lot's date; a missing one is one
line naming the currency and the date. Rules in docs/credit-rules.md, "Maturity" (fx_policy).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd

from credit_reports.core import timestamps
from credit_reports.core.errors import UsageError
from credit_reports.figures.breakage import fifo_lots, remaining
from credit_reports.figures.maturity import to_reporting
from credit_reports.figures.translation import Rate

__all__ = ["DEFAULT_POLICY", "POLICIES", "check_policy", "translate_outstanding"]

POLICIES = ("historical", "closing")
DEFAULT_POLICY = "historical"
_COLUMNS = ["currency_code", "outstanding", "dated", "undated", "historical", "closing", "difference", "booked",
            "policy"]


def check_policy(policy: str) -> str:
    """``policy`` normalised, or one line naming the allowed values (exit 2)."""
    value = (policy or "").strip().lower()
    if value not in POLICIES:
        raise UsageError(f"fx_policy {policy!r} must be one of: {', '.join(POLICIES)}")
    return value


def _spot(rates: Sequence[Rate], currency: str, on: dt.date) -> Rate:
    """The newest spot rate of ``currency`` on or before ``on``; one line when there is none."""
    found = [r for r in rates if r.currency == currency and r.kind == "spot" and r.date <= on]
    if not found:
        raise UsageError(f"the rates file has no {currency} spot rate on or before {on.isoformat()} (needed for "
                         f"credit issued that day under fx_policy)")
    return max(found, key=lambda r: r.date)


def _at(amount: int, code: str, rate: Any, reporting: str) -> int:
    """``amount`` of ``code`` in the reporting currency at ``rate`` (None: it is the reporting currency)."""
    return amount if rate is None else to_reporting(amount, code, rate, reporting)


def translate_outstanding(balances: pd.DataFrame, movements: pd.DataFrame, as_of: Any, rates: Sequence[Rate],
                          reporting_currency: str, *, policy: str = DEFAULT_POLICY,
                          opening: pd.DataFrame | None = None, opening_date: Any = None) -> pd.DataFrame:
    """The closing outstanding per currency in the reporting currency under both policies (int64 minor units).

    ``balances``: the closing snapshot's (outstanding = available + reserved). ``movements``: every movement
    from the first snapshot on; ``opening`` (customer_id, currency_code, amount) the first snapshot's
    outstanding, dated ``opening_date`` (its as-of: the earliest day the toolkit can vouch for). The lots left at
    ``as_of`` are ``dated``; what the lots do not explain (``undated`` = outstanding - dated, e.g. an unexplained
    difference) is translated at the closing rate under either policy and shown. ``difference`` = closing -
    historical; ``booked`` is the amount of the chosen ``policy``.
    """
    chosen = check_policy(policy)
    stamp = timestamps.parse(as_of)
    closing_day = stamp.date()
    reporting = reporting_currency.upper()
    lots, spent = fifo_lots(movements, opening)
    if len(lots):
        left = remaining(lots, spent, pd.Series(stamp, index=lots.index))
        first_day = timestamps.parse(opening_date).date() if opening_date is not None else closing_day
        days = lots["when"].dt.tz_convert("UTC").dt.date.where(lots["when"].notna(), first_day)
        dated = pd.DataFrame({"currency_code": lots["currency_code"], "day": days, "amount": left})
        dated = dated[dated["amount"] > 0].groupby(["currency_code", "day"], as_index=False)["amount"].sum()
    else:
        dated = pd.DataFrame(columns=["currency_code", "day", "amount"])
    b = balances.assign(outstanding=balances["available"].astype("int64") + balances["reserved"].astype("int64"))
    outstanding = b.groupby(b["currency_code"].astype(str))["outstanding"].sum()
    rows = []
    for code, total in outstanding.items():
        total = int(total)
        closing_rate = _spot(rates, code, closing_day).rate if code != reporting else None
        mine = dated[dated["currency_code"] == code]
        dated_total = int(mine["amount"].sum())
        historical = 0
        for day, amount in zip(mine["day"], mine["amount"], strict=True):
            historical += _at(int(amount), code, _spot(rates, code, day).rate if code != reporting else None,
                              reporting)
        undated = total - dated_total
        historical += _at(undated, code, closing_rate, reporting)
        closing = _at(total, code, closing_rate, reporting)
        rows.append({"currency_code": code, "outstanding": total, "dated": dated_total, "undated": undated,
                     "historical": historical, "closing": closing, "difference": closing - historical,
                     "booked": historical if chosen == "historical" else closing, "policy": chosen})
    out = pd.DataFrame(rows, columns=_COLUMNS)
    return out.astype({c: "int64" for c in _COLUMNS[1:-1]})
