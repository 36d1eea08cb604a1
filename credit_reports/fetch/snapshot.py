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
events up to its as-of, through :func:`credit_reports.ledger.movements.events_to_movements`; nothing else of
the payloads); a first fetch keeps the credit adjustments it lists (``adjustments.parquet``).
docs/credit-rules.md, "The window of a snapshot", states the rule.

A snapshot is built in a working folder with a checkpoint (see :mod:`credit_reports.store.reader`): a fetch
killed at any point resumes from where it stopped, with the same as-of, without re-fetching finished
customers. Customers whose balances still fail after the client's retries are listed in the manifest's
``failed_customer_ids`` and the snapshot is published with ``complete: false``; for them, the previous
snapshot's rows (if any) are carried over and listed in ``failed_carried_over_ids``. The next fetch
re-fetches them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from credit_reports._version import __version__
from credit_reports.core import timestamps
from credit_reports.core.errors import (
    NotFoundError,
    UsageError,
)
from credit_reports.fetch.point_in_time import EVENT_SLACK_MS, PointInTime
from credit_reports.fetch.readers import (
    balances_frame,
    safe_url,
)
from credit_reports.fetch.resettle import write_reads
from credit_reports.fetch.seller_credits import stream_movements
from credit_reports.fetch.strategies import (
    FIRST_STRATEGY,
    STRATEGIES,
    VERIFY_SAMPLE,
    SnapshotRun,
    in_window_frame,
    rows_by_customer,
    utc_stamp,
)
from credit_reports.ledger.movements import union_movements
from credit_reports.store.files import (
    ADJUSTMENT_DTYPES,
    CLOCK_SKEW,
    CUSTOMER_DTYPES,
    MOVEMENT_DTYPES,
    SUBSCRIPTION_DTYPES,
    default_data_dir,
)
from credit_reports.store.reader import Snapshot, latest_snapshot, usable_snapshot
from credit_reports.store.writer import SnapshotWriter, snapshot_totals

if TYPE_CHECKING:
    from credit_reports.paddle.client import PaddleClient

__all__ = ["fetch_snapshot"]

log = logging.getLogger("credit_reports.fetch")


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
    is resumed. Returns the published :class:`~credit_reports.store.reader.Snapshot`; ``snapshot.complete`` is
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
        from credit_reports.paddle.client import PaddleClient

        client = PaddleClient(max_rpm=max_rpm)
    live = as_of is None
    as_of = _checked_as_of(as_of) if not live else pd.Timestamp.now(tz="UTC").ceil("s")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    try:
        with SnapshotWriter.open(data_dir, client.environment, now=as_of) as writer:
            # the lock first (a second fetch calls Paddle for nothing), then the account, before any listing: two
            # accounts never share a chain
            account = _one_account(client, data_dir)
            counted_from = client.stats  # GET / (Paddle's clock) counts too: its retries and 429s are this fetch's
            if live and not writer.resumed:
                _wait_until_past(timestamps.parse(writer.as_of))
                clock = _wait_for_paddle(client, timestamps.parse(writer.as_of))
                if clock is not None:
                    writer.update_state(clock_read=clock)
                    _wait_slack_after(clock)
            return _fetch_into(client, writer, data_dir, strategy, workers, progress, verify_sample, live,
                               account=account, counted_from=counted_from)
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


#: The longest the fetch waits for Paddle's clock to pass the as-of (a clock further behind is logged).
PADDLE_CLOCK_WAIT_SECONDS = 5.0


def _wait_slack_after(clock: dict) -> None:
    """Sleep until the point-in-time slack (:data:`EVENT_SLACK_MS`) has passed since the answer that showed
    Paddle's clock past the as-of: every balance read then happens, on Paddle's clock, more than the slack after
    the as-of (that answer bounds the clock offset, point_in_time.clock_offset), so a credit moved at or before
    the as-of is surely in every read and needs no second read."""
    delay = (clock["received_ms"] + EVENT_SLACK_MS) / 1000 - time.time()
    if delay > 0:
        time.sleep(min(delay, EVENT_SLACK_MS / 1000))


