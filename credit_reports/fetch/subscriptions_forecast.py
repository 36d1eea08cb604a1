"""The forecast's one fetch step: the renewal plans of the customers holding credit, from ``GET /subscriptions``.

``GET /subscriptions`` takes ``customer_id`` as a comma list (spec: ``customer_id_query``, ``explode: false``,
no documented maximum) and up to 200 a page; we send 100 ids a call (:data:`BATCH`; halved if Paddle ever
refuses a list that long), so the step costs ``ceil(holders / 100)`` calls plus one per extra page of a batch
whose customers hold more than 200 subscriptions. The listing has what a renewal needs:
``status``, ``next_billed_at``, ``billing_cycle``, ``scheduled_change`` and the items (price x quantity).
*Chosen* (docs/credit-rules.md, "Maturity"): the renewal's amount is the sum of its active recurring items'
``unit_price.amount`` x ``quantity``; where a discount applies or a price's tax is added on top
(``tax_mode: external``) that listed amount is not what the renewal will ask for, the row says so
(``amount_basis``) and the forecast's notes count them. The single-subscription GET (``include=
recurring_transaction_details``) would give the exact total at one call per such subscription; it is not
called, so the cost stays what the docstring says (the report counts the estimated rows instead).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from credit_reports.core.errors import BadRequestError, UsageError
from credit_reports.paddle.client import PaddleClient
from credit_reports.store import files

__all__ = ["BATCH", "PLAN_DTYPES", "RenewalPlans", "fetch_completed_credit", "fetch_renewal_plans", "plan_row",
           "plans_for_snapshot", "plans_frame", "store_renewal_plans"]

log = logging.getLogger("credit_reports.fetch")

#: Customer ids a call: 100 keeps the step near 5% of a daily incremental fetch at 20,000 customers (50 would
#: be 10.7%; docs/benchmarks/maturity.md) and the URL near 3 KB; Paddle documents no maximum.
BATCH = 100
#: The plans table (one row per subscription), as a snapshot stores it (``renewal_plans.parquet``).
PLAN_DTYPES = files.PLAN_DTYPES


@dataclass(frozen=True)
class RenewalPlans:
    """What the step fetched: ``plans`` (one row per subscription, :data:`PLAN_COLUMNS` + ``amount_basis``,
    ``scheduled_action``), ``calls`` (HTTP requests it sent, retries included) and ``customers`` asked about."""

    plans: pd.DataFrame
    calls: int
    customers: int


def _int(value: Any, what: str, sub_id: str) -> int:
    """An amount or quantity Paddle sends as an integer (string); anything else is one clear line."""
    try:
        return int(str(value))
    except (TypeError, ValueError):
        raise UsageError(f"subscription {sub_id}: {what} {value!r} is not an integer") from None


def plan_row(sub: Mapping[str, Any]) -> dict[str, Any]:
    """One subscription as the forecast reads it (see the module docstring for the amount)."""
    sub_id = str(sub.get("id") or "")
    cycle = sub.get("billing_cycle") or {}
    amount, estimated = 0, bool(sub.get("discount"))
    for item in sub.get("items") or ():
        if not item or item.get("status", "active") != "active" or item.get("recurring") is False:
            continue
        price = item.get("price") or {}
        unit = (price.get("unit_price") or {}).get("amount", 0)
        amount += _int(unit, "unit price", sub_id) * _int(item.get("quantity", 1), "quantity", sub_id)
        estimated |= price.get("tax_mode") == "external"
        cycle = cycle or price.get("billing_cycle") or {}
    change = sub.get("scheduled_change") or {}
    action = change.get("action")
    stops = change.get("effective_at") if action in ("cancel", "pause") else None
    inactive = sub.get("canceled_at") or sub.get("paused_at")
    return {"customer_id": sub.get("customer_id"), "subscription_id": sub_id, "status": sub.get("status"),
            "currency_code": sub.get("currency_code"), "next_billed_at": sub.get("next_billed_at"),
            "billing_interval": cycle.get("interval"),
            "billing_frequency": _int(cycle.get("frequency") or 1, "billing frequency", sub_id),
            "amount": amount, "stops_at": stops, "inactive_since": inactive,
            "amount_basis": "list price, before discount or added tax" if estimated else "listed",
            "scheduled_action": action,
            "period_starts_at": (sub.get("current_billing_period") or {}).get("starts_at"),
            "resumes_at": change.get("effective_at") if action == "resume" else None}


def plans_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Plan rows as a typed frame (times UTC), sorted by customer and subscription."""
    frame = pd.DataFrame(list(rows), columns=list(PLAN_DTYPES))
    for name, dtype in PLAN_DTYPES.items():
        if dtype.startswith("datetime"):
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601").astype(dtype)
        else:
            frame[name] = frame[name].astype(dtype)
    return frame.sort_values(["customer_id", "subscription_id"], kind="stable").reset_index(drop=True)


