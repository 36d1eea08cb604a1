"""Seller credits behind a window's movements (rule R1, docs/credit-rules.md "Seller credits"), and the
credit a refunded transaction had created (docs/credit-rules.md "Refunds").

Paddle's ``details.totals.credit`` counts both the balance credit applied to a transaction and the seller
credits (``action: credit``, ``credit_applied_to_balance: false``) approved on it while it was billed. A stream
of events shows the seller credits approved inside it (``adjustment.*`` events); one approved before the stream
began is asked of Paddle, ``GET /adjustments?transaction_id=...&action=credit``, for the few transactions that
need it: those whose credit is used or released in the stream and that were billed before it began (only a
billed transaction can take a seller credit). Likewise an approved refund in the stream of a transaction the
stream does not show is asked of Paddle (``GET /transactions?id=...``, 30 ids a call): refunding a transaction
that created credit takes its share of that credit back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from credit_reports.core.errors import PermissionDeniedError
from credit_reports.core.timestamps import parse as parse_time
from credit_reports.fetch import door
from credit_reports.ledger import rules
from credit_reports.ledger.movements import events_to_movements, seller_credit

if TYPE_CHECKING:
    from credit_reports.paddle.client import PaddleClient

__all__ = ["refunds_to_look_up", "stream_movements", "transactions_to_look_up"]

log = logging.getLogger("credit_reports.seller_credits")

#: Transaction ids per ``/adjustments`` call (Paddle accepts a comma-separated list).
IDS_PER_CALL = 50
#: Transaction ids per ``/transactions?id=`` call: Paddle serves 30 transactions a page at most.
TRANSACTIONS_PER_CALL = 30


def _first_events(events: Iterable[Mapping[str, Any]]) -> dict[str, pd.Timestamp]:
    """When each transaction's first event in the stream occurred."""
    first: dict[str, pd.Timestamp] = {}
    for event in events:
        if not str(event.get("event_type", "")).startswith("transaction.") or not event.get("occurred_at"):
            continue
        txn_id = str((event.get("data") or {}).get("id") or "")
        when = parse_time(event["occurred_at"])
        if txn_id and (txn_id not in first or when < first[txn_id]):
            first[txn_id] = when
    return first


def transactions_to_look_up(events: list[Mapping[str, Any]], moves: pd.DataFrame) -> list[str]:
    """The transactions of used/released movements that were billed before the stream began: seller credits
    approved on them before the stream are not in it (one approved within it is, and is not asked again)."""
    first = _first_events(events)
    billed_before: dict[str, bool] = {}
    for event in events:
        data = event.get("data") or {}
        txn_id = str(data.get("id") or "")
        if str(event.get("event_type", "")).startswith("transaction.") and data.get("billed_at") and txn_id in first:
            billed_before[txn_id] = parse_time(data["billed_at"]) <= first[txn_id]  # equal: one stamp
    wanted = moves[moves["kind"].isin(["used", "released"])]["transaction_id"].tolist()
    return [t for t in dict.fromkeys(wanted) if billed_before.get(t)]


def _look_up(client: PaddleClient, wanted: list[str], shown: set[str]) -> dict[str, int]:
    """Approved seller credits of ``wanted`` transactions that the stream does not show (``shown``: the
    adjustment ids it has): those were approved before it began."""
    found: dict[str, int] = {}
    ids = sorted(wanted)
    for i in range(0, len(ids), IDS_PER_CALL):
        chunk = ids[i:i + IDS_PER_CALL]
        for adj in door.checked_adjustments(client.paginate("/adjustments", {"transaction_id": ",".join(chunk),
                                                                             "action": "credit"})):
            txn_id = str(adj.get("transaction_id") or "")
            if txn_id in chunk and str(adj.get("id") or "") not in shown:
                found[txn_id] = found.get(txn_id, 0) + seller_credit(adj)
    return {t: a for t, a in found.items() if a}


