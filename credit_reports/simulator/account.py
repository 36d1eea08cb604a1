"""The simulator's deterministic Paddle account: customers, subscriptions, transactions, adjustments, events.

Everything follows from ``seed`` and the anchor (the start of the current month), so the same account comes
back all month. Credit follows current Paddle exactly as ``docs/credit-rules.md`` states it:

- before 11 March 2024 a prorated change credited the customer by an approved ``credit`` adjustment
  (``credit_applied_to_balance: true``; some first ``pending_approval``; a few clawed back by a
  ``credit_reverse``, which sets the original to ``reversed``);
- since then, only by ``credit_to_balance`` on a completed ``subscription_update`` transaction, or on the
  renewal (``subscription_recurring``) of a change billed next period, with no adjustment;
- credit leaves as ``details.totals.credit``: straight to ``used`` on a transaction collected at once;
  ``reserved`` on a billed manual invoice, then ``used`` when it completes or back to ``available`` on cancel;
- seller credits on billed or past-due manual invoices (``credit_applied_to_balance: false``) and refunds
  touch no balance; customers who never subscribed (one-time buyers) hold no credit.

Every balance change is a time-stamped ledger :class:`~.ledger.Entry` naming the transaction, adjustment and
event behind it. The served balances are kept up to date entry by entry; ``expected_balances(at)`` and
``expected_movements(start, end)`` recompute from the entries alone, so a test compares what was served with
what must be true. Every change also produces the Paddle events a real account would show.
"""
from __future__ import annotations

import gc
import random
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from . import entities
from .behaviours import Behaviours
from .catalog import ANCHOR, ANCHOR_MS, DAY_MS, REGIME_CHANGE, REGIME_CHANGE_MS, _credit_amount, _ms, build_catalog
from .history import History
from .ids import MonotonicIds, iso, now_ms
from .ledger import Entry, movements, replay
from .lifecycle import Lifecycle
from .listing import Listing

__all__ = ["ANCHOR", "REGIME_CHANGE", "Account"]  # the moments, importable from here as before the split


