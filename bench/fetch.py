"""Benchmark: how many calls, how long and how much memory a snapshot costs (a benchmark, not a test).

Serves the local Paddle simulator in this process (20,000 customers by default, modelling current Paddle: about
two thirds subscribed, a fifth holding credit, most of it created on transactions since March 2024; 100 ms
latency on every call, Paddle's rate limit and block), then runs each case in a child process of its own, so
its peak memory (``ru_maxrss``) is the case's alone:

``naive-sdk``
    the official ``paddle-python-sdk`` used the obvious way: list customers (active and archived, 200 a
    page), then ``customers.credit_balances(id)`` for each one, in one thread, no throttle. It is
    latency-bound here (about 10 calls a second), so it runs for ``--naive-seconds`` and its wall time
    is extrapolated from its measured rate; its call count is exact (``N/200 + N``).
``full``, ``subscribers``
    this toolkit's ``fetch_snapshot`` with those strategies (``subscribers`` is the default first snapshot;
    its bound is ``N/200 + S/200 + A/50 + candidates + sample``, the fewest calls that are provably complete).
``incremental``
    after the simulator moved 1% of the customers on (``sim.advance``: new credit on transactions, first
    credits, credit spent and reserved, invoices settled, a reversal, seller credits, sign-ups),
    ``fetch_snapshot`` on top of the ``subscribers`` snapshot.
``full-small``
    ``full`` on a second simulator with a quarter of the customers: peak memory at N/4 next to N.
``plans`` (``--only plans``, issue 27)
    the first snapshot chosen by cost: ``auto`` (which plan it chose, and both plans' estimated calls), the other
    plan forced, and the incremental after 1% changed on top of the chosen one (its rotating sample); with
    ``--age R``, the same on the account aged by R plain renewals a subscription (``simulator.ages``). Calls are
    what it measures: ``--rpm 0`` serves without a limit or latency (the "at 240/min" column is calls / 240).
``moving`` (``--only moving``)
    the point-in-time correction's cost (issue 16): a current-Paddle account (``CURRENT_PADDLE``) that moves on
    while it is read, by the README's ``--advance-every`` step for 2,000 customers (``mover.live_step``, about 200
    changes) once a Paddle minute,
    fetched first (``subscribers``) and then ``incremental``, at the compressed clock and at the pace check's
    240 per 15 s; the extra event pages, second reads and seller-credit look-ups come from the manifests'
    ``point_in_time``.

Scaling: Paddle allows 240 requests per 60 s window and blocks 60 s. Here the simulator allows ``--rpm``
(240) per ``--window`` seconds (1.0) and blocks for the same window, i.e. the same limit 60 times faster;
the client gets the same ``max_rpm`` and ``rate_window``. Latency is not scaled (100 ms), so the pool is
scaled instead (``--workers`` 32, enough for 240 a second at 100 ms). At Paddle's real pace a case's
time is its calls / 240 minutes, shown in the table as "at 240/min".

Usage: ``.venv/bin/python bench/fetch.py [--customers 20000] [--latency-ms 100] [--rpm 240] [--window 1.0]
[--workers 32] [--naive-seconds 60]``. Needs ``pip install paddle-python-sdk`` for the naive case (the
bench only; the toolkit does not depend on it). Prints a Markdown table for ``docs/benchmarks/fetch.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# -- child side: one case, prints one JSON line -------------------------------------------------------


def _rss_mb() -> float:
    """This process's peak resident memory in MB (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kilobytes on Linux


