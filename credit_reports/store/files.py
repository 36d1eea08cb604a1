"""The files of the snapshot store: folder names, the tables it holds, and durable writes of JSON and Parquet.

Every table a snapshot holds has one dtype map (``BALANCE_DTYPES`` ..., declared in :mod:`credit_reports.core.rows`,
which every stage shares), and :func:`conform` makes a frame match it on every path (fresh from the API, from
Parquet, or empty). Writes go through a temporary
name, fsync and ``os.replace``, so a reader never sees half a file; a full disk is one
:class:`~credit_reports.core.errors.StoreError` line saying where.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from credit_reports.core import timestamps
from credit_reports.core.errors import StoreError
from credit_reports.core.redact import redact
from credit_reports.core.rows import (
    ADJUSTMENT_DTYPES,
    BALANCE_DTYPES,
    CUSTOMER_DTYPES,
    MOVEMENT_DTYPES,
    PLAN_DTYPES,
    SUBSCRIPTION_DTYPES,
    conform,
    empty_frame,
)

__all__ = [
    "SNAPSHOTS",
    "AS_OF_FORMAT",
    "PARTIAL_PREFIX",
    "DELETING_PREFIX",
    "CHECKPOINT",
    "MANIFEST",
    "LOCK_FILE",
    "CLOCK_SKEW",
    "REQUIRED_FILES",
    "BALANCE_DTYPES",
    "CUSTOMER_DTYPES",
    "SUBSCRIPTION_DTYPES",
    "MOVEMENT_DTYPES",
    "ADJUSTMENT_DTYPES",
    "PLAN_DTYPES",
    "TABLES",
    "default_data_dir",
    "conform",
    "empty_frame",
    "fsync_dir",
    "write_json_atomic",
    "naming_errors",
    "write_parquet",
    "read_table",
]

SNAPSHOTS = "snapshots"
AS_OF_FORMAT = timestamps.FOLDER_FORMAT
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

TABLES = {
    "balances": BALANCE_DTYPES, "customers": CUSTOMER_DTYPES, "subscriptions": SUBSCRIPTION_DTYPES,
    "movements": MOVEMENT_DTYPES, "adjustments": ADJUSTMENT_DTYPES, "renewal_plans": PLAN_DTYPES,
}


# -- small helpers -----------------------------------------------------------------------------------


def default_data_dir() -> Path:
    """The snapshot store: ``$CREDIT_REPORTS_DATA_DIR`` when set, else ``./data``."""
    return Path(os.environ.get("CREDIT_REPORTS_DATA_DIR") or "data")


def fsync_dir(path: Path) -> None:
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
    with naming_errors(path), open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    with naming_errors(path):
        os.replace(tmp, path)
    fsync_dir(path.parent)


@contextlib.contextmanager
def naming_errors(path: Path) -> Iterator[None]:
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
    with naming_errors(path):
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


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
