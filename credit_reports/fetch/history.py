"""``credit-reports history`` / ``cr.history(...)``: list every candidate's transactions and adjustments,
rebuild their credit from day one, tie it out to a fetched snapshot, and store reconstructed month ends.

The steps (each checkpointed in ``<env>/.history-<source as-of>/``, so a killed run resumes where it stopped):

1. the candidates: every customer the source snapshot (and the first snapshot) could hold credit for: those
   with a balance row, a subscription or a credit adjustment in it;
2. their transactions (``GET /transactions?customer_id=a,b,...&status=billed,paid,past_due,completed,canceled``,
   30 a page) and adjustments (``GET /adjustments?customer_id=...``, 50 a page), :data:`IDS_PER_REQUEST`
   customers per request, through the same :class:`~credit_reports.paddle.client.PaddleClient` and rate limiter as a
   fetch; each batch is journalled when done;
3. the events of the last 90 days that settle a transaction or an adjustment (``GET /events?event_type=...``),
   which give exact moments inside Paddle's event window;
4. :func:`credit_reports.ledger.rebuild.rebuild`, :func:`~credit_reports.ledger.rebuild.tie_out` at the source's as-of;
5. publishing: ``history.json`` (the tie-out), ``history.parquet`` (every rebuilt movement with its timing)
   and ``tieout.parquet`` beside the source snapshot, the window's movements in it when it has none, and one
   reconstructed snapshot per month end that no fetched snapshot covers (before the first fetched snapshot,
   and inside gaps over 90 days between fetched ones), each marked ``reconstructed`` in its manifest.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from credit_reports._version import __version__
from credit_reports.core.errors import CreditReportsError, StoreError, UsageError
from credit_reports.core.timestamps import folder_name, iso
from credit_reports.figures import metrics
from credit_reports.ledger import rebuild as hist
from credit_reports.store import files
from credit_reports.store import reader as store
from credit_reports.store import writer as snapshot_writer

__all__ = [
    "EVENT_WINDOW",
    "HistoryResult",
    "IDS_PER_REQUEST",
    "TRANSACTION_STATUSES",
    "candidates",
    "fetch_history",
    "history",
    "history_of",
    "run_history",
    "untrusted_movements",
]

log = logging.getLogger("credit_reports.credit_history")

#: Customer ids per ``/transactions`` or ``/adjustments`` request. Paddle documents ``customer_id`` as a
#: comma-separated list without a maximum (openapi.yaml, ``customer_id_query``); 50 ids are about 1,550
#: characters of URL, well inside every proxy's limit. Pages are what cost: a batch's transactions / 30.
IDS_PER_REQUEST = 50
#: Statuses that can move credit (a draft or ready transaction moves none).
TRANSACTION_STATUSES = "billed,paid,past_due,completed,canceled"
CHECKPOINT_PREFIX = ".history-"
EVENT_WINDOW = hist.EVENT_WINDOW  # declared once, in ledger/rules.py


class HistoryResult:
    """What a history run found: the tie-out, the rebuilt movements, the snapshots it wrote."""

    def __init__(self, summary: dict[str, Any], movements: pd.DataFrame, tie: pd.DataFrame,
                 written: list[Path]) -> None:
        self.summary = summary
        self.movements = movements
        self.tie_out = tie
        self.written = written

    @property
    def tie_out_rate(self) -> float:
        return float(self.summary["tie_out"]["rate"])

    @property
    def untrusted(self) -> pd.DataFrame:
        """The customers and currencies that do not tie out, with the difference."""
        return self.tie_out[~self.tie_out["ties_out"]].reset_index(drop=True)

    def __repr__(self) -> str:
        t = self.summary["tie_out"]
        return (f"HistoryResult({self.summary['source_snapshot']}: {t['tied']}/{t['customers']} customers tie out "
                f"({t['rate']:.2%}), {len(self.movements)} movements, {len(self.written)} reconstructed month ends)")


def candidates(snapshot: store.Snapshot, first: store.Snapshot | None = None) -> list[str]:
    """Customers who can hold credit, by the snapshots: a balance row, a subscription or a credit adjustment."""
    ids: set[str] = set()
    for snap in (snapshot, first):
        if snap is None:
            continue
        ids |= set(snap.balances["customer_id"].astype(str))
        ids |= set(snap.subscriptions["customer_id"].dropna().astype(str))
        ids |= set(snap.adjustments["customer_id"].dropna().astype(str))
    return sorted(ids)


def _batches(ids: Sequence[str], size: int) -> list[list[str]]:
    return [list(ids[i:i + size]) for i in range(0, len(ids), size)]


def _list_batch(client: Any, ids: Sequence[str]) -> dict[str, Any]:
    """One batch's transactions and adjustments, in compact form."""
    joined = ",".join(ids)
    txns = [hist.compact_transaction(t) for t in
            client.paginate("/transactions", {"customer_id": joined, "status": TRANSACTION_STATUSES})]
    adjs = [hist.compact_adjustment(a) for a in client.paginate("/adjustments", {"customer_id": joined})]
    return {"transactions": txns, "adjustments": adjs}


