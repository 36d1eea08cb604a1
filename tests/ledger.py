"""Expected figures added up by hand from the simulator's ledger, never by the code under test.

The rows are ``sim.account.expected_balances()`` (one dict per customer and currency with integer
``available``, ``reserved`` and ``used`` in minor units). Every test that checks a total against the
ledger sums it here, so "what the ledger says" has one definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: The figures summed per currency; ``outstanding`` is available + reserved (docs/credit-rules.md).
FIGURES = ("available", "reserved", "used", "outstanding")


def currency_sums(rows: Iterable[Mapping[str, Any]], *, holders: bool = False) -> dict[str, dict[str, int]]:
    """``{currency: {available, reserved, used, outstanding}}`` in minor units, each currency on its own.

    With ``holders``, also ``customers_with_credit``: customers whose outstanding credit is above zero.
    """
    sums: dict[str, dict[str, int]] = {}
    for row in rows:
        figures = sums.setdefault(str(row["currency_code"]), dict.fromkeys(
            (*FIGURES, "customers_with_credit") if holders else FIGURES, 0))
        available, reserved, used = int(row["available"]), int(row["reserved"]), int(row["used"])
        figures["available"] += available
        figures["reserved"] += reserved
        figures["used"] += used
        figures["outstanding"] += available + reserved
        if holders:
            figures["customers_with_credit"] += int(available + reserved > 0)
    return sums


def outstanding(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """``{currency: outstanding credit}`` in minor units (available + reserved)."""
    return {code: figures["outstanding"] for code, figures in currency_sums(rows).items()}


def point_in_time(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], tuple[int, int, int]]:
    """``{(customer_id, currency_code): (available, reserved, used)}`` of ledger rows, e.g.
    ``account.expected_balances(at=as_of)``: what a point-in-time snapshot as of ``as_of`` must hold for every
    customer and currency (rows that are all zero are left out, as Paddle serves none for them)."""
    return {(str(r["customer_id"]), str(r["currency_code"])): (int(r["available"]), int(r["reserved"]), int(r["used"]))
            for r in rows if int(r["available"]) or int(r["reserved"]) or int(r["used"])}


def seller_credits(adjustments: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """``{transaction_id: approved seller credit}`` from ``/adjustments`` items: ``action: credit`` with
    ``credit_applied_to_balance: false``, status ``approved`` (docs/credit-rules.md R1)."""
    out: dict[str, int] = {}
    for adj in adjustments:
        if adj.get("action") == "credit" and adj.get("credit_applied_to_balance") is False \
                and adj.get("status") == "approved":
            out[str(adj["transaction_id"])] = out.get(str(adj["transaction_id"]), 0) + int(adj["totals"]["total"])
    return out


def balance_credit(transaction: Mapping[str, Any], sellers: Mapping[str, int]) -> int:
    """R1: the customer's balance credit on a transaction, its ``details.totals.credit`` less the approved
    seller credits on it (``seller_credits``), never below 0."""
    credit = int(transaction["details"]["totals"]["credit"])
    return max(0, credit - sellers.get(str(transaction["id"]), 0))
