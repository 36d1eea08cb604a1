"""Close periods, snapshot selection across time zones, window evidence, and a customer's statement."""

from __future__ import annotations

import pandas as pd
import pytest
from stores import ENVIRONMENT, movement, write_snapshot

import credit_reports
from credit_reports.core.errors import UsageError
from credit_reports.figures import periods
from credit_reports.ledger import movements as credit_movements
from credit_reports.ledger.movements import movements as stored_movements
from credit_reports.ledger.movements import statement
from credit_reports.store import reader as store

# Three snapshots around the end of November 2026 (UTC). In Europe/Berlin (UTC+1 in winter) November
# ends at 2026-11-30T23:00Z, so the 23:30Z snapshot already belongs to December there.
AROUND_MONTH_END = ["2026-11-30T22:30:00Z", "2026-11-30T23:30:00Z", "2026-12-01T00:30:00Z"]


@pytest.mark.parametrize(("text", "start", "end", "label"), [
    ("2026-11", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "November 2026"),
    ("2026-Q4", "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z", "Q4 2026"),
    ("2026", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "2026"),
    ("previous-month", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "November 2026"),
    ("previous-quarter", "2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z", "Q3 2026"),
])
def test_period_forms_in_utc(text, start, end, label) -> None:
    p = periods.parse_period(text, "UTC", now="2026-12-01T06:00:00Z")
    assert (p.start_utc, p.end_utc, p.label) == (pd.Timestamp(start), pd.Timestamp(end), label)


def test_previous_month_and_quarter_wrap_the_year() -> None:
    assert periods.parse_period("previous-month", now="2027-01-15T00:00Z").label == "December 2026"
    assert periods.parse_period("previous-quarter", now="2027-02-15T00:00Z").label == "Q4 2026"


def test_period_boundaries_are_local_midnight_in_the_time_zone() -> None:
    p = periods.parse_period("2026-11", "Europe/Berlin")
    assert p.start_utc == pd.Timestamp("2026-10-31T23:00:00Z")  # CET (UTC+1) after the October change
    assert p.end_utc == pd.Timestamp("2026-11-30T23:00:00Z")
    summer = periods.parse_period("2026-07", "Europe/Berlin")
    assert summer.start_utc == pd.Timestamp("2026-06-30T22:00:00Z")  # CEST (UTC+2)


@pytest.mark.parametrize(("text", "zone", "message"), [
    ("2026-13", "UTC", "month must be 01-12"),
    ("November", "UTC", "is not '2026-11'"),
    ("2026-11", "Mars/Olympus", "not an IANA time zone"),
])
def test_bad_period_or_time_zone_is_one_usage_error(text, zone, message) -> None:
    with pytest.raises(UsageError, match=message):
        periods.parse_period(text, zone)


def test_opening_and_closing_snapshots_across_a_time_zone_boundary() -> None:
    as_ofs = [pd.Timestamp(t) for t in AROUND_MONTH_END]
    utc = periods.parse_period("2026-11", "UTC")
    berlin = periods.parse_period("2026-11", "Europe/Berlin")
    # UTC: November closes at 2026-12-01T00:00Z -> the 23:30Z snapshot; December opens from it too
    assert periods.newest_at_or_before(as_ofs, utc.end) == 1
    assert periods.newest_at_or_before(as_ofs, periods.parse_period("2026-12", "UTC").start) == 1
    # Berlin: November closes at 2026-11-30T23:00Z -> the 22:30Z snapshot
    assert periods.newest_at_or_before(as_ofs, berlin.end) == 0
    assert periods.newest_at_or_before(as_ofs, berlin.start) is None  # nothing before 1 November
    assert periods.describe_distance(as_ofs[0], berlin.end, "the period end") == "30 min before the period end"
    assert periods.describe_distance(as_ofs[1], utc.end, "the period end") == "30 min before the period end"
    assert periods.describe_distance(as_ofs[2], utc.end, "the end") == "30 min after the end"
    assert periods.describe_distance(utc.end, utc.end, "the end") == "exactly at the end"


