"""Fewest calls: full vs subscribers vs incremental vs auto, partial failure and completing it, the limit.

Every test runs against a private simulator over real HTTP; expected balances are the simulator's ledger
replayed (``expected_balances``), and call counts come from the simulator's own request statistics.
"""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from clients import client_for

from credit_reports.fetch.snapshot import fetch_snapshot

BALANCES_PATH = "/customers/{id}/credit-balances"
COLUMNS = ["customer_id", "currency_code", "available", "reserved", "used"]




def records(df: pd.DataFrame) -> list[tuple]:
    return sorted((str(a), str(b), int(c), int(d), int(e)) for a, b, c, d, e in df[COLUMNS].itertuples(index=False))


def ledger(sim) -> list[tuple]:
    return records(pd.DataFrame(sim.account.expected_balances(), columns=COLUMNS))


def balance_calls(sim) -> int:
    return sim.stats["by_path"].get(BALANCES_PATH, 0)


def snap(client, data_dir, strategy="auto", **kwargs):
    return fetch_snapshot(client, data_dir=data_dir, strategy=strategy, progress=False, **kwargs)


def test_full_and_subscribers_give_identical_balances_equal_to_the_ledger_with_fewer_calls(make_sim, tmp_path):
    sim = make_sim(customers=200, seed=4)
    with client_for(sim) as c:
        full = snap(c, tmp_path, "full")
        full_calls = balance_calls(sim)
        sim.reset_stats()
        subscribers = snap(c, tmp_path, "subscribers")
        subscribers_calls = balance_calls(sim)
    assert records(full.balances) == records(subscribers.balances) == ledger(sim)
    assert full.balances.equals(subscribers.balances)
    assert full_calls == len(sim.account.customers) == 200
    credit_customers = {a["customer_id"] for a in sim.account.adjustments.items if a["action"] == "credit"}
    candidates = sim.account.subscriber_ids() | credit_customers
    skipped = 200 - len(candidates)
    verification = subscribers.manifest["verification"]
    assert verification == {"rule": "subscribers", "skipped": skipped, "sample_size": min(50, skipped), "found": 0,
                            "found_customer_ids": [], "fallback": False, "unavailable": None}
    assert subscribers_calls == len(candidates) + min(50, skipped) < full_calls
    assert subscribers.manifest["counts"]["refetched"] == subscribers_calls
    assert subscribers.manifest["counts"]["candidates"] == len(candidates)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_after_random_changes_equals_a_fresh_full_and_refetches_only_changed_customers(
    make_sim, tmp_path, seed
):
    sim = make_sim(customers=150, seed=seed)
    with client_for(sim) as c:
        first = snap(c, tmp_path, "subscribers")
        changes = sim.advance(seed, credits=6, reservations=5, completions=4, cancellations=3, new_customers=5,
                              first_credits=2, spends=3)
        sim.reset_stats()
        incremental = snap(c, tmp_path, "auto")
        refetched = balance_calls(sim)
        paths = set(sim.stats["by_path"])
        fresh = snap(c, tmp_path / "fresh", "full")
    assert incremental.manifest["strategy"] == "incremental"
    assert incremental.manifest["base_snapshot"] == first.name
    assert records(incremental.balances) == records(fresh.balances) == ledger(sim)
    assert incremental.balances.equals(fresh.balances)
    assert incremental.customers.equals(fresh.customers)  # new customers picked up, archived kept
    assert incremental.subscriptions.equals(fresh.subscriptions)
    assert set(changes["new_customer_ids"]) <= set(incremental.customers["customer_id"])
    verification = incremental.manifest["verification"]
    assert verification["rule"] == "incremental" and verification["found"] == 0 and not verification["fallback"]
    # plus any point-in-time second read (a customer moved within the slack of its read: read again)
    assert refetched == len(changes["changed_customer_ids"]) + verification["sample_size"] \
        + incremental.manifest["point_in_time"]["second_reads"]
    assert refetched == incremental.manifest["counts"]["refetched"]
    # customers and subscriptions came from the events too; /adjustments?transaction_id= asks once for the
    # seller credits of the invoices billed before the window and settled in it (R1); GET / reads Paddle's clock;
    # one /customers call (the oldest customer, per_page 1) names the account the key reads (one account a chain)
    assert paths == {"/", "/events", BALANCES_PATH, "/adjustments", "/customers"}
    assert sim.stats["by_path"]["/adjustments"] == 1


