"""The analyst's API: modules as attributes, compare(), to_excel(), load_snapshot by date, prepare()'s
named parameters, short reprs and one string dtype, against two snapshots fetched from the simulator."""

from __future__ import annotations

import datetime as dt
import inspect
from collections import defaultdict
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

import credit_reports
from credit_reports.core.errors import UsageError
from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.figures import cohorts, metrics
from credit_reports.paddle.client import PaddleClient
from credit_reports.report.preparation import prepare
from credit_reports.simulator import Simulator
from credit_reports.store.reader import load_snapshot


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store with two snapshots of one simulated account that moved on in between, and its ledger."""
    data = tmp_path_factory.mktemp("analyst")
    with Simulator(customers=150, seed=31) as sim:
        client = PaddleClient(api_key=sim.api_key, base_url=sim.base_url, max_rpm=3000, rate_window=1.0)
        old = fetch_snapshot(client, data_dir=data, strategy="full", progress=False)
        opening = sim.account.expected_balances()
        sim.advance(3, credits=15, reservations=8, completions=4, cancellations=1, new_customers=6)
        new = fetch_snapshot(client, data_dir=data, strategy="full", progress=False)
        closing = sim.account.expected_balances()
        client.close()
    return {"data": data, "old": old, "new": new, "opening": opening, "closing": closing}


# -- discoverable -------------------------------------------------------------------------------------


def test_modules_and_new_helpers_are_attributes_of_the_package():
    for name in ("metrics", "cohorts", "charts", "report", "money"):
        assert inspect.ismodule(getattr(credit_reports, name)), name
        assert name in dir(credit_reports)
    assert callable(credit_reports.compare) and callable(credit_reports.to_excel)
    assert credit_reports.figures.metrics.currency_totals is metrics.currency_totals
    import importlib

    importlib.import_module("credit_reports.figures.comparison")  # importing the module must not shadow the function
    assert inspect.isfunction(credit_reports.compare)


def test_prepare_shows_its_parameters_and_answers_an_unknown_one_in_one_line(two):
    params = inspect.signature(prepare).parameters
    for name in ("data_dir", "snapshot", "compare_to", "currencies", "cohort", "min_cohort_size", "title"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
    with pytest.raises(UsageError) as info:
        prepare(data_dir=str(two["data"]), colour="red")
    message = str(info.value)
    assert "\n" not in message and "'colour'" in message
    assert "valid: data_dir, environment, snapshot" in message
    with pytest.raises(UsageError, match="did you mean 'cohort'"):
        prepare(data_dir=str(two["data"]), cohorts="status")


def test_report_and_snapshot_reprs_are_short(two):
    report = prepare(data_dir=str(two["data"]))
    text = repr(report)
    assert len(text) < 200, text
    assert two["new"].name in text and two["old"].name in text
    snap_text = repr(two["new"])
    assert len(snap_text) < 200 and two["new"].name in snap_text and "complete" in snap_text


# -- load_snapshot --------------------------------------------------------------------------------------


def test_load_snapshot_accepts_every_documented_form(two):
    data, old, new = two["data"], two["old"], two["new"]
    listing = credit_reports.list_snapshots(data)
    assert [load_snapshot(t, data).name for t in listing["as_of"]] == [old.name, new.name]
    assert load_snapshot(old.as_of, data).name == old.name  # Timestamp
    assert load_snapshot(old.as_of.to_pydatetime(), data).name == old.name  # datetime
    assert load_snapshot(old.name, data).name == old.name
    assert load_snapshot(old, data) is old
    assert load_snapshot(str(old.path)).name == old.name
    # a date is the end of that day (UTC): today's newest; yesterday has none
    today = new.as_of.date()
    assert load_snapshot(today.isoformat(), data).name == new.name
    assert load_snapshot(today, data).name == new.name
    # an ISO time between the two picks the older one ("at or before"); naive means UTC
    between = old.as_of + (new.as_of - old.as_of) / 2
    assert load_snapshot(between.strftime("%Y-%m-%dT%H:%M:%S.%f"), data).name == old.name
    assert load_snapshot(between.isoformat(), data).name == old.name
    with pytest.raises(UsageError, match="no snapshot at or before") as info:
        load_snapshot((today - dt.timedelta(days=1)).isoformat(), data)
    assert "\n" not in str(info.value) and old.name in str(info.value)
    with pytest.raises(UsageError, match="is not 'latest', an as-of like"):
        load_snapshot("last tuesday", data)
    with pytest.raises(UsageError, match="is not 'latest'"):
        load_snapshot(42, data)


def test_loaders_share_one_argument_order():
    for loader in (credit_reports.list_snapshots, credit_reports.load_history):
        assert list(inspect.signature(loader).parameters)[:2] == ["data_dir", "environment"]
    assert list(inspect.signature(load_snapshot).parameters)[:3] == ["snapshot", "data_dir", "environment"]


# -- compare --------------------------------------------------------------------------------------------


def _ledger(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, int]]:
    return {(r["customer_id"], r["currency_code"]): r for r in rows}


def test_compare_keeps_int64_says_who_appeared_and_matches_the_ledger(two):
    out = credit_reports.compare(two["old"], two["new"])
    opening, closing = _ledger(two["opening"]), _ledger(two["closing"])
    keys = set(opening) | set(closing)
    assert len(out) == len(keys)
    amount_columns = [c for c in out.columns if c not in ("customer_id", "currency_code", "status")]
    assert len(amount_columns) == 9
    assert all(out[c].dtype == "int64" for c in amount_columns)
    assert all(out[c].dtype.na_value is pd.NA for c in ("customer_id", "currency_code", "status"))
    expected_status = {k: "both" if k in opening and k in closing else "appeared" if k in closing else "left"
                       for k in keys}
    got = {(r.customer_id, r.currency_code): r for r in out.itertuples()}
    assert {k: r.status for k, r in got.items()} == expected_status
    assert "appeared" in expected_status.values()  # new customers who received credit
    for key, row in got.items():
        for kind in ("available", "reserved", "used"):
            before = opening.get(key, {}).get(kind, 0)
            after = closing.get(key, {}).get(kind, 0)
            assert (getattr(row, f"{kind}_old"), getattr(row, f"{kind}_new"),
                    getattr(row, f"{kind}_change")) == (before, after, after - before)
    # the result feeds straight into metrics (int64 survives): per-currency change equals the ledger's
    change = out.groupby("currency_code")["available_change"].sum().to_dict()
    by_hand: dict[str, int] = defaultdict(int)
    for key in keys:
        by_hand[key[1]] += closing.get(key, {}).get("available", 0) - opening.get(key, {}).get("available", 0)
    assert change == dict(by_hand)


def test_compare_refuses_float_amounts_with_one_line(two):
    floats = two["old"].balances.astype({"available": "float64"})
    with pytest.raises(UsageError, match=r"old\.available must hold integers"):
        credit_reports.compare(floats, two["new"])


# -- to_excel -------------------------------------------------------------------------------------------


def test_to_excel_writes_tz_aware_times_as_utc_and_creates_folders(two, tmp_path):
    snap = two["new"]
    joined = snap.balances.merge(snap.customers, on="customer_id", how="left")
    with pytest.raises(ValueError, match="[Tt]imezone"):  # what pandas does on its own
        joined.to_excel(tmp_path / "plain.xlsx")
    path = credit_reports.to_excel(joined, tmp_path / "deep" / "er" / "balances.xlsx")
    assert path.is_file()
    sheet = openpyxl.load_workbook(path).active
    header = [c.value for c in sheet[1]]
    assert "created_at (UTC)" in header and "created_at" not in header
    first = dict(zip(header, [c.value for c in sheet[2]], strict=True))
    expected = joined["created_at"].iloc[0].tz_convert("UTC").tz_localize(None)
    assert pd.Timestamp(first["created_at (UTC)"]) == expected.floor("s") or \
        abs(pd.Timestamp(first["created_at (UTC)"]) - expected) < pd.Timedelta(milliseconds=1)
    assert first["available"] == int(joined["available"].iloc[0])
    assert sheet.max_row == len(joined) + 1
    multi = credit_reports.to_excel({"balances": snap.balances, "totals": metrics.currency_totals(snap.balances)},
                                    tmp_path / "two.xlsx")
    assert openpyxl.load_workbook(multi).sheetnames == ["balances", "totals"]
    with pytest.raises(UsageError, match=r"\.xlsx"):
        credit_reports.to_excel(joined, tmp_path / "x.csv")


# -- one string dtype, one meaning per column ----------------------------------------------------------


def test_snapshot_frames_and_metric_outputs_use_one_string_dtype(two):
    b = two["new"].balances
    assigned = cohorts.assign_cohorts(two["new"].customers, "signup_quarter")
    history = credit_reports.load_history(two["data"])
    frames = {
        "balances": b,
        "currency_totals": metrics.currency_totals(b),
        "empty totals": metrics.currency_totals(b.iloc[:0]),
        "top_share": metrics.top_share(b),
        "concentration": metrics.concentration(b, top=3),
        "reserved_customers": metrics.reserved_customers(b),
        "balance_change": metrics.balance_change(two["old"].balances, b),
        "trend": metrics.trend(history),
        "cohort_totals": cohorts.cohort_totals(b, assigned, min_cohort_size=1),
        "cohort_sizes": cohorts.cohort_sizes(assigned, b),
        "compare": credit_reports.compare(two["old"], two["new"]),
    }
    for name, frame in frames.items():
        text = [c for c in frame.columns if c in ("customer_id", "currency_code", "cohort", "status")]
        assert text, name
        for column in text:
            dtype = frame[column].dtype  # pandas "string" (missing is <NA>), not "str" (missing is NaN)
            assert isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA, (name, column, dtype)


def test_customers_with_balance_means_the_same_in_currency_and_cohort_totals(two):
    b = two["new"].balances
    by_hand: dict[str, set[str]] = defaultdict(set)
    for row in two["closing"]:
        by_hand[row["currency_code"]].add(row["customer_id"])
    totals = metrics.currency_totals(b).set_index("currency_code")
    assert "customers" not in totals.columns
    assert totals["customers_with_balance"].to_dict() == {c: len(ids) for c, ids in by_hand.items()}
    assigned = cohorts.assign_cohorts(two["new"].customers, "signup_year")
    per_cohort = cohorts.cohort_totals(b, assigned, min_cohort_size=1)
    assert per_cohort.groupby("currency_code")["customers_with_balance"].sum().to_dict() == \
        totals["customers_with_balance"].to_dict()
    # "customers" in cohort tables is the cohort's size: every customer assigned, holding credit or not
    assert per_cohort.drop_duplicates("cohort")["customers"].sum() == len(two["new"].customers)


def test_readme_documents_column_names_once(repo_root: Path):
    text = (repo_root / "README.md").read_text(encoding="utf-8")
    for name in ("customers_with_balance", "customers_with_credit", "to_major_float", "compare(", "to_excel("):
        assert name in text, name
