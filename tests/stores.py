"""Hand-built snapshot stores for tests: balances and movements written through the store's own writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from credit_reports.core import timestamps
from credit_reports.ledger.movements import movements_frame
from credit_reports.store import reader as store
from credit_reports.store.writer import SnapshotWriter

ENVIRONMENT = "local"


def balances(rows: list[tuple[str, str, int, int, int]]) -> pd.DataFrame:
    """(customer_id, currency_code, available, reserved, used) rows as a balances frame."""
    frame = pd.DataFrame(rows, columns=list(store.BALANCE_DTYPES))
    return store.conform(frame, store.BALANCE_DTYPES)


_EFFECT = {
    "issued": (1, 0, 0), "reversed": (-1, 0, 0), "reserved": (-1, 1, 0), "released": (1, -1, 0),
    "used": (-1, 0, 1), "used_reserved": (0, -1, 1),
}


def movement(kind: str, customer: str, currency: str, amount: int, when: str, ref: str,
             source: str = "subscription_update") -> dict[str, Any]:
    """One movement row; ``used_reserved`` is a ``used`` movement taken from reserved credit."""
    a, r, u = _EFFECT[kind]
    is_adjustment = ref.startswith("adj_")
    return {
        "kind": "used" if kind == "used_reserved" else kind, "customer_id": customer, "currency_code": currency,
        "amount": amount, "available_delta": a * amount, "reserved_delta": r * amount, "used_delta": u * amount,
        "occurred_at": pd.Timestamp(when), "source": "adjustment" if is_adjustment else source,
        "event_id": f"evt_{ref}_{kind}", "transaction_id": "" if is_adjustment else ref,
        "adjustment_id": ref if is_adjustment else "",
    }


def moves(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return movements_frame(rows)


def write_snapshot(
    data_dir: Path,
    as_of: str,
    balance_rows: list[tuple[str, str, int, int, int]],
    movement_rows: list[dict[str, Any]] | None = None,
    *,
    strategy: str | None = None,
    base: str | None = None,
    adjustments: pd.DataFrame | None = None,
    extra_manifest: dict[str, Any] | None = None,
) -> store.Snapshot:
    """Publish one snapshot at ``as_of`` (ISO time). With ``movement_rows`` (even []) it is an incremental
    snapshot whose base is ``base`` (default: the newest snapshot already in the store)."""
    ts = pd.Timestamp(as_of)
    existing = store.latest_snapshot(data_dir, ENVIRONMENT)
    if movement_rows is not None:
        strategy = strategy or "incremental"
        base = base or (existing.name if existing is not None else None)
    writer = SnapshotWriter.open(data_dir, ENVIRONMENT, now=ts)
    manifest = {
        "as_of": timestamps.iso(ts), "environment": ENVIRONMENT, "base_url": "http://127.0.0.1",
        "strategy": strategy or "full", "complete": True, "events_readable": True,
        "base_snapshot": base, **(extra_manifest or {}),
    }
    ids = sorted({r[0] for r in balance_rows})
    signed_up = pd.Timestamp("2025-01-01", tz="UTC")
    customers = pd.DataFrame({"customer_id": ids, "status": "active", "created_at": signed_up,
                              "updated_at": signed_up, "locale": "en",
                              "marketing_consent": False, "custom_data": "{}", "email": None, "name": None})
    return writer.publish(
        balances=balances(balance_rows), customers=customers, subscriptions=pd.DataFrame(),
        manifest=manifest, movements=moves(movement_rows) if movement_rows is not None else None,
        adjustments=adjustments,
    )