def _child_naive_sdk(args: argparse.Namespace) -> dict:
    """The official SDK the obvious way, time-boxed: list everyone, then one balances call per customer."""
    from types import SimpleNamespace

    from paddle_billing import Client, Options
    from paddle_billing.Entities.Shared import Status
    from paddle_billing.Resources.Customers.Operations import ListCustomers
    from paddle_billing.Resources.Shared.Operations import Pager
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    # The SDK knows only production and sandbox URLs; an object with the simulator's base_url stands in
    # for its Environment enum. It mounts its urllib3 retries on https:// only; the simulator is plain
    # http, so the same adapter is mounted on http:// too (the SDK's own retry settings).
    options = Options(environment=SimpleNamespace(base_url=args.base_url))
    client = Client(os.environ["PADDLE_API_KEY"], options=options)
    retry = Retry(total=client.retry_count, backoff_factor=1, status_forcelist=[429, 500, 502, 503, 504])
    client.client.mount("http://", HTTPAdapter(max_retries=retry))

    base_rss = _rss_mb()
    started = time.monotonic()
    # iterating the collection follows its pages and keeps every customer in memory
    customers = list(client.customers.list(ListCustomers(pager=Pager(per_page=200),
                                                         statuses=[Status.Active, Status.Archived])))
    listed_at = time.monotonic()
    done = 0
    rows = 0
    errors = 0
    deadline = started + args.naive_seconds
    for customer in customers:
        if time.monotonic() >= deadline:
            break
        try:
            rows += len(list(client.customers.credit_balances(customer.id)))
        except Exception:  # noqa: BLE001 - the obvious way has no plan for errors; count them
            errors += 1
        done += 1
    elapsed = time.monotonic() - started
    balance_seconds = time.monotonic() - listed_at
    n = len(customers)
    per_call = balance_seconds / max(done, 1)
    return {
        "calls": None,  # the parent counts them on the server: measured + one per customer left
        "customers_done": done,
        "seconds": (listed_at - started) + per_call * n,
        "seconds_measured": elapsed,
        "extrapolated": done < n,
        "customers": n,
        "balance_rows": rows,
        "errors": errors,
        "retries": None,
        "rss_base_mb": base_rss,
        "rss_peak_mb": _rss_mb(),
    }


def _child_toolkit(args: argparse.Namespace) -> dict:
    """This toolkit's fetch_snapshot with one strategy, into the given data folder."""
    from credit_reports.fetch.snapshot import fetch_snapshot
    from credit_reports.paddle.client import PaddleClient

    client = PaddleClient(base_url=args.base_url, max_rpm=args.rpm, rate_window=args.window)
    base_rss = _rss_mb()
    started = time.monotonic()
    snap = fetch_snapshot(client, data_dir=args.data_dir, strategy=args.strategy, workers=args.workers,
                          progress=False)
    elapsed = time.monotonic() - started
    m = snap.manifest
    return {
        "calls": m["api_calls"],
        "seconds": elapsed,
        "extrapolated": False,
        "customers": m["counts"]["customers"],
        "balance_rows": m["counts"]["balance_rows"],
        "refetched": m["counts"]["refetched"],
        "carried_over": m["counts"]["carried_over"],
        "candidates": m["counts"].get("candidates"),
        "verification": m.get("verification"),
        "strategy": m["strategy"],
        "complete": m["complete"],
        "errors": m["failures"],
        "retries": m["retries"],
        "rate_limited_client": m["rate_limited"],
        "rss_base_mb": base_rss,
        "rss_peak_mb": _rss_mb(),
        "snapshot": str(snap.path),
        "point_in_time": m.get("point_in_time"),
        "candidate_sources": m.get("candidate_sources"),
        "plan": m.get("plan"),
    }


def _child_history(args: argparse.Namespace) -> dict:
    """``credit-reports history`` against the first snapshot in the data folder: calls, time, tie-out."""
    from credit_reports.fetch.history import run_history
    from credit_reports.paddle.client import PaddleClient

    client = PaddleClient(base_url=args.base_url, max_rpm=args.rpm, rate_window=args.window)
    base_rss = _rss_mb()
    started = time.monotonic()
    result = run_history(client, "latest", data_dir=args.data_dir, workers=args.workers, progress=False)
    elapsed = time.monotonic() - started
    s = result.summary
    return {
        "calls": s["api_calls"], "seconds": elapsed, "extrapolated": False, "customers": s["candidates"],
        "tie_out": s["tie_out"]["rate"], "tied": s["tie_out"]["tied"], "with_credit": s["tie_out"]["customers"],
        "movements": s["movements"], "batches": s["batches"], "events_read": s["events_read"],
        "month_ends": len(result.written), "estimated": s["estimated_timing_movements"], "timing": s["timing"],
        "rss_base_mb": base_rss, "rss_peak_mb": _rss_mb(),
    }


