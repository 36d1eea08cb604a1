"""Which first snapshot costs fewer calls, and the incremental's rotating verification sample (issue 27).

**The first snapshot chosen by cost.** Two plans are complete by Paddle's rule that credit is created only by a
prorated subscription change (docs/credit-rules.md, "Where credit comes from"):

``subscribers``
    read every customer with a subscription, every customer of a ``credit`` adjustment, and every other
    customer named on a subscription transaction (checked 50 a call): about one call per subscriber.
``credit-transactions``
    list the transactions that can create credit (``origin=subscription_update,subscription_recurring``, 30 a
    page) and the ``credit`` adjustments, and read only the customers on a transaction whose
    ``credit_to_balance`` is above zero (or unreadable) and the customers of a credit adjustment applied to the
    balance: one call per page of those transactions plus one per customer ever credited. Transfers are
    covered (a transaction keeps the customer it credited, R3), and so are renewal-only credit and legacy
    adjustments.

The listing plan's pages grow with the account's age (every renewal is listed) and its reads with the customers
ever credited; the subscribers plan's reads grow with the subscribers. :func:`choose_first` reads the listings'
``meta.pagination.estimated_total`` (one call each), estimates both plans' calls and picks the cheaper.

**The incremental's rotating sample.** The events prove who changed; the sample only checks the skip rule. An
incremental checks a small slice of the skipped customers, taken in the order of a stable hash of their id and
continued from where the previous snapshot's slice stopped (``verification.rotation`` in its manifest), so every
customer skipped throughout is checked within ``runs_per_cycle`` runs.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from credit_reports.core.errors import BadRequestError, NotFoundError, PermissionDeniedError
from credit_reports.core.money import parse_minor
from credit_reports.fetch.readers import progress_stage, until_stopped
from credit_reports.ledger.movements import adjustments_frame

if TYPE_CHECKING:
    import threading

    from credit_reports.paddle.client import PaddleClient
    from credit_reports.store.writer import SnapshotWriter

__all__ = ["CREDIT_TRANSACTIONS", "FIRST_PLANS", "PlanRun", "ROTATION_RUNS", "choose_first", "estimated_calls",
           "forced_plan", "list_credit_named", "rotating_sample"]

log = logging.getLogger("credit_reports.fetch")

SUBSCRIBERS = "subscribers"


class PlanRun(Protocol):
    """What a plan needs of the snapshot run that drives it (fetch/strategies.SnapshotRun): its client, its
    checkpointing writer, its progress owner and its stop flag. A protocol, so plans never import the run."""

    client: PaddleClient
    writer: SnapshotWriter
    progress: Any
    stop: threading.Event
CREDIT_TRANSACTIONS = "credit-transactions"
#: The two complete first-snapshot plans, the established one first (it wins a tie).
FIRST_PLANS = (SUBSCRIBERS, CREDIT_TRANSACTIONS)
#: The transaction origins that can create credit (docs/credit-rules.md).
CREDIT_ORIGINS = "subscription_update,subscription_recurring"
#: Page sizes Paddle allows (customers and subscriptions 200, adjustments 50, transactions 30) and the ids one
#: former-subscriber check names.
LIST_PAGE, ADJUSTMENT_PAGE, TRANSACTION_PAGE, FORMER_BATCH = 200, 50, 30, 50
#: Paddle's ``estimated_total`` is exact up to 100,000 and reads 100,001 beyond: then it is a lower bound.
TOTAL_CAP = 100_000
#: Past Paddle's count, the credit-creating transactions are counted by halving their creation dates: at most
#: this many more one-item calls, from this date on (Paddle Billing started in 2023).
COUNT_CALLS, COUNT_FROM = 48, datetime(2015, 1, 1, tzinfo=UTC)
#: The first snapshot's verification sample (strategies.py draws it; repeated here to cost it).
FIRST_SAMPLE, FIRST_SAMPLE_MIN, FIRST_SAMPLE_MAX = 0.02, 50, 500

#: An incremental's sample covers every skipped customer within this many runs (a year of daily refreshes);
#: at least ROTATION_MIN customers a run, so a small account is swept in a few runs.
ROTATION_RUNS = 365
ROTATION_MIN = 20


# -- the first snapshot chosen by cost ---------------------------------------------------------------


def _estimated_total(client: PaddleClient, path: str, params: Mapping[str, Any]) -> int | None:
    """``meta.pagination.estimated_total`` of a listing (one call of one item); None when the key may not read
    it or Paddle sent no total."""
    try:
        body = client.get(path, {**params, "per_page": 1})
    except (PermissionDeniedError, NotFoundError, BadRequestError) as exc:
        log.info("no estimated total for %s: %s", path, type(exc).__name__)
        return None
    total = ((body.get("meta") or {}).get("pagination") or {}).get("estimated_total")
    return int(total) if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _counted_past_cap(client: PaddleClient, origin: str) -> tuple[int | None, bool]:
    """(count, exact) of the transactions of ``origin`` when Paddle's count says only "over 100,000": the sum of
    the counts of creation-date ranges, each range still over the cap halved, within :data:`COUNT_CALLS` calls.
    A range left over the cap counts as 100,001, and the count is then a lower bound (``exact`` False)."""
    ranges = [(COUNT_FROM, datetime.now(UTC) + timedelta(days=1))]
    total, calls, exact = 0, 0, True
    while ranges:
        start, end = ranges.pop()
        middle = start + (end - start) / 2
        halves = [(start, middle), (middle, end)] if calls + 2 <= COUNT_CALLS and end - start > timedelta(hours=1) \
            else []
        if not halves:
            total, exact = total + TOTAL_CAP + 1, False
            continue
        for low, high in halves:
            calls += 1
            count = _estimated_total(client, "/transactions", {"origin": origin, "created_at[GTE]": _stamp(low),
                                                               "created_at[LT]": _stamp(high)})
            if count is None:
                return None, False
            if count > TOTAL_CAP:
                ranges.append((low, high))
            else:
                total += count
    return total, exact


def listing_totals(client: PaddleClient) -> dict[str, Any]:
    """The estimated totals both plans are costed from: customers, subscriptions, credit adjustments, the
    transactions that can create credit, and those of them that are subscription changes (5 calls; a few dozen
    more when the transactions are over Paddle's count of 100,000). ``credit_transactions_exact`` is False when
    even the date ranges left one over that count: the listing's cost is then only bounded below."""
    totals = {
        "customers": _estimated_total(client, "/customers", {"status": "active,archived"}),
        "subscriptions": _estimated_total(client, "/subscriptions", {}),
        "credit_adjustments": _estimated_total(client, "/adjustments", {"action": "credit"}),
        "credit_transactions": _estimated_total(client, "/transactions", {"origin": CREDIT_ORIGINS}),
        "update_transactions": _estimated_total(client, "/transactions", {"origin": "subscription_update"}),
    }
    exact = True
    for key, origin in (("credit_transactions", CREDIT_ORIGINS), ("update_transactions", "subscription_update")):
        if (totals[key] or 0) > TOTAL_CAP:
            totals[key], counted = _counted_past_cap(client, origin)
            exact = exact and counted
    return {**totals, "credit_transactions_exact": exact}


def _first_sample(skipped: int) -> int:
    """The first snapshot's verification sample for ``skipped`` customers (as strategies.py draws it)."""
    if skipped <= 0:
        return 0
    return min(skipped, max(FIRST_SAMPLE_MIN, min(FIRST_SAMPLE_MAX, math.ceil(FIRST_SAMPLE * skipped))))


def estimated_calls(totals: Mapping[str, Any]) -> dict[str, int | None]:
    """Each plan's calls from the listings' totals (None: that plan cannot be costed).

    Both list the customers and subscriptions (the snapshot keeps them) and the credit adjustments. On top:

    - ``subscribers``: one read per subscriber, estimated by the subscriptions (a customer has one or more),
      the other customers checked 50 a call, and the sample of those skipped;
    - ``credit-transactions``: the pages of the transactions that can create credit, one read per customer they
      credit, estimated by the subscription-change transactions plus the credit adjustments (each names at most
      one customer; upgrades are in it, renewal-only credit is not), capped at the subscribers, and the sample.
    """
    customers, subscriptions = totals.get("customers"), totals.get("subscriptions")
    adjustments = totals.get("credit_adjustments") or 0
    if customers is None:
        return {SUBSCRIBERS: None, CREDIT_TRANSACTIONS: None}
    common = math.ceil(customers / LIST_PAGE) + math.ceil((subscriptions or 0) / LIST_PAGE) + \
        math.ceil(adjustments / ADJUSTMENT_PAGE)
    # without subscription.read the subscribers plan reads everyone
    readers = customers if subscriptions is None else min(customers, subscriptions + adjustments)
    skipped = customers - readers
    by_subscribers = common + readers + math.ceil(skipped / FORMER_BATCH) + _first_sample(skipped)
    transactions, updates = totals.get("credit_transactions"), totals.get("update_transactions")
    if transactions is None or updates is None:
        return {SUBSCRIBERS: by_subscribers, CREDIT_TRANSACTIONS: None}
    named = min(readers, updates + adjustments)
    by_listing = common + math.ceil(transactions / TRANSACTION_PAGE) + named + _first_sample(customers - named)
    return {SUBSCRIBERS: by_subscribers, CREDIT_TRANSACTIONS: by_listing}


def choose_first(client: PaddleClient) -> tuple[str, dict[str, Any]]:
    """The cheaper complete first-snapshot plan and its record for the manifest (``plan``):
    ``{chosen, forced, reason, estimated_calls, estimated_totals}``. Says which and why in one log line."""
    totals = listing_totals(client)
    calls = estimated_calls(totals)
    by_subscribers, by_listing = calls[SUBSCRIBERS], calls[CREDIT_TRANSACTIONS]
    transactions = totals.get("credit_transactions")
    if by_listing is None:
        chosen, why = SUBSCRIBERS, "the credit-creating transactions cannot be counted (no transaction.read?)"
    elif not totals.get("credit_transactions_exact", True):
        chosen = SUBSCRIBERS
        why = (f"over {TOTAL_CAP:,} credit-creating transactions in a single creation-date range (Paddle counts no "
               "further, and halving the dates did not bring every range under it): at least "
               f"{math.ceil(transactions / TRANSACTION_PAGE):,} pages, against about {by_subscribers:,} calls")
    elif by_subscribers is None or by_listing < by_subscribers:
        chosen = CREDIT_TRANSACTIONS
        why = (f"about {by_listing:,} calls against {by_subscribers:,} for {SUBSCRIBERS}: "
               f"{math.ceil((transactions or 0) / TRANSACTION_PAGE):,} pages of {transactions:,} subscription "
               "transactions cost less than reading every subscriber")
    else:
        chosen = SUBSCRIBERS
        why = (f"about {by_subscribers:,} calls against {by_listing:,} for {CREDIT_TRANSACTIONS}: reading every "
               f"subscriber costs less than {math.ceil((transactions or 0) / TRANSACTION_PAGE):,} pages of "
               f"{transactions:,} subscription transactions")
    log.info("first snapshot plan %s: %s", chosen, why)
    return chosen, {"chosen": chosen, "forced": False, "reason": why, "estimated_calls": calls,
                    "estimated_totals": totals}


def forced_plan(strategy: str) -> dict[str, Any]:
    """The manifest's ``plan`` when ``--strategy`` named the plan (no estimate is read: no calls spent)."""
    return {"chosen": strategy, "forced": True, "reason": f"--strategy {strategy}", "estimated_calls": None,
            "estimated_totals": None}


def _credits_balance(transaction: Mapping[str, Any]) -> bool:
    """Whether a transaction puts credit on the balance (``credit_to_balance`` > 0; unreadable counts as yes:
    reading a customer too many costs one call, missing one costs a wrong total)."""
    totals = ((transaction.get("details") or {}).get("totals")) or {}
    try:
        return parse_minor(totals.get("credit_to_balance") or "0") > 0
    except (TypeError, ValueError):
        return True


def list_credit_named(run: PlanRun) -> Iterator[str]:
    """``credit-transactions``: each customer credited on a transaction or by a credit adjustment applied to the
    balance, once, as pages arrive. Saves the adjustments, the sources and the candidates at the end (resume).

    Without ``transaction.read`` nothing proves who was credited: one warning, ``credit_listing_unavailable``
    saved, and the verification fetches every customer."""
    writer, client = run.writer, run.client
    seen: dict[str, None] = {}
    pages = 0
    unavailable = None
    try:
        with progress_stage(run.progress, desc="credit transactions listed", unit=" txns") as bar:
            for count, txn in enumerate(until_stopped(run.stop, client.paginate(
                    "/transactions", {"origin": CREDIT_ORIGINS, "per_page": TRANSACTION_PAGE})), 1):
                bar.update(1)
                pages = math.ceil(count / TRANSACTION_PAGE)
                cid = txn.get("customer_id")
                if cid and cid not in seen and _credits_balance(txn):
                    seen[cid] = None
                    yield cid
    except PermissionDeniedError:
        log.warning("the key lacks transaction.read: the customers credited on transactions cannot be listed, "
                    "so every customer is fetched")
        unavailable = "the key lacks transaction.read"
    on_transactions = len(seen)
    listed: list[Mapping[str, Any]] = []
    try:
        for adjustment in until_stopped(run.stop, client.paginate("/adjustments", {"action": "credit"})):
            listed.append(adjustment)
            cid = adjustment.get("customer_id")
            if cid and cid not in seen and adjustment.get("credit_applied_to_balance") is not False:
                seen[cid] = None
                yield cid
    except PermissionDeniedError:
        log.warning("the key lacks adjustment.read: customers of credit adjustments (credit before 11 March 2024) "
                    "are not listed; the verification sample checks that none holds credit")
    writer.save_frame("adjustments", adjustments_frame(listed))
    writer.save_json("credit_listing_unavailable", unavailable)
    writer.save_json("candidate_sources", {"credit_transactions": on_transactions,
                                           "credit_adjustments": len(seen) - on_transactions,
                                           "transaction_pages": pages})
    writer.save_json("candidates", list(seen))
    log.info("%d customers were ever credited (%d on transactions, %d by credit adjustments)", len(seen),
             on_transactions, len(seen) - on_transactions)


# -- the incremental's rotating sample ---------------------------------------------------------------


def _rank(customer_id: str) -> str:
    """A customer's place in the rotation: a stable hash of the id (same on every run and machine), so the
    slices are spread over the account like a random sample yet each customer keeps its place."""
    return hashlib.sha256(customer_id.encode()).hexdigest()[:16]


def rotating_sample(skipped: list[str], previous: Mapping[str, Any] | None) -> tuple[list[str], dict[str, Any]]:
    """The incremental's slice of ``skipped`` and the rotation state to record (``verification.rotation``).

    The slice is the next ``size`` customers in hash order after ``previous["cursor"]`` (from the start when the
    base recorded none), wrapping round; ``size = max(ROTATION_MIN, ceil(skipped / ROTATION_RUNS))``, so a sweep
    takes ``runs_per_cycle`` (at most ROTATION_RUNS) runs. ``cycle`` counts the completed sweeps.
    """
    previous = previous or {}
    if not skipped:
        return [], {"cursor": previous.get("cursor", ""), "cycle": int(previous.get("cycle", 0)), "size": 0,
                    "runs_per_cycle": 0}
    size = min(len(skipped), max(ROTATION_MIN, math.ceil(len(skipped) / ROTATION_RUNS)))
    ranked = sorted(skipped, key=_rank)
    cursor = str(previous.get("cursor") or "")
    start = next((i for i, cid in enumerate(ranked) if _rank(cid) > cursor), len(ranked))
    taken = ranked[start:start + size]
    cycle = int(previous.get("cycle", 0))
    if len(taken) < size:  # the sweep ends in this slice: wrap round to the lowest hashes
        taken += ranked[:size - len(taken)]
        cycle += 1
    state = {"cursor": _rank(taken[-1]), "cycle": cycle, "size": size,
             "runs_per_cycle": math.ceil(len(skipped) / size)}
    return taken, state


def rotation_of(manifest: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The rotation state a snapshot's manifest recorded (None for a first snapshot or an older manifest)."""
    verification = (manifest or {}).get("verification") or {}
    rotation = verification.get("rotation")
    return rotation if isinstance(rotation, dict) else None


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
