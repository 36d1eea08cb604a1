"""What current Paddle does that the simulator models only when asked (``CURRENT_PADDLE``), and the knob that
makes it break a rule on purpose.

- ``billed_renewals``: an automatic renewal goes ``billed`` -> ``paid`` -> ``completed`` at distinct moments, as
  Paddle's subscription-renewed flow does; balance credit on it is reserved while it is billed or past due, then
  used, or released when dunning gives up and it is canceled (credit-rules.md R2). Some renewals stay
  ``past_due`` for days.
- ``seller_credit_totals``: an approved seller credit on a billed transaction raises its ``details.totals.credit``
  and lowers ``balance`` and ``grand_total``, as Paddle's spec defines ``credit`` (R1); balances never move.
- ``transfer_share``: that share of the customers holding credit had their subscriptions moved to another
  customer (``PATCH /subscriptions/{id}`` with ``customer_id``): they keep their credit and are on no
  subscription (R3).
- ``revisions``: customer details of some completed transactions revised later (``revised_at``, and
  ``updated_at`` moved with it, event ``transaction.revised``), months after their credit moved.
- ``one_time_charges``: one-time charges of a subscription (origin ``subscription_charge``, automatic,
  ``on_payment_failure: apply_change``) that apply balance credit and whose payment is declined: billed, then
  ``past_due``; later completed, canceled, or still past due at the anchor (R2, whatever the origin).
- ``created_credit_refunds``: refunds of transactions that *created* credit (a prorated change's
  ``credit_to_balance``): Paddle takes the refunded share of that credit back from the balance (its Help, "How
  do I issue refunds?"), a ledger ``reversed`` entry naming the refund adjustment (docs/credit-rules.md
  "Refunds").
- ``credit_refunds``: refunds of transactions that balance credit paid in part; no credit comes back (R4),
  unless ``refund_returns_credit`` (a deliberate break of R4, for tests that must see the reconciliation flag it:
  the credit returns to available as a ledger ``refunded`` entry naming the refund adjustment).

A mixin of :class:`~.account.Account`. Draws for these come from a second seeded generator, so the rest of an
account for a seed is the same with or without them.
"""

from __future__ import annotations

import random
from typing import Any

from . import entities
from .catalog import DAY_MS, _ms_of
from .ids import iso

#: Every behaviour of current Paddle the simulator models, as keyword arguments of ``Account``/``Simulator``.
CURRENT_PADDLE: dict[str, Any] = {"seller_credit_totals": True, "billed_renewals": True, "transfer_share": 0.08,
                                  "credit_refunds": True, "revisions": True, "one_time_charges": True,
                                  "created_credit_refunds": True}
DUNNING_SHARE = 0.2  # of automatic renewals applying credit: the first charge fails (past_due)
DUNNING_GIVES_UP = 0.3  # of those: canceled after the retries, the reserved credit released
REFUND_SHARE = 0.2  # of automatic renewals paid partly with credit: refunded later
INVOICE_SELLER_CREDIT_SHARE = 0.2  # of billed manual invoices applying credit: a seller credit too
REVISED_SHARE = 0.15  # of completed transactions: customer details revised later (revised_at)
CREATED_CREDIT_REFUND_SHARE = 0.2  # of customers holding credit a prorated change created: that change refunded
ONE_TIME_CHARGE_SHARE = 0.15  # of subscribers holding available credit at the anchor: a declined one-time charge


