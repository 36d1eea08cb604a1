"""The account at a period boundary, whatever the fetch schedule: derived snapshots.

A scheduled fetch (daily at 06:15 UTC) never lands on a month end, so the close cannot read "the newest snapshot
before the boundary": it would miss the hours between that fetch and midnight. The account at the boundary is
derived instead, from the two fetched snapshots around it and the movements the later one read from Paddle's
events (docs/credit-rules.md, "Periods and boundaries"):

* forward: the earlier snapshot plus its window's movements up to the boundary;
* backward: the later snapshot less its window's movements after the boundary.

Both are computed per customer and currency and compared; the figure kept is the backward one (it rests on the
balances Paddle returned last), and any customer where they disagree is named in the derived manifest and made
an Attention. The result is a snapshot of strategy ``derived`` written through the store's one writer
(:class:`~credit_reports.store.writer.StoreWriter`), with a manifest naming the snapshots and the event range it
rests on and its ``totals``; ``list_snapshots`` lists it, ``latest`` never picks it.

A boundary without evidence on both sides (the later snapshot's window has no events: a first snapshot, a gap
over 90 days, a key without ``notification.read``) is not derived: :func:`boundary` returns the newest snapshot
before it with a sentence saying so, which the report puts at the top of the pack as an Attention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from credit_reports._version import __version__
from credit_reports.core import timestamps
from credit_reports.core.errors import StoreError
from credit_reports.figures import metrics, periods
from credit_reports.ledger.movements import period_movements
from credit_reports.store import reader as store
from credit_reports.store.files import BALANCE_DTYPES, conform
from credit_reports.store.writer import StoreWriter

__all__ = ["Boundary", "Derivation", "boundary", "boundary_moment", "derive", "derive_crossed", "period_boundaries"]

#: The derived snapshots' strategy, as their manifests and ``list_snapshots`` name it.
DERIVED = "derived"
_AMOUNTS = ("available", "reserved", "used")
_DELTAS = {"available": "available_delta", "reserved": "reserved_delta", "used": "used_delta"}
_KEY = ["customer_id", "currency_code"]


def boundary_moment(end: Any) -> pd.Timestamp:
    """The last instant of a period ending (exclusive) at ``end``: a movement at midnight belongs to the next."""
    return timestamps.parse(end) - pd.Timedelta(microseconds=1)


@dataclass(frozen=True)
class Derivation:
    """The account at ``moment`` derived from ``earlier`` and ``later``: balances, the window's movements up to
    the moment, and the customers where the two ways of computing it disagree."""

    moment: pd.Timestamp
    earlier: Any  # store.Snapshot
    later: Any  # store.Snapshot
    balances: pd.DataFrame
    movements: pd.DataFrame
    disagreements: list[dict[str, Any]]
    moved_after: int

    def manifest(self) -> dict[str, Any]:
        """The derived snapshot's manifest (no clock time in it: deriving again writes the same bytes)."""
        earlier, later = self.earlier, self.later
        failed = sorted(set(earlier.failed_customer_ids) | set(later.failed_customer_ids))
        return {
            "as_of": timestamps.iso(self.moment, fraction=True), "environment": later.environment,
            "base_url": later.manifest.base_url, "strategy": DERIVED,
            "complete": bool(earlier.complete and later.complete),
            "counts": {"customers": int(self.balances["customer_id"].nunique()),
                       "balance_rows": int(len(self.balances)), "movements": int(len(self.movements)),
                       "failed": len(failed)},
            "api_calls": 0, "failed_customer_ids": failed, "toolkit_version": __version__,
            "events_readable": True, "evidence": True, "base_snapshot": earlier.name,
            "previous_snapshot": earlier.name, "totals": metrics.headline(self.balances),
            "derived": {
                "boundary": timestamps.iso(self.moment, fraction=True),
                "rests_on": {"earlier": earlier.name, "later": later.name},
                "events": {"from": timestamps.iso(earlier.as_of), "to": timestamps.iso(later.as_of),
                           "movements_before": int(len(self.movements)), "movements_after": self.moved_after},
                "checked": not self.disagreements,
                "disagreements": self.disagreements,
            },
        }


