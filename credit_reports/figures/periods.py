"""Close periods: which snapshots open and close a month, quarter or year, and what evidence lies between.

A period is ``[start, end)`` in an IANA time zone (default UTC). Its **opening** is the newest snapshot
at or before ``start``, its **closing** the newest at or before ``end``; each is shown with its distance
from the boundary. A snapshot exactly at midnight closes one month and opens the next.

A snapshot *window* is the time between a snapshot and the one before it. It has **event evidence**
when the fetch read the events of exactly that window and stored what they showed:

- the manifest says ``strategy: incremental`` and ``events_readable`` is not false, and its
  ``base_snapshot`` is the previous snapshot (or an older one: its events then cover the window too);
- ``movements.parquet`` is in the folder (older snapshots have none);
- the window is at most 90 days (Paddle keeps 90 days of events);
- the manifest does not say ``"evidence": false`` (a fetch may state it explicitly).

The first snapshot's window never has evidence. A period has evidence when every window between its
opening and closing has.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from credit_reports.core import timestamps
from credit_reports.core.errors import UsageError
from credit_reports.ledger.rules import EVENT_WINDOW  # Paddle's 90 days of events, declared once

__all__ = [
    "EVENT_WINDOW",
    "Period",
    "describe_distance",
    "NOT_POINT_IN_TIME",
    "missing_evidence",
    "point_in_time",
    "month_end_points",
    "newest_at_or_before",
    "parse_day",
    "parse_period",
    "parse_timezone",
    "window_evidence",
    "windows_evidence",
]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PERIOD_FORMS = "'2026-11', '2026-Q4', '2026', 'previous-month' or 'previous-quarter'"


@dataclass(frozen=True)
class Period:
    """A close period: ``[start, end)`` (tz-aware, in ``timezone``) and its label, e.g. ``November 2026``."""

    label: str
    start: pd.Timestamp
    end: pd.Timestamp
    timezone: str

    @property
    def start_utc(self) -> pd.Timestamp:
        return self.start.tz_convert("UTC")

    @property
    def end_utc(self) -> pd.Timestamp:
        return self.end.tz_convert("UTC")


def parse_timezone(name: str) -> ZoneInfo:
    """An IANA time zone (``Europe/Berlin``); a UsageError line for anything else."""
    text = (name or "UTC").strip() if isinstance(name, str) else name
    if not isinstance(text, str) or not text:
        raise UsageError(f"timezone must be an IANA name such as UTC or Europe/Berlin, got {name!r}")
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"timezone: {name!r} is not an IANA time zone; use e.g. UTC, Europe/Berlin") from None


def _local_midnight(year: int, month: int, day: int, tz: ZoneInfo) -> pd.Timestamp:
    return pd.Timestamp(dt.datetime(year, month, day, tzinfo=tz))


def _month_period(year: int, month: int, tz: ZoneInfo, label: str | None = None, months: int = 1) -> Period:
    end_month = month - 1 + months
    start = _local_midnight(year, month, 1, tz)
    end = _local_midnight(year + end_month // 12, end_month % 12 + 1, 1, tz)
    return Period(label or start.strftime("%B %Y"), start, end, str(tz.key))


def parse_period(text: str, timezone: str = "UTC", now: Any = None) -> Period:
    """``2026-11``, ``2026-Q4``, ``2026``, ``previous-month`` or ``previous-quarter`` as a :class:`Period`.

    ``previous-*`` is the last whole month or quarter before ``now`` (default: the current time), in
    ``timezone``.
    """
    tz = parse_timezone(timezone)
    value = text.strip() if isinstance(text, str) else text
    if not isinstance(value, str) or not value:
        raise UsageError(f"period must be {PERIOD_FORMS}, got {text!r}")
    if value in ("previous-month", "previous-quarter"):
        moment = pd.Timestamp(now) if now is not None else pd.Timestamp.now(tz="UTC")
        if moment.tzinfo is None:
            moment = moment.tz_localize("UTC")
        local = moment.tz_convert(tz)
        if value == "previous-month":
            year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
            return _month_period(year, month, tz)
        quarter = (local.month - 1) // 3  # 0-based current quarter
        year, quarter = (local.year, quarter - 1) if quarter > 0 else (local.year - 1, 3)
        return _month_period(year, 3 * quarter + 1, tz, f"Q{quarter + 1} {year}", months=3)
    if m := _MONTH.match(value):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise UsageError(f"period {text!r}: month must be 01-12")
        return _month_period(year, month, tz)
    if m := _QUARTER.match(value):
        year, quarter = int(m.group(1)), int(m.group(2))
        return _month_period(year, 3 * quarter - 2, tz, f"Q{quarter} {year}", months=3)
    if m := _YEAR.match(value):
        year = int(m.group(1))
        return _month_period(year, 1, tz, str(year), months=12)
    raise UsageError(f"period {text!r} is not {PERIOD_FORMS}")


def parse_day(text: str, timezone: str = "UTC") -> pd.Timestamp:
    """``2026-11-30`` -> the end of that day in ``timezone`` (the next midnight there), tz-aware."""
    tz = parse_timezone(timezone)
    if not isinstance(text, str) or not _DAY.match(text.strip()):
        raise UsageError(f"{text!r} is not a date like 2026-11-30")
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{text!r} is not a calendar date") from None
    nxt = day + dt.timedelta(days=1)
    return _local_midnight(nxt.year, nxt.month, nxt.day, tz)


def newest_at_or_before(as_ofs: Sequence[Any], boundary: Any) -> int | None:
    """Index of the newest as-of at or before ``boundary`` (None when every one is later)."""
    limit = timestamps.parse(boundary)
    best = None
    for i, value in enumerate(as_ofs):
        ts = timestamps.parse(value)
        if ts <= limit and (best is None or ts >= timestamps.parse(as_ofs[best])):
            best = i
    return best


def describe_distance(as_of: Any, boundary: Any, what: str) -> str:
    """``2 h 15 min before the period start`` / ``exactly at the period end`` (for the report)."""
    delta = timestamps.parse(as_of) - timestamps.parse(boundary)
    if delta == pd.Timedelta(0):
        return f"exactly at {what}"
    if abs(delta) < pd.Timedelta(seconds=1):  # the account at the boundary (its last instant, a derived one)
        return f"at {what}"
    side = "before" if delta < pd.Timedelta(0) else "after"
    seconds = int(abs(delta).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    if not any(parts):
        parts = [f"{secs} s"]
    return f"{' '.join(p for p in parts if p)} {side} {what}"


def month_end_points(as_ofs: Sequence[Any], timezone: str = "UTC") -> list[int]:
    """Indexes of the trend's month-end points: per month, the newest snapshot at or before its end.

    Months run from the first snapshot's to the last one's (in ``timezone``); a month in which no snapshot
    was taken has no point (the last one before it belongs to an earlier month). The current month's
    point is its newest snapshot so far.
    """
    tz = parse_timezone(timezone)
    if not len(as_ofs):
        return []
    by_month: dict[tuple[int, int], int] = {}
    for i, value in enumerate(as_ofs):
        local = timestamps.parse(value).tz_convert(tz)
        key = (local.year, local.month)
        if local == _local_midnight(local.year, local.month, 1, tz):  # exactly midnight: closes the month before
            key = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
        if key not in by_month or timestamps.parse(value) >= timestamps.parse(as_ofs[by_month[key]]):
            by_month[key] = i
    return [by_month[k] for k in sorted(by_month)]


#: The label of a snapshot whose balances could not be brought back to its as-of (no events to do it with).
NOT_POINT_IN_TIME = "not point-in-time"


def point_in_time(snapshot: Any) -> bool:
    """Whether ``snapshot``'s balances stand for its as-of: False only when its fetch could not read events
    (``manifest["point_in_time"]["corrected"]`` false because of ``events_readable: false``): then balances read
    while the account moved may hold credit from after the as-of (docs/credit-rules.md, "The window")."""
    manifest = snapshot.manifest or {}
    return manifest.get("events_readable") is not False


def missing_evidence(snapshot: Any, previous: Any | None) -> str | None:
    """Why ``snapshot``'s window since ``previous`` has no event evidence, in words; None when it has."""
    if previous is None:
        return f"{snapshot.name} is the first snapshot: nothing before it was seen"
    manifest = snapshot.manifest or {}
    strategy = manifest.get("strategy")
    rebuilt = _rebuilt_window_missing(snapshot, previous, manifest)
    if rebuilt is not False:
        return rebuilt
    if strategy == "derived":
        return _derived_window_missing(snapshot, previous, manifest)
    if manifest.get("events_readable") is False:
        return (f"the fetch of {snapshot.name} could not read events (the key lacks notification.read), so it is "
                f"{NOT_POINT_IN_TIME}")
    if strategy != "incremental":
        return f"{snapshot.name} was a {strategy or 'full'} fetch, which reads no events"
    if manifest.get("evidence") is False:
        return f"the fetch of {snapshot.name} could not read every event of its window"
    if timestamps.parse(snapshot.as_of) - timestamps.parse(previous.as_of) > EVENT_WINDOW:
        return (f"more than 90 days passed between {previous.name} and {snapshot.name} "
                "(Paddle keeps 90 days of events)")
    if not snapshot.has_movements:
        return f"{snapshot.name} stored no movements (it was fetched before the toolkit kept them)"
    base = manifest.get("base_snapshot")
    try:
        base_time = timestamps.parse(str(base)) if base and timestamps.FOLDER_NAME.match(str(base)) else None
    except (ValueError, TypeError):
        base_time = None
    if base_time is None or base_time > timestamps.parse(previous.as_of):
        return f"the events {snapshot.name} read do not start at {previous.name}"
    return None


