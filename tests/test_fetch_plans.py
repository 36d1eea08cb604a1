"""The first snapshot chosen by cost and the incremental's rotating sample (issue 27), over real HTTP.

Accounts of two ages: as generated (about one subscription transaction a subscriber: listing the transactions
that can create credit is cheap) and aged by 30 plain renewals a subscription (``simulator.ages``: reading
every subscriber is cheaper). Expected balances are the simulator's ledger at the as-of; expected counts come
from the simulator's own entities and request statistics.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from clients import client_for

from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.simulator import CURRENT_PADDLE, Simulator
from credit_reports.simulator.ages import add_renewals

COLUMNS = ["customer_id", "currency_code", "available", "reserved", "used"]
BALANCES = "/customers/{id}/credit-balances"
T0 = datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC)
ORIGINS = ("subscription_update", "subscription_recurring")


def records(frame: pd.DataFrame) -> list[tuple]:
    return sorted((str(a), str(b), int(c), int(d), int(e)) for a, b, c, d, e in frame[COLUMNS].itertuples(index=False))


def nonzero(rows: list[tuple]) -> list[tuple]:
    """The rows that hold an amount (a point-in-time correction leaves out a row it takes back to zero)."""
    return [row for row in rows if any(row[2:])]


def ledger_at(sim: Simulator, at: datetime) -> list[tuple]:
    return records(pd.DataFrame(sim.account.expected_balances(at), columns=COLUMNS))


def snapshot_at(sim: Simulator, data_dir: Path, at: datetime, strategy: str = "auto", **kwargs: Any) -> Any:
    sim.set_time(at)
    sim.reset_stats()
    with client_for(sim) as client:
        return fetch_snapshot(client, data_dir=data_dir, strategy=strategy, progress=False, as_of=at, **kwargs)


def account_sim(customers: int, seed: int, renewals: int = 0, **kwargs: Any) -> Simulator:
    sim = Simulator(customers=customers, seed=seed, anchor=T0 - timedelta(days=1), **CURRENT_PADDLE, **kwargs)
    add_renewals(sim.account, renewals)
    return sim.start()


def credited_customers(sim: Simulator) -> set[str]:
    """Customers named on a credit-creating transaction or a balance credit adjustment, from the entities."""
    account = sim.account
    on_transactions = {t["customer_id"] for t in account.transactions.items
                       if t["origin"] in ORIGINS and int(t["details"]["totals"]["credit_to_balance"]) > 0}
    adjusted = {a["customer_id"] for a in account.adjustments.items
                if a["action"] == "credit" and a["credit_applied_to_balance"] is not False}
    return on_transactions | adjusted


def test_a_young_account_is_read_from_its_credit_transactions_exactly_with_fewer_calls(tmp_path: Path) -> None:
    sim = account_sim(600, seed=7)
    try:
        chosen = snapshot_at(sim, tmp_path / "auto", T0)
        chosen_stats = sim.stats
        forced = snapshot_at(sim, tmp_path / "subscribers", T0, "subscribers")
        forced_calls = sim.stats["requests"]
    finally:
        sim.stop()
    account = sim.account
    plan = chosen.manifest["plan"]
    assert chosen.manifest["strategy"] == plan["chosen"] == "credit-transactions" and plan["forced"] is False
    assert records(chosen.balances) == records(forced.balances) == ledger_at(sim, T0)
    transactions = sum(1 for t in account.transactions.items if t["origin"] in ORIGINS)
    assert plan["estimated_totals"] == {
        "customers": 600, "subscriptions": len(account.subscriptions),
        "credit_adjustments": sum(1 for a in account.adjustments.items if a["action"] == "credit"),
        "credit_transactions": transactions,
        "update_transactions": sum(1 for t in account.transactions.items if t["origin"] == "subscription_update"),
        "credit_transactions_exact": True,
    }
    assert plan["estimated_calls"]["credit-transactions"] < plan["estimated_calls"]["subscribers"]
    assert "credit-transactions" in plan["reason"] or "subscribers" in plan["reason"]
    named = credited_customers(sim)
    verification = chosen.manifest["verification"]
    assert verification["rule"] == "credit-transactions" and verification["found"] == 0
    assert chosen_stats["by_path"][BALANCES] == len(named) + verification["sample_size"]
    assert chosen_stats["by_path"]["/transactions"] == math.ceil(transactions / 30) + 2  # + the two estimates
    assert chosen_stats["requests"] < forced_calls
    assert forced.manifest["plan"] == {"chosen": "subscribers", "forced": True, "reason": "--strategy subscribers",
                                       "estimated_calls": None, "estimated_totals": None}


def test_an_old_account_is_read_by_subscribers_and_forcing_the_listing_costs_more(tmp_path: Path) -> None:
    sim = account_sim(600, seed=7, renewals=30)
    try:
        chosen = snapshot_at(sim, tmp_path / "auto", T0)
        chosen_calls = sim.stats["requests"]
        forced = snapshot_at(sim, tmp_path / "listing", T0, "credit-transactions")
        forced_stats = sim.stats
    finally:
        sim.stop()
    plan = chosen.manifest["plan"]
    assert chosen.manifest["strategy"] == plan["chosen"] == "subscribers"
    assert plan["estimated_calls"]["subscribers"] < plan["estimated_calls"]["credit-transactions"]
    assert records(chosen.balances) == records(forced.balances) == ledger_at(sim, T0)
    transactions = sum(1 for t in sim.account.transactions.items if t["origin"] in ORIGINS)
    assert transactions > 30 * len(sim.account.subscriptions)
    assert forced_stats["by_path"]["/transactions"] == math.ceil(transactions / 30)
    assert forced.manifest["candidate_sources"]["transaction_pages"] == math.ceil(transactions / 30)
    assert forced_stats["requests"] > chosen_calls


def test_the_listing_plan_holds_transfers_renewal_only_and_legacy_credit_without_a_sample(tmp_path: Path) -> None:
    """Seed 2's account holds a customer credited only on a renewal whose subscription then moved away (the
    shape that broke candidates before), customers a subscription moved away from, and legacy adjustment
    credit. With no verification sample at all the listing plan holds every one, equal to the ledger."""
    sim = account_sim(400, seed=2)
    try:
        snap = snapshot_at(sim, tmp_path, T0, "credit-transactions", verify_sample=0)
    finally:
        sim.stop()
    account = sim.account
    holders = {r["customer_id"] for r in account.expected_balances(T0)}
    updates = {t["customer_id"] for t in account.transactions.items if t["origin"] == "subscription_update"}
    legacy = {a["customer_id"] for a in account.adjustments.items if a["action"] == "credit"}
    former = set(account.former_subscriber_ids()) & holders
    renewal_only = former - updates - legacy - account.subscriber_ids()
    assert len(renewal_only) == 1 and former and legacy & holders
    fetched = set(snap.balances["customer_id"])
    assert renewal_only | former | (legacy & holders) <= fetched
    assert records(snap.balances) == ledger_at(sim, T0)
    assert snap.manifest["verification"]["sample_size"] == 0


def test_the_listing_plan_falls_back_loudly_when_a_customer_it_never_names_holds_credit(
        tmp_path: Path, caplog: Any) -> None:
    sim = account_sim(300, seed=5, unsubscribed_credits=60)  # credit on `api` transactions: against the rule
    try:
        with caplog.at_level(logging.WARNING, logger="credit_reports.fetch"):
            snap = snapshot_at(sim, tmp_path, T0, "credit-transactions")
    finally:
        sim.stop()
    verification = snap.manifest["verification"]
    assert verification["found"] > 0 and verification["fallback"] is True
    assert any("rule does not hold" in r.message for r in caplog.records)
    assert records(snap.balances) == ledger_at(sim, T0)


def test_the_incremental_sample_rotates_so_a_skipped_customer_is_checked_within_the_stated_runs(
        tmp_path: Path, caplog: Any) -> None:
    """A balance that moves with no event (``move_balance_silently``) on a customer the events never name breaks
    the incremental's skip rule: the rotation reaches that customer within ``runs_per_cycle`` runs, and that
    run falls back loudly to every skipped customer. Each run before it reads only its slice."""
    sim = account_sim(200, seed=3)
    try:
        first = snapshot_at(sim, tmp_path, T0)
        assert "rotation" not in first.manifest["verification"]  # the first snapshot's sample as before
        quiet = sorted(set(first.customers["customer_id"]) - set(first.balances["customer_id"]))
        planted = quiet[len(quiet) // 2]
        sim.account.move_balance_silently(planted, "USD", 700)
        runs: list[dict[str, Any]] = []
        stated = None
        for day in range(1, 40):
            with caplog.at_level(logging.WARNING, logger="credit_reports.fetch"):
                snap = snapshot_at(sim, tmp_path, T0 + timedelta(days=day))
            verification = snap.manifest["verification"]
            runs.append({"reads": sim.stats["by_path"].get(BALANCES, 0), **verification})
            stated = stated or verification["rotation"]["runs_per_cycle"]
            if verification["fallback"]:
                break
    finally:
        sim.stop()
    assert snap.manifest["strategy"] == "incremental"
    assert runs[-1]["found_customer_ids"] == [planted]
    assert len(runs) <= stated == math.ceil(200 / 20)  # nobody changed: all 200 skipped, 20 a run
    assert all(r["reads"] == r["sample_size"] == 20 and not r["fallback"] for r in runs[:-1])
    cursors = [r["rotation"]["cursor"] for r in runs]
    assert len(set(cursors)) == len(cursors)  # every run went on from where the previous one stopped
    assert any("rule does not hold" in r.message for r in caplog.records)
    assert records(snap.balances) == sorted(ledger_at(sim, T0) + [(planted, "USD", 700, 0, 0)])


def test_a_cost_chosen_fetch_that_failed_resumes_on_the_same_plan_without_reading_anyone_twice(
        tmp_path: Path) -> None:
    from credit_reports.core.errors import ServerError

    sim = account_sim(400, seed=7)
    try:
        sim.set_time(T0)
        # the first /adjustments call (the estimate) is answered; the listing's, after the credit transactions
        # were listed and their customers read, fails past the client's retries
        sim.before_answer("/adjustments", lambda s: s.inject("503", count=2, path="/adjustments"))
        with client_for(sim) as client, pytest.raises(ServerError):
            fetch_snapshot(client, data_dir=tmp_path, progress=False, as_of=T0)
        first_reads = sim.stats["by_path"].get(BALANCES, 0)
        journaled = {json.loads(line)["id"] for path in tmp_path.glob("snapshots/local/.partial-*/checkpoint/"
                                                                       "balances.jsonl")
                     for line in path.read_text().splitlines() if '"rows"' in line}
        snap = snapshot_at(sim, tmp_path, T0)
        resumed_stats = sim.stats
    finally:
        sim.stop()
    assert snap.manifest["resumed"] is True and snap.manifest["strategy"] == "credit-transactions"
    assert snap.manifest["plan"]["chosen"] == "credit-transactions" and snap.manifest["plan"]["estimated_calls"]
    assert 0 < len(journaled) <= first_reads  # reads still in flight when it failed were not journaled
    named = credited_customers(sim)
    assert journaled <= named  # the credited customers are read first, the sample after the listing
    assert resumed_stats["by_path"][BALANCES] == len(named - journaled) + snap.manifest["verification"]["sample_size"]
    assert records(snap.balances) == ledger_at(sim, T0)


@pytest.mark.slow
def test_past_paddles_count_of_100000_the_transactions_are_counted_by_date_ranges_and_the_choice_stays_exact(
        tmp_path: Path) -> None:
    """Paddle's estimated_total reads 100,001 past 100,000: the plan counts the credit-creating transactions by
    halving their creation dates instead, so an account that old is costed, not guessed."""
    sim = account_sim(300, seed=7, renewals=520)
    try:
        snap = snapshot_at(sim, tmp_path, T0)
        transaction_calls = sim.stats["by_path"]["/transactions"]
    finally:
        sim.stop()
    transactions = sum(1 for t in sim.account.transactions.items if t["origin"] in ORIGINS)
    assert transactions > 100_000
    plan = snap.manifest["plan"]
    assert plan["estimated_totals"]["credit_transactions"] == transactions
    assert plan["estimated_totals"]["credit_transactions_exact"] is True
    assert plan["chosen"] == snap.manifest["strategy"] == "subscribers"
    assert 4 <= transaction_calls <= 2 + 48 + math.ceil(300 / 50)  # the estimates, the halvings, the former check
    assert records(snap.balances) == ledger_at(sim, T0)


@pytest.mark.slow
def test_the_listing_plan_and_the_rotating_incremental_of_an_account_moving_while_read_equal_the_ledger_at_the_as_of(
        tmp_path: Path) -> None:
    """Live fetches (as-of: now) while the simulator moves on every 40 ms in every way credit moves (transfers
    and renewals included): the listing plan's first snapshot and the incremental on it each equal the ledger
    at their own as-of, and neither sample takes credit that arrived after the as-of for a broken rule."""
    sim = Simulator(customers=300, seed=23, latency_ms=1, **CURRENT_PADDLE).start()
    try:
        with client_for(sim) as client:
            sim.start_moving(0.04)
            first = fetch_snapshot(client, data_dir=tmp_path, strategy="credit-transactions", progress=False,
                                   workers=4)
            moves = len(sim.moves)
            second = fetch_snapshot(client, data_dir=tmp_path, progress=False, workers=4)
            sim.stop_moving()
    finally:
        sim.stop()
    assert moves >= 5 and len(sim.moves) > moves  # the account moved during both fetches
    assert first.manifest["strategy"] == "credit-transactions" and second.manifest["strategy"] == "incremental"
    # rows left all zero are compared apart from the rest: a read taken after the as-of and corrected back to
    # nothing drops its row (docs/credit-rules.md, the point-in-time correction), as tests/ledger.py does
    assert nonzero(records(first.balances)) == nonzero(ledger_at(sim, first.as_of.to_pydatetime()))
    assert nonzero(records(second.balances)) == nonzero(ledger_at(sim, second.as_of.to_pydatetime()))
    assert first.manifest["verification"]["found"] == 0 and second.manifest["verification"]["found"] == 0
    assert second.manifest["verification"]["rotation"]["size"] == 20


def test_the_cli_forces_the_listing_plan_and_auto_says_which_and_why_in_one_line(
        tmp_path: Path, capsys: Any, caplog: Any, monkeypatch: Any) -> None:
    from credit_reports.app.cli import main

    sim = account_sim(200, seed=7)
    monkeypatch.setenv("PADDLE_API_KEY", sim.api_key)
    try:
        folders = {}
        for strategy in ("credit-transactions",):  # subscribers is forced through the API above
            code = main(["--quiet", "fetch", "--base-url", sim.base_url, "--data-dir", str(tmp_path / strategy),
                         "--max-rpm", "100000", "--strategy", strategy])
            assert code == 0
            folders[strategy] = Path(capsys.readouterr().out.strip().splitlines()[-1])
        with caplog.at_level(logging.INFO, logger="credit_reports.fetch"):
            code = main(["--quiet", "fetch", "--base-url", sim.base_url, "--data-dir", str(tmp_path / "auto"),
                         "--max-rpm", "100000"])
        auto = Path(capsys.readouterr().out.strip().splitlines()[-1])
    finally:
        sim.stop()
    for strategy, folder in folders.items():
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["strategy"] == strategy and manifest["plan"]["forced"] is True
    manifest = json.loads((auto / "manifest.json").read_text())
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("first snapshot plan ")]
    estimates = manifest["plan"]["estimated_calls"]
    assert code == 0 and len(lines) == 1 and "\n" not in lines[0]
    assert lines[0].startswith(f"first snapshot plan {manifest['strategy']}: about "
                               f"{min(estimates.values()):,} calls against {max(estimates.values()):,}")
