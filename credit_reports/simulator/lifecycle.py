"""How the account's entities change, and the credit each change moves, with the Paddle events it emits.

A mixin of :class:`~.account.Account`: transactions (created, billed, past due, paid, completed, canceled),
adjustments, subscriptions and customers, each change stamped with its moment, each balance change a ledger
:class:`~.ledger.Entry` naming the transaction, adjustment and event behind it (``docs/credit-rules.md``).
"""

from __future__ import annotations

import random
from typing import Any

from . import entities
from .catalog import (
    _LOCALE_CUM,
    _LOCALE_NAMES,
    _PLAN_CUM,
    _PLAN_NAMES,
    ASCII,
    DAY_MS,
    EVENTS_KEPT_MS,
    FIRST_NAMES,
    LAST_NAMES,
    LOCALES,
    PORTAL,
    SEGMENTS,
    SUBSCRIPTION_STATUSES,
    _credit_amount,
    _weighted,
)
from .ids import iso, random_id
from .ledger import Entry, apply, deltas


class Lifecycle:
    """Creates and moves on transactions, adjustments, subscriptions and customers (see the module)."""

    def _new_id(self, prefix: str, ms: int) -> str:
        if self._historical:
            return random_id(prefix, ms, self._rng)
        return self._ids.next(prefix, ms)

    # ------------------------------------------------------------------ credit in

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
            return self._collect(txn, renew + 1, until)
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
               sub: dict[str, Any] | None = None, until: int | None = None,
               hold: bool = False) -> dict[str, Any] | None:
        """A renewal that applies available credit: collected automatically (used; with ``billed_renewals``
        reserved first, see ``_collect``, settled before ``until``) or a billed manual invoice (reserved).
        ``hold``: an automatic renewal billed and left open, its credit reserved until it is settled."""
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
        if not manual and not hold:
            self._collect(txn, ms + 1, until)
            return txn
        self._bill(txn, ms + 1)
        return txn

    def _bill(self, txn: dict[str, Any], ms: int) -> None:
        """Status ``billed``: an issued invoice when manual (invoice id and number), an automatic renewal about to
        be charged otherwise; the balance credit it applies moves available -> reserved (credit-rules.md R2)."""
        if txn["collection_mode"] == "manual":
            self._invoices += 1
            txn["invoice_id"] = self._new_id("inv", ms)
            txn["invoice_number"] = f"{self.seed}-{self._invoices:05d}"
        txn["billed_at"] = iso(ms)
        event_id = self._step(txn, "billed", ms)
        credit = self._balance_credit(txn)
        if credit > 0:
            self._entry(ms, "reserved", txn["customer_id"], txn["currency_code"], credit, txn["origin"], txn["id"],
                        "", event_id)
            self._reserved.add(txn["id"])
            self._open_transactions[txn["id"]] = txn

    def _balance_credit(self, txn: dict[str, Any]) -> int:
        """The customer's balance credit on ``txn``: ``details.totals.credit`` less the approved seller credits
        on it (credit-rules.md R1), which Paddle adds to ``credit`` but which never touch a balance."""
        return int(txn["details"]["totals"]["credit"]) - self._seller_credited.get(txn["id"], 0)

    def _past_due(self, txn: dict[str, Any], ms: int) -> None:
        """An invoice not paid by its due date, or an automatic charge whose payment was declined (a failed
        attempt in ``payments``): ``past_due`` (no credit moves; its balance credit stays reserved)."""
        if txn["collection_mode"] == "automatic":
            self._pay(txn, ms, captured=False)
        self._step(txn, "past_due", ms)

    def _pay(self, txn: dict[str, Any], ms: int, *, captured: bool) -> None:
        """A payment attempt at ``ms`` for what the transaction asks (``grand_total``), newest first."""
        attempt = entities.payment(txn["id"], len(txn["payments"]), int(txn["details"]["totals"]["grand_total"]), ms,
                                   captured=captured)
        txn["payments"] = [attempt, *txn["payments"]]

    def _revise(self, txn: dict[str, Any], ms: int) -> None:
        """Customer details of a billed or completed transaction revised at ``ms``: Paddle sets ``revised_at`` and
        moves ``updated_at`` with it (``transaction.revised``); the status and the credit do not change."""
        txn["revised_at"] = txn["updated_at"] = iso(ms)
        self._event("transaction.revised", ms, txn)

    def _settle(self, txn: dict[str, Any], status: str, ms: int) -> None:
        """Complete (reserved -> used) or cancel (reserved -> available) an open billed transaction."""
        self._open_transactions.pop(txn["id"], None)
        if status == "completed":
            self._complete(txn, ms, txn["origin"], paid=True)
            return
        event_id = self._step(txn, "canceled", ms)
        credit = self._balance_credit(txn)
        if credit > 0 and txn["id"] in self._reserved:
            self._reserved.discard(txn["id"])
            self._entry(ms, "released", txn["customer_id"], txn["currency_code"], credit, txn["origin"], txn["id"],
                        "", event_id)

    def _complete(self, txn: dict[str, Any], ms: int, source: str, paid: bool = False) -> int:
        """Move a transaction to ``completed`` (after ``paid`` when money was collected); its credit moves.

        ``credit_to_balance`` is issued to available; the balance credit is used, from reserved when it was
        reserved (the transaction was billed with it), else from available (credit-rules.md). Returns the
        completion ms.
        """
        self._open_transactions.pop(txn["id"], None)
        if txn["billed_at"] is None:
            txn["billed_at"] = iso(ms)
        if paid:  # the payment is captured and the transaction paid; it completes a moment later (the credit is
            # used then, not at the capture: credit-rules.md)
            self._pay(txn, ms, captured=True)
            self._step(txn, "paid", ms)
            ms += 1
        event_id = self._step(txn, "completed", ms)
        totals = txn["details"]["totals"]
        cid, currency = txn["customer_id"], txn["currency_code"]
        to_balance, credit = int(totals["credit_to_balance"]), self._balance_credit(txn)
        if to_balance > 0:
            self._entry(ms, "issued", cid, currency, to_balance, source, txn["id"], "", event_id)
        if credit > 0:
            from_reserved = txn["id"] in self._reserved
            self._reserved.discard(txn["id"])
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
        self._apply_seller_credit(customer, txn, amount, credited)

    def _apply_seller_credit(self, customer: dict[str, Any], txn: dict[str, Any], amount: int, ms: int) -> str:
        """An approved seller ``credit`` adjustment (``credit_applied_to_balance: false``) of ``amount`` on a
        billed or past-due ``txn`` at ``ms``, and ``transaction.updated`` at the same ``ms`` (Paddle stamps the two
        with one ``occurred_at``: nothing may depend on which is listed first); returns its id.

        The transaction asks for less (``adjusted_totals``). With ``seller_credit_totals`` (Paddle's behaviour,
        credit-rules.md R1) it also shows in ``details.totals``: ``credit`` rises by ``amount``, ``balance`` and
        ``grand_total`` (due after credits) fall by it. No balance moves. The totals are replaced, not edited,
        so the events already emitted keep the transaction as it was.
        """
        adjustment = self._adjustment("credit", customer, txn, amount, ms, "approved",
                                      "Goodwill credit on the invoice", False, "partial")
        details = dict(txn["details"])
        adjusted = dict(details["adjusted_totals"])
        total = int(adjusted["total"])
        net, tax = entities.split_tax(total - amount)
        due = max(0, int(adjusted["grand_total"]) - amount)
        adjusted.update(subtotal=str(net), tax=str(tax), total=str(total - amount), grand_total=str(due),
                        grand_total_tax=str(entities.split_tax(due)[1]))
        details["adjusted_totals"] = adjusted
        if self.seller_credit_totals:
            totals = dict(details["totals"])
            left = max(0, int(totals["balance"]) - amount)
            totals.update(credit=str(int(totals["credit"]) + amount), balance=str(left), grand_total=str(left),
                          grand_total_tax=str(entities.split_tax(left)[1]))
            details["totals"] = totals
            self._seller_credited[txn["id"]] = self._seller_credited.get(txn["id"], 0) + amount
        txn["details"] = details
        txn["updated_at"] = iso(ms)
        self._event("transaction.updated", ms, txn)  # one stamp with the adjustment's event, as Paddle stamps them
        return adjustment["id"]

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
        """A plain renewal collected automatically (no credit applied unless ``credit``)."""
        price = self._sub_price(sub)
        lines = [(price, entities.line(self._new_id("txnitm", ms), price, int(price["unit_price"]["amount"]), None))]
        txn = self._new_txn(customer, sub, sub["currency_code"], "subscription_recurring", "automatic", lines, credit,
                            ms, (ms, ms + 30 * DAY_MS))
        self._collect(txn, ms + 1, ms + DAY_MS)
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

