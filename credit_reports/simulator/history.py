"""The account's history up to its anchor: sign-ups, subscriptions, prorated changes that left credit (legacy
adjustments before 11 March 2024, transactions since), the credit spent, seller credits and refunds.

A mixin of :class:`~.account.Account`: it draws from the account's seeded ``rng`` in a fixed order, so the same
seed always gives the same account; what it creates goes through :class:`~.lifecycle.Lifecycle`.
"""

from __future__ import annotations

import random
from typing import Any

from . import entities
from .behaviours import INVOICE_SELLER_CREDIT_SHARE
from .catalog import (
    ARCHIVED_SHARE,
    CREDIT_SHARE,
    CURRENCY_ROTATION,
    DAY_MS,
    NEXT_PERIOD_SHARE,
    PENDING_SHARE,
    REFUND_SHARE,
    REGIME_CHANGE_MS,
    REJECTED_SHARE,
    REVERSED_SHARE,
    SELLER_CREDIT_SHARE,
    SUBSCRIBED_SHARE,
    TWO_CURRENCY_SHARE,
    _credit_amount,
    _ms_of,
)
from .ids import iso


class History:
    """Generates the historical account (``Account.__init__`` calls :meth:`_generate` once)."""

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
            txn = self._spend(rng, customer, spend_at, manual=manual, sub=sub, until=until)
            if txn is None or not manual:
                continue
            if self.seller_credit_totals and self._extra.random() < INVOICE_SELLER_CREDIT_SHARE:
                self._invoice_seller_credit(self._extra, txn, spend_at + 2)  # before it is settled (>= +5)
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

