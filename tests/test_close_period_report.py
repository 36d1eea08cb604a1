"""The report's close-period roll-forward on hand-built stores: reconciled, unexplained, and without evidence.

Stores are written through the store's writer (``stores.write_snapshot``); expected figures are worked
out by hand in the comments. One rendered report checks what a finance reader sees and what the manifest says.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import nbformat
import pytest
from stores import movement, write_snapshot

from credit_reports.core.errors import UsageError
from credit_reports.delivery.render import render_report
from credit_reports.report.preparation import period_closing, prepare

OCT_31 = [("c1", "USD", 1000, 200, 300), ("c2", "USD", 0, 0, 500), ("c1", "JPY", 5000, 0, 0)]
NOV_15 = [("c1", "USD", 1400, 200, 300), ("c2", "USD", 0, 0, 500), ("c1", "JPY", 5000, 0, 0)]
NOV_WINDOW_1 = [movement("issued", "c1", "USD", 400, "2026-11-02T10:00:00Z", "txn_up")]
#   then c1's 200 reserved invoice completes and c1 JPY spends 1200 available
NOV_30 = [("c1", "USD", 1400, 0, 500), ("c2", "USD", 0, 0, 500), ("c1", "JPY", 3800, 0, 1200)]
NOV_WINDOW_2 = [
    movement("used_reserved", "c1", "USD", 200, "2026-11-20T10:00:00Z", "txn_inv"),
    movement("used", "c1", "JPY", 1200, "2026-11-21T10:00:00Z", "txn_pay"),
]


def honest_store(root: Path, closing: list[tuple] = NOV_30) -> Path:
    write_snapshot(root, "2026-10-31T22:00:00Z", OCT_31)
    write_snapshot(root, "2026-11-15T00:00:00Z", NOV_15, NOV_WINDOW_1)
    write_snapshot(root, "2026-11-30T23:30:00Z", closing, NOV_WINDOW_2)
    write_snapshot(root, "2026-12-01T06:00:00Z", closing, [])
    return root


def test_november_reconciles_to_zero_with_the_period_snapshots(tmp_path) -> None:
    report = prepare(data_dir=str(honest_store(tmp_path)), period="2026-11", min_cohort_size=1)
    # the account at each boundary, derived from the snapshots around it (none was fetched at midnight)
    assert report.opening.name == "20261031T235959Z" and report.snapshot.name == "20261130T235959Z"
    assert report.opening.strategy == report.snapshot.strategy == "derived" and report.attention == []
    manifest = report.roll_forward_dict()
    # USD: opening 1200, + 400 issued, - 200 used = 1400 = 1400 + 0 actual
    assert manifest["USD"] == {"opening": 1200, "issued": 400, "used": 200, "closing": 1400, "reversed": 0,
                               "expected_closing": 1400, "unexplained": 0, "evidence": True}
    assert manifest["JPY"]["unexplained"] == 0 and manifest["JPY"]["used"] == 1200
    assert report.reconciliation.reconciled and report.unexplained_text() == ""
    rows = dict(report.period_rows())
    assert rows["Opening snapshot"].endswith("at the period start")
    assert rows["Closing snapshot"].endswith("at the period end")
    assert rows["Roll-forward evidence"] == "Paddle events for every snapshot window"
    table = report.reconciliation_table().to_html()
    assert "Unexplained difference" in table and "$0.00" in table and "Used: movements" in table
    sources = report.issued_by_source[["currency_code", "source", "amount"]].values.tolist()
    assert sources == [["USD", "subscription_update", 400]]


def test_the_same_month_in_berlin_closes_at_berlin_midnight(tmp_path) -> None:
    # November ends at 23:00Z in Berlin: its closing is the account at 22:59:59.999999Z, derived from the 15 Nov
    # and 30 Nov 23:30Z snapshots (both of November's movements happened before it); it opens at 22:59:59Z on
    # 31 Oct, between the 22:00Z and 15 Nov snapshots
    report = prepare(data_dir=str(honest_store(tmp_path)), period="2026-11", timezone="Europe/Berlin",
                     min_cohort_size=1)
    assert (report.opening.name, report.snapshot.name) == ("20261031T225959Z", "20261130T225959Z")
    assert report.roll_forward_dict()["USD"]["issued"] == 400
    assert report.roll_forward_dict()["USD"]["used"] == 200
    assert report.roll_forward_dict()["USD"]["unexplained"] == 0


def test_a_planted_difference_is_named_at_the_top_with_customer_and_amount(tmp_path) -> None:
    closing = [("c1", "USD", 1400, 0, 500), ("c2", "USD", 75, 0, 500), ("c1", "JPY", 3800, 0, 1200)]
    report = prepare(data_dir=str(honest_store(tmp_path, closing)), period="2026-11", min_cohort_size=1)
    assert report.roll_forward_dict()["USD"]["unexplained"] == 75
    text = report.unexplained_text()
    assert "USD: unexplained difference $0.75" in text and "c2 ($0.75)" in text
    assert "credit-report-unexplained" in report.header().data
    customers = report.unexplained_customers_table().to_html()
    assert "c2" in customers and "$0.75" in customers


def test_full_fetches_are_derived_from_balances_never_reconciled(tmp_path) -> None:
    write_snapshot(tmp_path, "2026-10-31T22:00:00Z", OCT_31)
    write_snapshot(tmp_path, "2026-11-30T23:30:00Z", NOV_30)  # a full fetch: no events read
    report = prepare(data_dir=str(tmp_path), period="2026-11", min_cohort_size=1)
    assert report.roll_forward_dict()["USD"]["evidence"] is False
    assert report.roll_forward_dict()["USD"]["unexplained"] is None
    assert "derived from balances, no evidence" in report.notes["roll_forward"]
    assert "20261130T233000Z was a full fetch" in report.notes["roll_forward"]
    assert report.unexplained_text() == ""
    assert dict(report.period_rows())["Roll-forward evidence"] == "derived from balances, no evidence"
    # neither boundary could be derived: the pack says so (an Attention each), never the snapshot before in silence
    closing, opening = report.attention
    assert closing.startswith("closing figures: no snapshot was fetched after 30 Nov 2026, 23:59:59 UTC yet")
    assert "the figures are those of 20261130T233000Z (29 min before the boundary)" in closing
    assert opening.startswith("opening figures: the account at 31 Oct 2026, 23:59:59 UTC cannot be derived: "
                              "20261130T233000Z was a full fetch, which reads no events")


def test_period_conflicts_and_gaps_are_one_line_usage_errors(tmp_path) -> None:
    honest_store(tmp_path)
    with pytest.raises(UsageError, match="period and compare_to"):
        prepare(data_dir=str(tmp_path), period="2026-11", compare_to="none")
    with pytest.raises(UsageError, match="no snapshot at or before its end"):
        prepare(data_dir=str(tmp_path), period="2026-09")
    with pytest.raises(UsageError, match="trend"):
        prepare(data_dir=str(tmp_path), trend="weekly")
    report = prepare(data_dir=str(tmp_path), compare_to="2026-11-15", min_cohort_size=1)
    assert report.opening.name == "20261115T000000Z" and report.snapshot.name == "20261201T060000Z"


def test_month_end_trend_is_the_default_and_every_snapshot_an_option(tmp_path) -> None:
    honest_store(tmp_path)
    month_end = prepare(data_dir=str(tmp_path), compare_to="none", min_cohort_size=1)
    assert sorted(month_end.trend["as_of"].dt.strftime("%Y%m%dT%H%M%SZ").unique()) == [
        "20261031T220000Z", "20261130T233000Z", "20261201T060000Z"]
    every = prepare(data_dir=str(tmp_path), compare_to="none", trend="snapshot", min_cohort_size=1)
    assert every.trend["as_of"].nunique() == 4


@pytest.mark.slow
def test_rendered_period_report_pins_the_closing_snapshot_and_shows_the_red_note(tmp_path) -> None:
    closing = [("c1", "USD", 1400, 0, 500), ("c2", "USD", 75, 0, 500), ("c1", "JPY", 3800, 0, 1200)]
    data = honest_store(tmp_path / "data", closing)
    assert period_closing("2026-11", data_dir=data).name == "20261130T235959Z"
    result = render_report(parameters={"period": "2026-11", "min_cohort_size": 1}, data_dir=data,
                           out_dir=tmp_path / "reports")
    manifest = json.loads(result.manifest.read_text())
    assert manifest["snapshot"]["as_of"] == "2026-11-30T23:59:59Z"  # the account at the boundary, derived
    assert manifest["compared_to"]["as_of"] == "2026-10-31T23:59:59Z"
    assert manifest["roll_forward"]["USD"] == {"opening": 1200, "issued": 400, "used": 200, "closing": 1475,
                                               "reversed": 0, "expected_closing": 1400, "unexplained": 75,
                                               "evidence": True}
    nb = nbformat.read(result.html.with_suffix(".ipynb"), as_version=4)
    shown = html.unescape("\n".join(
        str(o.get("data", {}).get("text/html", "")) + str(o.get("data", {}).get("text/markdown", ""))
        for c in nb.cells for o in c.get("outputs", [])))
    assert shown.index("The roll-forward does not reconcile") < shown.index("credit-report-title")
    for line in ("Opening outstanding", "+ Issued", "- Reversed", "- Used", "= Expected closing outstanding",
                 "Actual closing outstanding", "Unexplained difference", "What the line means"):
        assert line in shown, line
    assert "at the period end" in shown
    assert re.search(r"issued before 31 Oct 2026", shown)
    assert "Reserved on invoices still open" in shown


def test_the_snapshot_count_counts_every_stored_snapshot_up_to_the_reported_one_empty_ones_too(tmp_path) -> None:
    """An empty month end (no customer held credit yet) adds no trend point but is a stored snapshot: the
    report's count is list_snapshots' count up to the reported one (3 here, by hand), not the trend's 2."""
    from credit_reports.store.reader import list_snapshots

    write_snapshot(tmp_path, "2026-09-30T23:59:59Z", [])
    write_snapshot(tmp_path, "2026-10-31T22:00:00Z", OCT_31)
    write_snapshot(tmp_path, "2026-11-15T00:00:00Z", NOV_15, NOV_WINDOW_1)
    write_snapshot(tmp_path, "2026-11-30T23:30:00Z", NOV_30, NOV_WINDOW_2)
    report = prepare(data_dir=str(tmp_path), snapshot="20261115T000000Z", min_cohort_size=1)
    rows = dict(report.summary_table().data.itertuples(index=False, name=None))
    assert rows["Snapshots stored up to this one"] == "3"
    assert len(list_snapshots(tmp_path)) == 4
