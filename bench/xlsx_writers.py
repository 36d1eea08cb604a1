"""Benchmark: the cheapest way to write the workbook's customer sub-ledger sheet with real numbers and formats.

Two candidates, on the same synthetic sub-ledger (``--rows``, default 229,067: the latest snapshot of the
1,000,000-customer bench store), both giving each amount its currency's number format and customer ids as
text:

* **XlsxWriter fed from columns**: :func:`credit_reports.delivery.workbook.write_workbook` as the exports call it
  (constant-memory mode; one write per cell, chosen per column, no type test per cell);
* **the sheet XML written by hand** (``rows_as_xml=True``, what the exports use): the same ``<c>`` elements,
  built a column at a time per chunk of rows and written straight into XlsxWriter's constant-memory row
  file, which then packs the workbook as usual; the bytes are the same (tests/test_exports.py checks it).

It prints CPU seconds (this process; median of ``--repeat``) and the sheet's size for each, so the choice in
docs/benchmarks/render.md can be checked. Usage:
``.venv/bin/python bench/xlsx_writers.py [--rows 229067] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from credit_reports.delivery.exports import major_units_table  # noqa: E402 - after the checkout is on sys.path
from credit_reports.delivery.workbook import write_workbook  # noqa: E402

CURRENCIES = ("USD", "EUR", "GBP", "JPY", "AUD", "CAD", "BRL", "KRW")


def sub_ledger(rows: int, seed: int = 7) -> pd.DataFrame:
    """A sub-ledger shaped like the report's: currency, customer, three balances and outstanding."""
    rng = np.random.default_rng(seed)
    available = rng.integers(0, 5_000_000, rows)
    reserved = np.where(rng.random(rows) < 0.1, rng.integers(0, 100_000, rows), 0)
    return pd.DataFrame({
        "currency_code": pd.array(np.array(CURRENCIES)[rng.integers(0, len(CURRENCIES), rows)], dtype="string"),
        "customer_id": pd.array([f"ctm_{i:026d}" for i in range(rows)], dtype="string"),
        "available": available,
        "reserved": reserved,
        "used": rng.integers(0, 9_000_000, rows),
        "outstanding": available + reserved,
    })


def _writer(rows_as_xml: bool):
    def write(table: pd.DataFrame, path: Path) -> None:
        data = major_units_table(table)
        write_workbook(path, {"customer_subledger": data}, titles={"customer_subledger": "Customer sub-ledger"},
                       headers={"customer_subledger": list(data.names)}, rows_as_xml=rows_as_xml)

    return write


def _cpu(fn, table: pd.DataFrame, path: Path) -> float:
    start = time.process_time()
    fn(table, path)
    return time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=229_067)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    table = sub_ledger(args.rows)
    work = Path(tempfile.mkdtemp(prefix="bench-xlsx-"))
    results = {}
    candidates = (("XlsxWriter fed from columns, cell by cell", _writer(False)),
                  ("sheet XML written by hand into XlsxWriter's row file", _writer(True)))
    for i, (name, fn) in enumerate(candidates):
        path = work / f"{i}.xlsx"
        times = [_cpu(fn, table, path) for _ in range(args.repeat)]
        results[name] = (statistics.median(times), times, path.stat().st_size)
    print(f"| writer ({args.rows:,} rows x 6 columns) | CPU s, median of {args.repeat} | runs | file |")
    print("|---|---:|---|---:|")
    for name, (median, times, size) in results.items():
        print(f"| {name} | {median:.2f} | {', '.join(f'{t:.2f}' for t in times)} | {size / 1e6:.1f} MB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
