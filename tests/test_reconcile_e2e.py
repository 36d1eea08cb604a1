"""The reconciling roll-forward end to end, over real HTTP: month-end snapshots of a simulated account served
as it was at each month end (``Simulator.set_time``), the first a first fetch, each later one incremental from
events, against the simulator's ledger (``expected_balances(at)``, ``expected_movements(start, end)``).

Every expected figure comes from the ledger, never from the code under test.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from clients import client_for

import credit_reports
from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.report.preparation import prepare
from credit_reports.simulator import Simulator

pytestmark = pytest.mark.slow


#: Fixed month ends (the last second of May to August 2026): the account is served as it was then, so the
#: figures do not depend on today's date. Past as-ofs are fine; Paddle's 90 days count from the served moment.
MONTH_ENDS = [datetime(2026, m + 1, 1, tzinfo=UTC) - timedelta(seconds=1) for m in (5, 6, 7, 8)]


def _month_ends(count: int) -> list[datetime]:
    """The first ``count`` of :data:`MONTH_ENDS`."""
    return MONTH_ENDS[:count]


def _start(end: datetime) -> datetime:
    return end.replace(day=1, hour=0, minute=0, second=0)


def _move_on(sim: Simulator, end: datetime, seed: int, reversals: int = 0) -> dict[str, set[str]]:
    """The account moves on twice during ``end``'s month: credit issued, spent, reserved, invoices settled."""
    changed: dict[str, set[str]] = defaultdict(set)
    if reversals:  # first, while the legacy credit is still there to take back
        changed["reversed_adjustment_ids"] |= sim.advance(seed=seed * 10 + 9, at=_start(end).replace(day=2),
                                                          reversals=reversals)["reversed_adjustment_ids"]
    for i, day in enumerate((6, 18)):
        moved = sim.advance(seed=seed * 10 + i, at=_start(end).replace(day=day, hour=9), credits=4, first_credits=2,
                            reservations=4, spends=3, completions=2, cancellations=1, new_customers=3,
                            seller_credits=1)
        for key, ids in moved.items():
            changed[key] |= ids
    return changed


