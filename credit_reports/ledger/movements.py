"""Credit movements (module credit_movements, so that ``credit_reports.movements(...)`` stays a function):
Paddle events turned into one row per movement of credit, with the ids that prove it.

The rules are docs/credit-rules.md's, and only those:

- ``issued``: a transaction's ``details.totals.credit_to_balance`` when the transaction first reaches
  ``completed`` (source = the transaction's ``origin``, e.g. ``subscription_update`` or
  ``subscription_recurring``); or a legacy ``action: credit`` adjustment with
  ``credit_applied_to_balance: true`` once it reads ``approved`` (source ``adjustment``).
- ``reversed``: an ``action: credit_reverse`` adjustment once it reads ``approved`` (never the original's
  ``reversed`` status); or the share of the credit a transaction created that an approved refund of it takes
  back (R6, source ``refund``, the refund's adjustment id).
- ``reserved``: the balance credit of a transaction reaching ``billed`` or ``past_due``, any collection mode.
- ``used``: the balance credit of a transaction reaching ``completed``; from reserved when it was billed
  first, else straight from available.
- ``released``: the balance credit of a billed transaction that is ``canceled``.

The balance credit of a transaction is ``details.totals.credit`` less the seller credits approved on it
(``action: credit``, ``credit_applied_to_balance: false``), never below 0: Paddle's ``credit`` counts both.
Seller credits, refunds and chargebacks move nothing themselves (but R6). An approved refund is kept as a
``refund`` row with no effect on any bucket (R4: refunding a transaction paid with credit returns no credit),
so a customer behind an unexplained difference is listed with the refund that explains it if Paddle did return
credit. Every rule comes from :mod:`credit_reports.ledger.rules`, the history rebuild's too. Events are read
moment by moment, so the movements of events sharing an ``occurred_at`` never depend on their listing order
(docs/credit-rules.md, "Events of one moment"). A movement is
identified by (``kind``, ``transaction_id`` or ``adjustment_id``): the first event showing it wins, so the
many events of one transaction never count twice. Nothing of an event is kept beyond the movement's own
columns (``row_types.MOVEMENT_DTYPES``).

:func:`statement` and :func:`movements` read the movements stored with the snapshots (each incremental
snapshot stores the movements of its own window).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from credit_reports.core import rows as row_types
from credit_reports.core import timestamps
from credit_reports.core.errors import UsageError
from credit_reports.core.money import check_currency
from credit_reports.figures import periods
from credit_reports.ledger import rules
from credit_reports.ledger.rules import KINDS, seller_credit
from credit_reports.store import reader as store

__all__ = [
    "KINDS",
    "adjustments_frame",
    "events_to_movements",
    "movements",
    "movement_fields",
    "movements_frame",
    "period_movements",
    "seller_credit",
    "statement",
    "union_adjustments",
    "union_movements",
]

OPENING_LABEL = "opening balance, before evidence"


_amount = rules.amount


def _totals(transaction: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((transaction.get("details") or {}).get("totals")) or {}


def _row(kind: str, amount: int, effect: str, data: Mapping[str, Any], event: Mapping[str, Any], source: str,
         *, transaction_id: str = "", adjustment_id: str = "") -> rules.Movement:
    """The movement row (:func:`rules.movement_row`) an event proves, at its ``occurred_at``."""
    return rules.movement_row(kind, effect, amount, data, event.get("occurred_at"), source=source,
                              event_id=str(event.get("event_id") or ""), transaction_id=transaction_id,
                              adjustment_id=adjustment_id)


class _Stream:
    """What reading one stream of events has learnt about its transactions, moment by moment.

    ``first_seen``: when each transaction's first event in the stream occurred (a ``billed_at`` before it means
    the transaction was billed before the stream began). ``billed``: transactions whose billing the stream
    showed. ``paid``: when the stream first showed each transaction paid (Paddle sets a never-billed
    transaction's ``billed_at`` to that moment). ``credit``: the largest ``details.totals.credit`` any payload
    of the transaction has shown so far (it only grows: the balance credit is fixed when the transaction is
    billed, and seller credits only add). ``seller``: approved seller credits per transaction,
    ``{transaction_id: {adjustment_id: amount}}``, those known before the stream under the key ``""``.
    ``created``: what each transaction created and charged (for refunds of a transaction that created credit).
    """

    def __init__(self, seller_credits: Mapping[str, int] | None,
                 created: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.first_seen: dict[str, pd.Timestamp] = {}
        self.billed: set[str] = set()
        self.paid: dict[str, pd.Timestamp] = {}
        self.credit: dict[str, int] = {}
        self.seller: dict[str, dict[str, int]] = {t: {"": int(a)} for t, a in (seller_credits or {}).items()}
        self.created: dict[str, Mapping[str, Any]] = dict(created or {})
        self.billing_events: dict[str, pd.Timestamp] = {}
        self.shown_billed: dict[str, pd.Timestamp] = {}

    def learn(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Take in what events say whatever their order: first and paid moments (the earliest), the credit
        each transaction created and what it charged (fixed once it is completed)."""
        for event in events:
            data = event.get("data") or {}
            txn_id = str(data.get("id") or "")
            if not str(event.get("event_type")).startswith("transaction.") or not txn_id:
                continue
            when = _event_time(event)
            if txn_id not in self.first_seen or when < self.first_seen[txn_id]:
                self.first_seen[txn_id] = when
            if event.get("event_type") == "transaction.paid" and (txn_id not in self.paid or when < self.paid[txn_id]):
                self.paid[txn_id] = when
            if event.get("event_type") in ("transaction.billed", "transaction.past_due"):
                self.billing_events[txn_id] = min(when, self.billing_events.get(txn_id, when))
            elif data.get("status") in ("billed", "past_due"):
                self.shown_billed[txn_id] = min(when, self.shown_billed.get(txn_id, when))
            if rules.amount(_totals(data).get("credit_to_balance")) > 0:
                self.created[txn_id] = {"credit_to_balance": _totals(data).get("credit_to_balance"),
                                        "charged": rules.charged(data)}

    def moment(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Everything one moment (events sharing an ``occurred_at``) shows before any of its movements is
        decided: its seller credits and the transactions' credit. So the movements of a moment never depend
        on the order Paddle lists its events in (a seller credit's ``adjustment.created`` and its invoice's
        ``transaction.updated`` carry one stamp)."""
        for event in events:
            data = event.get("data") or {}
            if str(event.get("event_type")).startswith("transaction."):
                txn_id = str(data.get("id") or "")
                if txn_id:
                    self.credit[txn_id] = max(self.credit.get(txn_id, 0), _amount(_totals(data).get("credit")))
                continue
            value = seller_credit(data)
            if value and data.get("transaction_id"):
                self.seller.setdefault(str(data["transaction_id"]), {})[str(data.get("id") or "")] = value

    def balance_credit(self, txn: Mapping[str, Any]) -> int:
        """R1 (:func:`rules.balance_credit`): the transaction's credit less its seller credits known so far."""
        txn_id = str(txn.get("id") or "")
        credit = max(self.credit.get(txn_id, 0), _amount(_totals(txn).get("credit")))
        return rules.balance_credit(credit, sum(self.seller.get(txn_id, {}).values()))

    def was_billed(self, txn: Mapping[str, Any]) -> bool:
        """Whether the transaction sat billed (its credit reserved) before the event being read: the stream
        showed its billing, or its ``billed_at`` lies before its first event in the stream."""
        txn_id = str(txn.get("id") or "")
        if txn_id in self.billed:
            return True
        billed = rules.paddle_time(txn.get("billed_at"))
        first = self.first_seen.get(txn_id)
        if billed is None or first is None:
            return False
        paid = self.paid.get(txn_id)
        if paid is not None and billed >= paid:
            return False  # billed_at is the payment's moment: a transaction collected at once, never billed
        if billed < first:
            return True
        # billed_at equal to the first event's moment (Paddle can stamp many events with one millisecond, some
        # accounts whole seconds): billed before when a payload of that moment already reads billed or past due
        # and this stream holds no billing event of it then (its billing was listed in the previous window)
        return (billed == first and self.shown_billed.get(txn_id) == first
                and self.billing_events.get(txn_id) != first)


def _transaction_movements(event: Mapping[str, Any], txn: Mapping[str, Any], stream: _Stream) -> list[rules.Movement]:
    """The movements one transaction event shows (before de-duplication), by the event's type.

    ``transaction.billed`` / ``transaction.past_due`` reserve the balance credit of a transaction not billed
    before (any collection mode, R2); ``transaction.completed`` issues ``credit_to_balance`` and uses the
    balance credit, from reserved when the transaction was billed first (:func:`rules.completion`);
    ``transaction.canceled`` releases the balance credit of a billed transaction. Other types (``created``,
    ``updated``, ``paid``, ...) move nothing, so a later ``transaction.updated`` of a completed transaction
    never counts its credit again.
    """
    kind = str(event.get("event_type") or "")
    txn_id = str(txn.get("id") or "")
    origin = str(txn.get("origin") or "")
    credit = stream.balance_credit(txn)
    out: list[rules.Movement] = []
    if kind in ("transaction.billed", "transaction.past_due"):
        if not stream.was_billed(txn):
            stream.billed.add(txn_id)
            if credit > 0:
                out.append(_row("reserved", credit, "reserved", txn, event, origin, transaction_id=txn_id))
    elif kind == "transaction.completed":
        to_balance = _amount(_totals(txn).get("credit_to_balance"))
        for name, effect, value in rules.completion(to_balance, credit, from_reserved=stream.was_billed(txn)):
            out.append(_row(name, value, effect, txn, event, origin, transaction_id=txn_id))
    elif kind == "transaction.canceled" and credit > 0 and stream.was_billed(txn):
        out.append(_row("released", credit, "released", txn, event, origin, transaction_id=txn_id))
    return out


def _adjustment_movements(event: Mapping[str, Any], adj: Mapping[str, Any], stream: _Stream) -> list[rules.Movement]:
    """The movements one adjustment event shows once it reads approved (:func:`rules.adjustment_kind`): a
    balance credit is issued, a ``credit_reverse`` reversed, a refund kept as a ``refund`` row moving nothing
    (R4) and, when its transaction created credit, the share of that credit it takes back as ``reversed``
    (:func:`rules.refund_reversal`, the refund's adjustment id on it)."""
    kind = rules.adjustment_kind(adj, approved=adj.get("status") == "approved")
    if kind is None:
        return []  # pending_approval and rejected never reach a balance; "reversed" is counted via the reversal
    value = abs(_amount((adj.get("totals") or {}).get("total")))
    ids = {"transaction_id": str(adj.get("transaction_id") or ""), "adjustment_id": str(adj.get("id") or "")}
    out = [_row(kind, value, kind, adj, event, "adjustment", **ids)]
    if kind == "refund":
        back = rules.refund_reversal(adj, stream.created.get(ids["transaction_id"]) or {})
        if back > 0:
            out.append(_row("reversed", back, "reversed", adj, event, "refund", **ids))
    return out


def _event_time(event: Mapping[str, Any]) -> pd.Timestamp:
    """When the event occurred (UTC); an event without a time sorts first."""
    return rules.paddle_time(event.get("occurred_at")) or pd.Timestamp.min.tz_localize("UTC")


#: The order in which the events of one moment are read: a transaction's own lifecycle (billed before paid
#: before completed), then everything else; ties by event id. It never depends on the order of the listing.
_LIFECYCLE = {"transaction.billed": 0, "transaction.past_due": 0, "transaction.paid": 1, "transaction.completed": 2,
              "transaction.canceled": 2}


def _moments(events: list[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """The events grouped by ``occurred_at``, oldest moment first, each moment in :data:`_LIFECYCLE` order."""
    by_time: dict[pd.Timestamp, list[Mapping[str, Any]]] = {}
    for event in events:
        by_time.setdefault(_event_time(event), []).append(event)
    return [sorted(by_time[t], key=lambda e: (_LIFECYCLE.get(str(e.get("event_type")), 3),
                                              str(e.get("event_id") or "")))
            for t in sorted(by_time)]


def events_to_movements(events: Iterable[Mapping[str, Any]],
                        seller_credits: Mapping[str, int] | None = None,
                        created: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """Movements (``row_types.MOVEMENT_DTYPES``) shown by Paddle events, in time order, each at most once.

    ``events`` are ``/events`` items (``event_id``, ``event_type``, ``occurred_at``, ``data``) in any order;
    they are read moment by moment, oldest first, and the movements of one moment (events sharing an
    ``occurred_at``) are the same whatever order they are listed in. Events other than ``transaction.*`` and
    ``adjustment.*`` are ignored. A movement's key is (kind, adjustment_id or transaction_id): the first
    event showing it wins. ``seller_credits`` (``{transaction_id: amount}``) are the approved seller credits
    of transactions approved before the first of these events; those the events show are added as they come
    (docs/credit-rules.md, "Seller credits"). ``created`` (``{transaction_id: {"credit_to_balance",
    "charged"}}``) describes transactions that created credit outside the events, for their refunds.
    """
    relevant = [e for e in events if str(e.get("event_type", "")).startswith(("transaction.", "adjustment."))]
    stream = _Stream(seller_credits, created)
    stream.learn(relevant)
    seen: set[tuple[str, str]] = set()
    rows: list[rules.Movement] = []
    for moment in _moments(relevant):
        stream.moment(moment)
        for event in moment:
            data = event.get("data") or {}
            if str(event.get("event_type")).startswith("transaction."):
                found = _transaction_movements(event, data, stream)
            else:
                found = _adjustment_movements(event, data, stream)
            for row in found:
                key = (row["kind"], row["adjustment_id"] or row["transaction_id"])
                if key in seen:
                    continue
                seen.add(key)
                rows.append(row)
    return movements_frame(rows)


def movement_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a transaction or adjustment event that movements are made of, and nothing more."""
    data = event.get("data") or {}
    totals = (data.get("details") or {}).get("totals") or {}
    kept = {k: data.get(k) for k in ("id", "status", "customer_id", "currency_code", "collection_mode",
                                      "billed_at", "origin", "action", "credit_applied_to_balance",
                                      "transaction_id", "type")}
    kept["details"] = {"totals": {k: totals.get(k) for k in ("credit", "credit_to_balance")},
                       "line_items": [{"totals": {"total": (line.get("totals") or {}).get("total")}}
                                      for line in (data.get("details") or {}).get("line_items") or ()
                                      if isinstance(line, Mapping)]}
    kept["totals"] = {"total": (data.get("totals") or {}).get("total")}
    return {"event_id": event.get("event_id"), "event_type": event.get("event_type"),
            "occurred_at": event.get("occurred_at"), "data": kept}


def movements_frame(rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Movement rows (dicts or a frame) with exactly the documented columns and dtypes."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    out = row_types.conform(frame, row_types.MOVEMENT_DTYPES)[list(row_types.MOVEMENT_DTYPES)]
    for col in ("source", "event_id", "transaction_id", "adjustment_id"):
        out[col] = out[col].fillna("")
    return out.reset_index(drop=True)


def union_movements(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Movements of several snapshot windows as one frame, each movement once (earliest kept), by time."""
    parts = [f for f in frames if f is not None and len(f)]
    if not parts:
        return movements_frame([])
    frame = movements_frame(pd.concat(parts, ignore_index=True))
    frame["_key"] = frame["adjustment_id"].where(frame["adjustment_id"] != "", frame["transaction_id"])
    frame = frame.sort_values(["occurred_at", "event_id"], kind="mergesort")
    frame = frame.drop_duplicates(["kind", "_key"], keep="first").drop(columns="_key")
    return frame.reset_index(drop=True)


def union_adjustments(frames: Iterable[pd.DataFrame | None]) -> pd.DataFrame | None:
    """Credit adjustments kept by several snapshots as one frame, each adjustment once (the newest copy of an
    id wins, as listed last); None when no snapshot kept any."""
    parts = [f for f in frames if f is not None and len(f)]
    if not parts:
        return None
    return pd.concat(parts, ignore_index=True).drop_duplicates("id", keep="last")


def period_movements(chain: Iterable[Any], *, after: Any = None, until: Any = None) -> pd.DataFrame:
    """The movements of a period: the union of those stored in ``chain`` (the snapshots after the opening
    up to the closing), each movement once, and only those that occurred after ``after`` (the opening's
    as-of) and at or before ``until`` (the closing's): a fetch that read events beyond its own as-of
    stores them again in the next window, and they belong to that one."""
    moves = union_movements(s.movements for s in chain)
    keep = pd.Series(True, index=moves.index)
    if after is not None:
        keep &= moves["occurred_at"] > timestamps.parse(after)
    if until is not None:
        keep &= moves["occurred_at"] <= timestamps.parse(until)
    return moves[keep].reset_index(drop=True)


def adjustments_frame(items: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Credit adjustments from ``GET /adjustments`` as ``row_types.ADJUSTMENT_DTYPES`` (nothing else kept).

    ``total`` is ``totals.total`` as Paddle sends it (negative for a ``credit_reverse``), int64 minor units.
    """
    rows = []
    for item in items:
        applied = item.get("credit_applied_to_balance")
        rows.append(
            {
                "id": item.get("id"),
                "action": item.get("action"),
                "status": item.get("status"),
                "customer_id": item.get("customer_id"),
                "currency_code": item.get("currency_code"),
                "total": _amount((item.get("totals") or {}).get("total")),
                "credit_applied_to_balance": applied if isinstance(applied, bool) else None,
                "transaction_id": item.get("transaction_id"),
                "subscription_id": item.get("subscription_id"),
                "created_at": _paddle_time(item.get("created_at")),
                "updated_at": _paddle_time(item.get("updated_at")),
            }
        )
    return row_types.conform(pd.DataFrame(rows), row_types.ADJUSTMENT_DTYPES)[list(row_types.ADJUSTMENT_DTYPES)]


_paddle_time = rules.paddle_time


# ---------------------------------------------------------------------------------------------------
# stored movements: the public reading API


def _chain(data_dir: Any, environment: str | None, snapshot: Any) -> list[store.Snapshot]:
    """The snapshots of one environment up to ``snapshot`` (inclusive), oldest first."""
    closing = store.load_snapshot(snapshot, data_dir=data_dir, environment=environment)
    return store.chain(data_dir, closing.environment, until=closing.as_of) or [closing]


def _known_customer(chain: list[store.Snapshot], customer_id: Any) -> str:
    """``customer_id`` when any snapshot of ``chain`` knows it (listed, holding a balance or moving credit);
    else one-line :class:`UsageError` naming it, so a typo never reads as "no movements"."""
    if not isinstance(customer_id, str) or not customer_id.strip():
        raise UsageError(f"customer_id must be a Paddle customer ID such as ctm_01h..., got {customer_id!r}")
    customer_id = customer_id.strip()
    for snap in reversed(chain):
        for frame in (snap.customers, snap.balances, snap.movements):
            if "customer_id" in frame.columns and (frame["customer_id"] == customer_id).any():
                return customer_id
    closing = chain[-1]
    hint = "" if customer_id.startswith("ctm_") else " (Paddle customer IDs start with ctm_)"
    raise UsageError(
        f"unknown customer_id {customer_id!r}{hint}: no snapshot up to {closing.name} ({closing.environment}) "
        f"lists it; the newest lists {len(closing.customers):,} customers (see load_snapshot().customers)"
    )


def movements(
    snapshot: str | os.PathLike[str] = "latest",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    environment: str | None = None,
    customer_id: str | None = None,
    currency: str | None = None,
) -> pd.DataFrame:
    """Every credit movement stored in the snapshots up to ``snapshot``, each once, oldest first.

    Columns: ``row_types.MOVEMENT_DTYPES``. ``customer_id`` / ``currency`` filter the rows. Windows without
    event evidence contribute nothing: see :func:`statement` for where the balances moved without it.
    A customer no snapshot knows, or a code that is no ISO 4217 currency (``"EURO"``), raises
    :class:`UsageError` in one line; an empty frame means a valid question with no movements.
    """
    code = check_currency(currency) if currency is not None else None
    chain = _chain(data_dir, environment, snapshot)
    frame = union_movements(s.movements for s in chain)
    if customer_id is not None:
        customer_id = _known_customer(chain, customer_id)
        frame = frame[frame["customer_id"] == customer_id]
    if code is not None:
        frame = frame[frame["currency_code"] == code]
    return frame.reset_index(drop=True)


STATEMENT_COLUMNS: tuple[str, ...] = (
    "currency_code", "occurred_at", "kind", "description", "amount", "available_delta", "reserved_delta",
    "used_delta", "available", "reserved", "used", "outstanding", "event_id", "transaction_id",
    "adjustment_id",
)


def _balance(snap: store.Snapshot, customer_id: str) -> dict[str, tuple[int, int, int]]:
    """{currency: (available, reserved, used)} of one customer in one snapshot."""
    b = snap.balances
    b = b[b["customer_id"] == customer_id]
    return {str(r.currency_code): (int(r.available), int(r.reserved), int(r.used)) for r in b.itertuples()}


def statement(
    customer_id: str,
    snapshot: str | os.PathLike[str] = "latest",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    environment: str | None = None,
    currency: str | None = None,
) -> pd.DataFrame:
    """One customer's credit, per currency: opening balance, every movement, a running balance.

    The first row per currency is the balance in the first snapshot ("opening balance, before
    evidence"); then each movement in time order with its effect (``*_delta``) and the running
    ``available``, ``reserved``, ``used`` and ``outstanding`` after it. At each later snapshot where the
    running balance differs from the balance Paddle reported, one row closes the gap: ``unexplained``
    when that window had event evidence, ``no evidence`` when it had none (derived from balances). So the
    last row always ends on the snapshot's figures, and a non-zero gap is shown, never hidden.

    A customer no snapshot knows (``"ctm_doesnotexist"``) or a code that is no currency raises
    :class:`UsageError` in one line; an empty frame means a known customer who never held credit (in
    that currency).
    """

    code_filter = check_currency(currency) if currency is not None else None
    if not isinstance(customer_id, str) or not customer_id:
        raise UsageError(f"customer_id must be a Paddle customer ID such as ctm_01h..., got {customer_id!r}")
    chain = _chain(data_dir, environment, snapshot)
    customer_id = _known_customer(chain, customer_id)
    rows: list[dict[str, Any]] = []
    running: dict[str, list[int]] = {}

    def add(code: str, when: Any, kind: str, text: str, deltas: tuple[int, int, int], amount: int,
            ids: tuple[str, str, str] = ("", "", "")) -> None:
        bal = running.setdefault(code, [0, 0, 0])
        for i in range(3):
            bal[i] += deltas[i]
        rows.append({
            "currency_code": code, "occurred_at": when, "kind": kind, "description": text, "amount": amount,
            "available_delta": deltas[0], "reserved_delta": deltas[1], "used_delta": deltas[2],
            "available": bal[0], "reserved": bal[1], "used": bal[2], "outstanding": bal[0] + bal[1],
            "event_id": ids[0], "transaction_id": ids[1], "adjustment_id": ids[2],
        })

    first = chain[0]
    for code, (a, r, u) in sorted(_balance(first, customer_id).items()):
        add(code, first.as_of, "opening", f"{OPENING_LABEL} ({first.name})", (a, r, u), a + r)
    seen: set[tuple[str, str]] = set()
    for previous, snap in zip(chain, chain[1:], strict=False):
        evidence = periods.window_evidence(snap, previous)
        if evidence:
            moves = snap.movements
            moves = moves[(moves["customer_id"] == customer_id) & (moves["occurred_at"] > previous.as_of)
                          & (moves["occurred_at"] <= snap.as_of)].sort_values(["occurred_at", "event_id"])
            for m in moves.itertuples():
                key = (m.kind, m.adjustment_id or m.transaction_id)
                if key in seen:
                    continue
                seen.add(key)
                add(str(m.currency_code), m.occurred_at, str(m.kind), f"{m.kind} ({m.source})",
                    (int(m.available_delta), int(m.reserved_delta), int(m.used_delta)), int(m.amount),
                    (str(m.event_id), str(m.transaction_id), str(m.adjustment_id)))
        reported = _balance(snap, customer_id)
        for code in sorted(set(reported) | set(running)):
            want = reported.get(code, (0, 0, 0))
            have = running.get(code, [0, 0, 0])
            gap = tuple(w - h for w, h in zip(want, have, strict=True))
            if any(gap):
                kind = "unexplained" if evidence else "no evidence"
                text = (f"balance at {snap.name} differs from the movements: unexplained" if evidence
                        else f"balance change to {snap.name}, derived from balances, no evidence")
                add(code, snap.as_of, kind, text, gap, gap[0] + gap[1])  # type: ignore[arg-type]
    frame = pd.DataFrame(rows, columns=list(STATEMENT_COLUMNS))
    if code_filter:
        frame = frame[frame["currency_code"] == code_filter]
    ints = {c: "int64" for c in STATEMENT_COLUMNS if c.endswith("_delta") or c in
            ("amount", "available", "reserved", "used", "outstanding")}
    frame = frame.astype(ints)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame.sort_values("currency_code", kind="mergesort").reset_index(drop=True)  # stable: time order kept


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
