"""A close on a real schedule (issue 23 point 10): fetches at 06:15 UTC only, the account moving before and after
midnight (and, in one test, while each fetch reads it), and the period's closing and opening figures are the
account at its boundaries all the same.

The simulator serves the account as it is at each fetch (``set_time``) and moves it at chosen moments
(``advance(at=...)``); every expected figure comes from its ledger (``expected_balances(at)``,
``expected_movements(start, end)``), never from the code under test.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from clients import client_for

from credit_reports.app.runner import derive_boundaries, run_reports
from credit_reports.core.errors import UsageError
from credit_reports.delivery.config import ReportSpec
from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.report.preparation import prepare
from credit_reports.simulator import Simulator
from credit_reports.store.reader import list_snapshots, load_snapshot

ANCHOR = datetime(2025, 9, 1, tzinfo=UTC)
ZONES = ["UTC", "Europe/Berlin"]


def _at(day: str, clock: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}+00:00")


#: The schedule: a fetch at 06:15 UTC on these days, and the account moving at 14:00, 22:30 and 23:30 UTC on the
#: last day of each month and at 02:00 on the first of the next: on both sides of midnight in UTC and in Berlin
#: (CET, 23:00 UTC), with moves in the middle of the months too. Three month ends (Sep, Oct, Nov, Dec 2025)
#: open and close November and the fourth quarter.
FETCH_DAYS = ["2025-09-30", "2025-10-01", "2025-10-30", "2025-10-31", "2025-11-01", "2025-11-29", "2025-11-30",
              "2025-12-01", "2025-12-30", "2025-12-31", "2026-01-01"]


def _moves_before(day: str) -> list[datetime]:
    """When the account moves between the fetch before ``day``'s and ``day``'s."""
    previous = (datetime.fromisoformat(day) - timedelta(days=1)).date().isoformat()
    if day.endswith("-01"):
        return [_at(previous, c) for c in ("14:00:00", "22:30:00", "23:30:00")] + [_at(day, "02:00:00")]
    if day.endswith(("-29", "-30")) and previous.endswith(("-01", "-02")):
        return [_at(previous[:8] + "12", "10:00:00")]
    return [_at(previous, "14:00:00")]


def _moves_while_read(sim: Simulator, as_of: datetime, seed: int) -> None:
    """While the fetch of ``as_of`` reads its first balance, the clock moves on 40 s and the account moves 20 s
    after the as-of: a schedule's fetch reads an account that does not stand still."""
    def move(moving: Simulator) -> None:
        moving.set_time(as_of + timedelta(seconds=40))
        _move(moving, as_of + timedelta(seconds=20), seed)

    sim.before_answer("/customers/ctm_", move)


def _move(sim: Simulator, when: datetime, seed: int) -> None:
    sim.advance(seed=seed, at=when, credits=2, first_credits=1, reservations=2, spends=2, completions=1,
                cancellations=1, new_customers=1)


def _fetch_on(sim: Simulator, client: Any, data_dir: Path, index: int, day: str, **kwargs: Any) -> Any:
    """Move the account up to ``day``'s 06:15 fetch (the clock set to it first), then fetch, unless ``kwargs``
    say the fetch is someone else's (``run``): then only move."""
    when = _at(day, "06:15:00")
    sim.set_time(when)
    for n, moment in enumerate(_moves_before(day) if index else []):
        _move(sim, moment, seed=1000 + 10 * index + n)
    if kwargs.get("moving"):
        _moves_while_read(sim, when, seed=2000 + index)
    if kwargs.get("skip"):
        return None
    return fetch_snapshot(client, data_dir=data_dir, strategy="subscribers" if index == 0 else "auto",
                          progress=False, as_of=when)


def _build(data_dir: Path, *, moving: bool = False) -> Simulator:
    """A started simulator and, in ``data_dir``, every scheduled fetch, each followed by the boundaries it crossed
    (what ``run`` derives); ``moving``: the account also moves while each fetch reads it."""
    sim = Simulator(customers=40, seed=23, anchor=ANCHOR).start()
    try:
        with client_for(sim) as client:
            for i, day in enumerate(FETCH_DAYS):
                snap = _fetch_on(sim, client, data_dir, i, day, moving=moving)
                derive_boundaries(data_dir, snap.environment, ZONES)
    except BaseException:
        sim.stop()
        raise
    return sim


