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
import errno
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from credit_reports import locks, timestamps
from credit_reports.errors import CreditReportsError, StoreError, UsageError
from credit_reports.redact import redact

__all__ = [
    "ADJUSTMENT_DTYPES",
    "BALANCE_DTYPES",
    "CUSTOMER_DTYPES",
    "MOVEMENT_DTYPES",
    "SUBSCRIPTION_DTYPES",
    "Snapshot",
    "SnapshotWriter",
    "BalanceJournal",
    "default_data_dir",
    "load_snapshot",
    "list_snapshots",
    "load_history",
    "prune_snapshots",
    "latest_snapshot",
    "check_snapshots",
    "usable_snapshot",
    "collapse_duplicates",
    "conform",
    "CLOCK_SKEW",
]

log = logging.getLogger("credit_reports.store")

SNAPSHOTS = "snapshots"
AS_OF_FORMAT = timestamps.FOLDER_FORMAT
_AS_OF_RE = timestamps.FOLDER_NAME
PARTIAL_PREFIX = ".partial-"
DELETING_PREFIX = ".deleting-"
CHECKPOINT = "checkpoint"
MANIFEST = "manifest.json"
LOCK_FILE = ".fetch.lock"
#: How far in the future an as-of may lie (clocks of two machines disagree a little); beyond it a folder is
#: refused as a snapshot and never followed by the next snapshot's stamp.
CLOCK_SKEW = pd.Timedelta(minutes=5)
#: The files every published snapshot has (subscriptions.parquet may be absent in older stores).
REQUIRED_FILES = ("balances.parquet", "customers.parquet")

#: Column -> dtype of each table, in column order. Amounts are int64 minor units, ids pandas strings.
BALANCE_DTYPES: dict[str, str] = {
    "customer_id": "string",
    "currency_code": "string",
    "available": "int64",
    "reserved": "int64",
    "used": "int64",
}
CUSTOMER_DTYPES: dict[str, str] = {
    "customer_id": "string",
    "status": "string",
    "created_at": "datetime64[us, UTC]",
    "updated_at": "datetime64[us, UTC]",
    "locale": "string",
    "marketing_consent": "bool",
    "custom_data": "string",
    "email": "string",
    "name": "string",
}
SUBSCRIPTION_DTYPES: dict[str, str] = {
    "subscription_id": "string",
    "customer_id": "string",
    "status": "string",
    "currency_code": "string",
    "billing_interval": "string",
    "billing_frequency": "Int64",
    "price_id": "string",
    "product_id": "string",
    "created_at": "datetime64[us, UTC]",
}
#: One row per credit movement (docs/credit-rules.md, "Movements"). Ids not applicable are "".
MOVEMENT_DTYPES: dict[str, str] = {
    "kind": "string",
    "customer_id": "string",
    "currency_code": "string",
    "amount": "int64",
    "available_delta": "int64",
    "reserved_delta": "int64",
    "used_delta": "int64",
    "occurred_at": "datetime64[us, UTC]",
    "source": "string",
    "event_id": "string",
    "transaction_id": "string",
    "adjustment_id": "string",
}
#: Credit adjustments as listed by ``GET /adjustments?action=credit`` (``total`` signed, as Paddle sends it).
ADJUSTMENT_DTYPES: dict[str, str] = {
    "id": "string",
    "action": "string",
    "status": "string",
    "customer_id": "string",
    "currency_code": "string",
    "total": "int64",
    "credit_applied_to_balance": "boolean",
    "transaction_id": "string",
    "subscription_id": "string",
    "created_at": "datetime64[us, UTC]",
    "updated_at": "datetime64[us, UTC]",
}
_TABLES = {
    "balances": BALANCE_DTYPES, "customers": CUSTOMER_DTYPES, "subscriptions": SUBSCRIPTION_DTYPES,
    "movements": MOVEMENT_DTYPES, "adjustments": ADJUSTMENT_DTYPES,
}


