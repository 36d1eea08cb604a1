"""The README's live example with the simulator's listing lag on (``credit-reports simulator --advance-every 0.5
--event-lag-ms 250``): ten scheduled fetches of an account that moves under them while Paddle lists its events
late and out of order. Nothing may need attention: every window reconciles to exactly zero with evidence."""

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

CUSTOMERS, EVERY_SECONDS, RUNS, LAG_MS = 300, 0.5, 10, 250


def test_ten_scheduled_fetches_of_a_moving_account_whose_events_are_listed_late_show_nothing_unexplained(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    sim = Simulator(customers=CUSTOMERS, latency_ms=1, event_lag_ms=LAG_MS, **CURRENT_PADDLE).start()
    monkeypatch.setenv("PADDLE_API_KEY", sim.api_key)
    reasons: list[list[str]] = []
    lags: list[float] = []
    try:
        sim.start_moving(EVERY_SECONDS, step=live_step(CUSTOMERS))
        for _ in range(RUNS):
            code = main(["--quiet", "fetch", "--base-url", sim.base_url, "--data-dir", str(tmp_path),
                         "--max-rpm", "60000"])
            assert code == 0, capsys.readouterr().err
            snap = load_snapshot("latest", data_dir=tmp_path)
            report = prepare(data_dir=str(tmp_path), snapshot=snap.name)
            manifest = {"snapshot": {"complete": snap.complete, "verification": snap.verification}}
            if report.reconciliation is not None:
                assert report.reconciliation.evidence
                manifest["reconciliation"] = report.reconciliation.as_dict()
            reasons.append(attention_reasons(manifest))
            pit = snap.manifest["point_in_time"]
            assert pit["uncertain_customer_ids"] == [] and pit["reads_disagree_customer_ids"] == []
            lags.append(pit["listing_lag_ms"])
    finally:
        sim.stop_moving()
        sim.stop()
    assert max(lags) > 0  # the fetches saw events listed late, and measured it
    assert reasons == [[]] * RUNS
