"""``to_excel(frames, path)``: DataFrames to an .xlsx file an analyst can open, whatever their dtypes.

``DataFrame.to_excel`` refuses time-zone-aware datetimes (Excel has no time zones), and the snapshot
frames hold UTC times (``customers.created_at``). This writes each such column as the naive time in
UTC and names the zone in the header (``created_at (UTC)``), so nothing is shifted silently. The folder
is created when missing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from credit_reports.core.errors import UsageError

__all__ = ["excel_ready", "to_excel"]

_SHEET_NAME_MAX = 31  # Excel's limit


def excel_ready(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` Excel accepts: tz-aware datetime columns (and index) as naive UTC, the header
    renamed ``<name> (UTC)``; pandas ``string``/nullable columns are left to pandas (they write fine)."""
    out = df.copy()
    renames = {}
    for name in out.columns:
        if isinstance(out[name].dtype, pd.DatetimeTZDtype):
            out[name] = out[name].dt.tz_convert("UTC").dt.tz_localize(None)
            renames[name] = f"{name} (UTC)"
    out = out.rename(columns=renames)
    if isinstance(out.index, pd.DatetimeIndex) and out.index.tz is not None:
        out.index = out.index.tz_convert("UTC").tz_localize(None)
        out.index.name = f"{out.index.name or 'time'} (UTC)"
    return out


def to_excel(
    frames: pd.DataFrame | Mapping[str, pd.DataFrame],
    path: str | os.PathLike[str],
    *,
    sheet_name: str = "Sheet1",
    index: bool = False,
) -> Path:
    """Write one DataFrame (or ``{sheet name: DataFrame}``) to ``path`` (.xlsx); return the path.

    Time-zone-aware datetimes are written as UTC with ``(UTC)`` in their header; missing folders are
    created; the index is left out unless ``index=True``. Amounts are written as they are: int64 minor
    units stay integers (add ``to_major_float`` columns yourself for major units).
    """
    target = Path(path).expanduser()
    if target.suffix.lower() != ".xlsx":
        raise UsageError(f"to_excel writes .xlsx files; give a path ending in .xlsx, not {target.name!r}")
    sheets = {sheet_name: frames} if isinstance(frames, pd.DataFrame) else dict(frames)
    if not sheets:
        raise UsageError("to_excel needs at least one DataFrame")
    for name, frame in sheets.items():
        if not isinstance(frame, pd.DataFrame):
            raise UsageError(f"to_excel: sheet {name!r} is a {type(frame).__name__}, not a DataFrame")
        if len(str(name)) > _SHEET_NAME_MAX:
            raise UsageError(f"to_excel: sheet name {name!r} is longer than Excel's {_SHEET_NAME_MAX} characters")
    target.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(target, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            excel_ready(frame).to_excel(writer, sheet_name=str(name), index=index)
    return target


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