def test_a_date_means_the_end_of_that_day_in_the_time_zone() -> None:
    as_ofs = [pd.Timestamp(t) for t in AROUND_MONTH_END]
    assert periods.newest_at_or_before(as_ofs, periods.parse_day("2026-11-30", "UTC")) == 1
    assert periods.newest_at_or_before(as_ofs, periods.parse_day("2026-11-30", "Europe/Berlin")) == 0
    with pytest.raises(UsageError, match="calendar date"):
        periods.parse_day("2026-02-30")


def test_month_end_points_pick_the_newest_snapshot_of_each_month_in_the_time_zone() -> None:
    as_ofs = [pd.Timestamp(t) for t in [
        "2026-09-15T06:00:00Z", "2026-09-30T06:00:00Z",  # September: the 30th
        # (no snapshot in October)
        "2026-11-10T06:00:00Z", *AROUND_MONTH_END,
    ]]
    assert periods.month_end_points(as_ofs, "UTC") == [1, 4, 5]  # Sep 30th, Nov 30th 23:30, Dec 1st
    assert periods.month_end_points(as_ofs, "Europe/Berlin") == [1, 3, 5]  # November ends at 23:00Z
    midnight = [pd.Timestamp("2026-11-20T00:00Z"), pd.Timestamp("2026-12-01T00:00Z")]
    assert periods.month_end_points(midnight, "UTC") == [1]  # exactly at midnight closes November


# ---------------------------------------------------------------------------------------------------
# evidence of snapshot windows, and reading stored movements


def _chain(data_dir) -> list[store.Snapshot]:
    listing = store.list_snapshots(data_dir, ENVIRONMENT)
    return [store.Snapshot.from_path(p) for p in listing["path"]]


def test_window_evidence_needs_an_incremental_fetch_of_that_window_with_movements(tmp_path) -> None:
    row = [("c1", "USD", 100, 0, 0)]
    write_snapshot(tmp_path, "2026-08-01T00:00:00Z", row)                              # first: full
    write_snapshot(tmp_path, "2026-08-02T00:00:00Z", row, [])                           # incremental, no credit moved
    write_snapshot(tmp_path, "2026-08-03T00:00:00Z", row, strategy="incremental",
                   base="20260802T000000Z")                                             # no movements file
    write_snapshot(tmp_path, "2026-08-04T00:00:00Z", row, [], base="20260801T000000Z")  # base older: covers the window
    write_snapshot(tmp_path, "2026-11-04T00:00:01Z", row, [])                           # 92 days: too long
    write_snapshot(tmp_path, "2026-11-05T00:00:00Z", row, [], extra_manifest={"evidence": False})
    write_snapshot(tmp_path, "2026-11-06T00:00:00Z", row, [], strategy="credited")
    write_snapshot(tmp_path, "2026-11-07T00:00:00Z", row, [], base="20261106T120000Z")  # base newer than previous
    assert periods.windows_evidence(_chain(tmp_path)) == [False, True, False, True, False, False, False, False]


def test_period_movements_are_the_union_of_the_windows_after_the_opening(tmp_path) -> None:
    up = movement("issued", "c1", "USD", 400, "2026-11-02T10:00:00Z", "txn_up")
    pay = movement("used", "c1", "USD", 150, "2026-11-20T10:00:00Z", "txn_pay")
    write_snapshot(tmp_path, "2026-11-01T00:00:00Z", [("c1", "USD", 100, 0, 0)])
    write_snapshot(tmp_path, "2026-11-15T00:00:00Z", [("c1", "USD", 500, 0, 0)], [up])
    # a later window that saw the same transaction again (e.g. an updated event) stores it again
    write_snapshot(tmp_path, "2026-11-28T00:00:00Z", [("c1", "USD", 350, 0, 150)], [up, pay])
    chain = _chain(tmp_path)
    union = credit_movements.period_movements(chain[1:])
    assert list(zip(union["kind"], union["amount"], strict=True)) == [("issued", 400), ("used", 150)]
    assert len(credit_reports.movements(data_dir=tmp_path)) == 2
    assert stored_movements(data_dir=tmp_path, snapshot="20261115T000000Z")["amount"].tolist() == [400]


