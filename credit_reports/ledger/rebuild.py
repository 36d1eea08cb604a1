"""Rebuilding history from day one: each customer's credit movements rebuilt from Paddle's transactions and adjustments.

Pure functions over the dicts Paddle lists (``GET /transactions``, ``GET /adjustments``, ``GET /events``);
:mod:`credit_reports.fetch.history` lists them and stores the result. The rules are docs/credit-rules.md's
(R1-R5), the same ones :mod:`credit_reports.ledger.movements` applies to events, read from a transaction's
final state instead of from the events that moved it:

- ``issued``: ``details.totals.credit_to_balance`` of a ``completed`` transaction, when it completed (R5); an
  approved (or later reversed) legacy ``credit`` adjustment with ``credit_applied_to_balance: true``, when it
  was approved;
- ``reversed``: an approved ``credit_reverse`` adjustment;
- the *balance credit* of a transaction is ``details.totals.credit`` less its approved seller credits
  (``action: credit``, ``credit_applied_to_balance: false``), never below 0 (R1);
- ``reserved`` at ``billed_at`` when a transaction with balance credit was billed before it settled (it is
  still ``billed``, ``paid`` or ``past_due``, was ``canceled`` after being billed, or completed later than it
  was billed as an invoice or a renewal); ``used`` when it completed (from reserved when it was reserved,
  else straight from available); ``released`` when a reserved one was canceled (R2);
- refunds, chargebacks, seller credits and transfers of a subscription move nothing (R3, R4); an approved
  refund is kept as a ``refund`` row with no effect, as the event-based movements keep it, except that
  refunding a transaction that *created* credit takes its share of that credit back (``reversed``, the
  refund's adjustment id on it; docs/credit-rules.md "Refunds").

**Timing** (docs/credit-rules.md, "History from day one"). Paddle's transactions carry no ``completed_at``
or ``canceled_at``. Within Paddle's 90-day event window the moment comes from the first event showing the
status (``timing = "event"``). Before it, by rule (``timing = "rule"``): a zero-total ``subscription_update``
completes when it is created; otherwise a completion is the newest captured payment's ``captured_at``, else
the transaction's ``updated_at`` (its status last changed then; a completed or canceled transaction is
final), else ``billed_at``; a cancel is ``updated_at``; an adjustment is approved at its ``updated_at``, except
a ``reversed`` original, approved at its ``created_at``. A reservation is ``billed_at`` (a field that says
it, ``timing = "field"``). Every movement also carries the interval it certainly lies in (``earliest``,
``latest``: a completion lies between ``billed_at`` or ``created_at`` and ``updated_at``); when those fall in
different months the movement is flagged ``estimated`` ("estimated timing"), and so is every month end
inside that interval for that customer (:func:`estimated_month_ends`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from credit_reports.core import rows as row_types
from credit_reports.core import timestamps
from credit_reports.ledger import rules
from credit_reports.ledger.rules import EVENT_WINDOW

__all__ = [
    "EVENT_TYPES",
    "EVENT_WINDOW",
    "HISTORY_DTYPES",
    "TIE_OUT_DTYPES",
    "balances_at",
    "compact_adjustment",
    "compact_event",
    "compact_transaction",
    "estimated_month_ends",
    "month_ends",
    "negative_balances",
    "rebuild",
    "tie_out",
    "trusted_customers",
]

#: The movement columns (row_types.MOVEMENT_DTYPES) plus how each moment is known.
HISTORY_DTYPES: dict[str, str] = {
    **row_types.MOVEMENT_DTYPES,
    "timing": "string",          # event | field | rule
    "estimated": "bool",         # its month could differ under another reading
    "earliest": "datetime64[us, UTC]",
    "latest": "datetime64[us, UTC]",
}
#: One row per customer and currency: the rebuilt balance at the as-of against the one Paddle returned.
TIE_OUT_DTYPES: dict[str, str] = {
    "customer_id": "string",
    "currency_code": "string",
    **{f"{side}_{kind}": "int64" for side in ("rebuilt", "reported", "difference")
       for kind in ("available", "reserved", "used")},
    "ties_out": "bool",
}
#: *Chosen*: how soon Paddle completes what it completes "at once" (a zero-total ``subscription_update``).
AT_ONCE = pd.Timedelta(seconds=1)
#: *Chosen*: how long after its last step (billing, the captured payment) Paddle completes a transaction that
#: is paid or has nothing left to collect; bounds a completion a revision hides (docs/credit-rules.md).
COMPLETES_WITHIN = pd.Timedelta(hours=1)
_SETTLED_EVENTS = ("transaction.billed", "transaction.past_due", "transaction.completed", "transaction.canceled",
                   "transaction.paid", "adjustment.created", "adjustment.updated")
#: The event types a history reads (``GET /events?event_type=...``).
EVENT_TYPES: tuple[str, ...] = _SETTLED_EVENTS


_amount = rules.amount
_time = rules.paddle_time


def _month(stamp: pd.Timestamp) -> tuple[int, int]:
    return stamp.year, stamp.month


# -- compact forms: only what the rebuild reads (the checkpoint keeps these, not whole entities) ------------


def compact_transaction(txn: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a Paddle transaction the rebuild reads (a few hundred bytes instead of kilobytes)."""
    totals = ((txn.get("details") or {}).get("totals")) or {}
    captured = [_time(p.get("captured_at")) for p in txn.get("payments") or () if isinstance(p, Mapping)
                and _time(p.get("captured_at")) is not None]
    return {
        "id": txn.get("id"), "customer_id": txn.get("customer_id"), "currency_code": txn.get("currency_code"),
        "status": txn.get("status"), "origin": txn.get("origin"), "collection_mode": txn.get("collection_mode"),
        "created_at": txn.get("created_at"), "updated_at": txn.get("updated_at"), "billed_at": txn.get("billed_at"),
        "revised_at": txn.get("revised_at"), "charged": str(rules.charged(txn)),
        "credit": str(totals.get("credit") or "0"), "credit_to_balance": str(totals.get("credit_to_balance") or "0"),
        "grand_total": str(totals.get("grand_total") or "0"),
        "captured_at": max(captured).isoformat().replace("+00:00", "Z") if captured else None,
    }