def _list_events(client: Any, wanted: set[str] | None = None) -> list[dict[str, Any]]:
    """The settling events of the last 90 days (compact), those of ``wanted`` customers only when given."""
    out = []
    for event in client.paginate("/events", {"event_type": ",".join(hist.EVENT_TYPES)}):
        data = event.get("data") or {}
        if wanted is not None and data.get("customer_id") not in wanted:
            continue
        out.append(hist.compact_event(event))
    return out


def fetch_history(client: Any, customer_ids: Sequence[str], *, checkpoint: Path | None = None,
                  ids_per_request: int = IDS_PER_REQUEST, workers: int = 2, progress: bool = False,
                  events: bool = True) -> tuple[list[dict], list[dict], list[dict], dict[str, Any]]:
    """(transactions, adjustments, events, stats) of ``customer_ids``, listed in batches; with ``checkpoint``
    (a folder) each finished batch is journalled there and a rerun lists only what is missing."""
    from credit_reports.fetch.progress import stage

    batches = _batches(list(customer_ids), max(1, int(ids_per_request)))
    done: dict[str, dict[str, Any]] = {}
    journal = None
    if checkpoint is not None:
        checkpoint.mkdir(parents=True, exist_ok=True)
        journal = snapshot_writer.BalanceJournal(checkpoint / "batches.jsonl", flush_every=1)
        done, _stats = journal.load()
    lock = threading.Lock()
    start_calls = client.stats.get("calls", 0)
    todo = [(i, b) for i, b in enumerate(batches) if f"b{i}" not in done]
    with stage("customers' transactions listed", enabled=progress, total=len(customer_ids), unit="customer",
               initial=sum(len(batches[int(k[1:])]) for k in done if int(k[1:]) < len(batches))) as bar:
        def work(item: tuple[int, list[str]]) -> None:
            i, ids = item
            found = _list_batch(client, ids)
            record = {"id": f"b{i}", **found}
            with lock:
                done[record["id"]] = record
                if journal is not None:
                    journal.append(record)
                bar.update(len(ids))

        with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
            list(pool.map(work, todo))
    if journal is not None:
        journal.close()
    evts: list[dict[str, Any]] = []
    if events:
        saved = checkpoint / "events.json" if checkpoint is not None else None
        if saved is not None and saved.exists():
            evts = json.loads(saved.read_text(encoding="utf-8"))
        else:
            with stage("events of the last 90 days", enabled=progress, unit="page"):
                evts = _list_events(client, set(customer_ids))
            if saved is not None:
                files.write_json_atomic(saved, evts)
    txns = [t for k in sorted(done) for t in done[k]["transactions"]]
    adjs = [a for k in sorted(done) for a in done[k]["adjustments"]]
    stats = {"calls": client.stats.get("calls", 0) - start_calls, "batches": len(batches),
             "batches_resumed": len(batches) - len(todo), "ids_per_request": int(ids_per_request)}
    return txns, adjs, evts, stats


# -- where reconstructed month ends go ------------------------------------------------------------------


def _uncovered_month_ends(ends: Sequence[pd.Timestamp], fetched: Sequence[store.Snapshot],
                          source: store.Snapshot) -> list[pd.Timestamp]:
    """Month ends no fetched snapshot stands for: before the first fetched snapshot, or inside a gap of more
    than 90 days between two fetched ones (Paddle's events could not bridge it); never after the source."""
    times = sorted(s.as_of for s in fetched)
    out = []
    for end in ends:
        if end >= source.as_of:
            continue
        before = [t for t in times if t <= end]
        after = [t for t in times if t > end]
        if not before or (after and after[0] - before[-1] > EVENT_WINDOW):
            out.append(end)
    return out


