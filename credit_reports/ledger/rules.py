"""The credit rules, written once (docs/credit-rules.md, R1-R5 and the refund rule).

Both ways of finding movements call this module and nothing else for a rule: :mod:`.movements` (Paddle's
events, read oldest first) and :mod:`.rebuild` (a transaction's final state and its status history). Here
live the effect of each movement kind on the three buckets, the one movement row, the amounts and times as
Paddle writes them, the balance credit of a transaction (R1, seller credits), what an adjustment moves, what
a completion moves, what refunding a transaction that created credit takes back, and Paddle's 90-day event
window. A rule changed here changes both paths, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

import pandas as pd

from credit_reports.core.money import parse_minor
from credit_reports.core.timestamps import paddle_time

__all__ = [
    "EFFECT",
    "EVENT_WINDOW",
    "KINDS",
    "Movement",
    "adjustment_kind",
    "amount",
    "balance_credit",
    "charged",
    "completion",
    "movement_row",
    "paddle_time",
    "refund_reversal",
    "seller_credit",
]

#: Paddle serves events of the last 90 days only (the one declaration; every module reads this one).
EVENT_WINDOW = pd.Timedelta(days=90)
#: The kinds of movement, in the order a statement lists movements of the same moment.
KINDS: tuple[str, ...] = ("issued", "reversed", "reserved", "released", "used", "refund")
#: (available_delta, reserved_delta, used_delta) per unit of amount, per effect. ``used`` has two effects:
#: from reserved (the transaction was billed first) or straight from available (collected at once).
EFFECT: dict[str, tuple[int, int, int]] = {
    "issued": (1, 0, 0),
    "reversed": (-1, 0, 0),
    "reserved": (-1, 1, 0),
    "released": (1, -1, 0),
    "used_from_available": (-1, 0, 1),
    "used_from_reserved": (0, -1, 1),
    "refund": (0, 0, 0),
}


class Movement(TypedDict):
    """One movement of credit: a row of ``movements.parquet`` (``store.files.MOVEMENT_DTYPES``, same columns)."""

    kind: str
    customer_id: str
    currency_code: str
    amount: int
    available_delta: int
    reserved_delta: int
    used_delta: int
    occurred_at: Any  # a Paddle time string or a UTC Timestamp; the frame makes it datetime64[us, UTC]
    source: str
    event_id: str
    transaction_id: str
    adjustment_id: str


def amount(value: Any) -> int:
    """A Paddle amount (integer string or int, minor units) as an int; missing or empty means 0 (Paddle's
    newer and older payloads omit fields); anything else goes through the one parser, :func:`parse_minor`."""
    if value is None or value == "":
        return 0
    return parse_minor(value)


def movement_row(kind: str, effect: str, value: int, entity: Mapping[str, Any], when: Any, *, source: str,
                 event_id: str = "", transaction_id: str = "", adjustment_id: str = "") -> Movement:
    """One :class:`Movement` (the columns of ``store.MOVEMENT_DTYPES``): ``kind`` of ``value`` minor units with the
    deltas of ``effect``, for the customer and currency of ``entity`` (a transaction or adjustment), at
    ``when``, proved by the ids given (empty when not applicable)."""
    a, r, u = EFFECT[effect]
    return {
        "kind": kind,
        "customer_id": entity.get("customer_id") or "",
        "currency_code": entity.get("currency_code") or "",
        "amount": value,
        "available_delta": a * value,
        "reserved_delta": r * value,
        "used_delta": u * value,
        "occurred_at": when,
        "source": source,
        "event_id": event_id or "",
        "transaction_id": transaction_id or "",
        "adjustment_id": adjustment_id or "",
    }


def _adjustment_total(adjustment: Mapping[str, Any]) -> int:
    """``totals.total`` of a listed adjustment, or ``total`` of its compact form, as a positive amount."""
    totals = adjustment.get("totals")
    value = totals.get("total") if isinstance(totals, Mapping) else adjustment.get("total")
    return abs(amount(value))


def seller_credit(adjustment: Mapping[str, Any]) -> int:
    """The amount of an approved seller credit (``action: credit``, ``credit_applied_to_balance: false``),
    else 0: credit that lowers what a billed transaction asks for and never reaches a balance (R1)."""
    if (adjustment.get("status") != "approved" or adjustment.get("action") != "credit"
            or adjustment.get("credit_applied_to_balance") is not False):
        return 0
    return _adjustment_total(adjustment)


def balance_credit(credit: int, seller: int) -> int:
    """R1: the credit a transaction takes from the customer's balance is ``details.totals.credit`` less the
    seller credits approved on it (Paddle's ``credit`` counts both), never below 0."""
    return max(0, int(credit) - int(seller))


def adjustment_kind(adjustment: Mapping[str, Any], *, approved: bool) -> str | None:
    """The movement kind an adjustment makes once approved (``approved``: it reads, or once read, approved),
    or None: a balance credit (``credit``, ``credit_applied_to_balance: true``) is ``issued``, an approved
    ``credit_reverse`` is ``reversed``, an approved refund a ``refund`` row that moves nothing (R4). The kind
    is also its effect. Seller credits, chargebacks, pending and rejected adjustments move nothing."""
    if not approved or _adjustment_total(adjustment) <= 0:
        return None
    action = adjustment.get("action")
    if action == "credit" and adjustment.get("credit_applied_to_balance") is True:
        return "issued"
    if action == "credit_reverse":
        return "reversed"
    if action == "refund":
        return "refund"
    return None


def completion(credit_to_balance: int, balance: int, *, from_reserved: bool) -> list[tuple[str, str, int]]:
    """What a transaction's completion moves, as (kind, effect, amount): ``credit_to_balance`` is issued
    (R5) and the balance credit used, from reserved when the transaction was billed first (R2)."""
    out = []
    if credit_to_balance > 0:
        out.append(("issued", "issued", credit_to_balance))
    if balance > 0:
        out.append(("used", "used_from_reserved" if from_reserved else "used_from_available", balance))
    return out


def charged(transaction: Mapping[str, Any]) -> int:
    """What a transaction charged before any credit: the sum of its positive ``details.line_items`` totals
    (a prorated change also carries negative lines, the credit it creates), or ``charged`` of its compact
    form. The base of a partial refund's share (:func:`refund_reversal`)."""
    if "charged" in transaction:
        return amount(transaction.get("charged"))
    lines = (transaction.get("details") or {}).get("line_items") or ()
    totals = [amount((line.get("totals") or {}).get("total")) for line in lines if isinstance(line, Mapping)]
    return sum(t for t in totals if t > 0)


def refund_reversal(refund: Mapping[str, Any], transaction: Mapping[str, Any]) -> int:
    """Credit an approved refund takes back from the balance. Paddle's Help ("How do I issue refunds?",
    quoted in docs/credit-rules.md "Refunds") says refunding a transaction that *created* a credit balance
    reduces that balance automatically, partial refunds proportionally. So (*chosen* where Paddle is silent on
    the arithmetic): the created credit (``credit_to_balance``) times the refunded share of what the
    transaction charged (:func:`charged`), rounded down to the minor unit, at most all of it; all of it for a
    ``type: full`` refund. A transaction that created no credit gives 0: R4 stands for the rest.

    ``transaction`` is Paddle's transaction (``details.totals``) or its compact form (flat
    ``credit_to_balance`` and ``charged``).
    """
    if refund.get("action") != "refund" or refund.get("status") != "approved":
        return 0
    details = transaction.get("details")
    totals = details.get("totals") if isinstance(details, Mapping) else transaction
    created = amount((totals or {}).get("credit_to_balance"))
    if created <= 0:
        return 0
    refunded, base = _adjustment_total(refund), charged(transaction)
    if refund.get("type") == "full" or base <= 0 or refunded >= base:
        return created
    return created * refunded // base


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