# -- small helpers -----------------------------------------------------------------------------------


def default_data_dir() -> Path:
    """The snapshot store: ``$CREDIT_REPORTS_DATA_DIR`` when set, else ``./data``."""
    return Path(os.environ.get("CREDIT_REPORTS_DATA_DIR") or "data")


# As-of times are parsed and written by credit_reports.timestamps (the one parser and formatter).
_utc = timestamps.parse


def conform(df: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    """``df`` with exactly the columns of ``dtypes``, in that order and with those dtypes.

    Missing columns are added empty; extra columns are kept after the documented ones. This is what
    makes the dtypes survive every path: fresh from the API, from Parquet, or an empty result.
    """
    out = pd.DataFrame(index=df.index)
    for name, dtype in dtypes.items():
        col = df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index, dtype=object)
        if dtype.startswith("datetime64"):
            if not isinstance(col.dtype, pd.DatetimeTZDtype):
                col = pd.to_datetime(col, utc=True, format="ISO8601")
            col = col.astype(dtype)
        elif dtype == "bool":
            col = col.astype(object).where(col.notna(), False).astype(bool)
        else:
            col = col.astype(dtype)
        out[name] = col
    for name in df.columns:
        if name not in dtypes:
            out[name] = df[name]
    return out


def empty_frame(dtypes: Mapping[str, str]) -> pd.DataFrame:
    """An empty DataFrame with the documented columns and dtypes."""
    return conform(pd.DataFrame(), dtypes)


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (best effort where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` via a temporary file, fsync and ``os.replace``: never half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    text = redact(json.dumps(obj, indent=2, sort_keys=False, default=str))  # nothing secret reaches disk
    with _naming(path), open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    with _naming(path):
        os.replace(tmp, path)
    _fsync_dir(path.parent)


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """OSErrors (a full disk, a read-only folder) raised inside name ``path``, so the one line says where."""
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise StoreError(
                f"no space left on the device while writing {path}; free some space and run again "
                "(an interrupted fetch resumes where it stopped)"
            ) from None
        if exc.filename is None:
            exc.filename = str(path)
        raise


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Write a table to Parquet durably (temporary name, fsync, replace), without the index."""
    tmp = path.with_name(f".{path.name}.tmp")
    with _naming(path):
        df.reset_index(drop=True).to_parquet(tmp, index=False)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)


def read_table(path: Path, dtypes: Mapping[str, str], columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet table and conform it to the documented dtypes (empty frame when the file is absent).

    ``columns`` reads only those columns (of ``dtypes``), e.g. just the ids of a large table.
    """
    if columns is not None:
        dtypes = {name: dtypes[name] for name in columns}
    if not path.exists():
        return empty_frame(dtypes)
    return conform(pd.read_parquet(path, columns=columns), dtypes)


# -- reading snapshots -------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """One published snapshot folder: its manifest, and its tables loaded lazily on first use."""

    path: Path
    manifest: dict[str, Any]
    _cache: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> Snapshot:
        """Open the snapshot folder at ``path`` (UsageError when it is not one)."""
        folder = Path(path)
        manifest_path = folder / MANIFEST
        if not manifest_path.is_file():
            raise UsageError(f"{folder} is not a snapshot folder (no {MANIFEST}); pass a folder under "
                             f"<data-dir>/{SNAPSHOTS}/<environment>/")
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
        if check_name and not _AS_OF_RE.match(self.path.name):
            return f"folder name {self.path.name!r} is not an as-of like 20261126T061500Z"
        if check_name and timestamps.folder_name(self.as_of) != self.path.name:
            return f"its manifest's as_of {self.manifest.get('as_of')!r} does not match the folder name"
        limit = _utc(now if now is not None else pd.Timestamp.now(tz="UTC")) + CLOCK_SKEW
        if self.as_of > limit:
            return f"its as-of {timestamps.iso(self.as_of)} is in the future"
        shape = _manifest_problem(self.manifest)
        if shape:
            return shape
        for name in (*REQUIRED_FILES, "subscriptions.parquet"):
            path = self.path / name
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
        for name, dtypes in _TABLES.items():
            path = self.path / f"{name}.parquet"
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
        value = self.manifest.get("as_of") or self.path.name
        return timestamps.parse(value)

    @property
    def name(self) -> str:
        """The folder name, e.g. ``20261126T061500Z``."""
        return self.path.name

    @property
    def environment(self) -> str:
        return str(self.manifest.get("environment") or self.path.parent.name)

    @property
    def complete(self) -> bool:
        """False when some customers could not be fetched (listed in ``failed_customer_ids``)."""
        return bool(self.manifest.get("complete", False))

    @property
    def strategy(self) -> str | None:
        return self.manifest.get("strategy")

    @property
    def failed_customer_ids(self) -> list[str]:
        return list(self.manifest.get("failed_customer_ids") or [])

    @property
    def verification(self) -> dict[str, Any] | None:
        """How the fetch checked the rule that let it skip customers: ``{rule, skipped, sample_size, found,
        found_customer_ids, fallback, unavailable}``; None for ``full`` or snapshots older than the check."""
        return self.manifest.get("verification")

    def _table(self, name: str) -> pd.DataFrame:
        if name not in self._cache:
            path = self.path / f"{name}.parquet"
            try:
                self._cache[name] = read_table(path, _TABLES[name])
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
    def has_movements(self) -> bool:
        """True when the fetch stored ``movements.parquet`` (even an empty one: no credit moved)."""
        return (self.path / "movements.parquet").is_file()

    def __repr__(self) -> str:
        """Short: environment/as-of, completeness, strategy and counts (never the tables)."""
        state = "complete" if self.complete else "INCOMPLETE"
        counts = self.manifest.get("counts") or {}
        rows = f", {counts['balance_rows']:,} balance rows" if isinstance(counts.get("balance_rows"), int) else ""
        return f"Snapshot({self.environment}/{self.name}, {state}, strategy={self.strategy}{rows})"


def _root(data_dir: str | os.PathLike[str] | None) -> Path:
    return (Path(data_dir) if data_dir is not None else default_data_dir()) / SNAPSHOTS


def _environments(data_dir: str | os.PathLike[str] | None) -> list[str]:
    root = _root(data_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _one_line(exc: BaseException) -> str:
    """An exception as one short line (pyarrow's messages can span lines)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:159] + "…"


#: The snapshot manifest's schema: every field ``manifest.json`` holds, in the order the fetch writes them
#: (``duplicates_collapsed`` is added by :meth:`SnapshotWriter.publish` when it collapses rows). The fetch
#: writes these names and the readers here read them; tests/test_store.py checks a fetched manifest
#: against this list, so a field added on one side only fails a test instead of drifting.
MANIFEST_FIELDS: tuple[str, ...] = (
    "as_of", "environment", "base_url", "strategy", "requested_strategy", "fallback_reason", "complete",
    "counts", "api_calls", "retries", "rate_limited", "failures", "failed_customer_ids",
    "failed_carried_over_ids", "verification", "seconds", "max_rpm", "workers", "toolkit_version",
    "events_high_water", "events_readable", "evidence", "base_snapshot", "previous_snapshot",
    "subscriptions_unavailable", "resumed", "published_at", "duplicates_collapsed",
)

#: Manifest fields readers rely on, with the JSON types they must have when present.
_MANIFEST_TYPES: dict[str, tuple[type, ...]] = {
    "complete": (bool,), "counts": (dict,), "failed_customer_ids": (list,), "api_calls": (int,),
    "seconds": (int, float), "strategy": (str,), "environment": (str,), "base_url": (str,),
}


def _manifest_problem(manifest: Mapping[str, Any]) -> str | None:
    """Why a manifest's fields cannot be read (e.g. ``counts`` that is a list), or None."""
    for name, kinds in _MANIFEST_TYPES.items():
        value = manifest.get(name)
        if value is None:
            continue
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            return f"its manifest's {name} is a {type(value).__name__}, not a {kinds[0].__name__}"
    counts = manifest.get("counts") or {}
    for name, value in counts.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return f"its manifest's counts.{name} is not a whole number"
    return None


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
    envs = [environment] if environment else _environments(data_dir)
    found = [s for env in envs for s in _iter_snapshots(_root(data_dir) / env)]
    return sorted(found, key=lambda s: (s.as_of, s.environment, s.name))


def _resolve_environment(data_dir: Any, environment: str | None) -> str | None:
    """The environment asked for; else the only one present; else the one with the newest snapshot."""
    if environment:
        return environment
    envs = _environments(data_dir)
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
    """The newest published snapshot of ``environment`` (None when there is none)."""
    snaps = [s for s in _snapshots(data_dir, environment) if s.complete or not complete_only]
    return snaps[-1] if snaps else None


def _what_exists(data_dir: Any) -> str:
    """One line naming what the store holds, for 'not found' messages."""
    parts = []
    for env in _environments(data_dir):
        names = [s.name for s in _snapshots(data_dir, env)]
        if names:
            shown = ", ".join(names[-5:])
            more = f" (+{len(names) - 5} older)" if len(names) > 5 else ""
            parts.append(f"{env}: {shown}{more}")
    if not parts:
        return ("the store holds no snapshots yet: run `credit-reports fetch` first (or `make report` for the "
                "demo's, kept in data/snapshots/demo/)")
    return "available: " + "; ".join(parts)


#: What ``load_snapshot`` accepts, for its error messages.
SNAPSHOT_FORMS = (
    "'latest', an as-of like 20261126T061500Z, a date like 2026-12-01, a date-time like "
    "2026-12-01T09:30Z, a date/datetime/Timestamp (e.g. an as_of from list_snapshots()) or a snapshot folder"
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _wanted_time(snapshot: Any) -> tuple[pd.Timestamp, bool] | None:
    """(the UTC time asked for, whether it must match exactly) or None when ``snapshot`` is no time.

    An as-of name means that snapshot exactly; a date means the end of that day (UTC); a date-time,
    ``datetime`` or ``Timestamp`` means that moment (naive ones are UTC).
    """
    if isinstance(snapshot, pd.Timestamp | dt.datetime):
        return _utc(snapshot), False
    if isinstance(snapshot, dt.date):
        return _end_of_day(snapshot), False
    if not isinstance(snapshot, str):
        return None
    text = snapshot.strip()
    if _AS_OF_RE.match(text):
        return timestamps.parse(text), True
    if _DATE_RE.match(text):
        try:
            return _end_of_day(dt.date.fromisoformat(text)), False
        except ValueError:
            return None
    if "T" in text or " " in text:
        try:
            return _utc(dt.datetime.fromisoformat(text.replace(" ", "T"))), False
        except ValueError:
            return None
    return None


def _end_of_day(day: dt.date) -> pd.Timestamp:
    """The last moment of ``day`` in UTC (a snapshot taken at any time that day is "at or before")."""
    return pd.Timestamp(dt.datetime.combine(day, dt.time.max), tz="UTC")


def load_snapshot(
    snapshot: Any = "latest",
    data_dir: str | os.PathLike[str] | None = None,
    environment: str | None = None,
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
    """
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
        env = _resolve_environment(data_dir, environment)
        found = latest_snapshot(data_dir, env) if env else None
        if found is None:
            where = f" for environment '{environment}'" if environment else ""
            raise UsageError(f"no snapshot{where} in {_root(data_dir)}; {_what_exists(data_dir)}")
        return found
    wanted = _wanted_time(snapshot)
    if wanted is None:
        raise UsageError(f"snapshot {snapshot!r} is not {SNAPSHOT_FORMS}")
    moment, exact = wanted
    matches = [s for s in _snapshots(data_dir, environment) if s.as_of == moment]
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
        raise UsageError(f"no snapshot {wanted_name} in {_root(data_dir)}; {_what_exists(data_dir)}")
    env = _resolve_environment(data_dir, environment)
    earlier = [s for s in _snapshots(data_dir, env) if s.as_of <= moment] if env else []
    if not earlier:
        raise UsageError(f"no snapshot at or before {timestamps.iso(moment)} in {_root(data_dir)}; "
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
    "usable": "bool",
    "problem": "string",
}


def list_snapshots(
    data_dir: str | os.PathLike[str] | None = None, environment: str | None = None
) -> pd.DataFrame:
    """Every published snapshot (all environments unless one is named), oldest first.

    Columns: environment, as_of, path, complete, strategy, customers, balance_rows, failed, api_calls,
    seconds, resumed, usable, problem. Working folders (``.partial-*``) are not listed; unusable folders
    (see :meth:`Snapshot.problem`) are, with ``usable`` False and the reason in ``problem``, last.
    """
    rows = []
    for snap in _snapshots(data_dir, environment):
        m = snap.manifest
        counts = m.get("counts") or {}
        rows.append(
            {
                "environment": snap.environment,
                "as_of": snap.as_of,
                "path": str(snap.path),
                "complete": snap.complete,
                "strategy": snap.strategy,
                "customers": counts.get("customers"),
                "balance_rows": counts.get("balance_rows"),
                "failed": len(m.get("failed_customer_ids") or []),
                "api_calls": m.get("api_calls"),
                "seconds": m.get("seconds"),
                "resumed": bool(m.get("resumed", False)),
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
    for env in [environment] if environment else _environments(data_dir):
        for folder, snap, problem in sorted(_scan(_root(data_dir) / env), key=lambda t: t[0].name):
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
    out: list[tuple[Path, str | None]] = []
    for env in [environment] if environment else _environments(data_dir):
        for folder, snap, problem in sorted(_scan(_root(data_dir) / env), key=lambda t: t[0].name):
            if problem is None and snap is not None:
                problem = snap.verify()
            out.append((folder, problem))
    return out


def load_history(
    data_dir: str | os.PathLike[str] | None = None, environment: str | None = None
) -> pd.DataFrame:
    """The balances of every snapshot of one environment as one frame, with an ``as_of`` column first.

    ``environment`` None: the only one in the store, else the one with the newest snapshot.
    Columns: as_of (UTC), customer_id, currency_code, available, reserved, used, complete.
    """
    env = _resolve_environment(data_dir, environment)
    frames = []
    for snap in _snapshots(data_dir, env) if env else []:
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
    _fsync_dir(folder.parent)
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
    cutoff = _utc(now if now is not None else pd.Timestamp.now(tz="UTC"))
    if older_than_days is not None:
        cutoff -= pd.Timedelta(days=older_than_days)
    removed: list[Path] = []
    for env in [environment] if environment else _environments(data_dir):
        snaps = _snapshots(data_dir, env)
        protected = {snaps[-1].path} if snaps else set()
        complete = [s for s in snaps if s.complete]
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


# -- writing snapshots -------------------------------------------------------------------------------


class BalanceJournal:
    """Append-only JSON Lines of per-customer results, fsynced by :meth:`flush` (and every ``flush_every``).

    One line per customer fetched: ``{"id": ..., "rows": [[currency, available, reserved, used], ...]}``
    or ``{"id": ..., "error": "..."}`` when it failed; ``{"stats": {...}}`` lines carry the call counts so
    far, so a resumed fetch reports the calls of every attempt. A line cut short by a kill is ignored
    and trimmed before appending. A later line for the same customer wins (a failure then a success).
    """

    def __init__(self, path: Path, flush_every: int = 200) -> None:
        self.path = path
        self.flush_every = max(1, int(flush_every))
        self._pending = 0
        self._fh: Any = None

    def load(self) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        """(results by customer id, the last stats record) from the journal on disk."""
        results: dict[str, dict[str, Any]] = {}
        stats: dict[str, Any] = {}
        if not self.path.exists():
            return results, stats
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # cut short by a kill: not written in full, so not done
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if "stats" in record:
                    stats = record["stats"]
                elif "id" in record:
                    results[record["id"]] = record
        return results, stats

    def _open(self) -> None:
        if self._fh is not None:
            return
        if self.path.exists():  # trim a last line cut short by a kill, so appends start on a fresh line
            data = self.path.read_bytes()
            if data and not data.endswith(b"\n"):
                with open(self.path, "r+b") as fh:
                    fh.truncate(data.rfind(b"\n") + 1)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across appends

    def append(self, record: Mapping[str, Any]) -> None:
        """Add one record; every ``flush_every`` records the journal is flushed and fsynced."""
        self._open()
        if "error" in record:  # error texts may quote a server's answer: never let a key reach the disk
            record = {**record, "error": redact(record["error"])}
        with _naming(self.path):
            self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._pending += 1
        if self._pending >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Make everything appended so far durable."""
        if self._fh is not None:
            with _naming(self.path):
                self._fh.flush()
                os.fsync(self._fh.fileno())
        self._pending = 0

    def close(self) -> None:
        if self._fh is not None:
            self.flush()
            self._fh.close()
            self._fh = None


class SnapshotWriter:
    """The working folder of one snapshot being fetched: lock, checkpoint, resume, atomic publish.

    :meth:`open` takes the environment's fetch lock, then resumes the newest ``.partial-*`` folder of
    that environment (same as-of as the interrupted run) or starts a new one. The fetch stores what it
    has learnt as it goes (:meth:`update_state`, :meth:`save_frame`, :meth:`save_json`, the
    :attr:`journal`) and finally calls :meth:`publish`.
    """

    def __init__(self, env_dir: Path, as_of: str, *, resumed: bool, lock_fd: int | None) -> None:
        self.env_dir = env_dir
        self.as_of = as_of
        self.resumed = resumed
        self.path = env_dir / f"{PARTIAL_PREFIX}{as_of}"
        self.checkpoint = self.path / CHECKPOINT
        self.checkpoint.mkdir(parents=True, exist_ok=True)
        self._lock_fd = lock_fd
        self.journal = BalanceJournal(self.checkpoint / "balances.jsonl")
        state_path = self.checkpoint / "state.json"
        self.state: dict[str, Any] = json.loads(state_path.read_text()) if state_path.exists() else {}

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, data_dir: str | os.PathLike[str] | None, environment: str, *, resume: bool = True, now: Any = None
    ) -> SnapshotWriter:
        """Lock the environment and resume its newest working folder, or start a new one.

        Raises :class:`UsageError` when another fetch of the same environment is running.
        """
        env_dir = _root(data_dir) / environment
        env_dir.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(env_dir)
        try:
            partials = sorted(p for p in env_dir.glob(f"{PARTIAL_PREFIX}*") if (p / CHECKPOINT).is_dir())
            partials = [p for p in partials if not _in_the_future(p, now)]
            for stale in env_dir.glob(f"{DELETING_PREFIX}*"):
                shutil.rmtree(stale, ignore_errors=True)
            _finish_cleanup(env_dir)
            if resume and partials:
                newest = partials[-1]
                for stale in partials[:-1]:
                    log.info("removing an older unfinished snapshot %s", stale)
                    shutil.rmtree(stale, ignore_errors=True)
                as_of = newest.name[len(PARTIAL_PREFIX):]
                writer = cls(env_dir, as_of, resumed=True, lock_fd=lock_fd)
                if writer.state:
                    log.info("resuming the unfinished snapshot %s", newest)
                    return writer
                writer.discard()  # nothing useful recorded yet: start afresh below
            else:
                for stale in partials:
                    shutil.rmtree(stale, ignore_errors=True)
            return cls(env_dir, cls._new_as_of(env_dir, now), resumed=False, lock_fd=lock_fd)
        except BaseException:
            _unlock(lock_fd)
            raise

    @staticmethod
    def _new_as_of(env_dir: Path, now: Any) -> str:
        """Now (UTC, whole seconds), moved a second past the newest existing snapshot if they clash.

        Folders stamped in the future (beyond ``CLOCK_SKEW``) are ignored with a warning: a stray
        ``20991231T000000Z/`` must not move every later snapshot to 2099.
        """
        stamp = _utc(now if now is not None else pd.Timestamp.now(tz="UTC")).floor("s")
        names = [p.name.removeprefix(PARTIAL_PREFIX) for p in env_dir.iterdir()]
        taken = []
        for name in names:
            if not _AS_OF_RE.match(name):
                continue
            try:
                when = timestamps.parse(name)
            except (ValueError, TypeError, OverflowError):
                continue
            if when > stamp + CLOCK_SKEW:
                log.warning("ignoring %s: its as-of lies in the future (check the clock, or remove it)",
                            env_dir / name)
                continue
            taken.append(when)
        if taken and stamp <= max(taken):
            stamp = max(taken) + pd.Timedelta(seconds=1)
        return timestamps.folder_name(stamp)

    def restart(self, now: Any = None) -> None:
        """Throw the working folder away and start a new one (e.g. the interrupted run was different)."""
        self.journal.close()
        shutil.rmtree(self.path, ignore_errors=True)
        self.__init__(self.env_dir, self._new_as_of(self.env_dir, now), resumed=False, lock_fd=self._lock_fd)

    # -- checkpointing -----------------------------------------------------------------------------

    def update_state(self, **values: Any) -> None:
        """Merge ``values`` into the checkpointed state and write it durably."""
        self.state.update(values)
        write_json_atomic(self.checkpoint / "state.json", self.state)

    def save_json(self, name: str, obj: Any) -> None:
        write_json_atomic(self.checkpoint / f"{name}.json", obj)

    def load_json(self, name: str) -> Any:
        path = self.checkpoint / f"{name}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def save_frame(self, name: str, df: pd.DataFrame) -> None:
        write_parquet(df, self.checkpoint / f"{name}.parquet")
        _fsync_dir(self.checkpoint)

    def load_frame(
        self, name: str, dtypes: Mapping[str, str], columns: list[str] | None = None
    ) -> pd.DataFrame | None:
        """A table saved in the checkpoint (only ``columns`` when given), None when it was not saved."""
        path = self.checkpoint / f"{name}.parquet"
        return read_table(path, dtypes, columns) if path.exists() else None

    # -- finishing ---------------------------------------------------------------------------------

    def publish(
        self,
        *,
        balances: pd.DataFrame,
        customers: pd.DataFrame,
        subscriptions: pd.DataFrame,
        manifest: Mapping[str, Any],
        movements: pd.DataFrame | None = None,
        adjustments: pd.DataFrame | None = None,
    ) -> Snapshot:
        """Write the final files, rename the working folder to ``<as_of>/`` atomically, drop the checkpoint.

        ``movements`` / ``adjustments`` are written only when given (an empty frame still writes the file:
        "events read, no credit moved" differs from "no evidence").
        """
        self.journal.close()
        balances, collapsed = collapse_duplicates(conform(balances, BALANCE_DTYPES))
        manifest = dict(manifest)
        manifest["duplicates_collapsed"] = collapsed
        failed = manifest.get("failed_customer_ids")
        if isinstance(failed, list) and len(set(failed)) != len(failed):  # a customer listed twice failed once
            manifest["failed_customer_ids"] = sorted(set(failed))
            if isinstance(manifest.get("counts"), dict):
                manifest["counts"] = {**manifest["counts"], "failed": len(manifest["failed_customer_ids"])}
        if collapsed and isinstance(manifest.get("counts"), dict):
            manifest["counts"] = {**manifest["counts"], "balance_rows": int(len(balances))}
        write_parquet(balances, self.path / "balances.parquet")
        write_parquet(conform(customers, CUSTOMER_DTYPES), self.path / "customers.parquet")
        write_parquet(conform(subscriptions, SUBSCRIPTION_DTYPES), self.path / "subscriptions.parquet")
        if movements is not None:
            write_parquet(conform(movements, MOVEMENT_DTYPES), self.path / "movements.parquet")
        if adjustments is not None:
            write_parquet(conform(adjustments, ADJUSTMENT_DTYPES), self.path / "adjustments.parquet")
        write_json_atomic(self.path / MANIFEST, dict(manifest))
        final = self.env_dir / self.as_of
        if final.exists():
            raise CreditReportsError(f"cannot publish {final}: a snapshot with that as-of already exists")
        os.rename(self.path, final)
        _fsync_dir(self.env_dir)
        shutil.rmtree(final / CHECKPOINT, ignore_errors=True)
        self.path = final
        self.close()
        return Snapshot.from_path(final)

    def discard(self) -> None:
        """Remove the working folder (nothing is published)."""
        self.journal.close()
        shutil.rmtree(self.path, ignore_errors=True)

    def close(self) -> None:
        """Flush the journal and release the lock (the working folder stays for a later resume)."""
        self.journal.close()
        if self._lock_fd is not None:
            _unlock(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def collapse_duplicates(balances: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """One row per (customer, currency), the last one Paddle sent winning; and how many rows were dropped.

    Paddle can return a customer on two list pages (the list moved while being paged) or a currency
    twice; summing both would count that credit twice. Every snapshot passes through here when published.
    """
    duplicated = balances.duplicated(["customer_id", "currency_code"], keep="last")
    collapsed = int(duplicated.sum())
    if not collapsed:
        return balances, 0
    log.warning("collapsed %d duplicate balance row(s) (same customer and currency) before publishing", collapsed)
    kept = balances[~duplicated]
    return kept.sort_values(["customer_id", "currency_code"], kind="stable").reset_index(drop=True), collapsed


def _in_the_future(partial: Path, now: Any) -> bool:
    """True (and the folder removed, with a warning) for a working folder stamped beyond the clock skew."""
    name = partial.name.removeprefix(PARTIAL_PREFIX)
    try:
        when = timestamps.parse(name)
    except (ValueError, TypeError, OverflowError):
        when = None
    limit = _utc(now if now is not None else pd.Timestamp.now(tz="UTC")) + CLOCK_SKEW
    if when is not None and when <= limit:
        return False
    log.warning("removing the unfinished snapshot %s: its as-of is not a time up to now", partial)
    shutil.rmtree(partial, ignore_errors=True)
    return True


def _finish_cleanup(env_dir: Path) -> None:
    """Remove ``checkpoint/`` left inside published snapshots by a kill between publishing and cleanup."""
    for left in env_dir.glob(f"*/{CHECKPOINT}"):
        folder = left.parent
        if folder.name.startswith(".") or not (folder / MANIFEST).is_file():
            continue
        log.info("finishing the cleanup of %s (a checkpoint was left after publishing)", folder)
        hidden = env_dir / f"{DELETING_PREFIX}{folder.name}-{CHECKPOINT}"
        try:
            os.rename(left, hidden)
        except OSError:
            continue
        shutil.rmtree(hidden, ignore_errors=True)


def _lock(env_dir: Path) -> int | None:
    """Take the environment's fetch lock (released by the OS even when the process is killed)."""
    try:
        with _naming(env_dir / LOCK_FILE):
            return locks.acquire(env_dir / LOCK_FILE)
    except locks.LockHeld as held:
        who = f" (pid {held.holder})" if held.holder else ""
        raise UsageError(
            f"another fetch into {env_dir} is running{who}; wait for it to finish, then fetch again"
        ) from None


_unlock = locks.release