def _wait_for_paddle(client: PaddleClient, as_of: pd.Timestamp) -> dict | None:
    """Sleep until Paddle's clock (its ``Date`` header, ``GET /``) has passed ``as_of`` too, at most
    :data:`PADDLE_CLOCK_WAIT_SECONDS`; returns that answer's timing (``sent_ms``, ``received_ms``, ``date_s``)
    when its ``Date`` showed the as-of passed, else None.

    With Paddle's clock behind ours, a customer could sign up and get credit at Paddle's time just before the
    as-of but after the fetch listed the customers: no balance correction can add a customer the fetch never
    read (docs/credit-rules.md, "The window of a snapshot").
    """
    deadline = time.monotonic() + PADDLE_CLOCK_WAIT_SECONDS
    as_of_s = as_of.value / 1e9
    while True:
        timing: dict = {}
        try:
            client.get("/", timing=timing)
        except NotFoundError as exc:  # a server without the API root: its clock cannot be asked; carry on
            log.info("Paddle's clock not checked against the as-of: %s", exc)
            return None
        date = timing.get("date_s")
        if date is None:
            return None
        if date >= as_of_s:  # Date has whole seconds: Paddle's now >= date
            return {k: timing[k] for k in ("sent_ms", "received_ms", "date_s") if k in timing}
        left = deadline - time.monotonic()
        if left <= 0:
            log.warning("Paddle's clock reads %d s before the as-of: balances may miss customers who signed up "
                        "and got credit just before it", round(as_of_s - date))
            return None
        time.sleep(min(left, max(0.05, as_of_s - date)))


def _checked_as_of(value: Any) -> pd.Timestamp:
    """``fetch_snapshot``'s ``as_of`` as a UTC time; a moment beyond now plus the clock skew is refused."""
    try:
        stamp = utc_stamp(value)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"as_of must be a time such as 2026-11-30T23:59:59Z, not {value!r}") from exc
    if stamp > pd.Timestamp.now(tz="UTC") + CLOCK_SKEW:
        raise UsageError(f"as_of {timestamps.iso(stamp)} is in the future: a snapshot can only be of a moment that "
                         "has happened")
    return stamp


def _resumable(state: Mapping[str, Any], strategy: str, base_url: str) -> bool:
    """Whether an interrupted run's working folder can be finished by this run."""
    if state.get("base_url") != safe_url(base_url):
        return False
    return strategy in ("auto", state.get("requested_strategy"), state.get("strategy"))


def _fetch_into(
    client: PaddleClient, writer: SnapshotWriter, data_dir: Path, strategy: str, workers: int, progress: bool,
    verify_sample: float = VERIFY_SAMPLE, live: bool = False, account: dict[str, Any] | None = None,
    counted_from: Mapping[str, int] | None = None,
) -> Snapshot:
    """The body of :func:`fetch_snapshot` once the working folder is open: plan the run, list and fetch the
    target customers, bring their balances back to the as-of (point_in_time.py), carry over the rows of the
    rest, and publish the snapshot with its manifest."""
    run = _start_run(client, writer, data_dir, strategy, workers, progress, verify_sample, live)
    if counted_from is not None:
        run.stats_start = dict(counted_from)
    base = _load_base(data_dir, writer, writer.state.get("base_snapshot"))
    if writer.state["strategy"] == "incremental" and base is None:
        writer.update_state(strategy=FIRST_STRATEGY, fallback_reason="the base snapshot disappeared",
                            base_snapshot=None)
    plan, results = run.listing_and_balances(writer.state["strategy"], base)
    base = _load_base(data_dir, writer, writer.state.get("base_snapshot"))
    at_as_of = run.settle(results, plan["targets"])  # each balance read brought back to the as-of
    rows = _carry_over(client, writer, data_dir, base, plan, at_as_of)
    frames = _listing_frames(writer, rows)
    high_water = _late_events(client, run.pit, frames, writer.state.get("events_high_water"))
    if rows.failed:
        refused = len(_refused_at_door(writer, rows.failed))
        log.warning(
            "snapshot %s is INCOMPLETE: balances of %d customer(s) could not be fetched (%d carried over "
            "from %s); %s", writer.as_of, len(rows.failed), len(rows.failed_carried),
            rows.fallback.name if rows.fallback is not None else "no earlier snapshot",
            "run fetch again to complete it" if not refused else
            f"{refused} of them were refused at the door as malformed Paddle data (permanent: fetching again "
            "does not help until Paddle's data changes)",
        )
    stats = run.stats()
    manifest = _manifest(client, writer, workers, plan, rows, frames, stats)
    pit = run.pit.summary()
    if plan.get("resettled_previous"):
        pit["resettled_previous"] = plan["resettled_previous"]
    manifest.update(events_high_water=high_water, point_in_time=pit, candidate_sources=plan.get("candidate_sources"),
                    account=account, plan=writer.state.get("first_plan"))
    if run.pit.enabled:
        write_reads(writer.path, run.pit.stored_reads(), run.pit.clock_read)  # to re-settle it after the fact
    snapshot = writer.publish(manifest=manifest, **frames)
    log.info(
        "published %s (%s, %d customers, %d balance rows, %d calls, %.1f s)", snapshot.path,
        writer.state["strategy"], len(frames["customers"]), len(frames["balances"]), stats["calls"],
        stats["seconds"],
    )
    return snapshot


