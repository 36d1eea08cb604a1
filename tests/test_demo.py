"""`credit-reports demo` leaves its data behind: the report's manifest points at snapshots that exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import credit_reports
from credit_reports.demo import DEMO_ENVIRONMENT, run_demo


@pytest.mark.slow
def test_the_demo_keeps_its_snapshots_where_the_manifest_and_explore_find_them(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "reports"
    html = run_demo(out_dir=out, data_dir=data, customers=60, seed=3, progress=False)
    manifest = json.loads((html.parent / "manifest.json").read_text())
    folder = Path(manifest["snapshot"]["path"])
    assert folder.is_dir() and (folder / "manifest.json").is_file()
    assert folder.parent == data / "snapshots" / DEMO_ENVIRONMENT
    listing = credit_reports.list_snapshots(data)
    assert listing["environment"].tolist() == [DEMO_ENVIRONMENT] * 2
    assert credit_reports.load_snapshot(data_dir=data).path == folder  # what explore.ipynb opens first
