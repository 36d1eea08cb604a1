"""Writing a snapshot: the checkpointed working folder, the per-customer journal, and the atomic publish.

A snapshot being fetched lives in ``<environment>/.partial-<as_of>/`` with a ``checkpoint/`` folder (state,
the plan, the customers listed and an append-only journal of per-customer results, :class:`BalanceJournal`),
so a fetch killed at any moment resumes where it stopped. :meth:`SnapshotWriter.publish` renames the working
folder to its final name in one ``os.rename``, so a reader sees either no snapshot or all of it. The layout
is described in :mod:`credit_reports.store.reader`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from credit_reports.core import locks, timestamps
from credit_reports.core.errors import CreditReportsError, StoreLockedError, TotalOverflowError
from credit_reports.core.redact import redact
from credit_reports.store import revisions
from credit_reports.store.files import (
    ADJUSTMENT_DTYPES,
    BALANCE_DTYPES,
    CHECKPOINT,
    CLOCK_SKEW,
    CUSTOMER_DTYPES,
    DELETING_PREFIX,
    LOCK_FILE,
    MANIFEST,
    MOVEMENT_DTYPES,
    PARTIAL_PREFIX,
    SUBSCRIPTION_DTYPES,
    conform,
    fsync_dir,
    naming_errors,
    read_table,
    write_json_atomic,
    write_parquet,
)
from credit_reports.store.manifests import SnapshotManifest
from credit_reports.store.reader import Snapshot, snapshots_root

__all__ = [
    "BalanceJournal", "SnapshotWriter", "StoreWriter", "collapse_duplicates", "lock_environment",
    "snapshot_totals", "unlock_environment",
]

log = logging.getLogger("credit_reports.store")


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
        with naming_errors(self.path):
            self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._pending += 1
        if self._pending >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Make everything appended so far durable."""
        if self._fh is not None:
            with naming_errors(self.path):
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
        env_dir = snapshots_root(data_dir) / environment
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
        stamp = timestamps.parse(now if now is not None else pd.Timestamp.now(tz="UTC")).floor("s")
        names = [p.name.removeprefix(PARTIAL_PREFIX) for p in env_dir.iterdir()]
        taken = []
        for name in names:
            if not timestamps.FOLDER_NAME.match(name):
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
        fsync_dir(self.checkpoint)

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
        manifest: SnapshotManifest | Mapping[str, Any],
        movements: pd.DataFrame | None = None,
        adjustments: pd.DataFrame | None = None,
    ) -> Snapshot:
        """Write the final files, rename the working folder to ``<as_of>/`` atomically, drop the checkpoint.

        ``movements`` / ``adjustments`` are written only when given (an empty frame still writes the file:
        "events read, no credit moved" differs from "no evidence").
        """
        self.journal.close()
        balances, collapsed = collapse_duplicates(conform(balances, BALANCE_DTYPES))
        record = SnapshotManifest.from_json(manifest).updated(duplicates_collapsed=collapsed)
        failed = record.failed_customer_ids
        if isinstance(failed, list) and len(set(failed)) != len(failed):  # a customer listed twice failed once
            record = record.updated(failed_customer_ids=sorted(set(failed)))
            if isinstance(record.counts, dict):
                record = record.updated(counts={**record.counts, "failed": len(record.failed_customer_ids)})
        if collapsed and isinstance(record.counts, dict):
            record = record.updated(counts={**record.counts, "balance_rows": int(len(balances))})
        write_parquet(balances, self.path / "balances.parquet")
        write_parquet(conform(customers, CUSTOMER_DTYPES), self.path / "customers.parquet")
        write_parquet(conform(subscriptions, SUBSCRIPTION_DTYPES), self.path / "subscriptions.parquet")
        if movements is not None:
            write_parquet(conform(movements, MOVEMENT_DTYPES), self.path / "movements.parquet")
        if adjustments is not None:
            write_parquet(conform(adjustments, ADJUSTMENT_DTYPES), self.path / "adjustments.parquet")
        write_json_atomic(self.path / MANIFEST, record.to_json())
        final = self.env_dir / self.as_of
        if final.exists():
            raise CreditReportsError(f"cannot publish {final}: a snapshot with that as-of already exists")
        os.rename(self.path, final)
        fsync_dir(self.env_dir)
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


#: The prefix of a snapshot the store's writer builds outside a fetch (derived or reconstructed), before its rename.
WRITING_PREFIX = ".writing-"


