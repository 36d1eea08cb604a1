"""How old customers' available credit is (first in, first out), and where issued credit came from.

**Ageing.** Per customer and currency, credit arrives in *lots*: each ``issued`` movement (dated by its
event), and before the first snapshot, what the toolkit never saw move. FIFO means what a customer used or
had reserved came from their oldest credit first, so the available credit left is the *newest* credit:
walking the lots from the newest back, the first ``available`` of them. The buckets are 0-30, 31-90,
91-180, 181-365 and over 365 days old at the as-of time, plus one for credit whose date the toolkit
never saw, "issued before <first snapshot>".

Before the first snapshot the only dates known are those of legacy credit adjustments (kept in
``adjustments.parquet`` by the first fetch): approved ones with ``credit_applied_to_balance`` true, net
of ``credit_reverse`` adjustments. They all predate March 2024, so they are the oldest lots; the rest of
the credit granted before the first snapshot (its outstanding plus used, less those adjustments) is
transaction credit of unknown date, placed after them. Credit beyond every known lot (for example issued
in a window without event evidence) also goes to the undated bucket, so the buckets always sum exactly
to ``available``.

**Sources.** :func:`issued_by_source` splits the issued movements by where the credit came from.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from credit_reports.core import timestamps
from credit_reports.figures import metrics
from credit_reports.ledger.movements import movements_frame

__all__ = ["BUCKETS", "SOURCE_LABELS", "ageing", "ageing_table", "issued_by_source"]

#: (label, oldest age in days included) of the dated buckets, newest first.
BUCKETS: tuple[tuple[str, int], ...] = (
    ("0-30 days", 30), ("31-90 days", 90), ("91-180 days", 180), ("181-365 days", 365), ("over 365 days", 10**9),
)
SOURCE_LABELS: dict[str, str] = {
    "subscription_update": "subscription change billed now",
    "subscription_recurring": "subscription change at renewal",
    "adjustment": "legacy credit adjustment (before March 2024)",
}
_KEYS = ["currency_code", "customer_id"]


def _undated_label(first_as_of: Any) -> str:
    return f"issued before {pd.Timestamp(first_as_of).tz_convert('UTC'):%d %b %Y} (date not seen)"


def _bucket_of(age_days: int) -> str:
    for label, limit in BUCKETS:
        if age_days <= limit:
            return label
    return BUCKETS[-1][0]  # pragma: no cover - the last limit is effectively infinite


def _adjustment_lots(adjustments: pd.DataFrame | None) -> dict[tuple[str, str], list[tuple[pd.Timestamp, int]]]:
    """Dated legacy lots per (currency, customer): approved balance credits, less their reversals."""
    lots: dict[tuple[str, str], list[tuple[pd.Timestamp, int, str]]] = {}
    if adjustments is None or adjustments.empty:
        return {}
    a = adjustments
    credit = a[(a["action"] == "credit") & (a["credit_applied_to_balance"].fillna(False).astype(bool))
               & a["status"].isin(["approved", "reversed"])]  # a reversed original was issued; its reversal subtracts
    for r in credit.sort_values("created_at").itertuples():
        lots.setdefault((r.currency_code, r.customer_id), []).append([r.created_at, abs(int(r.total)),
                                                                      r.transaction_id or ""])
    reverses = a[(a["action"] == "credit_reverse") & (a["status"] == "approved")]
    for r in reverses.itertuples():
        key_lots = lots.get((r.currency_code, r.customer_id), [])
        take = abs(int(r.total))
        matching = [lot for lot in key_lots if lot[2] and lot[2] == (r.transaction_id or "")]
        for lot in [*matching, *reversed(key_lots)]:
            step = min(lot[1], take)
            lot[1] -= step
            take -= step
            if take == 0:
                break
    return {k: [(t, n) for t, n, _ in v if n > 0] for k, v in lots.items()}


def ageing(
    balances: pd.DataFrame,
    as_of: Any,
    *,
    first_balances: pd.DataFrame,
    first_as_of: Any,
    movements: pd.DataFrame | None = None,
    adjustments: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Available credit per currency and age bucket, FIFO; every bucket of every currency, zeros included.

    ``balances``: the snapshot's balances (as of ``as_of``). ``first_balances``: the first snapshot's
    (``first_as_of``). ``movements``: every movement stored after the first snapshot up to ``as_of``.
    ``adjustments``: the credit adjustments the first fetch listed. Columns: ``currency_code``,
    ``bucket`` (label), ``amount`` (int64, sums exactly to the currency's available), ``customers``.
    """
    stamp = timestamps.parse(as_of)
    undated = _undated_label(first_as_of)
    labels = [b[0] for b in BUCKETS] + [undated]
    b = metrics.checked_amounts(balances, "balances", extra=("customer_id",))
    b = b[b["available"] > 0]
    first = metrics.checked_amounts(first_balances, "first_balances", extra=("customer_id",))
    granted = (first["available"] + first["reserved"] + first["used"]).groupby(
        [first["currency_code"], first["customer_id"]]).sum()
    granted_before = dict(zip(granted.index, granted.to_numpy().tolist(), strict=True))  # fast lookups
    moves = movements_frame(movements if movements is not None else [])
    issued = moves[(moves["kind"] == "issued") & (moves["occurred_at"] <= stamp)].sort_values("occurred_at")
    ages = ((stamp - issued["occurred_at"]) // pd.Timedelta(days=1)).astype("int64")
    issued_lots: dict[tuple[str, str], list[tuple[int | None, int]]] = {}
    for code, customer, age, amount in zip(issued["currency_code"], issued["customer_id"], ages,
                                           issued["amount"].astype("int64"), strict=True):
        issued_lots.setdefault((code, customer), []).append((int(age), int(amount)))
    adj_lots = {k: [((stamp - when).days, n) for when, n in v] for k, v in _adjustment_lots(adjustments).items()}

    amounts: dict[tuple[str, str], int] = {}
    holders: dict[tuple[str, str], set[str]] = {}

    def put(code: str, label: str, amount: int, customer: str) -> None:
        if amount:
            amounts[(code, label)] = amounts.get((code, label), 0) + amount
            holders.setdefault((code, label), set()).add(customer)

    dated = set(issued_lots) | set(adj_lots)
    keyed = list(zip(b["currency_code"].tolist(), b["customer_id"].tolist(), strict=True))
    simple = np.array([k not in dated for k in keyed], dtype=bool)
    plain = b[simple]  # no dated lot at all: everything they hold is of a date never seen
    for code, group in plain.groupby("currency_code"):
        amounts[(code, undated)] = int(group["available"].sum())
        holders[(code, undated)] = set(group["customer_id"])
    for (code, customer), available in zip(np.array(keyed, dtype=object)[~simple],
                                           b.loc[~simple, "available"].to_numpy(), strict=True):
        key = (code, customer)
        old = adj_lots.get(key, [])
        before = int(granted_before.get(key, 0))
        gap = max(before - sum(n for _, n in old), 0)
        lots: list[tuple[int | None, int]] = [*old, (None, gap), *issued_lots.get(key, [])]  # (age in days, amount)
        left = int(available)
        for age, size in reversed(lots):  # the newest credit is what is left
            step = min(size, left)
            if step:
                put(code, undated if age is None else _bucket_of(age), step, customer)
            left -= step
            if left == 0:
                break
        put(code, undated, left, customer)

    codes = sorted(set(b["currency_code"]))
    rows = [
        {"currency_code": code, "bucket": label, "amount": amounts.get((code, label), 0),
         "customers": len(holders.get((code, label), ()))}
        for code in codes for label in labels
    ]
    out = pd.DataFrame(rows, columns=["currency_code", "bucket", "amount", "customers"])
    return out.astype({"amount": "int64", "customers": "int64"})


def ageing_table(aged: pd.DataFrame) -> pd.DataFrame:
    """:func:`ageing` as one row per currency, a column per bucket (in bucket order) and ``available``."""
    if aged.empty:
        return pd.DataFrame({"currency_code": pd.Series(dtype="str"), "available": pd.Series(dtype="int64")})
    order = list(dict.fromkeys(aged["bucket"]))
    wide = aged.pivot(index="currency_code", columns="bucket", values="amount")[order].astype("int64")
    wide["available"] = wide.sum(axis=1).astype("int64")
    wide.columns.name = None
    return wide.reset_index()


def issued_by_source(movements: pd.DataFrame | None) -> pd.DataFrame:
    """Issued credit per currency and source: ``currency_code``, ``source``, ``label`` (for a finance
    reader), ``count``, ``amount`` (int64). Reversals are not netted here (the roll-forward shows them)."""
    moves = movements_frame(movements if movements is not None else [])
    issued = moves[moves["kind"] == "issued"]
    columns = ["currency_code", "source", "label", "count", "amount"]
    if issued.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("count", "amount") else "str") for c in columns})
    grouped = issued.groupby(["currency_code", "source"], sort=True)["amount"].agg(["count", "sum"]).reset_index()
    grouped = grouped.rename(columns={"sum": "amount"})
    grouped["label"] = grouped["source"].map(lambda s: SOURCE_LABELS.get(str(s), f"transaction origin {s}"))
    return grouped[columns].astype({"count": "int64", "amount": "int64"})


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
