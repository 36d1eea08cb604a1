"""The snapshot store: folder layout, atomic publish, dtypes through Parquet, list/load/history/prune.

These tests write snapshots through the store's own writer with tables built by hand, so every expected
value is written in the test; fetching from the simulator is covered in test_fetch.py.
"""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from credit_reports.core.errors import UsageError
from credit_reports.store.reader import (
    default_data_dir,
    list_snapshots,
    load_history,
    load_snapshot,
    prune_snapshots,
)
from credit_reports.store.writer import BalanceJournal, SnapshotWriter

BIG = 2**53 + 1  # not representable as a float64: proves amounts never pass through floats


def _balances(rows: list[tuple[str, str, int, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "currency_code", "available", "reserved", "used"])


def _customers(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ids,
            "status": ["active"] * len(ids),
            "created_at": ["2025-01-02T03:04:05.123Z"] * len(ids),
            "updated_at": ["2025-02-02T03:04:05Z"] * len(ids),
            "locale": ["en"] * len(ids),
            "marketing_consent": [True] * len(ids),
            "custom_data": ['{"plan":"pro"}'] * len(ids),
            "email": [f"{i}@example.com" for i in ids],
            "name": [None] * len(ids),
        }
    )


def _publish(data_dir, as_of: str, rows, *, environment="sandbox", complete=True):
    """Publish one snapshot with the given balance rows through the store's writer."""
    with SnapshotWriter.open(data_dir, environment, now=pd.Timestamp(as_of, tz="UTC")) as writer:
        ids = sorted({r[0] for r in rows}) or ["ctm_a"]
        return writer.publish(
            balances=_balances(rows),
            customers=_customers(ids),
            subscriptions=pd.DataFrame(),
            manifest={
                "as_of": pd.Timestamp(as_of, tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
                "environment": environment,
                "strategy": "credited",
                "complete": complete,
                "counts": {"customers": len(ids), "balance_rows": len(rows)},
                "failed_customer_ids": [] if complete else ["ctm_failed"],
            },
        )


def test_published_folder_has_the_documented_name_and_files_and_no_working_folder(tmp_path):
    snap = _publish(tmp_path, "2026-11-26T06:15:00", [("ctm_a", "USD", 100, 0, 5)])
    assert snap.path == tmp_path / "snapshots" / "sandbox" / "20261126T061500Z"
    assert sorted(p.name for p in snap.path.iterdir()) == [
        "balances.parquet", "customers.parquet", "manifest.json", "subscriptions.parquet"]
    assert [p.name for p in (tmp_path / "snapshots" / "sandbox").iterdir() if p.name.startswith(".partial")] == []
    assert snap.as_of == pd.Timestamp("2026-11-26T06:15:00Z")


def test_dtypes_and_exact_amounts_survive_the_parquet_round_trip(tmp_path):
    _publish(tmp_path, "2026-11-26T06:15:00", [("ctm_a", "USD", BIG, 7, -3), ("ctm_a", "JPY", 100, 0, 0)])
    snap = load_snapshot(data_dir=tmp_path)
    bal = snap.balances
    assert [str(t) for t in bal.dtypes] == ["string", "string", "int64", "int64", "int64"]
    assert bal.set_index("currency_code").loc["USD", "available"] == BIG
    cust = snap.customers
    assert str(cust["customer_id"].dtype) == "string"
    assert str(cust["created_at"].dtype) == "datetime64[us, UTC]"
    assert cust["created_at"].iloc[0] == pd.Timestamp("2025-01-02T03:04:05.123Z")
    assert cust["marketing_consent"].dtype == bool
    assert cust["name"].isna().all()
    assert list(snap.subscriptions.columns)[:3] == ["subscription_id", "customer_id", "status"]


def test_a_working_folder_is_invisible_to_readers_until_published(tmp_path):
    _publish(tmp_path, "2026-11-25T06:00:00", [("ctm_a", "USD", 1, 0, 0)])
    writer = SnapshotWriter.open(tmp_path, "sandbox", now=pd.Timestamp("2026-11-26T06:00:00", tz="UTC"))
    writer.update_state(strategy="credited")
    writer.save_frame("customers", _customers(["ctm_a"]))
    try:
        assert list(list_snapshots(tmp_path)["as_of"]) == [pd.Timestamp("2026-11-25T06:00:00Z")]
        assert load_snapshot(data_dir=tmp_path).name == "20261125T060000Z"
    finally:
        writer.close()


def test_a_second_fetch_of_the_same_environment_is_refused_while_one_runs(tmp_path):
    writer = SnapshotWriter.open(tmp_path, "sandbox")
    try:
        with pytest.raises(UsageError, match="another fetch"):
            SnapshotWriter.open(tmp_path, "sandbox")
    finally:
        writer.close()
    SnapshotWriter.open(tmp_path, "sandbox").close()  # released


def test_reopening_resumes_the_newest_working_folder_with_its_as_of(tmp_path):
    first = SnapshotWriter.open(tmp_path, "sandbox", now=pd.Timestamp("2026-11-26T06:00:00", tz="UTC"))
    first.update_state(strategy="full")
    first.close()
    again = SnapshotWriter.open(tmp_path, "sandbox", now=pd.Timestamp("2026-11-26T07:00:00", tz="UTC"))
    try:
        assert again.resumed and again.as_of == "20261126T060000Z"
        assert again.state["strategy"] == "full"
    finally:
        again.close()


def test_two_snapshots_started_in_the_same_second_get_distinct_as_ofs(tmp_path):
    a = _publish(tmp_path, "2026-11-26T06:00:00", [])
    b = _publish(tmp_path, "2026-11-26T06:00:00", [])
    assert (a.name, b.name) == ("20261126T060000Z", "20261126T060001Z")


def test_journal_ignores_and_trims_a_line_cut_short_by_a_kill(tmp_path):
    path = tmp_path / "balances.jsonl"
    path.write_text('{"id":"ctm_a","rows":[["USD",1,0,0]]}\n{"id":"ctm_b","ro')
    journal = BalanceJournal(path)
    results, _ = journal.load()
    assert list(results) == ["ctm_a"]
    journal.append({"id": "ctm_c", "rows": []})
    journal.close()
    results, _ = BalanceJournal(path).load()
    assert list(results) == ["ctm_a", "ctm_c"]


def test_list_snapshots_is_oldest_first_with_counts_and_completeness(tmp_path):
    _publish(tmp_path, "2026-11-26T06:00:00", [("ctm_a", "USD", 1, 0, 0)], complete=False)
    _publish(tmp_path, "2026-11-24T06:00:00", [("ctm_a", "USD", 1, 0, 0), ("ctm_b", "EUR", 2, 0, 0)])
    table = list_snapshots(tmp_path)
    assert list(table.columns[:7]) == [
        "environment", "as_of", "path", "complete", "strategy", "customers", "balance_rows"]
    assert [t.strftime("%d") for t in table["as_of"]] == ["24", "26"]
    assert table["complete"].tolist() == [True, False]
    assert table["balance_rows"].tolist() == [2, 1]
    assert table["failed"].tolist() == [0, 1]


def test_load_snapshot_by_latest_as_of_and_path(tmp_path):
    old = _publish(tmp_path, "2026-11-24T06:00:00", [("ctm_a", "USD", 1, 0, 0)])
    new = _publish(tmp_path, "2026-11-26T06:00:00", [("ctm_a", "USD", 2, 0, 0)])
    assert load_snapshot(data_dir=tmp_path).path == new.path
    assert load_snapshot("20261124T060000Z", data_dir=tmp_path).path == old.path
    assert load_snapshot("2026-11-24T06:00:00Z", data_dir=tmp_path).path == old.path
    assert load_snapshot(old.path).balances["available"].tolist() == [1]
    assert load_snapshot(str(old.path)).name == old.name


def test_missing_snapshot_is_a_usage_error_naming_what_exists(tmp_path):
    _publish(tmp_path, "2026-11-24T06:00:00", [])
    with pytest.raises(UsageError, match=r"no snapshot 20250101T000000Z .*sandbox: 20261124T060000Z"):
        load_snapshot("20250101T000000Z", data_dir=tmp_path)
    with pytest.raises(UsageError, match="not 'latest'"):
        load_snapshot("yesterday-ish", data_dir=tmp_path)
    with pytest.raises(UsageError, match="holds no snapshots"):
        load_snapshot(data_dir=tmp_path / "empty")


def test_environment_defaults_to_the_one_with_the_newest_snapshot(tmp_path):
    _publish(tmp_path, "2026-11-20T06:00:00", [("ctm_p", "USD", 1, 0, 0)], environment="production")
    _publish(tmp_path, "2026-11-22T06:00:00", [("ctm_s", "USD", 1, 0, 0)], environment="sandbox")
    assert load_snapshot(data_dir=tmp_path).environment == "sandbox"
    assert load_snapshot(data_dir=tmp_path, environment="production").balances["customer_id"].tolist() == ["ctm_p"]
    assert len(list_snapshots(tmp_path)) == 2
    assert list_snapshots(tmp_path, environment="production")["environment"].tolist() == ["production"]


def test_load_history_stacks_every_snapshot_with_its_as_of(tmp_path):
    _publish(tmp_path, "2026-11-24T06:00:00", [("ctm_a", "USD", 100, 0, 0)])
    _publish(tmp_path, "2026-11-25T06:00:00", [("ctm_a", "USD", 60, 40, 0), ("ctm_b", "JPY", 500, 0, 0)])
    hist = load_history(tmp_path)
    assert list(hist.columns[:6]) == ["as_of", "customer_id", "currency_code", "available", "reserved", "used"]
    assert str(hist["as_of"].dtype) == "datetime64[us, UTC]"
    per_day = hist.groupby([hist["as_of"].dt.day, "currency_code"])["available"].sum().to_dict()
    assert per_day == {(24, "USD"): 100, (25, "JPY"): 500, (25, "USD"): 60}
    assert load_history(tmp_path / "nothing").empty


def test_prune_keeps_the_newest_n_and_never_the_newest_complete(tmp_path):
    for day in (20, 21, 22):
        _publish(tmp_path, f"2026-11-{day}T06:00:00", [])
    _publish(tmp_path, "2026-11-23T06:00:00", [], complete=False)
    removed = prune_snapshots(tmp_path, keep=1)
    assert sorted(p.name for p in removed) == ["20261120T060000Z", "20261121T060000Z"]
    names = list_snapshots(tmp_path)["path"].map(lambda p: os.path.basename(p)).tolist()
    assert names == ["20261122T060000Z", "20261123T060000Z"]  # newest complete kept beside the newest


def test_prune_by_age_only_removes_snapshots_older_than_the_cutoff(tmp_path):
    for day in (1, 10, 20):
        _publish(tmp_path, f"2026-11-{day:02d}T06:00:00", [])
    removed = prune_snapshots(tmp_path, older_than_days=12, now=pd.Timestamp("2026-11-21T00:00:00Z"))
    assert [p.name for p in removed] == ["20261101T060000Z"]
    with pytest.raises(UsageError):
        prune_snapshots(tmp_path)


def test_default_data_dir_follows_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("CREDIT_REPORTS_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv("CREDIT_REPORTS_DATA_DIR")
    assert str(default_data_dir()) == "data"


def test_manifest_is_plain_json(tmp_path):
    snap = _publish(tmp_path, "2026-11-26T06:15:00", [("ctm_a", "USD", 1, 0, 0)])
    manifest = json.loads((snap.path / "manifest.json").read_text())
    assert manifest["as_of"] == "2026-11-26T06:15:00Z" and manifest["complete"] is True


def test_a_fetched_manifest_holds_exactly_the_fields_of_the_store_schema(make_sim, tmp_path):
    # the fetch writes the manifest and the store reads it: one list of field names (SnapshotManifest.fields())
    from clients import client_for

    from credit_reports.fetch.snapshot import fetch_snapshot
    from credit_reports.store.manifests import SnapshotManifest

    MANIFEST_FIELDS = SnapshotManifest.fields()

    sim = make_sim(customers=12, seed=3)
    snap = fetch_snapshot(client_for(sim), data_dir=tmp_path, progress=False)
    manifest = json.loads((snap.path / "manifest.json").read_text())
    assert set(manifest) <= set(MANIFEST_FIELDS), set(manifest) - set(MANIFEST_FIELDS)
    # duplicates_collapsed only when rows were collapsed; the others only on built or revised snapshots
    assert set(MANIFEST_FIELDS) - set(manifest) <= {"duplicates_collapsed", "derived", "history", "revision"}
    assert set(SnapshotManifest.JSON_TYPES) <= set(MANIFEST_FIELDS)
    # the trend's point, computed at fetch time: per currency, the simulator's ledger summed by hand
    expected: dict[str, dict[str, int]] = {}
    for row in sim.account.expected_balances():
        figures = expected.setdefault(row["currency_code"], dict.fromkeys(
            ("available", "reserved", "used", "outstanding", "customers_with_credit", "customers_with_balance"), 0))
        for name in ("available", "reserved", "used"):
            figures[name] += row[name]
        figures["outstanding"] += row["available"] + row["reserved"]
        figures["customers_with_credit"] += int(row["available"] + row["reserved"] > 0)
        figures["customers_with_balance"] += 1
    assert manifest["totals"] == expected and snap.manifest.totals == expected
