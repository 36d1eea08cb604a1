"""Windows cut by when things happened (issue 24; docs/credit-rules.md, "The window of a snapshot").

The simulator serves any moment (``set_time``), so a move can be put exactly where it hurts: straddling a
whole-second as-of, its operations stamped a few ms either side of it, and its events listed late and out of
order (``event_lag_ms``). The fetch then reads the account after the move, as a real fetch does, and must bring
every balance back to the as-of and cut the window by ``occurred_at``. Every expected figure comes from the
simulator's ledger (``expected_balances``, ``expected_movements``), never from the code under test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from clients import client_for

from credit_reports.fetch.point_in_time import settle_reads
from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.fetch.windows import ListingLag
from credit_reports.ledger.movements import period_movements
from credit_reports.ledger.reconcile import reconcile
from credit_reports.simulator import CURRENT_PADDLE, Simulator
from credit_reports.simulator.ids import decode_id, now_ms
from credit_reports.simulator.mover import MOVE_STEP

COLUMNS = ["customer_id", "currency_code", "available", "reserved", "used"]
MOVEMENT_KEYS = ["kind", "customer_id", "currency_code", "amount", "available_delta", "reserved_delta",
                 "used_delta", "transaction_id", "adjustment_id"]


def records(frame: pd.DataFrame) -> list[tuple]:
    return sorted((str(a), str(b), int(c), int(d), int(e)) for a, b, c, d, e in frame[COLUMNS].itertuples(index=False))


def ledger_at(sim: Simulator, at_ms: int) -> list[tuple]:
    return records(pd.DataFrame(sim.account.expected_balances(at_ms), columns=COLUMNS))


def ledger_moves(sim: Simulator, start_ms: int, end_ms: int) -> list[tuple]:
    moved = sim.account.expected_movements(start_ms, end_ms)
    return sorted(tuple(m[k] for k in MOVEMENT_KEYS) for m in moved)


def stored_moves(snap: Any) -> list[tuple]:
    moved = snap.movements[snap.movements["kind"] != "refund"]  # refunds: evidence rows, no ledger entry
    return sorted(tuple(str(v) if isinstance(v, str) else int(v) for v in row)
                  for row in moved[MOVEMENT_KEYS].itertuples(index=False))


def whole_second_before_now(seconds: int) -> int:
    return (now_ms() // 1000 - seconds) * 1000


def fetch_at(sim: Simulator, data_dir: Path, as_of_ms: int, strategy: str = "auto") -> Any:
    with client_for(sim) as client:
        return fetch_snapshot(client, data_dir=data_dir, strategy=strategy, progress=False, workers=4,
                              as_of=pd.Timestamp(as_of_ms, unit="ms", tz="UTC"))


# -- the simulator lists like Paddle ---------------------------------------------------------------------


def test_event_ids_follow_occurred_at_even_when_a_move_makes_its_operations_out_of_order(make_sim) -> None:
    sim = make_sim(customers=120, seed=43, **CURRENT_PADDLE)
    start = whole_second_before_now(60)
    sim.set_time(start + 5000)
    sim.advance(1, at=start, **MOVE_STEP)  # stamps its operations at start .. start + 6, made in its own order
    events = [e for e in sim.account.events.items if e["occurred_at"] >= pd.Timestamp(start, unit="ms", tz="UTC")
              .strftime("%Y-%m-%dT%H:%M:%S")]
    stamps = [decode_id(e["event_id"])[0] for e in events]
    occurred = [int(pd.Timestamp(e["occurred_at"]).value // 1_000_000) for e in events]
    assert len(set(occurred)) > 1  # the move spans several milliseconds
    assert stamps == occurred and occurred == sorted(occurred)


# -- by hand: settling from every read, and the listing lag measured ------------------------------------------


def _issued(ms: float, amount: int, key: str = "issued:txn_a") -> dict[str, Any]:
    return {"occurred_ms": ms, "key": key, "currency_code": "USD", "available_delta": amount,
            "reserved_delta": 0, "used_delta": 0}


def test_a_customer_is_settled_by_the_one_balance_every_read_allows_and_named_when_none_fits() -> None:
    as_of = 10_000.0
    moves = [_issued(12_050.0, 500)]  # after the as-of, inside the first read's interval
    first = ([["USD", 1500, 0, 0]], (12_000.0, 12_100.0))  # 1500 with it (1000 at the as-of) or without (1500)
    assert settle_reads([first], moves, as_of) == ("unsure", None, ["issued:txn_a"])
    second = ([["USD", 1500, 0, 0]], (13_000.0, 13_100.0))  # surely after it: 1000 at the as-of
    assert settle_reads([first, second], moves, as_of) == ("settled", frozenset({("USD", 1000, 0, 0)}), [])
    moved_silently = ([["USD", 2500, 0, 0]], (13_000.0, 13_100.0))  # 2000 at the as-of: no read of 1500 allows it
    status, value, _ = settle_reads([first, moved_silently], moves, as_of)
    assert status == "disagree" and value == frozenset({("USD", 2000, 0, 0)})  # the newest read's certain part


def test_an_event_listed_after_a_read_that_came_after_it_measures_the_listing_lag() -> None:
    lag = ListingLag()
    lag.record(1000.0, 0.0, [{"event_id": "evt_1", "occurred_at": "1970-01-01T00:00:00.500Z"}], offset_low=0.0)
    lag.record(2000.0, 0.0, [{"event_id": "evt_1", "occurred_at": "1970-01-01T00:00:00.500Z"},
                             {"event_id": "evt_2", "occurred_at": "1970-01-01T00:00:00.800Z"},  # 200 ms late at least
                             {"event_id": "evt_3", "occurred_at": "1970-01-01T00:00:01.500Z"}], offset_low=0.0)
    assert (lag.late, lag.lag_ms) == (1, 200.0)


# -- a move straddling a whole-second as-of ----------------------------------------------------------------


@pytest.mark.parametrize("before_ms", [0, pytest.param(1, marks=pytest.mark.slow),
                                       pytest.param(3, marks=pytest.mark.slow), 5])
def test_a_move_straddling_a_whole_second_as_of_is_cut_by_occurred_at(
        make_sim, tmp_path: Path, before_ms: int) -> None:
    """A move at 0, 1, 3 or 5 ms before the as-of (its operations at that moment to 6 ms later): the
    snapshot equals the ledger at the as-of, and the window holds exactly the ledger's movements up to it."""
    sim = make_sim(customers=150, seed=41, **CURRENT_PADDLE)
    base_at = whole_second_before_now(120)
    sim.set_time(base_at)
    first = fetch_at(sim, tmp_path, base_at, "subscribers")
    as_of = base_at + 60_000
    sim.set_time(as_of + 2000)  # the account is read two seconds after the as-of
    sim.advance(11, at=as_of - 1500, **MOVE_STEP)  # a move well before the as-of
    sim.advance(12, at=as_of - before_ms, **MOVE_STEP)  # and one straddling it
    second = fetch_at(sim, tmp_path, as_of)
    assert second.manifest["strategy"] == "incremental"
    assert records(second.balances) == ledger_at(sim, as_of)
    assert stored_moves(second) == ledger_moves(sim, base_at, as_of)
    moves = period_movements([second], after=first.as_of, until=second.as_of)
    rec = reconcile(first.balances, second.balances, moves, evidence=True)
    assert rec.reconciled and rec.customers.empty
    # what happened after the as-of is counted by the next window, once
    later = as_of + 10_000
    sim.set_time(later)
    third = fetch_at(sim, tmp_path, later)
    assert records(third.balances) == ledger_at(sim, later)
    assert stored_moves(third) == ledger_moves(sim, as_of, later)


