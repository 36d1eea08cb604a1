"""Re-settling the previous snapshot after the fact (docs/credit-rules.md, "The window of a snapshot", point 5).

A fetch corrects its balance reads to its as-of with the events Paddle lists by then. An event listed later than
the fetch waited (Paddle documents no bound) leaves that correction short, and leaves the window without a
movement that occurred in it. The fetch stores every balance read it corrected, with its timing
(:data:`READS_FILE` in the snapshot); the next fetch, whose window re-reads the events from the previous as-of
minus the overlap, re-runs that correction from the stored reads against the events now listed (no balance
call) and adds the movements of the previous window it now sees. When either differs from what was published,
the previous snapshot gets a new revision with the reason (store/revisions.py; never an edit in place), and the
new snapshot's manifest records what changed (``point_in_time.resettled_previous``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from credit_reports.core import timestamps
from credit_reports.fetch.point_in_time import (
    balance_value,
    by_customer,
    clock_offset,
    read_interval,
    rows_of,
    settle_reads,
)
from credit_reports.store.files import write_json_atomic
from credit_reports.store.reader import Snapshot, usable_snapshot
from credit_reports.store.writer import StoreWriter, snapshot_totals

__all__ = ["READS_FILE", "resettle_previous", "write_reads"]

log = logging.getLogger("credit_reports.fetch")

#: The file of a published snapshot that keeps the balance reads its correction used.
READS_FILE = "point_in_time_reads.json"
#: The most differences a manifest lists one by one (the count is always complete).
LISTED = 50


def write_reads(folder: Path, reads: list[dict[str, Any]], clock_read: Mapping[str, Any] | None = None) -> None:
    """Keep a fetch's corrected reads (and the answer that bounded Paddle's clock) in its working folder, which
    is published as the snapshot."""
    write_json_atomic(folder / READS_FILE, {"version": 1, "clock_read": clock_read, "customers": reads})


def _stored_reads(snapshot: Snapshot) -> tuple[list[dict[str, Any]], Any] | None:
    """(the reads a snapshot kept, the answer that bounded Paddle's clock), None when it kept none."""
    path = snapshot.file(READS_FILE)
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        return list(stored.get("customers") or []), stored.get("clock_read")
    except (OSError, ValueError, AttributeError):
        return None


def resettle_previous(env_dir: Path, previous: Snapshot, moves: pd.DataFrame, window_moves: pd.DataFrame,
                      as_of: str) -> dict[str, Any] | None:
    """Re-settle ``previous`` from its stored reads against ``moves`` (every movement of the events now listed
    around its as-of) and complete its window with ``window_moves`` (the movements now seen in it); revise it
    when anything differs. Returns what was found (for the new manifest), None when there was nothing to do."""
    pit = previous.manifest.get("point_in_time") or {}
    kept = _stored_reads(previous)
    if not pit.get("corrected") or kept is None:
        return None
    stored, clock_read = kept
    as_of_ms = previous.as_of.value / 1e6
    every_read = [r["read"] for c in stored for r in c["reads"] if isinstance(r.get("read"), Mapping)]
    if isinstance(clock_read, Mapping) and clock_read.get("date_s") is not None:
        every_read.append(clock_read)
    offset = clock_offset(every_read)
    moves_of = by_customer(moves)
    published = _rows(previous.balances)
    changed: dict[str, list[list[Any]]] = {}
    disagree: list[str] = []
    for entry in stored:
        cid = str(entry["customer_id"])
        mine = moves_of.get(cid)
        if not mine:
            continue
        reads = [(r["rows"], read_interval(r["read"], offset)) for r in entry["reads"]
                 if isinstance(r.get("read"), Mapping)]
        if not reads:
            continue
        status, value, _ = settle_reads(reads, mine, as_of_ms)
        if status == "disagree":
            disagree.append(cid)  # named, never "corrected" to a figure no read supports
        if status != "settled" or value is None:
            continue
        before = balance_value({row[0]: list(row[1:]) for row in published.get(cid, [])})
        if value != before:
            changed[cid] = rows_of(value, entry["reads"][-1]["rows"])
    added = _added_movements(previous, window_moves)
    found = {"snapshot": previous.name, "customers_changed": len(changed), "movements_added": int(len(added)),
             "reads_disagree_customer_ids": sorted(disagree), "revision": None}
    if not changed and added.empty:
        return found
    found["differences"] = _differences(published, changed)[:LISTED]
    found["revision"] = _revise(env_dir, previous, published, changed, added, found, as_of)
    log.warning("re-settled %s after the fact: %d customer(s) changed, %d movement(s) added to its window (events "
                "Paddle listed late); revision %s", previous.name, len(changed), len(added), found["revision"])
    return found


def _rows(balances: pd.DataFrame) -> dict[str, list[list[Any]]]:
    out: dict[str, list[list[Any]]] = {}
    for cid, cur, a, r, u in balances[["customer_id", "currency_code", "available", "reserved", "used"]].itertuples(
            index=False):
        out.setdefault(str(cid), []).append([str(cur), int(a), int(r), int(u)])
    return out


def _added_movements(previous: Snapshot, window_moves: pd.DataFrame) -> pd.DataFrame:
    """The movements of ``window_moves`` the previous snapshot's window lacks (by identity), when it has one."""
    if window_moves.empty or not previous.manifest.get("evidence") or previous.movements is None:
        return window_moves.iloc[0:0]
    have = previous.movements
    key = have["adjustment_id"].where(have["adjustment_id"] != "", have["transaction_id"])
    known = set(zip(have["kind"].tolist(), key.tolist(), strict=True))
    new_key = window_moves["adjustment_id"].where(window_moves["adjustment_id"] != "", window_moves["transaction_id"])
    mask = [(k, v) not in known for k, v in zip(window_moves["kind"].tolist(), new_key.tolist(), strict=True)]
    return window_moves[mask]


def _differences(published: Mapping[str, list[list[Any]]], changed: Mapping[str, list[list[Any]]]) -> list[dict]:
    """Per customer and currency, the change (new minus published) of available, reserved and used."""
    out = []
    for cid, rows in sorted(changed.items()):
        old = {r[0]: r[1:] for r in published.get(cid, [])}
        new = {r[0]: r[1:] for r in rows}
        for code in sorted(set(old) | set(new)):
            a, b = old.get(code, [0, 0, 0]), new.get(code, [0, 0, 0])
            delta = [int(y) - int(x) for x, y in zip(a, b, strict=True)]
            if any(delta):
                out.append({"customer_id": cid, "currency_code": code, "available": delta[0],
                            "reserved": delta[1], "used": delta[2]})
    return out


def _revise(env_dir: Path, previous: Snapshot, published: dict[str, list[list[Any]]],
            changed: Mapping[str, list[list[Any]]], added: pd.DataFrame, found: Mapping[str, Any],
            as_of: str) -> int:
    """Write the previous snapshot's corrected balances and completed window as a new revision."""
    from credit_reports.fetch.readers import balances_frame
    from credit_reports.ledger.movements import union_movements

    rows = {**published, **changed}
    balances = balances_frame([(cid, r) for cid, r in sorted(rows.items())])
    tables: dict[str, pd.DataFrame] = {"balances": balances}
    if not added.empty:
        tables["movements"] = union_movements([previous.movements, added])
    pit = dict(previous.manifest.get("point_in_time") or {})
    pit["resettled"] = {"by": as_of, "customers_changed": found["customers_changed"],
                        "movements_added": found["movements_added"]}
    manifest = {**previous.manifest.to_json(), "point_in_time": pit, "totals": snapshot_totals(balances)}
    reason = (f"re-settled by the fetch of {as_of}: events Paddle listed after this fetch changed "
              f"{found['customers_changed']} customer(s)' balances at the as-of and added "
              f"{found['movements_added']} movement(s) to its window")
    revised = StoreWriter(env_dir, lock_fd=None).revise(previous, reason=reason, manifest=manifest, tables=tables)
    return revised.revision


def base_window_start(env_dir: Path, previous: Snapshot) -> float | None:
    """The as-of (epoch ms) of the snapshot the previous one's window started at, None without one."""
    name = previous.manifest.get("base_snapshot")
    base = usable_snapshot(env_dir / name) if name else None
    return timestamps.parse(base.as_of).value / 1e6 if base is not None else None