def _rebuilt_window_missing(snapshot: Any, previous: Any, manifest: Mapping[str, Any]) -> str | None | bool:
    """For a window rebuilt from transactions (``credit-reports history``): why it lacks evidence, None when
    it has it; False when the window is not a rebuilt one. A reconstructed month end's window starts at its
    ``base_snapshot``; a fetched first snapshot's at its history's ``window_base``. Transaction ids are the
    evidence, so Paddle's 90-day event window does not apply."""
    if manifest.get("reconstructed"):
        base = manifest.get("base_snapshot")
    else:
        base = (manifest.get("history") or {}).get("window_base")
        if not base:
            return False
    if not snapshot.has_movements:
        return f"{snapshot.name} stored no movements"
    if base != previous.name:
        return f"the movements {snapshot.name} rebuilt do not start at {previous.name}"
    return None


def _derived_window_missing(snapshot: Any, previous: Any, manifest: Mapping[str, Any]) -> str | None:
    """For a boundary derived from the snapshots around it (report/boundaries.py): its movements are those the
    later snapshot read from events since ``base_snapshot``, so its window has evidence from any snapshot at or
    after that base."""
    base = str(manifest.get("base_snapshot") or "")
    if not snapshot.has_movements or not timestamps.FOLDER_NAME.match(base):
        return f"{snapshot.name} is a derived boundary without its movements"
    if timestamps.parse(base) > timestamps.parse(previous.as_of):
        return f"the movements {snapshot.name} was derived from do not start at {previous.name}"
    return None


def window_evidence(snapshot: Any, previous: Any | None) -> bool:
    """True when ``snapshot``'s window since ``previous`` has event evidence (see the module docstring)."""
    return missing_evidence(snapshot, previous) is None


def windows_evidence(chain: Sequence[Any]) -> list[bool]:
    """Per snapshot of ``chain`` (oldest first): does its window since the one before have evidence?"""
    return [window_evidence(s, chain[i - 1] if i else None) for i, s in enumerate(chain)]


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
