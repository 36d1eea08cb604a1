"""Paddle events -> credit movements, per docs/credit-rules.md, on bodies built from Paddle's own examples.

Every event here starts from a documented body (``shared/paddle/examples``: a ``transaction.*`` event of
``events_list.json`` and the ``adjustment.*`` event data) with only the fields a rule reads changed, so
the parser meets Paddle's real shapes (string amounts, extra fields, nulls). Expected amounts are
written out by hand next to each case.
"""

from __future__ import annotations

import copy
import json
from itertools import count
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from credit_reports.ledger.movements import adjustments_frame, events_to_movements, union_movements
from credit_reports.store import reader as store

CUSTOMER = "ctm_01hv6y1jedq4p1n0yqn5ba3ky4"
_ids = count(1)


@pytest.fixture(scope="module")
def examples(shared_dir: Path) -> dict[str, Any]:
    folder = shared_dir / "paddle" / "examples"
    events = json.loads((folder / "events_list.json").read_text())["data"]
    txn_event = next(e for e in events if e["event_type"] == "transaction.completed")
    adjustment = json.loads((folder / "event_adjustment_created_data.json").read_text())
    return {"transaction": txn_event["data"], "adjustment": adjustment,
            "adjustments_list": json.loads((folder / "adjustments_list.json").read_text())["data"]}


def txn_event(examples: dict[str, Any], event_type: str, when: str, *, txn_id: str, status: str,
              origin: str = "subscription_update", collection_mode: str = "automatic",
              billed_at: str | None = None, credit: str = "0", credit_to_balance: str = "0",
              currency: str = "USD") -> dict[str, Any]:
    data = copy.deepcopy(examples["transaction"])
    data.update(id=txn_id, status=status, origin=origin, collection_mode=collection_mode, billed_at=billed_at,
                customer_id=CUSTOMER, currency_code=currency)
    data["details"]["totals"].update(credit=credit, credit_to_balance=credit_to_balance, currency_code=currency)
    return {"event_id": f"evt_{next(_ids):04d}", "event_type": event_type, "occurred_at": when, "data": data}


def adj_event(examples: dict[str, Any], event_type: str, when: str, *, adj_id: str, action: str, status: str,
              total: str, applied: bool | None, txn_id: str = "txn_legacy") -> dict[str, Any]:
    data = copy.deepcopy(examples["adjustment"])
    data.update(id=adj_id, action=action, status=status, credit_applied_to_balance=applied,
                transaction_id=txn_id, customer_id=CUSTOMER, currency_code="USD")
    data["totals"]["total"] = total
    return {"event_id": f"evt_{next(_ids):04d}", "event_type": event_type, "occurred_at": when, "data": data}


def rows(frame: pd.DataFrame) -> list[tuple]:
    return [
        (r.kind, r.amount, r.available_delta, r.reserved_delta, r.used_delta, r.source,
         r.adjustment_id or r.transaction_id)
        for r in frame.itertuples()
    ]


def test_credit_to_balance_is_issued_once_when_the_transaction_first_completes(examples) -> None:
    events = [
        txn_event(examples, "transaction.created", "2026-11-02T10:00:00Z", txn_id="txn_up", status="draft",
                  credit_to_balance="1394"),
        txn_event(examples, "transaction.completed", "2026-11-02T10:00:01Z", txn_id="txn_up", status="completed",
                  credit_to_balance="1394"),
        txn_event(examples, "transaction.updated", "2026-11-02T10:00:02Z", txn_id="txn_up", status="completed",
                  credit_to_balance="1394"),
    ]
    moves = events_to_movements(events)
    assert rows(moves) == [("issued", 1394, 1394, 0, 0, "subscription_update", "txn_up")]
    assert moves.loc[0, "occurred_at"] == pd.Timestamp("2026-11-02T10:00:01Z")
    assert moves.loc[0, "event_id"] == events[1]["event_id"]
    assert moves.loc[0, "customer_id"] == CUSTOMER and moves.loc[0, "currency_code"] == "USD"


