"""Breakage evidence (issue 26 point 7): how much credit of each issue month is still unused, and with whom.

Pure: the caller passes the movements (from day one: the history rebuild's, or the stored snapshots') and the
customers who have churned. Per issue-month cohort and currency: what was issued that month, how much of it
was still unused 6, 12 and 24 months after the month's end (FIFO: a customer's oldest credit is used first,
the rule the ageing keeps), how much is unused at ``as_of``, and how much of that sits with customers who have
churned (no active subscription). A horizon not yet reached is left empty, never guessed.

This is evidence, not an entry: nothing here books breakage. Whether and how much to recognise is the
controller's judgement under ASC 606-10-55-48 / IFRS 15.B46, and the pack says so (:data:`NOTE`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from credit_reports.core import timestamps

__all__ = ["HORIZONS", "NOTE", "breakage_evidence", "fifo_lots", "remaining"]

HORIZONS = (6, 12, 24)
NOTE = ("Breakage is not booked. These figures are the evidence a breakage policy rests on; whether to recognise "
        "breakage, and how much, is the controller's judgement (ASC 606-10-55-48, IFRS 15.B46).")
_OUT = ["currency_code", "cohort", "issued", *[f"unused_{k}m" for k in HORIZONS], "unused_now", "unused_now_churned",
        "customers", "customers_churned"]


def _lots(movements: pd.DataFrame, opening: pd.DataFrame | None) -> pd.DataFrame:
    """Issued credit as lots (key, when, amount), the ``opening`` balances first as an undated lot."""
    issued = movements[movements["kind"] == "issued"]
    lots = pd.DataFrame({"customer_id": issued["customer_id"].astype(str).to_numpy(),
                         "currency_code": issued["currency_code"].astype(str).to_numpy(),
                         "when": pd.to_datetime(issued["occurred_at"], utc=True).reset_index(drop=True),
                         "amount": issued["amount"].to_numpy(dtype="int64")})
    if opening is not None and len(opening):
        first = pd.DataFrame({"customer_id": opening["customer_id"].astype(str).to_numpy(),
                              "currency_code": opening["currency_code"].astype(str).to_numpy(),
                              "when": pd.Series(pd.NaT, index=range(len(opening)), dtype=lots["when"].dtype),
                              "amount": opening["amount"].to_numpy(dtype="int64")})
        lots = pd.concat([first, lots], ignore_index=True)
    return lots


def fifo_lots(movements: pd.DataFrame, opening: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each customer's issued credit as FIFO lots, and what left them over time.

    ``lots``: customer_id, currency_code, when (UTC; NaT for ``opening``, the oldest lot), amount, and the
    cumulative interval [lower, upper) of the customer's issued credit the lot covers. ``spent``: customer_id,
    currency_code, at, spent (cumulative ``used`` + ``reversed`` of the customer by then). A lot is used once
    ``spent`` passes ``lower``; it is gone once it passes ``upper`` (see :func:`remaining`).
    """
    lots = _lots(movements, opening)
    lots["order"] = lots["when"].fillna(pd.Timestamp("1900-01-01T00:00:00Z"))  # the undated lot is the oldest
    lots = lots.sort_values(["customer_id", "currency_code", "order"], kind="stable").reset_index(drop=True)
    lots["upper"] = lots.groupby(["customer_id", "currency_code"])["amount"].cumsum()
    lots["lower"] = lots["upper"] - lots["amount"]
    out_moves = movements[movements["kind"].isin(("used", "reversed"))]
    spent = pd.DataFrame({"customer_id": out_moves["customer_id"].astype(str).to_numpy(),
                          "currency_code": out_moves["currency_code"].astype(str).to_numpy(),
                          "at": pd.to_datetime(out_moves["occurred_at"], utc=True).reset_index(drop=True),
                          "spent": out_moves["amount"].to_numpy(dtype="int64")}).sort_values("at", kind="stable")
    spent["spent"] = spent.groupby(["customer_id", "currency_code"])["spent"].cumsum()
    return lots, spent


def remaining(lots: pd.DataFrame, spent: pd.DataFrame, at: pd.Series) -> pd.Series:
    """What is left of each lot at ``at`` (one moment per lot; NaT gives 0), int64: its part of [lower, upper)
    above what the customer had spent by then."""
    probe = pd.DataFrame({"row": lots.index, "customer_id": lots["customer_id"],
                          "currency_code": lots["currency_code"], "at": at.to_numpy()})
    known = probe["at"].notna()
    found = pd.merge_asof(probe[known].sort_values("at"), spent, on="at", by=["customer_id", "currency_code"],
                          direction="backward")
    consumed = pd.Series(0, index=lots.index, dtype="int64")
    consumed.loc[found["row"].to_numpy()] = found["spent"].fillna(0).astype("int64").to_numpy()
    return (lots["upper"] - np.maximum(lots["lower"], consumed)).clip(lower=0).where(known, 0).astype("int64")


def breakage_evidence(movements: pd.DataFrame, as_of: Any, *, churned: set[str] | frozenset[str] = frozenset(),
                      opening: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per currency and issue month (``YYYY-MM``, UTC; ``before history`` for ``opening``): issued, unused after
    6 / 12 / 24 months (int64; <NA> when that moment is after ``as_of``), unused_now, unused_now_churned, the
    customers the cohort's credit went to and how many of them churned.

    ``movements``: kind, customer_id, currency_code, amount, occurred_at. Credit leaves by ``used`` and
    ``reversed`` movements, oldest lot first (FIFO). ``opening``: customer_id, currency_code, amount held before
    the movements begin (their oldest lot). ``churned``: customer ids with no active subscription at ``as_of``.
    """
    stamp = timestamps.parse(as_of)
    lots, spent = fifo_lots(movements, opening)
    if lots.empty:
        return pd.DataFrame(columns=_OUT)
    naive = lots["when"].dt.tz_convert("UTC").dt.tz_localize(None)
    month_end = (naive.dt.to_period("M").dt.end_time).dt.tz_localize("UTC")  # the issue month's last moment
    lots["cohort"] = lots["when"].dt.tz_convert("UTC").dt.strftime("%Y-%m").fillna("before history")
    moments = {f"unused_{k}m": month_end + pd.DateOffset(months=k) for k in HORIZONS}
    moments["unused_now"] = pd.Series(stamp, index=lots.index)
    for column, at in moments.items():
        left = remaining(lots, spent, at)
        reached = at.notna() & (at <= stamp) if column != "unused_now" else at.notna()
        lots[column] = left.where(reached).astype("Int64")
    lots["churned"] = lots["customer_id"].isin(set(churned))
    lots["unused_now_churned"] = lots["unused_now"].where(lots["churned"], 0).astype("Int64")
    grouped = lots.groupby(["currency_code", "cohort"], sort=True)
    out = grouped.agg(issued=("amount", "sum"), **{c: (c, lambda s: s.sum(min_count=1) if s.notna().all() else pd.NA)
                                                   for c in moments},
                      unused_now_churned=("unused_now_churned", "sum"),
                      customers=("customer_id", "nunique"))
    out["customers_churned"] = grouped.apply(lambda g: g.loc[g["churned"], "customer_id"].nunique(),
                                             include_groups=False)
    out = out.reset_index()[_OUT]
    return out.astype({"issued": "int64", "unused_now": "Int64", "unused_now_churned": "int64", "customers": "int64",
                       "customers_churned": "int64", **{f"unused_{k}m": "Int64" for k in HORIZONS}})
