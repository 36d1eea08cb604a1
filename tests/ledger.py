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
