"""`credit-reports demo` leaves its data behind (a year of month-end snapshots), and its report reconciles the
last closed month with evidence."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import credit_reports
from credit_reports.app.demo import DEMO_ENVIRONMENT, DEMO_MONTHS, month_ends, run_demo


@dataclass(frozen=True)
class DemoRun:
    data: Path
    html: Path
    manifest: dict


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The demo, run once per session into a store that already holds someone's own simulator snapshots and
    an earlier demo's snapshot (what a rerun finds): every test of the demo reads this one run."""
    data = tmp_path_factory.mktemp("demo") / "data"
    (data / "snapshots" / "local").mkdir(parents=True)  # someone's own simulator snapshots: never touched
    (data / "snapshots" / "local" / "keep.txt").write_text("mine")
    earlier = data / "snapshots" / DEMO_ENVIRONMENT / "20200131T235959Z"  # an earlier demo's: replaced
    earlier.mkdir(parents=True)
    (earlier / "manifest.json").write_text(json.dumps({"as_of": "2020-01-31T23:59:59Z", "environment": "demo"}))
    html = run_demo(out_dir=data.parent / "reports", data_dir=data, customers=80, seed=3, progress=False)
    return DemoRun(data, html, json.loads((html.parent / "manifest.json").read_text()))


@pytest.mark.slow
def test_the_demo_keeps_a_year_of_month_end_snapshots_and_replaces_only_its_own(demo_run: DemoRun) -> None:
    data, manifest = demo_run.data, demo_run.manifest
    folder = Path(manifest["snapshot"]["path"])
    assert folder.is_dir() and (folder / "manifest.json").is_file()
    assert folder.parent == data / "snapshots" / DEMO_ENVIRONMENT
    assert (data / "snapshots" / "local" / "keep.txt").read_text() == "mine"
    assert not (data / "snapshots" / DEMO_ENVIRONMENT / "20200131T235959Z").exists()
    everything = credit_reports.list_snapshots(data, DEMO_ENVIRONMENT)
    listing = everything[~everything["reconstructed"]]
    assert listing["as_of"].tolist() == [pd.Timestamp(e) for e in month_ends(DEMO_MONTHS)]
    # the history from day one: reconstructed month ends before the first fetched one, never mixed with them
    rebuilt = everything[everything["reconstructed"]]
    assert len(rebuilt) and rebuilt["as_of"].max() < listing["as_of"].min()
    strategies = [credit_reports.load_snapshot(p).manifest["strategy"] for p in listing["path"]]
    assert strategies == ["subscribers"] + ["incremental"] * (DEMO_MONTHS - 1)
    assert credit_reports.load_snapshot(data_dir=data, environment=DEMO_ENVIRONMENT).path == folder


@pytest.mark.slow
def test_the_demo_report_reconciles_the_last_closed_month_with_evidence(demo_run: DemoRun) -> None:
    # the report closes the previous month, with evidence and nothing unexplained, and credit moved in it
    rolled = demo_run.manifest["roll_forward"]
    assert rolled and all(line["evidence"] is True and line["unexplained"] == 0 for line in rolled.values())
    assert sum(line["issued"] + line["used"] for line in rolled.values()) > 0


@pytest.mark.slow
def test_the_demo_report_header_names_the_period_it_closes_not_the_parameter_value(demo_run: DemoRun) -> None:
    # the period parameter is "previous-month"; the reader is told which month that was
    from bs4 import BeautifulSoup

    text = BeautifulSoup(demo_run.html.read_text(encoding="utf-8"), "html.parser").get_text(" ")
    month = pd.Timestamp(demo_run.manifest["period"]["to"]).strftime("%B %Y")  # e.g. November 2026
    assert f"the closing snapshot of {month}" in text
    assert "previous-month" not in text
