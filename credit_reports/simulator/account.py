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
from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

from . import entities
from .ids import MonotonicIds, iso, now_ms, random_id
from .ledger import Entry, apply, deltas, movements, replay
from .listing import Listing


def _month_start(moment: datetime) -> datetime:
    """Midnight UTC on the first day of ``moment``'s month."""
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


# The account's history ends at the start of the current month: the same account (for a seed) all month,
# and never a stale one. Paddle serves events of the last 90 days only, so a fixed date would leave the
# simulator with no historical events to serve a few months on.
ANCHOR = _month_start(datetime.now(UTC))
ANCHOR_MS = int(ANCHOR.timestamp() * 1000)
DAY_MS = 86_400_000
#: Paddle's "proration improvements": from this moment credit comes from transactions, not adjustments.
REGIME_CHANGE = datetime(2024, 3, 11, tzinfo=UTC)
REGIME_CHANGE_MS = int(REGIME_CHANGE.timestamp() * 1000)
# Signups span the last 24 months, and reach back at least a year before the regime change so the account
# holds both kinds of credit.
SIGNUP_START_MS = min(ANCHOR_MS - 730 * DAY_MS, REGIME_CHANGE_MS - 365 * DAY_MS)
SIGNUP_SPAN_MS = ANCHOR_MS - SIGNUP_START_MS

SUBSCRIBED_SHARE = 0.65  # the rest are one-time buyers, who never hold credit
CREDIT_SHARE = 0.30  # of subscribers: ever made a change that left credit
ARCHIVED_SHARE = 0.10
TWO_CURRENCY_SHARE = 0.15
REFUND_SHARE = 0.08
SELLER_CREDIT_SHARE = 0.05
PENDING_SHARE = 0.15  # legacy credit adjustments first pending_approval
REJECTED_SHARE = 0.03
REVERSED_SHARE = 0.02  # legacy credits clawed back by a credit_reverse (the first one always is)
NEXT_PERIOD_SHARE = 0.25  # changes billed prorated_next_billing_period: credit lands on the renewal
#: Events older than this before the anchor are never served (90 days), so they are not kept.
EVENTS_KEPT_MS = 120 * DAY_MS

# currency -> (lowest, highest) credit adjustment in minor units; JPY and KRW are zero-decimal,
# so their amounts are whole yen / won at realistic magnitudes.
CREDIT_RANGE: dict[str, tuple[int, int]] = {
    "USD": (500, 60_000),
    "EUR": (500, 50_000),
    "GBP": (500, 45_000),
    "JPY": (500, 80_000),
    "AUD": (800, 90_000),
    "KRW": (5_000, 800_000),
    "CAD": (700, 80_000),
    "BRL": (2_500, 300_000),
}
# Every currency appears in a small account too: the first credit customers take them in turn.
CURRENCY_ROTATION = ["USD", "EUR", "GBP", "JPY", "AUD", "KRW", "CAD", "BRL"]

# locale -> (weight, currencies a customer there pays in)
LOCALES: dict[str, tuple[int, list[str]]] = {
    "en": (48, ["USD", "USD", "USD", "GBP", "AUD", "CAD"]),
    "de": (12, ["EUR"]),
    "fr": (10, ["EUR"]),
    "es": (8, ["EUR", "USD"]),
    "ja": (8, ["JPY"]),
    "pt": (6, ["BRL", "EUR"]),
    "ko": (4, ["KRW"]),
    "it": (4, ["EUR"]),
}
FIRST_NAMES = {
    "en": ["Jamie", "Alex", "Sam", "Morgan", "Taylor", "Jordan", "Casey", "Riley", "Avery", "Quinn"],
    "de": ["Lukas", "Anna", "Jonas", "Lea", "Felix", "Mia", "Paul", "Emma"],
    "fr": ["Camille", "Louis", "Chloé", "Hugo", "Léa", "Jules", "Manon", "Arthur"],
    "es": ["Lucía", "Mateo", "Sofía", "Hugo", "Martina", "Pablo", "Valeria", "Diego"],
    "ja": ["Haruto", "Yui", "Sota", "Hina", "Ren", "Aoi", "Yuto", "Sakura"],
    "pt": ["João", "Ana", "Pedro", "Beatriz", "Lucas", "Mariana", "Gabriel", "Júlia"],
    "ko": ["Minjun", "Seoyeon", "Jiho", "Haeun", "Doyun", "Jiwoo", "Seojun", "Yuna"],
    "it": ["Giulia", "Marco", "Chiara", "Luca", "Sara", "Matteo", "Elena", "Andrea"],
}
LAST_NAMES = {
    "en": ["Price", "Wilson", "Miller", "Clarke", "Brown", "Taylor", "Evans", "Walker", "Hughes", "Reid"],
    "de": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann"],
    "fr": ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"],
    "es": ["García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Ruiz", "Díaz"],
    "ja": ["Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura"],
    "pt": ["Silva", "Santos", "Oliveira", "Souza", "Costa", "Pereira", "Almeida", "Ferreira"],
    "ko": ["Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon"],
    "it": ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci"],
}
ASCII = str.maketrans("éèüöäóíúñçãáú", "eeuoaoiuncaau")