def fetch_renewal_plans(client: PaddleClient, customer_ids: Iterable[str], *, batch: int = BATCH) -> RenewalPlans:
    """Every subscription (any status) of ``customer_ids``, ``batch`` ids a ``GET /subscriptions`` call.

    Paddle documents no maximum for the ``customer_id`` list; should it refuse a batch (400), the batch is
    halved for that call and every later one (one warning line), down to one id, so the step still completes
    and the cost stays close to ``ceil(holders / batch)``. ``calls`` is the client's request count across the
    step, refusals included: run it on a client no other thread uses at the same time.
    """
    if not 1 <= batch <= 200:
        raise UsageError(f"batch must be between 1 and 200 customer ids, not {batch}")
    ids = sorted(set(customer_ids))
    before = client.stats.get("calls", 0)
    rows: list[dict[str, Any]] = []
    start = 0
    while start < len(ids):
        chunk = ids[start:start + batch]
        try:
            found = [plan_row(sub) for sub in client.paginate("/subscriptions", {"customer_id": ",".join(chunk)},
                                                              per_page=200)]
        except BadRequestError:
            if batch == 1:
                raise
            batch = max(1, batch // 2)
            log.warning("Paddle refused %d customer ids in one /subscriptions call; asking %d a call from now on",
                        len(chunk), batch)
            continue
        rows.extend(found)
        start += len(chunk)
    calls = client.stats.get("calls", 0) - before
    log.info("renewal plans: %d subscriptions of %d customers in %d calls", len(rows), len(ids), calls)
    return RenewalPlans(plans_frame(rows), calls, len(ids))


def fetch_completed_credit(client: PaddleClient, customer_ids: Iterable[str], start: str, end: str, *,
                           batch: int = 50) -> pd.DataFrame:
    """The backtest's independent actual: credit applied to the customers' completed transactions last updated
    in (``start``, ``end``] (ISO times), from ``GET /transactions?customer_id=<ids>&status=completed&updated_at[GT]=
    &updated_at[LTE]=`` (30 a page). Columns: customer_id, currency_code, amount (``details.totals.credit``,
    int64), occurred_at (``updated_at``), transaction_id. Paddle has no ``completed_at``: a completed transaction's
    ``updated_at`` is when it completed unless something changed it later, and ``billed_at`` would miss an invoice
    billed before ``start`` (its credit reserved then) and completed in the window. ``credit`` includes seller
    credits on billed invoices (R1), so this actual differs from the movements' ``used`` by exactly those: the
    backtest shows both, and the difference is not hidden.
    """
    rows: list[dict[str, Any]] = []
    ids = sorted(set(customer_ids))
    for first in range(0, len(ids), batch):
        params = {"customer_id": ",".join(ids[first:first + batch]), "status": "completed",
                  "updated_at[GT]": start, "updated_at[LTE]": end}
        for txn in client.paginate("/transactions", params):
            totals = (txn.get("details") or {}).get("totals") or {}
            credit = _int(totals.get("credit", 0) or 0, "credit", str(txn.get("id")))
            if credit > 0:
                rows.append({"customer_id": txn.get("customer_id"), "currency_code": txn.get("currency_code"),
                             "amount": credit, "occurred_at": txn.get("updated_at"),
                             "transaction_id": txn.get("id")})
    frame = pd.DataFrame(rows, columns=["customer_id", "currency_code", "amount", "occurred_at", "transaction_id"])
    frame["amount"] = frame["amount"].astype("int64")
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True, format="ISO8601")
    return frame


def plans_for_snapshot(client: PaddleClient, snapshot: Any, *, batch: int = BATCH) -> RenewalPlans:
    """The renewal plans of the customers holding outstanding credit (available + reserved) in ``snapshot``:
    the one call the close makes for the maturity figures, right after the snapshot's fetch."""
    b = snapshot.balances
    holders = b.loc[(b["available"].astype("int64") + b["reserved"].astype("int64")) > 0, "customer_id"]
    return fetch_renewal_plans(client, holders.astype(str), batch=batch)


#: Why a snapshot gains its renewal plans: the reason of the revision that adds them.
PLANS_REASON = "renewal plans of the credit holders, read after the fetch for the maturity forecast (issue 26)"


def store_renewal_plans(client: PaddleClient, snapshot: Any, *, batch: int = BATCH) -> Any:
    """Fetch ``snapshot``'s renewal plans (:func:`plans_for_snapshot`) and add them to it as a revision through
    the store's one writer (a published snapshot is never edited in place); the manifest records what they cost
    (``renewal_plans``: subscriptions, customers asked about, calls, read_at). Returns the snapshot as readers
    now see it. Takes the environment's lock: call it after the fetch has published and released it."""
    from credit_reports.core import timestamps
    from credit_reports.store.manifests import SnapshotManifest
    from credit_reports.store.writer import StoreWriter, lock_environment

    read_at = timestamps.iso(pd.Timestamp.now(tz="UTC").floor("s"))
    found = plans_for_snapshot(client, snapshot, batch=batch)
    env_dir = snapshot.path.parent
    writer = StoreWriter(env_dir, lock_fd=lock_environment(env_dir))
    try:
        record = SnapshotManifest.from_json(snapshot.manifest)
        record = record.updated(extra={**record.extra, "renewal_plans": {
            "subscriptions": int(len(found.plans)), "customers": found.customers, "calls": found.calls,
            "read_at": read_at}})
        return writer.revise(snapshot, reason=PLANS_REASON, manifest=record, tables={"renewal_plans": found.plans})
    finally:
        writer.close()
