"""load_snapshot (and the report's snapshot / compare_to) take a month, "2026-06": its last snapshot; a
time before the first snapshot says which is the oldest (issue 19, item 4). Against the small demo store:
month-end snapshots from 31 Dec of last year to 30 Nov (as-of 23:59:59 UTC)."""

from __future__ import annotations

import pytest

import credit_reports as cr
from credit_reports.core.errors import UsageError
from credit_reports.report.preparation import prepare


def _names(small_demo) -> list[str]:
    return [p.rsplit("/", 1)[-1] for p in cr.list_snapshots(small_demo["data"])["path"]]


def test_a_month_loads_its_last_snapshot(small_demo):
    names = _names(small_demo)
    june = [n for n in names if n.startswith(f"{names[-1][:4]}06")]
    assert len(june) == 1, names
    snap = cr.load_snapshot(f"{names[-1][:4]}-06", small_demo["data"])
    assert snap.name == june[-1] and snap.name.endswith("0630T235959Z")


def test_a_month_without_a_snapshot_names_the_nearest_and_before_the_first_the_oldest(small_demo):
    names = _names(small_demo)
    year = int(names[-1][:4])
    with pytest.raises(UsageError) as caught:
        cr.load_snapshot(f"{year + 1}-01", small_demo["data"])
    assert f"the newest before it is {names[-1]}" in str(caught.value)
    with pytest.raises(UsageError) as caught:
        cr.load_snapshot(f"{year - 3}-01", small_demo["data"])
    assert f"the oldest is {names[0]}" in str(caught.value)


def test_a_date_before_the_first_snapshot_says_which_is_the_oldest(small_demo):
    names = _names(small_demo)
    with pytest.raises(UsageError) as caught:
        cr.load_snapshot(f"{int(names[0][:4]) - 2}-01-01", small_demo["data"])
    line = str(caught.value)
    assert "\n" not in line and f"the oldest is {names[0]}" in line


def test_the_not_found_line_always_shows_the_oldest_snapshot(small_demo):
    names = _names(small_demo)
    assert len(names) > 6
    with pytest.raises(UsageError) as caught:
        cr.load_snapshot("20200101T000000Z", small_demo["data"])
    assert f"the oldest {names[0]}" in str(caught.value) and names[-1] in str(caught.value)


def test_the_report_takes_a_month_as_snapshot_and_compare_to(small_demo):
    names = _names(small_demo)
    year = names[-1][:4]
    report = prepare(data_dir=str(small_demo["data"]), snapshot=f"{year}-09", compare_to=f"{year}-06")
    assert report.snapshot.name == f"{year}0930T235959Z"
    assert report.opening.name == f"{year}0630T235959Z"
