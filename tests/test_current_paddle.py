"""Current Paddle: most credit comes from transactions since 11 March 2024, and the fetch gets all of it.

These tests fail on the old model (every credit an adjustment, default strategy ``credited``): there, a first
credit on a transaction was never fetched, and no sample checked the rule that skipped customers. Expected
figures come from the simulator's ledger (``expected_balances``, ``expected_movements``), never from the code
under test.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from clients import client_for

from credit_reports.app.cli import main
from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.simulator import REGIME_CHANGE, Account

COLUMNS = ["customer_id", "currency_code", "available", "reserved", "used"]
BALANCES_PATH = "/customers/{id}/credit-balances"


def records(df: pd.DataFrame) -> list[tuple]:
    return sorted((str(a), str(b), int(c), int(d), int(e)) for a, b, c, d, e in df[COLUMNS].itertuples(index=False))


def ledger(account: Account) -> list[tuple]:
    return sorted((r["customer_id"], r["currency_code"], r["available"], r["reserved"], r["used"])
                  for r in account.expected_balances())


def snap(client, data_dir, strategy="auto", **kwargs):
    return fetch_snapshot(client, data_dir=data_dir, strategy=strategy, progress=False, **kwargs)


def issued_by_regime(account: Account) -> Counter:
    """Credit issued before and since 11 March 2024, per currency, from the ledger's own movements."""
    split: Counter = Counter()
    for m in account.expected_movements():
        if m["kind"] == "issued":
            split[(m["occurred_at"] >= REGIME_CHANGE.isoformat()[:10], m["currency_code"])] += m["amount"]
    return split


def test_the_account_holds_both_regimes_and_most_credit_came_after_march_2024():
    account = Account(customers=2000, seed=7)
    split = issued_by_regime(account)
    for currency in ("USD", "EUR"):
        assert split[(True, currency)] > 4 * split[(False, currency)] > 0
    sources = Counter(m["source"] for m in account.expected_movements() if m["kind"] == "issued")
    assert sources["subscription_update"] > sources["subscription_recurring"] > 0 and sources["adjustment"] > 0
    kinds = Counter(m["kind"] for m in account.expected_movements())
    assert set(kinds) == {"issued", "reversed", "reserved", "released", "used"}
    # every movement names the transaction or adjustment, and the event, that prove it
    assert all(m["event_id"] and (m["transaction_id"] or m["adjustment_id"]) for m in account.expected_movements())
    statuses = Counter((a["action"], a["status"], a["credit_applied_to_balance"]) for a in account.adjustments.items)
    assert statuses[("credit", "reversed", True)] >= 1 and statuses[("credit_reverse", "approved", None)] >= 1
    assert statuses[("credit", "approved", False)] > 0  # seller credits on invoices
    holders = {r["customer_id"] for r in account.expected_balances()}
    buyers = {c["id"] for c in account.customers} - account.subscriber_ids()
    assert len(buyers) > 500 and not holders & buyers


def test_default_first_snapshot_is_exact_where_the_old_credited_rule_finds_a_fraction(make_sim, tmp_path):
    sim = make_sim(customers=300, seed=7)
    account = sim.account
    credited = {a["customer_id"] for a in account.adjustments.items if a["action"] == "credit"}
    holders = {r["customer_id"] for r in account.expected_balances()}
    assert len(holders - credited) > 2 * len(holders & credited), "most holders never had a credit adjustment"
    with client_for(sim) as c:
        first = snap(c, tmp_path)
        legacy = snap(c, tmp_path / "legacy", "legacy-adjustments")
    # the default first snapshot is the plan of fewer estimated calls (issue 27); either is exact
    assert first.manifest["strategy"] == first.manifest["plan"]["chosen"] and first.complete
    assert records(first.balances) == ledger(account)
    assert first.manifest["verification"]["found"] == 0 and not first.manifest["verification"]["fallback"]
    # the old rule, kept under its honest name, is caught by its own verification sample and falls back
    assert legacy.manifest["verification"]["found"] > 0 and legacy.manifest["verification"]["fallback"] is True
    assert records(legacy.balances) == ledger(account)