def compact_adjustment(adj: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a Paddle adjustment the rebuild reads."""
    applied = adj.get("credit_applied_to_balance")
    return {
        "id": adj.get("id"), "action": adj.get("action"), "status": adj.get("status"),
        "customer_id": adj.get("customer_id"), "currency_code": adj.get("currency_code"),
        "total": str((adj.get("totals") or {}).get("total") or "0"),
        "credit_applied_to_balance": applied if isinstance(applied, bool) else None,
        "transaction_id": adj.get("transaction_id"), "created_at": adj.get("created_at"),
        "updated_at": adj.get("updated_at"), "type": adj.get("type"),
    }


def compact_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as (id, type, when, the entity's id and status): what timing needs."""
    data = event.get("data") or {}
    return {"event_id": event.get("event_id"), "event_type": event.get("event_type"),
            "occurred_at": event.get("occurred_at"), "id": data.get("id"), "status": data.get("status")}


def _is_compact(item: Mapping[str, Any]) -> bool:
    return "details" not in item and "totals" not in item and "data" not in item


def _first_events(events: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], tuple[pd.Timestamp, str]]:
    """(entity id, status) -> (when, event id) of the first event showing the entity in that status."""
    rows = [e if _is_compact(e) else compact_event(e) for e in events]
    rows = [r for r in rows if r.get("event_type") in _SETTLED_EVENTS and r.get("id") and r.get("occurred_at")]
    rows.sort(key=lambda r: (_time(r["occurred_at"]), str(r.get("event_id") or "")))
    first: dict[tuple[str, str], tuple[pd.Timestamp, str]] = {}
    for r in rows:
        first.setdefault((str(r["id"]), str(r.get("status"))), (_time(r["occurred_at"]), str(r["event_id"] or "")))
    return first


# -- the rebuild --------------------------------------------------------------------------------------------