def test_statement_running_balance_ends_on_each_snapshots_balance(tmp_path) -> None:
    write_snapshot(tmp_path, "2026-11-01T00:00:00Z", [("c1", "USD", 1000, 200, 300), ("c1", "EUR", 50, 0, 0)])
    write_snapshot(tmp_path, "2026-11-15T00:00:00Z", [("c1", "USD", 1250, 150, 500), ("c1", "EUR", 50, 0, 0)], [
        movement("issued", "c1", "USD", 400, "2026-11-02T10:00:00Z", "txn_up"),
        movement("used_reserved", "c1", "USD", 200, "2026-11-03T10:00:00Z", "txn_inv1"),
        movement("reserved", "c1", "USD", 150, "2026-11-04T10:00:00Z", "txn_inv2"),
        movement("issued", "c2", "USD", 999, "2026-11-04T10:00:00Z", "txn_other"),  # another customer
    ])
    # full fetch: no evidence for this window; the balance moved by +75 available
    write_snapshot(tmp_path, "2026-11-20T00:00:00Z", [("c1", "USD", 1325, 150, 500), ("c1", "EUR", 50, 0, 0)])
    write_snapshot(tmp_path, "2026-11-28T00:00:00Z", [("c1", "USD", 1175, 0, 650), ("c1", "EUR", 50, 0, 0)], [
        movement("used_reserved", "c1", "USD", 150, "2026-11-25T10:00:00Z", "txn_inv2"),
        movement("used", "c1", "USD", 100, "2026-11-26T10:00:00Z", "txn_pay"),  # the balance never saw it
    ])
    st = credit_reports.statement("c1", data_dir=tmp_path)  # the public API
    assert st.equals(statement("c1", data_dir=tmp_path))
    usd = st[st["currency_code"] == "USD"]
    assert usd["kind"].tolist() == ["opening", "issued", "used", "reserved", "no evidence", "used", "used",
                                    "unexplained"]
    # by hand: 1000/200/300 -> +400 avail -> 200 reserved->used -> 150 avail->reserved -> +75 (no evidence)
    #          -> 150 reserved->used -> 100 avail->used -> gap to the snapshot's 1175/0/650: -50 avail, -100 used
    assert list(zip(usd["available"], usd["reserved"], usd["used"], strict=True)) == [
        (1000, 200, 300), (1400, 200, 300), (1400, 0, 500), (1250, 150, 500), (1325, 150, 500),
        (1325, 0, 650), (1225, 0, 750), (1175, 0, 650),
    ]
    last = usd.iloc[-1]
    assert (last["available_delta"], last["used_delta"]) == (-50, -100)
    assert usd.iloc[0]["description"].startswith("opening balance, before evidence")
    eur = st[st["currency_code"] == "EUR"]
    assert eur[["kind", "available", "outstanding"]].values.tolist() == [["opening", 50, 50]]
    assert statement("c1", data_dir=tmp_path, currency="eur")["currency_code"].unique().tolist() == ["EUR"]


def test_a_movement_read_beyond_a_snapshots_as_of_belongs_to_the_next_window(tmp_path) -> None:
    late = movement("used", "c1", "USD", 150, "2026-10-31T23:45:00Z", "txn_late")  # after the 23:30 as-of
    write_snapshot(tmp_path, "2026-10-01T00:00:00Z", [("c1", "USD", 500, 0, 0)])
    write_snapshot(tmp_path, "2026-10-31T23:30:00Z", [("c1", "USD", 500, 0, 0)], [late])
    write_snapshot(tmp_path, "2026-11-30T23:30:00Z", [("c1", "USD", 350, 0, 150)], [late])
    chain = _chain(tmp_path)
    november = credit_movements.period_movements(chain[1:2], after=chain[0].as_of, until=chain[1].as_of)
    december = credit_movements.period_movements(chain[2:], after=chain[1].as_of, until=chain[2].as_of)
    assert november.empty and december["amount"].tolist() == [150]
    st = statement("c1", data_dir=tmp_path)
    assert st["kind"].tolist() == ["opening", "used"]  # no gap row: each window's movements match its balance
