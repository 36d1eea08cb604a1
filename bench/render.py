"""Benchmark: render the full credit-balances report for a large account against the papermill floor.

Writes a synthetic snapshot store straight in the DESIGN layout (``<data>/snapshots/<env>/<as-of>/`` with
``balances.parquet``, ``customers.parquet``, ``subscriptions.parquet``, ``movements.parquet``,
``manifest.json``), shaped like a real store: 100,000 customers and 24 monthly snapshots by default, the older
half reconstructed by ``credit-reports history``, the first fetched one with its credit adjustments and
history, incremental fetches after it, and movements that explain every balance change (the period reconciles).
Then, in the same run and on the same kernel, interleaved, it times

* the floor: papermill executing an empty notebook plus nbconvert exporting it to HTML,
* the second floor: papermill plus nbconvert (code hidden) on a report a user would write by hand (imports
  pandas and matplotlib, reads the newest and previous ``balances.parquet`` and the newest window's
  movements, sums per currency, computes the roll-forward and the customers behind any difference, one bar
  chart per currency), and
* ``render_report`` of the full report (execution, cleaning, HTML, exports, manifest, secret scan,
  publish, index),

each ``--repeat`` times (median reported, in wall and in CPU seconds of the process and its kernel), after
``--warmup`` untimed rounds of all three so that first-use costs in this process (imports, template
compilation, cold file cache) weigh on neither side, and prints a Markdown table for
``docs/benchmarks/render.md`` with the machine's load average.
Targets: the full render takes at most 2x the hand-written floor at 100,000 customers, 3x at
1,000,000, and one render (its own process plus its kernel, measured in a fresh process) peaks under 1 GB.

Usage: ``.venv/bin/python bench/render.py [--customers 100000] [--snapshots 24] [--repeat 3] [--warmup 1]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from credit_reports.figures import metrics  # noqa: E402 - after the checkout is on sys.path
from credit_reports.store import files  # noqa: E402

CURRENCIES = ("USD", "EUR", "GBP", "JPY", "AUD", "CAD", "BRL", "KRW")
#: Typical size of one credit in each currency's minor units (JPY/KRW have no minor unit).
SCALE = {"USD": 2_000, "EUR": 2_000, "GBP": 1_800, "JPY": 3_000, "AUD": 3_000, "CAD": 2_600, "BRL": 10_000,
         "KRW": 25_000}
ENVIRONMENT = "production"


def _customer_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    """Paddle-shaped ids ``ctm_`` + 26 lowercase base-36 characters, unique."""
    alphabet = np.array(list("0123456789abcdefghijklmnopqrstuvwxyz"))
    body = alphabet[rng.integers(0, 36, size=(n, 22))]
    prefix = np.char.zfill(np.char.mod("%d", np.arange(n)), 4)
    return np.array(["ctm_" + p[-4:] + "".join(b) for p, b in zip(prefix, body, strict=True)])


def _ids(prefix: str, start: int, n: int) -> np.ndarray:
    """``n`` Paddle-shaped ids ``<prefix>_<26 digits>`` numbered from ``start`` (unique across the store)."""
    if n == 0:
        return np.array([], dtype=str)
    return np.char.add(prefix + "_", np.char.zfill(np.arange(start, start + n).astype(str), 26))


def _window_movements(rng: np.random.Generator, since: pd.Timestamp, until: pd.Timestamp, customer: np.ndarray,
                      currency: np.ndarray, amounts: dict[str, np.ndarray], serial: int) -> tuple[pd.DataFrame, int]:
    """One window's movements (store.MOVEMENT_DTYPES) that explain its balance changes exactly.

    ``amounts`` holds, per balance row, the credit ``issued``, ``reserved``, ``used`` (from reserved) and
    ``released`` in the window; a row moves in that order (issue, reserve, then use or release), each at a
    random moment of the window, so the reconciling roll-forward has no unexplained difference. Returns the
    movements and the next unused transaction serial.
    """
    span = (until - since).total_seconds()
    base = rng.uniform(0.0, 0.5, len(customer))
    parts = []
    effects = {"issued": (1, 0, 0), "reserved": (-1, 1, 0), "used": (0, -1, 1), "released": (1, -1, 0)}
    offsets = {"issued": 0.0, "reserved": 0.2, "used": 0.4, "released": 0.45}
    for kind, (a, r, u) in effects.items():
        rows = np.flatnonzero(amounts[kind] > 0)
        n = len(rows)
        amount = amounts[kind][rows]
        seconds = (base[rows] + offsets[kind]) * span + 1.0
        txn = _ids("txn", serial, n)
        serial += n
        source = (np.where(rng.random(n) < 0.3, "subscription_update", "subscription_recurring")
                  if kind == "issued" else np.full(n, "subscription_recurring"))
        parts.append(pd.DataFrame({
            "kind": kind,
            "customer_id": customer[rows],
            "currency_code": currency[rows],
            "amount": amount,
            "available_delta": a * amount,
            "reserved_delta": r * amount,
            "used_delta": u * amount,
            "occurred_at": since + pd.to_timedelta(seconds.round(), unit="s"),
            "source": source,
            "event_id": _ids("evt", serial - n, n),
            "transaction_id": txn,
            "adjustment_id": "",
        }))
    moves = pd.concat(parts, ignore_index=True).sort_values("occurred_at", kind="stable", ignore_index=True)
    return files.conform(moves, files.MOVEMENT_DTYPES), serial


def _legacy_adjustments(rng: np.random.Generator, customer: np.ndarray, currency: np.ndarray,
                        issued: np.ndarray, at: pd.Timestamp) -> pd.DataFrame:
    """The credit adjustments a first fetch lists (store.ADJUSTMENT_DTYPES): for about one credited row in
    twenty, part of its first credit came from a legacy ``action: credit`` adjustment, a few later reversed."""
    rows = np.flatnonzero((issued > 0) & (rng.random(len(issued)) < 0.05))
    n = len(rows)
    created = at - pd.to_timedelta(rng.integers(400, 900, n), unit="D")
    credit = pd.DataFrame({
        "id": _ids("adj", 0, n), "action": "credit", "status": "approved", "customer_id": customer[rows],
        "currency_code": currency[rows], "total": issued[rows] // 2, "credit_applied_to_balance": True,
        "transaction_id": _ids("txn", 10**20, n), "subscription_id": "", "created_at": created,
        "updated_at": created,
    })
    back = credit[rng.random(n) < 0.1]
    reverse = back.assign(id=_ids("adj", n, len(back)), action="credit_reverse", total=-(back["total"] // 4),
                          created_at=back["created_at"] + pd.Timedelta(days=30),
                          updated_at=back["created_at"] + pd.Timedelta(days=30))
    return files.conform(pd.concat([credit, reverse], ignore_index=True), files.ADJUSTMENT_DTYPES)


def write_synthetic_store(data_dir: Path, customers: int = 100_000, snapshots: int = 24, seed: int = 7,
                          credit_share: float = 0.2) -> list[Path]:
    """Write ``snapshots`` monthly snapshots of a growing account, shaped like a real store; return their
    folders, oldest first.

    A fifth of the customers hold credit, in one or two currencies; between snapshots new customers sign
    up, credit is issued, reserved, used and released, so every roll-forward moves. Like a store that ran
    ``credit-reports history`` after its first fetch: the older half are reconstructed month ends (their
    movements rebuilt from transactions), the first fetched snapshot keeps the credit adjustments it listed,
    ``history.parquet``/``history.json`` and its window's rebuilt movements, and every later snapshot is an
    incremental fetch with its window's movements and manifest ``totals``. Every window has evidence and the
    movements explain every balance change, so the report's period reconciles (unexplained 0).
    """
    rng = np.random.default_rng(seed)
    ids = _customer_ids(customers, rng)
    end = pd.Timestamp("2026-11-01T06:00:00Z")
    as_ofs = [end - pd.DateOffset(months=snapshots - 1 - i) for i in range(snapshots)]
    signup = end - pd.to_timedelta(rng.integers(0, 730 * 86_400, customers), unit="s")
    signup = signup.sort_values()
    order = np.argsort(rng.random(customers))
    ids = ids[order]
    plans = np.array(["starter", "growth", "scale", "enterprise"])[rng.integers(0, 4, customers)]
    locales = np.array(["en", "de", "fr", "ja", "pt-BR", "ko"])[rng.integers(0, 6, customers)]
    status = np.where(rng.random(customers) < 0.1, "archived", "active")
    customers_df = pd.DataFrame({
        "customer_id": ids,
        "status": status,
        "created_at": signup,
        "updated_at": signup,
        "locale": locales,
        "marketing_consent": rng.random(customers) < 0.5,
        "custom_data": [json.dumps({"plan": p, "segment": "smb"}) for p in plans],
        "email": [f"customer{i}@example.com" for i in range(customers)],
        "name": [f"Customer {i}" for i in range(customers)],
    })
    holders = rng.random(customers) < credit_share
    idx = np.flatnonzero(holders)
    first = rng.integers(0, len(CURRENCIES), len(idx))
    second_mask = rng.random(len(idx)) < 0.15
    rows_customer = np.concatenate([idx, idx[second_mask]])
    rows_currency = np.concatenate([first, (first[second_mask] + 1) % len(CURRENCIES)])
    codes = np.array(CURRENCIES)[rows_currency]
    row_ids = ids[rows_customer]
    scale = np.array([SCALE[c] for c in codes], dtype=np.int64)
    n_rows = len(rows_customer)
    available = np.zeros(n_rows, dtype=np.int64)
    reserved = np.zeros(n_rows, dtype=np.int64)
    used = np.zeros(n_rows, dtype=np.int64)
    subs = pd.DataFrame({
        "subscription_id": [f"sub_{i:026d}" for i in range(customers)],
        "customer_id": ids,
        "status": np.where(status == "active", "active", "canceled"),
        "currency_code": np.array(CURRENCIES)[rng.integers(0, len(CURRENCIES), customers)],
        "billing_interval": np.where(rng.random(customers) < 0.7, "month", "year"),
        "billing_frequency": pd.array(np.ones(customers, dtype=np.int64), dtype="Int64"),
        "price_id": np.array([f"pri_{p:0>26}" for p in plans]),
        "product_id": np.array([f"pro_{p:0>26}" for p in plans]),
        "created_at": signup,
    })
    env_dir = data_dir / "snapshots" / ENVIRONMENT
    env_dir.mkdir(parents=True, exist_ok=True)
    first_fetch = snapshots // 2  # the older half rebuilt by `credit-reports history`, then fetched ones
    folders: list[Path] = []
    history: list[pd.DataFrame] = []
    serial = 0
    for i, as_of in enumerate(as_ofs):
        # the account moves on: credit issued, some reserved, some used, some released (signed-up customers only)
        signed_up = (customers_df["created_at"] <= as_of).to_numpy()
        in_snapshot = signed_up[rows_customer]
        issue = np.where((rng.random(n_rows) < 0.08) & in_snapshot, scale * rng.integers(1, 20, n_rows), 0)
        available += issue
        to_reserve = np.where(rng.random(n_rows) < 0.05, available // 3, 0)
        available -= to_reserve
        reserved += to_reserve
        to_use = np.where(rng.random(n_rows) < 0.5, reserved, 0)
        reserved -= to_use
        used += to_use
        release = np.where(rng.random(n_rows) < 0.05, reserved, 0)
        reserved -= release
        available += release
        balances = pd.DataFrame({
            "customer_id": pd.array(row_ids[in_snapshot], dtype="string"),
            "currency_code": pd.array(codes[in_snapshot], dtype="string"),
            "available": available[in_snapshot],
            "reserved": reserved[in_snapshot],
            "used": used[in_snapshot],
        })
        name = as_of.strftime("%Y%m%dT%H%M%SZ")
        folder = env_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        balances.to_parquet(folder / "balances.parquet", index=False)
        customers_df[signed_up].to_parquet(folder / "customers.parquet", index=False)
        subs[signed_up].to_parquet(folder / "subscriptions.parquet", index=False)
        previous = folders[-1].name if folders else None
        moves = None
        if previous is not None:
            moved = {"issued": issue, "reserved": to_reserve, "used": to_use, "released": release}
            moves, serial = _window_movements(rng, as_ofs[i - 1], as_of, row_ids, codes, moved, serial)
            moves.to_parquet(folder / "movements.parquet", index=False)
            if i <= first_fetch:
                history.append(moves)
        manifest = {
            "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "environment": ENVIRONMENT,
            "base_url": "https://api.paddle.com",
            "complete": True,
            "counts": {"customers": int(signed_up.sum()), "balance_rows": len(balances),
                       "movements": 0 if moves is None else len(moves)},
            "failed_customer_ids": [],
            "api_calls": 0,
            "retries": 0,
            "rate_limited": 0,
            "failures": 0,
            "seconds": 0.0,
            "toolkit_version": "bench",
            "totals": metrics.headline(balances),  # what the fetch writes: the trend's point
        }
        if i < first_fetch:
            manifest.update(strategy="reconstructed", reconstructed=True, evidence=True,
                            evidence_source="transactions", base_snapshot=previous,
                            source_snapshot=as_ofs[first_fetch].strftime("%Y%m%dT%H%M%SZ"))
        elif i == first_fetch:
            _legacy_adjustments(rng, row_ids, codes, issue, as_of).to_parquet(folder / "adjustments.parquet",
                                                                               index=False)
            summary = {"source_snapshot": name, "as_of": manifest["as_of"], "window_base": previous,
                       "movements": int(sum(len(h) for h in history)),
                       "tie_out": {"customers": int(in_snapshot.sum()), "tied": int(in_snapshot.sum()),
                                   "untrusted": 0, "rate": 1.0, "untrusted_customer_ids": [], "differences": []}}
            pd.concat(history, ignore_index=True).assign(timing="event", estimated=False).to_parquet(
                folder / "history.parquet", index=False)
            (folder / "history.json").write_text(json.dumps(summary, indent=2))
            manifest.update(strategy="credited", history=summary)
        else:
            manifest.update(strategy="incremental", base_snapshot=previous, evidence=True)
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
        folders.append(folder)
    return folders


def _empty_notebook(path: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("x")]
    nb.metadata["kernelspec"] = {"name": "credit-reports", "display_name": "Python (credit-reports)",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def floor_once(work: Path, kernel: str) -> float:
    """papermill on an empty notebook + nbconvert HTML export: the least any render can cost."""
    import papermill
    from nbconvert import HTMLExporter

    src = _empty_notebook(work / "empty.ipynb")
    start = time.perf_counter()
    nb = papermill.execute_notebook(str(src), str(work / "empty.out.ipynb"), parameters={"x": 2},
                                    kernel_name=kernel, progress_bar=False, log_output=False)
    HTMLExporter(exclude_input=True).from_notebook_node(nb)
    return time.perf_counter() - start


#: The report a user would write by hand: newest balances, sums per currency, the roll-forward from the
#: previous snapshot (opening + issued - used = expected closing against the closing outstanding, from the
#: newest window's movements), the customers behind any difference, and one bar chart per currency.
HAND_WRITTEN = [
    ('data_dir = ""', ["parameters"]),
    ("import glob\nimport os\n\nimport matplotlib.pyplot as plt\nimport pandas as pd\n\n%matplotlib inline", []),
    ('folders = sorted(glob.glob(os.path.join(data_dir, "snapshots", "*", "*", "balances.parquet")),\n'
     '                 key=lambda p: os.path.basename(os.path.dirname(p)))\n'
     'balances = pd.read_parquet(folders[-1])\n'
     'opening = pd.read_parquet(folders[-2])\n'
     'moves = pd.read_parquet(os.path.join(os.path.dirname(folders[-1]), "movements.parquet"))\n'
     'totals = balances.groupby("currency_code")[["available", "reserved", "used"]].sum()\n'
     'totals', []),
    ('keys = ["currency_code", "customer_id"]\n'
     'o = opening.groupby(keys)[["available", "reserved"]].sum().sum(axis=1).rename("opening")\n'
     'c = balances.groupby(keys)[["available", "reserved"]].sum().sum(axis=1).rename("closing")\n'
     'm = moves.pivot_table(index=keys, columns="kind", values="amount", aggfunc="sum", fill_value=0)\n'
     'f = pd.concat([o, c, m.reindex(columns=["issued", "reversed", "used"], fill_value=0)], axis=1).fillna(0)\n'
     'f["expected_closing"] = f["opening"] + f["issued"] - f["reversed"] - f["used"]\n'
     'f["unexplained"] = f["closing"] - f["expected_closing"]\n'
     'roll = f.groupby(level="currency_code").sum().astype("int64")\n'
     'roll', []),
    ('f[f["unexplained"] != 0].sort_values("unexplained", key=abs, ascending=False).head(20)', []),
    ("for code, row in totals.iterrows():\n"
     "    fig, ax = plt.subplots(figsize=(4, 2.5))\n"
     "    ax.bar(row.index, row.values)\n"
     "    ax.set_title(code)\n"
     "    plt.show()", []),
]


def _hand_written_notebook(path: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source, metadata={"tags": tags} if tags else {})
                for source, tags in HAND_WRITTEN]
    nb.metadata["kernelspec"] = {"name": "credit-reports", "display_name": "Python (credit-reports)",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def hand_written_once(work: Path, data_dir: Path, kernel: str) -> float:
    """papermill + nbconvert (code hidden) on the minimal report a user would write by hand."""
    import papermill
    from nbconvert import HTMLExporter

    src = _hand_written_notebook(work / "hand_written.ipynb")
    start = time.perf_counter()
    nb = papermill.execute_notebook(str(src), str(work / "hand_written.out.ipynb"),
                                    parameters={"data_dir": str(data_dir)}, kernel_name=kernel,
                                    progress_bar=False, log_output=False)
    HTMLExporter(exclude_input=True).from_notebook_node(nb)
    return time.perf_counter() - start


def render_memory(data_dir: Path, out_dir: Path, kernel: str) -> dict[str, float]:
    """Peak resident memory (MB) of one full render in a fresh process: the render's own and its kernel's.

    The render runs in a child process (``--memory-child``) so the synthetic store this process built
    does not count; it reports its own peak (``VmHWM``, see :func:`_high_water_mb`) and ``ru_maxrss`` of its
    waited-for children, i.e. the kernel (RUSAGE_CHILDREN: the largest child).
    """
    import subprocess

    answer = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(data_dir), str(out_dir), "--kernel", kernel],
        check=True, capture_output=True, text=True,
    )
    return json.loads(answer.stdout.strip().splitlines()[-1])


def _high_water_mb() -> float | None:
    """This process's own peak resident memory (Linux ``VmHWM``), None where /proc is missing.

    Not ``ru_maxrss``: Linux carries a process's high-water mark across fork and exec, so a child started by
    this bench (which holds the whole synthetic store, 1.3 GB at 1,000,000 customers) reported the bench's
    size, not its own. The kernel's figure (``RUSAGE_CHILDREN``) is its own: it outgrows the render process
    it was forked from."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _memory_child(data_dir: str, out_dir: str, kernel: str) -> int:
    import resource

    from credit_reports.delivery.render import render_report

    render_report("credit_balances", data_dir=data_dir, out_dir=out_dir, kernel_name=kernel)
    own = _high_water_mb() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kernel_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"render_mb": round(own, 1), "kernel_mb": round(kernel_peak, 1)}))
    return 0