def test_incremental_catches_a_first_credit_on_a_transaction_credit_spent_and_a_reversal(make_sim, tmp_path):
    sim = make_sim(customers=300, seed=7)
    account = sim.account
    with client_for(sim) as c:
        first = snap(c, tmp_path)
        before = {r["customer_id"] for r in account.expected_balances()}
        moment = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(milliseconds=1)).to_pydatetime()  # start is exclusive
        changes = sim.advance(3, first_credits=3, spends=3, reservations=2, reversals=1, credits=2,
                              completions=2, cancellations=1, seller_credits=2, new_customers=4)
        moved = account.expected_movements(start=moment)
        sim.reset_stats()
        second = snap(c, tmp_path)
        refetched = sim.stats["by_path"].get(BALANCES_PATH, 0)
        fresh = snap(c, tmp_path / "fresh", "full")
    first_timers = {m["customer_id"] for m in moved if m["kind"] == "issued"} - before
    assert len(first_timers) >= 3 and not {a["customer_id"] for a in account.adjustments.items
                                           if a["customer_id"] in first_timers and a["action"] == "credit"}
    assert {"used", "reversed", "reserved"} <= {m["kind"] for m in moved}
    assert len(changes["reversed_adjustment_ids"]) == 1
    reversed_adj = next(a for a in account.adjustments.items if a["id"] in changes["reversed_adjustment_ids"])
    assert reversed_adj["status"] == "reversed"
    assert second.manifest["strategy"] == "incremental" and second.manifest["base_snapshot"] == first.name
    assert records(second.balances) == ledger(account) == records(fresh.balances)
    assert first_timers <= set(second.balances["customer_id"])
    assert second.manifest["verification"]["found"] == 0
    sellers = changes["seller_credit_customer_ids"]
    assert refetched == len(changes["changed_customer_ids"] | sellers) + second.manifest["verification"]["sample_size"]


def test_a_seller_credit_on_a_manual_invoice_changes_no_total(make_sim, tmp_path):
    sim = make_sim(customers=200, seed=5)
    account = sim.account
    with client_for(sim) as c:
        first = snap(c, tmp_path)
        before = account.expected_balances()
        moment = pd.Timestamp.now(tz="UTC").isoformat()[:19]
        changes = sim.advance(8, seller_credits=4)
        second = snap(c, tmp_path)
    assert account.expected_balances() == before and not changes["changed_customer_ids"]
    sellers = changes["seller_credit_customer_ids"]
    credits = [a for a in account.adjustments.items
               if a["customer_id"] in sellers and a["action"] == "credit" and a["created_at"] >= moment]
    assert len(credits) == 4 and all(a["credit_applied_to_balance"] is False for a in credits)
    invoices = {t["id"]: t for t in account.transactions.items}
    assert all(invoices[a["transaction_id"]]["collection_mode"] == "manual"
               and invoices[a["transaction_id"]]["status"] in ("billed", "past_due") for a in credits)
    totals = ["available", "reserved", "used"]
    assert second.balances.groupby("currency_code")[totals].sum().equals(
        first.balances.groupby("currency_code")[totals].sum())
    assert records(second.balances) == ledger(account)
    assert not set(second.balances["customer_id"]) & sellers


def test_a_skipped_customer_holding_credit_makes_the_fetch_fall_back_and_say_so(make_sim, tmp_path, caplog):
    sim = make_sim(customers=200, seed=4, unsubscribed_credits=30)
    account = sim.account
    planted = {r["customer_id"] for r in account.expected_balances()} - account.subscriber_ids()
    assert len(planted) == 30
    with client_for(sim) as c, caplog.at_level(logging.WARNING, logger="credit_reports.fetch"):
        unchecked = snap(c, tmp_path / "unchecked", verify_sample=0)
        off_warning = [r.getMessage() for r in caplog.records]
        caplog.clear()
        checked = snap(c, tmp_path / "checked")
    # without the check the snapshot misses the planted credit and only a warning says the check was off
    assert set(unchecked.balances["customer_id"]) & planted == set()
    assert len(off_warning) == 1 and "verification is off" in off_warning[0]
    verification = checked.manifest["verification"]
    skipped = len(account.customers) - verification["skipped"]
    assert skipped > 0 and verification["found"] > 0 and verification["fallback"] is True
    assert set(verification["found_customer_ids"]) <= planted
    assert records(checked.balances) == ledger(account)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "rule does not hold for this account" in warnings[0]
    assert checked.verification == verification