class StoreWriter:
    """The one writer of everything published in an environment besides a fetch's own snapshot: snapshots that
    are built, not fetched (``derived`` boundaries, ``reconstructed`` month ends), and revisions of published
    snapshots (history files, corrections). Every write is one rename (a reader sees all of it or nothing),
    every manifest is a :class:`SnapshotManifest`, and every new snapshot carries its ``totals``.

    ``open`` takes the environment's lock; code that already holds it (``history``) passes ``lock_fd=None``
    to the constructor and keeps it.
    """

    def __init__(self, env_dir: Path, *, lock_fd: int | None = None) -> None:
        self.env_dir = env_dir
        self._lock_fd = lock_fd

    @classmethod
    def open(cls, data_dir: str | os.PathLike[str] | None, environment: str) -> StoreWriter:
        """Lock the environment (UsageError when a fetch or another writer holds it) and write into it."""
        env_dir = snapshots_root(data_dir) / environment
        with naming_errors(env_dir):
            env_dir.mkdir(parents=True, exist_ok=True)
        return cls(env_dir, lock_fd=_lock(env_dir))

    def publish_snapshot(
        self,
        manifest: SnapshotManifest | Mapping[str, Any],
        *,
        tables: Mapping[str, pd.DataFrame],
        reason: str,
    ) -> Snapshot:
        """Publish a built snapshot at ``manifest.as_of`` with ``tables`` (balances and customers at least).

        When a snapshot of the same strategy already stands at that as-of, the new one is a revision of it
        with ``reason`` (nothing is written when it equals the current one); a snapshot of another strategy
        there (a fetched one) is never replaced.
        """
        record = SnapshotManifest.from_json(manifest)
        if not isinstance(record.totals, dict):
            raise CreditReportsError(f"a {record.strategy} snapshot is published with its totals; none given")
        missing = [name for name in ("balances", "customers") if name not in tables]
        if missing:
            raise CreditReportsError(f"a snapshot needs {' and '.join(missing)} to be published")
        name = timestamps.folder_name(record.as_of)
        final = self.env_dir / name
        if (final / MANIFEST).is_file():
            current = Snapshot.from_path(final)
            if current.strategy != record.strategy:
                raise CreditReportsError(
                    f"{final} is a {current.strategy} snapshot; a {record.strategy} one never replaces it")
            revisions.add_revision(final, reason=reason, manifest=record.to_json(), tables=tables)
            return Snapshot.from_path(final)
        work = self.env_dir / f"{WRITING_PREFIX}{name}"
        shutil.rmtree(work, ignore_errors=True)
        with naming_errors(work):
            work.mkdir(parents=True)
        try:
            revisions.stage_files(work, tables=tables)
            write_json_atomic(work / MANIFEST, record.to_json())
            fsync_dir(work)
            with naming_errors(final):
                os.rename(work, final)
            fsync_dir(self.env_dir)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return Snapshot.from_path(final)

    def revise(
        self,
        snapshot: Snapshot,
        *,
        reason: str,
        manifest: SnapshotManifest | Mapping[str, Any] | None = None,
        tables: Mapping[str, pd.DataFrame] | None = None,
        documents: Mapping[str, Any] | None = None,
        extra_tables: Mapping[str, tuple[pd.DataFrame, Mapping[str, str]]] | None = None,
    ) -> Snapshot:
        """A new revision of a published ``snapshot`` (files added or replaced, and its manifest, by default the
        current one), with ``reason``; the snapshot as readers now see it. Nothing is written when nothing
        would change."""
        record = SnapshotManifest.from_json(manifest if manifest is not None else snapshot.manifest)
        record_json = {k: v for k, v in record.to_json().items() if k != "revision"}
        revisions.add_revision(snapshot.path, reason=reason, manifest=record_json, tables=tables,
                               documents=documents, extra_tables=extra_tables)
        return Snapshot.from_path(snapshot.path)

    def remove_stale(self) -> None:
        """Remove built snapshots a kill left unfinished (``.writing-*``): they were never visible."""
        for stale in self.env_dir.glob(f"{WRITING_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)

    def close(self) -> None:
        """Release the lock when this writer took it."""
        if self._lock_fd is not None:
            _unlock(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def snapshot_totals(balances: pd.DataFrame) -> dict[str, dict[str, int]] | None:
    """A snapshot's totals per currency (the headline of its balances as published, duplicates collapsed as
    :meth:`SnapshotWriter.publish` collapses them), for its manifest: a report's trend reads each snapshot's
    manifest instead of loading every snapshot's balances. None when a total leaves 64 bits (a report reading
    the snapshot then refuses it from its balances)."""
    from credit_reports.ledger.sums import headline

    collapsed, _ = collapse_duplicates(conform(balances, BALANCE_DTYPES))
    try:
        return headline(collapsed)
    except TotalOverflowError:
        return None


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
    limit = timestamps.parse(now if now is not None else pd.Timestamp.now(tz="UTC")) + CLOCK_SKEW
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
        with naming_errors(env_dir / LOCK_FILE):
            return locks.acquire(env_dir / LOCK_FILE)
    except locks.LockHeld as held:
        who = f" (pid {held.holder})" if held.holder else ""
        raise StoreLockedError(
            f"another fetch into {env_dir} is running{who}; nothing was done: wait for it to finish, then fetch "
            "again (schedule runs further apart)"
        ) from None


_unlock = locks.release
#: The environment's fetch lock for other writers of the store (``credit-reports history``): one name each way.
lock_environment = _lock
unlock_environment = _unlock



def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
