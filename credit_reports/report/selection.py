"""Which snapshots a report reads, decided in one place: :func:`resolve`.

The CLI (``render``, ``run``), the render's plan, the notebook's kernel and Python (``cr.prepare``) all call it,
so a report's closing and opening snapshots are decided by one rule:

* with a ``period``, the period wins over the default snapshot: its closing and opening are the account at
  its boundaries in the report's time zone (:mod:`credit_reports.report.boundaries`: derived from the snapshots
  around each boundary when the events allow it, else the newest snapshot before it with an Attention); a
  snapshot named as well must be that closing one. A period not ended yet is refused, or with
  ``allow_open_period`` shown as "open period, figures to date" from the newest snapshot, with an Attention;
  a period not begun is refused;
* without one, ``snapshot`` (the store's selector grammar, :func:`credit_reports.store.reader.load_snapshot`)
  names the closing snapshot and ``compare_to`` the opening one.

The store is listed once per resolution (again only after a boundary was derived into it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from credit_reports.core import timestamps
from credit_reports.core.errors import UsageError
from credit_reports.figures import periods
from credit_reports.report import boundaries
from credit_reports.report.parameters import DAY, MONTH, Parameters, validate_parameters
from credit_reports.report.tables import local_time
from credit_reports.store import reader as store

__all__ = ["Resolution", "period_closing", "resolve"]


@dataclass(frozen=True)
class Resolution:
    """The snapshots a report reads: ``closing`` (what it shows), ``opening`` (the roll-forward's start, or None
    with ``note`` saying why), the ``period`` when one was asked for, ``attention`` (sentences for the top of the
    pack) and the environment's ``chain`` (every snapshot, derived boundaries included, oldest first)."""

    closing: Any  # store.Snapshot
    opening: Any | None
    period: periods.Period | None
    note: str = ""
    attention: tuple[str, ...] = ()
    chain: list[Any] = field(default_factory=list)
    open_period: bool = False


