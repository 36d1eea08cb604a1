"""Time moving on for subscriptions: renewals billed on their ``next_billed_at``, scheduled cancels, churn.

The account's generated history ends at its anchor and :meth:`~.account.Account.advance` only moves it by
explicit operations; the maturity forecast (docs/credit-rules.md, "Maturity") needs a future the simulator
knows. :func:`bill_renewals` plays the account forward to a moment as Paddle would: every active, past-due or
trialing subscription renews on its ``next_billed_at`` and then every ``frequency`` x ``interval`` counted from
that first date (calendar months, the day clipped to the month's end), collected at once; each renewal applies
``min(available credit, its amount)`` of the customer's credit in its currency (``details.totals.credit``, a
``used`` ledger entry); a scheduled ``cancel`` / ``pause`` takes effect at its ``effective_at`` (no renewal
then or after). Invoices billed before the start (credit reserved) are completed first, at the start.
:func:`schedule_churn` cancels a share of the customers' subscriptions at random moments (a known churn the
forecast's band must cover). The ledger then holds the truth: ``expected_movements(start, until)``.
"""

from __future__ import annotations

import calendar
import math
import random
from datetime import UTC, datetime
from typing import Any

from .catalog import _ms, _ms_of
from .ids import iso

__all__ = ["add_months", "bill_renewals", "schedule_cancel", "schedule_churn"]

ACTIVE = ("active", "past_due", "trialing")
_DAYS = {"day": 1, "week": 7}
_MONTHS = {"month": 1, "year": 12}