class _Builder:
    """Collects movement rows; one place computes the deltas and the estimated flag."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, kind: str, effect: str, amount: int, entity: Mapping[str, Any], when: pd.Timestamp, *,
            source: str, timing: str, earliest: pd.Timestamp, latest: pd.Timestamp, event_id: str = "",
            transaction_id: str = "", adjustment_id: str = "") -> None:
        earliest, latest = min(earliest, when), max(latest, when)
        row: dict[str, Any] = dict(rules.movement_row(kind, effect, amount, entity, when, source=source,
                                                      event_id=event_id, transaction_id=transaction_id,
                                                      adjustment_id=adjustment_id))
        row.update(timing=timing, estimated=timing != "event" and _month(earliest) != _month(latest),
                   earliest=earliest, latest=latest)
        self.rows.append(row)


def _seller_credits(adjustments: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Approved seller credits (:func:`rules.seller_credit`) per transaction id (R1)."""
    out: dict[str, int] = {}
    for adj in adjustments:
        value = rules.seller_credit(adj)
        if value and adj.get("transaction_id"):
            out[str(adj["transaction_id"])] = out.get(str(adj["transaction_id"]), 0) + value
    return out


def _revised(txn: Mapping[str, Any]) -> bool:
    """Whether the transaction's ``updated_at`` is a revision's, not its last status change: Paddle sets
    ``revised_at`` when customer details of a billed or completed transaction are revised, and moves
    ``updated_at`` with it (openapi.yaml, ``transaction.revised_at``)."""
    revised, updated = _time(txn.get("revised_at")), _time(txn.get("updated_at"))
    return revised is not None and updated is not None and updated >= revised


def _completion(txn: Mapping[str, Any], first: Mapping[tuple[str, str], tuple[pd.Timestamp, str]]
                ) -> tuple[pd.Timestamp, str, str, pd.Timestamp, pd.Timestamp]:
    """(when, event id, timing, earliest, latest) of a completed transaction's completion, from its own status
    history: its ``transaction.completed`` event inside the window (exact); else a zero-total
    ``subscription_update`` completes when it is created (Paddle completes it at once: exact); else its
    ``updated_at``, the moment its status last changed (a completed transaction changes no more), exact unless a
    revision moved it; then a zero-total ``subscription_update`` completed when it was created (Paddle completes
    it at once: within :data:`AT_ONCE`), and any other completion lies between its last known step (billing,
    the newest captured payment, creation) and ``revised_at`` (at most :data:`COMPLETES_WITHIN` after the step:
    Paddle completes a transaction as soon as it is paid or has nothing left to collect), and is dated at that
    step (credit is used at the
    completion, not at the capture: "isn't considered used until the transaction is completed")."""
    seen = first.get((str(txn.get("id")), "completed"))
    if seen is not None:
        return seen[0], seen[1], "event", seen[0], seen[0]
    created, updated = _time(txn.get("created_at")), _time(txn.get("updated_at"))
    billed, captured = _time(txn.get("billed_at")), _time(txn.get("captured_at"))
    if updated is not None and not _revised(txn):
        return updated, "", "field", updated, updated
    if _amount(txn.get("grand_total")) == 0 and txn.get("origin") == "subscription_update" and created:
        return created, "", "rule", created, created + AT_ONCE
    steps = [t for t in (created, billed, captured) if t is not None]
    when = max(steps) if steps else updated
    revised = _time(txn.get("revised_at")) or when
    return when, "", "rule", when, min(revised, when + COMPLETES_WITHIN)


def _sat_billed(txn: Mapping[str, Any], done: pd.Timestamp, timing: str) -> bool:
    """R2 for a completed transaction read before the event window, whatever its origin or collection mode:
    it sat billed (its credit reserved) when ``billed_at`` lies before its payment's capture, or, with nothing
    captured, before its completion. Paddle sets a never-billed transaction's ``billed_at`` to the moment it is
    paid (or completed, with nothing to collect), so such a one is never taken as billed. A revised one with
    nothing captured cannot tell (its completion is an estimate): straight to used, labelled estimated."""
    billed, captured = _time(txn.get("billed_at")), _time(txn.get("captured_at"))
    if billed is None:
        return False
    if captured is not None:
        return billed < captured
    return timing != "rule" and billed < done