class Behaviours:
    """Billed renewals with dunning, seller credits on invoices, transfers and refunds (see the module)."""

    # ------------------------------------------------------------------ billed renewals

    def _collect(self, txn: dict[str, Any], ms: int, until: int | None) -> int:
        """Collect an automatic renewal from ``ms``; returns when it completed (or ``ms`` if it did not).

        Without ``billed_renewals`` it completes at once (after ``paid`` when money is due). With it, it is
        ``billed`` at ``ms`` (balance credit reserved), then paid and completed: a ms apart each while the account
        moves on live (billed and completed in the same ms when there is nothing to pay); in the generated history
        minutes later, or after days of dunning (``past_due``), ending ``completed`` or ``canceled`` before
        ``until``, or still past due at the anchor when no time is left.
        """
        paid = int(txn["details"]["totals"]["grand_total"]) > 0
        if not self.billed_renewals:
            return self._complete(txn, ms, txn["origin"], paid=paid)
        self._bill(txn, ms)
        if not self._historical:  # nothing to pay (credit covers it): billed and completed with one stamp
            return self._complete(txn, ms + 1 if paid else ms, txn["origin"], paid=paid)
        extra = self._extra
        room = (until if until is not None else ms + DAY_MS) - ms
        if self._balance_credit(txn) > 0 and extra.random() < DUNNING_SHARE and room > 4 * DAY_MS:
            self._past_due(txn, ms + DAY_MS // 2)
            settle = ms + DAY_MS + int(min(room - 2 * DAY_MS, 9 * DAY_MS) * extra.random())
            if settle >= ms + room - 10 or (ms + room >= self.anchor_ms and extra.random() < 0.4):
                return ms  # still in dunning at the anchor: past due, its credit reserved
            self._settle(txn, "canceled" if extra.random() < DUNNING_GIVES_UP else "completed", settle)
            return settle
        gap = max(1, min(1000 + int(600_000 * extra.random()), room // 3))
        done = self._complete(txn, ms + gap, txn["origin"], paid=paid)
        if self.credit_refunds and self._balance_credit(txn) > 0 and paid and extra.random() < REFUND_SHARE \
                and room - gap > 20:
            self._refund_credit_paid(txn, done + min(DAY_MS, (room - gap) // 2))
        return done

    # ------------------------------------------------------------------ seller credits on invoices

    def _invoice_seller_credit(self, rng: random.Random, txn: dict[str, Any], ms: int) -> str | None:
        """A seller credit of 10-50% of what an open billed or past-due transaction still asks for."""
        due = int(txn["details"]["totals"]["balance"])
        if due <= 1:
            return None
        amount = max(1, due * rng.choice((10, 25, 50)) // 100)
        return self._apply_seller_credit(self._customers[txn["customer_id"]], txn, amount, ms)

    # ------------------------------------------------------------------ transfers

    def _transfer(self, old_id: str, new_owner: dict[str, Any], ms: int) -> list[str]:
        """Move every subscription of ``old_id`` to ``new_owner`` at ``ms`` (Paddle's ``PATCH
        /subscriptions/{id}`` with ``customer_id``, and a new address of theirs); emits
        ``subscription.updated`` each. The old customer keeps their credit and their transactions, and is on no
        subscription from now on (R3). Returns the subscription ids moved."""
        moved = []
        for sub in self._subscriptions_by_customer.pop(old_id, []):
            sub["customer_id"], sub["address_id"] = new_owner["id"], self._new_id("add", ms)
            sub["updated_at"] = iso(ms)
            self._subscriptions_by_customer.setdefault(new_owner["id"], []).append(sub)
            self._event("subscription.updated", ms, sub)
            moved.append(sub["id"])
        self._former_subscribers.add(old_id)
        return moved

    def _transfer_history(self) -> None:
        """In the generated past, ``transfer_share`` of the active customers holding credit, each after their
        last change, moved their subscriptions to a one-time buyer (who becomes a subscriber)."""
        if self.transfer_share <= 0:
            return
        extra = self._extra
        active = [cid for cid, c in self._customers.items() if c["status"] == "active"]
        holders = sorted(cid for cid in active if cid in self._subscriptions_by_customer
                         and any(row[0] + row[1] > 0 for row in self._balances.get(cid, {}).values()))
        buyers = sorted(cid for cid in active if cid not in self._subscriptions_by_customer
                        and cid not in self._balances)
        count = max(1, round(len(holders) * self.transfer_share))
        for old_id in extra.sample(holders, min(count, len(holders))):
            if not buyers:
                return
            last = self._last_change_ms(old_id)
            ms = last + int((self.anchor_ms - last) * (0.2 + 0.6 * extra.random()))
            if ms >= self.anchor_ms - 1000 or ms <= last:
                continue
            self._transfer(old_id, self._customers[buyers.pop(extra.randrange(len(buyers)))], ms)

    def _last_change_ms(self, customer_id: str) -> int:
        """The newest moment anything of this customer changed (transactions, adjustments, subscriptions)."""
        stamps = [t["updated_at"] for t in self._transactions_by_customer.get(customer_id, ())]
        stamps += [a["updated_at"] for a in self._adjustments_by_customer.get(customer_id, ())]
        stamps += [s["updated_at"] for s in self._subscriptions_by_customer.get(customer_id, ())]
        stamps += [s["created_at"] for s in self._subscriptions_by_customer.get(customer_id, ())]
        stamps.append(self._customers[customer_id]["updated_at"])
        return max(_ms_of(stamp) for stamp in stamps)

    # ------------------------------------------------------------------ revisions and one-time charges

    def _revision_history(self) -> None:
        """``revisions``: ``REVISED_SHARE`` of the completed transactions revised at a moment between their
        completion and the anchor. Drawn from a generator of their own, after the rest of the account."""
        draws = random.Random(f"{self.seed}:revisions")
        for txn in list(self._new["transactions"]):
            if txn["status"] != "completed" or draws.random() >= REVISED_SHARE:
                continue
            done = _ms_of(txn["updated_at"])
            if self.anchor_ms - done > 2 * DAY_MS:
                self._revise(txn, done + DAY_MS + int((self.anchor_ms - done - 2 * DAY_MS) * draws.random()))

    def _one_time_charge_history(self) -> None:
        """``one_time_charges``: ``ONE_TIME_CHARGE_SHARE`` of the subscribers holding available credit get, after
        their last change, a one-time charge (``subscription_charge``, automatic) applying that credit: billed
        (reserved), its payment declined an hour later (``past_due``), then completed (used), canceled
        (released) or still past due at the anchor. Drawn from a generator of their own."""
        draws = random.Random(f"{self.seed}:one-time-charges")
        for cid in sorted(self._subscriptions_by_customer):
            held = sorted(c for c, row in self._balances.get(cid, {}).items() if row[0] > 0)
            subs = [s for s in self._subscriptions_by_customer[cid] if s["currency_code"] in held]
            if not subs or draws.random() >= ONE_TIME_CHARGE_SHARE:
                continue
            last = self._last_change_ms(cid)
            ms = last + int((self.anchor_ms - last) * (0.2 + 0.5 * draws.random()))
            if self.anchor_ms - ms < 2 * DAY_MS or ms <= last:
                continue
            sub = subs[0]
            price = self._sub_price(sub)
            total = int(price["unit_price"]["amount"])
            credit = min(self._available(cid, sub["currency_code"]), total)
            lines = [(price, entities.line(self._new_id("txnitm", ms), price, total, None))]
            txn = self._new_txn(self._customers[cid], sub, sub["currency_code"], "subscription_charge", "automatic",
                                lines, credit, ms)
            self._bill(txn, ms + 1)
            self._past_due(txn, ms + 3_600_000)
            settle = ms + DAY_MS + int((self.anchor_ms - ms - 2 * DAY_MS) * draws.random())
            fate = draws.random()
            if fate < 0.7:
                self._settle(txn, "completed" if fate < 0.4 else "canceled", settle)

    # ------------------------------------------------------------------ refunds

    def _created_credit_refund_history(self) -> None:
        """``created_credit_refunds``: for ``CREATED_CREDIT_REFUND_SHARE`` of the customers holding available
        credit, after their last change, an approved refund of the newest transaction that created credit: all of
        it (``type: full``) or half of what it charged; the refunded share of its ``credit_to_balance`` leaves the
        balance (only when the balance holds it: Paddle does not say what happens otherwise). Drawn from a
        generator of their own."""
        draws = random.Random(f"{self.seed}:created-credit-refunds")
        for cid in sorted(self._balances):
            made = [t for t in self._transactions_by_customer.get(cid, ()) if t["status"] == "completed"
                    and int(t["details"]["totals"]["credit_to_balance"]) > 0]
            if not made or draws.random() >= CREATED_CREDIT_REFUND_SHARE:
                continue
            txn = max(made, key=lambda t: t["updated_at"])
            last = self._last_change_ms(cid)
            ms = last + int((self.anchor_ms - last) * (0.2 + 0.5 * draws.random()))
            charged = sum(max(0, int(line["totals"]["total"])) for line in txn["details"]["line_items"])
            if self.anchor_ms - ms < DAY_MS or ms <= last or charged <= 0:
                continue
            full = draws.random() < 0.4
            refunded = charged if full else charged // 2
            created = int(txn["details"]["totals"]["credit_to_balance"])
            back = created if full else created * refunded // charged
            if back <= 0 or back > self._available(cid, txn["currency_code"]):
                continue
            adjustment = self._adjustment("refund", self._customers[cid], txn, refunded, ms, "approved",
                                          "Customer requested a refund", None, "partial")
            adjustment["type"] = "full" if full else "partial"
            self._entry(ms, "reversed", cid, txn["currency_code"], back, "refund", txn["id"], adjustment["id"],
                        self._last_event_id)

    def _refund_credit_paid(self, txn: dict[str, Any], ms: int) -> str:
        """An approved refund of what was paid on a completed transaction that balance credit paid in part.

        No credit comes back (R4), unless ``refund_returns_credit``: then the balance credit applied returns to
        available (used -> available), a ledger ``refunded`` entry naming this adjustment. Returns its id.
        """
        customer = self._customers[txn["customer_id"]]
        amount = int(txn["details"]["totals"]["grand_total"])
        adjustment = self._adjustment("refund", customer, txn, amount, ms, "approved", "Customer requested a refund",
                                      None, "partial")
        self._refunded.add(txn["id"])
        credit = self._balance_credit(txn)
        if self.refund_returns_credit and credit > 0:
            self._entry(ms, "refunded", txn["customer_id"], txn["currency_code"], credit, "adjustment", txn["id"],
                        adjustment["id"], self._last_event_id)
        return adjustment["id"]


__all__ = ["CURRENT_PADDLE", "Behaviours"]
