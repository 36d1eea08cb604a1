"""One meaning per name (issue 19, item 2): ``roll_forward`` is the reconciled roll-forward wherever it is
public (metrics, the prepared report, the manifest); the balance-derived table is ``balance_change``."""

from __future__ import annotations

import inspect

import pandas as pd
import pytest

import credit_reports as cr
from credit_reports.core.errors import UsageError
from credit_reports.figures import metrics
from credit_reports.ledger.reconcile import RECONCILIATION_COLUMNS
from credit_reports.report.preparation import prepare


def _two(small_demo):
    listing = cr.list_snapshots(small_demo["data"])
    old = cr.load_snapshot(listing["as_of"].iloc[-2], small_demo["data"])
    return old, small_demo["snap"]


def test_metrics_roll_forward_is_the_reports_reconciled_one(small_demo):
    old, snap = _two(small_demo)
    roll = metrics.roll_forward(old, snap)
    assert list(roll.columns) == list(RECONCILIATION_COLUMNS)
    report = prepare(data_dir=str(small_demo["data"]), compare_to=old.name)
    pd.testing.assert_frame_equal(roll.reset_index(drop=True), report.roll_forward.reset_index(drop=True),
                                  check_dtype=False)
    assert roll["evidence"].all()  # consecutive incremental snapshots: every window has events
    # by hand from the stored movements: issued is the sum of issued movements, not what makes it balance
    moves = cr.movements(data_dir=small_demo["data"])
    window = moves[(moves["occurred_at"] > old.as_of) & (moves["occurred_at"] <= snap.as_of)]
    issued = window[window["kind"] == "issued"].groupby("currency_code")["amount"].sum()
    got = roll.set_index("currency_code")["issued"]
    assert {c: int(v) for c, v in got.items() if v} == {c: int(v) for c, v in issued.items() if v}


def test_roll_forward_of_two_frames_is_refused_pointing_at_balance_change(small_demo):
    old, snap = _two(small_demo)
    with pytest.raises(UsageError, match="balance_change"):
        metrics.roll_forward(old.balances, snap.balances)


def test_balance_change_says_it_proves_nothing_and_is_what_makes_it_balance(small_demo):
    old, snap = _two(small_demo)
    assert "proves nothing" in inspect.getdoc(metrics.balance_change)
    change = metrics.balance_change(old.balances, snap.balances)
    assert (change["opening"] + change["issued"] - change["used"] == change["closing"]).all()
    assert "roll_forward_dict" not in dir(metrics) and "balance_change" in dir(metrics)


def test_the_readme_example_uses_the_reconciled_roll_forward(repo_root):
    text = (repo_root / "README.md").read_text(encoding="utf-8")
    assert "cr.metrics.roll_forward(old, snap)" in text
    assert "cr.metrics.roll_forward(old.balances" not in text