def test_renewal_credit_is_sourced_to_the_recurring_transaction_and_never_completed_credit_is_not(examples):
    events = [
        txn_event(examples, "transaction.completed", "2026-11-05T00:00:00Z", txn_id="txn_renew",
                  status="completed", origin="subscription_recurring", credit_to_balance="2500"),
        txn_event(examples, "transaction.billed", "2026-11-06T00:00:00Z", txn_id="txn_open", status="billed",
                  credit_to_balance="999"),
        txn_event(examples, "transaction.past_due", "2026-11-07T00:00:00Z", txn_id="txn_open",
                  status="past_due", credit_to_balance="999"),
    ]
    assert rows(events_to_movements(events)) == [
        ("issued", 2500, 2500, 0, 0, "subscription_recurring", "txn_renew"),
    ]


def test_manual_invoice_reserves_when_billed_and_uses_from_reserved_when_completed(examples) -> None:
    billed = "2026-11-10T09:00:00Z"
    events = [
        txn_event(examples, "transaction.billed", billed, txn_id="txn_inv", status="billed",
                  origin="subscription_recurring", collection_mode="manual", billed_at=billed, credit="500"),
        txn_event(examples, "transaction.completed", "2026-11-20T09:00:00Z", txn_id="txn_inv",
                  status="completed", origin="subscription_recurring", collection_mode="manual",
                  billed_at=billed, credit="500"),
    ]
    # available 500 -> reserved 500, then reserved 500 -> used 500
    assert rows(events_to_movements(events)) == [
        ("reserved", 500, -500, 500, 0, "subscription_recurring", "txn_inv"),
        ("used", 500, 0, -500, 500, "subscription_recurring", "txn_inv"),
    ]


def test_canceled_invoice_releases_its_reserved_credit(examples) -> None:
    billed = "2026-11-10T09:00:00Z"
    events = [
        txn_event(examples, "transaction.canceled", "2026-11-12T09:00:00Z", txn_id="txn_inv", status="canceled",
                  collection_mode="manual", billed_at=billed, credit="700"),
        txn_event(examples, "transaction.billed", billed, txn_id="txn_inv", status="billed",
                  collection_mode="manual", billed_at=billed, credit="700"),
    ]
    # given newest first, read oldest first
    assert rows(events_to_movements(events)) == [
        ("reserved", 700, -700, 700, 0, "subscription_update", "txn_inv"),
        ("released", 700, 700, -700, 0, "subscription_update", "txn_inv"),
    ]


def test_an_automatic_renewal_reserves_when_billed_and_past_due_then_uses_or_releases(examples) -> None:
    """R2: credit on any billed or past-due transaction is reserved, whatever its collection mode."""
    billed = "2026-11-03T00:00:00Z"
    renewal = {"origin": "subscription_recurring", "billed_at": billed, "credit": "300"}
    events = [
        txn_event(examples, "transaction.billed", billed, txn_id="txn_dunned", status="billed", **renewal),
        txn_event(examples, "transaction.past_due", "2026-11-04T00:00:00Z", txn_id="txn_dunned",
                  status="past_due", **renewal),
        txn_event(examples, "transaction.canceled", "2026-11-20T00:00:00Z", txn_id="txn_dunned",
                  status="canceled", **renewal),
        txn_event(examples, "transaction.billed", billed, txn_id="txn_paid", status="billed", **renewal),
        txn_event(examples, "transaction.paid", "2026-11-03T00:00:00.001Z", txn_id="txn_paid", status="paid",
                  **renewal),
        txn_event(examples, "transaction.completed", "2026-11-03T00:00:00.002Z", txn_id="txn_paid",
                  status="completed", **renewal),
    ]
    assert rows(events_to_movements(events)) == [
        ("reserved", 300, -300, 300, 0, "subscription_recurring", "txn_dunned"),
        ("reserved", 300, -300, 300, 0, "subscription_recurring", "txn_paid"),
        ("used", 300, 0, -300, 300, "subscription_recurring", "txn_paid"),
        ("released", 300, 300, -300, 0, "subscription_recurring", "txn_dunned"),
    ]


def test_a_window_that_starts_while_a_transaction_is_billed_uses_from_reserved_and_never_reserves_again(
        examples) -> None:
    """The billing fell in an earlier window: ``billed_at`` before the transaction's first event here."""
    billed = "2026-10-28T00:00:00Z"
    events = [
        txn_event(examples, "transaction.past_due", "2026-11-02T00:00:00Z", txn_id="txn_old", status="past_due",
                  origin="subscription_recurring", billed_at=billed, credit="450"),
        txn_event(examples, "transaction.completed", "2026-11-09T00:00:00Z", txn_id="txn_old",
                  status="completed", origin="subscription_recurring", billed_at=billed, credit="450"),
    ]
    assert rows(events_to_movements(events)) == [
        ("used", 450, 0, -450, 450, "subscription_recurring", "txn_old"),
    ]


