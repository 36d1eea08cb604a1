"""The analyst's Paddle-to-DataFrames API: customers, subscriptions and credit balances as typed frames.

``fetch_customers``, ``fetch_subscriptions``, ``fetch_credit_balances`` and ``fetch_credited_customer_ids``
each read one Paddle list through a :class:`credit_reports.paddle.client.PaddleClient` and return a frame with the
store's dtypes; ``fetch_credit_balances`` reads one customer at a time on a few worker threads and stops
cleanly on a fatal error. Whole snapshots (strategies, events, the checkpointed run, carry-over,
verification, manifest) are :mod:`credit_reports.fetch.snapshot`, which builds on these readers.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import pandas as pd

from credit_reports.core.errors import (
    AuthenticationError,
    MalformedDataError,
    NotFoundError,
    PaddleError,
    PermissionDeniedError,
    UsageError,
)
from credit_reports.fetch import door
from credit_reports.store.files import BALANCE_DTYPES, CUSTOMER_DTYPES, SUBSCRIPTION_DTYPES, conform
from credit_reports.store.writer import collapse_duplicates

if TYPE_CHECKING:
    from credit_reports.paddle.client import PaddleClient

__all__ = [
    "CUSTOMER_STATUSES",
    "fetch_customers",
    "fetch_credit_balances",
    "fetch_subscriptions",
    "fetch_credited_customer_ids",
    "customers_frame",
    "subscriptions_frame",
    "balances_frame",
    # the building blocks fetch_strategies and snapshot_fetch share with these readers
    "ChunkedFrame",
    "Stopped",
    "customer_row",
    "iter_balances",
    "progress_stage",
    "safe_url",
    "sorted_subscriptions",
    "subscription_rows",
    "subscriptions_or_empty",
    "unique_customers",
    "until_stopped",
]

log = logging.getLogger("credit_reports.fetch")

#: The customer statuses listed by default: every customer Paddle keeps.
CUSTOMER_STATUSES = ("active", "archived")


#: Errors that end the whole fetch: the key is refused or lacks a permission, so every call would fail.
_FATAL = (AuthenticationError, PermissionDeniedError)


# -- small pieces ------------------------------------------------------------------------------------


#: The stage the one progress bar follows while it runs; the listings are named in its postfix.
_LEAD_STAGE = "balances fetched"


def progress_stage(progress: bool, **kwargs: Any) -> Any:
    """A stage's progress counter: drawn through :mod:`credit_reports.fetch.progress`, which shows one bar for
    all stages running at once (terminal or notebook); silent when progress is off."""
    from credit_reports.fetch.progress import stage

    desc = str(kwargs.pop("desc", ""))
    return stage(desc, enabled=progress, lead=desc == _LEAD_STAGE, **kwargs)


def _custom_data_text(value: Any) -> str | None:
    """``custom_data`` as stable JSON text (sorted keys), None when Paddle sent null."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def safe_url(url: str) -> str:
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


def _stamp(value: Any, record: str = "a record", field: str = "created_at") -> str | None:
    """A Paddle date-time kept when a table can hold it; None for null, empty or placeholder dates.

    Paddle writes ``0001-01-01T00:00:00Z`` for "never"; pandas cannot hold years before 1678 or after 2261.
    A value that is no time at all (``2025-13-45T99:99:99Z``) is checked at the door: the record is kept
    without it and one line names the record, the field and the value (nothing else depends on it: the
    balances are read by id), instead of failing the whole listing when the table is built.
    """
    if value is None or value == "":
        return None
    try:
        door.paddle_time(value, field, record)
    except MalformedDataError as exc:
        log.warning("%s; the record is kept without it", exc)
        return None
    if not "1678" <= value[:4] <= "2261":
        return None
    return value


def customer_row(item: Mapping[str, Any]) -> dict[str, Any]:
    """One customer object from Paddle as a row of the customers table (unknown fields ignored)."""
    return {
        "customer_id": item.get("id"),
        "status": item.get("status"),
        "created_at": _stamp(item.get("created_at"), f"customer {item.get('id')}", "created_at"),
        "updated_at": _stamp(item.get("updated_at"), f"customer {item.get('id')}", "updated_at"),
        "locale": item.get("locale"),
        "marketing_consent": bool(item.get("marketing_consent") or False),
        "custom_data": _custom_data_text(item.get("custom_data")),
        "email": item.get("email"),
        "name": item.get("name"),
    }


def customers_frame(rows: Iterable[Mapping[str, Any]] | Mapping[str, list[Any]]) -> pd.DataFrame:
    """Customer rows (or columns) as the documented customers table, one row per id, sorted by id."""
    frame = pd.DataFrame(rows) if isinstance(rows, Mapping) else pd.DataFrame(list(rows), columns=list(CUSTOMER_DTYPES))
    return unique_customers(conform(frame, CUSTOMER_DTYPES))


def unique_customers(df: pd.DataFrame) -> pd.DataFrame:
    """A conformed customers table with one row per id (the last listed wins), sorted by id."""
    df = df.drop_duplicates("customer_id", keep="last")
    return df.sort_values("customer_id", kind="stable").reset_index(drop=True)


#: Rows of a listing held as Python objects before they are converted into a compact DataFrame chunk.
CHUNK_ROWS = 5000