PLANS = [("starter", 45), ("growth", 30), ("scale", 15), ("enterprise", 10)]
SEGMENTS = {"starter": ["smb"], "growth": ["smb", "mid-market"], "scale": ["mid-market"],
            "enterprise": ["enterprise"]}
PLAN_SCALE = {"starter": 1, "growth": 2, "scale": 4, "enterprise": 8, None: 1}
# monthly list price per plan in USD cents; other currencies scale by a rough factor
PLAN_PRICE_USD = {"starter": 2_900, "growth": 9_900, "scale": 29_900, "enterprise": 99_900}
PRICE_FACTOR = {"USD": 1.0, "EUR": 0.95, "GBP": 0.8, "JPY": 1.5, "AUD": 1.5, "KRW": 13.5, "CAD": 1.4,
                "BRL": 5.5}
PORTAL = "https://buyer-portal.paddle.com/subscriptions"
SUBSCRIPTION_STATUSES = [("active", 84), ("past_due", 4), ("paused", 4), ("trialing", 4), ("canceled", 4)]


_LOCALE_NAMES = list(LOCALES)
_LOCALE_CUM = list(accumulate(w for w, _c in LOCALES.values()))
_PLAN_NAMES = [p for p, _w in PLANS]
_PLAN_CUM = list(accumulate(w for _p, w in PLANS))


def _weighted(rng: random.Random, pairs: list[tuple[Any, int]]) -> Any:
    """Pick one value from (value, weight) pairs."""
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _credit_amount(rng: random.Random, currency: str, plan: str | None) -> int:
    """A log-uniform credit amount in minor units, larger for bigger plans."""
    low, high = CREDIT_RANGE[currency]
    return int(low * (high / low) ** rng.random()) * PLAN_SCALE.get(plan, 1)


def _ms(at: datetime | int | None) -> int | None:
    """A moment as epoch ms (None stays None): tests pass datetimes, the ledger keeps ms."""
    if at is None or isinstance(at, int):
        return at
    return int(at.timestamp() * 1000)


def _ms_of(stamp: str) -> int:
    """An ISO stamp the simulator wrote, back to epoch ms."""
    return int(datetime.fromisoformat(stamp).timestamp() * 1000)


