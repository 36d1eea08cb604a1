"""The fetch strategies: which customers a snapshot asks Paddle about, and the run that asks them.

:class:`SnapshotRun` is one run of :func:`credit_reports.fetch.snapshot.fetch_snapshot`: it chooses the
strategy (:func:`choose_strategy`), lists customers and subscriptions (or reads ``/events`` after the previous
snapshot's high-water mark for ``incremental``), fetches the target customers' balances, and checks every skip
rule on a random sample (the verification). Each step is checkpointed in the snapshot's working folder, so a
resumed run skips what is done. The strategies themselves are described in :mod:`credit_reports.fetch.snapshot`.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from credit_reports.core import timestamps
from credit_reports.core.errors import (
    BadRequestError,
    MalformedDataError,
    NotFoundError,
    PermissionDeniedError,
)
from credit_reports.core.money import parse_minor
from credit_reports.fetch import door, plans
from credit_reports.fetch.point_in_time import NO_DATE_SKEW_MS, RESTART_MS, PointInTime
from credit_reports.fetch.readers import (
    CUSTOMER_STATUSES,
    ChunkedFrame,
    Stopped,
    customer_row,
    customers_frame,
    iter_balances,
    progress_stage,
    safe_url,
    sorted_subscriptions,
    subscription_rows,
    subscriptions_frame,
    subscriptions_or_empty,
    unique_customers,
    until_stopped,
)
from credit_reports.fetch.resettle import base_window_start, resettle_previous
from credit_reports.fetch.seller_credits import stream_movements
from credit_reports.fetch.windows import WINDOW_OVERLAP_MS, ListingLag, event_ms, events_since, mark_before
from credit_reports.ledger.movements import adjustments_frame, movement_fields
from credit_reports.ledger.rules import EVENT_WINDOW
from credit_reports.store.files import CUSTOMER_DTYPES, SUBSCRIPTION_DTYPES
from credit_reports.store.reader import Snapshot, latest_snapshot
from credit_reports.store.writer import SnapshotWriter

if TYPE_CHECKING:
    from credit_reports.paddle.client import PaddleClient

__all__ = ["STRATEGIES", "FIRST_STRATEGY", "EVENT_TYPES", "SnapshotRun", "choose_strategy", "latest_event_id"]


log = logging.getLogger("credit_reports.fetch")

STRATEGIES = ("auto", "subscribers", "credit-transactions", "full", "incremental", "legacy-adjustments")
#: The strategy of a first snapshot (and of every fallback from ``incremental``).
FIRST_STRATEGY = "subscribers"
#: Share of the skipped customers fetched to check a skip rule, and the bounds on that sample.
VERIFY_SAMPLE = 0.02
VERIFY_MIN, VERIFY_MAX = 50, 500
#: How many skipped customers one ``/transactions?customer_id=`` request names (Paddle takes a comma list),
#: and the origins that show a customer had a subscription (docs/credit-rules.md, "Customers a subscription
#: moved away from").
FORMER_BATCH = 50
FORMER_ORIGINS = "subscription_recurring,subscription_update"

#: How old a previous snapshot may be for ``incremental`` (Paddle keeps 90 days of events; one hour of
#: margin covers the previous fetch's own duration).
INCREMENTAL_MAX_AGE = EVENT_WINDOW - pd.Timedelta(hours=1)

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

#: How far back (ms) an incremental plan remembers the events it listed, so the tail can tell one listed late.
RECENT_MS = 120_000.0

#: The client counters a snapshot records (summed over resumed attempts).
_STATS = ("calls", "retries", "rate_limited", "failures")


def latest_event_id(client: PaddleClient, at_or_before: Any = None) -> str | None:
    """The newest event id (None when there is none); with ``at_or_before``, the newest event that *occurred*
    at or before that moment (windows.mark_before: by ``occurred_at``, never by id order).

    A snapshot records as its high-water mark the newest event at or before its as-of minus the window overlap
    (docs/credit-rules.md, "The window of a snapshot"): only a server without ``from`` is read after it.
    """
    if at_or_before is None:
        body = client.get("/events", {"order_by": "id[DESC]", "per_page": 1})
        data = body.get("data") or []
        return data[0].get("event_id") if data else None
    return mark_before(client, utc_stamp(at_or_before).value / 1e6)


def utc_stamp(value: Any) -> pd.Timestamp:
    return timestamps.parse(value)  # the one parser of times (core/timestamps.py)


def _occurred_by(event: Mapping[str, Any], bound: pd.Timestamp) -> bool:
    """True when the event occurred at or before ``bound`` (an event without a time counts as before)."""
    when = event.get("occurred_at")
    return not when or utc_stamp(when) <= bound


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


# -- snapshots ---------------------------------------------------------------------------------------


def choose_strategy(
    strategy: str, previous: Snapshot | None, base_url: str, now: pd.Timestamp
) -> tuple[str, Snapshot | None, str | None]:
    """(strategy to run, snapshot to build on, why incremental was not possible) for a requested strategy."""
    if strategy in ("full", "legacy-adjustments", *plans.FIRST_PLANS):
        return strategy, None, None
    reason = None
    if previous is None:
        reason = "no earlier snapshot of this environment"
    elif safe_url(str(previous.manifest.get("base_url") or "")) != safe_url(base_url):
        reason = f"the newest snapshot {previous.name} was fetched from another base URL"
    elif now - previous.as_of >= INCREMENTAL_MAX_AGE:
        reason = f"the newest snapshot {previous.name} is older than 90 days (Paddle keeps 90 days of events)"
    elif not previous.manifest.get("events_readable", "events_high_water" in previous.manifest):
        reason = f"the newest snapshot {previous.name} has no events high-water mark"
    if reason is None:
        return "incremental", previous, None
    if strategy == "incremental":
        log.warning("incremental not possible (%s): fetching a first snapshot", reason)
    else:
        log.info("a first snapshot: %s", reason)
    return FIRST_STRATEGY, None, reason


def stats_delta(client: PaddleClient, start: Mapping[str, int], prior: Mapping[str, Any]) -> dict[str, int]:
    """Calls of this attempt (client stats since ``start``) plus those of earlier attempts (``prior``)."""
    now = client.stats
    return {k: int(prior.get(k, 0)) + int(now.get(k, 0)) - int(start.get(k, 0)) for k in _STATS}


def paddle_is_past(client: PaddleClient, as_of: pd.Timestamp) -> bool:
    """Whether Paddle's clock (its ``Date`` header, ``GET /``) reads a later second than a given ``as_of``'s,
    asked when the first balances read are settled (a fetch with a given as-of; a live one is always corrected).

    Then the account may have moved after the as-of while it was read, and the balances are brought back to it
    like a live fetch's (point_in_time.py). Asked after the first reads, not before the fetch starts: a clock
    that reads the as-of's own second when the fetch starts can move on, and the account with it, while the
    balances are read (a schedule's fetch of a moving account). Paddle's clock still in the as-of's own second
    then (the simulator served at the as-of, as the demo does) counts as "served at the as-of": nothing to bring
    back, no events read.
    """
    timing: dict = {}
    try:
        client.get("/", timing=timing)
    except NotFoundError:
        return False
    date = timing.get("date_s")
    return date is not None and date > as_of.value // 1_000_000_000


class SnapshotRun:
    """One run of :func:`fetch_snapshot`: the steps, each checkpointed so a resumed run skips it."""

    def __init__(self, client: PaddleClient, writer: SnapshotWriter, workers: int, progress: bool,
                 verify_sample: float = VERIFY_SAMPLE, live: bool = False) -> None:
        self.client = client
        self.live = live
        self._pit: PointInTime | None = None
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
        out: dict[str, Any] = stats_delta(self.client, self.stats_start, self.prior)
        out["seconds"] = float(self.prior.get("seconds", 0.0)) + time.monotonic() - self.started
        return out

    @property
    def pit(self) -> PointInTime:
        """The point-in-time correction of this fetch (made once the plan has recorded the high-water mark)."""
        if self._pit is None:
            state = self.writer.state
            readable = bool(state.get("events_readable", True))
            live = bool(state.get("live", self.live))
            if readable and not live and paddle_is_past(self.client, timestamps.parse(self.writer.as_of)):
                live = True  # a given as-of the account moved on from while it was read: brought back to it
                self.writer.update_state(live=True)
            reason = None if readable and live else (
                "the key cannot read events (notification.read): not point-in-time" if not readable
                else "a past as-of the account is served at: nothing moved after it")
            plan = self.writer.load_json("plan") or {}
            read_ms = plan.get("events_read_ms")
            base_as_of = state.get("base_as_of")
            self._pit = PointInTime(
                self.client, timestamps.parse(self.writer.as_of), state.get("events_high_water"),
                enabled=readable and live, reason=reason,
                tail_from_ms=read_ms - RESTART_MS - NO_DATE_SKEW_MS if read_ms is not None else None,
                window_read=(read_ms, *plan["events_recent"]) if plan.get("events_recent") else None,
                sellers_known=plan.get("seller_credits_known"), clock_read=state.get("clock_read"),
                window_start_ms=timestamps.parse(base_as_of).value / 1e6 if base_as_of else None)
        return self._pit

    def settle(self, results: dict[str, dict[str, Any]], ids: Iterable[str]) -> dict[str, list[list[Any]]]:
        """The balances of ``ids`` at the as-of (point_in_time.py), reading customers again where needed."""
        def read_again(again: list[str]) -> dict[str, dict[str, Any]]:
            fresh = self.balances(again, "customers read again", again=True)
            results.update({cid: fresh[cid] for cid in again if cid in fresh})
            return results

        return self.pit.settle(results, ids, read_again)

    def checkpoint_stats(self) -> None:
        self.writer.journal.append({"stats": self.stats()})
        self.writer.journal.flush()

    # -- steps -------------------------------------------------------------------------------------

    def plan(self, requested: str, data_dir: Path) -> None:
        """Choose the strategy and record the high-water mark, before any listing (once per snapshot)."""
        writer = self.writer
        as_of = timestamps.parse(writer.as_of)
        previous = latest_snapshot(data_dir, self.client.environment)
        strategy, base, reason = choose_strategy(requested, previous, self.client.base_url, as_of)
        events_readable = True
        try:
            high_water = latest_event_id(self.client, at_or_before=as_of - pd.Timedelta(
                milliseconds=WINDOW_OVERLAP_MS))
        except (PermissionDeniedError, NotFoundError, BadRequestError, MalformedDataError) as exc:
            if isinstance(exc, MalformedDataError):  # one bad event: the events cannot be trusted this time
                log.warning("events not used for this snapshot: %s; the fetch goes on with strategy %s, which "
                            "reads no events (not point-in-time)", exc,
                            FIRST_STRATEGY if strategy == "incremental" else strategy)
            elif isinstance(exc, PermissionDeniedError):
                log.warning("the key lacks notification.read: no events, so incremental is not possible, every "
                            "snapshot is a first snapshot (%s, whichever costs fewer calls), and balances read "
                            "while the account moves cannot be brought back to the as-of (not point-in-time)",
                            " or ".join(plans.FIRST_PLANS))
            else:
                log.warning("cannot read events (the next snapshot cannot be incremental): %s", exc)
            high_water, events_readable = None, False
            if strategy == "incremental":
                strategy, base, reason = FIRST_STRATEGY, None, f"events not readable ({type(exc).__name__})"
        first_plan = None
        if strategy in plans.FIRST_PLANS:  # a first snapshot: the cheaper plan, unless --strategy named one
            if requested in plans.FIRST_PLANS:
                first_plan = plans.forced_plan(requested)
            else:
                strategy, first_plan = plans.choose_first(self.client)
        writer.update_state(
            first_plan=first_plan,
            requested_strategy=requested,
            strategy=strategy,
            fallback_reason=reason,
            base_snapshot=base.name if base is not None else None,
            base_as_of=timestamps.iso(base.as_of) if base is not None else None,
            previous_snapshot=previous.name if previous is not None else None,
            events_high_water=high_water,
            events_readable=events_readable,
            base_url=safe_url(self.client.base_url),
            live=self.live,
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
                carried = rows_by_customer(base.balances)
                customers = writer.load_frame("customers", CUSTOMER_DTYPES, columns=["customer_id"])
                plan, results = self._verify(
                    plan, results, "incremental", customers["customer_id"].tolist(),
                    lambda cid, rows: sorted(rows) != sorted(carried.get(cid, [])),
                    rotation=plans.rotation_of(base.manifest))
            return plan, results
        return self._list_and_fetch(strategy)

    def _verify(self, plan: dict[str, Any], results: dict[str, dict[str, Any]], rule: str,
                listed: Iterable[str], broken: Callable[[str, list[list[Any]]], bool],
                unavailable: str | None = None,
                rotation: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict]:
        """Check the rule that skipped customers on a random sample of them; fetch them all if it fails.

        ``broken(customer_id, rows)`` says whether a fetched skipped customer contradicts the rule. The sample
        is drawn from the snapshot's as-of, so a resumed run checks the same customers. ``unavailable`` names
        why the rule could not be applied at all (e.g. no ``subscription.read``): then everyone is fetched.
        An incremental (``rule == "incremental"``) checks the next slice of a rotation instead
        (:func:`plans.rotating_sample`, continued from the base's ``rotation``), recorded as ``rotation``.
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
        state = None
        if rule != "incremental":
            sample = random.Random(f"verify:{self.writer.as_of}").sample(skipped, size)
        elif not size:
            sample, state = [], dict(rotation) if rotation else None  # the check is off this run: the rotation waits
        else:
            sample, state = plans.rotating_sample(skipped, rotation)
            size = len(sample)
            log.info("verification: %d of %d skipped customers checked (a rotation: each is checked within %d "
                     "runs)", size, len(skipped), state["runs_per_cycle"])
        results = self.balances(sample, "skipped customers sampled") if sample else results
        at_as_of = self.settle(results, sample) if sample else {}  # credit moved after the as-of breaks no rule
        found = sorted(cid for cid in sample if cid in at_as_of and broken(cid, at_as_of[cid]))
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
        if state is not None:
            plan["verification"]["rotation"] = state
        self.writer.save_json("plan", plan)
        self.checkpoint_stats()
        return plan, results

    def _list_customers(self) -> Iterator[str]:
        """List every customer (active and archived), yielding ids as pages arrive; save the table at the end."""
        rows = ChunkedFrame(CUSTOMER_DTYPES)
        skipped: list[str] = []
        with progress_stage(self.progress, desc="customers listed", unit=" customers") as bar:
            for item in until_stopped(self.stop, door.listed_customers(self.client.paginate(
                    "/customers", {"status": ",".join(CUSTOMER_STATUSES)}), skipped)):
                rows.add(customer_row(item))
                bar.update(1)
                yield item["id"]
        if skipped:  # customers without a usable id: the snapshot cannot be complete (fetch/door.py)
            self.writer.update_state(listing_refused=skipped)
        self.writer.save_frame("customers", unique_customers(rows.frame()))
        log.info("listed %d customers", len(rows))

    def _list_credited(self) -> Iterator[str]:
        """Customers with a credit adjustment, yielded once each as pages arrive; saved at the end."""
        seen: dict[str, None] = {}
        listed: list[Mapping[str, Any]] = []
        with progress_stage(self.progress, desc="credit adjustments", unit=" adj") as bar:
            for adjustment in until_stopped(self.stop, self.client.paginate("/adjustments", {"action": "credit"})):
                bar.update(1)
                if door.sound_adjustment(adjustment):  # a malformed one never becomes a row (fetch/door.py)
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
        rows = ChunkedFrame(SUBSCRIPTION_DTYPES)
        missing = None
        try:
            with progress_stage(self.progress, desc="subscriptions listed", unit=" subs") as bar:
                for sub in until_stopped(self.stop, self.client.paginate("/subscriptions")):
                    for row in subscription_rows(sub):
                        rows.add(row)
                    bar.update(1)
                    cid = sub.get("customer_id")
                    if cid and cid not in seen:
                        seen[cid] = None
                        yield cid
        except (PermissionDeniedError, NotFoundError) as exc:
            log.warning("the key lacks subscription.read: subscribers cannot be told from one-time buyers, so "
                        "every customer is fetched (and cohorts by subscription are empty)")
            missing, rows = type(exc).__name__, ChunkedFrame(SUBSCRIPTION_DTYPES)
        self.writer.save_frame("subscriptions", sorted_subscriptions(rows.frame()))
        self.writer.save_json("subscriptions_unavailable", missing)
        subscribers = len(seen)
        listed: list[Mapping[str, Any]] = []
        try:
            for adjustment in until_stopped(self.stop, self.client.paginate("/adjustments", {"action": "credit"})):
                if door.sound_adjustment(adjustment):  # a malformed one never becomes a row (fetch/door.py)
                    listed.append(adjustment)
                cid = adjustment.get("customer_id")
                if cid and cid not in seen:
                    seen[cid] = None
                    yield cid
        except PermissionDeniedError:
            log.warning("the key lacks adjustment.read: customers of credit adjustments (credit before 11 March "
                        "2024) are not listed; the verification sample checks that they all have a subscription")
        from_adjustments = len(seen) - subscribers
        # the adjustments themselves (ageing dates legacy credit by them), saved before "candidates": a resumed
        # run that finds the candidates finds the adjustments too
        self.writer.save_frame("adjustments", adjustments_frame(listed))
        self.writer.save_json("candidate_sources", {"subscribers": subscribers, "credit_adjustments": from_adjustments})
        self.writer.save_json("candidates", list(seen))
        log.info("%d customers can hold credit (subscribers, credit adjustments)", len(seen))

    def _former_subscribers(self, skipped: list[str]) -> list[str] | None:
        """The skipped customers named on a ``subscription_recurring`` or ``subscription_update`` transaction:
        they had a subscription, so they can hold credit (a subscription moved away from them keeps it, R3),
        though ``/subscriptions`` no longer names them. None without ``transaction.read``.

        ``/transactions?customer_id=<50 ids>&origin=...`` per batch; a customer named on a page is dropped from
        the batch's next request, so a batch costs one call plus one per customer found (never the renewals'
        pages). Each batch is checkpointed (``former_subscribers_partial``), the result too
        (``former_subscribers``), so a resumed run asks nothing twice.
        """
        saved = self.writer.load_json("former_subscribers")
        if saved is not None:
            return saved.get("customers")
        partial = self.writer.load_json("former_subscribers_partial") or {"batches": 0, "customers": []}
        named: dict[str, None] = dict.fromkeys(partial["customers"])
        try:
            for number in range(int(partial["batches"]), math.ceil(len(skipped) / FORMER_BATCH)):
                left = skipped[number * FORMER_BATCH:(number + 1) * FORMER_BATCH]
                while left:
                    if self.stop.is_set():
                        raise Stopped
                    body = self.client.get("/transactions", {"customer_id": ",".join(left),
                                                             "origin": FORMER_ORIGINS, "per_page": 30})
                    found = {t.get("customer_id") for t in body.get("data") or []} & set(left)
                    named.update(dict.fromkeys(cid for cid in left if cid in found))
                    more = ((body.get("meta") or {}).get("pagination") or {}).get("has_more")
                    left = [cid for cid in left if cid not in found] if found and more else []
                self.writer.save_json("former_subscribers_partial", {"batches": number + 1, "customers": list(named)})
        except PermissionDeniedError:
            log.warning("the key lacks transaction.read: customers a subscription moved away from are not listed; "
                        "the verification sample checks that none holds credit")
            self.writer.save_json("former_subscribers", {"customers": None})
            return None
        self.writer.save_json("former_subscribers", {"customers": list(named)})
        log.info("%d of %d skipped customers had a subscription (named on subscription_recurring or "
                 "subscription_update transactions): fetched too", len(named), len(skipped))
        return list(named)

    def _log_unlisted(self, unknown: list[str]) -> set[str]:
        """Say which fetched customers the customer list lacks (one ``GET /customers/{id}`` each): those
        created after the as-of signed up while the fetch ran (INFO; the point-in-time correction takes their
        balance back to the as-of, where they hold nothing), the others were missed by the listing (WARNING).
        Returns those created after the as-of."""
        as_of = utc_stamp(self.writer.as_of)
        later: set[str] = set()
        for cid in unknown:
            try:
                created = (self.client.get(f"/customers/{cid}").get("data") or {}).get("created_at")
            except (NotFoundError, PermissionDeniedError, BadRequestError):
                continue
            if created and utc_stamp(created) > as_of:
                later.add(cid)
        if later:
            log.info("%d customers signed up after the as-of while the fetch ran (their credit is after it)",
                     len(later))
        if len(unknown) > len(later):
            log.warning("%d customers with credit were not in the customer list; fetched them anyway",
                        len(unknown) - len(later))
        return later

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
                subs, missing = subscriptions_or_empty(self.client, self.progress, self.stop)
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
            elif strategy == plans.CREDIT_TRANSACTIONS:
                source = candidates if candidates is not None else plans.list_credit_named(self)
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
        real = [e for e in errors if not isinstance(e, Stopped)]
        if real:
            raise real[0]
        listed = set(writer.load_frame("customers", CUSTOMER_DTYPES, columns=["customer_id"])["customer_id"].tolist())
        unknown = [cid for cid in targets if cid not in listed]
        if unknown:
            self._log_unlisted(unknown)
        missing = writer.load_json("subscriptions_unavailable")
        if missing:
            writer.update_state(subscriptions_unavailable=missing)
        sources = writer.load_json("candidate_sources") if strategy in plans.FIRST_PLANS else None
        if strategy == FIRST_STRATEGY and not missing:
            asked = set(targets)
            former = self._former_subscribers(sorted(cid for cid in listed if cid not in asked))
            if former:
                results = self.balances(former, "former subscribers fetched")
                targets = targets + former
            sources = dict(sources or {}, former_subscribers=len(former) if former is not None else None)
        plan = {
            "targets": targets,
            "credited_customers": len(targets) if strategy == "legacy-adjustments" else None,
            "candidates": len(targets) if strategy != "full" else None,
            "candidate_sources": sources,
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
        if strategy == plans.CREDIT_TRANSACTIONS:
            unavailable = writer.load_json("credit_listing_unavailable")
        return self._verify(plan, results, strategy, listed_ids, lambda _cid, rows: bool(rows), unavailable)

    def _incremental_plan(self, base: Snapshot) -> dict[str, Any] | None:
        """Read events after the base's high-water mark; update customers and subscriptions; pick targets."""
        after = base.manifest.get("events_high_water")
        base_as_of_ms = base.as_of.value / 1e6
        overlap = float((base.manifest.get("point_in_time") or {}).get("window_overlap_ms") or WINDOW_OVERLAP_MS)
        event_customers: dict[str, dict[str, Any]] = {}
        event_subscriptions: dict[str, list[dict[str, Any]]] = {}
        adjusted: set[str] = set()
        transacted: set[str] = set()
        credit_shown: set[str] = set()
        credit_events: list[Mapping[str, Any]] = []
        window_end = timestamps.parse(self.writer.as_of).value / 1e6
        events = 0
        read_ms = ListingLag.now_ms()
        recent_from, recent = read_ms - RECENT_MS, []  # the events of the last minutes this read listed
        try:
            with progress_stage(self.progress, desc="events read", unit=" events") as bar:
                listed = events_since(self.client, base_as_of_ms - overlap, EVENT_TYPES, after)
                for event in door.checked_events(listed):
                    events += 1
                    bar.update(1)
                    kind = str(event.get("event_type", ""))
                    data = event.get("data") or {}
                    cid = _event_customer(event)
                    when = event_ms(event)
                    in_window = when is None or base_as_of_ms < when <= window_end
                    if when is not None and when >= recent_from:
                        recent.append(str(event.get("event_id")))
                    if kind.startswith(("adjustment.", "transaction.")):  # all: re-settling needs the later ones
                        credit_events.append(movement_fields(event))  # nothing else of the payload is kept
                    if kind.startswith("adjustment.") and cid and in_window:
                        adjusted.add(cid)
                    elif kind.startswith("transaction.") and cid and in_window:
                        transacted.add(cid)
                        if _shows_credit(data):
                            credit_shown.add(cid)
                    elif kind.startswith("customer.") and cid:
                        event_customers[cid] = customer_row(data)  # later events win: newest state
                    elif kind.startswith("subscription.") and data.get("id"):
                        event_subscriptions[data["id"]] = subscription_rows(data)
        except (BadRequestError, NotFoundError) as exc:
            log.warning("cannot read events after %s: %s", after, exc)
            return None
        except MalformedDataError as exc:  # one bad event: the window's events cannot be trusted
            log.warning("events not used for this snapshot (after %s): %s; the fetch goes on with strategy %s, "
                        "which reads no events", after, exc, FIRST_STRATEGY)
            return None
        sellers: dict[str, int] = {}  # R1 look-ups, handed to the tail so it never asks twice
        try:  # every event read's movements (R1 may look up seller credits): read before anything is saved
            moved = stream_movements(self.client, credit_events, sellers)[0]
        except MalformedDataError as exc:
            log.warning("events not used for this snapshot (after %s): %s; the fetch goes on with strategy %s, "
                        "which reads no events", after, exc, FIRST_STRATEGY)
            return None
        customers = _replace_rows(base.customers, customers_frame(event_customers.values()), ["customer_id"])
        subs = subscriptions_frame(r for rows in event_subscriptions.values() for r in rows)
        subscriptions = _replace_rows(base.subscriptions, subs, ["subscription_id", "price_id"])
        self.writer.save_frame("customers", customers)
        self.writer.save_frame("subscriptions", subscriptions)
        # the window's movements, saved with the plan so a resumed fetch publishes them without re-reading
        # movements made from every event read (the overlap gives each its history), kept by time: the window
        self.writer.save_frame("movements", in_window_frame(moved, base_as_of_ms, window_end))
        previous_start = base_window_start(self.writer.env_dir, base)
        resettled = resettle_previous(
            self.writer.env_dir, base, moved,
            in_window_frame(moved, previous_start if previous_start is not None else -math.inf, base_as_of_ms),
            timestamps.iso(timestamps.parse(self.writer.as_of)))
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
            "events_read_ms": read_ms,
            "events_recent": [recent_from, recent],
            "resettled_previous": resettled,
            "seller_credits_known": _none_before(sellers, credit_events),
        }

    def balances(self, targets: Iterable[str], desc: str = "balances fetched", *,
                 again: bool = False) -> dict[str, dict[str, Any]]:
        """Fetch every target not yet in the journal (failures are retried on resume); return all results.

        ``targets`` may be a list or a generator still listing; it is read on its own thread. ``desc`` names
        the progress bar (the verification sample has its own). ``again`` reads the targets even when the
        journal has them (a point-in-time second read; the newer record wins).
        """
        journal = self.writer.journal
        results, _ = journal.load()
        finished = frozenset() if again else frozenset(cid for cid, record in results.items() if "rows" in record)
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
        bar = progress_stage(self.progress, total=total, initial=done, desc=desc, unit=" customers")
        last_stats = time.monotonic()
        with bar:
            for count, (cid, rows, error, read) in enumerate(iter_balances(self.client, todo, self.workers), 1):
                record: dict[str, Any] = {"id": cid, "rows": rows, "read": read} if error is None else {
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



def _replace_rows(old: pd.DataFrame, new: pd.DataFrame, sort: list[str]) -> pd.DataFrame:
    """``old`` with every row whose key (``sort[0]``) appears in ``new`` replaced by ``new``'s rows."""
    if new.empty:
        return old
    key = sort[0]
    kept = old[~old[key].isin(set(new[key].tolist()))]
    merged = pd.concat([kept, new], ignore_index=True)
    return merged.sort_values(sort, kind="stable").reset_index(drop=True)


def _none_before(looked_up: Mapping[str, int], events: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The window's R1 look-ups a later stream (the tail, starting after the window's) may reuse: transactions
    with no seller credit approved before the window's stream and none shown in it, so none before any later
    start either. One with a seller credit is asked again: its amount depends on where the stream starts."""
    shown = {str((e.get("data") or {}).get("transaction_id") or "") for e in events
             if str(e.get("event_type", "")).startswith("adjustment.")}
    return {t: 0 for t, amount in looked_up.items() if not amount and t not in shown}


def in_window_frame(moves: pd.DataFrame, start_ms: float, end_ms: float) -> pd.DataFrame:
    """The movements that occurred after ``start_ms`` and at or before ``end_ms`` (a window, by time)."""
    if moves.empty:
        return moves
    epoch = pd.Timestamp(0, tz="UTC")
    times = (pd.to_datetime(moves["occurred_at"], utc=True) - epoch) / pd.Timedelta(milliseconds=1)
    return moves[(times > start_ms) & (times <= end_ms)].reset_index(drop=True)


def rows_by_customer(balances: pd.DataFrame) -> dict[str, list[list[Any]]]:
    """A balances table as ``{customer_id: [[currency, available, reserved, used], ...]}`` (exact ints)."""
    out: dict[str, list[list[Any]]] = {}
    for cid, cur, avail, res, used in zip(
        balances["customer_id"].tolist(), balances["currency_code"].tolist(), balances["available"].tolist(),
        balances["reserved"].tolist(), balances["used"].tolist(), strict=True,
    ):
        out.setdefault(cid, []).append([cur, int(avail), int(res), int(used)])
    return out



def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
