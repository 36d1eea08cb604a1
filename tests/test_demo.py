"""`credit-reports demo` leaves its data behind (a year of month-end snapshots), and its report reconciles the
last closed month with evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import credit_reports
from credit_reports.demo import DEMO_ENVIRONMENT, DEMO_MONTHS, month_ends, run_demo


@pytest.mark.slow
def test_the_demo_keeps_a_year_of_month_end_snapshots_and_reconciles_the_last_month(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "reports"
    (data / "snapshots" / "local").mkdir(parents=True)  # someone's own simulator snapshots: never touched
    (data / "snapshots" / "local" / "keep.txt").write_text("mine")
    run_demo(out_dir=out, data_dir=data, customers=80, seed=3, progress=False)
    html = run_demo(out_dir=out, data_dir=data, customers=80, seed=3, progress=False)  # rerun: replaces its own
    manifest = json.loads((html.parent / "manifest.json").read_text())
    folder = Path(manifest["snapshot"]["path"])
    assert folder.is_dir() and (folder / "manifest.json").is_file()
    assert folder.parent == data / "snapshots" / DEMO_ENVIRONMENT
    assert (data / "snapshots" / "local" / "keep.txt").read_text() == "mine"
    listing = credit_reports.list_snapshots(data, DEMO_ENVIRONMENT)
    assert listing["as_of"].tolist() == [pd.Timestamp(e) for e in month_ends(DEMO_MONTHS)]
    strategies = [credit_reports.load_snapshot(p).manifest["strategy"] for p in listing["path"]]
    assert strategies == ["subscribers"] + ["incremental"] * (DEMO_MONTHS - 1)
    assert credit_reports.load_snapshot(data_dir=data, environment=DEMO_ENVIRONMENT).path == folder
    # the report closes the previous month, with evidence and nothing unexplained, and credit moved in it
    rolled = manifest["roll_forward"]
    assert rolled and all(line["evidence"] is True and line["unexplained"] == 0 for line in rolled.values())
    assert sum(line["issued"] + line["used"] for line in rolled.values()) > 0
