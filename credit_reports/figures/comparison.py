"""Two snapshots side by side, per customer and currency: ``compare(old, new)``.

The analyst's "what changed between these two snapshots" in one call, without the pitfalls of a
hand-made merge: an outer merge leaves ``NaN`` where one side has no row, which turns every amount
column into float64 (which :mod:`credit_reports.figures.metrics` then refuses, rightly). Here a missing side
counts as 0, amounts stay int64 minor units, and a ``status`` column says why a row is there.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from credit_reports.core.accounts import check_same_account
from credit_reports.core.errors import UsageError

__all__ = ["COMPARE_AMOUNTS", "STATUSES", "compare"]

#: The balance kinds compared; each gives ``<kind>_old``, ``<kind>_new`` and ``<kind>_change``.
COMPARE_AMOUNTS: tuple[str, ...] = ("available", "reserved", "used")

#: What ``status`` says about a customer and currency: a balance row in both snapshots, only in the
#: new one (the customer appeared in that currency) or only in the old one (the customer left it).
STATUSES: tuple[str, ...] = ("both", "appeared", "left")

_KEYS = ["customer_id", "currency_code"]


def _balances(side: Any, label: str) -> pd.DataFrame:
    """The balances frame of a Snapshot, or the frame itself; UsageError for anything else."""
    frame = getattr(side, "balances", side)
    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"compare: {label} must be a Snapshot or a balances DataFrame, got {type(side).__name__}")
    missing = [c for c in (*_KEYS, *COMPARE_AMOUNTS) if c not in frame.columns]
    if missing:
        raise UsageError(f"compare: {label} has no column {', '.join(missing)}; pass snapshot.balances")
    amounts = frame[list(COMPARE_AMOUNTS)]
    bad = [c for c in COMPARE_AMOUNTS if not pd.api.types.is_integer_dtype(amounts[c].dtype) or amounts[c].isna().any()]
    if bad:
        raise UsageError(f"compare: {label}.{bad[0]} must hold integers in minor units (int64), "
                         f"got {amounts[bad[0]].dtype}")
    out = frame[_KEYS + list(COMPARE_AMOUNTS)].astype({c: "int64" for c in COMPARE_AMOUNTS})
    if out.duplicated(_KEYS).any():
        raise UsageError(f"compare: {label} has several rows for one customer and currency; pass one snapshot")
    return out.astype({k: "string" for k in _KEYS})


def compare(old: Any, new: Any) -> pd.DataFrame:
    """One row per customer and currency present in either snapshot: old, new and change of each kind.

    ``old`` and ``new`` are :class:`~credit_reports.store.reader.Snapshot` objects or their ``balances``
    frames. Columns: ``customer_id``, ``currency_code`` (string), ``status`` (string: ``both``,
    ``appeared`` when only ``new`` has the row, ``left`` when only ``old`` has it), then for each of
    available, reserved and used ``<kind>_old``, ``<kind>_new`` and ``<kind>_change`` (new - old), all
    int64 minor units; a missing side counts as 0. Sorted by currency, then the largest change in
    available first. Currencies are never mixed: each row is in its own ``currency_code``.
    """
    check_same_account([old, new], what="the two snapshots compared")  # frames carry no account: not judged
    before = _balances(old, "old")
    after = _balances(new, "new")
    merged = before.merge(after, on=_KEYS, how="outer", suffixes=("_old", "_new"), indicator=True)
    status = merged["_merge"].map({"both": "both", "right_only": "appeared", "left_only": "left"})
    out = merged[_KEYS].astype("string").copy()
    out["status"] = status.astype("string")
    for kind in COMPARE_AMOUNTS:
        o = merged[f"{kind}_old"].fillna(0).astype("int64")
        n = merged[f"{kind}_new"].fillna(0).astype("int64")
        out[f"{kind}_old"] = o
        out[f"{kind}_new"] = n
        out[f"{kind}_change"] = n - o
    out = out.assign(_abs=out["available_change"].abs())
    out = out.sort_values(["currency_code", "_abs", "customer_id"], ascending=[True, False, True], kind="stable")
    return out.drop(columns="_abs").reset_index(drop=True)


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
