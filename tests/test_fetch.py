"""Fetching into DataFrames against the simulator over real HTTP; expected values from its ledger."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
from clients import client_for

from credit_reports.core.errors import UsageError
from credit_reports.fetch.readers import (
    fetch_credit_balances,
    fetch_credited_customer_ids,
    fetch_customers,
    fetch_subscriptions,
)
from credit_reports.fetch.snapshot import fetch_snapshot

BALANCE_COLUMNS = ["customer_id", "currency_code", "available", "reserved", "used"]




def ledger(sim) -> pd.DataFrame:
    """The simulator's balances replayed from its ledger, as plain Python values."""
    return pd.DataFrame(sim.account.expected_balances(), columns=BALANCE_COLUMNS)


def as_records(df: pd.DataFrame) -> list[tuple]:
    """Rows as plain tuples of str/int, sorted: compares frames by value whatever their dtypes."""
    return sorted(
        (str(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in df[BALANCE_COLUMNS].itertuples(index=False)
    )


@pytest.fixture(scope="module")
def client(sim):
    with client_for(sim) as c:
        yield c


def test_fetch_customers_includes_archived_customers_by_default(client, sim):
    df = fetch_customers(client)
    expected = sim.account.customers
    assert sorted(df["customer_id"]) == sorted(c["id"] for c in expected)
    archived = sum(c["status"] == "archived" for c in expected)
    assert archived > 0
    assert (df["status"] == "archived").sum() == archived


def test_fetch_customers_lists_only_active_ones_when_asked(client, sim):
    df = fetch_customers(client, status="active")
    assert set(df["status"]) == {"active"}
    assert len(df) == sum(c["status"] == "active" for c in sim.account.customers)
    with pytest.raises(UsageError, match="active"):
        fetch_customers(client, status=("active", "deleted"))


def test_customer_columns_have_the_documented_dtypes_and_values(client, sim):
    df = fetch_customers(client)
    assert list(df.columns) == ["customer_id", "status", "created_at", "updated_at", "locale",
                                "marketing_consent", "custom_data", "email", "name"]
    dtypes = {c: str(t) for c, t in df.dtypes.items()}
    assert dtypes == {
        "customer_id": "string", "status": "string", "created_at": "datetime64[us, UTC]",
        "updated_at": "datetime64[us, UTC]", "locale": "string", "marketing_consent": "bool",
        "custom_data": "string", "email": "string", "name": "string",
    }
    source = next(c for c in sim.account.customers if c["custom_data"])
    row = df.set_index("customer_id").loc[source["id"]]
    assert json.loads(row["custom_data"]) == source["custom_data"]
    assert row["created_at"] == pd.Timestamp(source["created_at"])
    assert row["email"] == source["email"] and bool(row["marketing_consent"]) == source["marketing_consent"]
    without = next(c for c in sim.account.customers if c["custom_data"] is None)
    assert pd.isna(df.set_index("customer_id").loc[without["id"], "custom_data"])


def test_balances_of_every_customer_equal_the_ledger_with_no_rows_for_customers_without_credit(client, sim):
    df = fetch_credit_balances(client)  # None: every customer, archived included
    assert list(df.columns) == BALANCE_COLUMNS
    assert [str(t) for t in df.dtypes] == ["string", "string", "int64", "int64", "int64"]
    assert as_records(df) == as_records(ledger(sim))
    assert df["customer_id"].nunique() < len(sim.account.customers)  # most customers hold no credit
    assert df.attrs["failed_customer_ids"] == []


def test_balances_for_named_customers_only(client, sim):
    expected = ledger(sim)
    some = sorted(set(expected["customer_id"]))[:3]
    df = fetch_credit_balances(client, some, workers=2)
    assert as_records(df) == as_records(expected[expected["customer_id"].isin(some)])


def test_failed_customers_are_listed_in_attrs_and_logged_never_silently_dropped(make_sim, caplog):
    sim = make_sim(customers=40, seed=5)
    expected = ledger(sim)
    holders = sorted(set(expected["customer_id"]))
    sim.fail_customer(holders[0], status=500)
    with client_for(sim) as c, caplog.at_level(logging.WARNING, logger="credit_reports.fetch"):
        df = fetch_credit_balances(c, holders)
    assert df.attrs["failed_customer_ids"] == [holders[0]]
    assert holders[0] in caplog.text
    assert as_records(df) == as_records(expected[expected["customer_id"] != holders[0]])


def test_subscriptions_give_one_row_per_item(client, sim):
    df = fetch_subscriptions(client)
    subs = sim.account.subscriptions.items
    assert len(df) == sum(len(s["items"]) for s in subs) > 0
    assert {c: str(t) for c, t in df.dtypes.items()} == {
        "subscription_id": "string", "customer_id": "string", "status": "string", "currency_code": "string",
        "billing_interval": "string", "billing_frequency": "Int64", "price_id": "string",
        "product_id": "string", "created_at": "datetime64[us, UTC]",
    }
    sub = subs[0]
    rows = df[df["subscription_id"] == sub["id"]]
    assert set(rows["price_id"]) == {i["price"]["id"] for i in sub["items"]}
    assert set(rows["customer_id"]) == {sub["customer_id"]}
    assert rows["billing_interval"].iloc[0] == sub["billing_cycle"]["interval"]


def test_credited_customer_ids_are_the_customers_with_credit_adjustments_not_every_holder(client, sim):
    expected = {a["customer_id"] for a in sim.account.adjustments.items if a["action"] == "credit"}
    assert fetch_credited_customer_ids(client) == expected
    holders = set(ledger(sim)["customer_id"])
    # since 11 March 2024 credit comes from transactions: most holders never had a credit adjustment
    assert len(holders - expected) > len(holders) / 2
    assert holders <= sim.account.subscriber_ids()


def test_snapshot_folder_has_the_documented_files_columns_dtypes_and_manifest(client, sim, tmp_path, caplog):
    with caplog.at_level(logging.DEBUG):
        snap = fetch_snapshot(client, data_dir=tmp_path, strategy="subscribers", progress=False)
    assert snap.path.parent == tmp_path / "snapshots" / "local"
    assert sorted(p.name for p in snap.path.iterdir()) == [
        "adjustments.parquet", "balances.parquet", "customers.parquet", "manifest.json",
        "point_in_time_reads.json", "subscriptions.parquet"]
    # the first fetch keeps the credit adjustments it listed (not only their customers): the simulator's own
    kept = pd.read_parquet(snap.path / "adjustments.parquet")
    served = [a for a in sim.account.adjustments.items if a["action"] == "credit"]
    assert sorted(zip(kept["id"], kept["total"].astype(int), strict=True)) == sorted(
        (a["id"], int(a["totals"]["total"])) for a in served)
    balances = pd.read_parquet(snap.path / "balances.parquet")
    assert list(balances.columns) == BALANCE_COLUMNS
    assert [str(t) for t in balances.dtypes[2:]] == ["int64", "int64", "int64"]
    customers = pd.read_parquet(snap.path / "customers.parquet")
    assert str(customers["created_at"].dtype) == "datetime64[us, UTC]"
    assert len(customers) == len(sim.account.customers)
    manifest = json.loads((snap.path / "manifest.json").read_text())
    for key in ("as_of", "environment", "base_url", "strategy", "complete", "counts", "api_calls", "retries",
                "rate_limited", "failures", "failed_customer_ids", "seconds", "toolkit_version",
                "events_high_water", "previous_snapshot", "resumed", "verification"):
        assert key in manifest, key
    for key in ("customers", "credited_customers", "balance_rows", "refetched", "carried_over"):
        assert key in manifest["counts"], key
    assert manifest["environment"] == "local" and manifest["base_url"] == sim.base_url
    assert manifest["complete"] is True and manifest["strategy"] == "subscribers"
    assert manifest["verification"]["rule"] == "subscribers" and manifest["verification"]["found"] == 0
    assert manifest["counts"]["balance_rows"] == len(ledger(sim))
    assert manifest["api_calls"] >= manifest["counts"]["refetched"] > 0
    assert pd.Timestamp(manifest["as_of"]) == snap.as_of
    # the key is in no file written and no log line
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert sim.api_key.encode() not in path.read_bytes(), path
    assert sim.api_key not in caplog.text


def test_unknown_strategy_or_bad_workers_is_a_usage_error(client, tmp_path):
    with pytest.raises(UsageError, match="unknown strategy 'fastest'"):
        fetch_snapshot(client, data_dir=tmp_path, strategy="fastest", progress=False)
    with pytest.raises(UsageError, match="workers"):
        fetch_snapshot(client, data_dir=tmp_path, workers=0, progress=False)
    assert not (tmp_path / "snapshots").exists()


def test_fetch_snapshot_without_a_client_or_key_names_the_variable(tmp_path):
    with pytest.raises(UsageError, match="PADDLE_API_KEY"):
        fetch_snapshot(data_dir=tmp_path, progress=False)


def test_progress_bars_show_customers_listed_and_balances_fetched(make_sim, tmp_path, capsys, monkeypatch):
    from credit_reports.fetch import progress

    monkeypatch.setattr(progress.board(), "mode", "bar")  # bars as on a terminal (captured stderr is none)
    sim = make_sim(customers=30, seed=2)
    with client_for(sim) as c:
        fetch_snapshot(c, data_dir=tmp_path, strategy="full", progress=True)
    err = capsys.readouterr().err
    assert "customers listed" in err and "balances fetched" in err and "30/30" in err


def test_listings_converted_in_small_chunks_give_every_row_with_its_values_and_dtypes(client, sim, monkeypatch):
    monkeypatch.setattr("credit_reports.fetch.readers.CHUNK_ROWS", 7)  # many chunk boundaries, a partial last one
    customers = fetch_customers(client)
    expected = sorted(sim.account.customers, key=lambda c: c["id"])
    assert len(expected) % 7 and len(expected) > 14
    assert customers["customer_id"].tolist() == [c["id"] for c in expected]
    assert customers["email"].tolist() == [c["email"] for c in expected]
    assert customers["created_at"].tolist() == [pd.Timestamp(c["created_at"]) for c in expected]
    assert customers["marketing_consent"].tolist() == [bool(c["marketing_consent"]) for c in expected]
    assert str(customers["created_at"].dtype) == "datetime64[us, UTC]"
    assert str(customers["customer_id"].dtype) == "string"
    subs = fetch_subscriptions(client)
    items = sorted((s["id"], i["price"]["id"]) for s in sim.account.subscriptions.items for i in s["items"])
    assert list(zip(subs["subscription_id"], subs["price_id"], strict=True)) == items
    assert str(subs["billing_frequency"].dtype) == "Int64"
