"""As-of times: one parser and one formatter for each way a time is written, used by every module.

A snapshot's as-of is a UTC moment to the second. It is written three ways: as a folder name on disk
(``20261126T061500Z``, :func:`folder_name`), as ISO 8601 in manifests and CSV (``2026-11-26T06:15:00Z``,
:func:`iso`), and for people in reports, the index and mail (``26 Nov 2026, 06:15:00 UTC``,
:func:`display`; seconds shown, since two snapshots may be one second apart). :func:`parse` reads any of
them back, and any datetime or Timestamp; a time without a zone is UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pandas as pd

__all__ = ["FOLDER_FORMAT", "FOLDER_NAME", "PADDLE_NEVER", "display", "folder_name", "iso", "paddle_time", "parse",
           "parse_datetime"]

#: strftime format of a snapshot folder name: ``20261126T061500Z``.
FOLDER_FORMAT = "%Y%m%dT%H%M%SZ"
#: A snapshot folder name, exactly.
FOLDER_NAME = re.compile(r"^\d{8}T\d{6}Z$")
_FOLDER_WITH_FRACTION = re.compile(r"^\d{8}T\d{6}\d{1,6}Z$")
#: Paddle's placeholder for a time that never happened (an ``updated_at`` of an entity never updated).
PADDLE_NEVER = "0001-01-01"


def parse(value: Any) -> pd.Timestamp:
    """A tz-aware UTC Timestamp from a folder name, ISO text, datetime or Timestamp (naive means UTC)."""
    if isinstance(value, str):
        if FOLDER_NAME.match(value):
            return pd.Timestamp(pd.to_datetime(value, format=FOLDER_FORMAT, utc=True))
        if _FOLDER_WITH_FRACTION.match(value):
            return pd.Timestamp(pd.to_datetime(value, format="%Y%m%dT%H%M%S%fZ", utc=True))
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def paddle_time(value: Any) -> pd.Timestamp | None:
    """The one reader of a time as Paddle writes it (RFC 3339, e.g. ``2024-04-12T10:18:49.738972Z``): a UTC
    Timestamp, or None when it is missing, empty or Paddle's ``0001-01-01T00:00:00Z`` placeholder. Every
    module reading Paddle's ``occurred_at``, ``billed_at``, ``revised_at``, ``captured_at`` ... calls this."""
    if value is None or value == "" or (isinstance(value, str) and value.startswith(PADDLE_NEVER)):
        return None
    return parse(value)


def parse_datetime(value: Any) -> dt.datetime:
    """:func:`parse`, as a plain tz-aware ``datetime.datetime`` (for templates and ``strftime`` callers)."""
    stamp = value if isinstance(value, dt.datetime) and not isinstance(value, pd.Timestamp) else None
    if stamp is not None:
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    return parse(value).to_pydatetime()


def folder_name(value: Any) -> str:
    """The snapshot folder name of a time: ``20261126T061500Z`` (UTC, whole seconds)."""
    return parse(value).strftime(FOLDER_FORMAT)


def iso(value: Any, *, fraction: bool = False) -> str:
    """ISO 8601 UTC with a ``Z``: ``2026-11-26T06:15:00Z``; ``fraction`` keeps microseconds when there are any
    (a render's own time, which orders renders made within one second)."""
    if fraction:
        return parse_datetime(value).isoformat().replace("+00:00", "Z")
    return parse(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def display(value: Any, *, seconds: bool = True) -> str:
    """A time as people read it in reports and the index: ``26 Nov 2026, 06:15:00 UTC``; without ``seconds``
    (a mail subject, kept short enough not to fold) ``26 Nov 2026, 06:15 UTC``."""
    return parse(value).strftime("%d %b %Y, %H:%M:%S UTC" if seconds else "%d %b %Y, %H:%M UTC")


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