def _one_account(client: PaddleClient, data_dir: Path) -> dict[str, Any]:
    """The account the key reads (:func:`credit_reports.fetch.account.read_account`), refused in one line when the
    environment's newest snapshot was read from another account (:mod:`credit_reports.core.accounts`)."""
    from types import SimpleNamespace

    from credit_reports.core.accounts import check_same_account
    from credit_reports.fetch.account import read_account

    account = read_account(client)
    newest = latest_snapshot(data_dir, client.environment)
    if newest is not None:
        check_same_account([newest, SimpleNamespace(manifest={"account": account}, name="being fetched")],
                           what=f"the store's {client.environment} snapshots and this fetch")
    return account


def _late_events(client: PaddleClient, pit: PointInTime, frames: dict[str, pd.DataFrame | None],
                 high_water: str | None) -> str | None:
    """Events of the window (after the previous as-of, at or before this one) that Paddle listed only after the
    window's own read join an incremental window's movements, each once (docs/credit-rules.md, "The window").
    The high-water mark stays where the plan put it (the as-of minus the overlap): nothing moves it by id."""
    early = pit.window_events()
    if frames["movements"] is not None and early and pit.window_start_ms is not None:
        moved = pit.tail.movements() if pit.tail is not None else stream_movements(client, early)[0]
        late = in_window_frame(moved, pit.window_start_ms, pit.as_of_ms)
        frames["movements"] = union_movements([frames["movements"], late])
    return high_water


def _start_run(
    client: PaddleClient, writer: SnapshotWriter, data_dir: Path, strategy: str, workers: int, progress: bool,
    verify_sample: float, live: bool = False,
) -> SnapshotRun:
    """The run of this working folder: an interrupted run of a different fetch is discarded, a resumed one
    keeps its earlier call counts, and a new one chooses its strategy (checkpointed in the state)."""
    if writer.resumed and not _resumable(writer.state, strategy, client.base_url):
        log.info("discarding the unfinished snapshot %s: it was a different fetch", writer.path.name)
        writer.restart()
    run = SnapshotRun(client, writer, workers, progress, verify_sample, live)
    if writer.resumed:
        run.prior = writer.journal.load()[1]
    if "strategy" not in writer.state:
        run.plan(strategy, data_dir)
    return run


@dataclass
class _Rows:
    """The balance rows a snapshot publishes: fetched ones, and those carried over from an earlier snapshot."""

    targets: list[str]
    fetched: list[tuple[str, list[list[Any]]]]
    failed: list[str]
    carried: list[tuple[str, list[list[Any]]]] = field(default_factory=list)
    carried_ids: list[str] = field(default_factory=list)
    failed_carried: list[str] = field(default_factory=list)
    fallback: Snapshot | None = None


def _carry_over(
    client: PaddleClient, writer: SnapshotWriter, data_dir: Path, base: Snapshot | None, plan: Mapping[str, Any],
    at_as_of: Mapping[str, list[list[Any]]],
) -> _Rows:
    """The fetched rows plus the carried-over ones: with ``plan["carry_over"]`` (incremental) every customer
    not re-fetched keeps its row of the base snapshot, and a customer whose balances failed keeps its row of
    the base (or previous) snapshot, provided that snapshot came from the same server."""
    targets: list[str] = plan["targets"]
    rows = _Rows(
        targets=targets,
        fetched=[(cid, at_as_of[cid]) for cid in targets if cid in at_as_of],
        failed=sorted(cid for cid in targets if cid not in at_as_of),
    )
    fallback = base if base is not None else _load_base(data_dir, writer, writer.state.get("previous_snapshot"))
    if fallback is not None and safe_url(str(fallback.manifest.get("base_url") or "")) != safe_url(client.base_url):
        fallback = None  # another server's rows say nothing about these customers
    rows.fallback = fallback
    if fallback is None:
        return rows
    previous_rows = rows_by_customer(fallback.balances)
    if plan.get("carry_over"):
        target_set = set(targets)
        for cid, kept in previous_rows.items():
            if cid not in target_set:
                rows.carried.append((cid, kept))
                rows.carried_ids.append(cid)
    for cid in rows.failed:
        if cid in previous_rows:
            rows.carried.append((cid, previous_rows[cid]))
            rows.failed_carried.append(cid)
    return rows


