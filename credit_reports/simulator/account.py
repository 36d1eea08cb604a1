"""The simulator's deterministic Paddle account: customers, subscriptions, a credit ledger, events.

Everything follows from ``seed`` and a fixed anchor date, so the same account comes back on every run.
Customer credit exists only as ledger entries, which mirror Paddle's semantics:

- an approved ``credit`` adjustment adds to ``available``;
- a ``billed`` transaction that applies credit moves it from ``available`` to ``reserved``;
- ``completed`` moves it from ``reserved`` to ``used``; ``canceled`` moves it back to ``available``.

The balances the server answers with are kept up to date entry by entry; ``expected_balances()``
replays the entries from scratch, so a test can compare what was served with what must be true.
Every ledger change also produces the Paddle event a real account would show.
"""

from __future__ import annotations

import gc
import random
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

from .ids import MonotonicIds, iso, now_ms, random_id
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
SIGNUP_SPAN_MS = 730 * DAY_MS  # 24 months of signups ending at the anchor

CREDIT_SHARE = 0.20
ARCHIVED_SHARE = 0.10
TWO_CURRENCY_SHARE = 0.15
REFUND_SHARE = 0.08
SUBSCRIBED_SHARE = 0.80

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
PAYOUT_CURRENCIES = {"AUD", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HUF", "PLN", "SEK", "USD",
                     "ZAR"}

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


def _apply(balances: dict[str, dict[str, list[int]]], entry: tuple[str, str, str, int, str]) -> None:
    """Apply one ledger entry (kind, customer_id, currency, amount, ref) to a balances map."""
    kind, customer_id, currency, amount, _ref = entry
    row = balances.setdefault(customer_id, {}).setdefault(currency, [0, 0, 0])
    if kind == "credit":
        row[0] += amount
    elif kind == "reserve":
        row[0] -= amount
        row[1] += amount
    elif kind == "complete":
        row[1] -= amount
        row[2] += amount
    elif kind == "cancel":
        row[1] -= amount
        row[0] += amount
    else:
        raise ValueError(f"unknown ledger entry kind {kind!r}")


