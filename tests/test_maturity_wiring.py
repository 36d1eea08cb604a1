"""The maturity split wired into the close pack (issue 26): renewal plans stored with a snapshot as a revision,
read by the report, and shown in the manifest, the workbook, the journal notes and the headline.

Expected figures come from the simulator's ledger (tests/ledger.py), never from the code under test: the split
must add up to the outstanding the ledger holds in each currency, whatever the forecast says.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from clients import client_for
from ledger import outstanding

from credit_reports.app.runner import add_renewal_plans
from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.report.preparation import prepare


def _store_with_plans(make_sim: Any, data_dir: Path) -> dict[str, Any]:
    """One complete snapshot of a small simulated account, then its renewal plans added; the ledger at the fetch
    (the simulator does not move in between) and the snapshot before and after the plans."""
    sim = make_sim(customers=60, seed=23)
    client = client_for(sim)
    before = fetch_snapshot(client, data_dir=data_dir, strategy="full", progress=False)
    ledger = sim.account.expected_balances()
    prepared_before = prepare(data_dir=str(data_dir), environment=before.environment, snapshot=before.name)
    warnings: list[str] = []
    after = add_renewal_plans(client, before, warnings)
    return {"before": before, "after": after, "ledger": ledger, "warnings": warnings,
            "prepared_before": prepared_before}


def test_plans_are_a_revision_of_the_snapshot_with_their_cost_and_the_split_adds_up_to_the_ledger(
    make_sim: Any, tmp_path: Path,
) -> None:
    store = _store_with_plans(make_sim, tmp_path / "data")
    before, after, ledger = store["before"], store["after"], store["ledger"]
    assert store["warnings"] == []
    # never edited in place: the first published folder has no plans, revision 1 adds them with a reason
    assert not (before.path / "renewal_plans.parquet").exists()
    assert after.revision == 1 and after.has_renewal_plans
    holders = {str(r["customer_id"]) for r in ledger if int(r["available"]) + int(r["reserved"]) > 0}
    cost = after.manifest.get("renewal_plans")
    assert cost["customers"] == len(holders) and cost["calls"] == math.ceil(len(holders) / 100)
    assert set(after.renewal_plans["customer_id"].astype(str)) <= holders

    report = prepare(data_dir=str(tmp_path / "data"), environment=after.environment, snapshot=after.name)
    block = report.maturity.block
    expected = {code: amount for code, amount in outstanding(ledger).items() if amount > 0}
    assert {code: row["outstanding"] for code, row in block["currencies"].items()} == expected
    for code, row in block["currencies"].items():
        assert row["current"] + row["non_current"] == expected[code], code
        assert 0 <= row["current_p10"] <= row["current"] <= row["current_p90"] <= expected[code], code
        assert 0 <= row["dormant"] <= row["non_current"], code
    sheet = report.tables()["maturity"].set_index("currency_code")
    assert sheet["outstanding"].to_dict() == expected
    assert f"reads {len(after.renewal_plans):,} subscriptions" in report.notes["maturity"]
    assert "nothing is backtested yet" in report.notes["maturity"]
    assert report.attention == []  # one month end: nothing to backtest, so no Attention


def test_without_plans_the_report_is_as_before_and_says_in_one_line_the_split_was_not_estimated(
    make_sim: Any, tmp_path: Path,
) -> None:
    report = _store_with_plans(make_sim, tmp_path / "data")["prepared_before"]
    assert report.maturity is None
    assert "maturity" not in report.tables()
    assert report.maturity_table() is None
    assert report.notes["maturity"].startswith("The current / non-current split was not estimated")
    assert "\n" not in report.notes["maturity"]
    assert report.attention == []  # not an Attention


def test_an_incomplete_snapshot_gets_no_plans_and_one_warning_line(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(customers=20, seed=3)
    client = client_for(sim)
    snap = fetch_snapshot(client, data_dir=tmp_path / "data", strategy="full", progress=False)

    class Incomplete:  # the same snapshot, read as if one customer had failed
        complete = False

    warnings: list[str] = []
    assert add_renewal_plans(client, Incomplete(), warnings).__class__ is Incomplete
    assert len(warnings) == 1 and "not estimated" in warnings[0]
    assert not snap.has_renewal_plans


@pytest.mark.slow
def test_a_rendered_pack_carries_the_split_in_its_manifest_workbook_and_journal_notes_and_not_without_plans(
    make_sim: Any, tmp_path: Path,
) -> None:
    import openpyxl

    from credit_reports.delivery.render import render_report

    data_dir = tmp_path / "data"
    sim = make_sim(customers=60, seed=23)
    client = client_for(sim)
    snap = fetch_snapshot(client, data_dir=data_dir, strategy="full", progress=False)
    expected = {code: amount for code, amount in outstanding(sim.account.expected_balances()).items() if amount > 0}
    asked = {"snapshot": snap.name, "environment": snap.environment}

    plain = render_report(parameters=asked, data_dir=data_dir, out_dir=tmp_path / "plain", api_key=None)
    manifest = json.loads(Path(plain.manifest).read_text(encoding="utf-8"))
    assert "maturity" not in manifest
    page = Path(plain.html).read_text(encoding="utf-8")
    assert "split was not estimated" in page and "When the credit will be used" not in page
    assert not any("aturity" in reason for reason in manifest["attention"])

    add_renewal_plans(client, snap, [])
    split = render_report(parameters=asked, data_dir=data_dir, out_dir=tmp_path / "split", api_key=None)
    manifest = json.loads(Path(split.manifest).read_text(encoding="utf-8"))
    maturity = manifest["maturity"]
    assert set(maturity["currencies"]) == set(expected)
    for code, row in maturity["currencies"].items():
        assert row["outstanding"] == expected[code], code
        assert row["current"] + row["non_current"] == expected[code], code
    workbook = next(p for p in split.files if p.suffix == ".xlsx")
    book = openpyxl.load_workbook(workbook, read_only=True)
    assert "Maturity" in book.sheetnames
    page = Path(split.html).read_text(encoding="utf-8")
    assert "When the credit will be used" in page and "credit-journal-note" in page


def test_fetch_reads_renewal_plans_only_with_plans_and_a_plain_fetch_stores_none(
    make_sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from credit_reports.app.cli import main
    from credit_reports.store.reader import Snapshot

    sim = make_sim(customers=40, seed=5)
    monkeypatch.setenv("PADDLE_API_KEY", sim.api_key)
    base = ["--quiet", "fetch", "--base-url", sim.base_url, "--max-rpm", "6000", "--data-dir", str(tmp_path)]
    assert main(base) == 0
    plain = Snapshot.from_path(capsys.readouterr().out.strip())
    assert not plain.has_renewal_plans and plain.revision == 0
    assert main([*base, "--plans"]) == 0
    out, err = capsys.readouterr()
    planned = Snapshot.from_path(out.strip())
    assert err == ""
    holders = {str(r["customer_id"]) for r in sim.account.expected_balances()
               if int(r["available"]) + int(r["reserved"]) > 0}
    assert planned.has_renewal_plans and planned.manifest["renewal_plans"]["customers"] == len(holders)
    for written in planned.path.rglob("*"):
        assert not written.is_file() or sim.api_key.encode() not in written.read_bytes()