def history_case(args: argparse.Namespace, sim, work: Path) -> list[dict]:
    """A first snapshot (``subscribers``) and the history from day one on top of it, with what the account
    holds for the growth model: candidates' transactions (the pages) and adjustments."""
    first = run_case("subscribers", sim, args, strategy="subscribers", data_dir=work / "history")
    hist = run_case("history", sim, args, data_dir=work / "history")
    account = sim.account
    from credit_reports.store.reader import load_snapshot

    snap = load_snapshot("latest", work / "history")
    ids = set(snap.subscriptions["customer_id"].dropna()) | set(snap.balances["customer_id"]) | set(
        snap.adjustments["customer_id"].dropna())
    listed = ("billed", "paid", "past_due", "completed", "canceled")
    hist["transactions"] = sum(1 for t in account.transactions_of(sorted(ids)) if t["status"] in listed)
    hist["adjustments"] = len(account.adjustments_of(sorted(ids)))
    hist["name"] = "history (after subscribers)"
    return [first, hist]


# -- parent side ------------------------------------------------------------------------------------


def run_case(name: str, sim, args: argparse.Namespace, *, strategy: str | None = None, data_dir: Path,
             rpm: int | None = None, window: float | None = None, workers: int | None = None) -> dict:
    """Run one case in a child process against ``sim``; add the simulator's view of the requests."""
    rpm, window, workers = rpm or args.rpm, window or args.window, workers or args.workers
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--base-url", sim.base_url,
           "--rpm", str(rpm), "--window", str(window), "--workers", str(workers),
           "--naive-seconds", str(args.naive_seconds), "--data-dir", str(data_dir)]
    if strategy:
        cmd += ["--strategy", strategy]
    env = {**os.environ, "PADDLE_API_KEY": sim.api_key}
    sim.reset_stats()
    print(f"  running {name} ...", file=sys.stderr, flush=True)
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"case {name} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    stats = sim.stats
    if result["calls"] is None:  # naive: what the server saw, plus one balances call per customer left
        result["calls"] = stats["requests"] + result["customers"] - result["customers_done"]
    result.update(
        name=name,
        rpm=rpm,
        window=window,
        workers=workers,
        server_requests=stats["requests"],
        rate_limited=stats["rate_limited"],
        max_in_window=stats["max_in_window"],
        balance_calls=stats["by_path"].get("/customers/{id}/credit-balances", 0),
        transaction_calls=stats["by_path"].get("/transactions", 0),
    )
    return result


def _fmt(result: dict, naive_calls: int, full_calls: int) -> str:
    rpm, window = result["rpm"], result["window"]
    per_window = result["calls"] / result["seconds"] * window if result["seconds"] else 0
    wall = f"{result['seconds']:.1f}" + (" (extrapolated)" if result.get("extrapolated") else "")
    at_paddle = result["calls"] / 240.0
    vs_naive = f"{100 * result['calls'] / naive_calls:.1f}%"
    vs_full = f"{100 * result['calls'] / full_calls:.1f}%" if full_calls else "-"
    return (
        f"| {result['name']} | {result['customers']:,} | {result['calls']:,} | {vs_naive} | {vs_full} | {wall} | "
        f"{at_paddle:.1f} min | {rpm}/{window:g}s, {result['workers']} | "
        f"{per_window:.0f} ({100 * per_window / rpm:.0f}%) | "
        f"{result['rate_limited']} | {result['max_in_window']} | {result['rss_peak_mb']:.0f} "
        f"({result['rss_peak_mb'] - result['rss_base_mb']:.0f}) |"
    )


def pace_check(args: argparse.Namespace, simulator, work: Path) -> dict:
    """``full`` at a realistic interval with the default 4 workers, for a minute.

    240 per 15 s is 16 a second, a 62 ms slot (Paddle's is 250 ms), so thread wake-up jitter and the
    limiter's fixed margin weigh as little as they do against Paddle.
    """
    with simulator(args.rate_customers, rpm=240, window=15.0) as paced:
        res = run_case("full", paced, args, strategy="full", data_dir=work / "paced", rpm=240, window=15.0,
                       workers=4)
    res["name"] = "full (pace check, default 4 workers)"
    return res


