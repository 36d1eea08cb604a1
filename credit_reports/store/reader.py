"""The snapshot store: one folder per as-of time, written through a checkpointed working folder.

Layout (the public contract in DESIGN.md)::

    <data-dir>/snapshots/<environment>/<YYYYMMDDTHHMMSSZ>/
        balances.parquet       customer_id, currency_code (string); available, reserved, used (int64)
        customers.parquet      customer_id, status, created_at, updated_at (UTC), locale,
                               marketing_consent (bool), custom_data (JSON text), email, name
        subscriptions.parquet  one row per subscription item (an extra beyond the contract)
        movements.parquet      credit movements read from the events of this snapshot's window
                               (docs/credit-rules.md, "Movements"); absent in older snapshots
        adjustments.parquet    the credit adjustments a first fetch lists; absent otherwise
        renewal_plans.parquet  the credit holders' subscriptions for the maturity forecast (a revision added
                               after the fetch, issue 26); absent when not fetched
        manifest.json          as_of, environment, base_url, strategy, complete, counts, api_calls, ...

A snapshot being fetched lives in ``<environment>/.partial-<as_of>/`` with a ``checkpoint/`` folder
(state, the plan, the customers listed and an append-only journal of per-customer results), so a fetch
killed at any moment resumes where it stopped. Publishing renames the working folder to its final name
in one ``os.rename``, so a reader sees either no snapshot or all of it. Deleting goes the other way: the
folder is renamed to ``.deleting-<as_of>`` first, then removed.

Reading is lazy: :class:`Snapshot` loads each Parquet file on first use and keeps it.

Reading is also defensive: a folder whose name is not an as-of, whose manifest is not a JSON object,
whose as-of lies in the future (beyond ``CLOCK_SKEW``), or whose Parquet files do not read back is
*unusable*: :func:`list_snapshots` shows it with the reason, ``latest`` and incremental fetches skip it
(with one warning line), and :func:`check_snapshots` reads every file in full. A published folder that
still holds ``checkpoint/`` (a kill between publishing and cleaning up) is cleaned by the next fetch.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from credit_reports.core import timestamps
from credit_reports.core.errors import StoreError, UsageError
from credit_reports.store.files import (
    ADJUSTMENT_DTYPES,
    BALANCE_DTYPES,
    CLOCK_SKEW,
    CUSTOMER_DTYPES,
    DELETING_PREFIX,
    MANIFEST,
    MOVEMENT_DTYPES,
    REQUIRED_FILES,
    SNAPSHOTS,
    SUBSCRIPTION_DTYPES,
    TABLES,
    conform,
    default_data_dir,
    empty_frame,
    fsync_dir,
    read_table,
)
from credit_reports.store.manifests import SnapshotManifest
from credit_reports.store.revisions import current_file, revision_number

__all__ = [
    "ADJUSTMENT_DTYPES",
    "BALANCE_DTYPES",
    "CUSTOMER_DTYPES",
    "MOVEMENT_DTYPES",
    "SUBSCRIPTION_DTYPES",
    "Snapshot",
    "default_data_dir",
    "load_snapshot",
    "selector_problem",
    "list_snapshots",
    "load_history",
    "prune_snapshots",
    "latest_snapshot",
    "chain",
    "environments",
    "fetched_snapshots",
    "resolve_environment",
    "month_bounds",
    "snapshots_root",
    "check_snapshots",
    "usable_snapshot",
    "conform",
    "CLOCK_SKEW",
]

log = logging.getLogger("credit_reports.store")

# -- reading snapshots -------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """One published snapshot folder: its manifest, and its tables loaded lazily on first use.

    ``manifest`` is a :class:`~credit_reports.store.manifests.SnapshotManifest` (a plain dict given is read into
    one); it still reads like the JSON object (``snapshot.manifest["strategy"]``).
    """

    path: Path
    manifest: SnapshotManifest
    _cache: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.manifest, SnapshotManifest):
            self.manifest = SnapshotManifest.from_json(self.manifest)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> Snapshot:
        """Open the snapshot folder at ``path`` (UsageError when it is not one)."""
        folder = Path(path)
        if not (folder / MANIFEST).is_file():
            raise UsageError(f"{folder} is not a snapshot folder (no {MANIFEST}); pass a folder under "
                             f"<data-dir>/{SNAPSHOTS}/<environment>/")
        manifest_path = current_file(folder, MANIFEST)  # the newest revision's (store/revisions.py)
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read {manifest_path}: {exc}; the snapshot is unusable") from None
        if not isinstance(manifest, dict):
            raise StoreError(
                f"{manifest_path} is not a JSON object (it holds a {type(manifest).__name__}); the snapshot "
                "is unusable"
            )
        snap = cls(path=folder, manifest=manifest)
        try:
            snap.as_of  # noqa: B018 - a manifest or name that is not an as-of is caught here, once
        except (ValueError, TypeError, OverflowError):
            raise StoreError(
                f"{folder} has no valid as-of (neither its name nor its manifest's as_of is a time like "
                "20261126T061500Z); the snapshot is unusable"
            ) from None
        return snap

    def problem(self, now: Any = None, *, check_name: bool = True) -> str | None:
        """Why this snapshot cannot be used (one line), or None: a cheap check of names and file footers.

        Checks the folder name is an as-of matching the manifest, the as-of is not in the future beyond
        ``CLOCK_SKEW``, and each Parquet file's footer reads (a truncated file fails here). The full read
        of every row is :meth:`verify`.
        """
        if check_name and not timestamps.FOLDER_NAME.match(self.path.name):
            return f"folder name {self.path.name!r} is not an as-of like 20261126T061500Z"
        if check_name and timestamps.folder_name(self.as_of) != self.path.name:
            return f"its manifest's as_of {self.manifest.as_of!r} does not match the folder name"
        limit = timestamps.parse(now if now is not None else pd.Timestamp.now(tz="UTC")) + CLOCK_SKEW
        if self.as_of > limit:
            return f"its as-of {timestamps.iso(self.as_of)} is in the future"
        shape = self.manifest.problem()
        if shape:
            return shape
        for name in (*REQUIRED_FILES, "subscriptions.parquet"):
            path = self.file(name)
            if not path.exists():
                if name in REQUIRED_FILES:
                    return f"{name} is missing"
                continue
            trouble = _footer_problem(path)
            if trouble:
                return f"{name} does not read back ({trouble})"
        return None

    def verify(self) -> str | None:
        """Read every table in full with its documented dtypes: the first problem (one line), or None."""
        quick = self.problem()
        if quick:
            return quick
        for name, dtypes in TABLES.items():
            path = self.file(f"{name}.parquet")
            if not path.exists():
                continue
            try:
                read_table(path, dtypes)
            except Exception as exc:  # pyarrow/pandas raise many kinds; any of them means unusable
                return f"{name}.parquet does not read back ({_one_line(exc)})"
        return None

    @property
    def as_of(self) -> pd.Timestamp:
        """The snapshot's moment (UTC): a live fetch waits for it before reading, so balances are as of it or a
        little later."""
        value = self.manifest.as_of or self.path.name
        return timestamps.parse(value)

    @property
    def name(self) -> str:
        """The folder name, e.g. ``20261126T061500Z``."""
        return self.path.name

    @property
    def environment(self) -> str:
        return str(self.manifest.environment or self.path.parent.name)

    @property
    def complete(self) -> bool:
        """False when some customers could not be fetched (listed in ``failed_customer_ids``)."""
        return bool(self.manifest.complete)

    @property
    def reconstructed(self) -> bool:
        """True for a month end rebuilt from transactions (``credit-reports history``), never fetched."""
        return bool(self.manifest.get("reconstructed", False))

    @property
    def strategy(self) -> str | None:
        return self.manifest.strategy

    @property
    def failed_customer_ids(self) -> list[str]:
        return list(self.manifest.failed_customer_ids or [])

    @property
    def verification(self) -> dict[str, Any] | None:
        """How the fetch checked the rule that let it skip customers: ``{rule, skipped, sample_size, found,
        found_customer_ids, fallback, unavailable}``; None for ``full`` or snapshots older than the check."""
        return self.manifest.verification

    def file(self, name: str) -> Path:
        """The path of the snapshot's file ``name`` in its newest revision (store/revisions.py): what every
        reader of a snapshot's files uses, so a correction is read transparently."""
        return current_file(self.path, name)

    @property
    def revision(self) -> int:
        """The snapshot's newest revision (0: as first published)."""
        return revision_number(self.path)

    @property
    def derived(self) -> bool:
        """True for an account at a period boundary derived from the snapshots around it (never fetched)."""
        return self.strategy == "derived"

    def _table(self, name: str) -> pd.DataFrame:
        if name not in self._cache:
            path = self.file(f"{name}.parquet")
            try:
                self._cache[name] = read_table(path, TABLES[name])
            except Exception as exc:  # a truncated or foreign file: one line, never a pyarrow traceback
                raise StoreError(
                    f"{path} does not read back ({_one_line(exc)}); the snapshot is unusable: fetch a new one "
                    "or check the store with `credit-reports snapshots --check`"
                ) from None
        return self._cache[name]

    @property
    def balances(self) -> pd.DataFrame:
        """customer_id, currency_code, available, reserved, used: one row per customer and currency."""
        return self._table("balances")

    @property
    def customers(self) -> pd.DataFrame:
        """Every customer listed (active and archived) with the documented columns."""
        return self._table("customers")

    @property
    def subscriptions(self) -> pd.DataFrame:
        """One row per subscription item (empty when the key could not read subscriptions)."""
        return self._table("subscriptions")

    @property
    def movements(self) -> pd.DataFrame:
        """Credit movements of this snapshot's window (``MOVEMENT_DTYPES``); empty for older snapshots."""
        return self._table("movements")

    @property
    def adjustments(self) -> pd.DataFrame:
        """Credit adjustments listed by a first fetch (``ADJUSTMENT_DTYPES``); empty when not stored."""
        return self._table("adjustments")

    @property
    def renewal_plans(self) -> pd.DataFrame:
        """The renewal plans read after the fetch (``PLAN_DTYPES``, one row per subscription of a customer
        holding credit); empty when they were not fetched (see :attr:`has_renewal_plans`)."""
        return self._table("renewal_plans")

    @property
    def has_renewal_plans(self) -> bool:
        """True when renewal plans were stored for this snapshot (even none: no holder has a subscription)."""
        return self.file("renewal_plans.parquet").is_file()

    @property
    def has_movements(self) -> bool:
        """True when the fetch stored ``movements.parquet`` (even an empty one: no credit moved)."""
        return self.file("movements.parquet").is_file()

    def __repr__(self) -> str:
        """Short: environment/as-of, completeness, strategy and counts (never the tables)."""
        state = "complete" if self.complete else "INCOMPLETE"
        counts = self.manifest.counts or {}
        rows = f", {counts['balance_rows']:,} balance rows" if isinstance(counts.get("balance_rows"), int) else ""
        return f"Snapshot({self.environment}/{self.name}, {state}, strategy={self.strategy}{rows})"


