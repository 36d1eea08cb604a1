"""Fetching from Paddle into DataFrames, and whole snapshots with the fewest calls.

One call per customer is what Paddle's credit-balances endpoint costs, and Paddle allows 240 calls a
minute, so the number of calls is the time a snapshot takes. The strategies differ in which customers
they ask about:

``full``
    every customer (``N/200 + N`` calls): for verification.
``subscribers`` (the first snapshot)
    only customers that can hold credit, by Paddle's documented rule that credit is only ever created by a
    prorated subscription change (``docs/credit-rules.md``): every customer with a subscription of any
    status (``/subscriptions``, listed anyway for cohorts, 200 a page) plus every customer of a ``credit``
    adjustment (``/adjustments?action=credit``, 50 a page). One-time buyers are skipped.
``legacy-adjustments`` (never chosen by itself)
    only customers of a ``credit`` adjustment: right for accounts whose credit all predates 11 March 2024,
    when Paddle stopped creating adjustments for credit. Its verification sample says when it is wrong.
``incremental``
    read ``/events`` after the previous snapshot's high-water mark and re-fetch only customers whose
    balance can have changed: those named by an ``adjustment.*`` event; those named by a
    ``transaction.*`` event whose payload shows ``credit_to_balance`` or ``credit`` above zero (a first
    credit arrives this way, with no adjustment); those named by a ``transaction.*`` event who held credit
    in the previous snapshot. Every other row is carried over.
    Customers and subscriptions are brought up to date from the ``customer.*`` and
    ``subscription.*`` events' payloads (each event carries the whole entity), so a daily refresh of
    100,000 customers costs a few event pages plus the changed customers instead of 500+ list calls.
    Customers whose balances failed in the previous snapshot are re-fetched too.
``auto``
    ``incremental`` when the newest snapshot of the environment (same base URL) is under 90 days old
    (the events API keeps 90 days) and recorded a high-water mark; otherwise ``subscribers``.

Every rule that skips customers is checked on every run: a random sample of the skipped customers
(``verify_sample``, 2% by default, at least 50 and at most 500) is fetched too. When one of them holds credit
(``subscribers``, ``legacy-adjustments``) or differs from the row carried over (``incremental``), the rule does
not hold for this account: one warning line says so, every skipped customer is fetched, and the manifest's
``verification`` records ``{rule, skipped, sample_size, found, fallback}``.

Every snapshot records as ``events_high_water`` the newest event that occurred at or before its as-of (taken
at the start of the fetch), so changes made while it runs are read again next time. An incremental snapshot
keeps the credit movements of its window (``movements.parquet``: the ``transaction.*`` and ``adjustment.*``
events up to its as-of, through :func:`credit_reports.credit_movements.events_to_movements`; nothing else of
the payloads); a first fetch keeps the credit adjustments it lists (``adjustments.parquet``).
docs/credit-rules.md, "The window of a snapshot", states the rule.

A snapshot is built in a working folder with a checkpoint (see :mod:`credit_reports.store`): a fetch
killed at any point resumes from where it stopped, with the same as-of, without re-fetching finished
customers. Customers whose balances still fail after the client's retries are listed in the manifest's
``failed_customer_ids`` and the snapshot is published with ``complete: false``; for them, the previous
snapshot's rows (if any) are carried over and listed in ``failed_carried_over_ids``. The next fetch
re-fetches them.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import pandas as pd

from credit_reports import __version__, timestamps
from credit_reports.credit_movements import adjustments_frame, events_to_movements
from credit_reports.errors import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PaddleError,
    PermissionDeniedError,
    UsageError,
)
from credit_reports.money import parse_minor
from credit_reports.store import (
    ADJUSTMENT_DTYPES,
    BALANCE_DTYPES,
    CLOCK_SKEW,
    CUSTOMER_DTYPES,
    MOVEMENT_DTYPES,
    SUBSCRIPTION_DTYPES,
    Snapshot,
    SnapshotWriter,
    collapse_duplicates,
    conform,
    default_data_dir,
    latest_snapshot,
    usable_snapshot,
)

if TYPE_CHECKING:
    from credit_reports.paddle import PaddleClient

__all__ = [
    "STRATEGIES",
    "fetch_customers",
    "fetch_credit_balances",
    "fetch_subscriptions",
    "fetch_credited_customer_ids",
    "fetch_snapshot",
    "latest_event_id",
]

log = logging.getLogger("credit_reports.fetch")

STRATEGIES = ("auto", "subscribers", "full", "incremental", "legacy-adjustments")
#: The strategy of a first snapshot (and of every fallback from ``incremental``).
FIRST_STRATEGY = "subscribers"
#: Share of the skipped customers fetched to check a skip rule, and the bounds on that sample.
VERIFY_SAMPLE = 0.02
VERIFY_MIN, VERIFY_MAX = 50, 500
CUSTOMER_STATUSES = ("active", "archived")

#: How old a previous snapshot may be for ``incremental`` (Paddle keeps 90 days of events; one hour of
#: margin covers the previous fetch's own duration).
INCREMENTAL_MAX_AGE = pd.Timedelta(days=90) - pd.Timedelta(hours=1)

#: Event types read by ``incremental``: what moves credit, and what changes customers or subscriptions.
ADJUSTMENT_EVENTS = ("adjustment.created", "adjustment.updated")
TRANSACTION_EVENTS = (
    "transaction.billed", "transaction.canceled", "transaction.completed", "transaction.created",
    "transaction.paid", "transaction.past_due", "transaction.payment_failed", "transaction.ready",
    "transaction.revised", "transaction.updated",
)
CUSTOMER_EVENTS = ("customer.created", "customer.imported", "customer.updated")
SUBSCRIPTION_EVENTS = (
    "subscription.activated", "subscription.canceled", "subscription.created", "subscription.imported",
    "subscription.past_due", "subscription.paused", "subscription.resumed", "subscription.trialing",
    "subscription.updated",
)
EVENT_TYPES = ADJUSTMENT_EVENTS + TRANSACTION_EVENTS + CUSTOMER_EVENTS + SUBSCRIPTION_EVENTS

#: Errors that end the whole fetch: the key is refused or lacks a permission, so every call would fail.
_FATAL = (AuthenticationError, PermissionDeniedError)
_INT64_MAX = 2**63 - 1
_STATS = ("calls", "retries", "rate_limited", "failures")


# -- small pieces ------------------------------------------------------------------------------------


#: The stage the one progress bar follows while it runs; the listings are named in its postfix.
_LEAD_STAGE = "balances fetched"


def _bar(progress: bool, **kwargs: Any) -> Any:
    """A stage's progress counter: drawn through :mod:`credit_reports.progress`, which shows one bar for
    all stages running at once (terminal or notebook); silent when progress is off."""
    from credit_reports.progress import stage

    desc = str(kwargs.pop("desc", ""))
    return stage(desc, enabled=progress, lead=desc == _LEAD_STAGE, **kwargs)


def _amount(value: Any) -> int:
    """Paddle's integer string (minor units) as an exact int that fits int64; anything else is malformed."""
    number = parse_minor(value)
    if abs(number) > _INT64_MAX:
        raise ValueError(f"amount {value!r} does not fit in 64 bits")
    return number


