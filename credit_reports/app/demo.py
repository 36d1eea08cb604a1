"""``credit-reports demo``: the whole flow against the built-in simulator, with no key and no network.

The demo takes a year of month-end snapshots the way a scheduled user would have: the simulated account's
history ends twelve months before the current month, and the simulator's clock then moves from month end to
month end (``Account.set_time``), the account moving on at time-stamped moments in between (credit issued on
transactions, credit spent and reserved on invoices, invoices paid or canceled, new customers, seller credits,
a legacy credit reversed early on). The first snapshot is a first fetch (``subscribers``); each later one is
incremental, reading that month's events into its ``movements.parquet``. The report is rendered for the last
closed month (``period = previous-month``), so it shows a reconciled roll-forward with evidence, a month-end
trend over the year and the ageing of the credit.

The snapshots stay in the snapshot store (``./data`` or ``--data-dir``) under their own environment
folder, ``snapshots/demo/``, so ``make lab`` and ``notebooks/explore.ipynb`` find them straight after
``make report`` and the report's manifest points at data that exists. Running the demo again replaces
that folder only: snapshots fetched from Paddle (``production``, ``sandbox``) or from a simulator you
started yourself (``local``) are never touched.
"""

from __future__ import annotations

import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from credit_reports.store.reader import Snapshot

# The simulator is local and answers as fast as it can; Paddle's 240 a minute applies to Paddle only.
DEMO_MAX_RPM = 60_000
#: The environment folder the demo's snapshots live in (``<data-dir>/snapshots/demo/``).
DEMO_ENVIRONMENT = "demo"
#: How many month-end snapshots the demo takes (the last one closes the previous month).
DEMO_MONTHS = 12
#: Days of each month the account moves on (10:00 UTC), and what happens each time per 2,000 customers.
ADVANCE_DAYS = (4, 12, 20)
ADVANCE_PER_2000 = {"credits": 6, "first_credits": 4, "reservations": 5, "spends": 5, "completions": 3,
                    "cancellations": 1, "new_customers": 4, "seller_credits": 1}


def demo_folder(data_dir: Path) -> Path:
    """Where the demo keeps its snapshots in ``data_dir``: the ``demo`` environment folder."""
    from credit_reports.store.reader import SNAPSHOTS

    return Path(data_dir) / SNAPSHOTS / DEMO_ENVIRONMENT


def month_ends(months: int = DEMO_MONTHS, now: datetime | None = None) -> list[datetime]:
    """The last second (23:59:59 UTC) of each of the ``months`` whole months before ``now``'s, oldest first."""
    now = now or datetime.now(UTC)
    first = datetime(now.year, now.month, 1, tzinfo=UTC)
    ends = []
    for _ in range(months):
        ends.append(first - timedelta(seconds=1))
        first = datetime((first - timedelta(days=1)).year, (first - timedelta(days=1)).month, 1, tzinfo=UTC)
    return ends[::-1]


def _month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def advance_month(sim: object, month_end: datetime, customers: int, seed: int, reversal: bool = False) -> None:
    """Move the account on during ``month_end``'s month, at :data:`ADVANCE_DAYS` (the clock must read
    ``month_end`` already). With ``reversal`` one legacy credit is clawed back too (the demo does it in the
    second month, the first with event evidence)."""
    scale = max(customers, 1) / 2000
    counts = {k: max(1, round(v * scale)) for k, v in ADVANCE_PER_2000.items()}
    start = _month_start(month_end)
    for i, day in enumerate(ADVANCE_DAYS):
        at = start.replace(day=day, hour=10)
        sim.advance(seed=seed * 1000 + month_end.month * 10 + i, at=at,  # type: ignore[attr-defined]
                    reversals=1 if reversal and i == 0 else 0, **counts)


