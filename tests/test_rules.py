"""The credit rules written once (ledger/rules.py): the event-based movements and the history rebuild give
identical rows for the same transactions, and the movements of one moment never depend on listing order."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from credit_reports.ledger import rebuild, rules
from credit_reports.ledger.movements import events_to_movements
from credit_reports.paddle.client import PaddleClient
from credit_reports.simulator import CURRENT_PADDLE
from credit_reports.store import files

RPM = 60_000
COLUMNS = list(files.MOVEMENT_DTYPES)


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    out = files.conform(frame, files.MOVEMENT_DTYPES)[COLUMNS]
    return out.sort_values(["occurred_at", "kind", "transaction_id", "adjustment_id"]).reset_index(drop=True)


def test_events_and_the_history_rebuild_give_identical_rows_for_the_same_transactions(make_sim):
    """Every transaction and adjustment whose whole life lies inside Paddle's event window gives the same
    rows, column for column, read from its events (movements.py) or from its final state (rebuild.py)."""
    sim = make_sim(customers=150, seed=31, **CURRENT_PADDLE)
    with PaddleClient(api_key=sim.api_key, base_url=sim.base_url, max_rpm=RPM) as client:
        events = list(client.paginate("/events", {"per_page": 200}))
        txns = list(client.paginate("/transactions", {"status": "billed,paid,past_due,completed,canceled"}))
        adjs = list(client.paginate("/adjustments", {"per_page": 50}))
    horizon = min(rules.paddle_time(e["occurred_at"]) for e in events)
    inside = {t["id"] for t in txns if rules.paddle_time(t["created_at"]) > horizon}
    inside |= {a["id"] for a in adjs if rules.paddle_time(a["created_at"]) > horizon}

    def mine(frame: pd.DataFrame) -> pd.DataFrame:
        key = frame["adjustment_id"].where(frame["adjustment_id"] != "", frame["transaction_id"])
        return _rows(frame[key.isin(inside)])

    from_events = mine(events_to_movements(events))
    from_state = mine(rebuild.rebuild(txns, adjs, events))
    assert len(from_events) > 30 and {"issued", "reserved", "used"} <= set(from_events["kind"])
    pd.testing.assert_frame_equal(from_events, from_state)


# -- one moment, any order ------------------------------------------------------------------------------


def _txn(status: str, *, credit: int = 0, to_balance: int = 0, billed_at: str | None = None,
         collection: str = "manual") -> dict:
    return {"id": "txn_1", "status": status, "customer_id": "ctm_1", "currency_code": "USD",
            "origin": "subscription_recurring", "collection_mode": collection, "billed_at": billed_at,
            "details": {"totals": {"credit": str(credit), "credit_to_balance": str(to_balance)}}}


def _event(event_id: str, event_type: str, at: str, data: dict) -> dict:
    return {"event_id": event_id, "event_type": event_type, "occurred_at": at, "data": data}


def _seller(at: str, value: int = 777) -> dict:
    return {"id": "adj_seller", "action": "credit", "status": "approved", "credit_applied_to_balance": False,
            "customer_id": "ctm_1", "currency_code": "USD", "transaction_id": "txn_1",
            "totals": {"total": str(value)}, "type": "partial"}


T0, T1, T2 = "2026-11-02T10:00:00Z", "2026-11-02T10:00:01Z", "2026-11-09T10:00:00Z"


def _all_orders(events: list[dict]) -> list[pd.DataFrame]:
    """The movements of every listing order, the event ids also following that order (Paddle's ids within one
    millisecond say nothing of which came first); compared without ``event_id``, which names the event."""
    out = []
    for order in itertools.permutations(events):
        renamed = [dict(e, event_id=f"evt_{i}") for i, e in enumerate(order)]
        out.append(_rows(events_to_movements(renamed)).drop(columns="event_id"))
    return out


@pytest.mark.parametrize("events", [
    pytest.param([  # a seller credit on a billed invoice that applies balance credit, all in one second
        _event("evt_a", "transaction.billed", T0, _txn("billed", credit=500, billed_at=T0)),
        _event("evt_b", "adjustment.created", T0, _seller(T0)),
        _event("evt_c", "transaction.updated", T0, _txn("billed", credit=1277, billed_at=T0)),
        _event("evt_d", "transaction.completed", T2, _txn("completed", credit=1277, billed_at=T0)),
    ], id="seller-credit-and-update-share-a-stamp"),
    pytest.param([  # an automatic renewal billed, paid and completed with one stamp
        _event("evt_a", "transaction.billed", T0, _txn("billed", credit=300, billed_at=T0, collection="automatic")),
        _event("evt_b", "transaction.paid", T0, _txn("paid", credit=300, billed_at=T0, collection="automatic")),
        _event("evt_c", "transaction.completed", T0, _txn("completed", credit=300, billed_at=T0,
                                                          collection="automatic")),
    ], id="billed-paid-completed-share-a-stamp"),
    pytest.param([  # billed then past due with one stamp, released later
        _event("evt_a", "transaction.past_due", T1, _txn("past_due", credit=250, billed_at=T1)),
        _event("evt_b", "transaction.billed", T1, _txn("billed", credit=250, billed_at=T1)),
        _event("evt_c", "transaction.canceled", T2, _txn("canceled", credit=250, billed_at=T1)),
    ], id="billed-and-past-due-share-a-stamp"),
])
def test_the_movements_of_one_moment_are_the_same_in_every_listing_order(events):
    """Paddle can stamp two events with one millisecond (some accounts whole seconds): every permutation of the
    listing gives the same rows."""
    first, *rest = _all_orders(events)
    assert len(first)
    for other in rest:
        pd.testing.assert_frame_equal(first, other)


def test_seller_credit_and_billed_invoice_of_one_stamp_move_only_the_balance_credit():
    """Balance credit 500 reserved and used; the $7.77 seller credit (one stamp with the invoice's update) never
    touches a balance, whichever event is listed first (hand-computed figures)."""
    events = [
        _event("evt_c", "transaction.updated", T0, _txn("billed", credit=1277, billed_at=T0)),
        _event("evt_b", "adjustment.created", T0, _seller(T0)),
        _event("evt_a", "transaction.billed", T0, _txn("billed", credit=500, billed_at=T0)),
        _event("evt_d", "transaction.completed", T2, _txn("completed", credit=1277, billed_at=T0)),
    ]
    moves = _rows(events_to_movements(events))
    assert list(zip(moves["kind"], moves["amount"], moves["available_delta"], moves["reserved_delta"],
                    moves["used_delta"], strict=True)) == [("reserved", 500, -500, 500, 0), ("used", 500, 0, -500, 500)]


def test_a_seller_credit_whose_invoice_billing_was_read_in_the_previous_window_reserves_nothing():
    """The issue's case: whole-second stamps, the invoice billed (no balance credit) and a $7.77 seller credit
    approved in one second, the window cut inside that second. The next window starts with the invoice's
    ``transaction.updated`` (credit 777, billed_at equal to its stamp) and its later ``past_due``: it was billed
    before, so nothing is reserved (it was stored as a USD reserved movement of 777)."""
    previous = [
        _event("evt_a", "transaction.billed", T0, _txn("billed", credit=0, billed_at=T0)),
        _event("evt_b", "adjustment.created", T0, _seller(T0)),
    ]
    this = [
        _event("evt_c", "transaction.updated", T0, _txn("billed", credit=777, billed_at=T0)),
        _event("evt_d", "transaction.past_due", T2, _txn("past_due", credit=777, billed_at=T0)),
    ]
    assert events_to_movements(previous).empty
    assert events_to_movements(this).empty


# -- refunds of a transaction that created credit -----------------------------------------------------------


def _created_txn(created: int = 9000, charged: int = 3000) -> dict:
    return {"id": "txn_c", "details": {"totals": {"credit_to_balance": str(created)},
                                       "line_items": [{"totals": {"total": str(charged)}},
                                                      {"totals": {"total": str(-(created + charged))}}]}}


def _refund(total: int, kind: str = "partial", status: str = "approved") -> dict:
    return {"id": "adj_r", "action": "refund", "status": status, "type": kind, "transaction_id": "txn_c",
            "totals": {"total": str(total)}}


@pytest.mark.parametrize(("refund", "transaction", "back"), [
    (_refund(1000), _created_txn(), 3000),              # a third of what it charged: a third of 9,000
    (_refund(1), _created_txn(), 3),                    # rounded down to the minor unit
    (_refund(3000, "full"), _created_txn(), 9000),      # a full refund takes all of it
    (_refund(5000), _created_txn(), 9000),              # never more than it created
    (_refund(1000, status="pending_approval"), _created_txn(), 0),
    (_refund(1000), {"id": "txn_c", "details": {"totals": {"credit_to_balance": "0"}}}, 0),  # R4 stands
])
def test_a_refund_takes_back_its_share_of_the_credit_its_transaction_created(refund, transaction, back):
    """Paddle's Help: refunding a transaction that created a credit balance reduces it, partial refunds
    proportionally (hand-computed figures)."""
    assert rules.refund_reversal(refund, transaction) == back


def test_refunds_of_credit_created_before_the_window_are_looked_up_and_reverse_what_the_ledger_does(make_sim):
    """A stream holding only the refunds' adjustment events (their transactions completed before it): with a
    client the fetch asks Paddle what each transaction created and reverses the share the simulator's ledger
    reverses, the refund's adjustment id on it; refunds of transactions that created nothing reverse nothing."""
    from credit_reports.fetch.seller_credits import stream_movements

    sim = make_sim(customers=400, seed=17, **CURRENT_PADDLE)
    with PaddleClient(api_key=sim.api_key, base_url=sim.base_url, max_rpm=RPM) as client:
        events = [e for e in client.paginate("/events", {"per_page": 200})
                  if e["event_type"].startswith("adjustment.") and e["data"]["action"] == "refund"]
        alone, _ = stream_movements(None, events)
        moves, asked = stream_movements(client, events)
    ledger = pd.DataFrame(sim.account.expected_movements())
    ledger = ledger[(ledger["kind"] == "reversed") & (ledger["source"] == "refund")]
    ledger = ledger[ledger["adjustment_id"].isin({e["data"]["id"] for e in events})]
    assert len(ledger) >= 2 and asked >= len(ledger)
    assert (alone["kind"] != "reversed").all()
    got = moves[moves["kind"] == "reversed"]
    assert set(zip(got["adjustment_id"], got["amount"], strict=True)) == set(
        zip(ledger["adjustment_id"], ledger["amount"], strict=True))


def test_a_simulated_accounts_movements_do_not_depend_on_the_order_of_events_sharing_a_stamp(make_sim):
    """Every event of a current-Paddle account over real HTTP (moved on live: renewals that credit covers are
    billed and completed with one stamp), read as listed and again with the events of each
    shared ``occurred_at`` listed backwards and numbered backwards (Paddle's ids within one stamp promise no
    order): the same movements, row for row (the event named as evidence may differ)."""
    sim = make_sim(customers=300, seed=43, **CURRENT_PADDLE)
    sim.account.advance(seed=5, spends=30, invoice_seller_credits=5, credits=10)  # live: renewals credit covers
    with PaddleClient(api_key=sim.api_key, base_url=sim.base_url, max_rpm=RPM) as client:
        events = list(client.paginate("/events", {"per_page": 200}))
    by_stamp: dict[str, list[dict]] = {}
    for event in events:
        by_stamp.setdefault(event["occurred_at"], []).append(event)
    shared = [group for group in by_stamp.values() if len(group) > 1]
    assert sum(1 for g in shared if {"adjustment.created", "transaction.updated"} <= {e["event_type"] for e in g})
    assert sum(1 for g in shared if {"transaction.billed", "transaction.completed"} <= {e["event_type"] for e in g})
    backwards = []
    for group in by_stamp.values():
        ordered = sorted(group, key=lambda e: e["event_id"])
        ids = [e["event_id"] for e in ordered]
        backwards += [dict(e, event_id=i) for e, i in zip(ordered, reversed(ids), strict=True)][::-1]
    as_listed = _rows(events_to_movements(events)).drop(columns="event_id")
    reversed_ = _rows(events_to_movements(backwards)).drop(columns="event_id")
    assert len(as_listed) > 30
    pd.testing.assert_frame_equal(as_listed, reversed_)