@dataclass(frozen=True)
class Boundary:
    """What stands for the account at ``moment``: ``snapshot`` (derived, or fetched within that second), exact;
    or the newest snapshot before it (None when there is none), not exact, with ``attention`` saying why."""

    moment: pd.Timestamp
    snapshot: Any | None
    exact: bool
    attention: str | None = None


def _apply(balances: pd.DataFrame, moves: pd.DataFrame, sign: int) -> pd.DataFrame:
    """``balances`` plus (``sign`` 1) or less (-1) the deltas of ``moves``, per customer and currency."""
    base = conform(balances, BALANCE_DTYPES)[list(BALANCE_DTYPES)].set_index(_KEY)
    if moves.empty:
        return base
    deltas = moves.groupby(_KEY)[list(_DELTAS.values())].sum()
    deltas.columns = list(_DELTAS)
    out = base.reindex(base.index.union(deltas.index), fill_value=0)
    out = out.add(deltas.reindex(out.index, fill_value=0) * sign, fill_value=0)
    return out.astype("int64")


def derive(chain: Sequence[Any], moment: pd.Timestamp) -> Derivation | str:
    """The account at ``moment`` from the fetched snapshots of ``chain`` around it, or why it cannot be derived
    (one sentence)."""
    fetched = [s for s in chain if s.strategy != DERIVED]
    earlier = [s for s in fetched if s.as_of <= moment]
    later = [s for s in fetched if s.as_of > moment]
    when = timestamps.display(moment)
    if not later:
        return f"no snapshot was fetched after {when} yet, so the account at that boundary is not known"
    if not earlier:
        return f"no snapshot was fetched before {when} (the first is {later[0].name})"
    before, after = earlier[-1], later[0]
    why = periods.missing_evidence(after, before)
    if why:
        return f"the account at {when} cannot be derived: {why}"
    moves = period_movements([after], after=before.as_of, until=after.as_of)
    up_to = moves[moves["occurred_at"] <= moment].reset_index(drop=True)
    beyond = moves[moves["occurred_at"] > moment].reset_index(drop=True)
    forward = _apply(before.balances, up_to, 1)
    backward = _apply(after.balances, beyond, -1)
    index = forward.index.union(backward.index)
    forward, backward = forward.reindex(index, fill_value=0), backward.reindex(index, fill_value=0)
    differ = (forward != backward).any(axis=1)
    disagreements = [
        {"customer_id": str(c), "currency_code": str(k),
         **{f"{a}_difference": int(backward.at[(c, k), a] - forward.at[(c, k), a]) for a in _AMOUNTS}}
        for c, k in index[differ.to_numpy()]
    ]
    known = set(before.balances.set_index(_KEY).index) | set(after.balances.set_index(_KEY).index)
    held = (backward != 0).any(axis=1).to_numpy() | index.isin(list(known))
    balances = backward[held].reset_index()
    return Derivation(moment=moment, earlier=before, later=after,
                      balances=conform(balances, BALANCE_DTYPES)[list(BALANCE_DTYPES)], movements=up_to,
                      disagreements=disagreements, moved_after=int(len(beyond)))


def _tables(d: Derivation) -> dict[str, pd.DataFrame]:
    """The derived snapshot's tables: balances, the later snapshot's customers and subscriptions that existed at
    the boundary, and the movements of its window."""
    customers, subs = d.later.customers, d.later.subscriptions
    return {
        "balances": d.balances,
        "customers": customers[customers["created_at"].isna() | (customers["created_at"] <= d.moment)],
        "subscriptions": subs[subs["created_at"].isna() | (subs["created_at"] <= d.moment)],
        "movements": d.movements,
    }


def _standing(chain: Sequence[Any], moment: pd.Timestamp) -> Any | None:
    """A stored snapshot that is the account at ``moment``: derived at it, or fetched within its second."""
    name = timestamps.folder_name(moment)
    for snap in chain:
        if snap.name == name:
            return snap
    return None


