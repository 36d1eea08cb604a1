"""``credit-reports demo``: the whole flow against the built-in simulator, with no key and no network.

Two snapshots are taken with the simulated account moving on in between (new credit, credit reserved on
invoices, invoices paid), so the demo report shows a real roll-forward, not just one day's balances.

The snapshots stay in the snapshot store (``./data`` or ``--data-dir``) under their own environment
folder, ``snapshots/demo/``, so ``make lab`` and ``notebooks/explore.ipynb`` find them straight after
``make report`` and the report's manifest points at data that exists. Running the demo again replaces
that folder only: snapshots fetched from Paddle (``production``, ``sandbox``) or from a simulator you
started yourself (``local``) are never touched.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import Snapshot

# The simulator is local and answers as fast as it can; Paddle's 240 a minute applies to Paddle only.
DEMO_MAX_RPM = 6000
#: The environment folder the demo's snapshots live in (``<data-dir>/snapshots/demo/``).
DEMO_ENVIRONMENT = "demo"


def _next_second() -> None:
    """Sleep past the current UTC second, so two snapshots never share an as-of folder name."""
    time.sleep(1.05 - (time.time() % 1.0))


def demo_folder(data_dir: Path) -> Path:
    """Where the demo keeps its snapshots in ``data_dir``: the ``demo`` environment folder."""
    from .store import SNAPSHOTS

    return Path(data_dir) / SNAPSHOTS / DEMO_ENVIRONMENT


def take_demo_snapshots(
    data_dir: Path | None = None, *, customers: int = 2000, seed: int = 7, progress: bool = True
) -> Snapshot:
    """The demo's data: two snapshots of a simulated account that moves on in between, kept in
    ``<data_dir>/snapshots/demo/`` (an earlier demo's snapshots there are removed first). Returns the newer."""
    from .fetch import fetch_snapshot
    from .paddle import PaddleClient
    from .simulator import Simulator
    from .store import default_data_dir

    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    shutil.rmtree(demo_folder(data_dir), ignore_errors=True)  # only what an earlier demo made
    with Simulator(customers=customers, seed=seed) as sim:
        client = PaddleClient(api_key=sim.api_key, base_url=sim.base_url, max_rpm=DEMO_MAX_RPM)
        # the snapshots' environment folder and manifest say "demo", not "local": a simulator you run
        # yourself fetches into "local", and the demo must never replace those
        client.environment = DEMO_ENVIRONMENT
        try:
            fetch_snapshot(client, data_dir=data_dir, strategy="subscribers", max_rpm=DEMO_MAX_RPM, progress=progress)
            sim.advance(seed=seed + 1, credits=60, reservations=40, completions=30, cancellations=5,
                        new_customers=25, first_credits=20, spends=20, reversals=1, seller_credits=5)
            _next_second()
            return fetch_snapshot(client, data_dir=data_dir, strategy="auto", max_rpm=DEMO_MAX_RPM,
                                  progress=progress)
        finally:
            client.close()


def run_demo(
    *,
    out_dir: Path,
    data_dir: Path | None = None,
    customers: int = 2000,
    seed: int = 7,
    progress: bool = True,
) -> Path:
    """Take the demo's two snapshots (:func:`take_demo_snapshots`) into ``data_dir`` (default ``./data``)
    and render the report from them; return the report's HTML path. The snapshots stay."""
    from .render import build_index, render_report
    from .store import default_data_dir

    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    snapshot = take_demo_snapshots(data_dir, customers=customers, seed=seed, progress=progress)
    result = render_report(
        "credit_balances",
        parameters={"snapshot": snapshot.path.name, "environment": snapshot.environment,
                    "title": "Customer credit balances (demo account)"},
        data_dir=data_dir,
        out_dir=out_dir,
    )
    build_index(out_dir)
    return Path(result.html)
