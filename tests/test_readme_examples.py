"""README's "In a notebook" section runs as written against the demo's data folder.

Every ```python block of README.md is executed in order, in one namespace, in a folder whose ./data
holds the demo's two snapshots (taken by the demo's own code from the simulator), as an analyst's
notebook would after ``make report``.
"""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import credit_reports
from credit_reports.app.demo import DEMO_ENVIRONMENT, DEMO_MONTHS, take_demo_snapshots
from credit_reports.figures import metrics

BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks(readme: Path) -> list[str]:
    return BLOCK.findall(readme.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_every_python_block_of_the_readme_runs_against_the_demo_data(repo_root, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("CREDIT_REPORTS_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    newest = take_demo_snapshots(Path("data"), customers=150, seed=7, progress=False)
    assert newest.environment == DEMO_ENVIRONMENT
    blocks = _blocks(repo_root / "README.md")
    assert len(blocks) >= 6, "the In a notebook section lost its examples"
    namespace: dict = {}
    for number, source in enumerate(blocks, 1):
        try:
            exec(compile(source, f"README.md python block {number}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message says which block broke
            pytest.fail(f"README python block {number} failed: {type(exc).__name__}: {exc}\n{source}")
    import matplotlib.pyplot as plt

    plt.close("all")
    # what the blocks computed is what the data holds
    snap, old, changes = namespace["snap"], namespace["old"], namespace["changes"]
    assert snap.name == newest.name and old.as_of < snap.as_of
    assert set(changes["status"]) <= {"both", "appeared", "left"} and "appeared" in set(changes["status"])
    assert changes["available_change"].dtype == "int64"
    assert not namespace["eur"].empty, "the demo account should hold EUR for the README's EUR examples"
    sheet = openpyxl.load_workbook(tmp_path / "exports" / "balances.xlsx").active
    assert "created_at (UTC)" in [c.value for c in sheet[1]]
    assert sheet.max_row == len(snap.balances) + 1
    assert openpyxl.load_workbook(tmp_path / "exports" / "compare.xlsx").sheetnames == ["totals", "changes"]
    assert isinstance(namespace["top"], pd.DataFrame)
    quarters = namespace["quarters"]  # a frame like every other result (issue 19)
    assert isinstance(quarters, pd.DataFrame) and list(quarters.columns) == ["customer_id", "cohort"]
    roll = namespace["roll"]  # the reconciled roll-forward, not the balance-derived one
    assert roll["evidence"].all() and (roll["unexplained"] == 0).all(), roll
    assert {"reversed", "expected_closing", "issued_count"} <= set(roll.columns)


@pytest.mark.slow
def test_a_second_demo_replaces_only_its_own_snapshots(tmp_path):
    data = tmp_path / "data"
    local = data / "snapshots" / "local" / "20260101T000000Z"
    local.mkdir(parents=True)
    (local / "manifest.json").write_text('{"as_of": "2026-01-01T00:00:00Z", "environment": "local"}')
    first = take_demo_snapshots(data, customers=60, seed=3, progress=False)
    first_totals = metrics.currency_totals(first.balances)  # read before the second run removes it
    (first.path / "left-by-the-first-run").write_text("x")
    second = take_demo_snapshots(data, customers=60, seed=3, progress=False)
    listing = credit_reports.list_snapshots(data, DEMO_ENVIRONMENT)
    demo = sorted(Path(p).name for p in listing.loc[~listing["reconstructed"], "path"])
    assert len(demo) == DEMO_MONTHS and second.name in demo  # a year of month ends, the same ones again
    assert not (second.path / "left-by-the-first-run").exists()  # the first run's folders were replaced
    assert local.is_dir()  # a snapshot the demo did not make is left alone
    # same seed, same account: the demo is repeatable
    assert metrics.currency_totals(second.balances).equals(first_totals)