def _ledger_lines(sim: Simulator, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    """Every reconciliation line per currency, from the ledger alone."""
    opening = sim.account.expected_balances(start)
    closing = sim.account.expected_balances(end)
    moves = sim.account.expected_movements(start, end)
    lines: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in opening:
        line = lines[row["currency_code"]]
        line["opening"] += row["available"] + row["reserved"]
        line["o_reserved"] += row["reserved"]
        line["o_used"] += row["used"]
    for row in closing:
        line = lines[row["currency_code"]]
        line["closing"] += row["available"] + row["reserved"]
        line["reserved"] += row["reserved"]
        line["c_used"] += row["used"]
    for m in moves:
        line = lines[m["currency_code"]]
        if m["kind"] in ("issued", "reversed", "used"):
            line[m["kind"]] += m["amount"]
            line[f"{m['kind']}_count"] += 1
        line["reserved_delta"] += m["reserved_delta"]
    out = {}
    for code, line in lines.items():
        expected = line["opening"] + line["issued"] - line["reversed"] - line["used"]
        out[code] = {
            "opening": line["opening"], "issued": line["issued"], "issued_count": line["issued_count"],
            "reversed": line["reversed"], "reversed_count": line["reversed_count"], "used": line["used"],
            "used_count": line["used_count"], "expected_closing": expected, "closing": line["closing"],
            "unexplained": 0, "used_change": line["c_used"] - line["o_used"], "used_difference": 0,
            "reserved_expected": line["o_reserved"] + line["reserved_delta"], "reserved": line["reserved"],
            "reserved_difference": 0,
        }
    return out


def _table(report: Any) -> dict[str, dict[str, int]]:
    table = report.reconciliation.table
    columns = [c for c in table.columns if c not in ("currency_code", "evidence")]
    return {row["currency_code"]: {c: int(row[c]) for c in columns} for row in table.to_dict("records")}


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Four month-end snapshots (subscribers, then three incremental) of an honest, quiet account."""
    ends = _month_ends(4)
    data_dir = tmp_path_factory.mktemp("e2e-data")
    sim = Simulator(customers=250, seed=37, anchor=_start(ends[0])).start()
    reversed_ids: set[str] = set()
    try:
        with client_for(sim) as client:
            snapshots = []
            for i, end in enumerate(ends):
                sim.set_time(end)
                moved = _move_on(sim, end, seed=i, reversals=1 if i == 1 else 0)
                reversed_ids |= moved["reversed_adjustment_ids"]
                snapshots.append(fetch_snapshot(client, data_dir=data_dir, strategy="subscribers" if i == 0 else "auto",
                                                progress=False, as_of=end))
        yield {"sim": sim, "ends": ends, "data_dir": data_dir, "snapshots": snapshots, "reversed": reversed_ids}
    finally:
        sim.stop()


def test_every_line_of_each_month_reconciles_to_the_ledger_with_zero_unexplained(year: dict[str, Any]) -> None:
    sim, ends = year["sim"], year["ends"]
    assert [s.manifest["strategy"] for s in year["snapshots"]] == ["subscribers"] + ["incremental"] * 3
    assert year["reversed"], "the account must claw back a legacy credit in a window with evidence"
    for previous, end in zip(ends, ends[1:], strict=False):
        report = prepare(data_dir=str(year["data_dir"]), period=f"{end:%Y-%m}")
        assert report.opening.as_of == pd.Timestamp(previous) and report.snapshot.as_of == pd.Timestamp(end)
        assert report.reconciliation.evidence and report.reconciliation.reconciled, end
        assert _table(report) == _ledger_lines(sim, previous, end), end
    lines = [_ledger_lines(sim, a, b) for a, b in zip(ends, ends[1:], strict=False)]
    assert sum(line["reversed_count"] for month in lines for line in month.values()) >= 1
    assert all(sum(line["used_count"] for line in month.values()) > 0 for month in lines)  # credit moved


def test_each_snapshot_keeps_its_windows_movements_exactly_as_the_ledger_has_them(year: dict[str, Any]) -> None:
    sim, ends, snapshots = year["sim"], year["ends"], year["snapshots"]
    assert not snapshots[0].has_movements and len(snapshots[0].adjustments) > 0  # the first fetch: adjustments
    keys = ["kind", "customer_id", "currency_code", "amount", "available_delta", "reserved_delta", "used_delta",
            "transaction_id", "adjustment_id", "event_id"]
    for snap, start, end in zip(snapshots[1:], ends, ends[1:], strict=False):
        assert snap.manifest["evidence"] is True and snap.manifest["base_snapshot"] is not None
        stored = sorted(tuple(str(v) if isinstance(v, str) else int(v) for v in row)
                        for row in snap.movements[keys].itertuples(index=False))
        expected = sorted(tuple(m[k] for k in keys) for m in sim.account.expected_movements(start, end))
        assert stored == expected


def test_a_statement_ends_on_the_snapshots_balance_and_ageing_sums_to_available(year: dict[str, Any]) -> None:
    sim, ends, data_dir = year["sim"], year["ends"], year["data_dir"]
    moved = sim.account.expected_movements(ends[0], ends[-1])
    customer = max({m["customer_id"] for m in moved}, key=lambda c: sum(m["customer_id"] == c for m in moved))
    statement = credit_reports.statement(customer, data_dir=data_dir)
    assert set(statement["kind"]) - {"opening"} <= {"issued", "reversed", "reserved", "released", "used"}
    ledger = {r["currency_code"]: r for r in sim.account.expected_balances(ends[-1]) if r["customer_id"] == customer}
    last = statement.groupby("currency_code").tail(1)
    assert {r.currency_code: (r.available, r.reserved, r.used) for r in last.itertuples()} == {
        c: (r["available"], r["reserved"], r["used"]) for c, r in ledger.items()}
    report = prepare(data_dir=str(data_dir), period=f"{ends[-1]:%Y-%m}")
    available: dict[str, int] = defaultdict(int)
    for row in sim.account.expected_balances(ends[-1]):
        available[row["currency_code"]] += row["available"]
    aged = report.ageing.groupby("currency_code")["amount"].sum()
    assert {c: int(v) for c, v in aged.items() if v or available.get(c)} == {c: v for c, v in available.items() if v}


def test_a_planted_discrepancy_shows_as_unexplained_with_its_customer_and_amount(tmp_path: Path) -> None:
    """(a) a balance moved with no event; (b) an event whose credit never reached the balance."""
    ends = _month_ends(2)
    sim = Simulator(customers=150, seed=41, anchor=_start(ends[0])).start()
    try:
        with client_for(sim) as client:
            sim.set_time(ends[0])
            fetch_snapshot(client, data_dir=tmp_path, strategy="subscribers", progress=False, as_of=ends[0])
            sim.set_time(ends[1])
            changed = sorted(_move_on(sim, ends[1], seed=7)["changed_customer_ids"])
            holders = {r["customer_id"]: r["currency_code"] for r in sim.account.expected_balances(ends[1])}
            silent = next(c for c in changed if c in holders)  # the fetch looks at it: it has events this month
            sim.account.move_balance_silently(silent, holders[silent], 1234)
            unseen = next(c for c in sorted(sim.account.subscriber_ids()) if c not in changed and c != silent)
            unseen_currency = sim.account.subscriptions_of([unseen])[0]["currency_code"]
            sim.account.emit_unseen_credit(unseen, 777, at=_start(ends[1]).replace(day=25))
            fetch_snapshot(client, data_dir=tmp_path, strategy="auto", progress=False, as_of=ends[1])
    finally:
        sim.stop()
    report = prepare(data_dir=str(tmp_path), period=f"{ends[1]:%Y-%m}")
    rec = report.reconciliation
    assert rec.evidence and not rec.reconciled
    found = {(r.customer_id, r.currency_code, int(r.unexplained)) for r in rec.customers.itertuples()}
    assert found == {(silent, holders[silent], 1234), (unseen, unseen_currency, -777)}
    table = _table(report)
    assert table[holders[silent]]["unexplained"] == 1234 + (-777 if unseen_currency == holders[silent] else 0)
    assert table[unseen_currency]["unexplained"] == -777 + (1234 if unseen_currency == holders[silent] else 0)
    assert (rec.movements["customer_id"] == unseen).sum() == 1  # the unseen credit is listed with its event


def test_an_interrupted_incremental_fetch_resumes_and_publishes_the_windows_movements(tmp_path: Path) -> None:
    ends = _month_ends(2)
    sim = Simulator(customers=120, seed=43, anchor=_start(ends[0])).start()
    try:
        with client_for(sim) as client:
            sim.set_time(ends[0])
            fetch_snapshot(client, data_dir=tmp_path, strategy="subscribers", progress=False, as_of=ends[0])
            sim.set_time(ends[1])
            _move_on(sim, ends[1], seed=9)
        # the account and the events read, then every balance refused (a key whose customer permission was
        # withdrawn mid-fetch)
        for customer in sim.account.customers:
            sim.fail_customer(customer["id"], status=403)
        with client_for(sim) as limited, pytest.raises(credit_reports.core.errors.PermissionDeniedError):
            fetch_snapshot(limited, data_dir=tmp_path, strategy="auto", progress=False, as_of=ends[1])
        sim.clear_faults()
        partial = next((tmp_path / "snapshots" / "local").glob(".partial-*"))
        assert (partial / "checkpoint" / "movements.parquet").is_file()
        sim.reset_stats()
        with client_for(sim) as client:
            resumed = fetch_snapshot(client, data_dir=tmp_path, strategy="auto", progress=False)
    finally:
        sim.stop()
    assert resumed.manifest["resumed"] is True and resumed.manifest["strategy"] == "incremental"
    assert "/events" not in sim.stats["by_path"]  # the window's movements came from the checkpoint
    stored = sorted(zip(resumed.movements["kind"], resumed.movements["transaction_id"],
                        resumed.movements["amount"].astype(int), strict=True))
    expected = sorted((m["kind"], m["transaction_id"], m["amount"])
                      for m in sim.account.expected_movements(ends[0], ends[1]))
    assert stored == expected and expected
    report = prepare(data_dir=str(tmp_path), period=f"{ends[1]:%Y-%m}")
    assert report.reconciliation.reconciled


def test_an_as_of_in_the_future_is_refused_in_one_line(sim: Simulator, tmp_path: Path) -> None:
    with client_for(sim) as client, pytest.raises(credit_reports.core.errors.UsageError, match="in the future"):
        fetch_snapshot(client, data_dir=tmp_path, progress=False, as_of=datetime.now(UTC) + timedelta(days=1))
