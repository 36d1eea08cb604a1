"""The simulator's credit ledger: time-stamped movements, each with the Paddle ids that prove it.

Every change to a credit balance is one :class:`Entry`, with the same vocabulary as ``docs/credit-rules.md``
(``issued``, ``reversed``, ``reserved``, ``released``, ``used``), its effect on each bucket, the moment it
happened (ms) and the transaction, adjustment and event behind it. Replaying the entries up to a moment gives
the balances at that moment; the entries between two moments are the movements a reconciliation must find.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from .ids import iso

KINDS = ("issued", "reversed", "reserved", "released", "used", "refunded")


class Entry(NamedTuple):
    """One movement of credit: when, what, whose, how much, and the Paddle ids behind it."""

    ms: int
    kind: str
    customer_id: str
    currency_code: str
    amount: int
    available_delta: int
    reserved_delta: int
    used_delta: int
    source: str
    transaction_id: str
    adjustment_id: str
    event_id: str


def deltas(kind: str, amount: int, from_reserved: bool = False) -> tuple[int, int, int]:
    """(available, reserved, used) change of a movement of ``kind`` (credit-rules.md, "Where credit goes")."""
    if kind == "issued":
        return amount, 0, 0
    if kind == "reversed":
        return -amount, 0, 0
    if kind == "reserved":
        return -amount, amount, 0
    if kind == "released":
        return amount, -amount, 0
    if kind == "refunded":  # only with refund_returns_credit, which breaks credit-rules.md R4 on purpose
        return amount, 0, -amount
    if kind == "used":
        return (0, -amount, amount) if from_reserved else (-amount, 0, amount)
    raise ValueError(f"unknown ledger entry kind {kind!r}")


def apply(balances: dict[str, dict[str, list[int]]], entry: Entry) -> None:
    """Apply one entry to a ``{customer: {currency: [available, reserved, used]}}`` map."""
    row = balances.setdefault(entry.customer_id, {}).setdefault(entry.currency_code, [0, 0, 0])
    row[0] += entry.available_delta
    row[1] += entry.reserved_delta
    row[2] += entry.used_delta


def replay(entries: Iterable[Entry], at: int | None = None) -> list[dict[str, Any]]:
    """Balances from an empty ledger, counting entries at or before ``at`` ms (every entry when None).

    One dict per customer and currency, amounts as ints in minor units, sorted by customer and currency.
    """
    balances: dict[str, dict[str, list[int]]] = {}
    for entry in entries:
        if at is None or entry.ms <= at:
            apply(balances, entry)
    return [
        {"customer_id": cid, "currency_code": currency, "available": row[0], "reserved": row[1], "used": row[2]}
        for cid in sorted(balances)
        for currency, row in sorted(balances[cid].items())
    ]


def movements(entries: Iterable[Entry], start: int | None = None, end: int | None = None) -> list[dict[str, Any]]:
    """Entries with ``start < ms <= end`` as movement rows (credit-rules.md, "Movements"), oldest first."""
    rows = [
        {
            "kind": e.kind, "customer_id": e.customer_id, "currency_code": e.currency_code, "amount": e.amount,
            "available_delta": e.available_delta, "reserved_delta": e.reserved_delta, "used_delta": e.used_delta,
            "occurred_at": iso(e.ms), "occurred_ms": e.ms, "source": e.source, "event_id": e.event_id,
            "transaction_id": e.transaction_id, "adjustment_id": e.adjustment_id,
        }
        for e in entries
        if (start is None or e.ms > start) and (end is None or e.ms <= end)
    ]
    rows.sort(key=lambda r: (r["occurred_ms"], r["event_id"], r["kind"]))
    return rows


__all__ = ["KINDS", "Entry", "apply", "deltas", "movements", "replay"]
