"""An account's age: the plain renewals a long-lived Paddle account lists.

The generated history keeps only the transactions that matter to credit (about 1.2 a subscriber), while a real
account lists every renewal: a three-year-old monthly subscription has 36. What that changes is the cost of
listing the transactions that can create credit (``origin=subscription_recurring``), which the first snapshot's
plans are chosen by (``credit_reports/fetch/plans.py``). :func:`add_renewals` gives every subscription that many
more renewals, each collected at once with no credit: no ledger entry, no balance change, so
``expected_balances`` is unchanged and the account is simply older. Their events are not served (like most of
the history, they lie before Paddle's 90 days of events or are taken as such).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from . import entities
from .catalog import DAY_MS, _ms_of
from .ids import iso, random_id
from .listing import Listing

if TYPE_CHECKING:
    from .account import Account

__all__ = ["add_renewals"]


def add_renewals(account: Account, per_subscription: int, seed: int = 0) -> int:
    """Give every subscription ``per_subscription`` more plain renewals (``subscription_recurring``, completed,
    no credit), spread evenly between its start and a day before the anchor; returns how many were added.

    The renewals of one subscription share their nested payload (line items, totals): the server only reads
    them, and a 20,000-customer account aged 20 renewals a subscription stays within a few hundred MB.
    """
    if per_subscription <= 0:
        return 0
    rng = random.Random(f"{account.seed}:ages:{seed}")
    added: list[dict[str, Any]] = []
    with account.lock:
        end = account.anchor_ms - DAY_MS
        for sub in account.subscriptions.items:
            start = _ms_of(sub["started_at"])
            if end <= start:
                continue
            price = sub["items"][0]["price"]
            amount = int(price["unit_price"]["amount"])
            item = entities.line(random_id("txnitm", start, rng), price, amount, None)
            template = entities.transaction(
                txn_id="", customer_id=sub["customer_id"], address_id=sub.get("address_id"),
                currency=sub["currency_code"], origin="subscription_recurring", subscription_id=sub["id"],
                collection_mode="automatic", lines=[(price, item)], credit=0, created=start, period=None)
            step = (end - start) // (per_subscription + 1)
            for k in range(1, per_subscription + 1):
                ms = start + k * step
                stamp = iso(ms)
                added.append(dict(template, id=random_id("txn", ms, rng), status="completed", created_at=stamp,
                                  updated_at=stamp, billed_at=stamp))
        for txn in added:
            account._transactions_by_customer.setdefault(txn["customer_id"], []).append(txn)
        account.transactions = Listing(account.transactions.items + added)
    return len(added)
