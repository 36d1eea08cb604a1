"""Bench check: this checkout's exports are byte for byte an earlier commit's, and what each costs.

Writes the synthetic store of ``bench/render.py`` (``--customers``, 24 snapshots), prepares the report once,
adds two edge tables (an unknown currency, a TOTAL row, missing amounts, formula-like and control-character
text, leading and trailing spaces, shares, floats, naive and UTC dates, a column of mixed types), then writes
the exports twice: with ``credit_reports/delivery/exports.py`` and ``workbook.py`` as they are at ``--ref``
(read with ``git show`` into a temporary folder) and as they are here. Every CSV must be identical, and every
part of the workbook but ``docProps/`` (which holds the time it was written). Prints the CPU seconds of each.

Usage: ``.venv/bin/python bench/exports_identity.py [--ref df40c46] [--customers 100000]``; exit 1 on a difference.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from render import write_synthetic_store  # noqa: E402 - bench/render.py, after the path is set

from credit_reports.report.preparation import prepare  # noqa: E402

exports = importlib.import_module("credit_reports.delivery.exports")  # the package re-exports a function by that name


def _old_exports(ref: str, folder: Path):
    """``exports.py`` and ``workbook.py`` of ``ref`` as two importable modules (the first importing the second)."""
    for name in ("exports", "workbook"):
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:credit_reports/delivery/{name}.py"],
                              check=True, capture_output=True, text=True).stdout
        text = text.replace("from credit_reports.delivery.workbook import", "from old_workbook import")
        (folder / f"old_{name}.py").write_text(text, encoding="utf-8")
    sys.path.insert(0, str(folder))
    return importlib.import_module("old_exports")


def edge_tables() -> dict[str, pd.DataFrame]:
    """Two small tables with every kind of cell the exports treat specially."""
    return {
        "edge_mixed": pd.DataFrame({
            "currency_code": pd.array(["USD", "XYZ", "TOTAL", None, "JPY", "usd"], dtype="string"),
            "available": pd.array([-5, 1234, None, 7, 0, 100], dtype="Int64"),
            "used": [1.0, 2.0, float("nan"), 3.0, -4.0, 5.0],
            "name": ["=HYPERLINK(1)", "-x", None, "a\x01b", "plain", "@y"],
            "top_share": [0.123456, 1 / 3, float("nan"), 0.0, 1.0, 0.5],
            "flag": [True, False, True, False, True, True],
            "maybe": pd.array([True, None, False, True, None, False], dtype="boolean"),
            "count": pd.array([1, None, 3, -4, 5, 10**12], dtype="Int64"),
            "when": pd.to_datetime(["2026-01-01T05:06:07Z"] * 5 + [None], utc=True),
            "naive": pd.to_datetime(["2026-01-01T05:06:07"] * 6),
            "obj": [1, "a", None, 2.5, dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "+1"],
        }),
        "edge_plain": pd.DataFrame({
            "currency_code": pd.array(["USD", "XYZ", "TOTAL", None, "JPY", "usd", "EUR", "KRW"], dtype="string"),
            "available": pd.array([-5, 1234, None, 7, 0, 100, 10**15, 3], dtype="Int64"),
            "name": [" lead", "trail ", "a&b<c>d", "x\x01y", None, "=1+1", "é\u4e2d", "plain"],
            "share": [0.123456, 1 / 3, float("nan"), 0.0, 1.0, 0.5, 1e-9, 0.25],
            "ratio": [0.1, 1e-7, 1e16, float("nan"), 2.5, 3.0, -0.0, 123456789.123],
            "count": [1, 2, 3, 4, 5, 1_000_000, 10**17, -3],
            "when": pd.to_datetime(["2026-01-01T05:06:07.123456Z"] * 5
                                   + [None, "1900-01-01T00:00:00Z", "1900-03-01T12:00:00Z"],
                                   utc=True, format="ISO8601"),
        }),
    }


def _differences(old: list[Path], new: list[Path]) -> list[str]:
    found = []
    for a, b in zip(old, new, strict=True):
        if a.name != b.name:
            found.append(f"{a.name} != {b.name}")
        elif a.suffix == ".csv" and a.read_bytes() != b.read_bytes():
            found.append(a.name)
        elif a.suffix == ".xlsx":
            with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
                if za.namelist() != zb.namelist():
                    found.append(f"{a.name}: parts differ")
                found += [f"{a.name}:{n}" for n in za.namelist()
                          if not n.startswith("docProps/") and za.read(n) != zb.read(n)]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="df40c46", help="the commit whose exports are the reference")
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-exports-"))
    old = _old_exports(args.ref, work)
    write_synthetic_store(work / "data", args.customers, 24)
    tables = {**prepare(data_dir=str(work / "data")).tables(), **edge_tables()}
    context = exports.ExportContext(title="Bench", report="credit-balances", environment="production",
                                    as_of=dt.datetime(2026, 11, 1, 6, tzinfo=dt.UTC),
                                    opening_as_of=dt.datetime(2026, 10, 1, 6, tzinfo=dt.UTC))
    seconds, written = {}, {}
    for label, module in (("reference", old), ("this checkout", exports)):
        folder = work / label.replace(" ", "-")
        folder.mkdir()
        start = time.process_time()
        written[label] = module.write_exports(tables, folder, "credit-balances", context=context)
        seconds[label] = time.process_time() - start
    found = _differences(written["reference"], written["this checkout"])
    print(f"{args.customers:,} customers, {len(tables)} tables: exports at {args.ref} "
          f"{seconds['reference']:.2f} CPU s, "
          f"here {seconds['this checkout']:.2f} CPU s; {len(written['reference'])} files, "
          f"{'identical' if not found else 'DIFFERENT: ' + ', '.join(found)}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