def _transaction(b: _Builder, txn: Mapping[str, Any], seller: Mapping[str, int],
                 first: Mapping[tuple[str, str], tuple[pd.Timestamp, str]], horizon: pd.Timestamp | None) -> None:
    """The movements of one transaction, from its final state (and its events, when in the window)."""
    txn_id, status = str(txn.get("id") or ""), txn.get("status")
    origin = str(txn.get("origin") or "")
    credit = rules.balance_credit(_amount(txn.get("credit")), seller.get(txn_id, 0))
    to_balance = _amount(txn.get("credit_to_balance"))
    billed = _time(txn.get("billed_at"))
    updated = _time(txn.get("updated_at")) or billed
    if credit <= 0 and (to_balance <= 0 or status != "completed"):
        return
    ids = {"transaction_id": txn_id}
    done = _completion(txn, first) if status == "completed" else None
    reserved = False
    if credit > 0 and billed is not None:
        if status in ("billed", "paid", "past_due", "canceled"):
            reserved = True  # still open, or canceled after it was billed (released below)
        elif done is not None and (txn_id, "billed") in first:
            reserved = True  # an event shows it billed before it completed
        elif done is not None and horizon is not None and billed >= horizon:
            reserved = False  # inside the event window with no billed event: never billed, straight to used
        elif done is not None:
            reserved = _sat_billed(txn, done[0], done[2])  # before the window (R2, any origin)
    if reserved:
        seen = first.get((txn_id, "billed"))  # else billed_at, the field Paddle sets when it is billed
        when, event_id, timing = (seen[0], seen[1], "event") if seen else (billed, "", "field")
        b.add("reserved", "reserved", credit, txn, when, source=origin, timing=timing, earliest=when,
              latest=when, event_id=event_id, **ids)
    if done is not None:
        when, event_id, timing, earliest, latest = done
        for kind, effect, value in rules.completion(to_balance, credit, from_reserved=reserved):
            b.add(kind, effect, value, txn, when, source=origin, timing=timing, earliest=earliest, latest=latest,
                  event_id=event_id, **ids)
    elif status == "canceled" and reserved:
        seen = first.get((txn_id, "canceled"))
        if seen is not None:
            b.add("released", "released", credit, txn, seen[0], source=origin, timing="event", earliest=seen[0],
                  latest=seen[0], event_id=seen[1], **ids)
        else:
            # canceled is final (only billed or completed transactions are revised): updated_at is the cancel
            b.add("released", "released", credit, txn, updated, source=origin, timing="field", earliest=updated,
                  latest=updated, **ids)


def _adjustment(b: _Builder, adj: Mapping[str, Any], reversal_of: Mapping[str, pd.Timestamp],
                first: Mapping[tuple[str, str], tuple[pd.Timestamp, str]],
                txns: Mapping[str, Mapping[str, Any]]) -> None:
    """An approved balance credit (issued), an approved credit reversal (reversed), an approved refund (a
    ``refund`` row moving nothing, R4, and, when its transaction created credit, the share of that credit it
    takes back as ``reversed`` with the refund's id, :func:`rules.refund_reversal`); nothing else."""
    action, status = adj.get("action"), adj.get("status")
    adj_id = str(adj.get("id") or "")
    total = abs(_amount(adj.get("total")))
    created, updated = _time(adj.get("created_at")), _time(adj.get("updated_at"))
    ids = {"transaction_id": str(adj.get("transaction_id") or ""), "adjustment_id": adj_id}
    if total <= 0 or created is None:
        return
    # a reversed original was approved once (its status reads reversed after the credit_reverse)
    kind = rules.adjustment_kind(adj, approved=status == "approved" or (status == "reversed" and action == "credit"))
    if kind is None:
        return  # pending_approval and rejected never reach a balance; seller credits and chargebacks move nothing
    effect = kind
    back = rules.refund_reversal(adj, txns.get(ids["transaction_id"]) or {}) if kind == "refund" else 0
    seen = first.get((adj_id, "approved"))
    if seen is not None:
        b.add(kind, effect, total, adj, seen[0], source="adjustment", timing="event", earliest=seen[0],
              latest=seen[0], event_id=seen[1], **ids)
        if back > 0:
            b.add("reversed", "reversed", back, adj, seen[0], source="refund", timing="event", earliest=seen[0],
                  latest=seen[0], event_id=seen[1], **ids)
        return
    if status == "reversed":  # approved once, then reversed: updated_at is the reversal, not the approval
        latest = reversal_of.get(adj_id) or updated or created
        b.add(kind, effect, total, adj, created, source="adjustment", timing="rule", earliest=created,
              latest=latest, **ids)
        return
    # approved is its last status (a reversed original is handled above): updated_at is the approval
    b.add(kind, effect, total, adj, updated or created, source="adjustment", timing="field",
          earliest=updated or created, latest=updated or created, **ids)
    if back > 0:
        b.add("reversed", "reversed", back, adj, updated or created, source="refund", timing="field",
              earliest=updated or created, latest=updated or created, **ids)


