"""Revisions of published snapshots and the store's one writer: a published folder is never edited in place, a
correction is a new numbered revision with a reason, the reader returns the newest transparently, a rewrite of
the same files adds nothing, and a built snapshot carries its totals."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import stores

from credit_reports.core.errors import CreditReportsError
from credit_reports.store import revisions
from credit_reports.store.reader import list_snapshots, load_snapshot
from credit_reports.store.writer import StoreWriter


def _published(tmp_path):
    return stores.write_snapshot(tmp_path, "2026-11-30T06:15:00Z", [("ctm_a", "EUR", 500, 0, 0)])


def _bytes_of(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_revision_leaves_the_published_files_untouched_and_the_reader_reads_the_newest(tmp_path):
    snap = _published(tmp_path)
    before = _bytes_of(snap.path)
    with StoreWriter.open(tmp_path, snap.environment) as writer:
        revised = writer.revise(snap, reason="correction of ctm_a", tables={
            "balances": stores.balances([("ctm_a", "EUR", 450, 0, 50)])})
    assert {k: v for k, v in _bytes_of(snap.path).items() if k.parts[0] != "revisions"} == before
    assert revised.revision == 1
    assert revised.manifest.revision["reason"] == "correction of ctm_a"
    again = load_snapshot(snap.name, tmp_path)
    assert again.balances[["available", "used"]].values.tolist() == [[450, 50]]
    assert len(again.customers) == len(snap.customers)  # files a revision does not hold come from before it
    old = pd.read_parquet(revisions.file_at(snap.path, "balances.parquet", revision=0))
    assert old["available"].tolist() == [500]


def test_rewriting_what_a_snapshot_already_shows_adds_no_revision(tmp_path):
    snap = _published(tmp_path)
    with StoreWriter.open(tmp_path, snap.environment) as writer:
        writer.revise(snap, reason="history", documents={"history.json": {"rate": 1.0}})
        writer.revise(load_snapshot(snap.name, tmp_path), reason="history", documents={"history.json": {"rate": 1.0}})
    assert [n for n, _ in revisions.revision_folders(snap.path)] == [1]


def test_a_half_built_revision_is_invisible_and_cleared_by_the_next(tmp_path):
    snap = _published(tmp_path)
    staging = snap.path / revisions.REVISIONS / f"{revisions.STAGING_PREFIX}0001"
    staging.mkdir(parents=True)
    (staging / "manifest.json").write_text(json.dumps({"as_of": "garbage"}))
    assert load_snapshot(snap.name, tmp_path).revision == 0
    with StoreWriter.open(tmp_path, snap.environment) as writer:
        writer.revise(snap, reason="addition", documents={"history.json": {}})
    assert not staging.exists()
    assert load_snapshot(snap.name, tmp_path).revision == 1


def test_a_built_snapshot_needs_its_totals_and_never_replaces_a_fetched_one(tmp_path):
    snap = _published(tmp_path)
    manifest = {"as_of": "2026-11-30T06:15:00Z", "environment": snap.environment, "strategy": "derived",
                "complete": True}
    tables = {"balances": stores.balances([("ctm_a", "EUR", 1, 0, 0)]), "customers": snap.customers}
    with StoreWriter.open(tmp_path, snap.environment) as writer:
        with pytest.raises(CreditReportsError, match="totals"):
            writer.publish_snapshot(manifest, tables=tables, reason="x")
        with pytest.raises(CreditReportsError, match="never replaces"):
            writer.publish_snapshot({**manifest, "totals": {"EUR": {"available": 1}}}, tables=tables, reason="x")


def test_a_built_snapshot_republished_with_other_figures_is_a_revision(tmp_path):
    snap = _published(tmp_path)
    manifest = {"as_of": "2026-11-30T23:59:59.999999Z", "environment": snap.environment, "strategy": "derived",
                "complete": True, "totals": {"EUR": {"available": 1}}}
    tables = {"balances": stores.balances([("ctm_a", "EUR", 1, 0, 0)]), "customers": snap.customers}
    with StoreWriter.open(tmp_path, snap.environment) as writer:
        first = writer.publish_snapshot(manifest, tables=tables, reason="boundary")
        writer.publish_snapshot(manifest, tables=tables, reason="boundary")
        assert first.revision == 0 and load_snapshot(first.name, tmp_path).revision == 0
        tables["balances"] = stores.balances([("ctm_a", "EUR", 2, 0, 0)])
        second = writer.publish_snapshot({**manifest, "totals": {"EUR": {"available": 2}}}, tables=tables,
                                         reason="a later fetch saw a movement dated before the boundary")
    assert second.revision == 1
    assert second.balances["available"].tolist() == [2]
    assert list_snapshots(tmp_path)["path"].tolist().count(str(first.path)) == 1