def _custom_data_text(value: Any) -> str | None:
    """``custom_data`` as stable JSON text (sorted keys), None when Paddle sent null."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _safe_url(url: str) -> str:
    """The base URL as written to manifests: no user-info, query or fragment (nothing secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def _statuses(status: str | Iterable[str]) -> list[str]:
    values = [status] if isinstance(status, str) else list(status)
    values = [v.strip() for item in values for v in str(item).split(",") if v.strip()]
    bad = [v for v in values if v not in CUSTOMER_STATUSES]
    if not values or bad:
        raise UsageError(f"customer status must be 'active' and/or 'archived', not {bad or values!r}")
    return values


# -- customers -----------------------------------------------------------------------------------------


def _stamp(value: Any) -> str | None:
    """A Paddle date-time kept when a table can hold it; None for null, empty or placeholder dates.

    Paddle writes ``0001-01-01T00:00:00Z`` for "never"; pandas cannot hold years before 1678 or after 2261.
    """
    if not isinstance(value, str) or not value[:4].isdigit() or not "1678" <= value[:4] <= "2261":
        return None
    return value


def _customer_row(item: Mapping[str, Any]) -> dict[str, Any]:
    """One customer object from Paddle as a row of the customers table (unknown fields ignored)."""
    return {
        "customer_id": item.get("id"),
        "status": item.get("status"),
        "created_at": _stamp(item.get("created_at")),
        "updated_at": _stamp(item.get("updated_at")),
        "locale": item.get("locale"),
        "marketing_consent": bool(item.get("marketing_consent") or False),
        "custom_data": _custom_data_text(item.get("custom_data")),
        "email": item.get("email"),
        "name": item.get("name"),
    }


def customers_frame(rows: Iterable[Mapping[str, Any]] | Mapping[str, list[Any]]) -> pd.DataFrame:
    """Customer rows (or columns) as the documented customers table, one row per id, sorted by id."""
    frame = pd.DataFrame(rows) if isinstance(rows, Mapping) else pd.DataFrame(list(rows), columns=list(CUSTOMER_DTYPES))
    return _unique_customers(conform(frame, CUSTOMER_DTYPES))


def _unique_customers(df: pd.DataFrame) -> pd.DataFrame:
    """A conformed customers table with one row per id (the last listed wins), sorted by id."""
    df = df.drop_duplicates("customer_id", keep="last")
    return df.sort_values("customer_id", kind="stable").reset_index(drop=True)


#: Rows of a listing held as Python objects before they are converted into a compact DataFrame chunk.
CHUNK_ROWS = 5000


class _Chunked:
    """Rows collected as conformed DataFrames of ``chunk`` rows each, in the order added.

    A listing of 100,000 customers or subscription items would otherwise hold a Python dict (or a str
    object per cell) for every row until the table is built, then the table beside them: pandas' Arrow
    strings take a fraction of that, and only one chunk of Python rows is alive at a time.
    """

    def __init__(self, dtypes: Mapping[str, str], chunk: int | None = None) -> None:
        self.dtypes = dtypes
        self.chunk = chunk or CHUNK_ROWS
        self.rows: list[Mapping[str, Any]] = []
        self.frames: list[pd.DataFrame] = []
        self.count = 0

    def add(self, row: Mapping[str, Any]) -> None:
        self.rows.append(row)
        self.count += 1
        if len(self.rows) >= self.chunk:
            self._seal()

    def _seal(self) -> None:
        self.frames.append(conform(pd.DataFrame(self.rows, columns=list(self.dtypes)), self.dtypes))
        self.rows = []

    def __len__(self) -> int:
        return self.count

    def frame(self) -> pd.DataFrame:
        """Every row added, conformed, in the order added (the caller sorts)."""
        if self.rows or not self.frames:
            self._seal()
        frames, self.frames = self.frames, []
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def fetch_customers(
    client: PaddleClient, status: str | Iterable[str] = CUSTOMER_STATUSES, progress: bool = False
) -> pd.DataFrame:
    """Every customer (active and archived by default: archived customers can still hold credit).

    Columns: customer_id, status, locale, custom_data (JSON text), email, name (string);
    created_at, updated_at (UTC); marketing_consent (bool). ``N/200`` calls.
    """
    params = {"status": ",".join(_statuses(status))}
    rows = _Chunked(CUSTOMER_DTYPES)
    with _bar(progress, desc="customers listed", unit=" customers") as bar:
        for item in client.paginate("/customers", params):
            rows.add(_customer_row(item))
            bar.update(1)
    log.info("listed %d customers", len(rows))
    return _unique_customers(rows.frame())


# -- subscriptions ---------------------------------------------------------------------------------


def _subscription_rows(sub: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One subscription as one row per item (a subscription without items gives one row)."""
    cycle = sub.get("billing_cycle") or {}
    base = {
        "subscription_id": sub.get("id"),
        "customer_id": sub.get("customer_id"),
        "status": sub.get("status"),
        "currency_code": sub.get("currency_code"),
        "created_at": _stamp(sub.get("created_at")),
    }
    rows = []
    for item in sub.get("items") or [{}]:
        item = item or {}
        price = item.get("price") or {}
        item_cycle = cycle or price.get("billing_cycle") or {}
        rows.append(
            {
                **base,
                "billing_interval": item_cycle.get("interval"),
                "billing_frequency": item_cycle.get("frequency"),
                "price_id": price.get("id") or item.get("price_id"),
                "product_id": price.get("product_id"),
            }
        )
    return rows


def subscriptions_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Subscription item rows as the documented table, sorted by subscription and price."""
    return _sorted_subscriptions(conform(pd.DataFrame(list(rows), columns=list(SUBSCRIPTION_DTYPES)),
                                         SUBSCRIPTION_DTYPES))


def _sorted_subscriptions(df: pd.DataFrame) -> pd.DataFrame:
    """A conformed subscriptions table sorted by subscription and price."""
    return df.sort_values(["subscription_id", "price_id"], kind="stable").reset_index(drop=True)


def fetch_subscriptions(client: PaddleClient, progress: bool = False) -> pd.DataFrame:
    """Every subscription, one row per subscription item.

    Columns: subscription_id, customer_id, status, currency_code, billing_interval, price_id,
    product_id (string); billing_frequency (Int64); created_at (UTC). ``S/200`` calls.
    """
    return _list_subscriptions(client, progress, None)


def _list_subscriptions(client: PaddleClient, progress: bool, stop: threading.Event | None) -> pd.DataFrame:
    rows = _Chunked(SUBSCRIPTION_DTYPES)
    with _bar(progress, desc="subscriptions listed", unit=" subs") as bar:
        for sub in _until(stop, client.paginate("/subscriptions")):
            for row in _subscription_rows(sub):
                rows.add(row)
            bar.update(1)
    return _sorted_subscriptions(rows.frame())


class _Stopped(Exception):
    """A background listing was told to stop because the fetch ended early."""


def _until(stop: threading.Event | None, items: Iterable[Any]) -> Iterator[Any]:
    """``items`` until ``stop`` is set; then :class:`_Stopped`, so nothing half-listed is saved."""
    for item in items:
        if stop is not None and stop.is_set():
            raise _Stopped
        yield item


def _subscriptions_or_empty(
    client: PaddleClient, progress: bool, stop: threading.Event | None = None
) -> tuple[pd.DataFrame, str | None]:
    """Subscriptions are an extra: a key without ``subscription.read`` still gets its snapshot."""
    try:
        return _list_subscriptions(client, progress, stop), None
    except (PermissionDeniedError, NotFoundError) as exc:
        log.warning("subscriptions not fetched (cohorts by subscription will be empty): %s", exc)
        return subscriptions_frame([]), type(exc).__name__


# -- credit adjustments and events -----------------------------------------------------------------


def fetch_credited_customer_ids(client: PaddleClient, progress: bool = False) -> set[str]:
    """Customers that ever received a credit adjustment (``/adjustments?action=credit``, 50 a page)."""
    ids: set[str] = set()
    with _bar(progress, desc="credit adjustments", unit=" adj") as bar:
        for adjustment in client.paginate("/adjustments", {"action": "credit"}):
            if adjustment.get("customer_id"):
                ids.add(adjustment["customer_id"])
            bar.update(1)
    log.info("%d customers ever received credit", len(ids))
    return ids


def latest_event_id(client: PaddleClient, at_or_before: Any = None) -> str | None:
    """The newest event id (None when there is none): a snapshot's high-water mark.

    With ``at_or_before`` (the snapshot's as-of) it is the newest event that occurred at or before that
    moment, so the snapshot's window and the next one's meet exactly there (docs/credit-rules.md, "The
    window of a snapshot"): an event of the same second but after the as-of is read again next time.
    """
    if at_or_before is None:
        body = client.get("/events", {"order_by": "id[DESC]", "per_page": 1})
        data = body.get("data") or []
        return data[0].get("event_id") if data else None
    bound = _utc_stamp(at_or_before)
    for event in client.paginate("/events", {"order_by": "id[DESC]", "per_page": 50}):
        if _occurred_by(event, bound):
            return event.get("event_id")
    return None


def _utc_stamp(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _occurred_by(event: Mapping[str, Any], bound: pd.Timestamp) -> bool:
    """True when the event occurred at or before ``bound`` (an event without a time counts as before)."""
    when = event.get("occurred_at")
    return not when or _utc_stamp(when) <= bound


def _movement_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a transaction or adjustment event that movements are made of, and nothing more."""
    data = event.get("data") or {}
    totals = (data.get("details") or {}).get("totals") or {}
    kept = {k: data.get(k) for k in ("id", "status", "customer_id", "currency_code", "collection_mode",
                                      "billed_at", "origin", "action", "credit_applied_to_balance",
                                      "transaction_id")}
    kept["details"] = {"totals": {k: totals.get(k) for k in ("credit", "credit_to_balance")}}
    kept["totals"] = {"total": (data.get("totals") or {}).get("total")}
    return {"event_id": event.get("event_id"), "event_type": event.get("event_type"),
            "occurred_at": event.get("occurred_at"), "data": kept}


def _shows_credit(transaction: Mapping[str, Any]) -> bool:
    """Whether a transaction payload creates or applies credit (``credit_to_balance`` or ``credit`` > 0)."""
    totals = ((transaction.get("details") or {}).get("totals")) or {}
    for field in ("credit_to_balance", "credit"):
        try:
            if parse_minor(totals.get(field) or "0") > 0:
                return True
        except (TypeError, ValueError):
            return True  # unreadable: re-fetch rather than guess
    return False


def _event_customer(event: Mapping[str, Any]) -> str | None:
    data = event.get("data") or {}
    if str(event.get("event_type", "")).startswith("customer."):
        return data.get("id")
    return data.get("customer_id")


# -- balances --------------------------------------------------------------------------------------


def _balance_rows(client: PaddleClient, customer_id: str) -> list[list[Any]]:
    """One customer's balances: ``[currency, available, reserved, used]`` per currency Paddle returned."""
    body = client.get(f"/customers/{quote(str(customer_id), safe='')}/credit-balances")
    rows = []
    for item in body.get("data") or []:
        balance = item["balance"]
        rows.append(
            [
                str(item["currency_code"]),
                _amount(balance["available"]),
                _amount(balance["reserved"]),
                _amount(balance["used"]),
            ]
        )
    return rows


_END = object()


class _SourceFailed:
    """Carries an exception from the thread reading the customer ids to the thread fetching balances."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _feed(ids: Iterable[str], out: queue.Queue, stop: threading.Event) -> None:
    """Put every id of ``ids`` on ``out``, then an end marker (or the exception that stopped it).

    ``ids`` may page through a list endpoint, so balances start while customers or credit adjustments are
    still being listed: listing is sequential and, at high latency, slower than the rate limit allows.
    """
    try:
        for cid in ids:
            if stop.is_set():  # the fetch ended early (an error): stop listing too
                return
            out.put(cid)
    except BaseException as exc:  # handed over to the consuming thread, which re-raises it
        out.put(_SourceFailed(exc))
        return
    out.put(_END)


def _iter_balances(
    client: PaddleClient, customer_ids: Iterable[str], workers: int
) -> Iterator[tuple[str, list[list[Any]] | None, BaseException | None]]:
    """Fetch balances on a small thread pool; yield ``(customer_id, rows, None)`` or ``(id, None, error)``.

    All workers share the client's rate limiter. ``customer_ids`` is read on its own thread, so it may be a
    generator that lists customers page by page. At most ``2 * workers`` requests are queued, so memory
    stays flat however many customers there are. A refused key or a missing permission ends the fetch.
    """
    source: queue.Queue = queue.Queue()
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(customer_ids, source, stop), name="balance-ids", daemon=True)
    feeder.start()
    window = max(1, workers) * 2
    exhausted = False

    def take(block: bool) -> str | None:
        nonlocal exhausted
        try:
            item = source.get(block=block, timeout=None)
        except queue.Empty:
            return None
        if item is _END:
            exhausted = True
            return None
        if isinstance(item, _SourceFailed):
            exhausted = True
            raise item.error
        return item

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="balances") as pool:
        pending: dict[Future, str] = {}

        def fill() -> None:
            while not exhausted and len(pending) < window:
                cid = take(block=not pending)
                if cid is None:
                    return
                pending[pool.submit(_balance_rows, client, cid)] = cid

        try:
            fill()
            while pending:
                timeout = None if exhausted else 0.05  # keep picking up ids that arrive meanwhile
                done, _ = wait(list(pending), timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    cid = pending.pop(future)
                    try:
                        rows = future.result()
                    except _FATAL:
                        raise
                    except (PaddleError, ValueError, KeyError, TypeError) as exc:
                        log.warning("credit balances of customer %s failed: %s", cid, exc)
                        yield cid, None, exc
                        continue
                    yield cid, rows, None
                fill()
        finally:
            stop.set()
            for future in pending:
                future.cancel()


def balances_frame(rows_by_customer: Iterable[tuple[str, Iterable[list[Any]]]]) -> pd.DataFrame:
    """``(customer_id, [[currency, available, reserved, used], ...])`` pairs as the balances table."""
    flat = [(cid, *row) for cid, rows in rows_by_customer for row in rows]
    df = pd.DataFrame(flat, columns=list(BALANCE_DTYPES))
    df = conform(df, BALANCE_DTYPES)
    return df.sort_values(["customer_id", "currency_code"], kind="stable").reset_index(drop=True)


def fetch_credit_balances(
    client: PaddleClient,
    customer_ids: Iterable[str] | None = None,
    *,
    workers: int = 4,
    progress: bool = False,
) -> pd.DataFrame:
    """Credit balances: one row per customer and currency Paddle returned (no rows without credit).

    Columns: customer_id, currency_code (string); available, reserved, used (int64 minor units, exactly
    as Paddle sent them). ``customer_ids`` None means every customer, archived included. Customers that
    still fail after the client's retries are logged and listed in ``df.attrs["failed_customer_ids"]``.
    """
    if workers < 1:
        raise UsageError(f"workers must be at least 1, not {workers!r}")
    if customer_ids is None:
        ids = fetch_customers(client, progress=progress)["customer_id"].tolist()
    else:
        ids = list(dict.fromkeys([customer_ids] if isinstance(customer_ids, str) else customer_ids))
    fetched: list[tuple[str, list[list[Any]]]] = []
    failed: list[str] = []
    with _bar(progress, total=len(ids), desc="balances fetched", unit=" customers") as bar:
        for cid, rows, _error in _iter_balances(client, ids, workers):
            if rows is None:
                failed.append(cid)
            else:
                fetched.append((cid, rows))
            bar.update(1)
    df, collapsed = collapse_duplicates(balances_frame(fetched))  # a currency Paddle sent twice is one row
    df.attrs["failed_customer_ids"] = sorted(failed)
    df.attrs["duplicates_collapsed"] = collapsed
    if failed:
        log.warning("credit balances of %d customer(s) could not be fetched: %s", len(failed), sorted(failed))
    return df


# -- snapshots ---------------------------------------------------------------------------------------


def _choose(
    strategy: str, previous: Snapshot | None, base_url: str, now: pd.Timestamp
) -> tuple[str, Snapshot | None, str | None]:
    """(strategy to run, snapshot to build on, why incremental was not possible) for a requested strategy."""
    if strategy in ("full", FIRST_STRATEGY, "legacy-adjustments"):
        return strategy, None, None
    reason = None
    if previous is None:
        reason = "no earlier snapshot of this environment"
    elif _safe_url(str(previous.manifest.get("base_url") or "")) != _safe_url(base_url):
        reason = f"the newest snapshot {previous.name} was fetched from another base URL"
    elif now - previous.as_of >= INCREMENTAL_MAX_AGE:
        reason = f"the newest snapshot {previous.name} is older than 90 days (Paddle keeps 90 days of events)"
    elif not previous.manifest.get("events_readable", "events_high_water" in previous.manifest):
        reason = f"the newest snapshot {previous.name} has no events high-water mark"
    if reason is None:
        return "incremental", previous, None
    if strategy == "incremental":
        log.warning("incremental not possible (%s): fetching with the %s strategy", reason, FIRST_STRATEGY)
    else:
        log.info("strategy %s: %s", FIRST_STRATEGY, reason)
    return FIRST_STRATEGY, None, reason


def _stats_delta(client: PaddleClient, start: Mapping[str, int], prior: Mapping[str, Any]) -> dict[str, int]:
    """Calls of this attempt (client stats since ``start``) plus those of earlier attempts (``prior``)."""
    now = client.stats
    return {k: int(prior.get(k, 0)) + int(now.get(k, 0)) - int(start.get(k, 0)) for k in _STATS}


class _SnapshotFetch:
    """One run of :func:`fetch_snapshot`: the steps, each checkpointed so a resumed run skips it."""

    def __init__(self, client: PaddleClient, writer: SnapshotWriter, workers: int, progress: bool,
                 verify_sample: float = VERIFY_SAMPLE) -> None:
        self.client = client
        self.verify_sample = verify_sample
        self.writer = writer
        self.workers = workers
        self.progress = progress
        self.started = time.monotonic()
        self.stats_start = client.stats
        self.prior: dict[str, Any] = {}
        self.stop = threading.Event()  # set when the fetch ends early: background listings stop too

    # -- checkpointed statistics -------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = _stats_delta(self.client, self.stats_start, self.prior)
        out["seconds"] = float(self.prior.get("seconds", 0.0)) + time.monotonic() - self.started
        return out

    def checkpoint_stats(self) -> None:
        self.writer.journal.append({"stats": self.stats()})
        self.writer.journal.flush()

    # -- steps -------------------------------------------------------------------------------------

    def plan(self, requested: str, data_dir: Path) -> None:
        """Choose the strategy and record the high-water mark, before any listing (once per snapshot)."""
        writer = self.writer
        as_of = timestamps.parse(writer.as_of)
        previous = latest_snapshot(data_dir, self.client.environment)
        strategy, base, reason = _choose(requested, previous, self.client.base_url, as_of)
        events_readable = True
        try:
            high_water = latest_event_id(self.client, at_or_before=as_of)
        except (PermissionDeniedError, NotFoundError, BadRequestError) as exc:
            if isinstance(exc, PermissionDeniedError):
                log.warning("the key lacks notification.read: no events, so incremental is not possible and "
                            "every snapshot fetches all candidate customers (strategy %s)", FIRST_STRATEGY)
            else:
                log.warning("cannot read events (the next snapshot cannot be incremental): %s", exc)
            high_water, events_readable = None, False
            if strategy == "incremental":
                strategy, base, reason = FIRST_STRATEGY, None, f"events not readable ({type(exc).__name__})"
        writer.update_state(
            requested_strategy=requested,
            strategy=strategy,
            fallback_reason=reason,
            base_snapshot=base.name if base is not None else None,
            previous_snapshot=previous.name if previous is not None else None,
            events_high_water=high_water,
            events_readable=events_readable,
            base_url=_safe_url(self.client.base_url),
        )
        log.info("snapshot %s: strategy %s, events high-water %s", writer.as_of, strategy, high_water)

    def listing_and_balances(self, strategy: str, base: Snapshot | None) -> tuple[dict[str, Any], dict]:
        """Find the customers to fetch and fetch them: (the plan, the results by customer id)."""
        writer = self.writer
        plan = writer.load_json("plan")
        if plan is None and strategy == "incremental":
            assert base is not None
            plan = self._incremental_plan(base)
            if plan is None:  # the events could not be read after all: fall back for this snapshot
                writer.update_state(strategy=FIRST_STRATEGY, fallback_reason="events after the high-water mark "
                                    "could not be read", base_snapshot=None)
                return self.listing_and_balances(FIRST_STRATEGY, None)
            writer.save_json("plan", plan)
            self.checkpoint_stats()
        if plan is not None:
            results = self.balances(plan["targets"])
            if plan.get("verification") is None and strategy == "incremental" and base is not None:
                carried = _rows_by_customer(base.balances)
                customers = writer.load_frame("customers", CUSTOMER_DTYPES, columns=["customer_id"])
                plan, results = self._verify(
                    plan, results, "incremental", customers["customer_id"].tolist(),
                    lambda cid, rows: sorted(rows) != sorted(carried.get(cid, [])))
            return plan, results
        return self._list_and_fetch(strategy)

    def _verify(self, plan: dict[str, Any], results: dict[str, dict[str, Any]], rule: str,
                listed: Iterable[str], broken: Callable[[str, list[list[Any]]], bool],
                unavailable: str | None = None) -> tuple[dict[str, Any], dict]:
        """Check the rule that skipped customers on a random sample of them; fetch them all if it fails.

        ``broken(customer_id, rows)`` says whether a fetched skipped customer contradicts the rule. The sample
        is drawn from the snapshot's as-of, so a resumed run checks the same customers. ``unavailable`` names
        why the rule could not be applied at all (e.g. no ``subscription.read``): then everyone is fetched.
        Records ``plan["verification"]`` and saves the plan.
        """
        targets = plan["targets"]
        asked = set(targets)
        skipped = sorted(cid for cid in dict.fromkeys(listed) if cid not in asked)
        size = 0
        if self.verify_sample > 0 and skipped and unavailable is None:
            size = min(len(skipped), max(VERIFY_MIN, min(VERIFY_MAX, math.ceil(self.verify_sample * len(skipped)))))
        elif self.verify_sample <= 0 and skipped and unavailable is None:
            log.warning("skip-rule verification is off (--verify-sample 0): if the %s rule does not hold for "
                        "this account, credit held by the %d skipped customers is missed", rule, len(skipped))
        sample = random.Random(f"verify:{self.writer.as_of}").sample(skipped, size)
        results = self.balances(sample, "skipped customers sampled") if sample else results
        found = sorted(cid for cid in sample if "rows" in results.get(cid, {})
                       and broken(cid, results[cid]["rows"]))
        fallback = bool(found) or (unavailable is not None and bool(skipped))
        if found:
            log.warning("the %s rule does not hold for this account: %d of %d sampled skipped customers hold "
                        "credit it did not expect; fetching all %d skipped customers", rule, len(found), size,
                        len(skipped))
        if fallback:
            results = self.balances(skipped, "skipped customers fetched")
        plan = dict(plan, targets=targets + (skipped if fallback else sample))
        plan["verification"] = {"rule": rule, "skipped": len(skipped), "sample_size": size, "found": len(found),
                                "found_customer_ids": found, "fallback": fallback, "unavailable": unavailable}
        self.writer.save_json("plan", plan)
        self.checkpoint_stats()
        return plan, results

    def _list_customers(self) -> Iterator[str]:
        """List every customer (active and archived), yielding ids as pages arrive; save the table at the end."""
        rows = _Chunked(CUSTOMER_DTYPES)
        with _bar(self.progress, desc="customers listed", unit=" customers") as bar:
            for item in _until(self.stop, self.client.paginate("/customers",
                                                               {"status": ",".join(CUSTOMER_STATUSES)})):
                rows.add(_customer_row(item))
                bar.update(1)
                yield item["id"]
        self.writer.save_frame("customers", _unique_customers(rows.frame()))
        log.info("listed %d customers", len(rows))

    def _list_credited(self) -> Iterator[str]:
        """Customers with a credit adjustment, yielded once each as pages arrive; saved at the end."""
        seen: dict[str, None] = {}
        listed: list[Mapping[str, Any]] = []
        with _bar(self.progress, desc="credit adjustments", unit=" adj") as bar:
            for adjustment in _until(self.stop, self.client.paginate("/adjustments", {"action": "credit"})):
                bar.update(1)
                listed.append(adjustment)
                cid = adjustment.get("customer_id")
                if cid and cid not in seen:
                    seen[cid] = None
                    yield cid
        self.writer.save_frame("adjustments", adjustments_frame(listed))  # before "credited": resume reads both
        self.writer.save_json("credited", list(seen))
        log.info("%d customers ever received credit", len(seen))

    def _list_candidates(self) -> Iterator[str]:
        """Customers that can hold credit, once each as pages arrive: subscribers of any status, then
        customers of any ``credit`` adjustment. Saves the subscriptions table and the candidates at the end."""
        seen: dict[str, None] = {}
        rows = _Chunked(SUBSCRIPTION_DTYPES)
        missing = None
        try:
            with _bar(self.progress, desc="subscriptions listed", unit=" subs") as bar:
                for sub in _until(self.stop, self.client.paginate("/subscriptions")):
                    for row in _subscription_rows(sub):
                        rows.add(row)
                    bar.update(1)
                    cid = sub.get("customer_id")
                    if cid and cid not in seen:
                        seen[cid] = None
                        yield cid
        except (PermissionDeniedError, NotFoundError) as exc:
            log.warning("the key lacks subscription.read: subscribers cannot be told from one-time buyers, so "
                        "every customer is fetched (and cohorts by subscription are empty)")
            missing, rows = type(exc).__name__, _Chunked(SUBSCRIPTION_DTYPES)
        self.writer.save_frame("subscriptions", _sorted_subscriptions(rows.frame()))
        self.writer.save_json("subscriptions_unavailable", missing)
        listed: list[Mapping[str, Any]] = []
        try:
            for adjustment in _until(self.stop, self.client.paginate("/adjustments", {"action": "credit"})):
                listed.append(adjustment)
                cid = adjustment.get("customer_id")
                if cid and cid not in seen:
                    seen[cid] = None
                    yield cid
        except PermissionDeniedError:
            log.warning("the key lacks adjustment.read: customers of credit adjustments (credit before 11 March "
                        "2024) are not listed; the verification sample checks that they all have a subscription")
        # the adjustments themselves (ageing dates legacy credit by them), saved before "candidates": a resumed
        # run that finds the candidates finds the adjustments too
        self.writer.save_frame("adjustments", adjustments_frame(listed))
        self.writer.save_json("candidates", list(seen))
        log.info("%d customers can hold credit (subscribers and credit adjustments)", len(seen))

    def _list_and_fetch(self, strategy: str) -> tuple[dict[str, Any], dict]:
        """``full`` / ``subscribers`` / ``legacy-adjustments``: list customers, subscriptions and the
        candidates concurrently, fetching balances as the ids arrive; each list is checkpointed when complete.
        Then the skip rule is verified on a sample of the customers it skipped."""
        writer = self.writer
        errors: list[BaseException] = []
        threads: list[threading.Thread] = []

        def background(name: str, work: Callable[[], None]) -> None:
            def run() -> None:
                try:
                    work()
                except BaseException as exc:  # re-raised by the main thread after join
                    errors.append(exc)

            thread = threading.Thread(target=run, name=name, daemon=True)
            thread.start()
            threads.append(thread)

        candidates = writer.load_json("candidates")
        if writer.load_frame("subscriptions", SUBSCRIPTION_DTYPES) is None and strategy != FIRST_STRATEGY:
            def subscriptions() -> None:
                subs, missing = _subscriptions_or_empty(self.client, self.progress, self.stop)
                writer.save_frame("subscriptions", subs)
                writer.save_json("subscriptions_unavailable", missing)

            background("subscriptions", subscriptions)
        customers = writer.load_frame("customers", CUSTOMER_DTYPES)
        credited = writer.load_json("credited")
        source: Iterable[str]
        if strategy == "full":
            source = customers["customer_id"].tolist() if customers is not None else self._list_customers()
        else:
            if customers is None:
                background("customers", lambda: deque(self._list_customers(), maxlen=0))
            if strategy == FIRST_STRATEGY:
                source = candidates if candidates is not None else self._list_candidates()
            else:
                source = credited if credited is not None else self._list_credited()
        targets: list[str] = []

        def recorded(ids: Iterable[str]) -> Iterator[str]:
            for cid in ids:
                targets.append(cid)
                yield cid

        try:
            results = self.balances(recorded(source))
        except BaseException:
            self.stop.set()  # e.g. Ctrl-C or a refused key: do not finish the listings in the background
            raise
        finally:
            for thread in threads:
                thread.join()
        real = [e for e in errors if not isinstance(e, _Stopped)]
        if real:
            raise real[0]
        listed = set(writer.load_frame("customers", CUSTOMER_DTYPES, columns=["customer_id"])["customer_id"].tolist())
        unknown = [cid for cid in targets if cid not in listed]
        if unknown:
            log.warning("%d customers with credit were not in the customer list; fetched them anyway", len(unknown))
        missing = writer.load_json("subscriptions_unavailable")
        if missing:
            writer.update_state(subscriptions_unavailable=missing)
        plan = {
            "targets": targets,
            "credited_customers": len(targets) if strategy == "legacy-adjustments" else None,
            "candidates": len(targets) if strategy != "full" else None,
            "events": None,
            "new_customers": None,
            "carry_over": False,
            "verification": None,
        }
        if strategy == "full":
            writer.save_json("plan", plan)
            self.checkpoint_stats()
            return plan, results
        listed_ids = writer.load_frame("customers", CUSTOMER_DTYPES, columns=["customer_id"])["customer_id"].tolist()
        unavailable = "the key lacks subscription.read" if missing and strategy == FIRST_STRATEGY else None
        return self._verify(plan, results, strategy, listed_ids, lambda _cid, rows: bool(rows), unavailable)

    def _incremental_plan(self, base: Snapshot) -> dict[str, Any] | None:
        """Read events after the base's high-water mark; update customers and subscriptions; pick targets."""
        after = base.manifest.get("events_high_water")
        params = {"event_type": ",".join(EVENT_TYPES), "order_by": "id[ASC]"}
        if after:
            params["after"] = after
        event_customers: dict[str, dict[str, Any]] = {}
        event_subscriptions: dict[str, list[dict[str, Any]]] = {}
        adjusted: set[str] = set()
        transacted: set[str] = set()
        credit_shown: set[str] = set()
        credit_events: list[Mapping[str, Any]] = []
        window_end = timestamps.parse(self.writer.as_of)
        events = 0
        try:
            with _bar(self.progress, desc="events read", unit=" events") as bar:
                for event in self.client.paginate("/events", params):
                    events += 1
                    bar.update(1)
                    kind = str(event.get("event_type", ""))
                    data = event.get("data") or {}
                    cid = _event_customer(event)
                    if kind.startswith(("adjustment.", "transaction.")) and _occurred_by(event, window_end):
                        credit_events.append(_movement_fields(event))  # nothing else of the payload is kept
                    if kind.startswith("adjustment.") and cid:
                        adjusted.add(cid)
                    elif kind.startswith("transaction.") and cid:
                        transacted.add(cid)
                        if _shows_credit(data):
                            credit_shown.add(cid)
                    elif kind.startswith("customer.") and cid:
                        event_customers[cid] = _customer_row(data)  # later events win: newest state
                    elif kind.startswith("subscription.") and data.get("id"):
                        event_subscriptions[data["id"]] = _subscription_rows(data)
        except (BadRequestError, NotFoundError) as exc:
            log.warning("cannot read events after %s: %s", after, exc)
            return None
        customers = _replace_rows(base.customers, customers_frame(event_customers.values()), ["customer_id"])
        subs = subscriptions_frame(r for rows in event_subscriptions.values() for r in rows)
        subscriptions = _replace_rows(base.subscriptions, subs, ["subscription_id", "price_id"])
        self.writer.save_frame("customers", customers)
        self.writer.save_frame("subscriptions", subscriptions)
        # the window's movements, saved with the plan so a resumed fetch publishes them without re-reading
        self.writer.save_frame("movements", events_to_movements(credit_events))
        holders = set(base.balances["customer_id"].tolist())
        base_failed = set(base.failed_customer_ids)
        targets = adjusted | credit_shown | (transacted & holders) | base_failed
        new_customers = len(set(customers["customer_id"].tolist()) - set(base.customers["customer_id"].tolist()))
        log.info(
            "%d events since %s: %d customers with new adjustments, %d with transactions (%d showing credit, %d "
            "holding credit), %d failed last time, %d new customers",
            events, after, len(adjusted), len(transacted), len(credit_shown), len(transacted & holders),
            len(base_failed), new_customers,
        )
        return {
            "targets": sorted(targets),
            "credited_customers": None,
            "candidates": None,
            "verification": None,
            "events": events,
            "new_customers": new_customers,
            "carry_over": True,
        }

    def balances(self, targets: Iterable[str], desc: str = "balances fetched") -> dict[str, dict[str, Any]]:
        """Fetch every target not yet in the journal (failures are retried on resume); return all results.

        ``targets`` may be a list or a generator still listing; it is read on its own thread. ``desc`` names
        the progress bar (the verification sample has its own).
        """
        journal = self.writer.journal
        results, _ = journal.load()
        finished = frozenset(cid for cid, record in results.items() if "rows" in record)
        if isinstance(targets, list):
            targets = list(dict.fromkeys(targets))  # a customer listed twice is fetched once
        total = len(targets) if isinstance(targets, list) else None
        done = sum(1 for cid in targets if cid in finished) if total is not None else 0
        if done:
            log.info("resuming: %d customers already fetched", done)
        asked: set[str] = set(finished)
        todo = (cid for cid in targets if cid not in asked and not asked.add(cid))
        limit = getattr(self.client, "max_rpm", None)
        window = getattr(self.client, "rate_window", 60.0)
        bar = _bar(self.progress, total=total, initial=done, desc=desc, unit=" customers")
        last_stats = time.monotonic()
        with bar:
            for count, (cid, rows, error) in enumerate(_iter_balances(self.client, todo, self.workers), 1):
                record: dict[str, Any] = {"id": cid, "rows": rows} if error is None else {
                    "id": cid, "error": f"{type(error).__name__}: {error}"}
                journal.append(record)
                results[cid] = record
                bar.update(1)
                if count % 25 == 0 or time.monotonic() - last_stats > 1.0:  # a kill loses little work
                    self.checkpoint_stats()
                    last_stats = time.monotonic()
                if limit and total and count % 20 == 0:
                    left = max(0, total - done - count)
                    bar.set_postfix_str(f"limit {limit}/{window:g}s, ETA at limit {left * window / limit / 60:.1f} min",
                                        refresh=False)
            if total is None:  # the ids were streamed from a listing: the total is known only now
                bar.total = bar.n
                bar.refresh()
        self.checkpoint_stats()
        return results


def fetch_snapshot(
    client: PaddleClient | None = None,
    *,
    data_dir: str | Path | None = None,
    strategy: str = "auto",
    max_rpm: int = 240,
    workers: int = 4,
    progress: bool = True,
    verify_sample: float = VERIFY_SAMPLE,
    as_of: Any = None,
) -> Snapshot:
    """Fetch a snapshot of every customer's credit balances and publish it in the snapshot store.

    ``client`` None builds ``PaddleClient(max_rpm=max_rpm)`` from ``PADDLE_API_KEY`` and
    ``PADDLE_ENVIRONMENT`` (a given client keeps its own limit). ``strategy`` is ``auto``, ``subscribers``,
    ``full``, ``incremental`` or ``legacy-adjustments`` (see the module docstring). ``verify_sample`` is the
    share of skipped customers fetched to check the skip rule (0.02; 0 turns the check off, with a warning).
    An interrupted fetch of the same environment
    is resumed. Returns the published :class:`~credit_reports.store.Snapshot`; ``snapshot.complete`` is
    False when some customers could not be fetched (listed in ``manifest["failed_customer_ids"]``).

    ``as_of`` stamps the snapshot with a moment other than now (the demo and tests, against a simulator
    serving the account as it was then: ``Account.set_time``); a moment in the past is fine, one in the
    future beyond the store's clock skew is refused. A resumed fetch keeps its own as-of.
    """
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    if not isinstance(workers, int) or workers < 1:
        raise UsageError(f"workers must be a whole number >= 1, not {workers!r}")
    if isinstance(verify_sample, bool) or not isinstance(verify_sample, int | float) or not 0 <= verify_sample <= 1:
        raise UsageError(f"verify_sample must be a share between 0 and 1 (0.02 is 2%), not {verify_sample!r}")
    owns_client = client is None
    if client is None:
        from credit_reports.paddle import PaddleClient

        client = PaddleClient(max_rpm=max_rpm)
    live = as_of is None
    as_of = _checked_as_of(as_of) if not live else pd.Timestamp.now(tz="UTC").ceil("s")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    try:
        with SnapshotWriter.open(data_dir, client.environment, now=as_of) as writer:
            if live and not writer.resumed:
                _wait_until_past(timestamps.parse(writer.as_of))
            return _fetch_into(client, writer, data_dir, strategy, workers, progress, verify_sample)
    finally:
        if owns_client:
            client.close()


def _wait_until_past(as_of: pd.Timestamp) -> None:
    """Sleep until ``as_of`` has passed (under a second, or two when the store moved a clashing as-of on).

    A live snapshot's as-of is the next whole second after the fetch starts: everything that happened before
    the fetch then lies at or before the as-of, and no balance is read before it. With the as-of rounded
    down instead, a credit moved earlier in that same second reached the balances read but fell outside the
    window's events, and an honest account showed an unexplained difference (docs/credit-rules.md).
    """
    delay = (as_of - pd.Timestamp.now(tz="UTC")).total_seconds()
    if delay > 0:
        time.sleep(min(delay, CLOCK_SKEW.total_seconds()))


def _checked_as_of(value: Any) -> pd.Timestamp:
    """``fetch_snapshot``'s ``as_of`` as a UTC time; a moment beyond now plus the clock skew is refused."""
    try:
        stamp = _utc_stamp(value)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"as_of must be a time such as 2026-11-30T23:59:59Z, not {value!r}") from exc
    if stamp > pd.Timestamp.now(tz="UTC") + CLOCK_SKEW:
        raise UsageError(f"as_of {timestamps.iso(stamp)} is in the future: a snapshot can only be of a moment that "
                         "has happened")
    return stamp


def _resumable(state: Mapping[str, Any], strategy: str, base_url: str) -> bool:
    """Whether an interrupted run's working folder can be finished by this run."""
    if state.get("base_url") != _safe_url(base_url):
        return False
    return strategy in ("auto", state.get("requested_strategy"), state.get("strategy"))


def _fetch_into(
    client: PaddleClient, writer: SnapshotWriter, data_dir: Path, strategy: str, workers: int, progress: bool,
    verify_sample: float = VERIFY_SAMPLE,
) -> Snapshot:
    """The body of :func:`fetch_snapshot` once the working folder is open."""
    if writer.resumed and not _resumable(writer.state, strategy, client.base_url):
        log.info("discarding the unfinished snapshot %s: it was a different fetch", writer.path.name)
        writer.restart()
    run = _SnapshotFetch(client, writer, workers, progress, verify_sample)
    if writer.resumed:
        run.prior = writer.journal.load()[1]
    if "strategy" not in writer.state:
        run.plan(strategy, data_dir)
    state = writer.state
    base = _load_base(data_dir, writer, state.get("base_snapshot"))
    if state["strategy"] == "incremental" and base is None:
        writer.update_state(strategy=FIRST_STRATEGY, fallback_reason="the base snapshot disappeared",
                            base_snapshot=None)
    plan, results = run.listing_and_balances(writer.state["strategy"], base)
    base = _load_base(data_dir, writer, writer.state.get("base_snapshot"))
    targets: list[str] = plan["targets"]

    fetched = [(cid, results[cid]["rows"]) for cid in targets if "rows" in results.get(cid, {})]
    failed = sorted(cid for cid in targets if "rows" not in results.get(cid, {}))
    target_set = set(targets)
    carried: list[tuple[str, list[list[Any]]]] = []
    carried_ids: list[str] = []
    failed_carried: list[str] = []
    fallback = base if base is not None else _load_base(data_dir, writer, writer.state.get("previous_snapshot"))
    if fallback is not None and _safe_url(str(fallback.manifest.get("base_url") or "")) != _safe_url(client.base_url):
        fallback = None  # another server's rows say nothing about these customers
    if fallback is not None:
        previous_rows = _rows_by_customer(fallback.balances)
        if plan.get("carry_over"):
            for cid, rows in previous_rows.items():
                if cid not in target_set:
                    carried.append((cid, rows))
                    carried_ids.append(cid)
        for cid in failed:
            if cid in previous_rows:
                carried.append((cid, previous_rows[cid]))
                failed_carried.append(cid)
    balances = balances_frame(fetched + carried)
    customers = writer.load_frame("customers", CUSTOMER_DTYPES)
    subscriptions = writer.load_frame("subscriptions", SUBSCRIPTION_DTYPES)
    # an incremental window's movements (even none: "events read, no credit moved"); a first fetch's adjustments
    movements = writer.load_frame("movements", MOVEMENT_DTYPES) if writer.state["strategy"] == "incremental" else None
    adjustments = writer.load_frame("adjustments", ADJUSTMENT_DTYPES)
    if failed:
        log.warning(
            "snapshot %s is INCOMPLETE: balances of %d customer(s) could not be fetched (%d carried over "
            "from %s); run fetch again to complete it", writer.as_of, len(failed), len(failed_carried),
            fallback.name if fallback is not None else "no earlier snapshot",
        )
    stats = run.stats()
    manifest = {
        "as_of": timestamps.iso(timestamps.parse(writer.as_of)),
        "environment": client.environment,
        "base_url": _safe_url(client.base_url),
        "strategy": state["strategy"],
        "requested_strategy": state.get("requested_strategy"),
        "fallback_reason": state.get("fallback_reason"),
        "complete": not failed,
        "counts": {
            "customers": int(len(customers)),
            "credited_customers": int(balances["customer_id"].nunique()),
            "balance_rows": int(len(balances)),
            "targets": len(targets),
            "refetched": len(fetched),
            "carried_over": len(carried_ids),
            "failed": len(failed),
            "events": plan.get("events"),
            "new_customers": plan.get("new_customers"),
            "credit_adjusted_customers": plan.get("credited_customers"),
            "candidates": plan.get("candidates"),
            "subscription_items": int(len(subscriptions)),
        },
        "api_calls": stats["calls"],
        "retries": stats["retries"],
        "rate_limited": stats["rate_limited"],
        "failures": stats["failures"],
        "failed_customer_ids": failed,
        "failed_carried_over_ids": failed_carried,
        "verification": plan.get("verification"),
        "seconds": round(stats["seconds"], 3),
        "max_rpm": getattr(client, "max_rpm", None),
        "workers": workers,
        "toolkit_version": __version__,
        "events_high_water": state.get("events_high_water"),
        "events_readable": state.get("events_readable", True),
        # evidence: the movements of the window since base_snapshot were read in full (periods.missing_evidence)
        "evidence": movements is not None,
        "base_snapshot": state.get("base_snapshot"),
        "previous_snapshot": state.get("previous_snapshot"),
        "subscriptions_unavailable": state.get("subscriptions_unavailable"),
        "resumed": bool(writer.resumed),
        "published_at": timestamps.iso(pd.Timestamp.now(tz="UTC")),
    }
    snapshot = writer.publish(balances=balances, customers=customers, subscriptions=subscriptions,
                              manifest=manifest, movements=movements, adjustments=adjustments)
    log.info(
        "published %s (%s, %d customers, %d balance rows, %d calls, %.1f s)", snapshot.path, state["strategy"],
        len(customers), len(balances), stats["calls"], stats["seconds"],
    )
    return snapshot


def _replace_rows(old: pd.DataFrame, new: pd.DataFrame, sort: list[str]) -> pd.DataFrame:
    """``old`` with every row whose key (``sort[0]``) appears in ``new`` replaced by ``new``'s rows."""
    if new.empty:
        return old
    key = sort[0]
    kept = old[~old[key].isin(set(new[key].tolist()))]
    merged = pd.concat([kept, new], ignore_index=True)
    return merged.sort_values(sort, kind="stable").reset_index(drop=True)


def _load_base(data_dir: Path, writer: SnapshotWriter, name: str | None) -> Snapshot | None:
    """A published snapshot of the writer's environment by folder name (None when absent)."""
    if not name:
        return None
    return usable_snapshot(writer.env_dir / name)  # a base that became unusable counts as gone


def _rows_by_customer(balances: pd.DataFrame) -> dict[str, list[list[Any]]]:
    """A balances table as ``{customer_id: [[currency, available, reserved, used], ...]}`` (exact ints)."""
    out: dict[str, list[list[Any]]] = {}
    for cid, cur, avail, res, used in zip(
        balances["customer_id"].tolist(), balances["currency_code"].tolist(), balances["available"].tolist(),
        balances["reserved"].tolist(), balances["used"].tolist(), strict=True,
    ):
        out.setdefault(cid, []).append([cur, int(avail), int(res), int(used)])
    return out