def boundary(chain: Sequence[Any], moment: pd.Timestamp, *, data_dir: Any, environment: str,
             write: bool = True) -> Boundary:
    """The account at ``moment`` (UTC): a snapshot standing at it, else derived and published (``write``), else
    the newest snapshot before it, not exact, with the reason."""
    found = _standing(chain, moment)
    if found is not None:
        return Boundary(moment, found, True, _disagreement(found))
    result = derive(chain, moment)
    if isinstance(result, Derivation) and write:
        snap = _publish(result, data_dir, environment)
        return Boundary(moment, snap, True, _disagreement(snap))
    if isinstance(result, Derivation):  # derivable, but asked not to write
        result = f"the account at {timestamps.display(moment)} is not derived yet"
    before = [s for s in chain if s.as_of <= moment and s.strategy != DERIVED]
    fallback = before[-1] if before else None
    if fallback is not None:
        result += (f"; the figures are those of {fallback.name} "
                   f"({periods.describe_distance(fallback.as_of, moment, 'the boundary')}), not of the boundary")
    return Boundary(moment, fallback, False, result)


def _disagreement(snap: Any) -> str | None:
    """A sentence when a derived boundary's two computations disagree (the customers are in its manifest)."""
    derived = snap.manifest.derived if snap.strategy == DERIVED else None
    found = (derived or {}).get("disagreements") or []
    if not found:
        return None
    rests = (derived or {}).get("rests_on") or {}
    return (f"the account at {timestamps.display(snap.as_of)} differs for {len(found)} customer-currency "
            f"figure(s) between {rests.get('earlier')} plus its movements and {rests.get('later')} less its "
            f"movements (listed in the manifest of snapshot {snap.name})")


def _publish(d: Derivation, data_dir: Any, environment: str) -> Any:
    """Write the derivation through the store's one writer (a revision when the figures changed); a store that
    cannot be written is one line saying where."""
    try:
        with StoreWriter.open(data_dir, environment) as writer:
            writer.remove_stale()
            return writer.publish_snapshot(d.manifest(), tables=_tables(d),
                                           reason=f"re-derived from {d.earlier.name} and {d.later.name}")
    except OSError as exc:
        raise StoreError(f"cannot store the account at {timestamps.display(d.moment)} in {d.later.path.parent} "
                         f"({exc.strerror or exc}); render where the snapshot store can be written") from None


def period_boundaries(period: periods.Period) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(opening, closing) moments of ``period`` in UTC: the last instant before its start, the last in it."""
    return boundary_moment(period.start_utc), boundary_moment(period.end_utc)


def _month_ends(start: pd.Timestamp, end: pd.Timestamp, timezone: str) -> list[pd.Timestamp]:
    """The month ends (local midnight of each first of month, in ``timezone``) in ``(start, end]``, in UTC."""
    tz = periods.parse_timezone(timezone)
    local = start.tz_convert(tz)
    first = pd.Timestamp(year=local.year, month=local.month, day=1).tz_localize(tz)
    out = []
    while first.tz_convert("UTC") <= end:
        if first.tz_convert("UTC") > start:
            out.append(first.tz_convert("UTC"))
        nxt = first.tz_localize(None) + pd.DateOffset(months=1)
        first = nxt.tz_localize(tz)
    return out


def derive_crossed(data_dir: Any, environment: str, timezone: str = "UTC") -> list[Boundary]:
    """Derive every month end (so every quarter and year end) in ``timezone`` that the newest fetched snapshot
    crossed since the one before it: what ``run`` does after each fetch, so no fetch is needed at midnight."""
    chain = store.chain(data_dir, environment)
    fetched = [s for s in chain if s.strategy != DERIVED]
    if len(fetched) < 2:
        return []
    out = []
    for end in _month_ends(fetched[-2].as_of, fetched[-1].as_of, timezone):
        out.append(boundary(chain, boundary_moment(end), data_dir=data_dir, environment=environment))
    return out


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
