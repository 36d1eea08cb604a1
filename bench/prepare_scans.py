"""Count how often one ``prepare`` reads the snapshot store: folder scans, listings, Snapshot objects built.

A measurement, not a test: it wraps three store functions with counters (nothing else changes) and runs
``report.prepare`` once on a store, by default the demo's twelve month-end snapshots, which it takes first
into a temporary folder when ``--data-dir`` holds none. docs/benchmarks/render.md records its output.

Usage: ``.venv/bin/python bench/prepare_scans.py [--data-dir DIR] [--period 2026-11] [--customers 300]``
"""

from __future__ import annotations

import argparse
import collections
import functools
import tempfile
from pathlib import Path

from credit_reports.store import reader as store


def _counting(counts: collections.Counter, name: str, function):  # noqa: ANN001, ANN202 - a bench wrapper
    @functools.wraps(function)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        counts[name] += 1
        return function(*args, **kwargs)
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--period", default="previous-month")
    parser.add_argument("--customers", type=int, default=300)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="prepare-scans-"))
    if not (data_dir / "snapshots").is_dir():
        from credit_reports.app.demo import take_demo_snapshots

        take_demo_snapshots(data_dir, customers=args.customers, progress=False)
    folders = sum(1 for p in (data_dir / "snapshots").glob("*/*/manifest.json"))

    counts: collections.Counter = collections.Counter()
    store._scan = _counting(counts, "store scans (one pass over an environment folder)", store._scan)
    store.list_snapshots = _counting(counts, "list_snapshots calls", store.list_snapshots)
    store.Snapshot.__init__ = _counting(counts, "Snapshot objects built", store.Snapshot.__init__)
    from credit_reports.report.preparation import prepare

    report = prepare(period=args.period, data_dir=str(data_dir))
    print(f"prepare(period={args.period!r}) on {folders} snapshot folders ({report.snapshot.name}):")
    for name in ("store scans (one pass over an environment folder)", "list_snapshots calls",
                 "Snapshot objects built"):
        print(f"  {name}: {counts[name]}")


if __name__ == "__main__":
    main()