class _StepLog(logging.Handler):
    """Keeps render_report's 'rendered ... in N s (step s, ...)' line: where the time went."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("rendered "):
            self.lines.append(message.split(" in ", 1)[1])


def render_once(data_dir: Path, out_dir: Path, kernel: str, notebook: str | Path = "credit_balances",
                output_name: str | None = None) -> tuple[float, Path]:
    from credit_reports.delivery.render import render_report

    start = time.perf_counter()
    result = render_report(notebook, data_dir=data_dir, out_dir=out_dir, kernel_name=kernel,
                           output_name=output_name)
    return time.perf_counter() - start, result.html


def _two_cell_report(path: Path) -> Path:
    """A report notebook that only prints its title: render_report's own cost over the floor."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('snapshot = "latest"\ndata_dir = ""\ntitle = "Two cells"',
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("print(title)")]
    nbformat.write(nb, path)
    return path


def cell_seconds(executed: Path, top: int = 6) -> list[tuple[float, str]]:
    """The slowest cells of an executed notebook (papermill records each cell's duration)."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    cells = [(float(c.metadata.get("papermill", {}).get("duration") or 0.0),
              c.source.strip().splitlines()[-1][:70]) for c in nb.cells if c.cell_type == "code" and c.source]
    return sorted(cells, reverse=True)[:top]


def _cpu() -> float:
    """CPU seconds (user + system) of this process and of its waited-for children (the kernels) so far."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(cpu: list[float], fn: Any, *args: Any) -> Any:
    """Call ``fn(*args)``; append the CPU seconds it took (its kernel's included) to ``cpu``; return its result.

    CPU seconds are what a loaded, shared machine distorts least: a run that waits for a core costs no more."""
    before = _cpu()
    result = fn(*args)
    cpu.append(_cpu() - before)
    return result


