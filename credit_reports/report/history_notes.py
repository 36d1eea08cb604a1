"""The stored history's tie-out in the words and tables a report shows: the newest history at or before a
snapshot (its summary, first credit, untrusted customers) and the note on reconstructed month ends.

These read what ``credit-reports history`` stored (fetch/history.py writes it); they call no Paddle API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from credit_reports.core.timestamps import display
from credit_reports.ledger import rebuild as hist
from credit_reports.store import files
from credit_reports.store import reader as store

__all__ = ["first_credit_text", "reconstructed_note", "stored_summary", "summary_line", "untrusted_table"]


def _fetched_of(snapshot: Any, chain: Sequence[store.Snapshot] | None) -> list[store.Snapshot]:
    """The fetched snapshots of ``snapshot``'s environment: from ``chain`` (already listed) when given."""
    if chain is None:
        return store.fetched_snapshots(snapshot.path.parent.parent.parent, snapshot.environment)
    return [s for s in chain if not s.manifest.get("reconstructed") and not s.derived]


def stored_summary(snapshot: Any, chain: Sequence[store.Snapshot] | None = None) -> dict[str, Any] | None:
    """The tie-out of the newest history stored at or before ``snapshot`` (a Snapshot) in its environment, in
    short (source, rate, customers, tied, untrusted ids, first credit, calls, seconds); None without one.
    ``chain``: the environment's snapshots already listed (``store.chain``), read instead of the store."""
    found = None
    for snap in _fetched_of(snapshot, chain):
        if snap.as_of <= snapshot.as_of and isinstance(snap.manifest.get("history"), Mapping):
            found = snap.manifest["history"]
    if found is None:
        return None
    t = found.get("tie_out") or {}
    return {"source_snapshot": found.get("source_snapshot"), "tie_out_rate": t.get("rate"),
            "customers": t.get("customers"), "tied": t.get("tied"),
            "untrusted_customer_ids": t.get("untrusted_customer_ids") or [],
            "first_credit": found.get("first_credit"), "api_calls": found.get("api_calls"),
            "seconds": found.get("seconds")}


def summary_line(summary: Mapping[str, Any] | None) -> str:
    """The tie-out in words, for the report: '717 of 717 customers tie out (100.00%) ...'."""
    if not summary:
        return "not rebuilt (run credit-reports history)"
    rate = summary.get("tie_out_rate") or 0.0
    left = len(summary.get("untrusted_customer_ids") or [])
    first = first_credit_text(summary)
    return (f"{summary.get('tied')} of {summary.get('customers')} customers tie out ({rate:.2%}); rebuilt from "
            f"Paddle's transactions from the first credit ({first}); {left} left out of the reconstructed month ends")


def first_credit_text(summary: Mapping[str, Any] | None) -> str:
    """When the rebuilt history's first credit arrived, as every time in the report reads
    (``25 May 2023, 10:00:00 UTC``); ``-`` when unknown."""
    first = (summary or {}).get("first_credit")
    return display(first) if first else "-"


def untrusted_table(snapshot: Any, chain: Sequence[store.Snapshot] | None = None) -> pd.DataFrame:
    """The customers and currencies whose rebuilt balance does not equal Paddle's at the newest history at or
    before ``snapshot`` (``tieout.parquet``), largest difference in outstanding first; empty without one.
    ``chain``: the environment's snapshots already listed, read instead of the store."""
    summary = stored_summary(snapshot, chain)
    empty = files.empty_frame(hist.TIE_OUT_DTYPES)
    if summary is None:
        return empty
    source = store.load_snapshot(summary["source_snapshot"], data_dir=snapshot.path.parent.parent.parent,
                                 environment=snapshot.environment, among=list(chain) if chain is not None else None)
    path = source.file("tieout.parquet")
    if not path.exists():
        return empty
    tie = files.read_table(path, hist.TIE_OUT_DTYPES)
    bad = tie[~tie["ties_out"]].copy()
    order = (bad["difference_available"] + bad["difference_reserved"]).abs()
    return bad.assign(_o=order).sort_values("_o", ascending=False, kind="mergesort").drop(columns="_o") \
        .reset_index(drop=True)


def reconstructed_note(chain: Sequence[store.Snapshot]) -> str | None:
    """A sentence on the reconstructed month ends in ``chain`` (how many, from when, which carry estimated
    timing), for the trend and roll-forward notes; None when there are none."""
    rebuilt = [s for s in chain if s.manifest.get("reconstructed")]
    if not rebuilt:
        return None
    estimated = [s for s in rebuilt if (s.manifest.get("estimated_timing") or {}).get("customers")]
    text = (f"{len(rebuilt)} month ends ({rebuilt[0].as_of:%b %Y} to {rebuilt[-1].as_of:%b %Y}) are reconstructed "
            "from Paddle's transactions (credit-reports history), not fetched")
    if estimated:
        most = max(estimated, key=lambda s: s.manifest["estimated_timing"]["customers"])
        text += (f"; {len(estimated)} of them carry estimated timing (a movement of uncertain date could move "
                 f"the month end for a few customers, at most {most.manifest['estimated_timing']['customers']} "
                 f"in {most.as_of:%b %Y}; each month end's manifest names them)")
    return text + "."


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