def rebuild(transactions: Iterable[Mapping[str, Any]], adjustments: Iterable[Mapping[str, Any]],
            events: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """Every credit movement the transactions and adjustments prove, oldest first (:data:`HISTORY_DTYPES`).

    ``transactions`` / ``adjustments`` are Paddle's list items (or their compact forms), as they are now;
    ``events`` (optional) are ``/events`` items of the last 90 days, which give exact moments. Each
    transaction and adjustment is read once (a listing that returns one twice counts it once).
    """
    txns = {str(t.get("id")): (t if _is_compact(t) else compact_transaction(t)) for t in transactions}
    adjs = {str(a.get("id")): (a if _is_compact(a) else compact_adjustment(a)) for a in adjustments}
    events = list(events)
    first = _first_events(events)
    # the oldest event read: everything billed since then shows a transaction.billed event if it was billed
    horizon = min((v[0] for v in first.values()), default=None)
    seller = _seller_credits(list(adjs.values()))
    reversal_of: dict[str, pd.Timestamp] = {}  # original credit adjustment -> when it was reversed
    by_txn_credit: dict[str, str] = {a["transaction_id"]: a_id for a_id, a in adjs.items()
                                     if a.get("action") == "credit" and a.get("credit_applied_to_balance") is True}
    for a in adjs.values():
        if a.get("action") == "credit_reverse" and a.get("status") == "approved":
            original = by_txn_credit.get(a.get("transaction_id"))
            when = _time(a.get("updated_at")) or _time(a.get("created_at"))
            if original and when is not None:
                reversal_of[original] = when
    b = _Builder()
    for txn in txns.values():
        _transaction(b, txn, seller, first, horizon)
    for adj in adjs.values():
        _adjustment(b, adj, reversal_of, first, txns)
    frame = row_types.conform(pd.DataFrame(b.rows), HISTORY_DTYPES)[list(HISTORY_DTYPES)]
    order = {k: i for i, k in enumerate(("issued", "reserved", "released", "used", "reversed", "refund"))}
    frame["_order"] = frame["kind"].map(order).astype("int64")
    frame = frame.sort_values(["occurred_at", "customer_id", "transaction_id", "_order"], kind="mergesort")
    return frame.drop(columns="_order").reset_index(drop=True)


# -- balances, tie-out, month ends --------------------------------------------------------------------------


def balances_at(movements: pd.DataFrame, at: Any, customers: Iterable[str] | None = None) -> pd.DataFrame:
    """The balances the movements make at ``at`` (movements at or before it), as row_types.BALANCE_DTYPES.

    One row per customer and currency with any movement by then, like Paddle (a currency once credited
    keeps its row at zero). ``customers`` limits the rows to those customers (the trusted ones).
    """
    moves = movements[(movements["occurred_at"] <= timestamps.parse(at)) & (movements["kind"] != "refund")]
    if customers is not None:
        moves = moves[moves["customer_id"].isin(list(customers))]
    if moves.empty:
        return row_types.empty_frame(row_types.BALANCE_DTYPES)
    sums = moves.groupby(["customer_id", "currency_code"], sort=True)[
        ["available_delta", "reserved_delta", "used_delta"]].sum().reset_index()
    sums = sums.rename(columns={"available_delta": "available", "reserved_delta": "reserved",
                                "used_delta": "used"})
    return row_types.conform(sums, row_types.BALANCE_DTYPES)[list(row_types.BALANCE_DTYPES)].reset_index(drop=True)


def tie_out(movements: pd.DataFrame, balances: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """Per customer and currency: the rebuilt balance at ``as_of`` against Paddle's (:data:`TIE_OUT_DTYPES`).

    ``ties_out`` is True only when available, reserved and used all agree exactly. A customer or currency
    on one side only counts as zero on the other.
    """
    rebuilt = balances_at(movements, as_of)
    keys = ["customer_id", "currency_code"]
    paddle = row_types.conform(balances, row_types.BALANCE_DTYPES)[list(row_types.BALANCE_DTYPES)]
    merged = rebuilt.merge(paddle, on=keys, how="outer", suffixes=("_r", "_p"))
    out = merged[keys].copy()
    for kind in ("available", "reserved", "used"):
        out[f"rebuilt_{kind}"] = merged[f"{kind}_r"].fillna(0).astype("int64")
        out[f"reported_{kind}"] = merged[f"{kind}_p"].fillna(0).astype("int64")
    for kind in ("available", "reserved", "used"):
        out[f"difference_{kind}"] = out[f"reported_{kind}"] - out[f"rebuilt_{kind}"]
    out["ties_out"] = (out[[f"difference_{k}" for k in ("available", "reserved", "used")]] == 0).all(axis=1)
    out = row_types.conform(out, TIE_OUT_DTYPES)[list(TIE_OUT_DTYPES)]
    return out.sort_values(keys, kind="mergesort").reset_index(drop=True)


def negative_balances(movements: pd.DataFrame) -> list[dict[str, Any]]:
    """Every customer and currency whose rebuilt balance is ever below zero in a bucket, at the first moment it
    is (all the movements of one moment applied together), oldest first. A credit balance is never negative in
    Paddle, so each is a rule dated wrongly or a movement missing: the history records them
    (``negative_balances`` in history.json) and the report makes each an Attention."""
    moves = movements[movements["kind"] != "refund"]
    if moves.empty:
        return []
    keys = ["customer_id", "currency_code", "occurred_at"]
    sums = moves.groupby(keys, sort=True)[["available_delta", "reserved_delta", "used_delta"]].sum().reset_index()
    running = sums.groupby(["customer_id", "currency_code"])[["available_delta", "reserved_delta",
                                                             "used_delta"]].cumsum()
    for kind in ("available", "reserved", "used"):
        sums[kind] = running[f"{kind}_delta"]
    below = sums[(running < 0).any(axis=1)]
    below = below.drop_duplicates(["customer_id", "currency_code"], keep="first").sort_values("occurred_at")
    return [{"customer_id": str(r.customer_id), "currency_code": str(r.currency_code),
             "at": r.occurred_at.isoformat().replace("+00:00", "Z"), "available": int(r.available),
             "reserved": int(r.reserved), "used": int(r.used)} for r in below.itertuples()]


def trusted_customers(tie: pd.DataFrame) -> set[str]:
    """Customers whose every currency ties out (a customer not tying out in one currency is untrusted)."""
    bad = set(tie.loc[~tie["ties_out"], "customer_id"].astype(str))
    return set(tie["customer_id"].astype(str)) - bad


def month_ends(first: Any, last: Any) -> list[pd.Timestamp]:
    """The last second (23:59:59 UTC) of every month from ``first``'s month up to ``last``, inclusive of
    a month end equal to ``last``; oldest first. The demo's fetched month ends use the same second."""
    start, stop = timestamps.parse(first), timestamps.parse(last)
    month = pd.Timestamp(year=start.year, month=start.month, day=1, tz="UTC")
    out = []
    while True:
        end = month + pd.offsets.MonthBegin(1) - pd.Timedelta(seconds=1)
        if end > stop:
            return out
        out.append(end)
        month = month + pd.offsets.MonthBegin(1)


def estimated_month_ends(movements: pd.DataFrame, ends: Sequence[pd.Timestamp]) -> dict[pd.Timestamp, set[str]]:
    """Per month end, the customers a movement of estimated timing could move across it (its interval
    ``earliest`` .. ``latest`` contains the month end): their balance there is labelled estimated."""
    out: dict[pd.Timestamp, set[str]] = {end: set() for end in ends}
    flagged = movements[movements["estimated"]]
    for row in flagged.itertuples():
        for end in ends:
            if row.earliest <= end < row.latest:
                out[end].add(str(row.customer_id))
    return out


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