def load(loader: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a store loader, turning a missing folder or snapshot into a UsageError line."""
    try:
        return loader(*args, **kwargs)
    except FileNotFoundError as exc:
        raise UsageError(f"snapshot not found: {exc}; run `credit-reports fetch` or check data_dir") from None


def _is_path(snapshot: Any) -> bool:
    """True when ``snapshot`` names a folder rather than a time (store.load_snapshot opens it directly)."""
    return isinstance(snapshot, os.PathLike) or (isinstance(snapshot, str) and os.sep in snapshot)


def _snapshot_and_chain(p: Parameters, selector: Any) -> tuple[Any, list[Any]]:
    """The snapshot ``selector`` names and its environment's chain, from one pass over the store: the snapshot is
    picked from the chain (the same object, so its tables load once)."""
    env = p.environment
    latest = isinstance(selector, str) and selector.strip() == "latest"
    if not env and (latest or len(store.environments(p.data_dir)) <= 1):
        env = store.resolve_environment(p.data_dir, None)
    if env and not _is_path(selector):
        snapshots = load(store.chain, p.data_dir, env)
        snap = load(store.load_snapshot, selector, data_dir=p.data_dir, environment=env, among=snapshots)
        return snap, snapshots
    snap = load(store.load_snapshot, selector, data_dir=p.data_dir, environment=p.environment)
    snapshots = load(store.chain, p.data_dir, snap.environment)
    same = [s for s in snapshots if s.path == snap.path]
    return (same[0] if same else snap), snapshots


def resolve(p: Parameters, *, now: Any = None) -> Resolution:
    """The snapshots the report of parameters ``p`` reads (see the module docstring)."""
    if p.period is not None:
        return _resolve_period(p, now)
    snap, chain = _snapshot_and_chain(p, p.snapshot)
    opening, note = _pick_opening(p, snap, chain)
    return Resolution(closing=snap, opening=opening, period=None, note=note, chain=chain)


def _resolve_period(p: Parameters, now: Any) -> Resolution:
    """A close period's closing and opening: the account at its boundaries."""
    moment = timestamps.parse(now if now is not None else pd.Timestamp.now(tz="UTC"))
    period = periods.parse_period(str(p.period), p.timezone, now=moment)
    where = f"{local_time(period.end)} {period.timezone}"
    if period.start_utc > moment:
        raise UsageError(f"period {p.period} ({period.label}) has not begun (it starts "
                         f"{local_time(period.start)} {period.timezone}): there is nothing to close yet")
    is_open = period.end_utc > moment
    if is_open and not p.allow_open_period:
        raise UsageError(f"period {p.period} ({period.label}) is still open (it ends {where}): render it after "
                         "that, or pass -p allow_open_period true for an open period's figures to date")
    explicit = not (isinstance(p.snapshot, str) and p.snapshot.strip() == "latest")
    newest, chain = _snapshot_and_chain(p, p.snapshot)
    env = newest.environment
    attention: list[str] = []
    opening_at, closing_at = boundaries.period_boundaries(period)
    if is_open:
        closing = newest
        attention.append(f"open period: {period.label} ends {where}; these are its figures to date "
                         f"({timestamps.display(closing.as_of)}), not a close")
    else:
        found = boundaries.boundary(chain, closing_at, data_dir=p.data_dir, environment=env)
        if found.snapshot is None:
            raise UsageError(f"period {p.period}: no snapshot at or before its end ({where}); the first snapshot "
                             f"is {timestamps.display(chain[0].as_of) if chain else 'none'}")
        closing = found.snapshot
        if found.attention:
            attention.append(f"closing figures: {found.attention}")
        if explicit and newest.path != closing.path:
            raise UsageError(f"snapshot {p.snapshot} is not the account at the end of {period.label} "
                             f"({closing.name}): give the period alone")
    chain = _relisted(p, env, chain, closing)
    start = boundaries.boundary(chain, opening_at, data_dir=p.data_dir, environment=env)
    chain = _relisted(p, env, chain, start.snapshot)
    closing = next((s for s in chain if s.path == closing.path), closing)
    opening, note = _opening_of(period, start, closing, chain)
    if opening is not None and start.attention:
        attention.append(f"opening figures: {start.attention}")
    return Resolution(closing=closing, opening=opening, period=period, note=note, attention=tuple(attention),
                      chain=chain, open_period=is_open)


def _relisted(p: Parameters, env: str, chain: list[Any], snap: Any | None) -> list[Any]:
    """The chain, listed again when ``snap`` (a boundary just derived) is not in it yet."""
    if snap is None or any(s.path == snap.path for s in chain):
        return chain
    return load(store.chain, p.data_dir, env)


def _opening_of(period: periods.Period, start: boundaries.Boundary, closing: Any,
                chain: list[Any]) -> tuple[Any | None, str]:
    """The roll-forward's opening snapshot for ``period`` (None with a sentence when there is none)."""
    if start.snapshot is None:
        first = timestamps.display(chain[0].as_of) if chain else "none"
        return None, (f"There is no snapshot at or before the start of {period.label}, so there is no roll-forward "
                      f"for it: the first snapshot is {first}.")
    opening = next((s for s in chain if s.path == start.snapshot.path), start.snapshot)
    if opening.path == closing.path:
        return None, (f"No snapshot was taken during {period.label}: the same snapshot opens and closes it, so "
                      "there is no roll-forward to show.")
    return opening, ""


def period_closing(period: str, *, timezone: str = "UTC", data_dir: Any = None,
                   environment: str | None = None, snapshot: Any = "latest", now: Any = None) -> Any:
    """The snapshot that closes ``period`` (the account at its end, derived when needed): what a rendered report
    of that period pins as its snapshot. UsageError when there is none, when the period is open or when
    ``snapshot`` (other than "latest") is not that one."""
    p = validate_parameters(data_dir=str(data_dir or ""), environment=environment or "", period=period,
                            timezone=timezone, snapshot=snapshot or "latest")
    return resolve(p, now=now).closing


def _pick_opening(p: Parameters, snap: Any, history: list[Any]) -> tuple[Any | None, str]:
    """The snapshot the roll-forward opens from (``history``: the environment's snapshot chain), and a
    sentence when there is none."""
    if p.compare_to == "none":
        return None, "No roll-forward was asked for (compare_to = \"none\")."
    if DAY.match(p.compare_to):
        boundary = periods.parse_day(p.compare_to, p.timezone)
        chain = [s for s in history if timestamps.parse(s.as_of) < timestamps.parse(snap.as_of)]
        at = periods.newest_at_or_before([s.as_of for s in chain], boundary)
        if at is None:
            raise UsageError(
                f"compare_to {p.compare_to}: no snapshot earlier than the reported one at or before the end "
                f"of that day ({p.timezone})"
            )
        return chain[at], ""
    if MONTH.match(p.compare_to):
        return _month_opening(p, snap, history), ""
    if p.compare_to != "previous":
        opening = load(store.load_snapshot, p.compare_to, data_dir=p.data_dir, environment=snap.environment,
                       among=history)
        if timestamps.parse(opening.as_of) >= timestamps.parse(snap.as_of):
            raise UsageError(
                f"compare_to {p.compare_to} is not earlier than the reported snapshot {timestamps.display(snap.as_of)}"
            )
        return opening, ""
    # "previous" is the fetch before (a derived boundary between two fetches is not one)
    earlier = [s for s in history if timestamps.parse(s.as_of) < timestamps.parse(snap.as_of) and not s.derived]
    if not earlier:
        return None, (
            "There is no earlier snapshot of this environment yet, so there is no roll-forward: "
            "it appears from the next scheduled snapshot on."
        )
    complete = [s for s in earlier if s.complete] or earlier  # the newest complete one, else the newest
    return complete[-1], ""


def _month_opening(p: Parameters, snap: Any, history: list[Any]) -> Any:
    """compare_to a month: the last snapshot taken in that month (in ``timezone``) before the reported
    one; else one line naming the nearest earlier snapshot, or the oldest."""
    month = periods.parse_period(p.compare_to, p.timezone)
    chain = [s for s in history if timestamps.parse(s.as_of) < timestamps.parse(snap.as_of)]
    inside = [s for s in chain if month.start <= s.as_of < month.end]
    if inside:
        return inside[-1]
    before = [s for s in chain if s.as_of < month.start]
    where = (f"the newest before it is {before[-1].name}" if before else
             f"the oldest is {chain[0].name}" if chain else "the reported snapshot is the oldest")
    raise UsageError(f"compare_to {p.compare_to}: no snapshot taken in {month.label} ({p.timezone}) before the "
                     f"reported one; {where}")


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
