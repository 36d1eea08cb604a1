"""The README's live example, repeated: the simulator served as current Paddle and moving on by itself
(``credit-reports simulator --advance-every``), then a scheduled fetch, ten times over, in compressed time.

Each fetch reads an account that moves under it. On an honest account nothing may need attention: every
window reconciles to exactly zero with evidence, the verification sample never falls back, and the reasons
behind an email's "Attention:" (``alerts.attention_reasons``) are empty every time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from credit_reports.app.cli import main
from credit_reports.report.alerts import attention_reasons
from credit_reports.report.preparation import prepare
from credit_reports.simulator import CURRENT_PADDLE, Simulator
from credit_reports.simulator.mover import live_step
from credit_reports.store.reader import load_snapshot

pytestmark = pytest.mark.slow

#: The README runs 5,000 customers moved every 60 s and fetched at 6,000 calls a minute; compressed: 6% of
#: the customers (300), moved every 0.5 s, so most fetches (1-3 s) read through a move.
CUSTOMERS, EVERY_SECONDS, RUNS = 300, 0.5, 10


def test_ten_scheduled_fetches_of_a_live_moving_account_show_nothing_unexplained(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    sim = Simulator(customers=CUSTOMERS, latency_ms=1, **CURRENT_PADDLE).start()
    monkeypatch.setenv("PADDLE_API_KEY", sim.api_key)
    reasons: list[list[str]] = []
    moves_during: list[int] = []
    try:
        sim.start_moving(EVERY_SECONDS, step=live_step(CUSTOMERS))
        for _ in range(RUNS):
            before = len(sim.moves)
            code = main(["--quiet", "fetch", "--base-url", sim.base_url, "--data-dir", str(tmp_path),
                         "--max-rpm", "60000"])
            assert code == 0, capsys.readouterr().err
            moves_during.append(len(sim.moves) - before)
            snap = load_snapshot("latest", data_dir=tmp_path)
            report = prepare(data_dir=str(tmp_path), snapshot=snap.name)
            manifest = {"snapshot": {"complete": snap.complete, "verification": snap.verification}}
            if report.reconciliation is not None:
                assert report.reconciliation.evidence
                manifest["reconciliation"] = report.reconciliation.as_dict()
            reasons.append(attention_reasons(manifest))
            assert snap.manifest["point_in_time"]["uncertain_customer_ids"] == []
    finally:
        sim.stop_moving()
        sim.stop()
    assert sum(moves_during) >= RUNS  # the account moved during the fetches, not only between them
    assert reasons == [[]] * RUNS