class ChunkedFrame:
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
    rows = ChunkedFrame(CUSTOMER_DTYPES)
    with progress_stage(progress, desc="customers listed", unit=" customers") as bar:
        for item in door.listed_customers(client.paginate("/customers", params)):
            rows.add(customer_row(item))
            bar.update(1)
    log.info("listed %d customers", len(rows))
    return unique_customers(rows.frame())


# -- subscriptions ---------------------------------------------------------------------------------


def subscription_rows(sub: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One subscription as one row per item (a subscription without items gives one row)."""
    cycle = sub.get("billing_cycle") or {}
    base = {
        "subscription_id": sub.get("id"),
        "customer_id": sub.get("customer_id"),
        "status": sub.get("status"),
        "currency_code": sub.get("currency_code"),
        "created_at": _stamp(sub.get("created_at"), f"subscription {sub.get('id')}", "created_at"),
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
    return sorted_subscriptions(conform(pd.DataFrame(list(rows), columns=list(SUBSCRIPTION_DTYPES)),
                                         SUBSCRIPTION_DTYPES))


def sorted_subscriptions(df: pd.DataFrame) -> pd.DataFrame:
    """A conformed subscriptions table sorted by subscription and price."""
    return df.sort_values(["subscription_id", "price_id"], kind="stable").reset_index(drop=True)


def fetch_subscriptions(client: PaddleClient, progress: bool = False) -> pd.DataFrame:
    """Every subscription, one row per subscription item.

    Columns: subscription_id, customer_id, status, currency_code, billing_interval, price_id,
    product_id (string); billing_frequency (Int64); created_at (UTC). ``S/200`` calls.
    """
    return _list_subscriptions(client, progress, None)


def _list_subscriptions(client: PaddleClient, progress: bool, stop: threading.Event | None) -> pd.DataFrame:
    rows = ChunkedFrame(SUBSCRIPTION_DTYPES)
    with progress_stage(progress, desc="subscriptions listed", unit=" subs") as bar:
        for sub in until_stopped(stop, client.paginate("/subscriptions")):
            for row in subscription_rows(sub):
                rows.add(row)
            bar.update(1)
    return sorted_subscriptions(rows.frame())


class Stopped(Exception):
    """A background listing was told to stop because the fetch ended early."""


def until_stopped(stop: threading.Event | None, items: Iterable[Any]) -> Iterator[Any]:
    """``items`` until ``stop`` is set; then :class:`Stopped`, so nothing half-listed is saved."""
    for item in items:
        if stop is not None and stop.is_set():
            raise Stopped
        yield item


def subscriptions_or_empty(
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
    with progress_stage(progress, desc="credit adjustments", unit=" adj") as bar:
        for adjustment in client.paginate("/adjustments", {"action": "credit"}):
            if adjustment.get("customer_id"):
                ids.add(adjustment["customer_id"])
            bar.update(1)
    log.info("%d customers ever received credit", len(ids))
    return ids


# -- balances --------------------------------------------------------------------------------------


def _balance_rows(client: PaddleClient, customer_id: str, timing: dict | None = None) -> list[list[Any]]:
    """One customer's balances: ``[currency, available, reserved, used]`` per currency Paddle returned.

    Every field is checked at the door (:func:`credit_reports.fetch.door.balance_rows`): a value the spec does
    not allow raises :class:`~credit_reports.core.errors.MalformedDataError` and the customer fails, whole.
    ``timing`` receives when the read was sent and received and Paddle's ``Date`` (point_in_time.py)."""
    body = client.get(f"/customers/{quote(str(customer_id), safe='')}/credit-balances", timing=timing)
    return door.balance_rows(body, str(customer_id))


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


def _timed_rows(client: PaddleClient, customer_id: str) -> tuple[list[list[Any]], dict]:
    """One customer's balances and when they were read."""
    timing: dict = {}
    return _balance_rows(client, customer_id, timing), timing


def iter_balances(
    client: PaddleClient, customer_ids: Iterable[str], workers: int
) -> Iterator[tuple[str, list[list[Any]] | None, BaseException | None, dict | None]]:
    """Fetch balances on a small thread pool; yield ``(customer_id, rows, None, read)`` or
    ``(id, None, error, None)``; ``read`` is when the balance was read (``PaddleClient.get``'s timing).

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
                pending[pool.submit(_timed_rows, client, cid)] = cid

        try:
            fill()
            while pending:
                timeout = None if exhausted else 0.05  # keep picking up ids that arrive meanwhile
                done, _ = wait(list(pending), timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    cid = pending.pop(future)
                    try:
                        rows, read = future.result()
                    except _FATAL:
                        raise
                    except MalformedDataError as exc:  # the answer breaks the spec: this customer fails alone
                        log.warning("credit balances refused at the door: %s", exc)
                        yield cid, None, exc, None
                        continue
                    except (PaddleError, ValueError, KeyError, TypeError) as exc:
                        log.warning("credit balances of customer %s failed: %s", cid, exc)
                        yield cid, None, exc, None
                        continue
                    yield cid, rows, None, read
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
    with progress_stage(progress, total=len(ids), desc="balances fetched", unit=" customers") as bar:
        for cid, rows, _error, _read in iter_balances(client, ids, workers):
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




def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