def _listing_frames(writer: SnapshotWriter, rows: _Rows) -> dict[str, pd.DataFrame | None]:
    """The tables to publish: balances from the rows, the listings the run checkpointed, and an incremental
    window's movements (even none: "events read, no credit moved") or a first fetch's adjustments."""
    incremental = writer.state["strategy"] == "incremental"
    return {
        "balances": balances_frame(rows.fetched + rows.carried),
        "customers": writer.load_frame("customers", CUSTOMER_DTYPES),
        "subscriptions": writer.load_frame("subscriptions", SUBSCRIPTION_DTYPES),
        "movements": writer.load_frame("movements", MOVEMENT_DTYPES) if incremental else None,
        "adjustments": writer.load_frame("adjustments", ADJUSTMENT_DTYPES),
    }


def _refused_at_door(writer: SnapshotWriter, failed: list[str]) -> dict[str, str]:
    """The failed customers whose answer was refused at the door, each with its one line (permanent failures)."""
    results, _ = writer.journal.load()
    prefix = "MalformedDataError: "
    return {cid: str(results[cid]["error"])[len(prefix):] for cid in failed
            if str((results.get(cid) or {}).get("error") or "").startswith(prefix)}


def _manifest(
    client: PaddleClient, writer: SnapshotWriter, workers: int, plan: Mapping[str, Any], rows: _Rows,
    frames: Mapping[str, pd.DataFrame | None], stats: Mapping[str, Any],
) -> dict[str, Any]:
    """The snapshot's manifest.json (its fields are documented in the README and docs/architecture.md)."""
    state = writer.state
    customers, balances, subscriptions = frames["customers"], frames["balances"], frames["subscriptions"]
    return {
        "as_of": timestamps.iso(timestamps.parse(writer.as_of)),
        "environment": client.environment,
        "base_url": safe_url(client.base_url),
        "strategy": state["strategy"],
        "requested_strategy": state.get("requested_strategy"),
        "fallback_reason": state.get("fallback_reason"),
        "complete": not rows.failed and not state.get("listing_refused"),
        "counts": {
            "customers": int(len(customers)),
            "credited_customers": int(balances["customer_id"].nunique()),
            "balance_rows": int(len(balances)),
            "targets": len(rows.targets),
            "refetched": len(rows.fetched),
            "carried_over": len(rows.carried_ids),
            "failed": len(rows.failed),
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
        "failed_customer_ids": rows.failed,
        "failed_carried_over_ids": rows.failed_carried,
        # customers whose answer broke Paddle's spec (fetch/door.py): the field and value, one line each
        "refused_at_door": {**_refused_at_door(writer, rows.failed),
                            **{line.split(":")[0]: line for line in state.get("listing_refused") or []}},
        "verification": plan.get("verification"),
        "seconds": round(stats["seconds"], 3),
        "max_rpm": getattr(client, "max_rpm", None),
        "workers": workers,
        "toolkit_version": __version__,
        "events_high_water": state.get("events_high_water"),
        "events_readable": state.get("events_readable", True),
        # evidence: the movements of the window since base_snapshot were read in full (periods.missing_evidence)
        "evidence": frames["movements"] is not None,
        "base_snapshot": state.get("base_snapshot"),
        "previous_snapshot": state.get("previous_snapshot"),
        "subscriptions_unavailable": state.get("subscriptions_unavailable"),
        "resumed": bool(writer.resumed),
        "published_at": timestamps.iso(pd.Timestamp.now(tz="UTC")),
        "totals": snapshot_totals(balances),
    }


def _load_base(data_dir: Path, writer: SnapshotWriter, name: str | None) -> Snapshot | None:
    """A published snapshot of the writer's environment by folder name (None when absent)."""
    if not name:
        return None
    return usable_snapshot(writer.env_dir / name)  # a base that became unusable counts as gone




def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