def test_incremental_catches_credit_planted_on_a_customer_who_never_subscribed(make_sim, tmp_path):
    sim = make_sim(customers=150, seed=6)
    with client_for(sim) as c:
        snap(c, tmp_path)
        changes = sim.advance(2, unsubscribed_credits=2)
        second = snap(c, tmp_path)
    assert len(changes["changed_customer_ids"]) == 2
    assert changes["changed_customer_ids"] <= set(second.balances["customer_id"])
    assert records(second.balances) == ledger(sim.account)


def test_a_key_without_notification_read_says_what_it_costs_and_still_fetches_exactly(make_sim, tmp_path, caplog):
    sim = make_sim(customers=120, seed=9)
    key = "pdl_sdbx_apikey_01noevents0000000000000000_LocalSimulatorOnlyNotASecret"
    sim.add_key(key, {"customer.read", "subscription.read", "adjustment.read", "transaction.read"})
    with client_for(sim, api_key=key) as c, caplog.at_level(logging.WARNING, logger="credit_reports.fetch"):
        first = snap(c, tmp_path)
        second = snap(c, tmp_path, "incremental")
    lines = [r.getMessage() for r in caplog.records if "notification.read" in r.getMessage()]
    assert lines and "incremental is not possible" in lines[0] and "\n" not in lines[0]
    assert first.manifest["events_readable"] is False
    assert second.manifest["strategy"] == second.manifest["plan"]["chosen"] != "incremental"
    assert records(second.balances) == ledger(sim.account)


def test_a_key_without_subscription_read_fetches_everyone_and_says_so(make_sim, tmp_path, caplog):
    sim = make_sim(customers=80, seed=10)
    key = "pdl_sdbx_apikey_01nosubs000000000000000000_LocalSimulatorOnlyNotASecret"
    sim.add_key(key, {"customer.read", "adjustment.read", "notification.read"})
    with client_for(sim, api_key=key) as c, caplog.at_level(logging.WARNING, logger="credit_reports.fetch"):
        result = snap(c, tmp_path)
    lines = [r.getMessage() for r in caplog.records if "subscription.read" in r.getMessage()]
    assert len(lines) == 1 and "every customer is fetched" in lines[0]
    assert result.manifest["verification"]["fallback"] is True
    assert result.manifest["counts"]["refetched"] == len(sim.account.customers)
    assert records(result.balances) == ledger(sim.account)


def test_cli_verify_sample_sets_the_share_and_a_bad_value_is_one_line_and_exit_2(make_sim, tmp_path, capsys,
                                                                                  monkeypatch):
    sim = make_sim(customers=150, seed=3)
    monkeypatch.setenv("PADDLE_API_KEY", sim.api_key)
    with pytest.raises(SystemExit) as bad:
        main(["fetch", "--base-url", sim.base_url, "--verify-sample", "150"])
    err = capsys.readouterr().err
    assert bad.value.code == 2 and len([line for line in err.splitlines() if line.strip()]) == 1
    assert "--verify-sample" in err and "percentage" in err
    code = main(["--quiet", "fetch", "--base-url", sim.base_url, "--data-dir", str(tmp_path), "--max-rpm", "100000",
                 "--verify-sample", "100"])
    folder = Path(capsys.readouterr().out.strip().splitlines()[-1])
    verification = json.loads((folder / "manifest.json").read_text())["verification"]
    assert code == 0 and verification["sample_size"] == verification["skipped"] > 50  # 100%: every skipped one