class Account:
    """A synthetic Paddle account, deterministic from ``seed``; thread-safe through ``lock``."""

    def __init__(self, customers: int = 2000, seed: int = 7) -> None:
        if customers < 0:
            raise ValueError("customers must be >= 0")
        self.seed = seed
        self.lock = threading.RLock()
        self.entries: list[tuple[str, str, str, int, str]] = []
        self._balances: dict[str, dict[str, list[int]]] = {}
        self._customers: dict[str, dict[str, Any]] = {}
        self._adjustments_by_customer: dict[str, list[dict[str, Any]]] = {}
        self._subscriptions_by_customer: dict[str, list[dict[str, Any]]] = {}
        self._open_transactions: dict[str, dict[str, Any]] = {}
        self._new: dict[str, list[dict[str, Any]]] = {"customers": [], "adjustments": [],
                                                       "subscriptions": [], "events": []}
        self._rng = random.Random(seed)
        self._historical = True
        self._credit_customers = 0
        self._catalog = self._build_catalog()
        gc_was_enabled = gc.isenabled()
        gc.disable()  # hundreds of thousands of small dicts: the cyclic collector only slows this down
        try:
            self._generate(customers)
            self._index()
        finally:
            if gc_was_enabled:
                gc.enable()
        self._historical = False
        self._ids = MonotonicIds(random.Random(seed * 7919 + 1))
        for listing in (self.customer_lists["all"], self.adjustments, self.subscriptions):
            if listing.ids:
                self._ids.observe(listing.ids[-1])
        if self.events.ids:
            self._ids.observe(self.events.ids[-1])

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

    def expected_balances(self) -> list[dict[str, Any]]:
        """Balances recomputed by replaying every ledger entry from an empty ledger.

        Independent of the incrementally maintained state the server answers from, so a test can
        compare the two. One dict per customer and currency, amounts as ints in minor units, sorted.
        """
        with self.lock:
            entries = list(self.entries)
        replayed: dict[str, dict[str, list[int]]] = {}
        for entry in entries:
            _apply(replayed, entry)
        return [
            {"customer_id": cid, "currency_code": currency, "available": row[0], "reserved": row[1],
             "used": row[2]}
            for cid in sorted(replayed)
            for currency, row in sorted(replayed[cid].items())
        ]

    # ------------------------------------------------------------------ moving the account on

    def advance(self, seed: int, credits: int = 0, reservations: int = 0, completions: int = 0,
                cancellations: int = 0, new_customers: int = 0) -> dict[str, set[str]]:
        """Move the account on at real ``now``, the way a live Paddle account changes between snapshots.

        ``credits`` customers get a new credit adjustment; ``reservations`` customers with available
        credit get a billed transaction that reserves some of it; ``completions`` and
        ``cancellations`` settle transactions that were open before this call; ``new_customers`` sign
        up (about 40% of them with credit). Each operation picks customers not touched by an earlier
        one in the same call, so every customer reported as changed really has a different balance.
        Returns ``{"changed_customer_ids": ..., "new_customer_ids": ...}``; changed includes new
        customers that received credit.
        """
        rng = random.Random(f"{self.seed}:{seed}")
        changed: set[str] = set()
        new_ids: set[str] = set()
        with self.lock:
            ms = now_ms()
            open_before = sorted(self._open_transactions)
            for txn_id in self._pick(rng, open_before, completions, changed, self._txn_customer):
                self._settle(txn_id, "completed", ms)
            open_left = [t for t in open_before if t in self._open_transactions]
            for txn_id in self._pick(rng, open_left, cancellations, changed, self._txn_customer):
                self._settle(txn_id, "canceled", ms)
            for cid in self._pick(rng, self.customer_lists["all"].ids, credits, changed, str):
                customer = self._customers[cid]
                held = sorted(self._balances.get(cid, {}))
                currency = rng.choice(held) if held else self._home_currency(rng, customer)
                self._credit(rng, customer, currency, _credit_amount(rng, currency, self._plan(customer)), ms)
            holders = sorted(cid for cid, rows in self._balances.items()
                             if any(row[0] > 0 for row in rows.values()))
            for cid in self._pick(rng, holders, reservations, changed, str):
                currency = rng.choice(sorted(c for c, row in self._balances[cid].items() if row[0] > 0))
                self._bill(rng, self._customers[cid], currency, ms)
            for _ in range(new_customers):
                customer = self._new_customer(rng, ms)
                new_ids.add(customer["id"])
                if rng.random() < 0.4:
                    currency = self._home_currency(rng, customer)
                    self._credit(rng, customer, currency,
                                 _credit_amount(rng, currency, self._plan(customer)), ms)
                    changed.add(customer["id"])
            self._flush_new()
        return {"changed_customer_ids": changed, "new_customer_ids": new_ids}

    def _txn_customer(self, txn_id: str) -> str:
        return self._open_transactions[txn_id]["customer_id"]

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

    # ------------------------------------------------------------------ generation

    def _new_id(self, prefix: str, ms: int) -> str:
        if self._historical:
            return random_id(prefix, ms, self._rng)
        return self._ids.next(prefix, ms)

    def _build_catalog(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        """Products per plan and prices per (plan, interval, currency), shared by every subscription."""
        rng = random.Random(self.seed * 31 + 3)
        created = ANCHOR_MS - SIGNUP_SPAN_MS - 30 * DAY_MS
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
        """Create ``count`` customers signed up over 24 months before the anchor, with their history."""
        rng = self._rng
        signups = sorted(ANCHOR_MS - SIGNUP_SPAN_MS + int(SIGNUP_SPAN_MS * rng.random() ** 0.8)
                         for _ in range(count))
        for created in signups:
            customer = self._new_customer(rng, created)
            plan = self._plan(customer)
            archived_at = None
            if rng.random() < ARCHIVED_SHARE:
                archived_at = created + int((ANCHOR_MS - created) * (0.3 + 0.7 * rng.random()))
            if rng.random() < SUBSCRIBED_SHARE:
                self._subscribe(rng, customer, created, archived_at)
            if rng.random() < CREDIT_SHARE:
                if self._credit_customers < len(CURRENCY_ROTATION):
                    currencies = [CURRENCY_ROTATION[self._credit_customers]]
                else:
                    currencies = [self._home_currency(rng, customer)]
                self._credit_customers += 1
                if rng.random() < TWO_CURRENCY_SHARE:
                    other = rng.choice([c for c in ("USD", "EUR", "GBP", "JPY") if c != currencies[0]])
                    currencies.append(other)
                for currency in currencies:
                    self._credit_history(rng, customer, currency, plan, created)
            elif rng.random() < REFUND_SHARE / (1 - CREDIT_SHARE):
                ms = created + int((ANCHOR_MS - created) * rng.random())
                self._refund(rng, customer, self._home_currency(rng, customer), ms)
            if archived_at is not None:
                customer["status"] = "archived"
                customer["updated_at"] = iso(archived_at)
                self._event("customer.updated", archived_at, dict(customer))

    def _credit_history(self, rng: random.Random, customer: dict[str, Any], currency: str,
                        plan: str | None, created: int) -> None:
        """Credit adjustments for one currency, then billed transactions that reserve, use or release it."""
        times = sorted(created + int((ANCHOR_MS - created) * rng.random()) for _ in range(rng.randint(1, 3)))
        for ms in times:
            self._credit(rng, customer, currency, _credit_amount(rng, currency, plan), ms)
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            billed = times[-1] + int((ANCHOR_MS - times[-1]) * rng.random())
            txn = self._bill(rng, customer, currency, billed)
            if txn is None:
                break
            fate = rng.random()
            if fate < 0.6:
                self._settle(txn["id"], "completed", billed + int((ANCHOR_MS - billed) * rng.random()))
            elif fate < 0.75:
                self._settle(txn["id"], "canceled", billed + int((ANCHOR_MS - billed) * rng.random()))

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
        self._event("customer.created", created, dict(customer))
        return customer

    @staticmethod
    def _plan(customer: dict[str, Any]) -> str | None:
        data = customer.get("custom_data") or {}
        return data.get("plan")

    @staticmethod
    def _home_currency(rng: random.Random, customer: dict[str, Any]) -> str:
        return rng.choice(LOCALES[customer["locale"]][1])

    def _adjustment(self, rng: random.Random, customer: dict[str, Any], action: str, currency: str,
                    amount: int, ms: int, status: str) -> dict[str, Any]:
        """A Paddle adjustment (credit or refund) with items, totals and tax as the spec shapes them."""
        subtotal = amount * 5 // 6
        tax = amount - subtotal
        fee = amount // 20 if action == "refund" else 0
        totals = {"subtotal": str(subtotal), "tax": str(tax), "total": str(amount), "fee": str(fee),
                  "earnings": str(amount - tax - fee), "currency_code": currency}
        subs = self._subscriptions_by_customer.get(customer["id"])
        adjustment = {
            "id": self._new_id("adj", ms), "action": action,
            "type": "partial", "transaction_id": self._new_id("txn", ms),
            "subscription_id": subs[0]["id"] if subs else None, "customer_id": customer["id"],
            "reason": "Prorated plan change" if action == "credit" else "Customer requested a refund",
            "credit_applied_to_balance": True if action == "credit" else None,
            "currency_code": currency, "status": status,
            "items": [{
                "id": self._new_id("adjitm", ms), "item_id": self._new_id("txnitm", ms),
                "type": "proration" if action == "credit" else "partial", "amount": str(amount),
                "proration": None,
                "totals": {"subtotal": str(subtotal), "tax": str(tax), "total": str(amount)},
            }],
            "totals": totals,
            "payout_totals": dict(totals) if currency in PAYOUT_CURRENCIES else None,
            "tax_rates_used": [{"tax_rate": "0.2", "totals": {"subtotal": str(subtotal), "tax": str(tax),
                                                              "total": str(amount)}}],
            "created_at": iso(ms), "updated_at": iso(ms),
        }
        self._adjustments_by_customer.setdefault(customer["id"], []).append(adjustment)
        self._new["adjustments"].append(adjustment)
        self._event("adjustment.created", ms, adjustment)
        return adjustment

    def _credit(self, rng: random.Random, customer: dict[str, Any], currency: str, amount: int,
                ms: int) -> None:
        """An approved credit adjustment applied to the customer's balance."""
        adjustment = self._adjustment(rng, customer, "credit", currency, amount, ms, "approved")
        self._entry(("credit", customer["id"], currency, amount, adjustment["id"]))

    def _refund(self, rng: random.Random, customer: dict[str, Any], currency: str, ms: int) -> None:
        """A refund adjustment: no effect on credit balances, but it shows up in /adjustments."""
        status = "approved" if rng.random() < 0.8 else "pending_approval"
        self._adjustment(rng, customer, "refund", currency, _credit_amount(rng, currency, None), ms, status)

    def _bill(self, rng: random.Random, customer: dict[str, Any], currency: str,
              ms: int) -> dict[str, Any] | None:
        """A billed transaction applying part of the available credit, which becomes reserved."""
        available = self._balances.get(customer["id"], {}).get(currency, [0, 0, 0])[0]
        if available <= 0:
            return None
        credit = max(1, int(available * (0.2 + 0.8 * rng.random())))
        total = credit + rng.choice((0, 0, credit // 2, credit))
        txn = {
            "id": self._new_id("txn", ms), "status": "billed", "customer_id": customer["id"],
            "currency_code": currency, "origin": "subscription_recurring", "collection_mode": "manual",
            "created_at": iso(ms), "updated_at": iso(ms), "billed_at": iso(ms),
            "details": {"totals": {"subtotal": str(total * 5 // 6), "tax": str(total - total * 5 // 6),
                                   "total": str(total), "credit": str(credit), "credit_to_balance": "0",
                                   "balance": str(total - credit), "grand_total": str(total - credit),
                                   "currency_code": currency}},
        }
        self._open_transactions[txn["id"]] = txn
        self._entry(("reserve", customer["id"], currency, credit, txn["id"]))
        self._event("transaction.billed", ms, dict(txn))
        return txn

    def _settle(self, txn_id: str, status: str, ms: int) -> None:
        """Complete (reserved -> used) or cancel (reserved -> available) an open billed transaction."""
        txn = self._open_transactions.pop(txn_id)
        credit = int(txn["details"]["totals"]["credit"])
        txn = dict(txn, status=status, updated_at=iso(ms))
        kind = "complete" if status == "completed" else "cancel"
        self._entry((kind, txn["customer_id"], txn["currency_code"], credit, txn_id))
        self._event(f"transaction.{status}", ms, txn)

    def _subscribe(self, rng: random.Random, customer: dict[str, Any], created: int,
                   archived_at: int | None) -> None:
        """A subscription to the customer's plan, canceled if the customer was archived."""
        plan = self._plan(customer) or "starter"
        interval = "year" if rng.random() < 0.25 else "month"
        currency = self._home_currency(rng, customer)
        price = self._catalog[(plan, interval, currency)]
        status = "canceled" if archived_at is not None else _weighted(rng, SUBSCRIPTION_STATUSES)
        period = (365 if interval == "year" else 30) * DAY_MS
        started = created + rng.randint(0, 3 * DAY_MS)
        periods = max(0, (ANCHOR_MS - started) // period)
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
                "trial_dates": None, "price": price_obj, "product": product,
            }],
            "custom_data": None, "import_meta": None,
        }
        self._subscriptions_by_customer.setdefault(customer["id"], []).append(sub)
        self._new["subscriptions"].append(sub)
        self._event("subscription.created", started, sub)

    def _entry(self, entry: tuple[str, str, str, int, str]) -> None:
        """Record a ledger entry and apply it to the served balances."""
        self.entries.append(entry)
        _apply(self._balances, entry)

    def _event(self, event_type: str, ms: int, data: dict[str, Any]) -> None:
        """Record the Paddle event for a change; ids sort in occurrence order."""
        self._new["events"].append({"event_id": self._new_id("evt", ms), "event_type": event_type,
                                    "occurred_at": iso(ms), "data": data})

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
        for action in ("credit", "refund"):
            self.adjustments_by_action[action] = Listing(a for a in adjustments if a["action"] == action)
        self.subscriptions = Listing(self._new["subscriptions"])
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
        for event in self._new["events"]:
            self.events.add(event)
        self._new = {key: [] for key in self._new}

