"""Seller credits behind a window's movements (rule R1, docs/credit-rules.md "Seller credits").

Paddle's ``details.totals.credit`` counts both the balance credit applied to a transaction and the seller
credits (``action: credit``, ``credit_applied_to_balance: false``) approved on it while it was billed. A stream
of events shows the seller credits approved inside it (``adjustment.*`` events); one approved before the stream
began is asked of Paddle, ``GET /adjustments?transaction_id=...&action=credit``, for the few transactions that
need it: those whose credit is used or released in the stream and that were billed before it began (only a
billed transaction can take a seller credit).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from credit_reports.core.errors import PermissionDeniedError
from credit_reports.core.timestamps import parse as parse_time
from credit_reports.fetch import door
from credit_reports.ledger.movements import events_to_movements, seller_credit

if TYPE_CHECKING:
    from credit_reports.paddle.client import PaddleClient

__all__ = ["stream_movements", "transactions_to_look_up"]

log = logging.getLogger("credit_reports.seller_credits")

#: Transaction ids per ``/adjustments`` call (Paddle accepts a comma-separated list).
IDS_PER_CALL = 50


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
            billed_before[txn_id] = parse_time(data["billed_at"]) < first[txn_id]
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


def stream_movements(client: PaddleClient | None, events: list[Mapping[str, Any]],
                     known: dict[str, int] | None = None) -> tuple[pd.DataFrame, int]:
    """The movements of a stream of events with R1 applied: (movements, transactions looked up now).

    Without a client (or when nothing needs it) only the seller credits the stream shows are subtracted.
    ``known`` caches what earlier calls on a longer prefix of the same stream looked up (``{transaction_id:
    amount}``, 0 for none): a point-in-time correction that reads more events asks only about new transactions.
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
    credits = {t: a for t, a in known.items() if a}
    return (events_to_movements(events, seller_credits=credits) if credits else moves), len(wanted)