def take_demo_snapshots(
    data_dir: Path | None = None, *, customers: int = 2000, seed: int = 7, progress: bool = True,
    months: int = DEMO_MONTHS, workers: int = 4, history: bool = True,
) -> Snapshot:
    """The demo's data: ``months`` month-end snapshots of a simulated account that moves on in between, kept
    in ``<data_dir>/snapshots/demo/`` (an earlier demo's snapshots there are removed first). The first is a
    ``subscribers`` first fetch, each later one ``incremental`` from that month's events. Returns the newest."""
    from credit_reports.fetch.history import run_history
    from credit_reports.fetch.snapshot import fetch_snapshot
    from credit_reports.fetch.subscriptions_forecast import store_renewal_plans
    from credit_reports.paddle.client import PaddleClient
    from credit_reports.simulator import CURRENT_PADDLE, Simulator
    from credit_reports.store.reader import default_data_dir

    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    shutil.rmtree(demo_folder(data_dir), ignore_errors=True)  # only what an earlier demo made
    shutil.rmtree(proof_folder(data_dir), ignore_errors=True)
    ends = month_ends(months)
    with Simulator(customers=customers, seed=seed, anchor=_month_start(ends[0]), **CURRENT_PADDLE) as sim:
        client = PaddleClient(api_key=sim.api_key, base_url=sim.base_url, max_rpm=DEMO_MAX_RPM)
        # the snapshots' environment folder and manifest say "demo", not "local": a simulator you run
        # yourself fetches into "local", and the demo must never replace those
        client.environment = DEMO_ENVIRONMENT
        snapshot = None
        try:
            for i, end in enumerate(ends):
                sim.set_time(end)
                advance_month(sim, end, customers, seed, reversal=i == 1)
                snapshot = fetch_snapshot(client, data_dir=data_dir, strategy="subscribers" if i == 0 else "auto",
                                          max_rpm=DEMO_MAX_RPM, workers=workers, progress=progress, as_of=end)
                if i == 0 and history:  # the day the toolkit is installed: its history from day one
                    run_history(client, snapshot, data_dir=data_dir, progress=progress)
            # the renewal plans at the close, as `run` reads them: the pack shows the current / non-current split.
            # Only at the last month end, so the demo backtests nothing: its account's use comes from random
            # spends, not from billing renewals, so every earlier month end's forecast would miss (203 of 208
            # horizons outside the band on the 2,000-customer demo) and the honest demo would show Attentions.
            snapshot = store_renewal_plans(client, snapshot)
            if history:
                proof = prove_history(sim, client, data_dir, progress=progress)
                if not proof["equal"]:  # the demo's proof failed: say so, loudly, without stopping the report
                    print(f"credit-reports demo: the history's month ends differ from the fetched ones at "
                          f"{len(proof['differences'])} customer month ends; see "
                          f"{proof_folder(data_dir) / 'proof.json'}", file=sys.stderr)
        finally:
            client.close()
    assert snapshot is not None
    return snapshot


def proof_folder(data_dir: Path) -> Path:
    """Where the demo keeps its proof of the history: a store of its own, so it never mixes with the demo's."""
    return Path(data_dir) / "demo-history-proof"


def compare_month_ends(fetched: list[Snapshot], reconstructed: dict[str, Snapshot],
                       trusted: set[str]) -> dict[str, object]:
    """Customer by customer, each fetched month end against the reconstructed one of the same as-of (the
    trusted customers' rows): how many were compared and which differ."""
    import pandas as pd

    keys = ["customer_id", "currency_code"]
    differ: list[dict[str, object]] = []
    for snap in fetched:
        rebuilt = reconstructed.get(snap.name)
        if rebuilt is None:
            differ.append({"as_of": snap.name, "problem": "no reconstructed month end"})
            continue
        want = snap.balances[snap.balances["customer_id"].isin(sorted(trusted))]
        both = want.merge(rebuilt.balances, on=keys, how="outer", suffixes=("_fetched", "_rebuilt"), indicator=True)
        cols = ("available", "reserved", "used")
        same = (both["_merge"] == "both") & pd.concat(
            [both[f"{c}_fetched"] == both[f"{c}_rebuilt"] for c in cols], axis=1).all(axis=1)
        for row in both[~same].itertuples():
            differ.append({"as_of": snap.name, "customer_id": str(row.customer_id),
                           "currency_code": str(row.currency_code)})
    return {"month_ends": len(fetched), "differences": differ, "equal": not differ}


