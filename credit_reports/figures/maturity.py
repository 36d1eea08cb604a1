"""When the credit will be used: the usage forecast, the current / non-current split, churn, the backtest.

Pure (docs/architecture.md, "Stages"): no Paddle call, no store read; the caller passes frames in.
The rules are written in docs/credit-rules.md, "Maturity". In short:

- a customer's outstanding credit in a currency is used by their own future renewals in that currency, in date
  order, each taking ``min(credit left, the renewal's amount)``; credit reserved on invoices already billed is
  used in the first month;
- renewals follow each active subscription's ``next_billed_at``, then every ``frequency`` x ``interval``
  counted from it (calendar months clipped to the month's last day), and stop at a scheduled cancel or pause;
- a customer with no active subscription in the currency uses nothing: their credit is *dormant*;
- churn is the uncertainty: a customer leaves (and stops renewing) with a monthly hazard estimated per cohort
  from the stored month-end subscription tables (:func:`churn_rates`). P50 is the expected usage at the pooled
  hazard; P10 / P90 are the expected usage at the high / low hazard of the observed range, widened by the
  customers' own variance (normal approximation, z = 1.2816), kept within [0, what can be used];
- every P50 amount is an exact int64: cumulative figures are rounded once and months are their differences,
  and the non-current part is the outstanding less the current part, so they add up to the outstanding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
import pandas as pd

from credit_reports.core import timestamps
from credit_reports.core.errors import MissingRateError, UsageError
from credit_reports.core.money import minor_unit_decimals

__all__ = [
    "ACTIVE_STATUSES",
    "HORIZON_MONTHS",
    "PLAN_COLUMNS",
    "Forecast",
    "Hazard",
    "backtest",
    "churn_rates",
    "forecast",
    "maturity_block",
    "renewal_dates",
    "revenue_from_opening",
    "to_reporting",
]

#: Subscription statuses that keep renewing (Paddle bills a past-due one again; a trial bills at its end).
ACTIVE_STATUSES = frozenset({"active", "past_due", "trialing"})
#: Months forecast; the first twelve are "current" (used within twelve months of the balance-sheet date).
HORIZON_MONTHS = 24
CURRENT_MONTHS = 12
#: The z of the 10th / 90th percentile of a normal distribution.
Z90 = 1.2815515655446004
MONTH_DAYS = 30.436875  # a mean Gregorian month, for the hazard's clock only
#: The columns a plans frame has (fetch/subscriptions_forecast.py makes it from GET /subscriptions).
PLAN_COLUMNS = ("customer_id", "subscription_id", "status", "currency_code", "next_billed_at",
                "billing_interval", "billing_frequency", "amount", "stops_at", "inactive_since")
_DORMANT_AGES = (("0-6 months", 6), ("6-12 months", 12), ("12-24 months", 24), ("over 24 months", None))
DORMANT_UNKNOWN = "no subscription listed"


@dataclass(frozen=True)
class Hazard:
    """Monthly churn hazards of one cohort: ``p50`` the pooled estimate, ``low`` / ``high`` the range of the
    observed months (the band), and the evidence behind them."""

    cohort: str
    p50: float
    low: float
    high: float
    months: int = 0
    at_risk: int = 0
    churned: int = 0


#: Used when no stored history can say anything: no churn assumed, and the report must say so.
NO_HISTORY = Hazard("no history", 0.0, 0.0, 0.0)


@dataclass
class Forecast:
    """The forecast at ``as_of`` (the balance-sheet date), every amount an int64 in minor units.

    ``monthly``: currency_code, month (1..24), ends_at, scheduled (no churn), p10, p50, p90, and the
    cumulative cum_p10, cum_p50, cum_p90. ``split``: one row per currency: outstanding, current (P50 within
    twelve months), current_p10, current_p90, non_current (= outstanding - current), scheduled_current (no
    churn), dormant, beyond_horizon (scheduled after 24 months or never). ``dormant``: currency_code, age, customers,
    amount. ``hazards``: the churn assumed per cohort. ``notes``: what a reader must know (no history, amounts
    from list prices).
    """

    as_of: pd.Timestamp
    monthly: pd.DataFrame
    split: pd.DataFrame
    dormant: pd.DataFrame
    hazards: pd.DataFrame
    notes: list[str] = field(default_factory=list)


# -- renewal dates -------------------------------------------------------------------------------------


def _add_months(stamps: np.ndarray, months: np.ndarray) -> np.ndarray:
    """``stamps`` (datetime64[ns]) plus whole calendar months, the day clipped to the month's last day."""
    day = stamps.astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    day_of_month = (day - month).astype("int64")
    time_of_day = stamps - day.astype("datetime64[ns]")
    target = month + months.astype("int64").astype("timedelta64[M]")
    last_day = ((target + np.timedelta64(1, "M")).astype("datetime64[D]") - target.astype("datetime64[D]"))
    clipped = np.minimum(day_of_month, last_day.astype("int64") - 1)
    return target.astype("datetime64[D]").astype("datetime64[ns]") + clipped.astype("timedelta64[D]") + time_of_day


