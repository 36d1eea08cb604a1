"""Windows cut by when things happened (docs/credit-rules.md, "The window of a snapshot").

Paddle lists an event some time after it occurred, and documents no bound on how long; its ids follow
``occurred_at`` in its examples, but nothing promises that either. So nothing here trusts the order of ids:

- a window is cut by ``occurred_at``: a snapshot's window holds the movements that occurred after the previous
  snapshot's as-of and at or before its own, each once (de-duplicated by identity);
- every read of events restarts from a moment older than "now minus the listing lag": the next window reads
  from the previous as-of minus :data:`WINDOW_OVERLAP_MS`, and each later read of a fetch's tail from its
  previous read minus a restart margin, so an event listed late is still caught;
- ``/events`` is read with ``from`` (Paddle, since September 2026) on ``occurred_at``; a server that refuses it
  is read after the high-water mark's id instead (:func:`events_since`);
- each read is timed, so the listing lag an event showed (it occurred before a read that did not list it) is
  measured (:class:`ListingLag`) and recorded in the manifest's ``point_in_time``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from credit_reports.core.errors import BadRequestError
from credit_reports.core.timestamps import parse as parse_time
from credit_reports.fetch import door

if TYPE_CHECKING:
    from credit_reports.paddle.client import PaddleClient

__all__ = ["LISTING_LAG_MS", "WINDOW_OVERLAP_MS", "ListingLag", "event_ms", "events_since", "mark_before",
           "rfc3339"]

log = logging.getLogger("credit_reports.fetch")

#: *Assumed*: how long after it occurred an event is surely listed by ``/events`` (ms). A fetch waits that long
#: (on Paddle's clock) after its last balance read before it reads the events that correct the reads, and
#: longer when the lag it measures is longer (point_in_time.py). Paddle documents no bound; the simulator lists
#: at once unless ``event_lag_ms`` says otherwise. A later lag is caught by the next fetch (the overlap).
LISTING_LAG_MS = 250.0
#: *Chosen*: how far before the previous as-of the next window starts reading events (10 minutes). Any event
#: listed within this of its ``occurred_at`` is read by the next window even if the last fetch missed it; 10
#: minutes of events cost a few pages a fetch, and a lag that long would be an incident, warned about.
WINDOW_OVERLAP_MS = 600_000.0
#: A warning when a measured lag reaches this share of the bound it is compared with.
WARN_SHARE = 0.5


def event_ms(event: Mapping[str, Any]) -> float | None:
    """When an event occurred (epoch ms, Paddle's clock), None without ``occurred_at``."""
    when = event.get("occurred_at")
    return parse_time(when).value / 1e6 if when else None


def rfc3339(ms: float) -> str:
    """An epoch-ms moment as Paddle's RFC 3339 (UTC, microseconds), for ``from`` and ``to``."""
    return pd.Timestamp(round(ms * 1000), unit="us", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def events_since(client: PaddleClient, since_ms: float | None, types: tuple[str, ...] | None = None,
                 after: str | None = None, *, until_ms: float | None = None) -> Iterator[dict[str, Any]]:
    """``/events`` that occurred at or after ``since_ms`` (and at or before ``until_ms``), oldest id first.

    Uses ``from``/``to`` on ``occurred_at``; a server that refuses them (400) is read after the event id
    ``after`` instead, and every event still filtered by its time here, so the answer is the same either way
    when ids follow ``occurred_at``.
    """
    params: dict[str, Any] = {"order_by": "id[ASC]", "per_page": 200}
    if types:
        params["event_type"] = ",".join(types)
    if since_ms is not None:
        params["from"] = rfc3339(since_ms)
    if until_ms is not None:
        params["to"] = rfc3339(until_ms)
    try:
        for event in door.checked_events(client.paginate("/events", params)):
            if _within(event, since_ms, until_ms):
                yield event
        return
    except BadRequestError as exc:
        if "from" not in params and "to" not in params:
            raise
        log.info("/events refused from/to (%s): reading after the high-water mark's id instead", exc)
    params.pop("from", None)
    params.pop("to", None)
    if after:
        params["after"] = after
    for event in door.checked_events(client.paginate("/events", params)):
        if _within(event, since_ms, until_ms):
            yield event


def _within(event: Mapping[str, Any], since_ms: float | None, until_ms: float | None) -> bool:
    """Whether an event occurred inside ``[since_ms, until_ms]`` (an event without a time counts as inside)."""
    when = event_ms(event)
    if when is None:
        return True
    return (since_ms is None or when >= since_ms) and (until_ms is None or when <= until_ms)


def mark_before(client: PaddleClient, moment_ms: float) -> str | None:
    """The newest event (by ``occurred_at``, not by id) that occurred at or before ``moment_ms``: the id a
    server without ``from`` is read after. One call with ``to``; without it, pages of ids newest first until
    an event at or before the moment (ids follow ``occurred_at`` on Paddle)."""
    try:
        body = client.get("/events", {"order_by": "id[DESC]", "per_page": 200, "to": rfc3339(moment_ms)})
        events = [e for e in door.checked_events(body.get("data") or []) if _within(e, None, moment_ms)]
        if events:
            return max(events, key=lambda e: (event_ms(e) or 0.0, str(e.get("event_id"))))["event_id"]
        if not ((body.get("meta") or {}).get("pagination") or {}).get("has_more"):
            return None
    except BadRequestError:
        pass
    for event in door.checked_events(client.paginate("/events", {"order_by": "id[DESC]", "per_page": 200})):
        if _within(event, None, moment_ms):
            return event.get("event_id")
    return None


class ListingLag:
    """What the reads of one fetch's events showed about Paddle's listing lag.

    Each read is recorded with the moment it was sent (our clock) and the events it listed. An event that
    occurred before a read that did not list it, and that a later read lists, was listed at least
    ``read sent + clock offset - occurred`` after it occurred: the largest such lower bound is the lag measured.
    """

    def __init__(self) -> None:
        self.reads: list[tuple[float, float, set[str]]] = []  # (sent ms our clock, since ms, ids listed)
        self.seen: set[str] = set()
        self.late = 0
        self.lag_ms = 0.0

    def record(self, sent_ms: float, since_ms: float, events: list[Mapping[str, Any]],
               offset_low: float) -> None:
        """One read, sent at ``sent_ms`` (our clock), of the events since ``since_ms``."""
        ids = {str(e.get("event_id")) for e in events}
        for event in events:
            event_id, when = str(event.get("event_id")), event_ms(event)
            if event_id in self.seen or when is None:
                continue
            bounds = [earlier_sent + offset_low - when for earlier_sent, earlier_since, _ in self.reads
                      if earlier_since <= when < earlier_sent + offset_low]  # occurred, in range, not listed
            if bounds:
                self.late += 1
                self.lag_ms = max(self.lag_ms, *bounds)
        self.seen |= ids
        self.reads.append((sent_ms, since_ms, ids))

    def listed_before(self, sent_ms: float, since_ms: float, ids: list[str]) -> None:
        """An earlier read (the window's own, at the start of the fetch) that listed ``ids`` of the events since
        ``since_ms``: an event it missed that a later read lists was late."""
        self.seen |= set(ids)
        self.reads.append((sent_ms, since_ms, set(ids)))

    @staticmethod
    def now_ms() -> float:
        """This machine's clock in epoch ms (a read's sending time)."""
        return time.time() * 1000
