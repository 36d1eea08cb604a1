"""Point-in-time snapshots of an account that moves while it is read (docs/credit-rules.md, "The window").

A live fetch takes its as-of first and reads the balances after it, one customer at a time, for up to an hour
at Paddle's pace. A customer's credit can move in between: then the balance read is not the balance at the
as-of. This module brings each balance back to the as-of:

1. Each balance read records when it was sent and received (this machine's clock) and Paddle's ``Date``
   header. The ``Date`` of every answer lies between its sending and its receipt, so together they bound the
   difference between Paddle's clock and ours (:func:`clock_offset`); each read then happened, on Paddle's
   clock, inside a known interval (:func:`read_interval`).
2. After the balances, and once Paddle's clock has passed the last read by the listing bound (windows.py), the
   ``transaction.*`` and ``adjustment.*`` events from just before the earliest read up to now are read by
   ``occurred_at`` (:class:`Tail`), each kept once by id whatever order Paddle lists them in, and turned into
   movements by the movement rules. Every later read restarts before the previous one, so an event listed late
   is still caught, and the lag it showed is measured.
3. Each customer is settled from **all** its reads together (:func:`settle_reads`): each read allows the
   balances at the as-of that its movements give (:func:`back_to_as_of` for the sure ones, either way for one
   inside the read's interval, :func:`candidates`); the customer's balance is the one every read allows.
4. Several values: the customer is read again (:data:`MAX_ROUNDS` rounds at most); still several after the last
   round, it keeps the correction of the movements that are sure and is listed in the manifest
   (``point_in_time.uncertain_customer_ids``). None: its reads contradict each other, and it is named
   (``point_in_time.reads_disagree_customer_ids``): an Attention, never a silent figure.

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
from credit_reports.fetch.windows import (
    LISTING_LAG_MS,
    WARN_SHARE,
    WINDOW_OVERLAP_MS,
    ListingLag,
    event_ms,
    events_since,
)
from credit_reports.ledger.movements import movement_fields

if TYPE_CHECKING:
    from credit_reports.paddle.client import PaddleClient

__all__ = ["MAX_ROUNDS", "PointInTime", "Tail", "back_to_as_of", "candidates", "clock_offset", "read_interval",
           "settle_reads"]

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
#: The least a later read of the tail goes back before the previous one (ms): ten times the assumed listing lag.
RESTART_MS = 10 * LISTING_LAG_MS
#: The most unsure movements one read may leave for settling from all reads (2**n candidate balances).
MAX_UNSURE = 12
#: The longest a fetch waits, beyond the assumed lag, for events its reads showed are listed late (ms).
MAX_LAG_WAIT_MS = 5000.0
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
    """The credit events around and after the as-of, read as far as Paddle lists them now, each kept once.

    Reads are cut by ``occurred_at`` (windows.py): the first from ``start_ms``, each later one from the previous
    read's moment minus a restart margin (at least :data:`RESTART_MS`, four times any listing lag measured), so
    an event listed late, whatever its id, is still read; events are de-duplicated by id. The pages it took are
    counted, and :attr:`lag` measures the listing lag the reads showed.
    """

    def __init__(self, client: PaddleClient, after: str | None) -> None:
        self.client = client
        self.after = after  # the high-water mark's id: read after it when the server refuses ``from``
        self.events: list[dict[str, Any]] = []
        self.pages = 0
        self.lookups = 0
        self.reads = 0
        self.lag = ListingLag()
        self.start_ms: float | None = None
        self._ids: set[str] = set()
        self._last_sent: float | None = None
        self._sellers: dict[str, int] = {}  # seller credits looked up so far, by transaction
        self._moves: pd.DataFrame | None = None

    def known_sellers(self, known: Mapping[str, int]) -> None:
        """Seller credits the window's read already looked up (R1), so the tail does not ask for them again."""
        self._sellers.update({str(k): int(v) for k, v in known.items()})

    def restart_margin(self) -> float:
        """How far before the previous read the next one starts (ms)."""
        return max(RESTART_MS, 4 * self.lag.lag_ms)

    def read_more(self, start_ms: float | None = None, offset_low: float = 0.0) -> int:
        """Read the events since ``start_ms`` (the first read, or a start earlier than every read so far: the
        verification sample is settled before the customers read earlier); other reads go from the previous
        read minus the restart margin, never before the start. Returns how many arrived that were new."""
        since = self.start_ms
        if start_ms is not None and (self.start_ms is None or start_ms < self.start_ms):
            since = self.start_ms = start_ms  # reads earlier than any read so far: from their start, in full
        elif self._last_sent is not None and since is not None:
            since = max(since, self._last_sent + offset_low - self.restart_margin())
        sent = ListingLag.now_ms()
        before = self.client.stats.get("calls", 0)
        got = list(door.checked_events(events_since(self.client, since, TAIL_EVENT_TYPES, self.after)))
        self.pages += self.client.stats.get("calls", 0) - before
        self.reads += 1
        self.lag.record(sent, since if since is not None else -math.inf, got, offset_low)
        self._last_sent = sent
        new = 0
        for event in got:
            event_id = str(event.get("event_id"))
            if event_id in self._ids:
                continue
            self._ids.add(event_id)
            self.events.append(movement_fields(event))
            new += 1
        if new:
            self._moves = None
        return new

    def movements(self) -> pd.DataFrame:
        """The movements these events show (R1 applied, seller credits looked up where needed)."""
        if self._moves is None:
            self._moves, looked_up = stream_movements(self.client, self.events, self._sellers)
            self.lookups += looked_up
        return self._moves