def test_a_transaction_collected_at_once_uses_from_available_and_updates_after_it_move_nothing(examples):
    done = "2026-11-05T00:00:00Z"
    events = [
        txn_event(examples, "transaction.created", "2026-11-04T23:59:59Z", txn_id="txn_auto", status="ready",
                  origin="subscription_recurring", credit="1200"),
        txn_event(examples, "transaction.completed", done, txn_id="txn_auto", status="completed",
                  origin="subscription_recurring", billed_at=done, credit="1200"),
        txn_event(examples, "transaction.updated", "2026-11-06T00:00:00Z", txn_id="txn_auto",
                  status="completed", origin="subscription_recurring", billed_at=done, credit="1200"),
    ]
    assert rows(events_to_movements(events)) == [
        ("used", 1200, -1200, 0, 1200, "subscription_recurring", "txn_auto"),
    ]
    # a later window sees only the update: no movement (it is not a completion)
    assert rows(events_to_movements(events[2:])) == []


def test_seller_credit_on_a_billed_invoice_is_not_balance_credit(examples) -> None:
    """R1: Paddle's ``credit`` counts balance credit and seller credits; only the first moves a balance."""
    billed = "2026-11-10T09:00:00Z"
    invoice = {"origin": "subscription_recurring", "collection_mode": "manual", "billed_at": billed}
    events = [
        txn_event(examples, "transaction.billed", billed, txn_id="txn_inv", status="billed", credit="500",
                  **invoice),
        adj_event(examples, "adjustment.created", "2026-11-11T09:00:00Z", adj_id="adj_goodwill", action="credit",
                  status="approved", total="250", applied=False, txn_id="txn_inv"),
        txn_event(examples, "transaction.updated", "2026-11-11T09:00:00.001Z", txn_id="txn_inv", status="billed",
                  credit="750", **invoice),
        txn_event(examples, "transaction.completed", "2026-11-20T09:00:00Z", txn_id="txn_inv",
                  status="completed", credit="750", **invoice),
        # an invoice with only a seller credit: credit 400, all of it the seller's
        adj_event(examples, "adjustment.created", "2026-11-12T00:00:00Z", adj_id="adj_only", action="credit",
                  status="approved", total="400", applied=False, txn_id="txn_seller"),
        txn_event(examples, "transaction.completed", "2026-11-21T00:00:00Z", txn_id="txn_seller",
                  status="completed", credit="400", **invoice),
    ]
    assert rows(events_to_movements(events)) == [
        ("reserved", 500, -500, 500, 0, "subscription_recurring", "txn_inv"),
        ("used", 500, 0, -500, 500, "subscription_recurring", "txn_inv"),
    ]
    # a window that begins after the seller credit was approved learns it from /adjustments?transaction_id=
    later = events[3:4]
    assert rows(events_to_movements(later)) == [("used", 750, 0, -750, 750, "subscription_recurring", "txn_inv")]
    assert rows(events_to_movements(later, seller_credits={"txn_inv": 250})) == [
        ("used", 500, 0, -500, 500, "subscription_recurring", "txn_inv"),
    ]


def test_legacy_credit_counts_once_approved_and_the_reversal_not_the_reversed_status(examples) -> None:
    events = [
        adj_event(examples, "adjustment.created", "2024-01-10T00:00:00Z", adj_id="adj_legacy", action="credit",
                  status="pending_approval", total="4000", applied=True),
        adj_event(examples, "adjustment.updated", "2024-01-11T00:00:00Z", adj_id="adj_legacy", action="credit",
                  status="approved", total="4000", applied=True),
        adj_event(examples, "adjustment.created", "2024-01-12T00:00:00Z", adj_id="adj_reverse",
                  action="credit_reverse", status="approved", total="-1500", applied=None),
        adj_event(examples, "adjustment.updated", "2024-01-12T00:00:01Z", adj_id="adj_legacy", action="credit",
                  status="reversed", total="4000", applied=True),
        adj_event(examples, "adjustment.created", "2024-01-13T00:00:00Z", adj_id="adj_pending", action="credit",
                  status="pending_approval", total="900", applied=True),
        adj_event(examples, "adjustment.created", "2024-01-14T00:00:00Z", adj_id="adj_rejected", action="credit",
                  status="rejected", total="800", applied=True),
    ]
    moves = events_to_movements(events)
    assert rows(moves) == [
        ("issued", 4000, 4000, 0, 0, "adjustment", "adj_legacy"),
        ("reversed", 1500, -1500, 0, 0, "adjustment", "adj_reverse"),
    ]
    assert list(moves["transaction_id"]) == ["txn_legacy", "txn_legacy"]  # both ids kept as proof


