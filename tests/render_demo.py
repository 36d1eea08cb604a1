"""The demo-size report, rendered once per test session and shared by test_render.py and test_browser.py.

Real path end to end: the simulator's default account (2,000 customers, seed 7) over loopback HTTP, two
snapshots fetched with the production client (the account moves on in between, so the roll-forward
moves), then ``render_report``. The simulator's ledger at each snapshot is kept as the expected answer.
Rendering takes several seconds, so it happens once; the builder caches its result for the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credit_reports.delivery.render import RenderResult, render_report
from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.paddle.client import PaddleClient
from credit_reports.simulator import Simulator

#: The simulator's default demo account: the size budget is about this report.
DEMO_CUSTOMERS = 2000
DEMO_SEED = 7
FAST = 100_000  # requests a minute: the simulator has no rate limit here


@dataclass
class DemoReport:
    result: RenderResult
    data_dir: Path
    out_dir: Path
    snapshot_name: str
    environment: str
    opening_ledger: list[dict[str, Any]]
    closing_ledger: list[dict[str, Any]]
    api_key: str


_CACHE: dict[str, DemoReport] = {}


def build_demo_report(root: Path) -> DemoReport:
    """Fetch two snapshots from a fresh demo simulator into ``root`` and render the report (once)."""
    if "demo" in _CACHE:
        return _CACHE["demo"]
    data_dir, out_dir = root / "data", root / "reports"
    with Simulator(customers=DEMO_CUSTOMERS, seed=DEMO_SEED) as sim:
        client = PaddleClient(api_key=sim.api_key, base_url=sim.base_url, max_rpm=FAST)
        fetch_snapshot(client, data_dir=data_dir, strategy="subscribers", max_rpm=FAST, progress=False)
        opening = sim.account.expected_balances()
        sim.advance(seed=DEMO_SEED + 1, credits=60, reservations=40, completions=30, cancellations=5,
                    new_customers=25, first_credits=20, spends=20, reversals=1, seller_credits=5)
        snapshot = fetch_snapshot(client, data_dir=data_dir, strategy="auto", max_rpm=FAST, progress=False)
        closing = sim.account.expected_balances()
        api_key = sim.api_key
    result = render_report(
        parameters={"snapshot": snapshot.path.name, "environment": snapshot.environment},
        data_dir=data_dir,
        out_dir=out_dir,
        api_key=api_key,
    )
    _CACHE["demo"] = DemoReport(result, data_dir, out_dir, snapshot.path.name, snapshot.environment,
                                opening, closing, api_key)
    return _CACHE["demo"]


def two_cell_notebook(path: Path, parameters: str, body: str) -> Path:
    """Write a tiny report: a tagged ``parameters`` cell and one body cell. Renders in a couple of seconds."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(body),
    ]
    nbformat.write(nb, path)
    return path