def renewal_dates(first: np.ndarray, interval: np.ndarray, frequency: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The ``index``-th renewal (0 = ``first``, the subscription's ``next_billed_at``) of each subscription:
    ``first`` plus ``index`` x ``frequency`` intervals, months and years as calendar months counted from
    ``first`` (never from the previous, clipped, date). datetime64[ns] arrays in, one out."""
    months, days = _steps(np.asarray(interval).astype(str), np.asarray(frequency, dtype="int64"))
    return _dates(first, months, days, index)


def _steps(interval: np.ndarray, frequency: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each billing cycle as (calendar months, days) per period; both 0 for an interval Paddle does not have."""
    months = np.select([interval == "month", interval == "year"], [1, 12], default=0) * frequency
    days = np.select([interval == "day", interval == "week"], [1, 7], default=0) * frequency
    return months.astype("int64"), days.astype("int64")


def _dates(first: np.ndarray, months: np.ndarray, days: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``first`` + ``index`` periods of ``months`` calendar months or ``days`` days (see renewal_dates)."""
    out = first + (index * days).astype("timedelta64[D]")
    monthly = months > 0
    if monthly.any():
        out[monthly] = _add_months(first[monthly], index[monthly] * months[monthly])
    return out


def _period_days(months: np.ndarray, days: np.ndarray) -> np.ndarray:
    """The shortest length of one billing period in days (a month counts 28): how many renewals can fit."""
    return months * 28 + days


# -- the forecast --------------------------------------------------------------------------------------


def _boundaries(as_of: pd.Timestamp, months: int) -> np.ndarray:
    """The ends of the forecast months: ``as_of`` + 1, 2, ... ``months`` calendar months (ns, UTC-naive)."""
    base = np.array([as_of.tz_convert("UTC").tz_localize(None).to_datetime64()], dtype="datetime64[ns]")
    return _add_months(np.repeat(base, months), np.arange(1, months + 1))


def _holders(balances: pd.DataFrame) -> pd.DataFrame:
    """Customer and currency rows with outstanding credit: customer_id, currency_code (strings), available and
    reserved (int64); a pair listed twice is summed. Strings stay Arrow-backed: no Python object per row."""
    available = balances["available"].to_numpy(dtype="int64")
    reserved = balances["reserved"].to_numpy(dtype="int64")
    if (available < 0).any() or (reserved < 0).any():
        raise UsageError("balances hold a negative available or reserved amount; a forecast needs the balances "
                         "as Paddle reports them")
    keep = (available + reserved) > 0
    b = pd.DataFrame({"customer_id": balances["customer_id"].astype("string")[keep].reset_index(drop=True),
                      "currency_code": balances["currency_code"].astype("string")[keep].reset_index(drop=True),
                      "available": available[keep], "reserved": reserved[keep]})
    return b


def _summed(holders: pd.DataFrame, hkey: np.ndarray) -> pd.DataFrame | None:
    """The holders with each (customer, currency) once, summed, when some pair is listed twice; else None."""
    ordered = np.sort(hkey)
    if len(ordered) < 2 or not (ordered[1:] == ordered[:-1]).any():
        return None
    return holders.groupby(["customer_id", "currency_code"], as_index=False, sort=True)[["available",
                                                                                         "reserved"]].sum()


@dataclass(frozen=True)
class _Keys:
    """Integer keys shared by holders and plans: ``plan_holder`` (the holder row of each plan's customer and
    currency, -1 when they hold nothing there), ``holder_cohort`` (0 monthly, 1 annual), ``holder_currency``
    (index into ``codes``, the sorted currency codes)."""

    plan_holder: np.ndarray
    holder_cohort: np.ndarray
    holder_currency: np.ndarray
    codes: list[str]
    active: np.ndarray


def _keys(holders: pd.DataFrame, plans: pd.DataFrame) -> tuple[pd.DataFrame, _Keys]:
    """Match plans to holders by (customer, currency) with factorised integer keys (no string merges); the
    holders come back summed when a pair was listed twice."""
    n_h = len(holders)
    customers, _ = pd.concat([holders["customer_id"].astype("string"), plans["customer_id"].astype("string")],
                             ignore_index=True).factorize()
    currencies, currency_names = pd.concat([holders["currency_code"].astype("string"),
                                            plans["currency_code"].astype("string")], ignore_index=True).factorize()
    key = customers.astype("int64") * max(len(currency_names), 1) + currencies
    hkey, pkey = key[:n_h], key[n_h:]
    summed = _summed(holders, hkey)
    if summed is not None:  # rare: the balances listed a pair twice
        return _keys(summed, plans)
    order = np.argsort(hkey, kind="stable")
    pos = np.clip(np.searchsorted(hkey[order], pkey), 0, max(n_h - 1, 0))
    found = (hkey[order][pos] == pkey) if n_h else np.zeros(len(pkey), bool)
    plan_holder = np.where(found, order[pos] if n_h else -1, -1)
    active = plans["status"].isin(ACTIVE_STATUSES).to_numpy(dtype=bool)
    if "resumes_at" in plans.columns:  # a paused subscription with a scheduled resume renews again from then
        paused = plans["status"].eq("paused").fillna(False).to_numpy(dtype=bool)
        active = active | (paused & plans["resumes_at"].notna().to_numpy(dtype=bool))
    yearly = np.zeros(customers.max() + 1 if len(customers) else 0, dtype=bool)
    annual_plan = active & plans["billing_interval"].astype("string").eq("year").fillna(False).to_numpy(dtype=bool)
    yearly[customers[n_h:][annual_plan]] = True
    held = np.flatnonzero(np.bincount(currencies[:n_h], minlength=len(currency_names)))  # codes holders hold
    codes = sorted(str(currency_names[i]) for i in held)
    rank = {c: i for i, c in enumerate(codes)}
    name_rank = np.array([rank.get(str(c), -1) for c in currency_names], dtype="int64")
    return holders, _Keys(plan_holder, yearly[customers[:n_h]].astype("int64"), name_rank[currencies[:n_h]], codes,
                          active)


def _naive_ns(series: pd.Series) -> np.ndarray:
    """A tz-aware (or naive UTC) datetime column as datetime64[ns] UTC-naive, NaT kept."""
    s = pd.to_datetime(series, utc=True)
    return s.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")


def _group_cumsum(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Cumulative sums of ``values`` restarting at each new key (``keys`` sorted); exact for int64."""
    if len(values) == 0:
        return values.copy()
    total = np.cumsum(values)
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    before = total[first] - values[first]
    return total - np.repeat(before, np.diff(np.r_[first, len(keys)]))


def _renewals(holders: pd.DataFrame, plans: pd.DataFrame, keys: _Keys, as_of: np.datetime64,
              end: np.datetime64) -> dict[str, np.ndarray]:
    """One row per renewal that can still use credit: key (holder row), when (ns), amount (int64), sorted by
    holder and date.

    A subscription renews only while active, from ``next_billed_at`` (or, when the plans were read after a
    renewal that came after the as-of, from that renewal: ``period_starts_at`` after ``as_of``) until
    ``stops_at`` (a scheduled cancel or
    pause takes effect then: no renewal at or after it) and the horizon's end. A subscription's j-th renewal can
    use credit only when its own j earlier renewals did not already take all of it, so at most
    ceil(credit / amount) renewals are generated per subscription: memory follows the credit, not the horizon.
    """
    amount_all = plans["amount"].to_numpy(dtype="int64")
    first_all = _naive_ns(plans["next_billed_at"])
    if "resumes_at" in plans.columns:
        resumes = _naive_ns(plans["resumes_at"])
        first_all = np.where(np.isnat(first_all), resumes, first_all)
    take = keys.active & (keys.plan_holder >= 0) & (amount_all > 0) & ~np.isnat(first_all)
    p = plans.loc[take, ["billing_interval", "billing_frequency"]]
    holder = keys.plan_holder[take]
    first = first_all[take]
    if "period_starts_at" in plans.columns:  # renewed after the as-of, before the plans were read: that renewal
        started = _naive_ns(plans["period_starts_at"])[take]  # still uses the as-of's credit (month 1)
        late = ~np.isnat(started) & (started > as_of)
        first = np.where(late, started, first)
    stops = _naive_ns(plans["stops_at"])[take]
    stops = np.where(np.isnat(stops), end + np.timedelta64(1, "ns"), stops)
    intervals, names = p["billing_interval"].astype("string").fillna("").factorize()
    frequency = p["billing_frequency"].fillna(1).to_numpy(dtype="int64")
    month_steps, day_steps = _steps(np.asarray(names, dtype=object).astype(str)[intervals], frequency)
    amount = amount_all[take]
    available = holders["available"].to_numpy(dtype="int64")[holder]
    period = _period_days(month_steps, day_steps)
    if (period <= 0).any():
        raise UsageError("a subscription's billing interval is not day, week, month or year")
    horizon_days = (end - np.minimum(first, end)).astype("timedelta64[D]").astype("int64")
    fits = horizon_days // period + 1
    needed = -(-available // amount)  # renewals this subscription alone would need to use the credit
    count = np.maximum(np.minimum(fits, needed), 0)
    keys_out, when_out, amount_out = [], [], []
    for lo in range(0, len(count), SUBSCRIPTION_CHUNK):  # bounded transient memory for the date arithmetic
        part = slice(lo, lo + SUBSCRIPTION_CHUNK)
        n = count[part]
        rows = np.repeat(np.arange(lo, lo + len(n)), n)
        index = np.arange(len(rows)) - np.repeat(np.cumsum(n) - n, n)
        when = _dates(first[rows], month_steps[rows], day_steps[rows], index)
        keep = (when <= end) & (when < stops[rows])
        keys_out.append(holder[rows][keep])
        when_out.append(when[keep])
        amount_out.append(amount[rows][keep])
    key = np.concatenate(keys_out) if keys_out else np.zeros(0, "int64")
    when = np.concatenate(when_out) if when_out else np.zeros(0, "datetime64[ns]")
    amount = np.concatenate(amount_out) if amount_out else np.zeros(0, "int64")
    del keys_out, when_out, amount_out
    order = np.lexsort((when, key))
    return {"key": key[order], "when": when[order], "amount": amount[order]}


def _cohort_of(plans: pd.DataFrame) -> pd.Series:
    """Each customer's churn cohort: ``annual`` when any active subscription renews yearly, else ``monthly``
    (docs/credit-rules.md, "Maturity": annual customers churn far less often)."""
    active = plans[plans["status"].isin(ACTIVE_STATUSES)]
    yearly = active.assign(y=active["billing_interval"].astype(str).eq("year")).groupby("customer_id")["y"].any()
    return yearly.map({True: "annual", False: "monthly"})


CHUNK_ROWS = 1_000_000
SUBSCRIPTION_CHUNK = 200_000


def _chunks(key: np.ndarray, rows: int = CHUNK_ROWS) -> list[tuple[int, int]]:
    """(start, stop) slices of about ``rows`` renewals that never split one holder (``key`` sorted)."""
    cuts, start = [], 0
    while start < len(key):
        stop = min(start + rows, len(key))
        if stop < len(key):
            stop = int(np.searchsorted(key, key[stop - 1], side="right"))
        cuts.append((start, stop))
        start = stop
    return cuts


def _survival(months: np.ndarray, hazard: np.ndarray) -> np.ndarray:
    """P(customer still renewing after ``months``) at a constant monthly ``hazard``."""
    return np.power(1.0 - hazard, np.maximum(months, 0.0))


def _round_cumulative(cum: np.ndarray) -> np.ndarray:
    """Cumulative floats rounded half to even to int64, kept non-decreasing (months are their differences)."""
    return np.maximum.accumulate(np.rint(cum).astype("int64"), axis=-1)


COHORTS = ("monthly", "annual")
MIN_MONTHS = 6  # fewer month ends than this behind a churn estimate: the forecast's notes say so


def forecast(balances: pd.DataFrame, plans: pd.DataFrame, as_of: Any, *, months: int = HORIZON_MONTHS,
             hazards: Mapping[str, Hazard] | None = None) -> Forecast:
    """The usage forecast per currency and month at ``as_of`` (module docstring; docs/credit-rules.md).

    ``balances``: customer_id, currency_code, available, reserved (the snapshot's). ``plans``: :data:`PLAN_COLUMNS`
    (``fetch.subscriptions_forecast.fetch_renewal_plans``). ``hazards``: cohort (``monthly``, ``annual``) ->
    :class:`Hazard` (from :func:`churn_rates`); a cohort not in it, or None, churns at :data:`NO_HISTORY` (none),
    said in ``notes``.
    """
    stamp = timestamps.parse(as_of)
    if not 1 <= months <= 120:
        raise UsageError(f"months must be between 1 and 120, not {months}")
    missing = [c for c in PLAN_COLUMNS if c not in plans.columns]
    if missing:
        raise UsageError(f"plans lack the columns {', '.join(missing)}")
    holders, keys = _keys(_holders(balances), plans)
    bounds = _boundaries(stamp, months)
    naive_as_of = stamp.tz_convert("UTC").tz_localize(None).to_datetime64()
    ren = _renewals(holders, plans, keys, naive_as_of, bounds[-1])
    key, amount = ren["key"], ren["amount"]
    # credit left for renewals is the available part; reserved credit is used in month 1 (billed already)
    available = holders["available"].to_numpy(dtype="int64")[key]
    cum = _group_cumsum(key, amount)
    used = np.minimum(cum, available) - np.minimum(cum - amount, available)
    u_before = np.minimum(cum - amount, available)  # credit scheduled to earlier renewals of the same holder
    bucket = np.searchsorted(bounds, ren["when"], side="left").astype("int32")  # (b[k-1], b[k]] -> k; <= as_of: 0
    elapsed = (ren["when"] - naive_as_of).astype("timedelta64[s]").astype("float64") / 86400 / MONTH_DAYS

    cohort = keys.holder_cohort.astype("int8")[key]
    hazards = dict(hazards or {})
    present = sorted({COHORTS[i] for i in np.unique(cohort)})
    notes: list[str] = []
    unknown = [c for c in present if c not in hazards]
    if unknown:
        notes.append("no stored history to estimate churn for " + ", ".join(unknown)
                     + ": no churn assumed there, so the band shows the scheduled usage only")
    few = [f"{c} ({hazards[c].months})" for c in present if c in hazards and 0 < hazards[c].months < MIN_MONTHS]
    if few:
        notes.append("churn estimated from fewer than six month ends for " + ", ".join(few)
                     + ": the band is wide for that reason")
    hz = {c: hazards.get(c, NO_HISTORY) for c in (*COHORTS, *hazards)}

    codes, n_c = keys.codes, len(keys.codes)
    rcur = keys.holder_currency.astype("int32")[key]

    def by_bucket(values: np.ndarray) -> np.ndarray:
        """Sum ``values`` (one per renewal row) into [currency, month] (int64 or float64)."""
        cell = rcur.astype("int64") * months + bucket
        if values.dtype.kind == "i":  # exact: int64 sums, never through floats
            exact = np.zeros(n_c * months, dtype="int64")
            np.add.at(exact, cell, values)
            return exact.reshape(n_c, months)
        return np.bincount(cell, weights=values, minlength=n_c * months).reshape(n_c, months)

    reserved = np.zeros(n_c, dtype="int64")
    np.add.at(reserved, keys.holder_currency, holders["reserved"].to_numpy(dtype="int64"))
    scheduled = by_bucket(used.astype("int64"))
    scheduled[:, 0] += reserved

    scenario: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    cuts = _chunks(key)
    for name, pick in (("p50", lambda h: h.p50), ("p10", lambda h: h.high), ("p90", lambda h: h.low)):
        rates = np.array([pick(hz[c]) for c in COHORTS], dtype="float64")
        mean = np.zeros((n_c, months))
        var_month = np.zeros((n_c, months))
        var_cum = np.zeros((n_c, months))
        for lo, hi in cuts:  # slices of whole holders: memory stays flat however many renewals there are
            part = slice(lo, hi)
            s = _survival(elapsed[part], rates[cohort[part]])
            u = used[part]
            m = u * s
            sq = m * (u + 2.0 * u_before[part])  # increments of E[C^2] (a customer churns from every renewal)
            big_m = _group_cumsum(key[part], m)
            sq -= big_m ** 2 - (big_m - m) ** 2  # less the increments of E[C]^2, telescoping per holder
            cell = rcur[part].astype("int64") * months + bucket[part]
            size = n_c * months
            mean += np.bincount(cell, weights=m, minlength=size).reshape(n_c, months)
            var_month += np.bincount(cell, weights=u * m * (1.0 - s), minlength=size).reshape(n_c, months)
            var_cum += np.bincount(cell, weights=sq, minlength=size).reshape(n_c, months)
        mean[:, 0] += reserved
        scenario[name] = (mean, np.maximum(var_month, 0.0), np.maximum(np.cumsum(var_cum, axis=1), 0.0))

    usable = np.cumsum(scheduled, axis=1)  # no forecast can use more than the schedule allows
    cum_p50 = np.minimum(_round_cumulative(np.cumsum(scenario["p50"][0], axis=1)), usable)
    lo_mean, lo_var_m, lo_var_c = scenario["p10"]
    hi_mean, hi_var_m, hi_var_c = scenario["p90"]
    cum_p10 = np.minimum(_round_cumulative(np.maximum(np.cumsum(lo_mean, axis=1) - Z90 * np.sqrt(lo_var_c), 0)),
                         cum_p50)
    cum_p90 = np.maximum(np.minimum(_round_cumulative(np.cumsum(hi_mean, axis=1) + Z90 * np.sqrt(hi_var_c)),
                                    usable), cum_p50)
    p50 = np.diff(cum_p50, axis=1, prepend=0)
    p10 = np.rint(np.maximum(lo_mean - Z90 * np.sqrt(lo_var_m), 0)).astype("int64")
    p90 = np.minimum(np.rint(hi_mean + Z90 * np.sqrt(hi_var_m)).astype("int64"), scheduled)
    p10, p90 = np.minimum(p10, p50), np.maximum(p90, p50)

    ends = pd.DatetimeIndex(bounds).tz_localize("UTC")
    monthly = pd.DataFrame({
        "currency_code": np.repeat(np.array(codes, dtype=object), months),
        "month": np.tile(np.arange(1, months + 1), n_c),
        "ends_at": np.tile(ends, n_c),
        "scheduled": scheduled.ravel(), "p10": p10.ravel(), "p50": p50.ravel(), "p90": p90.ravel(),
        "cum_p10": cum_p10.ravel(), "cum_p50": cum_p50.ravel(), "cum_p90": cum_p90.ravel(),
    })
    monthly = monthly.astype({c: "int64" for c in ("month", "scheduled", "p10", "p50", "p90", "cum_p10",
                                                     "cum_p50", "cum_p90")})
    dormant = _dormant(holders, plans, keys, stamp)
    split = _split(holders, keys, months, scheduled, cum_p10, cum_p50, cum_p90, dormant)
    notes.extend(_amount_notes(plans, keys))
    rows = [{"cohort": c, "hazard_p50": h.p50, "hazard_low": h.low, "hazard_high": h.high, "months": h.months,
             "at_risk": h.at_risk, "churned": h.churned} for c, h in sorted(hz.items()) if c in present]
    hazards_frame = pd.DataFrame(rows, columns=["cohort", "hazard_p50", "hazard_low", "hazard_high", "months",
                                                "at_risk", "churned"])
    return Forecast(stamp, monthly, split, dormant, hazards_frame, notes)


def _split(holders: pd.DataFrame, keys: _Keys, months: int, scheduled: np.ndarray, cum_p10: np.ndarray,
           cum_p50: np.ndarray, cum_p90: np.ndarray, dormant: pd.DataFrame) -> pd.DataFrame:
    """Current (within twelve months, P50 with its band) and non-current per currency; exact int64 sums."""
    k = min(CURRENT_MONTHS, months) - 1
    outstanding = np.zeros(len(keys.codes), dtype="int64")
    np.add.at(outstanding, keys.holder_currency,
              holders["available"].to_numpy(dtype="int64") + holders["reserved"].to_numpy(dtype="int64"))
    dormant_total = dormant.groupby("currency_code")["amount"].sum() if len(dormant) else pd.Series(dtype="int64")
    rows = []
    for i, code in enumerate(keys.codes):
        total = int(outstanding[i])
        current = int(cum_p50[i, k])
        rows.append({"currency_code": code, "outstanding": total, "current": current,
                     "current_p10": int(cum_p10[i, k]), "current_p90": int(cum_p90[i, k]),
                     "non_current": total - current, "scheduled_current": int(scheduled[i, : k + 1].sum()),
                     "dormant": int(dormant_total.get(code, 0)),
                     "beyond_horizon": total - int(scheduled[i].sum()) - int(dormant_total.get(code, 0))})
    cols = ["currency_code", "outstanding", "current", "current_p10", "current_p90", "non_current",
            "scheduled_current", "dormant", "beyond_horizon"]
    out = pd.DataFrame(rows, columns=cols)
    return out.astype({c: "int64" for c in cols[1:]})


def _dormant(holders: pd.DataFrame, plans: pd.DataFrame, keys: _Keys, as_of: pd.Timestamp) -> pd.DataFrame:
    """Available credit of holders with no active subscription in its currency, by how long they have been
    without one (since the latest cancel or pause of a subscription in that currency)."""
    n_h = len(holders)
    has_active = np.zeros(n_h, dtype=bool)
    has_active[keys.plan_holder[keys.active & (keys.plan_holder >= 0)]] = True
    since_ns = _naive_ns(plans["inactive_since"]).astype("int64")  # NaT is the smallest int64
    latest = np.full(n_h, np.iinfo("int64").min, dtype="int64")
    matched = keys.plan_holder >= 0
    np.maximum.at(latest, keys.plan_holder[matched], since_ns[matched])
    available = holders["available"].to_numpy(dtype="int64")
    pick = ~has_active & (available > 0)
    naive_as_of = as_of.tz_convert("UTC").tz_localize(None).to_datetime64().astype("datetime64[ns]").astype("int64")
    known = latest[pick] != np.iinfo("int64").min
    age = np.where(known, (naive_as_of - latest[pick]) / 86_400e9 / MONTH_DAYS, np.nan)
    label = np.full(int(pick.sum()), DORMANT_UNKNOWN, dtype=object)
    lower = 0.0
    for name, upper in _DORMANT_AGES:
        label[known & (age >= lower) & ((age < upper) if upper else True)] = name
        lower = upper or lower
    h = pd.DataFrame({"currency_code": holders["currency_code"][pick].to_numpy(dtype=object), "age": label,
                      "customer_id": holders["customer_id"][pick].to_numpy(dtype=object),
                      "available": available[pick]})
    order = [name for name, _ in _DORMANT_AGES] + [DORMANT_UNKNOWN]
    out = h.groupby(["currency_code", "age"], as_index=False).agg(customers=("customer_id", "nunique"),
                                                                  amount=("available", "sum"))
    out["age"] = pd.Categorical(out["age"], categories=order, ordered=True)
    out = out.sort_values(["currency_code", "age"]).reset_index(drop=True)
    out["age"] = out["age"].astype(str)
    return out.astype({"customers": "int64", "amount": "int64"})


def _amount_notes(plans: pd.DataFrame, keys: _Keys) -> list[str]:
    """A line when some renewal amounts are list prices that leave out a discount or tax added on top."""
    if "amount_basis" not in plans.columns:
        return []
    rough = int(((keys.plan_holder >= 0) & (plans["amount_basis"].astype(str).to_numpy() != "listed")).sum())
    if not rough:
        return []
    return [f"{rough:,} subscriptions of customers holding credit have a discount or tax added on top: "
            "their renewal amount is the listed price, an estimate"]


# -- churn from the stored month ends --------------------------------------------------------------------


def churn_rates(month_ends: Iterable[tuple[Any, pd.DataFrame]], *, min_at_risk: int = 1) -> dict[str, Hazard]:
    """Monthly churn hazards per cohort from consecutive month-end subscription tables (the snapshots'
    ``subscriptions.parquet``: customer_id, status, billing_interval).

    A customer is *at risk* at a month end when they have an active subscription (:data:`ACTIVE_STATUSES`);
    they *churned* by the next month end when they have none then (canceled, paused, moved to another
    customer or gone). The cohort is the one :func:`forecast` uses (``annual`` / ``monthly``). P50 is the pooled
    rate (churned / at risk over every month); low / high are the lowest and highest monthly rates observed,
    widened to the pooled rate's 80% Wilson interval when few months or customers stand behind it. Gaps longer
    than a month count per month elapsed.
    """
    points = sorted(((timestamps.parse(t), frame) for t, frame in month_ends), key=lambda p: p[0])
    per: dict[str, list[tuple[int, int, float]]] = {}
    for (t0, f0), (t1, f1) in zip(points, points[1:], strict=False):
        months = max(round((t1 - t0).days / MONTH_DAYS), 1)
        active0 = f0[f0["status"].isin(ACTIVE_STATUSES)]
        if active0.empty:
            continue
        cohort = _cohort_of(f0)  # the same rule as the forecast's _keys
        still = set(f1.loc[f1["status"].isin(ACTIVE_STATUSES), "customer_id"].astype(str))
        at_risk = pd.Series(sorted(set(active0["customer_id"].astype(str))))
        gone = ~at_risk.isin(still)
        for name, group in gone.groupby(at_risk.map(cohort).fillna("monthly").to_numpy()):
            n, k = len(group), int(group.sum())
            if n >= min_at_risk:
                per.setdefault(str(name), []).append((n, k, months))
    out: dict[str, Hazard] = {}
    for name, obs in per.items():
        at_risk = sum(n * m for n, _, m in obs)
        churned = sum(k for _, k, _ in obs)
        pooled = churned / at_risk if at_risk else 0.0
        monthly = [1 - (1 - k / n) ** (1 / m) for n, k, m in obs]
        lo, hi = _wilson(churned, at_risk)
        out[name] = Hazard(name, pooled, float(min(min(monthly), lo)), float(max(max(monthly), hi)), len(obs),
                           at_risk, churned)
    return out


def _wilson(k: int, n: int, z: float = Z90) -> tuple[float, float]:
    """The Wilson score interval of a proportion k / n (80% two-sided at the default z)."""
    if n == 0:
        return 0.0, 0.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


# -- the split in the manifest ---------------------------------------------------------------------------


def to_reporting(amount: int, code: str, rate: Decimal, reporting: str) -> int:
    """``amount`` minor units of ``code`` in minor units of ``reporting`` at ``rate``, half to even."""
    factor = rate.scaleb(int(minor_unit_decimals(reporting) or 0) - int(minor_unit_decimals(code) or 0))
    return int((Decimal(int(amount)) * factor).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def maturity_block(fc: Forecast, *, rates: Mapping[str, Decimal] | None = None,
                   reporting_currency: str | None = None,
                   translated: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The manifest's ``maturity`` block: the rule, the as-of, per currency the outstanding, current (P50, with
    P10 and P90), non-current and dormant, and in ``reporting_currency`` when either

    - ``rates`` (currency -> 1 unit in the reporting currency: the closing rates, ``fx_policy = "closing"``) are
      given: each figure converted half to even; or
    - ``translated`` (currency -> its outstanding already in the reporting currency, e.g. ``fx_policy``'s
      ``booked`` at historical rates) is: each currency's current is its share of that amount
      (``translated x current / outstanding``, half to even).

    Either way the reporting non-current is the reporting outstanding less the reporting current, so both add up
    exactly there too. A currency without a rate raises :class:`MissingRateError` (one line)."""
    currencies = {row.currency_code: {"outstanding": int(row.outstanding), "current": int(row.current),
                                      "current_p10": int(row.current_p10), "current_p90": int(row.current_p90),
                                      "non_current": int(row.non_current), "dormant": int(row.dormant)}
                  for row in fc.split.itertuples(index=False)}
    block: dict[str, Any] = {
        "as_of": fc.as_of.isoformat(), "horizon_months": int(fc.monthly["month"].max() if len(fc.monthly) else 0),
        "current_months": CURRENT_MONTHS,
        "rule": "current = P50 of the credit expected to be used within twelve months of the balance-sheet "
                "date (docs/credit-rules.md, Maturity); non-current = outstanding - current",
        "currencies": currencies, "notes": list(fc.notes),
    }
    if not reporting_currency or (rates is None and translated is None):
        return block
    reporting = reporting_currency.upper()
    source = translated if translated is not None else rates
    missing = sorted(c for c in currencies if c != reporting and c not in source)
    if missing:
        raise MissingRateError(missing, reporting)
    names = ("outstanding", "current", "current_p10", "current_p90", "dormant")
    total = dict.fromkeys(names, 0)
    for code, row in currencies.items():
        if translated is not None:
            whole = int(translated[code]) if code != reporting or code in translated else row["outstanding"]
            for name in names:
                share = Decimal(row[name]) * whole / row["outstanding"] if row["outstanding"] else Decimal(0)
                total[name] += int(share.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        else:
            rate = Decimal(1) if code == reporting else Decimal(rates[code])
            for name in names:
                total[name] += to_reporting(row[name], code, rate, reporting)
    total["non_current"] = total["outstanding"] - total["current"]
    block["reporting"] = {"currency_code": reporting, **total,
                          "basis": "translated outstanding (fx_policy)" if translated is not None else "closing rates"}
    if translated is None:
        block["reporting"]["rates"] = {c: str(rates[c]) for c in sorted(currencies) if c != reporting}
    return block


# -- backtest ------------------------------------------------------------------------------------------


def backtest(forecasts: Mapping[Any, pd.DataFrame], used: pd.DataFrame, *, horizons: tuple[int, ...] = (1, 3, 6, 12),
             band: float = 0.25, latest: Any = None) -> pd.DataFrame:
    """Each month end's forecast against what was then used, per currency and horizon.

    ``forecasts``: as-of -> that forecast's ``monthly`` frame. ``used``: rows of credit used, with
    currency_code, amount (int64) and occurred_at (the movements' ``used`` rows, or the completed transactions'
    balance credit, for the independent check). ``latest``: the newest moment the actuals cover (default the
    newest ``occurred_at``): a horizon that ends after it is not scored yet. Columns: as_of, currency_code,
    horizon, forecast (cum P50), p10, p90, actual, bias (forecast - actual), error (|bias| / actual, NaN when
    nothing was used), within_band (P10 <= actual <= P90), attention: the actual fell outside P10-P90 *and* the
    error is above ``band`` (a miss the forecast's own uncertainty does not explain and that is material: a
    small currency's honest wide miss inside its band, or a large one's tiny miss, raises nothing).
    """
    moves = used[["currency_code", "amount", "occurred_at"]].copy()
    moves["occurred_at"] = pd.to_datetime(moves["occurred_at"], utc=True)
    last = timestamps.parse(latest) if latest is not None else (moves["occurred_at"].max() if len(moves) else None)
    rows = []
    for as_of, monthly in sorted(((timestamps.parse(k), v) for k, v in forecasts.items()), key=lambda kv: kv[0]):
        for h in horizons:
            at = monthly[monthly["month"] == h]
            for row in at.itertuples(index=False):
                ends = pd.Timestamp(row.ends_at)
                if last is None or ends > last:
                    continue
                window = moves[(moves["currency_code"] == row.currency_code) & (moves["occurred_at"] > as_of)
                               & (moves["occurred_at"] <= ends)]
                actual = int(window["amount"].astype("int64").sum())
                bias = int(row.cum_p50) - actual
                error = abs(bias) / actual if actual else (0.0 if bias == 0 else float("nan"))
                inside = int(row.cum_p10) <= actual <= int(row.cum_p90)
                rows.append({"as_of": as_of, "currency_code": row.currency_code, "horizon": h,
                             "forecast": int(row.cum_p50), "p10": int(row.cum_p10), "p90": int(row.cum_p90),
                             "actual": actual, "bias": bias, "error": error, "within_band": inside,
                             "attention": bool((not inside) and not (error <= band))})
    cols = ["as_of", "currency_code", "horizon", "forecast", "p10", "p90", "actual", "bias", "error", "within_band",
            "attention"]
    return pd.DataFrame(rows, columns=cols)


# -- revenue out of the opening balance -------------------------------------------------------------------


def revenue_from_opening(opening: pd.DataFrame, movements: pd.DataFrame) -> pd.DataFrame:
    """How much of the opening liability was used in the period (ASC 606-10-50-8(b), IFRS 15.116(b)), FIFO.

    Per customer and currency the oldest credit goes first, so the opening outstanding (available + reserved)
    is used before any credit issued in the period: from_opening = min(opening outstanding, used in the
    period). Only ``used`` movements count: a reversal takes credit back without using it (one of credit held
    at the opening stays in opening_left, where the roll-forward's reversed line shows it). Per currency:
    opening, used, from_opening, from_period (used - from_opening), opening_left (opening - from_opening), so
    used = from_opening + from_period ties to the roll-forward's used and opening to its opening.
    """
    o = opening.assign(opening=opening["available"].astype("int64") + opening["reserved"].astype("int64"))
    o = o.groupby(["customer_id", "currency_code"])["opening"].sum()
    m = movements[movements["kind"] == "used"]
    u = m.groupby(["customer_id", "currency_code"])["amount"].sum().astype("int64").rename("used")
    both = pd.concat([o, u], axis=1).fillna(0).astype("int64")
    both["from_opening"] = np.minimum(both["opening"], both["used"])
    out = both.groupby(level="currency_code").sum()
    out["from_period"] = out["used"] - out["from_opening"]
    out["opening_left"] = out["opening"] - out["from_opening"]
    cols = ["opening", "used", "from_opening", "from_period", "opening_left"]
    return out.reset_index()[["currency_code", *cols]].astype({c: "int64" for c in cols})
