"""The typed manifests read and write the JSON the README documents, and keep what they do not declare."""

from __future__ import annotations

import json

from credit_reports.store.manifests import ReportManifest, SnapshotManifest

#: A snapshot manifest as an older toolkit wrote it (no events_readable) plus a field a newer one adds.
OLD_SNAPSHOT = {"as_of": "2026-11-26T06:15:00Z", "environment": "sandbox", "strategy": "full", "complete": True,
                "counts": {"customers": 3, "balance_rows": 4}, "events_high_water": None,
                "reconstructed": {"from": "history"}}


def test_a_snapshot_manifest_round_trips_unknown_keys_and_keeps_absent_ones_absent() -> None:
    record = SnapshotManifest.from_json(OLD_SNAPSHOT)
    assert record.strategy == "full" and record.counts == {"customers": 3, "balance_rows": 4}
    assert record.extra == {"reconstructed": {"from": "history"}}
    assert record.to_json() == OLD_SNAPSHOT and list(record.to_json()) == list(OLD_SNAPSHOT)
    # "not recorded" stays different from "recorded as null": readers of old manifests rely on it
    assert "events_readable" not in record and record.events_readable is None
    assert "events_high_water" in record and record["events_high_water"] is None
    assert record["reconstructed"] == {"from": "history"} and dict(record) == OLD_SNAPSHOT
    assert record.updated(duplicates_collapsed=0).to_json() == {**OLD_SNAPSHOT, "duplicates_collapsed": 0}


def test_a_snapshot_manifest_names_a_field_of_the_wrong_type() -> None:
    assert SnapshotManifest.from_json(OLD_SNAPSHOT).problem() is None
    assert SnapshotManifest.from_json({**OLD_SNAPSHOT, "counts": []}).problem() == (
        "its manifest's counts is a list, not a dict")
    assert SnapshotManifest.from_json({**OLD_SNAPSHOT, "counts": {"customers": 1.5}}).problem() == (
        "its manifest's counts.customers is not a whole number")
    assert SnapshotManifest.from_json({**OLD_SNAPSHOT, "complete": 1}).problem() == (
        "its manifest's complete is a int, not a bool")


def test_a_report_manifest_reads_its_snapshot_block_by_attribute_and_writes_the_same_json() -> None:
    data = {"report": "credit-balances", "title": "Credit", "snapshot": {"name": "20261126T061500Z",
            "as_of": "2026-11-26T06:15:00Z", "environment": "sandbox", "complete": False, "extra_flag": 1},
            "headline": {"USD": {"outstanding": 100}}, "base_url": "http://127.0.0.1:1"}
    record = ReportManifest.from_json(json.loads(json.dumps(data)))
    assert record.snapshot.complete is False and record.snapshot.name == "20261126T061500Z"
    assert record.extra == {"base_url": "http://127.0.0.1:1"} and record.snapshot.extra == {"extra_flag": 1}
    assert record.to_json() == data
    assert ReportManifest.from_json({"snapshot": ["not", "an", "object"]}).snapshot.as_of is None
