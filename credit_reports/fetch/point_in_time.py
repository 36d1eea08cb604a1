"""Point-in-time snapshots of an account that moves while it is read (docs/credit-rules.md, "The window").

A live fetch takes its as-of first and reads the balances after it, one customer at a time, for up to an hour
at Paddle's pace. A customer's credit can move in between: then the balance read is not the balance at the
as-of. This module brings each balance back to the as-of:

1. Each balance read records when it was sent and received (this machine's clock) and Paddle's ``Date``
   header. The ``Date`` of every answer lies between its sending and its receipt, so together they bound the
   difference between Paddle's clock and ours (:func:`clock_offset`); each read then happened, on Paddle's
   clock, inside a known interval (:func:`read_interval`).
2. After the balances, the ``transaction.*`` and ``adjustment.*`` events from the snapshot's high-water mark
   up to now are read (:class:`Tail`) and turned into movements by the movement rules.
3. Each customer's balance is brought back to the as-of by that customer's movements between the as-of and
   the read (:func:`back_to_as_of`): a movement after the as-of that the read already shows is undone; one at
   or before the as-of that the read did not yet show (Paddle's clock behind ours) is applied.
4. A movement whose time falls inside the read's interval leaves the order unknown: that customer is read
   again (:data:`MAX_ROUNDS` rounds at most), and the new read is corrected in turn. A customer still unsure
   after the last round keeps the correction of the movements that are sure and is listed in the manifest
   (``point_in_time.uncertain_customer_ids``).

Without ``notification.read`` no event can be read: the snapshot cannot be corrected, the fetch says so in one
line and the manifest records ``point_in_time.corrected = false`` (its windows are "not point-in-time").
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from credit_reports.core.timestamps import parse as parse_time
from credit_reports.fetch import door
from credit_reports.fetch.seller_credits import stream_movements
from credit_reports.ledger.movements import movement_fields

if TYPE_CHECKING:
    from credit_reports.paddle.client import PaddleClient

__all__ = ["MAX_ROUNDS", "PointInTime", "Tail", "back_to_as_of", "clock_offset", "read_interval"]

log = logging.getLogger("credit_reports.point_in_time")

#: Rounds of second reads for customers whose movement fell inside their read's interval. One round almost
#: always settles it (the second read comes after the movement); five leave room for a customer
#: whose credit keeps moving (each round waits at most EVENT_SLACK_MS).
MAX_ROUNDS = 5
#: The clock difference assumed when Paddle sends no usable ``Date`` header (ms either way).
NO_DATE_SKEW_MS = 2000.0
#: *Chosen*: how far an event's ``occurred_at`` may lie from the moment its balance change became visible
#: (Paddle does not document it), and how long after it the event is surely listed. A movement that close
#: to a read counts as inside the read's interval, and the events are read only that long after the last read.
EVENT_SLACK_MS = 250.0
#: The events a correction reads: what moves credit.
TAIL_EVENT_TYPES = (
    "adjustment.created", "adjustment.updated", "transaction.billed", "transaction.canceled",
    "transaction.completed", "transaction.created", "transaction.paid", "transaction.past_due",
    "transaction.payment_failed", "transaction.ready", "transaction.revised", "transaction.updated",
)

Rows = list[list[Any]]  # [[currency, available, reserved, used], ...] as the balance journal keeps them


def clock_offset(reads: Iterable[Mapping[str, Any]]) -> tuple[float, float]:
    """Bounds (ms) on Paddle's clock minus ours, from reads with ``sent_ms``, ``received_ms``, ``date_s``.

    Paddle wrote each ``Date`` (whole seconds, so the moment lies in ``[date, date + 1 s)``) between our sending
    and our receipt: ``date - received <= offset < date + 1 s - sent``. Every read narrows the bounds. Reads that
    contradict each other (a clock stepped during the fetch) widen them to cover every read; with no ``Date`` at
    all, :data:`NO_DATE_SKEW_MS` either way.
    """
    lows, highs = [], []
    for read in reads:
        date = read.get("date_s")
        if date is None:
            continue
        lows.append(date * 1000.0 - read["received_ms"])
        highs.append(date * 1000.0 + 1000.0 - read["sent_ms"])
    if not lows:
        return -NO_DATE_SKEW_MS, NO_DATE_SKEW_MS
    low, high = max(lows), min(highs)
    if low > high:  # not one offset fits every read: the clocks moved apart during the fetch
        return min(lows), max(highs)
    return low, high


def read_interval(read: Mapping[str, Any], offset: tuple[float, float],
                  slack: float = EVENT_SLACK_MS) -> tuple[float, float]:
    """When, on Paddle's clock (epoch ms), a read happened at the earliest and at the latest, widened by
    ``slack`` either way (:data:`EVENT_SLACK_MS`): a movement timed inside it may or may not be in the read."""
    return read["sent_ms"] + offset[0] - slack, read["received_ms"] + offset[1] + slack


def back_to_as_of(rows: Rows, moves: Iterable[Mapping[str, Any]], as_of_ms: float,
                  interval: tuple[float, float]) -> tuple[Rows, int, list[str]]:
    """One customer's balances read during ``interval`` brought back to the as-of by their movements.

    Returns (rows at the as-of, movements applied, ids of movements whose order against the read is unknown).
    A movement (``occurred_ms``, ``*_delta``, ``currency_code``) strictly before the interval is in the read;
    strictly after it is not. A row the correction leaves all zero is dropped (*chosen*: the currency came with
    the movements undone); a row Paddle itself sent as all zero is kept.
    """
    balances = {str(r[0]): [int(r[1]), int(r[2]), int(r[3])] for r in rows}
    start, end = interval
    applied = 0
    unsure: list[str] = []
    for move in moves:
        when = move["occurred_ms"]
        sign = 0
        if start <= when <= end:
            unsure.append(str(move["key"]))
            continue
        in_read = when < start
        if when > as_of_ms and in_read:
            sign = -1  # happened after the as-of, and the read shows it: undo
        elif when <= as_of_ms and not in_read:
            sign = 1  # happened by the as-of, and the read came before it on Paddle's clock: apply
        if sign:
            row = balances.setdefault(str(move["currency_code"]), [0, 0, 0])
            row[0] += sign * int(move["available_delta"])
            row[1] += sign * int(move["reserved_delta"])
            row[2] += sign * int(move["used_delta"])
            applied += 1
    read_zero = {str(r[0]) for r in rows if not any(int(v) for v in r[1:])}
    out = [[code, *values] for code, values in sorted(balances.items())
           if code in read_zero or any(values)]
    return out, applied, unsure


class Tail:
    """The credit events after a mark, read as far as Paddle has them now, each read once.

    :meth:`read_more` asks for the events after the last one seen; the pages it took are counted.
    """

    def __init__(self, client: PaddleClient, after: str | None) -> None:
        self.client = client
        self.after = after
        self.events: list[dict[str, Any]] = []
        self.pages = 0
        self.lookups = 0
        self._sellers: dict[str, int] = {}  # seller credits looked up so far, by transaction
        self._moves: pd.DataFrame | None = None

    def read_more(self) -> int:
        """Read the events after the last one seen; returns how many arrived."""
        params: dict[str, Any] = {"event_type": ",".join(TAIL_EVENT_TYPES), "order_by": "id[ASC]"}
        if self.after:
            params["after"] = self.after
        before = self.client.stats.get("calls", 0)
        new = 0
        for event in door.checked_events(self.client.paginate("/events", params)):
            self.events.append(movement_fields(event))
            self.after = event.get("event_id") or self.after
            new += 1
        self.pages += self.client.stats.get("calls", 0) - before
        if new:
            self._moves = None
        return new

    def movements(self) -> pd.DataFrame:
        """The movements these events show (R1 applied, seller credits looked up where needed)."""
        if self._moves is None:
            self._moves, looked_up = stream_movements(self.client, self.events, self._sellers)
            self.lookups += looked_up
        return self._moves


def _by_customer(moves: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Movements grouped by customer, each with its time in epoch ms and its identity."""
    out: dict[str, list[dict[str, Any]]] = {}
    if moves.empty:
        return out
    epoch = pd.Timestamp(0, tz="UTC")
    times = (pd.to_datetime(moves["occurred_at"], utc=True) - epoch) / pd.Timedelta(milliseconds=1)
    for row, ms in zip(moves.to_dict("records"), times.tolist(), strict=True):
        row["occurred_ms"] = float(ms)
        row["key"] = f"{row['kind']}:{row['adjustment_id'] or row['transaction_id']}"
        out.setdefault(str(row["customer_id"]), []).append(row)
    return out