def by_customer(moves: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
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


def balance_value(balances: Mapping[str, list[int]]) -> frozenset[tuple[str, int, int, int]]:
    """A customer's balances as a comparable value: its non-zero rows."""
    return frozenset((code, *values) for code, values in balances.items() if any(values))


def candidates(rows: Rows, moves: list[Mapping[str, Any]], as_of_ms: float,
               interval: tuple[float, float]) -> tuple[set[frozenset] | None, list[str]]:
    """Every balance at the as-of one read allows: (the set of candidate values, the unsure movements' keys).

    The movements outside the read's interval are certain (:func:`back_to_as_of`); each one inside it may or
    may not be in the read, so each adds its change or not: ``2**n`` candidates for ``n`` unsure movements. None
    (any value) when more than :data:`MAX_UNSURE` movements are unsure.
    """
    sure, _, unsure = back_to_as_of(rows, moves, as_of_ms, interval)
    if len(unsure) > MAX_UNSURE:
        return None, unsure
    base = {str(r[0]): [int(r[1]), int(r[2]), int(r[3])] for r in sure}
    values = [base]
    for move in (m for m in moves if str(m["key"]) in unsure):
        sign = -1 if move["occurred_ms"] > as_of_ms else 1  # in the read and after: undo; not in it and by: apply
        more = []
        for value in values:
            changed = {code: list(v) for code, v in value.items()}
            row = changed.setdefault(str(move["currency_code"]), [0, 0, 0])
            row[0] += sign * int(move["available_delta"])
            row[1] += sign * int(move["reserved_delta"])
            row[2] += sign * int(move["used_delta"])
            more.append(changed)
        values += more
    return {balance_value(v) for v in values}, unsure


def settle_reads(reads: list[tuple[Rows, tuple[float, float]]], moves: list[Mapping[str, Any]],
                 as_of_ms: float) -> tuple[str, frozenset | None, list[str]]:
    """One customer settled from all its reads together: (``"settled"``, ``"unsure"`` or ``"disagree"``, the
    balance at the as-of when settled (else the newest read's certain part), the unsure movements' keys).

    A balance at the as-of consistent with every read, given the movements between them, is one every read
    allows: the intersection of their candidates. One value: settled; none: the reads contradict each other
    (a movement without its event, or a listing or clock far beyond the bounds assumed); several: read again.
    """
    common: set[frozenset] | None = None
    unsure_keys: list[str] = []
    for rows, interval in reads:
        allowed, unsure = candidates(rows, moves, as_of_ms, interval)
        unsure_keys = unsure
        if allowed is not None:
            common = allowed if common is None else common & allowed
    newest_rows, newest_interval = reads[-1]
    if common is not None and len(common) == 1:
        return "settled", next(iter(common)), []
    if common is not None and not common:
        sure, _, _ = back_to_as_of(newest_rows, moves, as_of_ms, newest_interval)
        return "disagree", frozenset((str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in sure if any(r[1:])), []
    return "unsure", None, unsure_keys


class PointInTime:
    """The correction of one fetch: settles balance reads to the as-of, reading again where it must.

    ``enabled`` False (no ``notification.read``, or a fetch of a past as-of the account is served at) makes
    :meth:`settle` return the reads unchanged and :meth:`summary` say why. ``tail_from_ms`` is where the tail
    must start at the latest (an incremental fetch: its window's read, minus the restart margin, so events of
    the window listed after that read join it); ``window_start_ms`` is the previous snapshot's as-of;
    ``window_read`` the recent events the window's read listed (a late one the tail lists measures the lag).
    """

    def __init__(self, client: PaddleClient, as_of: pd.Timestamp, mark: str | None, *, enabled: bool,
                 reason: str | None = None, tail_from_ms: float | None = None,
                 window_start_ms: float | None = None,
                 window_read: tuple[float, float, list[str]] | None = None,
                 sellers_known: Mapping[str, int] | None = None,
                 clock_read: Mapping[str, Any] | None = None) -> None:
        self.as_of_ms = parse_time(as_of).value / 1e6
        self.enabled = enabled
        self.reason = reason
        self.tail = Tail(client, mark) if enabled else None
        if self.tail is not None and sellers_known:
            self.tail.known_sellers(sellers_known)
        self.tail_from_ms = tail_from_ms
        self.window_start_ms = window_start_ms
        self.clock_read = clock_read  # the answer that showed Paddle's clock past the as-of: bounds the offset
        self.window_read = window_read  # (sent ms, since ms, recent ids) of the window's read: lag evidence
        self.corrected: set[str] = set()
        self.reread: set[str] = set()
        self.rereads = 0
        self.rounds = 0
        self.uncertain: set[str] = set()
        self.disagree: set[str] = set()
        self.offset: tuple[float, float] | None = None
        self.reads: dict[str, list[dict[str, Any]]] = {}  # every read of a customer, oldest first
        self.visibility_ms = 0.0  # the largest gap seen between a movement's occurred_at and its balance change
        self.waited_ms = 0.0

    def settle(self, results: dict[str, dict[str, Any]], ids: Iterable[str],
               read_again: Callable[[list[str]], dict[str, dict[str, Any]]]) -> dict[str, Rows]:
        """The balances of ``ids`` (those fetched) at the as-of.

        ``results`` are the balance journal's records (``rows`` and ``read``); ``read_again(ids)`` reads those
        customers once more and returns the updated records (it also updates ``results``). Each customer is
        settled from all its reads together (:func:`settle_reads`).
        """
        ids = [cid for cid in ids if "rows" in results.get(cid, {})]
        if not self.enabled or self.tail is None:
            return {cid: results[cid]["rows"] for cid in ids}
        for cid in ids:
            self._keep_read(cid, results[cid])
        self.offset = clock_offset(self._all_reads(results))
        self._wait_listed(results, ids)
        first = not self.tail.reads
        if first and self.window_read is not None:
            self.tail.lag.listed_before(*self.window_read)
        self.tail.read_more(self._tail_start(results, ids), self.offset[0])
        if first and self._moved_after_as_of():
            time.sleep(LISTING_LAG_MS / 1000)  # the account moves: read once more to measure the listing lag
            self.waited_ms += LISTING_LAG_MS
            self.tail.read_more(None, self.offset[0])
        self._confirm_listed()
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
            for cid in unsure:
                self._keep_read(cid, results[cid])
            self._wait_listed(results, unsure)
            self.tail.read_more(None, self.offset[0])  # the events up to the second reads
            todo = unsure
        if self.disagree:
            log.warning("%d customer(s) whose reads agree on no balance at the as-of (manifest "
                        "point_in_time.reads_disagree_customer_ids): their figures need attention",
                        len(self.disagree))
        self._warn_bounds()
        return out

    def _moved_after_as_of(self) -> bool:
        """Whether the tail holds an event after the as-of (the account moved while it was read)."""
        assert self.tail is not None
        return any((event_ms(e) or -math.inf) > self.as_of_ms for e in self.tail.events)

    def _keep_read(self, cid: str, record: Mapping[str, Any]) -> None:
        """Remember one read of a customer (a second read does not replace the first)."""
        kept = self.reads.setdefault(cid, [])
        if not kept or kept[-1] is not record and kept[-1].get("read") != record.get("read"):
            kept.append({"rows": record["rows"], "read": record.get("read")})

    def _all_reads(self, results: Mapping[str, Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        reads = [r["read"] for r in results.values() if isinstance(r.get("read"), Mapping)]
        reads += [r["read"] for kept in self.reads.values() for r in kept[:-1] if isinstance(r.get("read"), Mapping)]
        if self.clock_read is not None and self.clock_read.get("date_s") is not None:
            reads.append(self.clock_read)
        return reads

    def _tail_start(self, results: Mapping[str, Mapping[str, Any]], ids: list[str]) -> float:
        """Where the tail starts: before the as-of and before every read's interval (already widened by the
        clock offset's bounds and the slack) by the slack again, and no later than ``tail_from_ms``."""
        assert self.offset is not None
        earliest = self.as_of_ms
        for cid in ids:
            read = results[cid].get("read")
            if isinstance(read, Mapping):
                earliest = min(earliest, read_interval(read, self.offset)[0])
        start = earliest - EVENT_SLACK_MS
        return min(start, self.tail_from_ms) if self.tail_from_ms is not None else start

    def _confirm_listed(self) -> None:
        """When the reads so far show a listing lag beyond the one assumed, wait that long again (at most
        :data:`MAX_LAG_WAIT_MS` in all) and read once more, so this fetch's own correction sees the late events."""
        assert self.tail is not None
        waited = 0.0
        while self.tail.lag.lag_ms > LISTING_LAG_MS and waited < MAX_LAG_WAIT_MS:
            delay = min(2 * self.tail.lag.lag_ms, MAX_LAG_WAIT_MS - waited)
            time.sleep(delay / 1000)
            waited += delay
            before = self.tail.lag.lag_ms
            self.tail.read_more(None, self.offset[0] if self.offset else 0.0)
            if self.tail.lag.lag_ms <= before:
                break
        self.waited_ms += waited

    def _wait_listed(self, results: Mapping[str, Mapping[str, Any]], ids: list[str]) -> None:
        """Sleep until Paddle's clock has passed the last of these reads by the listing lag assumed (or the one
        measured, if longer), so that every event up to them is listed when the events are read."""
        assert self.offset is not None
        last = max((results[c]["read"]["received_ms"] for c in ids if isinstance(results[c].get("read"), Mapping)),
                   default=None)
        if last is None:
            return
        lag = max(LISTING_LAG_MS, self.tail.lag.lag_ms if self.tail is not None else 0.0)
        width = min(self.offset[1] - self.offset[0], 1000.0)  # Paddle's moment of the read, at the latest
        delay = (last + width + lag - time.time() * 1000) / 1000
        if delay > 0:
            delay = min(delay, (lag + 1000.0) / 1000)
            time.sleep(delay)
            self.waited_ms += delay * 1000

    def _wait_past(self, moment_ms: float) -> None:
        """Sleep until ``moment_ms`` (Paddle's clock) lies more than the slack behind us, so that a second
        read is surely after the movement that made the first one unsure (at most the slack, ~1 s)."""
        assert self.offset is not None
        delay = (moment_ms + EVENT_SLACK_MS - (time.time() * 1000 + self.offset[0])) / 1000
        if delay > 0:
            delay = min(delay, 2 * EVENT_SLACK_MS / 1000 + 1)
            time.sleep(delay)
            self.waited_ms += delay * 1000

    def _correct(self, results: dict[str, dict[str, Any]], ids: list[str],
                 out: dict[str, Rows]) -> tuple[list[str], float]:
        """Settle ``ids`` into ``out`` from all their reads; return (those still unsure, the latest unsure
        movement's time in ms)."""
        assert self.tail is not None
        self.offset = clock_offset(self._all_reads(results))
        moves = by_customer(self.tail.movements())
        unsure: list[str] = []
        latest = -math.inf
        for cid in ids:
            record = results[cid]
            mine = moves.get(cid)
            if not mine:
                out[cid] = record["rows"]
                continue
            reads = [(r["rows"], self._interval(r.get("read"))) for r in self.reads.get(cid) or [record]]
            status, value, doubtful = settle_reads(reads, mine, self.as_of_ms)
            newest = record["rows"]
            if status == "unsure":
                rows, _, _ = back_to_as_of(newest, mine, self.as_of_ms, reads[-1][1])
                out[cid] = rows
                unsure.append(cid)
                latest = max(latest, *(m["occurred_ms"] for m in mine if m["key"] in doubtful))
                continue
            assert value is not None
            if status == "disagree":
                self.disagree.add(cid)
            else:
                self.disagree.discard(cid)
                self._measure_visibility(reads, mine, value)
            out[cid] = rows_of(value, newest)
            if balance_value({str(r[0]): [int(v) for v in r[1:]] for r in newest}) != value:
                self.corrected.add(cid)
        return unsure, latest

    def _interval(self, read: Any) -> tuple[float, float]:
        """A read's interval on Paddle's clock (widest for a read recorded before reads were timed)."""
        assert self.offset is not None
        if not isinstance(read, Mapping):
            return -math.inf, math.inf
        return read_interval(read, self.offset)

    def _measure_visibility(self, reads: list[tuple[Rows, tuple[float, float]]],
                            moves: list[Mapping[str, Any]], value: frozenset) -> None:
        """From a settled customer's reads, how far a movement's balance change lay from its ``occurred_at``:
        a movement a read shows though it occurred after the read (or misses though it occurred before) is
        told apart by the settled value when only one choice of the read's unsure movements gives it."""
        slack = EVENT_SLACK_MS
        for rows, (start, end) in reads:
            allowed, unsure = candidates(rows, moves, self.as_of_ms, (start, end))
            if not unsure or allowed is None or len(unsure) > 6:
                continue
            inside = [m for m in moves if str(m["key"]) in unsure]
            fits = []
            for mask in range(1 << len(inside)):
                chosen = [m for i, m in enumerate(inside) if mask >> i & 1]  # these are in the read
                if _value_with(rows, moves, self.as_of_ms, (start, end), inside, chosen) == value:
                    fits.append(chosen)
            if len(fits) != 1:
                continue
            raw_start, raw_end = start + slack, end - slack  # the read's interval without the slack
            for move in inside:
                when = move["occurred_ms"]
                if move in fits[0] and when > raw_end:
                    self.visibility_ms = max(self.visibility_ms, when - raw_end)
                elif move not in fits[0] and when < raw_start:
                    self.visibility_ms = max(self.visibility_ms, raw_start - when)

    def _warn_bounds(self) -> None:
        """One line when a measured lag or offset reaches half the bound the correction assumes."""
        assert self.tail is not None
        lag = self.tail.lag.lag_ms
        if lag >= WARN_SHARE * LISTING_LAG_MS:
            log.warning("Paddle listed events up to %.0f ms after they occurred (assumed %.0f ms; the fetch waited "
                        "for them, and the next fetch re-reads %.0f min before this as-of)", lag, LISTING_LAG_MS,
                        WINDOW_OVERLAP_MS / 60_000)
        if self.visibility_ms >= WARN_SHARE * EVENT_SLACK_MS:
            log.warning("a balance changed %.0f ms away from its event's occurred_at (assumed at most %.0f ms)",
                        self.visibility_ms, EVENT_SLACK_MS)

    def window_events(self) -> list[dict[str, Any]]:
        """Tail events that occurred in the window (after ``window_start_ms``, at or before the as-of): what a
        window gains from events Paddle listed only after the window's own read."""
        if self.tail is None:
            return []
        early = []
        for event in self.tail.events:
            when = event_ms(event)
            if when is None or (when <= self.as_of_ms
                                and (self.window_start_ms is None or when > self.window_start_ms)):
                early.append(event)
        return early

    def stored_reads(self) -> list[dict[str, Any]]:
        """Every read this fetch corrected, for re-settling after the fact (the next fetch): one dict per
        customer with its reads' rows and timing, and the clock offset they were judged with."""
        return [{"customer_id": cid, "reads": kept} for cid, kept in sorted(self.reads.items())]

    def summary(self) -> dict[str, Any]:
        """The manifest's ``point_in_time``: what the correction did (or why there was none), and what it
        measured against the bounds it assumes."""
        if not self.enabled or self.tail is None:
            return {"corrected": False, "reason": self.reason}
        return {
            "corrected": True,
            "customers_corrected": len(self.corrected),
            "customers_read_again": len(self.reread),
            "second_reads": self.rereads,
            "rounds": self.rounds,
            "max_rounds": MAX_ROUNDS,
            "events_after_as_of": sum(1 for e in self.tail.events if (event_ms(e) or -math.inf) > self.as_of_ms),
            "event_pages": self.tail.pages,
            "event_reads": self.tail.reads,
            "seller_credit_lookups": self.tail.lookups,
            "clock_offset_ms": [round(self.offset[0], 1), round(self.offset[1], 1)] if self.offset else None,
            "listing_lag_ms": round(self.tail.lag.lag_ms, 1),
            "late_listed_events": self.tail.lag.late,
            "listing_lag_assumed_ms": LISTING_LAG_MS,
            "window_overlap_ms": WINDOW_OVERLAP_MS,
            "visibility_offset_ms": round(self.visibility_ms, 1),
            "visibility_offset_assumed_ms": EVENT_SLACK_MS,
            "waited_ms": round(self.waited_ms, 1),
            "uncertain_customer_ids": sorted(self.uncertain),
            "reads_disagree_customer_ids": sorted(self.disagree),
        }


def rows_of(value: frozenset, newest: Rows) -> Rows:
    """A settled value as balance rows, with the all-zero rows Paddle itself sent in the newest read kept."""
    rows = {code: [a, r, u] for code, a, r, u in value}
    for row in newest:
        if not any(int(v) for v in row[1:]):
            rows.setdefault(str(row[0]), [0, 0, 0])
    return [[code, *values] for code, values in sorted(rows.items())]


def _value_with(rows: Rows, moves: list[Mapping[str, Any]], as_of_ms: float, interval: tuple[float, float],
                inside: list[Mapping[str, Any]], chosen: list[Mapping[str, Any]]) -> frozenset:
    """The balance at the as-of one read gives when exactly ``chosen`` of its unsure movements are in it."""
    sure, _, _ = back_to_as_of(rows, moves, as_of_ms, interval)
    value = {str(r[0]): [int(r[1]), int(r[2]), int(r[3])] for r in sure}
    for move in inside:
        after = move["occurred_ms"] > as_of_ms
        in_read = move in chosen
        sign = -1 if after and in_read else 1 if not after and not in_read else 0
        if sign:
            row = value.setdefault(str(move["currency_code"]), [0, 0, 0])
            row[0] += sign * int(move["available_delta"])
            row[1] += sign * int(move["reserved_delta"])
            row[2] += sign * int(move["used_delta"])
    return balance_value(value)
