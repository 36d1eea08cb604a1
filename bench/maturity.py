"""Benchmark: what the usage forecast costs (issue 26 point 8; a benchmark, not a test).

``calls``
    the forecast's extra Paddle calls: the renewal plans of every customer holding credit, ``GET /subscriptions``
    with ``--batch`` customer ids a call (``fetch/subscriptions_forecast.py``), on the bench account of
    ``bench/fetch.py`` (``--customers`` 20,000, seed 7, ``CURRENT_PADDLE``), counted by the client and by the
    simulator. Compared with the daily ``incremental`` fetch of that account (571 calls,
    docs/benchmarks/fetch.md, "Targets"): target under 10%.
``compute``
    :func:`credit_reports.figures.maturity.forecast` on ``--holders`` synthetic customers (1,000,000 by default):
    a fifth annual, five currencies, one subscription each (a tenth with two, a twentieth canceled: dormant),
    credit worth 0.2 to 6 renewals, a churn hazard per cohort. The frames are written to Parquet and read back
    in a child process (as the store's tables are), so its peak memory (``ru_maxrss``) is its own; the
    forecast's share is the peak less the memory held once the inputs were read: targets under 10 s and
    under 500 MB.

Usage: ``.venv/bin/python bench/maturity.py [--only calls|compute] [--customers 20000] [--batch 50]
[--holders 1000000]``. Prints Markdown rows for docs/benchmarks/maturity.md.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time

INCREMENTAL_CALLS = 571  # docs/benchmarks/fetch.md: daily incremental at 20,000 customers


def bench_calls(customers: int, seed: int, batches: list[int]) -> list[dict]:
    """The renewal plans' calls per batch size on the fetch bench's account."""
    import pandas as pd

    from credit_reports.fetch.subscriptions_forecast import fetch_renewal_plans
    from credit_reports.paddle.client import PaddleClient
    from credit_reports.simulator import CURRENT_PADDLE, Simulator

    out = []
    with Simulator(customers=customers, seed=seed, **CURRENT_PADDLE).start() as sim:
        bal = pd.DataFrame(sim.account.expected_balances())
        holders = sorted(set(bal.loc[(bal["available"] + bal["reserved"]) > 0, "customer_id"]))
        for batch in batches:
            client = PaddleClient(sim.api_key, base_url=sim.base_url, max_rpm=100_000)
            sim.reset_stats()
            started = time.perf_counter()
            plans = fetch_renewal_plans(client, holders, batch=batch)
            served = sim.stats
            out.append({"case": "calls", "customers": customers, "holders": len(holders), "batch": batch,
                        "subscriptions": len(plans.plans), "calls": plans.calls,
                        "served": served.get("requests", served.get("total")),
                        "bound": math.ceil(len(holders) / batch),
                        "share": plans.calls / INCREMENTAL_CALLS, "seconds": time.perf_counter() - started})
    return out


def synthetic(holders: int, seed: int):
    """Balances and plans of ``holders`` customers (see the module docstring), vectorised."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    ids = pd.Series(np.char.add("ctm_", np.arange(holders).astype(str)), dtype="string")  # the store's dtype
    currency = pd.Series(rng.choice(np.array(["USD", "EUR", "GBP", "JPY", "BRL"]), holders), dtype="string")
    amount = rng.integers(500, 20_000, holders).astype("int64")
    annual = rng.random(holders) < 0.2
    amount = np.where(annual, amount * 10, amount)
    available = (amount * rng.uniform(0.2, 6.0, holders)).astype("int64")
    reserved = np.where(rng.random(holders) < 0.05, amount // 3, 0).astype("int64")
    as_of = pd.Timestamp("2026-12-31T23:59:59Z")
    first = as_of + pd.to_timedelta(rng.uniform(0, 1, holders) * np.where(annual, 365, 30), unit="D")
    canceled = rng.random(holders) < 0.05
    status = pd.Series(np.where(canceled, "canceled", "active"), dtype="string")
    plans = pd.DataFrame({
        "customer_id": ids, "subscription_id": pd.Series(np.char.add("sub_", np.arange(holders).astype(str)),
                                                         dtype="string"),
        "status": status, "currency_code": currency,
        "next_billed_at": pd.Series(first).where(~canceled),
        "billing_interval": pd.Series(np.where(annual, "year", "month"), dtype="string"),
        "billing_frequency": np.ones(holders, "int64"),
        "amount": amount, "stops_at": pd.Series(pd.NaT, index=range(holders), dtype="datetime64[ns, UTC]"),
        "inactive_since": pd.Series(as_of - pd.to_timedelta(rng.integers(1, 900, holders), unit="D")).where(
            canceled)})
    two = rng.random(holders) < 0.1
    extra = plans[two & ~canceled].copy()
    extra["subscription_id"] = extra["subscription_id"] + "_b"
    extra["amount"] = extra["amount"] // 2
    plans = pd.concat([plans, extra], ignore_index=True)
    balances = pd.DataFrame({"customer_id": ids, "currency_code": currency, "available": available,
                             "reserved": reserved, "used": np.zeros(holders, "int64")})
    return balances, plans, as_of


def _rss_mb() -> float:
    """This process's resident memory now, MB (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def bench_compute(folder: str) -> dict:
    """The forecast on the synthetic frames stored in ``folder`` (read back as the store reads Parquet), in a
    child process: its peak memory is the process's, inputs included; ``forecast_mb`` is the part above the
    memory held once the inputs were read."""
    import pandas as pd

    from credit_reports.figures import maturity

    balances = pd.read_parquet(f"{folder}/balances.parquet")
    plans = pd.read_parquet(f"{folder}/plans.parquet")
    with open(f"{folder}/as_of.txt") as fh:
        as_of = pd.Timestamp(fh.read().strip())
    loaded = _rss_mb()
    hz = {"monthly": maturity.Hazard("monthly", 0.03, 0.015, 0.05),
          "annual": maturity.Hazard("annual", 0.01, 0.005, 0.02)}
    started, cpu = time.perf_counter(), time.process_time()
    fc = maturity.forecast(balances, plans, as_of, hazards=hz)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    split = fc.split
    assert (split["current"] + split["non_current"] == split["outstanding"]).all()
    return {"case": "compute", "holders": len(balances), "plans": len(plans), "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2), "peak_mb": round(peak), "inputs_loaded_mb": round(loaded),
            "forecast_mb": round(peak - loaded), "currencies": len(split)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("calls", "compute"))
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--holders", type=int, default=1_000_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(bench_compute(args.child)))
        return
    rows: list[dict] = []
    if args.only in (None, "calls"):
        rows += bench_calls(args.customers, args.seed, args.batch or [50, 100])
    if args.only in (None, "compute"):
        with tempfile.TemporaryDirectory() as folder:
            balances, plans, as_of = synthetic(args.holders, args.seed)
            balances.to_parquet(f"{folder}/balances.parquet", index=False)
            plans.to_parquet(f"{folder}/plans.parquet", index=False)
            with open(f"{folder}/as_of.txt", "w") as fh:
                fh.write(as_of.isoformat())
            del balances, plans
            child = subprocess.run([sys.executable, __file__, "--child", folder], check=True, capture_output=True,
                                   text=True)
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    for row in rows:
        print(json.dumps(row, default=str))


if __name__ == "__main__":
    main()
