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
from credit_reports.ledger import sums
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


def _keys(*frames: pd.DataFrame) -> tuple[list[np.ndarray], int, list[str]]:
    """One int64 key per row of each frame for its (currency, customer), equal keys for equal pairs across
    every frame, so the walk below joins lots to balances on integers, never on strings. Also the key's
    divisor (``key // width`` is the currency's number) and the currencies by number. The ids are factorised
    as Arrow strings, without a Python object per id."""
    def column(name: str) -> pd.Series:
        return pd.concat([f[name].astype("string") for f in frames], ignore_index=True)

    codes, code_values = pd.factorize(column("currency_code"))
    customers, _ = pd.factorize(column("customer_id"))
    width = int(customers.max(initial=0)) + 1
    keys = codes.astype("int64") * width + customers
    out, start = [], 0
    for frame in frames:
        out.append(keys[start:start + len(frame)])
        start += len(frame)
    return out, width, [str(c) for c in code_values]


def _bucket_index(age_days: np.ndarray) -> np.ndarray:
    """:func:`_bucket_of` for an array of ages: the index of the first bucket whose limit holds the age."""
    limits = np.array([limit for _, limit in BUCKETS], dtype="int64")
    return np.minimum(np.searchsorted(limits, age_days, side="left"), len(BUCKETS) - 1)


def _adjustment_lot_frame(adjustments: pd.DataFrame | None, stamp: pd.Timestamp) -> pd.DataFrame:
    """The dated legacy lots (:func:`_adjustment_lots`) as rows: currency, customer, bucket, size, and their
    place among the customer's adjustment lots (0 the oldest)."""
    rows = [(code, customer, (stamp - when).days, n, place)
            for (code, customer), lots in _adjustment_lots(adjustments).items()
            for place, (when, n) in enumerate(lots)]
    frame = pd.DataFrame(rows, columns=["currency_code", "customer_id", "age", "size", "place"])
    frame["bucket"] = _bucket_index(frame["age"].to_numpy(dtype="int64"))
    return frame.astype({"size": "int64", "place": "int64"})


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

    Worked for every customer at once: each balance row's lots (its legacy adjustments, then the credit
    granted before the first snapshot of unknown date, then its issued movements) are sorted newest first,
    and a row takes from each lot what its available credit has not yet taken from the newer ones
    (``min(lot, available - newer lots)``, never below 0), the rest going to the undated bucket.
    """
    stamp = timestamps.parse(as_of)
    undated = _undated_label(first_as_of)
    labels = [b[0] for b in BUCKETS] + [undated]
    undated_index = len(BUCKETS)
    b = sums.checked_amounts(balances, "balances", extra=("customer_id",))
    b = b[b["available"] > 0]
    first = sums.checked_amounts(first_balances, "first_balances", extra=("customer_id",))
    moves = movements_frame(movements if movements is not None else [])
    issued = moves[(moves["kind"] == "issued") & (moves["occurred_at"] <= stamp)]
    adj = _adjustment_lot_frame(adjustments, stamp)
    (b_key, first_key, issued_key, adj_key), width, code_names = _keys(b, first, issued, adj)

    granted = pd.Series((first["available"] + first["reserved"] + first["used"]).to_numpy(dtype="int64"),
                        index=first_key).groupby(level=0).sum()
    adjusted = pd.Series(adj["size"].to_numpy(dtype="int64"), index=adj_key).groupby(level=0).sum()
    before = granted.reindex(b_key, fill_value=0).to_numpy() - adjusted.reindex(b_key, fill_value=0).to_numpy()
    # the lots, with the order the walk takes them in: newest issued first, then the undated gap, then the
    # legacy adjustments, newest first
    ages = ((stamp - issued["occurred_at"]) // pd.Timedelta(days=1)).to_numpy(dtype="int64")
    when = issued["occurred_at"].to_numpy(dtype="datetime64[us]").astype("int64")
    lots = pd.DataFrame({
        "key": np.concatenate([issued_key, b_key, adj_key]),
        "group": np.concatenate([np.zeros(len(issued), "int64"), np.ones(len(b), "int64"),
                                 np.full(len(adj), 2, "int64")]),
        "order": np.concatenate([-when, np.zeros(len(b), "int64"), -adj["place"].to_numpy(dtype="int64")]),
        "bucket": np.concatenate([_bucket_index(ages), np.full(len(b), undated_index, "int64"),
                                  adj["bucket"].to_numpy(dtype="int64")]),
        "size": np.concatenate([issued["amount"].to_numpy(dtype="int64"), np.maximum(before, 0),
                                adj["size"].to_numpy(dtype="int64")]),
    })
    rows = pd.DataFrame({"row": np.arange(len(b)), "key": b_key, "available": b["available"].to_numpy(dtype="int64")})
    walk = rows.merge(lots[lots["key"].isin(b_key)], on="key", how="inner")
    walk = walk.sort_values(["row", "group", "order"], kind="stable")
    size = walk["size"].to_numpy()
    if (size < 0).any():  # pragma: no cover - issued credit and adjustments are never negative
        raise ValueError("ageing: a credit lot is negative; the movements are not what the rules give")
    newer = walk.groupby("row", sort=False)["size"].cumsum().to_numpy() - size
    take = np.minimum(size, np.maximum(walk["available"].to_numpy() - newer, 0))
    taken = np.zeros(len(b), dtype="int64")  # per balance row, what its lots explain
    np.add.at(taken, walk["row"].to_numpy(), take)
    left = rows["available"].to_numpy() - taken

    row_of = walk["row"].to_numpy()
    keys = np.concatenate([b_key[row_of], b_key])
    parts = pd.DataFrame({
        "code": keys // width,
        "bucket": np.concatenate([walk["bucket"].to_numpy(), np.full(len(b), undated_index, "int64")]),
        "amount": np.concatenate([take, left]),
        "key": keys,  # one per (currency, customer): distinct keys in a currency are distinct customers
    })
    parts = parts[parts["amount"] != 0]
    grouped = parts.groupby(["code", "bucket"])
    amounts = grouped["amount"].sum()
    holders = grouped["key"].nunique()

    present = sorted({code_names[i] for i in np.unique(b_key // width).tolist()})
    number = {name: i for i, name in enumerate(code_names)}
    index = pd.MultiIndex.from_product([[number[c] for c in present], range(len(labels))], names=["code", "bucket"])
    out = pd.DataFrame({
        "currency_code": [code_names[i] for i in index.get_level_values(0)],
        "bucket": [labels[i] for i in index.get_level_values(1)],
        "amount": amounts.reindex(index, fill_value=0).to_numpy(),
        "customers": holders.reindex(index, fill_value=0).to_numpy(),
    })
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