def test_incremental_with_no_changes_fetches_no_balances(make_sim, tmp_path):
    sim = make_sim(customers=80, seed=9)
    with client_for(sim) as c:
        first = snap(c, tmp_path, "subscribers")
        sim.reset_stats()
        second = snap(c, tmp_path, "incremental")
    sample = second.manifest["verification"]["sample_size"]
    # the incremental checks a rotating slice: 20 a run at this size (80 skipped, swept in 4 runs)
    assert sample == min(20, len(first.customers)) and second.manifest["verification"]["found"] == 0
    assert second.manifest["verification"]["rotation"]["runs_per_cycle"] == 4
    assert balance_calls(sim) == sample == second.manifest["counts"]["refetched"]
    assert second.balances.equals(first.balances)
    assert second.manifest["events_high_water"] == first.manifest["events_high_water"]


def _age_snapshot(snapshot, days: float) -> None:
    """Make a stored snapshot look ``days`` old: manifest as_of and folder name moved back."""
    old = snapshot.as_of - pd.Timedelta(days=days)
    manifest = dict(snapshot.manifest, as_of=old.strftime("%Y-%m-%dT%H:%M:%SZ"))
    (snapshot.path / "manifest.json").write_text(json.dumps(manifest))
    os.rename(snapshot.path, snapshot.path.with_name(old.strftime("%Y%m%dT%H%M%SZ")))


def test_auto_is_subscribers_first_then_incremental_and_subscribers_again_after_90_days(make_sim, tmp_path):
    sim = make_sim(customers=60, seed=6)
    with client_for(sim) as c:
        first = snap(c, tmp_path)
        second = snap(c, tmp_path)
        _age_snapshot(first, 100)
        _age_snapshot(second, 91)
        third = snap(c, tmp_path)
    assert first.manifest["strategy"] == "subscribers"
    assert first.manifest["fallback_reason"] == "no earlier snapshot of this environment"
    assert second.manifest["strategy"] == "incremental"
    assert third.manifest["strategy"] == "subscribers"
    assert "older than 90 days" in third.manifest["fallback_reason"]
    assert records(third.balances) == ledger(sim)


def test_incremental_asked_for_without_an_earlier_snapshot_falls_back_to_subscribers(make_sim, tmp_path):
    sim = make_sim(customers=40, seed=8)
    with client_for(sim) as c:
        first = snap(c, tmp_path, "incremental")
    assert first.manifest["requested_strategy"] == "incremental"
    assert first.manifest["strategy"] == "subscribers"
    assert records(first.balances) == ledger(sim)


def test_partial_failure_is_published_incomplete_and_the_next_fetch_completes_it(make_sim, tmp_path):
    sim = make_sim(customers=120, seed=12)
    holders = sorted({row[0] for row in ledger(sim)})
    never_fetched = holders[0]
    with client_for(sim) as c:
        sim.fail_customer(never_fetched)
        first = snap(c, tmp_path, "subscribers")
        assert first.complete is False
        assert first.manifest["complete"] is False
        assert first.manifest["failed_customer_ids"] == [never_fetched]
        assert first.manifest["failed_carried_over_ids"] == []  # nothing earlier to carry over: left out
        assert never_fetched not in set(first.balances["customer_id"])
        assert records(first.balances) == [r for r in ledger(sim) if r[0] != never_fetched]
        assert first.manifest["failures"] >= 1

        sim.clear_faults()
        sim.reset_stats()
        second = snap(c, tmp_path, "auto")  # incremental: nothing changed, but last time's failure re-fetched
        assert second.manifest["strategy"] == "incremental"
        assert second.complete is True and second.manifest["failed_customer_ids"] == []
        assert records(second.balances) == ledger(sim)
        assert balance_calls(sim) == 1 + second.manifest["verification"]["sample_size"]

        sim.fail_customer(holders[2])
        third = snap(c, tmp_path, "subscribers")  # a failure with earlier rows: carried over and flagged
        assert third.manifest["failed_customer_ids"] == [holders[2]]
        assert third.manifest["failed_carried_over_ids"] == [holders[2]]
        assert records(third.balances) == ledger(sim)
        sim.clear_faults()

        sim.reset_stats()
        fourth = snap(c, tmp_path, "auto")
    assert fourth.complete is True and fourth.manifest["failed_customer_ids"] == []
    assert records(fourth.balances) == ledger(sim)
    # only the customer that failed last time, and the verification sample
    assert balance_calls(sim) == 1 + fourth.manifest["verification"]["sample_size"]


def test_parallel_workers_never_exceed_the_rate_limit(make_sim, tmp_path):
    sim = make_sim(customers=100, seed=13, rpm=40, window_seconds=1.0, block_seconds=5.0)
    with client_for(sim, max_rpm=40, rate_window=1.0) as c:
        result = snap(c, tmp_path, "subscribers", workers=4)
    assert sim.stats["rate_limited"] == 0 and result.manifest["rate_limited"] == 0
    assert sim.stats["max_in_window"] <= 40
    assert records(result.balances) == ledger(sim)