def snapshots_root(data_dir: str | os.PathLike[str] | None) -> Path:
    return (Path(data_dir) if data_dir is not None else default_data_dir()) / SNAPSHOTS


def environments(data_dir: str | os.PathLike[str] | None) -> list[str]:
    """The environment folders of the store (``snapshots/<environment>/``), by name; no snapshot is read."""
    root = snapshots_root(data_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _one_line(exc: BaseException) -> str:
    """An exception as one short line (pyarrow's messages can span lines)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:159] + "…"


_FOOTERS: dict[tuple[str, int, int], str | None] = {}


def _footer_problem(path: Path) -> str | None:
    """None when the Parquet file's footer (schema, row groups) reads; else why not. Cached by size/mtime."""
    try:
        st = path.stat()
    except OSError as exc:
        return exc.strerror or str(exc)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _FOOTERS:
        import pyarrow.parquet as pq

        try:
            pq.read_metadata(path)
            _FOOTERS[key] = None
        except Exception as exc:  # ArrowInvalid, OSError, ...: the file is not a whole Parquet file
            _FOOTERS[key] = _one_line(exc)
    return _FOOTERS[key]


_WARNED: set[str] = set()


def _scan(env_dir: Path) -> Iterator[tuple[Path, Snapshot | None, str | None]]:
    """Every published folder of one environment: (folder, snapshot or None, problem or None)."""
    if not env_dir.is_dir():
        return
    for folder in env_dir.iterdir():
        if folder.name.startswith(".") or not folder.is_dir() or not (folder / MANIFEST).is_file():
            continue
        try:
            snap = Snapshot.from_path(folder)
        except UsageError as exc:
            yield folder, None, str(exc)
            continue
        yield folder, snap, snap.problem()


def _iter_snapshots(env_dir: Path) -> Iterator[Snapshot]:
    """Usable published snapshots of one environment folder; unusable ones are skipped with one warning."""
    for folder, snap, problem in _scan(env_dir):
        if problem is None and snap is not None:
            yield snap
            continue
        if str(folder) not in _WARNED:  # once per process, not at every listing
            _WARNED.add(str(folder))
            log.warning("skipping the unusable snapshot %s: %s", folder, problem)


def _snapshots(data_dir: Any, environment: str | None) -> list[Snapshot]:
    """Snapshots of one environment (or of all when None), oldest first."""
    envs = [environment] if environment else environments(data_dir)
    found = [s for env in envs for s in _iter_snapshots(snapshots_root(data_dir) / env)]
    return sorted(found, key=lambda s: (s.as_of, s.environment, s.name))


def _known_environment(data_dir: Any, environment: str | None) -> None:
    """Refuse, in one line naming what the store holds, an environment the store does not have while it
    has others: an empty listing would read as "no snapshots" when the name is a typo."""
    if not environment:
        return
    envs = environments(data_dir)
    if envs and environment not in envs:
        import difflib

        close = difflib.get_close_matches(environment, envs, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(
            f"no environment {environment!r} in {snapshots_root(data_dir)}{hint}; it holds {', '.join(envs)}"
        )


def resolve_environment(data_dir: Any, environment: str | None) -> str | None:
    """The environment asked for; else the only one present; else the one with the newest snapshot."""
    if environment:
        _known_environment(data_dir, environment)
        return environment
    envs = environments(data_dir)
    if len(envs) <= 1:
        return envs[0] if envs else None
    newest = _snapshots(data_dir, None)
    return newest[-1].environment if newest else envs[0]


def usable_snapshot(path: str | os.PathLike[str]) -> Snapshot | None:
    """The snapshot at ``path`` when it is there and usable (see :meth:`Snapshot.problem`), else None.

    What a fetch uses to reopen its base: a base that became corrupt is treated as gone (the fetch then
    falls back as documented) instead of crashing every resume the same way.
    """
    folder = Path(path)
    if not (folder / MANIFEST).is_file():
        return None
    try:
        snap = Snapshot.from_path(folder)
    except UsageError as exc:
        log.warning("%s", exc)
        return None
    problem = snap.problem()
    if problem:
        log.warning("not building on the unusable snapshot %s: %s", folder, problem)
        return None
    return snap


def latest_snapshot(
    data_dir: Any = None, environment: str | None = None, *, complete_only: bool = False
) -> Snapshot | None:
    """The newest published snapshot of ``environment`` (None when there is none); derived boundaries are never
    the latest (they were not fetched, and a fetch builds on what it fetched)."""
    snaps = [s for s in _snapshots(data_dir, environment) if (s.complete or not complete_only) and not s.derived]
    return snaps[-1] if snaps else None


def _what_exists(data_dir: Any) -> str:
    """One line naming what the store holds, for 'not found' messages."""
    parts = []
    for env in environments(data_dir):
        names = [s.name for s in _snapshots(data_dir, env)]
        if len(names) > 6:  # the oldest always shows: it bounds what a date or month can find
            parts.append(f"{env}: {len(names)} snapshots, the oldest {names[0]}, the newest "
                         f"{', '.join(names[-5:])}")
        elif names:
            parts.append(f"{env}: {', '.join(names)}")
    if not parts:
        return ("the store holds no snapshots yet: run `credit-reports fetch` first (or `make report` for the "
                "demo's, kept in data/snapshots/demo/)")
    return "available: " + "; ".join(parts)


#: What ``load_snapshot`` accepts, for its error messages.
SNAPSHOT_FORMS = (
    "'latest', an as-of like 20261130T235959Z, a date like 2026-12-01, a date-time like "
    "2026-12-01T09:30Z, a month like 2026-06 (its last snapshot), a date/datetime/Timestamp (e.g. an as_of "
    "from list_snapshots()) or a snapshot folder"
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def month_bounds(text: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """``"2026-06"`` as (its first moment, its last moment) in UTC; None when ``text`` is no month."""
    m = MONTH_RE.match(text.strip()) if isinstance(text, str) else None
    if not m or not 1 <= int(m.group(2)) <= 12:
        return None
    start = pd.Timestamp(year=int(m.group(1)), month=int(m.group(2)), day=1, tz="UTC")
    return start, start + pd.offsets.MonthBegin(1) - pd.Timedelta(microseconds=1)


def _month_snapshot(text: str, data_dir: Any, environment: str | None, among: list[Snapshot] | None) -> Snapshot:
    """The last snapshot taken in the month ``text`` (UTC); else one line naming the nearest ones."""
    start, end = month_bounds(text)  # type: ignore[misc]
    env = resolve_environment(data_dir, environment)
    snaps = list(among) if among is not None else _snapshots(data_dir, env) if env else []
    inside = [s for s in snaps if start <= s.as_of <= end]
    if inside:
        return inside[-1]
    if not snaps:
        raise UsageError(f"no snapshot in {text} in {snapshots_root(data_dir)}; {_what_exists(data_dir)}")
    before = [s.name for s in snaps if s.as_of < start]
    after = [s.name for s in snaps if s.as_of > end]
    if not before:  # a month before the first snapshot: say which is the oldest
        raise UsageError(f"no snapshot taken in {text} (UTC) for {env}: the oldest is {snaps[0].name}")
    near = f"the newest before it is {before[-1]}" + (f", the oldest after it {after[0]}" if after else "")
    raise UsageError(f"no snapshot taken in {text} (UTC) for {env}: {near}")


def _wanted_time(snapshot: Any) -> tuple[pd.Timestamp, bool] | None:
    """(the UTC time asked for, whether it must match exactly) or None when ``snapshot`` is no time.

    An as-of name means that snapshot exactly; a date means the end of that day (UTC); a date-time,
    ``datetime`` or ``Timestamp`` means that moment (naive ones are UTC).
    """
    if isinstance(snapshot, pd.Timestamp | dt.datetime):
        return timestamps.parse(snapshot), False
    if isinstance(snapshot, dt.date):
        return _end_of_day(snapshot), False
    if not isinstance(snapshot, str):
        return None
    text = snapshot.strip()
    if timestamps.FOLDER_NAME.match(text):
        return timestamps.parse(text), True
    if _DATE_RE.match(text):
        try:
            return _end_of_day(dt.date.fromisoformat(text)), False
        except ValueError:
            return None
    if "T" in text or " " in text:
        try:
            return timestamps.parse(dt.datetime.fromisoformat(text.replace(" ", "T"))), False
        except ValueError:
            return None
    return None


def _end_of_day(day: dt.date) -> pd.Timestamp:
    """The last moment of ``day`` in UTC (a snapshot taken at any time that day is "at or before")."""
    return pd.Timestamp(dt.datetime.combine(day, dt.time.max), tz="UTC")


def selector_problem(snapshot: Any) -> str | None:
    """Why ``snapshot`` is not a selector :func:`load_snapshot` accepts (one line), or None: the one grammar of
    a snapshot's name wherever one is given (``--snapshot``, ``-p snapshot``, a config, Python). Reads nothing."""
    if snapshot is None or isinstance(snapshot, Snapshot | os.PathLike | pd.Timestamp | dt.date):
        return None
    if not isinstance(snapshot, str):
        return f"snapshot {snapshot!r} is not {SNAPSHOT_FORMS}"
    text = snapshot.strip()
    if text == "latest" or os.sep in text or month_bounds(text) is not None or _wanted_time(text) is not None:
        return None
    return f"snapshot {snapshot!r} is not {SNAPSHOT_FORMS}"


def load_snapshot(
    snapshot: Any = "latest",
    data_dir: str | os.PathLike[str] | None = None,
    environment: str | None = None,
    *,
    among: list[Snapshot] | None = None,
) -> Snapshot:
    """Open a stored snapshot. ``snapshot`` may be:

    * ``"latest"`` (the default): the newest snapshot;
    * an as-of name such as ``"20261126T061500Z"``: exactly that snapshot;
    * a date (``"2026-12-01"`` or a ``datetime.date``): the newest snapshot taken on or before that day
      (the day ends at midnight UTC);
    * a date-time (``"2026-12-01T09:30Z"``, a ``datetime`` or ``pandas.Timestamp``, e.g. an ``as_of``
      from :func:`list_snapshots`): the newest snapshot at or before that moment (naive means UTC);
    * a snapshot folder path, or a :class:`Snapshot` (returned as is).

    Arguments come in the order every loader uses: what to load, ``data_dir``, ``environment``.
    ``environment`` None means: the only environment in the store, else the one with the newest
    snapshot (an exact time is first looked for in every environment). Anything not found raises
    :class:`UsageError` in one line naming what the store holds.

    ``among``: the chain of ``environment`` already listed (:func:`chain`, which ``environment`` must name):
    the snapshot is picked from it instead of scanning the store again (the store is read again only to
    word an error).
    """

    def listed(env: str | None) -> list[Snapshot]:
        return list(among) if among is not None else _snapshots(data_dir, env)

    if snapshot is None:
        snapshot = "latest"
    if isinstance(snapshot, Snapshot):
        return snapshot
    if isinstance(snapshot, os.PathLike) or (
        isinstance(snapshot, str) and (os.sep in snapshot or (Path(snapshot) / MANIFEST).is_file())
    ):
        found = Snapshot.from_path(snapshot)
        problem = found.problem(check_name=False)
        if problem:
            raise StoreError(f"snapshot {found.path} is unusable: {problem}")
        return found
    if isinstance(snapshot, str) and snapshot.strip() == "latest":
        env = resolve_environment(data_dir, environment)
        newest = [s for s in (listed(env) if env or among is not None else []) if not s.derived]
        found = newest[-1] if newest else None  # a derived boundary is never "latest": it was not fetched
        if found is None:
            where = f" for environment '{environment}'" if environment else ""
            raise UsageError(f"no snapshot{where} in {snapshots_root(data_dir)}; {_what_exists(data_dir)}")
        return found
    if isinstance(snapshot, str) and month_bounds(snapshot) is not None:
        return _month_snapshot(snapshot.strip(), data_dir, environment, among)
    wanted = _wanted_time(snapshot)
    if wanted is None:
        raise UsageError(f"snapshot {snapshot!r} is not {SNAPSHOT_FORMS}")
    moment, exact = wanted
    # an as-of name names a folder (a derived boundary's as-of carries a fraction its name does not)
    matches = [s for s in listed(environment)
               if (s.name == timestamps.folder_name(moment) if exact else s.as_of == moment)]
    if len(matches) > 1:
        envs = ", ".join(s.environment for s in matches)
        raise UsageError(f"snapshot {timestamps.folder_name(moment)} exists in several environments ({envs}); "
                         "pass environment=")
    if matches:
        return matches[0]
    if exact:
        wanted_name = timestamps.folder_name(moment)
        broken = [(folder, why) for _, folder, _, why in _unusable(data_dir, environment)
                  if folder.name == wanted_name]
        if broken:
            raise StoreError(f"snapshot {broken[0][0]} is unusable: {broken[0][1]}")
        raise UsageError(f"no snapshot {wanted_name} in {snapshots_root(data_dir)}; {_what_exists(data_dir)}")
    env = resolve_environment(data_dir, environment)
    snaps = listed(env) if env else []
    earlier = [s for s in snaps if s.as_of <= moment]
    if not earlier:
        if snaps:  # asked for a time before the first snapshot: say which is the oldest
            raise UsageError(f"no snapshot at or before {timestamps.iso(moment)} for {env}: the oldest is "
                             f"{snaps[0].name} ({timestamps.iso(snaps[0].as_of)}), in {snapshots_root(data_dir)}")
        raise UsageError(f"no snapshot at or before {timestamps.iso(moment)} in {snapshots_root(data_dir)}; "
                         f"{_what_exists(data_dir)}")
    return earlier[-1]


_LIST_DTYPES = {
    "environment": "string",
    "as_of": "datetime64[us, UTC]",
    "path": "string",
    "complete": "bool",
    "strategy": "string",
    "customers": "Int64",
    "balance_rows": "Int64",
    "failed": "Int64",
    "api_calls": "Int64",
    "seconds": "float64",
    "resumed": "bool",
    "reconstructed": "bool",
    "derived": "bool",
    "usable": "bool",
    "problem": "string",
}


def chain(data_dir: Any, environment: str | None, *, until: Any = None) -> list[Snapshot]:
    """Every usable published snapshot of ``environment``, oldest first, up to ``until`` (an as-of, inclusive)
    when given: the snapshot chain a report or a statement reads, from one pass over the folder (manifests
    only; tables load lazily and are cached on each Snapshot, so hand the chain on rather than list again)."""
    limit = timestamps.parse(until) if until is not None else None
    return [s for s in _snapshots(data_dir, environment) if limit is None or s.as_of <= limit]


def list_snapshots(
    data_dir: str | os.PathLike[str] | None = None, environment: str | None = None
) -> pd.DataFrame:
    """Every published snapshot (all environments unless one is named), oldest first.

    Columns: environment, as_of, path, complete, strategy, customers, balance_rows, failed, api_calls,
    seconds, resumed, reconstructed (a month end rebuilt by ``credit-reports history``), derived (the account at
    a period boundary derived from the snapshots around it, never "latest"), usable, problem.
    Working folders (``.partial-*``) are not listed; unusable folders (see :meth:`Snapshot.problem`) are,
    with ``usable`` False and the reason in ``problem``, last.
    """
    _known_environment(data_dir, environment)
    rows = []
    for snap in _snapshots(data_dir, environment):
        m = snap.manifest
        counts = m.counts or {}
        rows.append(
            {
                "environment": snap.environment,
                "as_of": snap.as_of,
                "path": str(snap.path),
                "complete": snap.complete,
                "strategy": snap.strategy,
                "customers": counts.get("customers"),
                "balance_rows": counts.get("balance_rows"),
                "failed": len(m.failed_customer_ids or []),
                "api_calls": m.api_calls,
                "seconds": m.seconds,
                "resumed": bool(m.resumed),
                "reconstructed": snap.reconstructed,
                "derived": snap.derived,
                "usable": True,
                "problem": None,
            }
        )
    for env, folder, snap, problem in _unusable(data_dir, environment):
        as_of = None
        with contextlib.suppress(Exception):
            as_of = snap.as_of if snap is not None else None
        if as_of is not None and (as_of.year > 2262 or as_of.year < 1678):
            as_of = None
        rows.append({"environment": env, "as_of": as_of, "path": str(folder), "complete": False,
                     "usable": False, "problem": problem})
    return conform(pd.DataFrame(rows, columns=list(_LIST_DTYPES)), _LIST_DTYPES)


def _unusable(data_dir: Any, environment: str | None) -> list[tuple[str, Path, Snapshot | None, str]]:
    """(environment, folder, snapshot or None, problem) of every unusable published folder, by name."""
    out = []
    for env in [environment] if environment else environments(data_dir):
        for folder, snap, problem in sorted(_scan(snapshots_root(data_dir) / env), key=lambda t: t[0].name):
            if problem is not None:
                out.append((env, folder, snap, problem))
    return out


def check_snapshots(
    data_dir: str | os.PathLike[str] | None = None, environment: str | None = None
) -> list[tuple[Path, str | None]]:
    """Read every file of every published snapshot in full: ``(folder, problem or None)``, by name.

    What ``credit-reports snapshots --check`` prints. Slower than :func:`list_snapshots` (every row of
    every table is read), so it is for a check, not for every listing.
    """
    _known_environment(data_dir, environment)
    out: list[tuple[Path, str | None]] = []
    for env in [environment] if environment else environments(data_dir):
        for folder, snap, problem in sorted(_scan(snapshots_root(data_dir) / env), key=lambda t: t[0].name):
            if problem is None and snap is not None:
                problem = _missing_listed_file(snap) or snap.verify()
            out.append((folder, problem))
    return out


def _missing_listed_file(snap: Snapshot) -> str | None:
    """The first file the snapshot's manifest says it holds but that is gone, in one line, or None.

    Every snapshot holds balances, customers and subscriptions; one whose manifest says its window's
    movements were read (``evidence``) holds movements.parquet; any name in a ``files`` list counts too.
    Without this a deleted movements.parquet passed the check and reports dropped to "no evidence".
    """
    listed = ["balances.parquet", "customers.parquet", "subscriptions.parquet"]
    if snap.manifest.get("evidence"):
        listed.append("movements.parquet")
    files = snap.manifest.get("files")
    listed += [f for f in files if isinstance(f, str)] if isinstance(files, list) else []
    for name in listed:
        if not (snap.path / name).is_file():
            return (f"{name} is missing, though its manifest lists it; the snapshot is unusable (restore it or "
                    "fetch anew)")
    return None


def load_history(
    data_dir: str | os.PathLike[str] | None = None, environment: str | None = None, *,
    snapshots: list[Snapshot] | None = None,
) -> pd.DataFrame:
    """The balances of every snapshot of one environment as one frame, with an ``as_of`` column first.

    ``environment`` None: the only one in the store, else the one with the newest snapshot.
    ``snapshots``: the chain already listed (:func:`chain`): read those, without scanning the store again.
    Columns: as_of (UTC), customer_id, currency_code, available, reserved, used, complete.
    """
    if snapshots is None:
        env = resolve_environment(data_dir, environment)
        snapshots = _snapshots(data_dir, env) if env else []
    frames = []
    for snap in snapshots:
        bal = snap.balances.copy()
        bal.insert(0, "as_of", pd.Series(snap.as_of, index=bal.index, dtype="datetime64[us, UTC]"))
        bal["complete"] = snap.complete
        frames.append(bal)
    if not frames:
        out = empty_frame(BALANCE_DTYPES)
        out.insert(0, "as_of", pd.Series([], dtype="datetime64[us, UTC]"))
        out["complete"] = pd.Series([], dtype=bool)
        return out
    return pd.concat(frames, ignore_index=True)


def _remove_folder(folder: Path) -> None:
    """Delete a folder so no reader sees it half gone: rename out of sight, then remove."""
    hidden = folder.with_name(f"{DELETING_PREFIX}{folder.name}")
    os.rename(folder, hidden)
    fsync_dir(folder.parent)
    shutil.rmtree(hidden, ignore_errors=True)


def prune_snapshots(
    data_dir: str | os.PathLike[str] | None = None,
    environment: str | None = None,
    *,
    keep: int | None = None,
    older_than_days: float | None = None,
    now: Any = None,
) -> list[Path]:
    """Retention: delete old snapshots and return the folders deleted.

    A snapshot is deleted only when every rule given says so: it is not among the ``keep`` newest of
    its environment, and/or its as-of is more than ``older_than_days`` before ``now``. The newest
    snapshot and the newest complete snapshot of each environment are never deleted (the next fetch
    builds on them). ``environment`` None prunes every environment.
    """
    if keep is None and older_than_days is None:
        raise UsageError("prune_snapshots needs keep= (how many to keep) and/or older_than_days=")
    if keep is not None and (not isinstance(keep, int) or keep < 0):
        raise UsageError(f"keep must be a whole number >= 0, not {keep!r}")
    if older_than_days is not None and older_than_days < 0:
        raise UsageError(f"older_than_days must be >= 0, not {older_than_days!r}")
    cutoff = timestamps.parse(now if now is not None else pd.Timestamp.now(tz="UTC"))
    if older_than_days is not None:
        cutoff -= pd.Timedelta(days=older_than_days)
    removed: list[Path] = []
    for env in [environment] if environment else environments(data_dir):
        snaps = _snapshots(data_dir, env)
        fetched = [s for s in snaps if not s.derived]  # what the next fetch builds on: never a derived boundary
        protected = {fetched[-1].path} if fetched else set()
        complete = [s for s in fetched if s.complete]
        if complete:
            protected.add(complete[-1].path)
        for index, snap in enumerate(snaps):
            newer = len(snaps) - 1 - index
            if snap.path in protected:
                continue
            if keep is not None and newer < keep:
                continue
            if older_than_days is not None and snap.as_of >= cutoff:
                continue
            _remove_folder(snap.path)
            log.info("pruned snapshot %s", snap.path)
            removed.append(snap.path)
    return removed


def fetched_snapshots(data_dir: Any, environment: str) -> list[Snapshot]:
    """The fetched usable snapshots of an environment, oldest first: neither reconstructed by ``history`` nor
    derived at a boundary."""
    listing = list_snapshots(data_dir, environment)
    snaps = [Snapshot.from_path(p) for p, ok in zip(listing["path"], listing["usable"], strict=True) if ok]
    return [s for s in snaps if not s.manifest.get("reconstructed") and not s.derived]


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