def prove_history(sim: object, client: object, data_dir: Path, *, progress: bool = False) -> dict[str, object]:
    """Take one first snapshot today into :func:`proof_folder`, rebuild the account's history from its
    transactions, and compare the reconstructed month ends with the demo's fetched month-end snapshots,
    customer by customer (the simulator's ledger is the truth for both). Writes and returns ``proof.json``."""
    import pandas as pd

    from credit_reports.fetch.history import run_history
    from credit_reports.fetch.snapshot import fetch_snapshot
    from credit_reports.store.files import write_json_atomic
    from credit_reports.store.reader import list_snapshots, load_snapshot

    folder = proof_folder(data_dir)
    shutil.rmtree(folder, ignore_errors=True)
    today = pd.Timestamp.now(tz="UTC").floor("s") - pd.Timedelta(seconds=1)
    sim.set_time(today.to_pydatetime())  # type: ignore[attr-defined]
    first = fetch_snapshot(client, data_dir=folder, strategy="subscribers", max_rpm=DEMO_MAX_RPM,  # type: ignore[arg-type]
                           progress=progress, as_of=today)
    result = run_history(client, first, data_dir=folder, progress=progress)
    listing = list_snapshots(folder, DEMO_ENVIRONMENT)
    rebuilt = {p.rsplit("/", 1)[-1]: load_snapshot(p) for p, r in zip(listing["path"], listing["reconstructed"],
                                                                     strict=True) if r}
    fetched = [load_snapshot(p) for p, r in zip(*[list_snapshots(data_dir, DEMO_ENVIRONMENT)[c]
                                                  for c in ("path", "reconstructed")], strict=True) if not r]
    trusted = set(result.tie_out.loc[result.tie_out["ties_out"], "customer_id"].astype(str)) - set(
        result.summary["tie_out"]["untrusted_customer_ids"])
    proof = {"first_snapshot": first.name, "tie_out": result.summary["tie_out"],
             "api_calls": result.summary["api_calls"], **compare_month_ends(fetched, rebuilt, trusted)}
    write_json_atomic(folder / "proof.json", proof)
    return proof


def run_demo(
    *,
    out_dir: Path,
    data_dir: Path | None = None,
    customers: int = 2000,
    seed: int = 7,
    progress: bool = True,
) -> Path:
    """Take the demo's year of month-end snapshots (:func:`take_demo_snapshots`) into ``data_dir`` (default
    ``./data``) and render the report of the last closed month from them (``period = previous-month``);
    return the report's HTML path. The snapshots stay."""
    from credit_reports.delivery.config import CloseSettings
    from credit_reports.delivery.render import render_report
    from credit_reports.store.reader import default_data_dir

    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    snapshot = take_demo_snapshots(data_dir, customers=customers, seed=seed, progress=progress)
    rates = write_demo_rates(data_dir.resolve() / "demo-rates.csv", data_dir, snapshot.environment)
    result = render_report(
        "credit_balances",
        # the demo account's signups span almost four years: cohorts by quarter keep its charts readable
        parameters={"period": "previous-month", "environment": snapshot.environment,
                    "cohort": "signup_quarter", "title": "Customer credit balances (demo account)",
                    "rates_file": str(rates), "reporting_currency": "EUR", "rate_type": "average"},
        data_dir=data_dir,
        out_dir=out_dir,
        close=CloseSettings(entity="Demo account (simulated Paddle data)"),
    )
    return Path(result.html)


#: Made-up rates into EUR for the demo (not market data): one major unit of each currency in EUR.
_DEMO_RATES = {"AUD": "0.6050", "BRL": "0.1710", "CAD": "0.6690", "EUR": "1", "GBP": "1.1720",
               "JPY": "0.006150", "KRW": "0.000672", "USD": "0.9240"}


def write_demo_rates(path: Path, data_dir: Path, environment: str) -> Path:
    """A rates file for the demo's translated roll-forward: a spot rate at each snapshot's day and, from the
    second on, an average rate for the month it closes; drifting a little month to month and marked as made
    up (no market data)."""
    from decimal import Decimal

    import pandas as pd

    from credit_reports.store.reader import list_snapshots

    stamps = pd.to_datetime(list_snapshots(data_dir, environment)["as_of"], utc=True)
    days = sorted({stamp.strftime("%Y-%m-%d") for stamp in stamps})
    lines = ["currency,rate,date,source,type"]
    step = Decimal("0.000001")
    for code, base in _DEMO_RATES.items():
        for i, day in enumerate(days):
            drift = 0 if code == "EUR" else (i * 7 + len(code) * 3 + ord(code[0])) % 11 - 5
            spot = (Decimal(base) * (1 + Decimal(drift) / 400)).quantize(step)
            lines.append(f"{code},{spot.normalize()},{day},Demo rates (made up; not market data),spot")
            if i:
                average = spot if code == "EUR" else (spot * Decimal("0.998")).quantize(step)
                lines.append(f"{code},{average.normalize()},{day},Demo monthly average (made up),average")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