def test_with_a_listing_lag_events_appear_late_and_out_of_order_and_from_to_cut_by_occurred_at(make_sim) -> None:
    sim = make_sim(customers=120, seed=44, event_lag_ms=2000, **CURRENT_PADDLE)
    start = whole_second_before_now(60)
    sim.set_time(start + 1000)
    sim.advance(2, at=start, **MOVE_STEP)
    made = [e for e in sim.account.events.items if decode_id(e["event_id"])[0] >= start]
    lags = {e["event_id"]: sim.lag_of(e["event_id"]) for e in made}
    assert len(set(lags.values())) > 1 and max(lags.values()) <= 2000
    http = client_for(sim)

    def listed(**params: Any) -> list[str]:
        return [e["event_id"] for e in http.paginate("/events", {"order_by": "id[ASC]", **params})]

    for clock in (start + 1000, start + 1500, start + 2100):
        sim.set_time(clock)
        seen = listed(**{"from": pd.Timestamp(start, unit="ms", tz="UTC").isoformat()})
        # listed exactly when occurred_at + lag has passed on Paddle's clock
        assert set(seen) == {e for e, lag in lags.items() if decode_id(e)[0] + lag <= clock}
    assert set(seen) == set(lags)
    stamps = sorted({decode_id(e)[0] for e in lags})
    cut = stamps[len(stamps) // 2]
    iso = pd.Timestamp(cut, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert set(listed(to=iso)) & set(lags) == {e for e in lags if decode_id(e)[0] <= cut}
    assert set(listed(**{"from": iso})) == {e for e in lags if decode_id(e)[0] >= cut}
    http.close()


# -- events listed late: lag 0, 250 ms, 2 s and 30 s on the simulator's clock ---------------------------------


def load_again(snap: Any) -> Any:
    from credit_reports.store.reader import Snapshot

    return Snapshot.from_path(snap.path)


@pytest.mark.parametrize("lag_ms", [pytest.param(0, marks=pytest.mark.slow), 250, 2000,
                                    pytest.param(30_000, marks=pytest.mark.slow)])
def test_events_listed_late_are_caught_by_the_next_fetch_which_re_settles_the_previous_snapshot(
        make_sim, tmp_path: Path, lag_ms: int) -> None:
    """The account is read 1.5 s after the as-of, while some events of a move straddling it are not listed yet
    (each event up to ``lag_ms`` late). The next fetch, once they are all listed, re-settles that snapshot from
    its stored reads (no balance call) into a new revision: balances at the as-of and the window's movements
    as the ledger has them; its own window counts each movement once."""
    sim = make_sim(customers=150, seed=45, event_lag_ms=lag_ms, **CURRENT_PADDLE)
    base_at = whole_second_before_now(300)
    sim.set_time(base_at)
    first = fetch_at(sim, tmp_path, base_at, "subscribers")
    as_of = base_at + 60_000
    sim.set_time(as_of + 1500)
    sim.advance(21, at=as_of - 1400, **MOVE_STEP)
    sim.advance(22, at=as_of - 3, **MOVE_STEP)
    second = fetch_at(sim, tmp_path, as_of)
    exact_at_once = records(second.balances) == ledger_at(sim, as_of) and \
        stored_moves(second) == ledger_moves(sim, base_at, as_of)
    assert exact_at_once == (lag_ms <= 250)  # a lag beyond the clock's 1.5 s leaves the first correction short
    later = as_of + 120_000
    sim.set_time(later)
    third = fetch_at(sim, tmp_path, later)
    resettled = third.manifest["point_in_time"]["resettled_previous"]
    assert resettled["snapshot"] == second.name
    assert (resettled["revision"] is None) == exact_at_once
    revised = load_again(second)
    assert revised.revision == (0 if exact_at_once else 1)
    assert records(revised.balances) == ledger_at(sim, as_of)
    assert stored_moves(revised) == ledger_moves(sim, base_at, as_of)
    assert records(third.balances) == ledger_at(sim, later)
    assert stored_moves(third) == ledger_moves(sim, as_of, later)
    for opening, closing in ((first, revised), (revised, third)):
        moves = period_movements([closing], after=opening.as_of, until=closing.as_of)
        rec = reconcile(opening.balances, closing.balances, moves, evidence=True)
        assert rec.reconciled and rec.customers.empty