@pytest.fixture(scope="module")
def schedule(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The store after every scheduled fetch, each followed by the boundaries it crossed (what ``run`` derives)."""
    data_dir = tmp_path_factory.mktemp("schedule") / "data"
    sim = _build(data_dir)
    try:
        yield {"sim": sim, "data": data_dir}
    finally:
        sim.stop()


def _held(rows: list[dict[str, Any]] | pd.DataFrame) -> dict[tuple[str, str], tuple[int, int, int]]:
    """Per (customer, currency) with any amount, (available, reserved, used)."""
    records = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else rows
    return {(str(r["customer_id"]), str(r["currency_code"])): (int(r["available"]), int(r["reserved"]),
                                                                int(r["used"]))
            for r in records if r["available"] or r["reserved"] or r["used"]}


def _boundary(text: str) -> datetime:
    """The ledger's last moment before ``text`` (a UTC ISO time): 999 ms before it."""
    return datetime.fromisoformat(text) - timedelta(milliseconds=1)


def _ledger_roll_forward(sim: Simulator, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    """Opening, issued, reversed, used and closing outstanding per currency, from the ledger alone."""
    lines: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in sim.account.expected_balances(start):
        lines[row["currency_code"]]["opening"] += row["available"] + row["reserved"]
    for row in sim.account.expected_balances(end):
        lines[row["currency_code"]]["closing"] += row["available"] + row["reserved"]
    for m in sim.account.expected_movements(start, end):
        if m["kind"] in ("issued", "reversed", "used"):
            lines[m["currency_code"]][m["kind"]] += m["amount"]
    return {code: {k: line[k] for k in ("opening", "issued", "reversed", "used", "closing")}
            for code, line in lines.items()}


def _report_roll_forward(report: Any) -> dict[str, dict[str, int]]:
    return {code: {k: figures[k] for k in ("opening", "issued", "reversed", "used", "closing")}
            for code, figures in report.roll_forward_dict().items()}


@pytest.mark.parametrize(("zone", "start", "end"), [
    ("UTC", "2025-11-01T00:00:00+00:00", "2025-12-01T00:00:00+00:00"),
    ("Europe/Berlin", "2025-10-31T23:00:00+00:00", "2025-11-30T23:00:00+00:00"),
])
def test_november_closes_on_the_ledger_at_midnight_from_06_15_fetches(schedule: dict[str, Any], zone: str,
                                                                       start: str, end: str) -> None:
    _closes_on_the_ledger(schedule, "2025-11", zone, start, end)


def test_the_fourth_quarter_closes_on_the_ledger_at_its_boundaries(schedule: dict[str, Any]) -> None:
    _closes_on_the_ledger(schedule, "2025-Q4", "UTC", "2025-10-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00")


def _closes_on_the_ledger(schedule: dict[str, Any], period: str, zone: str, start: str, end: str) -> None:
    """The period's closing and opening balances per customer and currency are the ledger's at its boundaries,
    and its roll-forward is the ledger's, reconciled to 0."""
    sim = schedule["sim"]
    report = prepare(data_dir=str(schedule["data"]), period=period, timezone=zone, min_cohort_size=1)
    assert report.snapshot.strategy == "derived" and report.opening.strategy == "derived"
    assert _held(report.balances) == _held(sim.account.expected_balances(_boundary(end)))
    assert _held(report.opening.balances) == _held(sim.account.expected_balances(_boundary(start)))
    assert report.reconciliation.evidence and report.reconciliation.reconciled
    assert all(figures["unexplained"] == 0 for figures in report.roll_forward_dict().values())
    assert _report_roll_forward(report) == _ledger_roll_forward(sim, _boundary(start), _boundary(end))
    assert report.attention == []


def test_the_boundaries_are_derived_snapshots_listed_and_never_latest(schedule: dict[str, Any]) -> None:
    listing = list_snapshots(schedule["data"])
    derived = listing[listing["derived"]]
    assert sorted(derived["path"].str.rsplit("/", n=1).str[-1]) == [
        "20250930T215959Z", "20250930T235959Z", "20251031T225959Z", "20251031T235959Z", "20251130T225959Z",
        "20251130T235959Z", "20251231T225959Z", "20251231T235959Z"]  # Berlin: CEST in September, CET after
    assert load_snapshot("latest", schedule["data"]).name == "20260101T061500Z"
    nov = load_snapshot("20251130T235959Z", schedule["data"])
    assert nov.manifest.derived["rests_on"] == {"earlier": "20251130T061500Z", "later": "20251201T061500Z"}
    assert nov.manifest.derived["checked"] is True and nov.manifest.totals
    assert nov.manifest.derived["events"]["movements_after"] > 0  # the 23:30 and 02:00 moves were taken back


def test_an_open_period_is_refused_in_one_line_or_shown_to_date_with_an_attention(schedule: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="still open"):
        prepare(data_dir=str(schedule["data"]), period="2026", min_cohort_size=1)
    with pytest.raises(UsageError, match="has not begun"):
        prepare(data_dir=str(schedule["data"]), period="2027-01", min_cohort_size=1)
    report = prepare(data_dir=str(schedule["data"]), period=2026, allow_open_period=True, min_cohort_size=1)
    assert report.snapshot.name == "20260101T061500Z"
    assert report.attention and report.attention[0].startswith("open period: 2026 ends")


def test_a_boundary_without_evidence_says_so_and_is_never_the_newest_before_in_silence(
        schedule: dict[str, Any]) -> None:
    # September closes at 30 Sep 23:59:59: derived. It opens on 31 Aug, before the first snapshot: no opening
    report = prepare(data_dir=str(schedule["data"]), period="2025-09", min_cohort_size=1)
    assert report.opening is None and report.snapshot.name == "20250930T235959Z"
    assert "no roll-forward" in report.notes["roll_forward"]


@pytest.mark.slow
def test_run_at_06_15_publishes_the_november_pack_closed_at_midnight(tmp_path: Path) -> None:
    import json

    data, days = tmp_path / "data", FETCH_DAYS[2:8]  # 30 Oct to 1 Dec; the 1 Dec fetch is run's own
    sim = Simulator(customers=40, seed=29, anchor=ANCHOR).start()
    try:
        with client_for(sim) as client:
            for i, day in enumerate(days):
                _fetch_on(sim, client, data, i, day, skip=day == days[-1])
            outcome = run_reports(
                reports=[ReportSpec(name="close", parameters={"period": "2025-11", "min_cohort_size": 1})],
                data_dir=data, out_dir=tmp_path / "reports",
                fetch_kwargs={"progress": False, "as_of": _at(days[-1], "06:15:00")}, client=client)
        assert not outcome.failed, outcome.failed
        manifest = json.loads(next((tmp_path / "reports").rglob("*manifest.json")).read_text())
        assert manifest["snapshot"]["name"] == "20251130T235959Z" and manifest["attention"] == []
        expected = _ledger_roll_forward(sim, _boundary("2025-11-01T00:00:00+00:00"),
                                        _boundary("2025-12-01T00:00:00+00:00"))
        assert {c: {k: f[k] for k in ("opening", "issued", "reversed", "used", "closing")}
                for c, f in manifest["roll_forward"].items()} == expected
        assert all(f["unexplained"] == 0 for f in manifest["roll_forward"].values())
    finally:
        sim.stop()


def test_one_selector_grammar_names_a_snapshot_wherever_one_is_given(schedule: dict[str, Any]) -> None:
    from credit_reports.report.parameters import Parameters

    assert Parameters.check(snapshot="2025-11-30").snapshot == "2025-11-30"  # -p snapshot, as --snapshot takes it
    with pytest.raises(UsageError, match="a date like 2026-12-01"):
        Parameters.check(snapshot="yesterday")
    report = prepare(data_dir=str(schedule["data"]), snapshot="2025-11-30", compare_to="none", min_cohort_size=1)
    assert report.snapshot.name == load_snapshot("2025-11-30", schedule["data"]).name == "20251130T235959Z"
    assert Parameters.check(period=2026).period == "2026"  # YAML's int is the year


def test_the_previous_snapshot_is_the_fetch_before_not_a_derived_boundary(schedule: dict[str, Any]) -> None:
    report = prepare(data_dir=str(schedule["data"]), min_cohort_size=1)
    assert (report.opening.name, report.snapshot.name) == ("20251231T061500Z", "20260101T061500Z")
    assert report.reconciliation.evidence  # the boundaries between them do not break the window's evidence


@pytest.mark.slow
def test_november_closes_on_the_ledger_while_each_fetch_reads_a_moving_account(tmp_path: Path) -> None:
    sim = _build(tmp_path / "data", moving=True)
    try:
        listing = list_snapshots(tmp_path / "data")
        for name in listing[~listing["derived"]]["path"].str.rsplit("/", n=1).str[-1]:
            fetched = load_snapshot(name, tmp_path / "data")  # each fetch itself is the ledger at its as-of
            assert fetched.manifest["point_in_time"]["corrected"] is True
            assert fetched.manifest["point_in_time"]["events_after_as_of"] > 0  # the account did move while read
            assert _held(fetched.balances) == _held(sim.account.expected_balances(fetched.as_of))
        _closes_on_the_ledger({"sim": sim, "data": tmp_path / "data"}, "2025-11", "UTC",
                              "2025-11-01T00:00:00+00:00", "2025-12-01T00:00:00+00:00")
    finally:
        sim.stop()
