"""``credit-reports demo``: the whole flow against the built-in simulator, with no key and no network.

Two snapshots are taken with the simulated account moving on in between (new credit, credit reserved on
invoices, invoices paid), so the demo report shows a real roll-forward, not just one day's balances.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

# The simulator is local and answers as fast as it can; Paddle's 240 a minute applies to Paddle only.
DEMO_MAX_RPM = 6000


def _next_second() -> None:
    """Sleep past the current UTC second, so two snapshots never share an as-of folder name."""
    time.sleep(1.05 - (time.time() % 1.0))


def run_demo(*, out_dir: Path, customers: int = 2000, seed: int = 7, progress: bool = True) -> Path:
    """Serve the simulator, take two snapshots into a throwaway folder, render the report; return its HTML.

    The data folder is removed afterwards; the report and its manifest stay in ``out_dir``.
    """
    from .fetch import fetch_snapshot
    from .paddle import PaddleClient
    from .render import build_index, render_report
    from .simulator import Simulator

    data_dir = Path(tempfile.mkdtemp(prefix="credit-reports-demo-"))
    try:
        with Simulator(customers=customers, seed=seed) as sim:
            client = PaddleClient(api_key=sim.api_key, base_url=sim.base_url, max_rpm=DEMO_MAX_RPM)
            fetch_snapshot(client, data_dir=data_dir, strategy="credited", max_rpm=DEMO_MAX_RPM,
                           progress=progress)
            sim.advance(seed=seed + 1, credits=60, reservations=40, completions=30, cancellations=5,
                        new_customers=25)
            _next_second()
            snapshot = fetch_snapshot(client, data_dir=data_dir, strategy="auto", max_rpm=DEMO_MAX_RPM,
                                      progress=progress)
        result = render_report(
            "credit_balances",
            parameters={"snapshot": snapshot.path.name, "environment": snapshot.environment,
                        "title": "Customer credit balances (demo account)"},
            data_dir=data_dir,
            out_dir=out_dir,
        )
        build_index(out_dir)
        return Path(result.html)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