def _load(averages: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.1f}" for x in averages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--snapshots", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds before the timed ones")
    parser.add_argument("--kernel", default="credit-reports")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and print it")
    parser.add_argument("--target", type=float, default=None,
                        help="the most the full report may cost over the hand-written floor "
                             "(default: 2 below 1,000,000 customers, 3 from there)")
    parser.add_argument("--memory-child", nargs=2, metavar=("DATA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        return _memory_child(*args.memory_child, args.kernel)
    target = args.target if args.target is not None else (2.0 if args.customers < 1_000_000 else 3.0)

    logging.basicConfig(level=logging.WARNING)
    steps = _StepLog()
    render_log = logging.getLogger("credit_reports.render")
    render_log.setLevel(logging.INFO)
    render_log.addHandler(steps)
    render_log.propagate = False
    work = Path(tempfile.mkdtemp(prefix="bench-render-"))
    try:
        t0 = time.perf_counter()
        folders = write_synthetic_store(work / "data", args.customers, args.snapshots)
        written = time.perf_counter() - t0
        rows = len(pd.read_parquet(folders[-1] / "balances.parquet"))
        print(f"synthetic store: {args.customers:,} customers, {len(folders)} snapshots, "
              f"{rows:,} balance rows in the latest, written in {written:.1f} s", file=sys.stderr)
        floors, hands, renders, machinery = [], [], [], []
        cpu: dict[str, list[float]] = {"floor": [], "hand": [], "two": [], "full": []}
        html = None
        two_cells = _two_cell_report(work / "two_cells.ipynb")
        for i in range(args.warmup):
            floor_once(work, args.kernel)
            hand_written_once(work, work / "data", args.kernel)
            render_once(work / "data", work / f"warmup-{i}", args.kernel, two_cells, "two-cells")
            render_once(work / "data", work / f"warmup-{i}", args.kernel)
        steps.lines.clear()
        load_before = os.getloadavg()
        for i in range(args.repeat):
            floors.append(_timed(cpu["floor"], floor_once, work, args.kernel))
            hands.append(_timed(cpu["hand"], hand_written_once, work, work / "data", args.kernel))
            out = work / f"reports-{i}"
            seconds, _ = _timed(cpu["two"], render_once, work / "data", out, args.kernel, two_cells, "two-cells")
            machinery.append(seconds)
            seconds, html = _timed(cpu["full"], render_once, work / "data", work / f"reports-{i}", args.kernel)
            renders.append(seconds)
            print(f"run {i + 1}: floor {floors[-1]:.2f} s, hand-written {hands[-1]:.2f} s, "
                  f"render_report two-cell {machinery[-1]:.2f} s, "
                  f"full report {renders[-1]:.2f} s; CPU s: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in cpu.items()),
                  file=sys.stderr)
        load_after = os.getloadavg()
        memory = render_memory(work / "data", work / "memory", args.kernel)
        floor, render = statistics.median(floors), statistics.median(renders)
        hand = statistics.median(hands)
        own = statistics.median(machinery)
        size = html.stat().st_size if html else 0
        print()
        print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
              f"{args.customers:,} customers, {len(folders)} snapshots, {rows:,} balance rows in the latest; "
              f"load average (1, 5, 15 min) {_load(load_before)} before the timed runs, {_load(load_after)} after; "
              f"{args.warmup} untimed warm-up round(s).")
        print()
        print(f"| step | median of {args.repeat} (s) | runs (s) |")
        print("|---|---:|---|")
        print(f"| floor: papermill empty notebook + nbconvert HTML | {floor:.2f} | "
              f"{', '.join(f'{x:.2f}' for x in floors)} |")
        print(f"| floor: papermill + nbconvert (code hidden), hand-written report (pandas, matplotlib, "
              f"newest balances, sums, roll-forward from the previous snapshot with its movements, one bar chart "
              f"per currency) | {hand:.2f} | "
              f"{', '.join(f'{x:.2f}' for x in hands)} |")
        print(f"| render_report, two-cell notebook (the toolkit's own cost) | {own:.2f} | "
              f"{', '.join(f'{x:.2f}' for x in machinery)} |")
        print(f"| render_report, full credit-balances report | {render:.2f} | "
              f"{', '.join(f'{x:.2f}' for x in renders)} |")
        med = {k: statistics.median(v) for k, v in cpu.items()}
        for key, label in (("floor", "floor, empty notebook"), ("hand", "hand-written report"),
                           ("two", "render_report, two-cell"), ("full", "render_report, full report")):
            print(f"| CPU seconds (process + kernel): {label} | {med[key]:.2f} | "
                  f"{', '.join(f'{x:.2f}' for x in cpu[key])} |")
        print(f"| **CPU ratio full report / hand-written report** | **{med['full'] / med['hand']:.2f}x** | |")
        print(f"| ratio two-cell render_report / floor | {own / floor:.2f}x | |")
        print(f"| ratio full report / empty-notebook floor | {render / floor:.2f}x | |")
        print(f"| **ratio full report / hand-written floor** | **{render / hand:.2f}x** (target <= {target:g}x) | |")
        print()
        print(f"Peak memory of one full render in a fresh process (render: VmHWM; kernel: ru_maxrss): render process "
              f"{memory['render_mb']:.0f} MB, its kernel {memory['kernel_mb']:.0f} MB, together "
              f"{memory['render_mb'] + memory['kernel_mb']:.0f} MB (target < 1,000 MB at 1,000,000 customers)")
        print()
        print(f"HTML size: {size / 1e6:.2f} MB")
        print()
        print("render_report steps per run (two-cell, full, ...): " + "; ".join(steps.lines))
        if html:
            print()
            print("Slowest notebook cells of the last run (s): ")
            for seconds, line in cell_seconds(html.with_suffix(".ipynb")):
                print(f"- {seconds:.2f} `{line}`")
        return 0 if render <= target * hand else 1
    finally:
        if args.keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