def refunds_to_look_up(events: list[Mapping[str, Any]], known: Mapping[str, Any]) -> list[str]:
    """Transactions of approved refunds in the stream that no ``transaction.*`` event of it shows (and that
    ``known`` does not hold): whether they created credit must be asked."""
    shown = {str((e.get("data") or {}).get("id") or "") for e in events
             if str(e.get("event_type", "")).startswith("transaction.")}
    wanted = []
    for event in events:
        data = event.get("data") or {}
        if str(event.get("event_type", "")).startswith("adjustment.") and data.get("action") == "refund" \
                and data.get("status") == "approved" and data.get("transaction_id"):
            txn_id = str(data["transaction_id"])
            if txn_id not in shown and txn_id not in known:
                wanted.append(txn_id)
    return list(dict.fromkeys(wanted))


def _created(client: PaddleClient, wanted: list[str]) -> dict[str, dict[str, Any]]:
    """What each of ``wanted`` created and charged (``{transaction_id: {"credit_to_balance", "charged"}}``),
    every transaction asked for present (zeros when Paddle does not list it)."""
    found: dict[str, dict[str, Any]] = {t: {"credit_to_balance": "0", "charged": "0"} for t in wanted}
    for i in range(0, len(wanted), TRANSACTIONS_PER_CALL):
        chunk = wanted[i:i + TRANSACTIONS_PER_CALL]
        for txn in client.paginate("/transactions", {"id": ",".join(chunk)}):
            txn_id = str(txn.get("id") or "")
            if txn_id in found:
                totals = (txn.get("details") or {}).get("totals") or {}
                found[txn_id] = {"credit_to_balance": totals.get("credit_to_balance") or "0",
                                 "charged": str(rules.charged(txn))}
    return found


def stream_movements(client: PaddleClient | None, events: list[Mapping[str, Any]],
                     known: dict[str, int] | None = None,
                     refunded: dict[str, dict[str, Any]] | None = None) -> tuple[pd.DataFrame, int]:
    """The movements of a stream of events with R1 applied: (movements, transactions looked up now).

    Without a client (or when nothing needs it) only the seller credits the stream shows are subtracted.
    ``known`` caches what earlier calls on a longer prefix of the same stream looked up (``{transaction_id:
    amount}``, 0 for none): a point-in-time correction that reads more events asks only about new transactions.
    ``refunded`` caches, the same way, what refunded transactions the stream does not show created
    (:func:`refunds_to_look_up`); their refunds take that credit back. The count returned includes both asks.
    """
    known = {} if known is None else known
    moves = events_to_movements(events)
    wanted = [t for t in transactions_to_look_up(events, moves) if t not in known] if client is not None \
        and len(moves) else []
    if wanted:
        shown = {str((e.get("data") or {}).get("id") or "") for e in events
                 if str(e.get("event_type", "")).startswith("adjustment.")}
        try:
            found = _look_up(client, wanted, shown)  # type: ignore[arg-type]
        except PermissionDeniedError:
            log.warning("the key lacks adjustment.read: seller credits approved before the window on %d "
                        "transaction(s) cannot be told from balance credit (R1); their used credit may be "
                        "overstated", len(wanted))
            found = {}
        known.update({t: found.get(t, 0) for t in wanted})
    refunded = {} if refunded is None else refunded
    asked = refunds_to_look_up(events, refunded) if client is not None else []
    if asked:
        try:
            refunded.update(_created(client, asked))  # type: ignore[arg-type]
        except PermissionDeniedError:
            log.warning("the key lacks transaction.read: %d refunded transaction(s) outside the window cannot be "
                        "checked for credit they created; a refund that took such credit back shows as "
                        "unexplained", len(asked))
            refunded.update({t: {"credit_to_balance": "0", "charged": "0"} for t in asked})
    credits = {t: a for t, a in known.items() if a}
    created = {t: c for t, c in refunded.items() if rules.amount(c.get("credit_to_balance")) > 0}
    if credits or created:
        moves = events_to_movements(events, seller_credits=credits, created=created)
    return moves, len(wanted) + len(asked)