class Account(History, Lifecycle, Behaviours):
    """A synthetic Paddle account, deterministic from ``seed``; thread-safe through ``lock``.

    ``unsubscribed_credits`` plants credit (on a transaction) on that many customers who never subscribed,
    breaking Paddle's rule that only subscribers hold credit: tests use it to prove the fetch notices.

    ``anchor`` (a datetime or ms; default :data:`ANCHOR`, the start of this month) is where the generated
    history ends. ``clock`` is the moment the account is served at (None: the real time, the default); see
    :meth:`set_time`. The demo builds an account whose history ends a year ago and moves its clock from month
    end to month end, advancing the account at time-stamped moments in between.

    Current Paddle's behaviours (``behaviours.CURRENT_PADDLE``: ``seller_credit_totals``, ``billed_renewals``,
    ``transfer_share``, ``credit_refunds``, ``revisions``, ``one_time_charges``, ``created_credit_refunds``)
    are off by default, so an account for a seed is the one earlier releases served; ``refund_returns_credit``
    breaks credit-rules.md R4 on purpose (see ``behaviours``).
    ``clock_offset_ms`` sets the simulated Paddle's clock that far from this machine's (real-time serving only).
    """

    def __init__(self, customers: int = 2000, seed: int = 7, unsubscribed_credits: int = 0,
                 anchor: datetime | int | None = None, *, seller_credit_totals: bool = False,
                 billed_renewals: bool = False, transfer_share: float = 0.0, credit_refunds: bool = False,
                 refund_returns_credit: bool = False, revisions: bool = False, one_time_charges: bool = False,
                 created_credit_refunds: bool = False, clock_offset_ms: int = 0) -> None:
        if customers < 0:
            raise ValueError("customers must be >= 0")
        if not 0 <= transfer_share <= 1:
            raise ValueError("transfer_share must be between 0 and 1")
        self.seed = seed
        self.seller_credit_totals = seller_credit_totals
        self.billed_renewals = billed_renewals
        self.transfer_share = transfer_share
        self.credit_refunds = credit_refunds
        self.refund_returns_credit = refund_returns_credit
        self.revisions = revisions
        self.one_time_charges = one_time_charges
        self.clock_offset_ms = clock_offset_ms
        self._extra = random.Random(f"{seed}:current-paddle")  # draws of the behaviours only
        self._reserved: set[str] = set()  # transactions whose balance credit is reserved now
        self._seller_credited: dict[str, int] = {}  # transaction id -> approved seller credit in its totals
        self._refunded: set[str] = set()
        self._former_subscribers: set[str] = set()
        self._among: set[str] | None = None  # advance(among=): the customers its picks are restricted to
        self.anchor_ms = _ms(anchor) if anchor is not None else ANCHOR_MS
        self.signup_start_ms = min(self.anchor_ms - 730 * DAY_MS, REGIME_CHANGE_MS - 365 * DAY_MS)
        self.clock: int | None = None
        self._latest_ms = 0  # the newest moment anything happened: the clock never goes back before it
        self.lock = threading.RLock()
        self.entries: list[Entry] = []
        self._balances: dict[str, dict[str, list[int]]] = {}
        self._customers: dict[str, dict[str, Any]] = {}
        self._adjustments_by_customer: dict[str, list[dict[str, Any]]] = {}
        self._subscriptions_by_customer: dict[str, list[dict[str, Any]]] = {}
        self._transactions_by_customer: dict[str, list[dict[str, Any]]] = {}
        self._open_transactions: dict[str, dict[str, Any]] = {}
        self._legacy_credits: list[dict[str, Any]] = []  # approved, not reversed: what advance can reverse
        self._new: dict[str, list[dict[str, Any]]] = {"customers": [], "adjustments": [], "subscriptions": [],
                                                       "transactions": [], "events": []}
        self._rng = random.Random(seed)
        self._historical = True
        self._credit_customers = 0
        self._reversals = 0
        self._legacy_count = 0
        self._invoices = 0
        self._catalog = build_catalog(seed, self.signup_start_ms)
        gc_was_enabled = gc.isenabled()
        gc.disable()  # hundreds of thousands of small dicts: the cyclic collector only slows this down
        try:
            self._generate(customers)
            self._transfer_history()
            self._plant_unsubscribed(self._rng, unsubscribed_credits, self.anchor_ms - 20 * DAY_MS)
            if one_time_charges:  # after the rest, from generators of their own: the account is otherwise the same
                self._one_time_charge_history()
            if created_credit_refunds:
                self._created_credit_refund_history()
            if revisions:
                self._revision_history()
            self._index()
        finally:
            if gc_was_enabled:
                gc.enable()
        self._historical = False
        self._ids = MonotonicIds(random.Random(seed * 7919 + 1))
        for listing in (self.customer_lists["all"], self.adjustments, self.subscriptions, self.transactions):
            for entity_id in listing.ids[-1:]:
                self._ids.observe(entity_id)
        for entity_id in self.events.ids[-1:]:
            self._ids.observe(entity_id)

    # ------------------------------------------------------------------ public read API

    @property
    def customers(self) -> list[dict[str, Any]]:
        """Every customer (active and archived) as Paddle customer objects, oldest first."""
        return list(self.customer_lists["all"].items)

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        """The customer with this id, or None."""
        return self._customers.get(customer_id)

    def balances(self, customer_id: str) -> list[dict[str, Any]]:
        """The served credit balances of one customer, one Paddle credit_balance per currency."""
        rows = self._balances.get(customer_id, {})
        return [
            {"customer_id": customer_id, "currency_code": currency,
             "balance": {"available": str(row[0]), "reserved": str(row[1]), "used": str(row[2])}}
            for currency, row in sorted(rows.items())
        ]

    def adjustments_of(self, customer_ids: Iterable[str]) -> list[dict[str, Any]]:
        """All adjustments of the named customers (any order)."""
        return [adj for cid in customer_ids for adj in self._adjustments_by_customer.get(cid, ())]

    def subscriptions_of(self, customer_ids: Iterable[str]) -> list[dict[str, Any]]:
        """All subscriptions of the named customers (any order)."""
        return [sub for cid in customer_ids for sub in self._subscriptions_by_customer.get(cid, ())]

    def transactions_of(self, customer_ids: Iterable[str]) -> list[dict[str, Any]]:
        """All transactions of the named customers (any order)."""
        return [txn for cid in customer_ids for txn in self._transactions_by_customer.get(cid, ())]

    def subscriber_ids(self) -> set[str]:
        """Customers with a subscription of any status: the only ones Paddle lets hold credit."""
        return {cid for cid, subs in self._subscriptions_by_customer.items() if subs}

    def former_subscriber_ids(self) -> set[str]:
        """Customers whose every subscription moved to another customer (a transfer): on no subscription now,
        though their transactions name them and they may hold credit (credit-rules.md R3)."""
        return {cid for cid in self._former_subscribers if not self._subscriptions_by_customer.get(cid)}

    def expected_balances(self, at: datetime | int | None = None) -> list[dict[str, Any]]:
        """Balances recomputed by replaying the ledger from empty, up to ``at`` (a datetime or ms; None: all).

        Independent of the incrementally maintained state the server answers from, so a test can
        compare the two. One dict per customer and currency, amounts as ints in minor units, sorted.
        """
        with self.lock:
            entries = list(self.entries)
        return replay(entries, _ms(at))

    def expected_movements(self, start: datetime | int | None = None,
                           end: datetime | int | None = None) -> list[dict[str, Any]]:
        """The ledger's own movements with ``start < occurred <= end`` (``docs/credit-rules.md``, "Movements").

        Computed from the ledger entries, never from events: each row has ``kind``, ``customer_id``,
        ``currency_code``, ``amount``, the three deltas, ``occurred_at`` (ISO) and ``occurred_ms``, ``source``
        and the ``event_id``, ``transaction_id``, ``adjustment_id`` behind it (empty when not applicable).
        """
        with self.lock:
            entries = list(self.entries)
        return movements(entries, _ms(start), _ms(end))

    # ------------------------------------------------------------------ moving the account on

    def advance(self, seed: int, credits: int = 0, reservations: int = 0, completions: int = 0,
                cancellations: int = 0, new_customers: int = 0, *, first_credits: int = 0, spends: int = 0,
                reversals: int = 0, seller_credits: int = 0, unsubscribed_credits: int = 0,
                renewals: int = 0, past_dues: int = 0, invoice_seller_credits: int = 0, transfers: int = 0,
                refunds: int = 0, among: Iterable[str] | None = None,
                at: datetime | int | None = None) -> dict[str, set[str]]:
        """Move the account on at ``at`` (default: :meth:`now`), the way a live Paddle account changes between
        snapshots. ``at`` must not lie before anything the account already did, and, when the clock is set,
        at least a second before it (an operation takes a few ms: a completion lands just after its payment).

        ``credits`` subscribers get new credit on a ``subscription_update`` transaction (a downgrade);
        ``first_credits`` subscribers who never held credit get their first one that way; ``reservations``
        holders of available credit get a billed manual invoice that reserves some of it; ``spends`` holders
        get a renewal collected at once that uses some; ``completions`` and ``cancellations`` settle invoices
        that were open before this call; ``reversals`` legacy credit adjustments are clawed back by a
        ``credit_reverse``; ``seller_credits`` customers without credit get a seller credit on a manual
        invoice (no balance changes); ``unsubscribed_credits`` never-subscribed customers get credit against
        Paddle's rule; ``new_customers`` sign up (about 70% subscribe, half of those with credit).

        Current Paddle (see ``behaviours``): ``renewals`` holders get an automatic renewal applying credit that is
        billed and left open (credit reserved) for a later ``completions`` (paid, completed: used) or
        ``cancellations`` (released); ``past_dues`` open billed transactions fail their charge (``past_due``,
        nothing moves); ``invoice_seller_credits`` open billed or past-due transactions get a seller credit (their
        ``credit`` rises with ``seller_credit_totals``; no balance moves); ``transfers`` subscribers holding credit
        see every subscription moved to a new customer (they keep the credit); ``refunds`` completed
        transactions paid partly with credit are refunded (no credit back, unless ``refund_returns_credit``).
        With ``billed_renewals``, ``spends`` are billed, paid and completed a ms apart each.

        Each operation picks customers not touched by an earlier one in the same call, so every customer
        reported as changed really has a different balance. ``among`` restricts every pick to those customers
        (a test moving exactly the customer a fetch is reading); sign-ups and planted credit are not picks.
        Served in real time (no clock set, no ``at``), the call returns only once the clock has passed every
        entry it made, so an answer served after it includes them all and one served before it none: the
        ledger is exact at every moment.

        Returns ``changed_customer_ids`` (balance differs), ``new_customer_ids``,
        ``seller_credit_customer_ids`` (named by adjustment events, balance unchanged),
        ``reversed_adjustment_ids`` (the legacy credits clawed back; fewer than asked when too few qualify),
        ``renewal_transaction_ids`` (billed, open), ``past_due_transaction_ids``,
        ``seller_credit_transaction_ids`` (invoice seller credits), ``transferred_customer_ids`` (the customers
        the subscriptions moved from) and ``refund_adjustment_ids``.
        """
        rng = random.Random(f"{self.seed}:{seed}")
        with self.lock:
            ms = self._moment(at)
            self._among = set(among) if among is not None else None
            try:
                return self._advance(rng, ms, at, credits=credits, reservations=reservations,
                                     completions=completions, cancellations=cancellations,
                                     new_customers=new_customers, first_credits=first_credits, spends=spends,
                                     reversals=reversals, seller_credits=seller_credits,
                                     unsubscribed_credits=unsubscribed_credits, renewals=renewals,
                                     past_dues=past_dues, invoice_seller_credits=invoice_seller_credits,
                                     transfers=transfers, refunds=refunds)
            finally:
                self._among = None

    def _advance(self, rng: random.Random, ms: int, at: datetime | int | None, *, credits: int, reservations: int,
                 completions: int, cancellations: int, new_customers: int, first_credits: int, spends: int,
                 reversals: int, seller_credits: int, unsubscribed_credits: int, renewals: int, past_dues: int,
                 invoice_seller_credits: int, transfers: int, refunds: int) -> dict[str, set[str]]:
        """The body of :meth:`advance`, under the lock, at ``ms``."""
        changed: set[str] = set()
        new_ids: set[str] = set()
        sellers: set[str] = set()
        open_before = sorted(self._open_transactions)
        for txn_id in self._pick(rng, open_before, completions, changed, self._txn_customer):
            self._settle(self._open_transactions[txn_id], "completed", ms)
        open_left = [t for t in open_before if t in self._open_transactions]
        for txn_id in self._pick(rng, open_left, cancellations, changed, self._txn_customer):
            self._settle(self._open_transactions[txn_id], "canceled", ms)
        reversible = [a["id"] for a in self._legacy_credits
                      if self._available(a["customer_id"], a["currency_code"]) >= int(a["totals"]["total"])]
        by_id = {a["id"]: a for a in self._legacy_credits}
        reversed_ids: set[str] = set()
        for adj_id in self._pick(rng, reversible, reversals, changed, lambda i: by_id[i]["customer_id"]):
            self._reverse(by_id[adj_id], ms)
            reversed_ids.add(adj_id)
        subscribers = sorted(self.subscriber_ids())
        for cid in self._pick(rng, subscribers, credits, changed, str):
            sub = rng.choice(self._subscriptions_by_customer[cid])
            self._grant(rng, self._customers[cid], sub, ms, next_period=False)
        never = [cid for cid in subscribers if cid not in self._balances]
        for cid in self._pick(rng, never, first_credits, changed, str):
            sub = rng.choice(self._subscriptions_by_customer[cid])
            self._grant(rng, self._customers[cid], sub, ms, next_period=False)
        holders = sorted(cid for cid, rows in self._balances.items()
                         if any(row[0] > 0 for row in rows.values()))
        for cid in self._pick(rng, holders, reservations, changed, str):
            self._spend(rng, self._customers[cid], ms, manual=True)
        holders = [cid for cid in holders if cid not in changed]
        for cid in self._pick(rng, holders, spends, changed, str):
            self._spend(rng, self._customers[cid], ms, manual=False)
        creditless = [cid for cid in self.customer_lists["all"].ids if cid not in self._balances]
        for cid in self._pick(rng, creditless, seller_credits, set(changed), str):
            self._seller_credit(rng, self._customers[cid], ms, ms + 1)
            sellers.add(cid)
        changed |= self._plant_unsubscribed(rng, unsubscribed_credits, ms, exclude=changed | sellers)
        for _ in range(new_customers):
            customer = self._new_customer(rng, ms)
            new_ids.add(customer["id"])
            if rng.random() < 0.7:
                sub = self._subscribe(rng, customer, ms, None)
                if rng.random() < 0.5:
                    self._grant(rng, customer, sub, ms + 5, next_period=False)
                    changed.add(customer["id"])
        more = self._advance_current(rng, ms, changed, new_ids, renewals=renewals, past_dues=past_dues,
                                     invoice_seller_credits=invoice_seller_credits, transfers=transfers,
                                     refunds=refunds)
        self._flush_new()
        if at is None and self.clock is None:
            while self.now() <= self._latest_ms:  # never serve an entry before its moment
                time.sleep(0.0005)
        return {"changed_customer_ids": changed, "new_customer_ids": new_ids,
                "seller_credit_customer_ids": sellers, "reversed_adjustment_ids": reversed_ids, **more}

    def _advance_current(self, rng: random.Random, ms: int, changed: set[str], new_ids: set[str], *,
                         renewals: int, past_dues: int, invoice_seller_credits: int, transfers: int,
                         refunds: int) -> dict[str, set[str]]:
        """The operations of :meth:`advance` that model current Paddle (its docstring says what each does)."""
        out: dict[str, set[str]] = {key: set() for key in (
            "renewal_transaction_ids", "past_due_transaction_ids", "seller_credit_transaction_ids",
            "transferred_customer_ids", "refund_adjustment_ids")}
        holders = sorted(cid for cid, rows in self._balances.items()
                         if cid not in changed and any(row[0] > 0 for row in rows.values()))
        for cid in self._pick(rng, holders, renewals, changed, str):
            txn = self._spend(rng, self._customers[cid], ms, manual=False, hold=True)
            if txn is not None:
                out["renewal_transaction_ids"].add(txn["id"])
        billed = sorted(t for t, txn in self._open_transactions.items() if txn["status"] == "billed")
        for txn_id in self._pick(rng, billed, past_dues, set(changed), self._txn_customer):
            self._past_due(self._open_transactions[txn_id], ms + 2)
            out["past_due_transaction_ids"].add(txn_id)
        owing = sorted(t for t, txn in self._open_transactions.items()
                       if int(txn["details"]["totals"]["balance"]) > 1)
        for txn_id in self._pick(rng, owing, invoice_seller_credits, set(changed), self._txn_customer):
            self._invoice_seller_credit(rng, self._open_transactions[txn_id], ms + 3)
            out["seller_credit_transaction_ids"].add(txn_id)
        movable = sorted(cid for cid in self.subscriber_ids() if cid not in changed
                         and self._customers[cid]["status"] == "active"
                         and any(row[0] + row[1] > 0 for row in self._balances.get(cid, {}).values()))
        for cid in self._pick(rng, movable, transfers, set(changed), str):
            owner = self._new_customer(rng, ms)
            new_ids.add(owner["id"])
            self._transfer(cid, owner, ms + 1)
            out["transferred_customer_ids"].add(cid)
        paid: dict[str, dict[str, Any]] = {}
        for cid in sorted(self._balances) if refunds > 0 else ():
            for txn in self._transactions_by_customer.get(cid, ()) if cid not in changed else ():
                if txn["status"] == "completed" and txn["id"] not in self._refunded \
                        and self._balance_credit(txn) > 0 and int(txn["details"]["totals"]["grand_total"]) > 0:
                    paid[txn["id"]] = txn
        touched = changed if self.refund_returns_credit else set(changed)
        for txn_id in self._pick(rng, sorted(paid), refunds, touched, lambda i: paid[i]["customer_id"]):
            out["refund_adjustment_ids"].add(self._refund_credit_paid(paid[txn_id], ms + 4))
        return out

    # ------------------------------------------------------------------ the served moment

    def now(self) -> int:
        """The moment the account is served at, in ms: the clock when set, else the real time (plus
        ``clock_offset_ms``: the simulated Paddle's clock may differ from this machine's)."""
        return self.clock if self.clock is not None else now_ms() + self.clock_offset_ms

    def set_time(self, at: datetime | int | None) -> None:
        """Serve the account as it is at ``at`` (a datetime or ms; None: the real time from now on).

        Balances, customers, subscriptions, transactions and adjustments are those the account has by then,
        and ``/events`` serves the events that occurred at or before ``at`` and within Paddle's 90 days before
        it. The account's history is generated up to its anchor and moved on by :meth:`advance`, so the clock
        only moves forward: a moment before something the account already did is refused (ValueError).
        """
        ms = _ms(at)
        with self.lock:
            if ms is not None and ms < self._latest_ms:
                raise ValueError(f"cannot serve the account at {iso(ms)}: it already changed at "
                                 f"{iso(self._latest_ms)} (the simulator's clock only moves forward)")
            self.clock = ms

    def _moment(self, at: datetime | int | None) -> int:
        """The ms an :meth:`advance` happens at, checked against the account's past and its clock."""
        # in real time one ms on: an answer served earlier in this ms must not miss what happened "at" it
        ms = _ms(at) if at is not None else self.now() + (1 if self.clock is None else 0)
        if ms < self._latest_ms:
            raise ValueError(f"cannot move the account on at {iso(ms)}: it already changed at {iso(self._latest_ms)}")
        if self.clock is not None and ms > self.clock - 1000:
            raise ValueError(f"cannot move the account on at {iso(ms)}: its clock reads {iso(self.clock)}; "
                             "set_time() later first")
        return ms

    # ------------------------------------------------------------------ planted discrepancies (tests)

    def move_balance_silently(self, customer_id: str, currency: str, available_delta: int) -> None:
        """Change a customer's served ``available`` with no event and no ledger entry: a balance that moved
        with no evidence. ``expected_balances`` (the ledger) does not see it; the reconciliation must."""
        with self.lock:
            row = self._balances.setdefault(customer_id, {}).setdefault(currency, [0, 0, 0])
            row[0] += available_delta

    def emit_unseen_credit(self, customer_id: str, amount: int, at: datetime | int | None = None) -> str:
        """A completed ``subscription_update`` transaction whose ``credit_to_balance`` never reaches the
        served balance (no ledger entry): an event the balance never saw. Returns the transaction id."""
        with self.lock:
            ms = self._moment(at)
            customer = self._customers[customer_id]
            sub = self._subscriptions_by_customer[customer_id][0]
            price = self._sub_price(sub)
            lines = [(price, entities.line(self._new_id("txnitm", ms), price, -amount,
                                           entities.proration(ms, ms + 30 * DAY_MS, "0.5")))]
            txn = self._new_txn(customer, sub, sub["currency_code"], "subscription_update", "automatic", lines, 0,
                                ms, (ms, ms + 30 * DAY_MS))
            txn["billed_at"] = iso(ms + 1)
            self._step(txn, "completed", ms + 1)
            self._flush_new()
            return txn["id"]

    def _txn_customer(self, txn_id: str) -> str:
        return self._open_transactions[txn_id]["customer_id"]

    def _available(self, customer_id: str, currency: str) -> int:
        return self._balances.get(customer_id, {}).get(currency, [0, 0, 0])[0]

    def _pick(self, rng: random.Random, pool: list[str], count: int, touched: set[str], owner) -> list[str]:
        """Pick up to ``count`` items of ``pool`` whose customer is not yet in ``touched`` (and is among the
        customers ``advance`` was restricted to, if it was); mark them."""
        picked: list[str] = []
        if count <= 0:
            return picked
        among = self._among
        for item in rng.sample(pool, len(pool)):
            cid = owner(item)
            if cid in touched or (among is not None and cid not in among):
                continue
            touched.add(cid)
            picked.append(item)
            if len(picked) == count:
                break
        return picked

    def _plant_unsubscribed(self, rng: random.Random, count: int, ms: int,
                            exclude: set[str] | frozenset[str] = frozenset()) -> set[str]:
        """Credit on a transaction for ``count`` customers who never subscribed (breaks Paddle's rule)."""
        if count <= 0:
            return set()
        pool = [cid for cid in self._customers if cid not in self._subscriptions_by_customer
                and cid not in self._balances and cid not in exclude]
        planted = set(rng.sample(sorted(pool), min(count, len(pool))))
        for cid in sorted(planted):
            customer = self._customers[cid]
            currency = self._home_currency(rng, customer)
            price = self._catalog[(self._plan(customer) or "starter", "month", currency)]
            amount = _credit_amount(rng, currency, None)
            credit_line = entities.line(self._new_id("txnitm", ms), price, -amount, None)
            txn = self._new_txn(customer, None, currency, "api", "automatic", [(price, credit_line)], 0, ms)
            self._complete(txn, ms + 1, "api")
        return planted

    # ------------------------------------------------------------------ generation
    def _index(self) -> None:
        """Build the id-sorted listings the server pages through, from everything generated so far."""
        customers = self._new["customers"]
        self.customer_lists = {
            "all": Listing(customers),
            "active": Listing(c for c in customers if c["status"] == "active"),
            "archived": Listing(c for c in customers if c["status"] == "archived"),
        }
        adjustments = self._new["adjustments"]
        self.adjustments = Listing(adjustments)
        self.adjustments_by_action: dict[str, Listing] = {}
        for action in ("credit", "credit_reverse", "refund"):
            self.adjustments_by_action[action] = Listing(a for a in adjustments if a["action"] == action)
        self.subscriptions = Listing(self._new["subscriptions"])
        self.transactions = Listing(self._new["transactions"])
        self.events = Listing(self._new["events"], key="event_id")
        self._new = {key: [] for key in self._new}

    def _flush_new(self) -> None:
        """Add what ``advance`` created to the listings (new ids sort last, so these are appends)."""
        for customer in self._new["customers"]:
            self.customer_lists["all"].add(customer)
            self.customer_lists[customer["status"]].add(customer)
        for adjustment in self._new["adjustments"]:
            self.adjustments.add(adjustment)
            self.adjustments_by_action.setdefault(adjustment["action"], Listing()).add(adjustment)
        for sub in self._new["subscriptions"]:
            self.subscriptions.add(sub)
        for txn in self._new["transactions"]:
            self.transactions.add(txn)
        for event in self._new["events"]:
            self.events.add(event)
        self._new = {key: [] for key in self._new}