def add_months(ms: int, months: int) -> int:
    """``ms`` plus whole calendar months, the day clipped to the target month's last day (time of day kept)."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return _ms(moment.replace(year=year, month=month + 1, day=day))


def _renewal_at(first: int, interval: str, frequency: int, index: int) -> int:
    """The ``index``-th renewal from ``first`` (0 is ``first``)."""
    if interval in _MONTHS:
        return add_months(first, index * frequency * _MONTHS[interval])
    return first + index * frequency * _DAYS[interval] * 86_400_000


def schedule_cancel(account: Any, subscription_id: str, at: datetime | int) -> None:
    """Give a subscription a scheduled cancel at ``at`` (what ``POST /subscriptions/{id}/cancel`` leaves on an
    active subscription: ``scheduled_change`` with ``action: cancel``; status stays active until then)."""
    ms = _ms(at)
    with account.lock:
        for subs in account._subscriptions_by_customer.values():
            for sub in subs:
                if sub["id"] == subscription_id:
                    sub["scheduled_change"] = {"action": "cancel", "effective_at": iso(ms), "resume_at": None}
                    return
    raise KeyError(subscription_id)


def schedule_churn(account: Any, seed: int, hazard: float, start: int, until: int) -> dict[str, int]:
    """Each customer with an active subscription churns with monthly ``hazard`` (a geometric draw of months):
    if the draw falls before ``until``, every one of their active subscriptions is canceled at that moment
    (a hidden cancel, not a scheduled change the listing shows). Returns customer id -> churn ms."""
    rng = random.Random(f"{account.seed}:churn:{seed}")
    month_ms = 30.436875 * 86_400_000
    churn: dict[str, int] = {}
    with account.lock:
        for cid in sorted(account._subscriptions_by_customer):
            if not any(s["status"] in ACTIVE for s in account._subscriptions_by_customer[cid]):
                continue
            u = rng.random()
            months = 0.0 if hazard >= 1 else (math.inf if hazard <= 0 else math.log(1 - u) / math.log(1 - hazard))
            at = start + int(months * month_ms)
            if at < until:
                churn[cid] = at
        account._hidden_churn = dict(churn)
    return churn


def bill_renewals(account: Any, start: datetime | int, until: datetime | int) -> dict[str, int]:
    """Play the account forward from ``start`` to ``until`` (module docstring); returns counts
    (``renewals``, ``settled``, ``canceled``). The account's clock, when set, must read ``start`` or later;
    it is left at ``until``."""
    start_ms, until_ms = _ms(start), _ms(until)
    rng = random.Random(f"{account.seed}:renewals:{start_ms}")
    churn: dict[str, int] = getattr(account, "_hidden_churn", {})
    counts = {"renewals": 0, "settled": 0, "canceled": 0}
    with account.lock:
        if account.clock is not None and account.clock > start_ms:
            raise ValueError("the account's clock is already past the start")
        account.clock = None
        moment = max(start_ms, account._latest_ms + 1)
        for txn_id in sorted(account._open_transactions):
            account._settle(account._open_transactions[txn_id], "completed", moment)
            counts["settled"] += 1
        plan: list[tuple[int, int, str, dict[str, Any]]] = []  # (when, order, kind, subscription)
        anchors: dict[str, list[int]] = {}  # subscription id -> [first pending date, renewals billed]
        for cid in sorted(account._subscriptions_by_customer):
            for sub in account._subscriptions_by_customer[cid]:
                if sub["status"] not in ACTIVE or not sub.get("next_billed_at"):
                    continue
                change = sub.get("scheduled_change") or {}
                stops = _ms_of(change["effective_at"]) if change.get("action") in ("cancel", "pause") else None
                if cid in churn:
                    stops = churn[cid] if stops is None else min(stops, churn[cid])
                first = _ms_of(sub["next_billed_at"])
                anchors[sub["id"]] = [first, 0]
                cycle = sub["billing_cycle"]
                index = 0
                while True:
                    when = _renewal_at(first, cycle["interval"], int(cycle["frequency"]), index)
                    if when > until_ms or (stops is not None and when >= stops):
                        break
                    plan.append((when, len(plan), "renew", sub))
                    index += 1
                if stops is not None and stops <= until_ms:
                    plan.append((stops, len(plan), "cancel", sub))
        for when, _order, kind, sub in sorted(plan, key=lambda p: (p[0], p[1])):
            ms = max(when, account._latest_ms + 1)
            if kind == "cancel":
                _cancel(account, sub, ms)
                counts["canceled"] += 1
                continue
            customer = account._customers[sub["customer_id"]]
            amount = int(sub["items"][0]["price"]["unit_price"]["amount"]) * int(sub["items"][0]["quantity"])
            credit = min(account._available(customer["id"], sub["currency_code"]), amount)
            account._renewal(rng, customer, sub, ms, max(credit, 0))
            _advance_period(account, sub, when, ms, anchors)
            counts["renewals"] += 1
        account._flush_new()
        account.clock = max(until_ms, account._latest_ms)
    return counts


def _advance_period(account: Any, sub: dict[str, Any], billed: int, ms: int, anchors: dict[str, list[int]]) -> None:
    """After the renewal due at ``billed`` (billed at ``ms``): the period it starts, the next ``next_billed_at``
    (counted from the subscription's first pending date, as every renewal is), ``subscription.updated``."""
    anchor = anchors[sub["id"]]
    anchor[1] += 1
    cycle = sub["billing_cycle"]
    following = _renewal_at(anchor[0], cycle["interval"], int(cycle["frequency"]), anchor[1])
    sub["next_billed_at"] = iso(following)
    sub["current_billing_period"] = {"starts_at": iso(billed), "ends_at": iso(following)}
    for item in sub["items"]:
        item["previously_billed_at"], item["next_billed_at"] = iso(billed), iso(following)
    sub["updated_at"] = iso(ms)
    account._event("subscription.updated", ms + 2, dict(sub))


def _cancel(account: Any, sub: dict[str, Any], ms: int) -> None:
    """A subscription canceled at ``ms`` (its scheduled change, or churn): no more renewals."""
    sub.update(status="canceled", canceled_at=iso(ms), next_billed_at=None, current_billing_period=None,
               scheduled_change=None, updated_at=iso(ms))
    for item in sub["items"]:
        item["next_billed_at"] = None
    account._event("subscription.canceled", ms, dict(sub))