def test_seller_credits_and_refunds_never_move_a_balance(examples) -> None:
    events = [
        adj_event(examples, "adjustment.created", "2026-11-01T00:00:00Z", adj_id="adj_seller", action="credit",
                  status="approved", total="2500", applied=False),
        adj_event(examples, "adjustment.created", "2026-11-01T00:00:01Z", adj_id="adj_refund", action="refund",
                  status="approved", total="100", applied=None),
        adj_event(examples, "adjustment.created", "2026-11-01T00:00:02Z", adj_id="adj_chargeback",
                  action="chargeback", status="approved", total="100", applied=None),
        {"event_id": "evt_sub", "event_type": "subscription.updated", "occurred_at": "2026-11-01T00:00:03Z",
         "data": {"id": "sub_1", "customer_id": CUSTOMER}},
    ]
    moves = events_to_movements(events)
    # the refund is kept as evidence (R4: no credit comes back), with no effect on any bucket
    assert rows(moves) == [("refund", 100, 0, 0, 0, "adjustment", "adj_refund")]


def test_movements_keep_only_the_documented_columns_and_dtypes(examples) -> None:
    event = txn_event(examples, "transaction.completed", "2026-11-02T10:00:01Z", txn_id="txn_up",
                      status="completed", credit_to_balance="1394")
    moves = events_to_movements([event])
    assert {c: str(t) for c, t in moves.dtypes.items()} == store.MOVEMENT_DTYPES
    flat = json.dumps(moves.astype(str).to_dict("records"))
    for leaked in ("address_id", "items", "payments", "earnings", "66000"):
        assert leaked not in flat  # nothing of the event body beyond the movement's fields
    assert events_to_movements([]).columns.tolist() == list(store.MOVEMENT_DTYPES)


def test_union_of_two_windows_counts_a_movement_seen_in_both_once(examples) -> None:
    event = txn_event(examples, "transaction.completed", "2026-11-02T10:00:01Z", txn_id="txn_up",
                      status="completed", credit_to_balance="1394")
    later = txn_event(examples, "transaction.updated", "2026-11-03T10:00:01Z", txn_id="txn_up",
                      status="completed", credit_to_balance="1394")
    both = union_movements([events_to_movements([event]), events_to_movements([later])])
    assert rows(both) == [("issued", 1394, 1394, 0, 0, "subscription_update", "txn_up")]
    assert both.loc[0, "event_id"] == event["event_id"]  # the earliest evidence is kept


def test_adjustments_frame_keeps_the_listed_credit_adjustments(examples) -> None:
    frame = adjustments_frame(examples["adjustments_list"])
    assert {c: str(t) for c, t in frame.dtypes.items()} == store.ADJUSTMENT_DTYPES
    approved = frame[frame["id"] == "adj_01h7jgzjqt2s8sab70e03ptkhv"].iloc[0]
    assert approved["action"] == "credit" and approved["status"] == "approved"
    assert approved["total"] == 71984 and bool(approved["credit_applied_to_balance"]) is True
    assert approved["transaction_id"] == "txn_01h7jgd9bkwjscj3ae15g5d3vs"
    assert approved["created_at"] == pd.Timestamp("2023-08-11T14:46:04.811464Z")
    refund = frame[frame["id"] == "adj_01h8c65c2ggq5nxswnnwv78e75"].iloc[0]
    assert pd.isna(refund["credit_applied_to_balance"]) and refund["total"] == 100
    assert int(frame["total"].sum()) == 100 + 163297 + 71984 + 35986 + 76990