class PointInTime:
    """The correction of one fetch: settles balance reads to the as-of, reading again where it must.

    ``enabled`` False (no ``notification.read``, or a fetch of a past as-of the account is served at) makes
    :meth:`settle` return the reads unchanged and :meth:`summary` say why.
    """

    def __init__(self, client: PaddleClient, as_of: pd.Timestamp, mark: str | None, *, enabled: bool,
                 reason: str | None = None) -> None:
        self.as_of_ms = parse_time(as_of).value / 1e6
        self.enabled = enabled
        self.reason = reason
        self.tail = Tail(client, mark) if enabled else None
        self.corrected: set[str] = set()
        self.reread: set[str] = set()
        self.rereads = 0
        self.rounds = 0
        self.uncertain: set[str] = set()
        self.offset: tuple[float, float] | None = None

    def settle(self, results: dict[str, dict[str, Any]], ids: Iterable[str],
               read_again: Callable[[list[str]], dict[str, dict[str, Any]]]) -> dict[str, Rows]:
        """The balances of ``ids`` (those fetched) at the as-of.

        ``results`` are the balance journal's records (``rows`` and ``read``); ``read_again(ids)`` reads those
        customers once more and returns the updated records (it also updates ``results``).
        """
        ids = [cid for cid in ids if "rows" in results.get(cid, {})]
        if not self.enabled or self.tail is None:
            return {cid: results[cid]["rows"] for cid in ids}
        self._wait_listed(results, ids)
        self.tail.read_more()
        out: dict[str, Rows] = {}
        todo = ids
        for round_number in range(MAX_ROUNDS + 1):
            unsure, latest = self._correct(results, todo, out)
            if not unsure:
                break
            if round_number == MAX_ROUNDS:
                self.uncertain |= set(unsure)
                log.warning("%d customer(s) kept moving while read %d times: their balances may be off by a "
                            "movement at the moment of the read (manifest point_in_time.uncertain_customer_ids)",
                            len(unsure), MAX_ROUNDS + 1)
                break
            self.rounds = max(self.rounds, round_number + 1)
            self.reread |= set(unsure)
            self.rereads += len(unsure)
            self._wait_past(latest)
            read_again(unsure)
            self._wait_listed(results, unsure)
            self.tail.read_more()  # the events up to the second reads
            todo = unsure
        return out

    @staticmethod
    def _wait_listed(results: Mapping[str, Mapping[str, Any]], ids: list[str]) -> None:
        """Sleep until the slack has passed since the last of these reads, so that every event up to them is
        listed when the events are read (at most :data:`EVENT_SLACK_MS`)."""
        last = max((results[c]["read"]["received_ms"] for c in ids if isinstance(results[c].get("read"), Mapping)),
                   default=None)
        if last is not None:
            delay = (last + EVENT_SLACK_MS - time.time() * 1000) / 1000
            if delay > 0:
                time.sleep(min(delay, EVENT_SLACK_MS / 1000))

    def _wait_past(self, moment_ms: float) -> None:
        """Sleep until ``moment_ms`` (Paddle's clock) lies more than the slack behind us, so that a second
        read is surely after the movement that made the first one unsure (at most the slack, ~1 s)."""
        assert self.offset is not None
        delay = (moment_ms + EVENT_SLACK_MS - (time.time() * 1000 + self.offset[0])) / 1000
        if delay > 0:
            time.sleep(min(delay, 2 * EVENT_SLACK_MS / 1000 + 1))

    def _correct(self, results: dict[str, dict[str, Any]], ids: list[str],
                 out: dict[str, Rows]) -> tuple[list[str], float]:
        """Correct ``ids`` into ``out``; return (those whose read's order against a movement is unknown, the
        latest such movement's time in ms)."""
        assert self.tail is not None
        reads = [r["read"] for r in results.values() if isinstance(r.get("read"), Mapping)]
        self.offset = clock_offset(reads)
        moves = _by_customer(self.tail.movements())
        unsure: list[str] = []
        latest = -math.inf
        for cid in ids:
            record = results[cid]
            mine = moves.get(cid)
            if not mine:
                out[cid] = record["rows"]
                continue
            read = record.get("read")
            if not isinstance(read, Mapping):  # a read recorded before reads were timed: assume the widest
                read = {"sent_ms": -math.inf, "received_ms": math.inf}
            rows, applied, doubtful = back_to_as_of(record["rows"], mine, self.as_of_ms,
                                                    read_interval(read, self.offset))
            out[cid] = rows
            if applied:
                self.corrected.add(cid)
            if doubtful:
                unsure.append(cid)
                latest = max(latest, *(m["occurred_ms"] for m in mine if m["key"] in doubtful))
        return unsure, latest

    def window_events(self) -> tuple[list[dict[str, Any]], str | None]:
        """(tail events that occurred at or before the as-of, the last event id of the unbroken run of such
        events from the mark): what a window gains from events Paddle listed only after the fetch began."""
        if self.tail is None:
            return [], None
        early: list[dict[str, Any]] = []
        mark = None
        broken = False
        for event in self.tail.events:
            when = event.get("occurred_at")
            by_as_of = not when or parse_time(when).value / 1e6 <= self.as_of_ms
            if by_as_of:
                early.append(event)
                if not broken:
                    mark = event.get("event_id")
            else:
                broken = True
        return early, mark

    def summary(self) -> dict[str, Any]:
        """The manifest's ``point_in_time``: what the correction did (or why there was none)."""
        if not self.enabled or self.tail is None:
            return {"corrected": False, "reason": self.reason}
        return {
            "corrected": True,
            "customers_corrected": len(self.corrected),
            "customers_read_again": len(self.reread),
            "second_reads": self.rereads,
            "rounds": self.rounds,
            "max_rounds": MAX_ROUNDS,
            "events_after_as_of": sum(1 for e in self.tail.events if e.get("occurred_at")
                                      and parse_time(e["occurred_at"]).value / 1e6 > self.as_of_ms),
            "event_pages": self.tail.pages,
            "seller_credit_lookups": self.tail.lookups,
            "clock_offset_ms": [round(self.offset[0], 1), round(self.offset[1], 1)] if self.offset else None,
            "uncertain_customer_ids": sorted(self.uncertain),
        }