def _correction_calls(pit: dict) -> int:
    """The calls a point-in-time correction added: event pages, second reads, seller-credit look-ups."""
    return pit["event_pages"] + pit["second_reads"] + -(-pit["seller_credit_lookups"] // 50)


def moving_cases(args: argparse.Namespace, work: Path) -> None:
    """A first and an incremental snapshot of a current-Paddle account moving while it is read, at the compressed
    clock (``--customers``, ``--rpm`` per ``--window``) and at 240 per 15 s (``--rate-customers``, 4 workers)."""
    from credit_reports.simulator import CURRENT_PADDLE, Simulator
    from credit_reports.simulator.mover import live_step

    rows = []
    for label, customers, rpm, window, workers in (
            ("compressed 60x", args.customers, args.rpm, args.window, args.workers),
            ("240 per 15 s", args.rate_customers, 240, 15.0, 4)):
        print(f"building a moving simulator with {customers:,} customers ({label}) ...", file=sys.stderr, flush=True)
        # the generated history ends at its anchor, though a few dunning settlements land days after it: anchor
        # it two weeks back, so that nothing lies in the future and every move of the mover is accepted
        anchor = datetime.now(UTC) - timedelta(days=14)
        with Simulator(customers=customers, seed=args.seed, rpm=rpm, window_seconds=window, block_seconds=window,
                       latency_ms=args.latency_ms, anchor=anchor, **CURRENT_PADDLE).start() as sim:
            minute = 60.0 * window / 60.0  # one Paddle minute at this clock
            # the README's --advance-every step for 2,000 customers (about 200 changes) once a Paddle minute: a busy
            # account (nearly 300,000 credit changes a day), whatever its size
            sim.start_moving(minute, step=live_step(min(customers, 2000)))
            for strategy in ("subscribers", "auto"):
                moves = len(sim.moves)
                res = run_case(strategy, sim, args, strategy=strategy, data_dir=work / label.replace(" ", "-"),
                               rpm=rpm, window=window, workers=workers)
                res.update(label=label, moves=len(sim.moves) - moves)
                rows.append(res)
            sim.stop_moving()
    print("\n| clock | case | customers | calls | moves during | customers corrected | read again (reads, rounds) "
          "| event pages | seller look-ups | correction calls | of all calls | unsure | verification found |")
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        pit = r["point_in_time"]
        extra = _correction_calls(pit)
        print(f"| {r['label']} | {r['strategy']} | {r['customers']:,} | {r['calls']:,} | {r['moves']} | "
              f"{pit['customers_corrected']:,} | {pit['customers_read_again']:,} ({pit['second_reads']:,}, "
              f"{pit['rounds']}) | {pit['event_pages']} | {pit['seller_credit_lookups']} | {extra:,} | "
              f"{100 * extra / r['calls']:.2f}% | {len(pit['uncertain_customer_ids'])} | "
              f"{(r['verification'] or {}).get('found')} |")
    print("\nraw:", json.dumps(rows, indent=1, default=str), file=sys.stderr)


def _advance_one_percent(sim, customers: int, seed: int) -> int:
    """Move 1% of the customers on, the mix of the issue-8 run; returns the customers changed or signed up."""
    one_percent = max(1, customers // 100)
    changes = sim.advance(seed, credits=one_percent * 20 // 100, first_credits=one_percent * 10 // 100,
                          spends=one_percent * 15 // 100, reservations=one_percent * 15 // 100,
                          completions=one_percent * 10 // 100, cancellations=one_percent * 5 // 100,
                          reversals=1, seller_credits=one_percent * 5 // 100,
                          new_customers=one_percent * 10 // 100)
    return len(changes["changed_customer_ids"] | changes["new_customer_ids"] | changes["seller_credit_customer_ids"])


def plans_cases(args: argparse.Namespace, work: Path) -> None:
    """Both first-snapshot plans and the incremental (issue 27), on the account as generated and, with ``--age``,
    aged by that many plain renewals a subscription. Prints one Markdown row per case."""
    from credit_reports.simulator import Simulator
    from credit_reports.simulator.ages import add_renewals

    limited = args.rpm > 0
    rows = []
    for age in sorted({0, args.age}):
        print(f"building a simulator with {args.customers:,} customers, age +{age} ...", file=sys.stderr, flush=True)
        built = time.monotonic()
        sim = Simulator(customers=args.customers, seed=args.seed, rpm=args.rpm if limited else None,
                        window_seconds=args.window, block_seconds=args.window,
                        latency_ms=args.latency_ms if limited else 0)
        added = add_renewals(sim.account, age)
        account = sim.account
        origins = ("subscription_update", "subscription_recurring")
        facts = {"age": age, "renewals_added": added, "build_s": round(time.monotonic() - built, 1),
                 "subscriptions": len(account.subscriptions),
                 "credit_transactions": sum(1 for t in account.transactions.items if t["origin"] in origins),
                 "holders": len({r["customer_id"] for r in account.expected_balances()})}
        rpm = args.rpm if limited else 100_000
        with sim.start():
            chosen = run_case("auto", sim, args, strategy="auto", data_dir=work / f"age{age}", rpm=rpm)
            other = "subscribers" if chosen["strategy"] == "credit-transactions" else "credit-transactions"
            forced = run_case(other, sim, args, strategy=other, data_dir=work / f"age{age}-{other}", rpm=rpm)
            changed = _advance_one_percent(sim, args.customers, args.seed)
            inc = run_case("incremental", sim, args, strategy="auto", data_dir=work / f"age{age}", rpm=rpm)
        for res, label in ((chosen, f"auto: {chosen['strategy']}"), (forced, f"{other} (forced)"),
                           (inc, f"incremental after 1% changed ({changed} customers)")):
            res.update(facts, label=label)
            rows.append(res)
    print(f"\n{args.customers:,} customers, seed {args.seed}; "
          + (f"limit {args.rpm} per {args.window:g} s, {args.workers} workers, {args.latency_ms} ms latency"
             if limited else "no limit, no latency (calls only)") + "\n")
    print("| account | case | customers | calls | at 240/min | estimated calls (subscribers / credit-transactions) "
          "| balance reads | transaction calls | sample (skipped) | wall s | peak RSS MB |")
    print("|---|---|---:|---:|---:|---|---:|---:|---|---:|---:|")
    for r in rows:
        est = ((r.get("plan") or {}).get("estimated_calls")) or {}
        estimate = f"{est['subscribers']:,} / {est['credit-transactions']:,}" if est else "-"
        v = r.get("verification") or {}
        account = ("as generated" if not r["age"] else f"aged +{r['age']} renewals a subscription") + \
            f" ({r['credit_transactions']:,} subscription transactions)"
        print(f"| {account} | {r['label']} | {r['customers']:,} | {r['calls']:,} | {r['calls'] / 240:.1f} min | "
              f"{estimate} | {r['balance_calls']:,} | {r['transaction_calls']:,} | {v.get('sample_size')} "
              f"({v.get('skipped')}) | {r['seconds']:.1f} | {r['rss_peak_mb']:.0f} |")
    print("\nraw:", json.dumps(rows, indent=1, default=str), file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--rpm", type=int, default=240, help="requests allowed per window")
    parser.add_argument("--window", type=float, default=1.0, help="seconds per rate window (Paddle: 60)")
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--naive-seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate-customers", type=int, default=1000, help="customers in the pace check")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--age", type=int, default=0, help="plans: also an account aged by this many plain "
                        "renewals a subscription")
    parser.add_argument("--only", choices=["full", "subscribers", "pace", "moving", "history", "plans"],
                        help="run just this case (pace: the pace check at 240 per 15 s, 4 workers; moving: the "
                             "point-in-time correction on an account that moves while it is read; history: a "
                             "subscribers first snapshot, then the history from day one on it)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--strategy", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        child = {"naive-sdk": _child_naive_sdk, "history": _child_history}.get(args.child, _child_toolkit)
        result = child(args)
        print(json.dumps(result))
        return

    from credit_reports.simulator import Simulator

    def simulator(customers: int, rpm: int | None = None, window: float | None = None):
        rpm, window = rpm or args.rpm, window or args.window
        return Simulator(customers=customers, seed=args.seed, rpm=rpm, window_seconds=window,
                         block_seconds=window, latency_ms=args.latency_ms).start()

    results = []
    work = Path(tempfile.mkdtemp(prefix="bench-fetch-"))
    started = time.monotonic()
    if args.only == "moving":
        moving_cases(args, work)
        return
    if args.only == "plans":
        plans_cases(args, work)
        return
    if args.only == "pace":
        print(_fmt(pace_check(args, simulator, work), args.customers // 200 + args.customers, 0))
        return
    print(f"building a simulator with {args.customers:,} customers ...", file=sys.stderr, flush=True)
    with simulator(args.customers) as sim:
        account = sim.account
        holders = len({r["customer_id"] for r in account.expected_balances()})
        subscribed = len(account.subscriber_ids())
        n_subs, n_adjs = len(account.subscriptions), len(account.adjustments_by_action["credit"])
        credited = {a["customer_id"] for a in account.adjustments_by_action["credit"].items}
        candidates = len(account.subscriber_ids() | credited)
        if args.only == "history":
            first, hist = history_case(args, sim, work)
            print(_fmt(first, args.customers // 200 + args.customers, 0))
            print(_fmt(hist, args.customers // 200 + args.customers, 0))
            print("history:", json.dumps({k: hist[k] for k in ("calls", "seconds", "customers", "with_credit",
                                                               "tie_out", "movements", "batches", "events_read",
                                                               "month_ends", "estimated", "timing",
                                                               "transactions", "adjustments")}))
            return
        if args.only:
            res = run_case(args.only, sim, args, strategy=args.only, data_dir=work / "only")
            print(_fmt(res, args.customers // 200 + args.customers, 0))
            return
        if not args.skip_naive:
            results.append(run_case("naive-sdk", sim, args, data_dir=work / "naive"))
        results.append(run_case("full", sim, args, strategy="full", data_dir=work / "full"))
        first = run_case("subscribers", sim, args, strategy="subscribers", data_dir=work / "subscribers")
        results.append(first)
        skipped = args.customers - candidates
        sample = min(skipped, max(50, min(500, -(-skipped * 2 // 100))))
        bound = -(-args.customers // 200) + -(-n_subs // 200) + -(-n_adjs // 50) + candidates + sample
        one_percent = max(1, args.customers // 100)
        changes = sim.advance(args.seed, credits=one_percent * 20 // 100, first_credits=one_percent * 10 // 100,
                              spends=one_percent * 15 // 100, reservations=one_percent * 15 // 100,
                              completions=one_percent * 10 // 100, cancellations=one_percent * 5 // 100,
                              reversals=1, seller_credits=one_percent * 5 // 100,
                              new_customers=one_percent * 10 // 100)
        changed = len(changes["changed_customer_ids"] | changes["new_customer_ids"]
                      | changes["seller_credit_customer_ids"])
        inc = run_case("incremental", sim, args, strategy="auto", data_dir=work / "subscribers")
        inc["name"] = "incremental (after 1% changed)"
        results.append(inc)
    with simulator(args.customers // 4) as small:
        res = run_case("full", small, args, strategy="full", data_dir=work / "small")
        res["name"] = "full (N/4, memory check)"
        results.append(res)
    results.append(pace_check(args, simulator, work))

    by_name = {r["name"]: r for r in results}
    naive_calls = by_name["naive-sdk"]["calls"] if "naive-sdk" in by_name else args.customers // 200 + args.customers
    full_calls = by_name["full"]["calls"]
    share = 100 / args.customers
    print(f"\naccount: {args.customers:,} customers, {subscribed:,} subscribed ({share * subscribed:.0f}%), "
          f"{holders:,} holding credit ({share * holders:.0f}%); {n_subs:,} subscriptions, {n_adjs:,} "
          f"credit adjustments, {candidates:,} candidates; subscribers bound N/200 + S/200 + A/50 + candidates + "
          f"sample = {bound:,} (sample {sample}); subscribers made {first['calls']:,} calls "
          f"(verification {first.get('verification')})")
    print(f"\n{args.customers:,} customers, {holders:,} holding credit; latency {args.latency_ms} ms; limit "
          f"{args.rpm} per {args.window:g} s (Paddle: 240 per 60 s), block {args.window:g} s; workers "
          f"{args.workers}; incremental after {changed} customers changed or signed up; "
          f"{platform.python_version()} on {os.cpu_count()} cores; whole run {time.monotonic() - started:.0f} s\n")
    print("| case | customers | calls | vs naive | vs full | wall s | at 240/min | limit, workers | "
          "calls per window (of limit) | 429s | max in window | peak RSS MB (fetch) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    for result in results:
        print(_fmt(result, naive_calls, full_calls))
    print("\nraw:", json.dumps(results, indent=1, default=str), file=sys.stderr)


if __name__ == "__main__":
    main()
