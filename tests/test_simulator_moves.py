"""The simulator as current Paddle (``CURRENT_PADDLE``) and moving while it is read, over real HTTP.

Seller credits show in a billed transaction's ``credit`` and ``balance`` but move no balance; automatic renewals
pass through ``billed`` (and ``past_due``) with their credit reserved in between; transfers leave credit with a
customer on no subscription; refunds return no credit unless the R4-breaking knob is on; and while a listing is
paged the account moves, with the ledger at each read's moment equal to what was served. Expected figures come
from the simulator's ledger (``expected_balances``, ``expected_movements``) or from the served entities.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests
from ledger import balance_credit, point_in_time, seller_credits

from credit_reports.simulator import CURRENT_PADDLE, Account, Simulator


def session_for(sim: Simulator) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sim.api_key}"
    return session


def get(session: requests.Session, sim: Simulator, path: str, **params: Any) -> dict[str, Any]:
    response = session.get(sim.base_url + path, params=params or None, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def walk(session: requests.Session, sim: Simulator, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, following ``next`` until ``has_more`` is false."""
    body = get(session, sim, path, **params)
    found = list(body["data"])
    while body["meta"]["pagination"]["has_more"]:
        response = session.get(body["meta"]["pagination"]["next"], timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        found += body["data"]
    return found


def served(session: requests.Session, sim: Simulator, customer_id: str) -> list[dict[str, Any]]:
    """One customer's served balances as int rows like ``expected_balances()``."""
    return [{"customer_id": row["customer_id"], "currency_code": row["currency_code"],
             **{k: int(v) for k, v in row["balance"].items()}}
            for row in get(session, sim, f"/customers/{customer_id}/credit-balances")["data"]]


def ledger_of(account: Account, customer_id: str, at: Any = None) -> list[dict[str, Any]]:
    return [row for row in account.expected_balances(at=at) if row["customer_id"] == customer_id]


def transaction(session: requests.Session, sim: Simulator, txn_id: str) -> dict[str, Any]:
    (txn,) = get(session, sim, "/transactions", id=txn_id)["data"]
    return txn


def events_of(session: requests.Session, sim: Simulator, entity_id: str) -> list[dict[str, Any]]:
    """The served events whose entity, or whose transaction, is ``entity_id``, oldest first."""
    return [e for e in walk(session, sim, "/events", order_by="id[ASC]", per_page=200)
            if entity_id in (e["data"].get("id"), e["data"].get("transaction_id"))]


def now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------------------------- seller credits

def test_a_seller_credit_raises_a_billed_transactions_credit_and_lowers_its_balance_but_moves_no_ledger_balance(
        make_sim):
    sim = make_sim(customers=200, seed=31, **CURRENT_PADDLE)
    http = session_for(sim)
    sim.advance(1, reservations=3)  # billed manual invoices that reserve balance credit
    before = {t: transaction(http, sim, t) for t in sorted(sim.account._open_transactions)}
    ledger_before = sim.account.expected_balances()

    changes = sim.advance(2, invoice_seller_credits=2)
    (txn_id, *_rest) = sorted(changes["seller_credit_transaction_ids"])
    assert len(changes["seller_credit_transaction_ids"]) == 2 and not changes["changed_customer_ids"]
    old, new = before[txn_id]["details"]["totals"], transaction(http, sim, txn_id)["details"]["totals"]
    on_txn = walk(http, sim, "/adjustments", transaction_id=txn_id, per_page=50)
    assert on_txn and {a["transaction_id"] for a in on_txn} == {txn_id}
    seller = max(on_txn, key=lambda a: a["id"])  # the newest: this advance's
    assert (seller["action"], seller["status"], seller["credit_applied_to_balance"]) == ("credit", "approved", False)
    amount = int(seller["totals"]["total"])
    earlier = sum(int(a["totals"]["total"]) for a in on_txn if a is not seller)
    assert 0 < amount < int(old["balance"])
    assert int(new["credit"]) == int(old["credit"]) + amount > amount + earlier, "balance and seller credit add up"
    assert int(new["balance"]) == int(old["balance"]) - amount
    assert sim.account.expected_balances() == ledger_before, "a seller credit moves no balance"
    customer = seller["customer_id"]
    assert served(http, sim, customer) == ledger_of(sim.account, customer)

    kinds = [e["event_type"] for e in events_of(http, sim, txn_id)]
    assert kinds[-2:] == ["adjustment.created", "transaction.updated"]
    billed = next(e for e in events_of(http, sim, txn_id) if e["event_type"] == "transaction.billed")
    assert int(billed["data"]["details"]["totals"]["credit"]) == int(old["credit"]) - earlier, \
        "earlier events keep the totals as they were"
    # the ledger's balance credit on the invoice is its credit less the seller credit (rule R1)
    reserved = [m["amount"] for m in sim.account.expected_movements()
                if m["transaction_id"] == txn_id and m["kind"] == "reserved"]
    assert reserved == [int(new["credit"]) - amount - earlier]


def test_in_the_generated_account_every_transactions_balance_credit_is_its_credit_less_its_seller_credits(make_sim):
    sim = make_sim(customers=400, seed=7, **CURRENT_PADDLE)
    http = session_for(sim)
    sellers = Counter(seller_credits(walk(http, sim, "/adjustments", action="credit", per_page=50)))
    on_credit = 0
    ledger: dict[str, int] = {}
    for m in sim.account.expected_movements():
        if m["kind"] in ("reserved", "used") and m["transaction_id"]:
            ledger.setdefault(m["transaction_id"], m["amount"])
    for txn in walk(http, sim, "/transactions", per_page=30):
        own = balance_credit(txn, sellers)
        assert ledger.get(txn["id"], 0) == own, txn["id"]
        on_credit += bool(sellers[txn["id"]] and own)
    assert len(sellers) >= 10 and on_credit >= 1, "seller credits alone and beside balance credit"


# ---------------------------------------------------------------------------------------------- billed renewals

def test_automatic_renewals_pass_through_billed_and_past_due_with_their_credit_reserved_in_between(make_sim):
    sim = make_sim(customers=200, seed=32, **CURRENT_PADDLE)
    http = session_for(sim)
    renewals = sorted(sim.advance(1, renewals=3)["renewal_transaction_ids"])
    assert len(renewals) == 3
    credits = {}
    for txn_id in renewals:
        txn = transaction(http, sim, txn_id)
        assert (txn["status"], txn["origin"], txn["collection_mode"]) == ("billed", "subscription_recurring",
                                                                           "automatic")
        credits[txn_id] = (txn["customer_id"], txn["currency_code"], int(txn["details"]["totals"]["credit"]))
    time.sleep(0.01)
    billed_at = now_ms()
    served_billed = {cid: served(http, sim, cid) for cid, _c, _a in credits.values()}
    sim.advance(2, past_dues=1000)
    time.sleep(0.01)
    dunning_at = now_ms()
    served_dunning = {cid: served(http, sim, cid) for cid, _c, _a in credits.values()}
    assert {transaction(http, sim, t)["status"] for t in renewals} == {"past_due"}
    sim.advance(3, completions=1000)

    for txn_id, (cid, currency, credit) in credits.items():
        assert transaction(http, sim, txn_id)["status"] == "completed"
        events = events_of(http, sim, txn_id)
        kinds = [e["event_type"] for e in events if e["data"].get("id") == txn_id]
        assert kinds == ["transaction.created", "transaction.billed", "transaction.past_due", "transaction.paid",
                         "transaction.completed"]
        stamps = [e["occurred_at"] for e in events]
        assert stamps == sorted(stamps) and len(set(stamps[1:])) == len(stamps) - 1, "distinct moments"
        moves = [(m["kind"], m["amount"], m["reserved_delta"]) for m in sim.account.expected_movements()
                 if m["transaction_id"] == txn_id]
        assert moves == [("reserved", credit, credit), ("used", credit, -credit)]
        # between billed and completed the ledger has the credit reserved, and that is what was served
        for moment, seen in ((billed_at, served_billed), (dunning_at, served_dunning)):
            row = next(r for r in ledger_of(sim.account, cid, at=moment) if r["currency_code"] == currency)
            assert row["reserved"] >= credit > 0
            assert seen[cid] == ledger_of(sim.account, cid, at=moment)
        assert served(http, sim, cid) == ledger_of(sim.account, cid)


def test_the_generated_account_has_renewals_billed_then_paid_and_some_past_due_for_days_that_end_either_way():
    account = Account(customers=2000, seed=7, **CURRENT_PADDLE)
    renewals = [t for t in account.transactions.items
                if t["origin"] == "subscription_recurring" and t["collection_mode"] == "automatic"]
    statuses = Counter(t["status"] for t in renewals)
    assert statuses["completed"] > 100 and statuses["past_due"] >= 3 and statuses["canceled"] >= 3
    assert all(t["billed_at"] for t in renewals), "every automatic renewal was billed first"
    history: dict[str, list[tuple[str, str]]] = {}
    for event in account.events.items:
        if event["event_type"].startswith("transaction.") and event["data"]["id"] in {t["id"] for t in renewals}:
            history.setdefault(event["data"]["id"], []).append((event["occurred_at"], event["event_type"]))
    dunned = [h for h in history.values() if ("transaction.past_due" in {k for _t, k in h})]
    assert any(h[-1][1] == "transaction.completed" for h in dunned)
    assert any(h[-1][1] == "transaction.canceled" for h in dunned)
    released = Counter(m["kind"] for m in account.expected_movements() if m["source"] == "subscription_recurring")
    assert released["released"] > 0 and released["reserved"] > released["released"]


# ---------------------------------------------------------------------------------------------- transfers

def test_transfers_leave_credit_with_the_old_customer_who_is_on_no_subscription_but_on_earlier_transactions(
        make_sim):
    sim = make_sim(customers=2000, seed=7, **CURRENT_PADDLE)
    http = session_for(sim)
    former = sim.account.former_subscriber_ids()
    holders = {r["customer_id"] for r in sim.account.expected_balances() if r["available"] + r["reserved"] > 0}
    assert len(former & holders) >= 20
    subscribed = {s["customer_id"] for s in walk(http, sim, "/subscriptions", per_page=200)}
    assert not former & subscribed
    credited_origin = {t["customer_id"] for t in walk(http, sim, "/transactions", per_page=30,
                                                      origin="subscription_update,subscription_recurring")}
    assert former <= credited_origin, "their earlier subscription transactions still name them"
    for cid in sorted(former)[:5]:
        assert served(http, sim, cid) == ledger_of(sim.account, cid) and ledger_of(sim.account, cid)

    before = sim.account.expected_balances()
    moved = sim.advance(4, transfers=2)["transferred_customer_ids"]
    assert len(moved) == 2 and sim.account.expected_balances() == before
    for cid in moved:
        assert get(http, sim, "/subscriptions", customer_id=cid)["data"] == []
        assert served(http, sim, cid) == ledger_of(sim.account, cid)
    updates = [e for e in walk(http, sim, "/events", event_type="subscription.updated", per_page=200)
               if e["occurred_at"] >= datetime.now(UTC).strftime("%Y-%m-%d")]
    assert len(updates) == 2 and not {e["data"]["customer_id"] for e in updates} & moved


# ---------------------------------------------------------------------------------------------- refunds

@pytest.mark.parametrize("returns_credit", [False, True])
def test_a_refund_of_a_credit_paid_transaction_returns_no_credit_unless_the_knob_breaks_the_rule(make_sim,
                                                                                                returns_credit):
    sim = make_sim(customers=300, seed=33, **CURRENT_PADDLE, refund_returns_credit=returns_credit)
    http = session_for(sim)
    before = sim.account.expected_balances()
    (adj_id,) = sim.advance(5, refunds=1)["refund_adjustment_ids"]
    (refund,) = get(http, sim, "/adjustments", id=adj_id)["data"]
    assert (refund["action"], refund["status"]) == ("refund", "approved")
    txn = transaction(http, sim, refund["transaction_id"])
    credit = int(txn["details"]["totals"]["credit"])
    assert credit > 0 and txn["status"] == "completed" and int(refund["totals"]["total"]) > 0
    cid = refund["customer_id"]
    assert [a["id"] for a in walk(http, sim, "/adjustments", transaction_id=txn["id"], action="refund")] == [adj_id]
    after = ledger_of(sim.account, cid)
    was = [r for r in before if r["customer_id"] == cid]
    row, old = (next(r for r in rows if r["currency_code"] == txn["currency_code"]) for rows in (after, was))
    if returns_credit:
        assert (row["available"] - old["available"], row["used"] - old["used"]) == (credit, -credit)
        (entry,) = [m for m in sim.account.expected_movements() if m["adjustment_id"] == adj_id]
        assert (entry["kind"], entry["customer_id"], entry["amount"]) == ("refunded", cid, credit)
    else:
        assert after == was, "rule R4: a refund returns no credit"
    assert served(http, sim, cid) == after


# ---------------------------------------------------------------------------------------------- moving while read

def test_during_a_paginated_listing_the_account_moves_and_the_ledger_at_each_read_equals_what_was_served():
    with Simulator(customers=150, seed=34, move_every_requests=4, **CURRENT_PADDLE) as sim:
        http = session_for(sim)
        reads: list[tuple[str, int, int, list[dict[str, Any]], str]] = []
        body = get(http, sim, "/customers", per_page=25, order_by="id[ASC]")
        while True:
            for customer in body["data"]:
                sent = now_ms()
                response = http.get(f"{sim.base_url}/customers/{customer['id']}/credit-balances", timeout=10)
                received = now_ms()
                rows = [{"customer_id": r["customer_id"], "currency_code": r["currency_code"],
                         **{k: int(v) for k, v in r["balance"].items()}} for r in response.json()["data"]]
                reads.append((customer["id"], sent, received, rows, response.headers["Date"]))
            if not body["meta"]["pagination"]["has_more"]:
                break
            body = http.get(body["meta"]["pagination"]["next"], timeout=10).json()
        moves = sim.moves
    assert len(moves) >= 30
    for cid, _sent, received, rows, _date in reads:
        assert rows == ledger_of(sim.account, cid, at=received), cid
    everyone = point_in_time(sim.account.expected_balances(at=reads[-1][2]))
    assert {key: value for key, value in everyone.items() if key[0] == reads[-1][0]} == point_in_time(reads[-1][3])
    for _cid, sent, received, _rows, date in reads:
        moment = parsedate_to_datetime(date).timestamp() * 1000
        assert sent - 1000 < moment <= received, "Date is the server's clock, to the second"
    read_at = {cid: received for cid, _s, received, _r, _d in reads}
    moved = [(m["customer_id"], m["occurred_ms"]) for m in sim.account.expected_movements(start=reads[0][1])]
    assert any(cid in read_at and ms > read_at[cid] for cid, ms in moved), "moves after a customer was read"
    assert any(cid in read_at and ms < read_at[cid] for cid, ms in moved), "moves before a customer was read"
    assert {m["kind"] for m in sim.account.expected_movements(start=reads[0][1])} >= {
        "issued", "reserved", "released", "used"}


def test_a_clock_offset_shows_in_the_date_header_and_in_the_moments_of_what_moves(make_sim):
    sim = make_sim(customers=40, seed=35, clock_offset_ms=90_000)
    response = session_for(sim).get(sim.base_url + "/customers", timeout=10)
    ahead = (parsedate_to_datetime(response.headers["Date"]) - datetime.now(UTC)).total_seconds()
    assert 88 <= ahead <= 91
    move = sim.move()
    assert move.started_ms - now_ms() > 85_000


def test_moving_in_real_time_makes_every_kind_of_movement_with_its_events(make_sim):
    sim = make_sim(customers=200, seed=36, **CURRENT_PADDLE)
    http = session_for(sim)
    start = now_ms()
    sim.start_moving(0.05)
    deadline = time.monotonic() + 10
    while len(sim.moves) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    sim.stop_moving()
    kinds = {m["kind"] for m in sim.account.expected_movements(start=start)}
    assert kinds >= {"issued", "reserved", "released", "used"}
    since = datetime.fromtimestamp(start / 1000, UTC).isoformat()
    events = Counter(e["event_type"] for e in walk(http, sim, "/events", per_page=200, order_by="id[ASC]")
                     if e["occurred_at"] >= since[:23])
    assert {"transaction.billed", "transaction.past_due", "transaction.paid", "transaction.completed",
            "transaction.canceled", "transaction.updated", "adjustment.created", "subscription.updated",
            "customer.created"} <= set(events)
    every = [r["customer_id"] for r in sim.account.expected_balances()]
    for cid in sorted(set(every))[:30]:
        assert served(http, sim, cid) == ledger_of(sim.account, cid)


def test_with_several_readers_each_read_equals_the_ledger_at_a_moment_between_its_sending_and_its_answer():
    """Four workers read while every third answer moves the account: a read that overlapped a move may show the
    customer before or after it, and then equals the ledger at the moment the request was sent or at one of the
    customer's own movements up to its answer; never anything else."""
    with Simulator(customers=150, seed=37, move_every_requests=3, **CURRENT_PADDLE) as sim:
        customers = [c["id"] for c in sim.account.customers]

        def read(customer_id: str) -> tuple[str, int, int, list[dict[str, Any]]]:
            http = session_for(sim)
            sent = now_ms()
            body = get(http, sim, f"/customers/{customer_id}/credit-balances")
            received = now_ms()
            return customer_id, sent, received, [
                {"customer_id": r["customer_id"], "currency_code": r["currency_code"],
                 **{k: int(v) for k, v in r["balance"].items()}} for r in body["data"]]

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(4) as pool:
            reads = list(pool.map(read, customers + customers[:50]))
        assert len(sim.moves) >= 40
    entries = sim.account.entries
    for cid, sent, received, rows in reads:
        moments = [sent] + [e.ms for e in entries if e.customer_id == cid and sent < e.ms <= received]
        assert any(rows == ledger_of(sim.account, cid, at=t) for t in moments), cid


def test_with_the_clock_set_each_move_puts_the_clock_on_and_the_date_header_follows_it(make_sim):
    sim = make_sim(customers=60, seed=38, move_every_requests=2, **CURRENT_PADDLE)
    start = now_ms() + 5_000
    sim.set_time(start)
    http = session_for(sim)
    dates = [parsedate_to_datetime(http.get(sim.base_url + "/customers", timeout=10).headers["Date"])
             for _ in range(6)]
    assert len(sim.moves) == 3 and sim.account.clock == start + 3 * 2000
    assert [int(d.timestamp()) for d in dates] == sorted(int(d.timestamp()) for d in dates)
    assert int(dates[-1].timestamp()) == (start + 3 * 2000) // 1000
    for move in sim.moves:
        assert all(move.started_ms < m["occurred_ms"] <= move.ended_ms < sim.account.clock
                   for m in sim.account.expected_movements(start=move.started_ms, end=move.ended_ms))


def test_a_move_planted_before_one_customers_answer_is_in_that_answer_and_in_the_ledger_inside_the_read(make_sim):
    sim = make_sim(customers=120, seed=39, **CURRENT_PADDLE)
    http = session_for(sim)
    target = sorted(sim.account.subscriber_ids())[0]
    moved: list[dict[str, set[str]]] = []
    sim.before_answer(f"/customers/{target}/credit-balances",
                      lambda s: moved.append(s.advance(9, credits=1, among={target})))
    get(http, sim, f"/customers/{sorted(sim.account.subscriber_ids())[1]}/credit-balances")  # not this path
    assert moved == []
    sent = now_ms()
    rows = served(http, sim, target)
    received = now_ms()
    assert [m["changed_customer_ids"] for m in moved] == [{target}]
    (credit,) = [m for m in sim.account.expected_movements(start=sent) if m["customer_id"] == target]
    assert credit["kind"] == "issued" and sent < credit["occurred_ms"] <= received
    assert rows == ledger_of(sim.account, target, at=received) != ledger_of(sim.account, target, at=sent)
    assert served(http, sim, target) == rows, "the hook ran once"
