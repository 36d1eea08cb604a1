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
- ``credit_refunds``: refunds of transactions that balance credit paid in part; no credit comes back (R4),
  unless ``refund_returns_credit`` (a deliberate break of R4, for tests that must see the reconciliation flag it:
  the credit returns to available as a ledger ``refunded`` entry naming the refund adjustment).

A mixin of :class:`~.account.Account`. Draws for these come from a second seeded generator, so the rest of an
account for a seed is the same with or without them.
"""

from __future__ import annotations

import random
from typing import Any

from .catalog import DAY_MS, _ms_of
from .ids import iso

#: Every behaviour of current Paddle the simulator models, as keyword arguments of ``Account``/``Simulator``.
CURRENT_PADDLE: dict[str, Any] = {"seller_credit_totals": True, "billed_renewals": True, "transfer_share": 0.08,
                                  "credit_refunds": True}
DUNNING_SHARE = 0.2  # of automatic renewals applying credit: the first charge fails (past_due)
DUNNING_GIVES_UP = 0.3  # of those: canceled after the retries, the reserved credit released
REFUND_SHARE = 0.2  # of automatic renewals paid partly with credit: refunded later
INVOICE_SELLER_CREDIT_SHARE = 0.2  # of billed manual invoices applying credit: a seller credit too


class Behaviours:
    """Billed renewals with dunning, seller credits on invoices, transfers and refunds (see the module)."""

    # ------------------------------------------------------------------ billed renewals

    def _collect(self, txn: dict[str, Any], ms: int, until: int | None) -> int:
        """Collect an automatic renewal from ``ms``; returns when it completed (or ``ms`` if it did not).

        Without ``billed_renewals`` it completes at once (after ``paid`` when money is due). With it, it is
        ``billed`` at ``ms`` (balance credit reserved), then paid and completed: a ms apart each while the account
        moves on live; in the generated history minutes later, or after days of dunning (``past_due``), ending
        ``completed`` or ``canceled`` before ``until``, or still past due at the anchor when no time is left.
        """
        paid = int(txn["details"]["totals"]["grand_total"]) > 0
        if not self.billed_renewals:
            return self._complete(txn, ms, txn["origin"], paid=paid)
        self._bill(txn, ms)
        if not self._historical:
            return self._complete(txn, ms + 1, txn["origin"], paid=paid)
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

    # ------------------------------------------------------------------ refunds

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
