"""Revisions of a published snapshot: a published folder is never edited in place.

A correction of, or an addition to, a published snapshot (``credit-reports history`` adding its rebuilt
movements, a re-derived boundary) is a new *revision*: a numbered folder inside the snapshot holding only the
files it changes and the whole new manifest, which records the revision's number and its reason::

    <as_of>/
        manifest.json, balances.parquet, ...          revision 0: what was published first
        revisions/0001/manifest.json, history.json     revision 1: the files it adds or replaces
        revisions/0002/manifest.json, movements.parquet

A revision is built under ``revisions/.staging-<n>/`` and appears in one ``os.rename``, so a reader sees the
snapshot before it or after it, never half of it. The reader (:class:`~credit_reports.store.reader.Snapshot`)
reads every file from the newest revision that holds it (:func:`current_file`), so readers get the newest
version transparently and the older versions stay on disk, readable by number (:func:`file_at`).

A revision whose files and manifest (its ``revision`` record aside) equal what the snapshot already shows is not
written: writing the same thing twice, e.g. a rerun after a kill, leaves the store as one run leaves it.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from credit_reports.core.errors import UsageError
from credit_reports.store.files import (
    MANIFEST,
    TABLES,
    conform,
    fsync_dir,
    naming_errors,
    write_json_atomic,
    write_parquet,
)

__all__ = [
    "REVISIONS",
    "STAGING_PREFIX",
    "current_file",
    "file_at",
    "revision_folders",
    "revision_number",
    "stage_files",
    "add_revision",
]

#: The folder inside a published snapshot that holds its revisions.
REVISIONS = "revisions"
#: A revision being built (invisible to readers; removed by the next revision of that snapshot).
STAGING_PREFIX = ".staging-"


def revision_folders(folder: Path) -> list[tuple[int, Path]]:
    """(number, folder) of every finished revision of the snapshot at ``folder``, oldest first."""
    root = folder / REVISIONS
    if not root.is_dir():
        return []
    found = [(int(p.name), p) for p in root.iterdir() if p.is_dir() and p.name.isdigit()]
    return sorted(found)


def revision_number(folder: Path) -> int:
    """The newest revision of the snapshot at ``folder`` (0: as first published)."""
    revisions = revision_folders(folder)
    return revisions[-1][0] if revisions else 0


def file_at(folder: Path, name: str, revision: int | None = None) -> Path:
    """The path of file ``name`` as the snapshot showed it at ``revision`` (None: the newest): the newest
    revision up to that number holding it, else the first published folder (the path may not exist)."""
    for number, path in reversed(revision_folders(folder)):
        if revision is not None and number > revision:
            continue
        if (path / name).is_file():
            return path / name
    return folder / name


def current_file(folder: Path, name: str) -> Path:
    """The path of file ``name`` in the snapshot's newest version (what every reader reads)."""
    return file_at(folder, name)


def stage_files(
    staging: Path,
    *,
    tables: Mapping[str, pd.DataFrame] | None = None,
    documents: Mapping[str, Any] | None = None,
    extra_tables: Mapping[str, tuple[pd.DataFrame, Mapping[str, str]]] | None = None,
) -> None:
    """Write ``tables`` (a store table name -> frame, conformed to its dtypes), ``extra_tables`` (a file stem ->
    (frame, dtypes), e.g. ``history``) and ``documents`` (a JSON file name -> object) into ``staging``."""
    for name, frame in (tables or {}).items():
        if name not in TABLES:
            raise UsageError(f"{name!r} is not a snapshot table (one of {', '.join(TABLES)})")
        write_parquet(conform(frame, TABLES[name])[list(TABLES[name])], staging / f"{name}.parquet")
    for stem, (frame, dtypes) in (extra_tables or {}).items():
        write_parquet(conform(frame, dtypes)[list(dtypes)], staging / f"{stem}.parquet")
    for name, obj in (documents or {}).items():
        write_json_atomic(staging / name, obj)


def _same_as_current(folder: Path, staging: Path) -> bool:
    """True when every file staged equals the snapshot's current one (the manifest's ``revision`` aside)."""
    for path in staging.iterdir():
        current = current_file(folder, path.name)
        if not current.is_file():
            return False
        if path.name == MANIFEST:
            mine = json.loads(path.read_text(encoding="utf-8"))
            theirs = json.loads(current.read_text(encoding="utf-8"))
            mine.pop("revision", None)
            theirs.pop("revision", None)
            if mine != theirs:
                return False
        elif not filecmp.cmp(path, current, shallow=False):
            return False
    return True


def add_revision(
    folder: Path,
    *,
    reason: str,
    manifest: Mapping[str, Any],
    tables: Mapping[str, pd.DataFrame] | None = None,
    documents: Mapping[str, Any] | None = None,
    extra_tables: Mapping[str, tuple[pd.DataFrame, Mapping[str, str]]] | None = None,
) -> int | None:
    """Publish a new revision of the snapshot at ``folder`` with these files and this whole manifest; returns
    its number, or None when it would change nothing (so a rerun adds no revision).

    The caller holds the environment's lock (:func:`credit_reports.store.writer.lock_environment`): the store's
    one writer (:class:`credit_reports.store.writer.StoreWriter`) does.
    """
    if not reason or not reason.strip():
        raise UsageError("a revision of a published snapshot needs a reason")
    if not (folder / MANIFEST).is_file():
        raise UsageError(f"{folder} is not a published snapshot (no {MANIFEST})")
    root = folder / REVISIONS
    with naming_errors(root):
        root.mkdir(exist_ok=True)
    for stale in root.glob(f"{STAGING_PREFIX}*"):  # a revision a kill left half built
        shutil.rmtree(stale, ignore_errors=True)
    previous = revision_number(folder)
    number = previous + 1
    staging = root / f"{STAGING_PREFIX}{number:04d}"
    with naming_errors(staging):
        staging.mkdir()
    try:
        stage_files(staging, tables=tables, documents=documents, extra_tables=extra_tables)
        record = {"number": number, "reason": reason.strip(), "previous": previous,
                  "files": sorted(p.name for p in staging.iterdir()) + [MANIFEST]}
        write_json_atomic(staging / MANIFEST, {**dict(manifest), "revision": record})
        if _same_as_current(folder, staging):
            shutil.rmtree(staging, ignore_errors=True)
            return None
        fsync_dir(staging)
        with naming_errors(root):
            os.rename(staging, root / f"{number:04d}")
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return number


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