def _frame_of(rows: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    return files.conform(rows, dtypes)[list(dtypes)].reset_index(drop=True)


def _write_reconstructed(writer: snapshot_writer.StoreWriter, *, balances: pd.DataFrame, customers: pd.DataFrame,
                         subscriptions: pd.DataFrame, movements: pd.DataFrame, manifest: dict[str, Any]) -> Path:
    """One reconstructed month end, published through the store's one writer (a new snapshot, or a revision of
    an earlier reconstruction of the same month end when its figures changed; never over a fetched snapshot)."""
    record = {**manifest, "totals": metrics.headline(balances)}
    try:
        snap = writer.publish_snapshot(record, tables={
            "balances": balances, "customers": customers, "subscriptions": subscriptions, "movements": movements},
            reason=f"history rebuilt again from {manifest.get('source_snapshot')}")
    except CreditReportsError as exc:
        raise StoreError(str(exc)) from None
    return snap.path


def _balance_rows(balances: pd.DataFrame) -> int:
    return int(len(balances))


def _summary(source: store.Snapshot, tie: pd.DataFrame, moves: pd.DataFrame, stats: Mapping[str, Any],
             seconds: float, n_candidates: int, n_events: int) -> dict[str, Any]:
    trusted = hist.trusted_customers(tie)
    customers = set(tie["customer_id"].astype(str))
    untrusted = sorted(customers - trusted)
    bad = tie[~tie["ties_out"]]
    first_credit = moves["occurred_at"].min() if len(moves) else None
    negative = hist.negative_balances(moves)
    if negative:  # a credit balance is never negative: a rule dated a movement wrongly, or one is missing
        log.warning("%d customer-currenc%s rebuilt below zero at some moment (history.json negative_balances), "
                    "first %s %s at %s", len(negative), "y" if len(negative) == 1 else "ies",
                    negative[0]["customer_id"], negative[0]["currency_code"], negative[0]["at"])
    return {
        "source_snapshot": source.name,
        "as_of": iso(source.as_of),
        "candidates": n_candidates,
        "tie_out": {
            "customers": len(customers), "tied": len(trusted), "untrusted": len(untrusted),
            "rate": (len(trusted) / len(customers)) if customers else 1.0,
            "untrusted_customer_ids": untrusted,
            "differences": [
                {"customer_id": str(r.customer_id), "currency_code": str(r.currency_code),
                 "available": int(r.difference_available), "reserved": int(r.difference_reserved),
                 "used": int(r.difference_used)} for r in bad.itertuples()],
        },
        "negative_balances": negative,
        "movements": int(len(moves)),
        "estimated_timing_movements": int(moves["estimated"].sum()) if len(moves) else 0,
        "timing": {str(k): int(v) for k, v in moves["timing"].value_counts().items()} if len(moves) else {},
        "first_credit": iso(first_credit) if first_credit is not None else None,
        "events_read": n_events,
        "api_calls": int(stats.get("calls", 0)),
        "batches": int(stats.get("batches", 0)),
        "batches_resumed": int(stats.get("batches_resumed", 0)),
        "ids_per_request": int(stats.get("ids_per_request", IDS_PER_REQUEST)),
        "seconds": round(seconds, 3),
        "toolkit_version": __version__,
    }


def _publish(data_dir: Any, source: store.Snapshot, moves: pd.DataFrame, tie: pd.DataFrame,
             summary: dict[str, Any]) -> list[Path]:
    """Store the history beside the source and the reconstructed month ends; returns the folders written."""
    writer = snapshot_writer.StoreWriter(source.path.parent)  # run_history holds the environment's lock
    writer.remove_stale()  # a reconstruction a kill left unfinished was never visible
    trusted = hist.trusted_customers(tie)
    trusted_moves = moves[moves["customer_id"].isin(sorted(trusted))]
    fetched = store.fetched_snapshots(data_dir, source.environment)
    written: list[Path] = []
    if len(moves):
        first = moves["occurred_at"].min()  # the opening month end is the one before the first credit's month
        start = pd.Timestamp(year=first.year, month=first.month, day=1, tz="UTC") - pd.DateOffset(months=1)
        ends = _uncovered_month_ends(hist.month_ends(start, source.as_of), fetched, source)
    else:
        ends = []
    labels = hist.estimated_month_ends(trusted_moves, ends)
    previous: pd.Timestamp | None = None
    customers, subs = source.customers, source.subscriptions
    for end in ends:
        window = trusted_moves[(trusted_moves["occurred_at"] <= end)
                               & ((trusted_moves["occurred_at"] > previous) if previous is not None else True)]
        balances = hist.balances_at(trusted_moves, end)
        estimated = sorted(labels.get(end, set()))
        manifest = {
            "as_of": iso(end), "environment": source.environment, "base_url": source.manifest.get("base_url"),
            "strategy": "reconstructed", "reconstructed": True, "complete": True, "evidence": True,
            "evidence_source": "transactions",
            "base_snapshot": folder_name(previous) if previous is not None else None,
            "source_snapshot": source.name,
            "counts": {"customers": int(balances["customer_id"].nunique()), "balance_rows": _balance_rows(balances),
                       "movements": int(len(window))},
            "tie_out_rate": summary["tie_out"]["rate"],
            "untrusted_customer_ids": summary["tie_out"]["untrusted_customer_ids"],
            "estimated_timing": {"customers": len(estimated), "customer_ids": estimated},
            "label": ("estimated timing: a movement of uncertain date could move this month end for "
                      f"{len(estimated)} customer(s)") if estimated else None,
            "api_calls": 0, "seconds": 0.0, "toolkit_version": __version__,
        }
        created = customers["created_at"]
        written.append(_write_reconstructed(
            writer, balances=_frame_of(balances, files.BALANCE_DTYPES),
            customers=customers[created.isna() | (created <= end)],
            subscriptions=subs[subs["created_at"].isna() | (subs["created_at"] <= end)], movements=window,
            manifest=manifest))
        previous = end
    manifest = source.manifest.to_json()
    # the source's own window gets the rebuilt movements when it read no events (a first fetch): evidence from
    # transaction ids, from the last reconstructed month end up to its as-of
    own_window = previous is not None and not any(previous < s.as_of < source.as_of for s in fetched) and (
        not source.has_movements or (source.manifest.get("history") or {}).get("window_base"))
    tables = {}
    if own_window:
        tables["movements"] = trusted_moves[(trusted_moves["occurred_at"] > previous)
                                            & (trusted_moves["occurred_at"] <= source.as_of)]
        summary = {**summary, "window_base": folder_name(previous)}
    manifest["history"] = summary
    # one revision of the source (store/revisions.py): the history's files and manifest appear together or not
    # at all, and the snapshot as fetched stays on disk as revision 0
    writer.revise(source, reason=f"credit-reports history: rebuilt from day one, tied out at {source.name}",
                  manifest=manifest, tables=tables, documents={"history.json": summary},
                  extra_tables={"history": (moves, hist.HISTORY_DTYPES), "tieout": (tie, hist.TIE_OUT_DTYPES)})
    return written


def run_history(client: Any, snapshot: Any = "latest", *, data_dir: Any = None, environment: str | None = None,
                ids_per_request: int = IDS_PER_REQUEST, workers: int = 2, progress: bool = True,
                events: bool = True) -> HistoryResult:
    """Rebuild every candidate's credit from day one against a fetched ``snapshot`` (default the newest),
    tie it out, and store the history and the reconstructed month ends (see the module docstring)."""
    started = time.monotonic()
    source = store.load_snapshot(snapshot, data_dir=data_dir, environment=environment)
    if source.manifest.get("reconstructed"):
        raise UsageError(f"{source.name} is a reconstructed snapshot; run history against a fetched one")
    if not source.complete:
        raise UsageError(f"{source.name} is incomplete; fetch again to complete it, then run history")
    env_dir = source.path.parent
    fetched = store.fetched_snapshots(data_dir, source.environment)
    first = fetched[0] if fetched else None
    ids = candidates(source, first)
    lock = snapshot_writer.lock_environment(env_dir)
    try:
        checkpoint = env_dir / f"{CHECKPOINT_PREFIX}{source.name}"
        state_path = checkpoint / "state.json"
        state = json.loads(state_path.read_text()) if state_path.exists() else {}
        if state and (state.get("ids_per_request") != ids_per_request or state.get("candidates") != len(ids)):
            shutil.rmtree(checkpoint, ignore_errors=True)  # a different plan: the batches do not line up
        checkpoint.mkdir(parents=True, exist_ok=True)
        files.write_json_atomic(state_path, {"source": source.name, "ids_per_request": ids_per_request,
                                             "candidates": len(ids)})
        txns, adjs, evts, stats = fetch_history(client, ids, checkpoint=checkpoint, ids_per_request=ids_per_request,
                                                workers=workers, progress=progress, events=events)
        moves = hist.rebuild(txns, adjs, evts)
        tie = hist.tie_out(moves, source.balances, source.as_of)
        moves_at = moves[moves["occurred_at"] <= source.as_of].reset_index(drop=True)
        summary = _planned_summary(checkpoint, lambda: _summary(source, tie, moves_at, stats,
                                                                time.monotonic() - started, len(ids), len(evts)))
        written = _publish(data_dir, source, moves_at, tie, summary)
        shutil.rmtree(checkpoint, ignore_errors=True)
    finally:
        snapshot_writer.unlock_environment(lock)
    summary = json.loads(store.Snapshot.from_path(source.path).file("history.json").read_text(encoding="utf-8"))
    return HistoryResult(summary, moves_at, tie, written)


def _planned_summary(checkpoint: Path, compute: Any) -> dict[str, Any]:
    """The run's summary, journalled in the checkpoint before anything is published: a run resumed after a
    kill while publishing writes the very summary (calls, seconds) the killed one began to write, so the store
    ends byte for byte as one uninterrupted run leaves it (issue 28 point 3)."""
    plan = checkpoint / "plan.json"
    if plan.exists():
        return json.loads(plan.read_text(encoding="utf-8"))
    summary = compute()
    files.write_json_atomic(plan, summary)
    return json.loads(plan.read_text(encoding="utf-8"))


def untrusted_movements(result: HistoryResult) -> pd.DataFrame:
    """The rebuilt movements of the customers who do not tie out (what the report lists beside them)."""
    bad = set(result.untrusted["customer_id"].astype(str))
    return result.movements[result.movements["customer_id"].isin(sorted(bad))].reset_index(drop=True)


def history_of(customer_ids: Iterable[str], snapshot: Any = "latest", *, data_dir: Any = None,
               environment: str | None = None) -> pd.DataFrame:
    """The stored rebuilt movements (``history.parquet`` beside ``snapshot``), of some customers when given."""
    source = store.load_snapshot(snapshot, data_dir=data_dir, environment=environment)
    path = source.file("history.parquet")
    if not path.exists():
        raise UsageError(f"{source.name} has no history; run `credit-reports history` first")
    frame = files.read_table(path, hist.HISTORY_DTYPES)
    wanted = list(customer_ids)
    return frame[frame["customer_id"].isin(wanted)].reset_index(drop=True) if wanted else frame


def history(
    snapshot: Any = "latest",
    *,
    client: Any = None,
    data_dir: str | os.PathLike[str] | None = None,
    environment: str | None = None,
    max_rpm: int = 240,
    ids_per_request: int = IDS_PER_REQUEST,
    workers: int = 2,
    progress: bool = True,
) -> HistoryResult:
    """Rebuild every customer's credit from day one against ``snapshot`` (a fetched one, default the newest)
    and store the reconstructed month ends beside it; see :func:`run_history`.

    ``client`` defaults to a :class:`~credit_reports.paddle.client.PaddleClient` from ``PADDLE_API_KEY`` and
    ``PADDLE_ENVIRONMENT`` at ``max_rpm``. Returns a :class:`HistoryResult`: ``.summary`` (what the manifest
    records), ``.tie_out`` (per customer and currency), ``.untrusted``, ``.movements``, ``.written``.
    """
    from credit_reports.paddle.client import PaddleClient

    own = client is None
    if own:
        client = PaddleClient(max_rpm=max_rpm)
    try:
        return run_history(client, snapshot, data_dir=data_dir, environment=environment,
                           ids_per_request=ids_per_request, workers=workers, progress=progress)
    finally:
        if own:
            client.close()


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