class Account:
    """A synthetic Paddle account, deterministic from ``seed``; thread-safe through ``lock``.

    ``unsubscribed_credits`` plants credit (on a transaction) on that many customers who never subscribed,
    breaking Paddle's rule that only subscribers hold credit: tests use it to prove the fetch notices.

    ``anchor`` (a datetime or ms; default :data:`ANCHOR`, the start of this month) is where the generated
    history ends. ``clock`` is the moment the account is served at (None: the real time, the default); see
    :meth:`set_time`. The demo builds an account whose history ends a year ago and moves its clock from month
    end to month end, advancing the account at time-stamped moments in between.
    """

    def __init__(self, customers: int = 2000, seed: int = 7, unsubscribed_credits: int = 0,
                 anchor: datetime | int | None = None) -> None:
        if customers < 0:
            raise ValueError("customers must be >= 0")
        self.seed = seed
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
        self._catalog = self._build_catalog()
        gc_was_enabled = gc.isenabled()
        gc.disable()  # hundreds of thousands of small dicts: the cyclic collector only slows this down
        try:
            self._generate(customers)
            self._plant_unsubscribed(self._rng, unsubscribed_credits, self.anchor_ms - 20 * DAY_MS)
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
        Paddle's rule; ``new_customers`` sign up (about 70% subscribe, half of those with credit). Each
        operation picks customers not touched by an earlier one in the same call, so every customer reported
        as changed really has a different balance.

        Returns ``changed_customer_ids`` (balance differs), ``new_customer_ids``,
        ``seller_credit_customer_ids`` (named by adjustment events, balance unchanged) and
        ``reversed_adjustment_ids`` (the legacy credits clawed back; fewer than asked when too few qualify).
        """
        rng = random.Random(f"{self.seed}:{seed}")
        changed: set[str] = set()
        new_ids: set[str] = set()
        sellers: set[str] = set()
        with self.lock:
            ms = self._moment(at)
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
            self._flush_new()
        return {"changed_customer_ids": changed, "new_customer_ids": new_ids,
                "seller_credit_customer_ids": sellers, "reversed_adjustment_ids": reversed_ids}

    # ------------------------------------------------------------------ the served moment

    def now(self) -> int:
        """The moment the account is served at, in ms: the clock when set, else the real time."""
        return self.clock if self.clock is not None else now_ms()

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
        ms = _ms(at) if at is not None else self.now()
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

    @staticmethod
    def _pick(rng: random.Random, pool: list[str], count: int, touched: set[str], owner) -> list[str]:
        """Pick up to ``count`` items of ``pool`` whose customer is not yet in ``touched``; mark them."""
        picked: list[str] = []
        if count <= 0:
            return picked
        for item in rng.sample(pool, len(pool)):
            cid = owner(item)
            if cid in touched:
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

    def _new_id(self, prefix: str, ms: int) -> str:
        if self._historical:
            return random_id(prefix, ms, self._rng)
        return self._ids.next(prefix, ms)
    def _build_catalog(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        """Products per plan and prices per (plan, interval, currency), shared by every subscription."""
        rng = random.Random(self.seed * 31 + 3)
        created = self.signup_start_ms - 30 * DAY_MS
        catalog: dict[tuple[str, str, str], dict[str, Any]] = {}
        for plan, _weight in PLANS:
            product = {
                "id": random_id("pro", created, rng), "name": f"{plan.title()} plan", "type": "standard",
                "tax_category": "saas", "image_url": None, "custom_data": None, "status": "active",
                "import_meta": None, "created_at": iso(created), "updated_at": iso(created),
            }
            for interval in ("month", "year"):
                for currency, factor in PRICE_FACTOR.items():
                    # USD cents times the factor gives whole yen / won directly (zero-decimal currencies)
                    amount = int(PLAN_PRICE_USD[plan] * factor) * (10 if interval == "year" else 1)
                    catalog[(plan, interval, currency)] = {
                        "id": random_id("pri", created, rng), "product_id": product["id"], "type": "standard",
                        "description": f"{plan.title()} {interval}ly ({currency})",
                        "name": f"{plan.title()} {interval}ly",
                        "billing_cycle": {"interval": interval, "frequency": 1}, "trial_period": None,
                        "tax_mode": "account_setting",
                        "unit_price": {"amount": str(amount), "currency_code": currency},
                        "unit_price_overrides": [], "quantity": {"minimum": 1, "maximum": 100},
                        "status": "active", "custom_data": None, "import_meta": None,
                        "created_at": iso(created), "updated_at": iso(created), "product": product,
                    }
        return catalog

    def _generate(self, count: int) -> None:
        """Create ``count`` customers signed up before the anchor, each with their history."""
        rng = self._rng
        span = self.anchor_ms - self.signup_start_ms
        signups = sorted(self.signup_start_ms + int(span * rng.random() ** 0.8) for _ in range(count))
        for created in signups:
            customer = self._new_customer(rng, created)
            archived_at = None
            if rng.random() < ARCHIVED_SHARE:
                archived_at = created + int((self.anchor_ms - created) * (0.3 + 0.7 * rng.random()))
            end = archived_at or self.anchor_ms
            if rng.random() < SUBSCRIBED_SHARE:
                self._subscriber_history(rng, customer, created, archived_at, end)
            else:
                self._buyer_history(rng, customer, created, end)
            if archived_at is not None:
                customer["status"] = "archived"
                customer["updated_at"] = iso(archived_at)
                self._event("customer.updated", archived_at, customer)

    def _subscriber_history(self, rng: random.Random, customer: dict[str, Any], created: int,
                            archived_at: int | None, end: int) -> None:
        """A subscription; for some, prorated changes that left credit, and the credit spent later."""
        if rng.random() < CREDIT_SHARE:
            if self._credit_customers < len(CURRENCY_ROTATION):
                currency = CURRENCY_ROTATION[self._credit_customers]
            else:
                currency = self._home_currency(rng, customer)
            self._credit_customers += 1
            sub = self._subscribe(rng, customer, created, archived_at, currency)
            self._credit_history(rng, customer, sub, end)
            if rng.random() < TWO_CURRENCY_SHARE:
                other = rng.choice([c for c in ("USD", "EUR", "GBP", "JPY") if c != currency])
                second = self._subscribe(rng, customer, created + DAY_MS, archived_at, other)
                self._credit_history(rng, customer, second, end)
            return
        sub = self._subscribe(rng, customer, created, archived_at)
        roll = rng.random()
        start = _ms_of(sub["started_at"])
        if roll < SELLER_CREDIT_SHARE and end - start > 4 * DAY_MS:
            billed = start + int((end - start - 4 * DAY_MS) * rng.random())
            self._seller_credit(rng, customer, billed, billed + int(3 * DAY_MS * rng.random()) + 1, sub)
        elif roll < SELLER_CREDIT_SHARE + REFUND_SHARE and end - start > 2 * DAY_MS:
            ms = start + int((end - start - 2 * DAY_MS) * rng.random())
            txn = self._renewal(rng, customer, sub, ms, credit=0)
            self._refund(rng, customer, txn, ms + DAY_MS)

    def _buyer_history(self, rng: random.Random, customer: dict[str, Any], created: int, end: int) -> None:
        """A one-time purchase; for some, a refund or a seller credit on a manual invoice. Never credit."""
        bought = created + int((end - created) * 0.1 * rng.random())
        currency = self._home_currency(rng, customer)
        price = self._catalog[(self._plan(customer) or "starter", "month", currency)]
        charge = entities.line(self._new_id("txnitm", bought), price, int(price["unit_price"]["amount"]), None)
        txn = self._new_txn(customer, None, currency, "web", "automatic", [(price, charge)], 0, bought)
        self._complete(txn, bought + 2, "web", paid=True)
        roll = rng.random()
        if roll < REFUND_SHARE and end - bought > 2 * DAY_MS:
            self._refund(rng, customer, txn, bought + int((end - bought - DAY_MS) * rng.random()) + 3)
        elif roll < REFUND_SHARE + SELLER_CREDIT_SHARE / 2 and end - bought > 4 * DAY_MS:
            billed = bought + int((end - bought - 4 * DAY_MS) * rng.random()) + 3
            self._seller_credit(rng, customer, billed, billed + DAY_MS)

    def _credit_history(self, rng: random.Random, customer: dict[str, Any], sub: dict[str, Any], end: int) -> None:
        """One to three prorated changes that left credit, each perhaps followed by spending it.

        Change ``k`` owns the interval up to change ``k+1`` (or ``end``): its credit is issued, maybe spent or
        reserved, and any reservation settled inside it, so the running balance is right at every moment. A
        reservation of the last interval may stay open (an unpaid invoice at the anchor).
        """
        start = _ms_of(sub["started_at"]) + DAY_MS
        if end - start < 10 * DAY_MS:
            return
        times = sorted(start + int((end - start) * rng.random()) for _ in range(rng.randint(1, 3)))
        bounds = times[1:] + [end]
        for k, (t, until) in enumerate(zip(times, bounds, strict=True)):
            span = until - t
            if span < 100:
                continue
            last = k == len(times) - 1
            issued = self._legacy(rng, customer, sub, t, span) if t < REGIME_CHANGE_MS else \
                self._grant(rng, customer, sub, t, next_period=rng.random() < NEXT_PERIOD_SHARE, until=until)
            if issued is None or rng.random() < 0.4:
                continue
            spend_at = issued + int((until - issued) * (0.1 + 0.4 * rng.random()))
            if spend_at + 10 >= until:
                continue
            manual = rng.random() < 0.45
            txn = self._spend(rng, customer, spend_at, manual=manual, sub=sub)
            if txn is None or not manual:
                continue
            fate = rng.random()
            if last and fate < 0.35:
                if fate < 0.1:
                    self._past_due(txn, spend_at + (until - spend_at) // 3)
                continue
            settle_at = spend_at + 5 + int((until - spend_at - 10) * rng.random())
            self._settle(txn, "completed" if fate < 0.8 else "canceled", settle_at)

    # ------------------------------------------------------------------ credit in

    def _legacy(self, rng: random.Random, customer: dict[str, Any], sub: dict[str, Any], ms: int,
                span: int) -> int | None:
        """Before 11 March 2024: an ``action: credit`` adjustment against the previous renewal.

        Returns when its credit reached the balance (approval), or None when it never did (rejected) or was
        clawed back at once (a ``credit_reverse``).
        """
        currency = sub["currency_code"]
        amount = _credit_amount(rng, currency, self._plan(customer))
        previous = self._renewal(rng, customer, sub, max(_ms_of(sub["started_at"]), ms - DAY_MS), credit=0)
        self._legacy_count += 1
        roll = rng.random()
        pending = self._legacy_count == 2 or roll < PENDING_SHARE + REJECTED_SHARE
        adj = self._adjustment("credit", customer, previous, amount, ms,
                               "pending_approval" if pending else "approved", "Prorated plan change", True,
                               "proration")
        approved = ms
        event_id = self._last_event_id
        if pending:
            approved = ms + max(1, span // 10)
            verdict = "rejected" if roll < REJECTED_SHARE and self._legacy_count != 2 else "approved"
            adj["status"], adj["updated_at"] = verdict, iso(approved)
            event_id = self._event("adjustment.updated", approved, adj)
            if verdict == "rejected":
                return None
        self._entry(approved, "issued", customer["id"], currency, amount, "adjustment", previous["id"],
                    adj["id"], event_id)
        if not pending and (self._reversals == 0 or rng.random() < REVERSED_SHARE):
            self._reverse(adj, ms + max(1, span // 20))
            return None
        self._legacy_credits.append(adj)
        return approved

    def _reverse(self, original: dict[str, Any], ms: int) -> None:
        """A ``credit_reverse`` (reason ``subscription_update_failed``) takes the credit back; the original
        adjustment's status becomes ``reversed`` (we count the reversal, never the status)."""
        customer = self._customers[original["customer_id"]]
        amount = int(original["totals"]["total"])
        txn = {"id": original["transaction_id"], "subscription_id": original["subscription_id"],
               "currency_code": original["currency_code"], "_item": original["items"][0]["item_id"]}
        reverse = self._adjustment("credit_reverse", customer, txn, -amount, ms, "approved",
                                   "subscription_update_failed", None, "proration")
        self._entry(ms, "reversed", customer["id"], original["currency_code"], amount, "adjustment",
                    original["transaction_id"], reverse["id"], self._last_event_id)
        original["status"], original["updated_at"] = "reversed", iso(ms + 1)
        self._event("adjustment.updated", ms + 1, original)
        if original in self._legacy_credits:
            self._legacy_credits.remove(original)
        self._reversals += 1

    def _grant(self, rng: random.Random, customer: dict[str, Any], sub: dict[str, Any], ms: int, *,
               next_period: bool, until: int | None = None) -> int:
        """Since 11 March 2024: a downgrade's credit as ``credit_to_balance`` on a completed transaction.

        Charged at once, it is a ``subscription_update`` transaction asking for nothing (``grand_total`` 0,
        no payment); billed ``prorated_next_billing_period``, it lands on the renewal
        (``subscription_recurring``) up to a month later. Returns when the credit reached the balance.
        """
        currency = sub["currency_code"]
        amount = _credit_amount(rng, currency, self._plan(customer))
        price = self._sub_price(sub)
        period_end = ms + 30 * DAY_MS
        if next_period and until is not None and until - ms > 4 * DAY_MS:
            renew = ms + int((until - ms) * 0.5 * rng.random()) + 1
            list_price = int(price["unit_price"]["amount"])
            lines = [(price, entities.line(self._new_id("txnitm", renew), price, list_price, None)),
                     (price, entities.line(self._new_id("txnitm", renew), price, -(amount + list_price),
                                           entities.proration(ms, period_end, "0.5")))]
            txn = self._new_txn(customer, sub, currency, "subscription_recurring", "automatic", lines, 0, renew,
                                (renew, renew + 30 * DAY_MS))
            return self._complete(txn, renew + 1, "subscription_recurring")
        charge = amount // 3
        lines = [(price, entities.line(self._new_id("txnitm", ms), price, charge,
                                       entities.proration(ms, period_end, "0.5"))),
                 (price, entities.line(self._new_id("txnitm", ms), price, -(amount + charge),
                                       entities.proration(ms, period_end, "0.5")))]
        txn = self._new_txn(customer, sub, currency, "subscription_update", "automatic", lines, 0, ms,
                            (ms, period_end))
        return self._complete(txn, ms + 1, "subscription_update")

    # ------------------------------------------------------------------ credit out

    def _spend(self, rng: random.Random, customer: dict[str, Any], ms: int, *, manual: bool,
               sub: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """A renewal that applies available credit: collected at once (used) or a billed invoice (reserved)."""
        cid = customer["id"]
        if sub is None:
            held = sorted(c for c, row in self._balances.get(cid, {}).items() if row[0] > 0)
            subs = [s for s in self._subscriptions_by_customer.get(cid, ()) if s["currency_code"] in held]
            if not held:
                return None
            sub = rng.choice(subs) if subs else None
            currency = sub["currency_code"] if sub else rng.choice(held)
        else:
            currency = sub["currency_code"]
        available = self._available(cid, currency)
        if available <= 0:
            return None
        price = self._sub_price(sub) if sub else self._catalog[("starter", "month", currency)]
        total = max(int(price["unit_price"]["amount"]), int(available * (0.3 + 0.9 * rng.random())))
        credit = min(available, total)
        lines = [(price, entities.line(self._new_id("txnitm", ms), price, total, None))]
        txn = self._new_txn(customer, sub, currency, "subscription_recurring", "manual" if manual else "automatic",
                            lines, credit, ms, (ms, ms + 30 * DAY_MS))
        if not manual:
            self._complete(txn, ms + 1, "subscription_recurring", paid=int(txn["details"]["totals"]["grand_total"]) > 0)
            return txn
        self._bill(txn, ms + 1)
        return txn

    def _bill(self, txn: dict[str, Any], ms: int) -> None:
        """An issued manual invoice: status ``billed``; credit it applies moves available -> reserved."""
        self._invoices += 1
        txn["invoice_id"] = self._new_id("inv", ms)
        txn["invoice_number"] = f"{self.seed}-{self._invoices:05d}"
        txn["billed_at"] = iso(ms)
        event_id = self._step(txn, "billed", ms)
        credit = int(txn["details"]["totals"]["credit"])
        if credit > 0:
            self._entry(ms, "reserved", txn["customer_id"], txn["currency_code"], credit, txn["origin"], txn["id"],
                        "", event_id)
            self._open_transactions[txn["id"]] = txn

    def _past_due(self, txn: dict[str, Any], ms: int) -> None:
        """An invoice not paid by its due date: ``past_due`` (no credit moves)."""
        self._step(txn, "past_due", ms)

    def _settle(self, txn: dict[str, Any], status: str, ms: int) -> None:
        """Complete (reserved -> used) or cancel (reserved -> available) an open billed invoice."""
        self._open_transactions.pop(txn["id"], None)
        credit = int(txn["details"]["totals"]["credit"])
        if status == "completed":
            self._complete(txn, ms, txn["origin"], paid=True)
            return
        event_id = self._step(txn, "canceled", ms)
        if credit > 0:
            self._entry(ms, "released", txn["customer_id"], txn["currency_code"], credit, txn["origin"], txn["id"],
                        "", event_id)

    def _complete(self, txn: dict[str, Any], ms: int, source: str, paid: bool = False) -> int:
        """Move a transaction to ``completed`` (after ``paid`` when money was collected); its credit moves.

        ``credit_to_balance`` is issued to available; ``credit`` is used, from reserved when the transaction
        was a billed manual invoice, else from available (credit-rules.md). Returns the completion ms.
        """
        if txn["billed_at"] is None:
            txn["billed_at"] = iso(ms)
        if paid:
            self._step(txn, "paid", ms)
            ms += 1
        event_id = self._step(txn, "completed", ms)
        totals = txn["details"]["totals"]
        cid, currency = txn["customer_id"], txn["currency_code"]
        to_balance, credit = int(totals["credit_to_balance"]), int(totals["credit"])
        if to_balance > 0:
            self._entry(ms, "issued", cid, currency, to_balance, source, txn["id"], "", event_id)
        if credit > 0:
            from_reserved = txn["collection_mode"] == "manual" and txn["invoice_id"] is not None
            self._entry(ms, "used", cid, currency, credit, txn["origin"], txn["id"], "", event_id,
                        from_reserved=from_reserved)
        return ms

    # ------------------------------------------------------------------ no effect on balances

    def _seller_credit(self, rng: random.Random, customer: dict[str, Any], billed: int, credited: int,
                       sub: dict[str, Any] | None = None) -> None:
        """A billed (or past-due) manual invoice reduced by a seller's ``credit`` adjustment
        (``credit_applied_to_balance: false``): the invoice asks for less; no balance moves."""
        currency = sub["currency_code"] if sub else self._home_currency(rng, customer)
        price = self._sub_price(sub) if sub else self._catalog[("starter", "month", currency)]
        total = int(price["unit_price"]["amount"])
        lines = [(price, entities.line(self._new_id("txnitm", billed), price, total, None))]
        txn = self._new_txn(customer, sub, currency, "subscription_recurring" if sub else "api", "manual", lines, 0,
                            billed, (billed, billed + 30 * DAY_MS) if sub else None)
        self._bill(txn, billed + 1)
        if rng.random() < 0.3:
            self._past_due(txn, credited - 1 if credited - 1 > billed + 1 else billed + 2)
            credited = max(credited, billed + 3)
        amount = max(1, total * rng.choice((10, 25, 50)) // 100)
        self._adjustment("credit", customer, txn, amount, credited, "approved", "Goodwill credit on the invoice",
                         False, "partial")
        adjusted = txn["details"]["adjusted_totals"]
        net, tax = entities.split_tax(total - amount)
        adjusted.update(subtotal=str(net), tax=str(tax), total=str(total - amount), grand_total=str(total - amount),
                        grand_total_tax=str(tax))
        txn["updated_at"] = iso(credited + 1)
        self._event("transaction.updated", credited + 1, txn)

    def _refund(self, rng: random.Random, customer: dict[str, Any], txn: dict[str, Any], ms: int) -> None:
        """A refund of part of a completed transaction: shows in /adjustments, no effect on credit."""
        status = "approved" if rng.random() < 0.8 else "pending_approval"
        amount = max(1, int(txn["details"]["totals"]["grand_total"]) // 2)
        self._adjustment("refund", customer, txn, amount, ms, status, "Customer requested a refund", None, "partial")

    # ------------------------------------------------------------------ entities

    def _sub_price(self, sub: dict[str, Any]) -> dict[str, Any]:
        return sub["items"][0]["price"]

    def _renewal(self, rng: random.Random, customer: dict[str, Any], sub: dict[str, Any], ms: int,
                 credit: int) -> dict[str, Any]:
        """A plain renewal collected at once (no credit applied unless ``credit``)."""
        price = self._sub_price(sub)
        lines = [(price, entities.line(self._new_id("txnitm", ms), price, int(price["unit_price"]["amount"]), None))]
        txn = self._new_txn(customer, sub, sub["currency_code"], "subscription_recurring", "automatic", lines, credit,
                            ms, (ms, ms + 30 * DAY_MS))
        self._complete(txn, ms + 1, "subscription_recurring", paid=True)
        return txn

    def _new_txn(self, customer: dict[str, Any], sub: dict[str, Any] | None, currency: str, origin: str,
                 collection: str, lines: list[tuple[dict[str, Any], dict[str, Any]]], credit: int, ms: int,
                 period: tuple[int, int] | None = None) -> dict[str, Any]:
        """A new transaction (status ``ready``, event ``transaction.created``), listed from now on."""
        txn = entities.transaction(
            txn_id=self._new_id("txn", ms), customer_id=customer["id"],
            address_id=sub["address_id"] if sub else None, currency=currency, origin=origin,
            subscription_id=sub["id"] if sub else None, collection_mode=collection, lines=lines, credit=credit,
            created=ms, period=period)
        self._transactions_by_customer.setdefault(customer["id"], []).append(txn)
        self._new["transactions"].append(txn)
        self._event("transaction.created", ms, txn)
        return txn

    def _step(self, txn: dict[str, Any], status: str, ms: int) -> str:
        """Move a transaction to ``status`` at ``ms``; emits ``transaction.<status>``; returns the event id."""
        txn["status"], txn["updated_at"] = status, iso(ms)
        return self._event(f"transaction.{status}", ms, txn)

    def _adjustment(self, action: str, customer: dict[str, Any], txn: dict[str, Any], amount: int, ms: int,
                    status: str, reason: str, applied: bool | None, item_type: str) -> dict[str, Any]:
        """A Paddle adjustment against ``txn``; emits ``adjustment.created``."""
        items = txn.get("details", {}).get("line_items") or [{"id": txn.get("_item") or self._new_id("txnitm", ms)}]
        adjustment = entities.adjustment(
            adj_id=self._new_id("adj", ms), item_id=self._new_id("adjitm", ms), action=action,
            transaction_id=txn["id"], subscription_id=txn.get("subscription_id"), customer_id=customer["id"],
            currency=txn["currency_code"], amount=amount, status=status, ms=ms, reason=reason,
            applied_to_balance=applied, item_type=item_type, transaction_item_id=items[0]["id"])
        self._adjustments_by_customer.setdefault(customer["id"], []).append(adjustment)
        self._new["adjustments"].append(adjustment)
        self._event("adjustment.created", ms, adjustment)
        return adjustment

    def _subscribe(self, rng: random.Random, customer: dict[str, Any], created: int,
                   archived_at: int | None, currency: str | None = None) -> dict[str, Any]:
        """A subscription to the customer's plan, canceled if the customer was archived."""
        plan = self._plan(customer) or "starter"
        interval = "year" if rng.random() < 0.25 else "month"
        currency = currency or self._home_currency(rng, customer)
        price = self._catalog[(plan, interval, currency)]
        status = "canceled" if archived_at is not None else _weighted(rng, SUBSCRIPTION_STATUSES)
        period = (365 if interval == "year" else 30) * DAY_MS
        jitter = rng.randint(0, 3 * DAY_MS)  # drawn always, so the account stays the same for a seed
        # a subscription made while the account moves on starts at once: one dated days ahead put the
        # account's newest change in the future, and every later advance at real now was refused
        started = created + jitter if self._historical else created
        periods = max(0, (self.anchor_ms - started) // period)
        period_start = started + periods * period
        sid = self._new_id("sub", started)
        product = price["product"]
        price_obj = {k: v for k, v in price.items() if k != "product"}
        sub = {
            "id": sid, "status": status, "customer_id": customer["id"],
            "address_id": self._new_id("add", created), "business_id": None, "currency_code": currency,
            "created_at": iso(started), "updated_at": iso(archived_at or period_start),
            "started_at": iso(started), "first_billed_at": iso(started),
            "next_billed_at": None if status in ("canceled", "paused") else iso(period_start + period),
            "paused_at": iso(period_start) if status == "paused" else None,
            "canceled_at": iso(archived_at) if archived_at is not None else (
                iso(period_start) if status == "canceled" else None),
            "discount": None, "collection_mode": "automatic", "billing_details": None,
            "current_billing_period": None if status in ("canceled", "paused") else {
                "starts_at": iso(period_start), "ends_at": iso(period_start + period)},
            "billing_cycle": {"interval": interval, "frequency": 1}, "scheduled_change": None,
            "management_urls": {"update_payment_method": f"{PORTAL}/{sid}/update-payment-method",
                                "cancel": f"{PORTAL}/{sid}/cancel"},
            "items": [{
                "status": "active", "quantity": 1, "recurring": True, "created_at": iso(started),
                "updated_at": iso(started), "previously_billed_at": iso(period_start),
                "next_billed_at": None if status in ("canceled", "paused") else iso(period_start + period),
                "trial_dates": None, "price": dict(price_obj, product=product), "product": product,
            }],
            "custom_data": None, "import_meta": None,
        }
        self._subscriptions_by_customer.setdefault(customer["id"], []).append(sub)
        self._new["subscriptions"].append(sub)
        self._event("subscription.created", started, sub)
        return sub

    def _entry(self, ms: int, kind: str, customer_id: str, currency: str, amount: int, source: str,
               transaction_id: str, adjustment_id: str, event_id: str, from_reserved: bool = False) -> None:
        """Record a time-stamped ledger entry and apply it to the served balances."""
        available, reserved, used = deltas(kind, amount, from_reserved)
        entry = Entry(ms, kind, customer_id, currency, amount, available, reserved, used, source, transaction_id,
                      adjustment_id, event_id)
        self._latest_ms = max(self._latest_ms, ms)
        self.entries.append(entry)
        apply(self._balances, entry)

    def _event(self, event_type: str, ms: int, data: dict[str, Any]) -> str:
        """Record the Paddle event for a change, holding a copy of the entity as it is now; returns its id.

        Ids sort in occurrence order. History older than :data:`EVENTS_KEPT_MS` before the anchor gets its id
        (ledger entries name it) but is not stored: Paddle serves 90 days of events, so nobody could read it.
        """
        event_id = self._new_id("evt", ms)
        self._last_event_id = event_id
        self._latest_ms = max(self._latest_ms, ms)
        if ms >= self.anchor_ms - EVENTS_KEPT_MS or not self._historical:
            self._new["events"].append({"event_id": event_id, "event_type": event_type, "occurred_at": iso(ms),
                                        "data": dict(data)})
        return event_id

    def _new_customer(self, rng: random.Random, created: int) -> dict[str, Any]:
        """A Paddle customer object with a synthetic name and email; emits customer.created."""
        locale = rng.choices(_LOCALE_NAMES, cum_weights=_LOCALE_CUM)[0]
        first, last = rng.choice(FIRST_NAMES[locale]), rng.choice(LAST_NAMES[locale])
        cid = self._new_id("ctm", created)
        custom_data = None
        if rng.random() < 0.85:
            plan = rng.choices(_PLAN_NAMES, cum_weights=_PLAN_CUM)[0]
            custom_data = {"plan": plan, "segment": rng.choice(SEGMENTS[plan])}
        local_part = f"{first}.{last}".lower().translate(ASCII)
        customer = {
            "id": cid, "status": "active", "custom_data": custom_data,
            "name": f"{first} {last}" if rng.random() < 0.93 else None,
            "email": f"{local_part}.{cid[-6:]}@example.com",
            "marketing_consent": rng.random() < 0.3, "locale": locale,
            "created_at": iso(created), "updated_at": iso(created), "import_meta": None,
        }
        self._customers[cid] = customer
        self._new["customers"].append(customer)
        self._event("customer.created", created, customer)
        return customer

    @staticmethod
    def _plan(customer: dict[str, Any]) -> str | None:
        data = customer.get("custom_data") or {}
        return data.get("plan")

    @staticmethod
    def _home_currency(rng: random.Random, customer: dict[str, Any]) -> str:
        return rng.choice(LOCALES[customer["locale"]][1])

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

