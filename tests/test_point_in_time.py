"""Point-in-time snapshots of an account that moves while it is read (docs/credit-rules.md, "The window").

Over real HTTP, a thread moves the simulator's account on every few milliseconds while the fetch reads it
(credit issued, reserved, used, released, new customers), on four workers, so some customers move after
they were read and some before. Every expected figure comes from the simulator's ledger at the snapshot's
as-of (``expected_balances(at)``, ``expected_movements(start, end)``), never from the code under test.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from clients import client_for

from credit_reports.fetch.point_in_time import back_to_as_of, clock_offset, read_interval
from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.figures import periods
from credit_reports.ledger.movements import period_movements
from credit_reports.ledger.reconcile import reconcile
from credit_reports.simulator import CURRENT_PADDLE, Simulator

COLUMNS = ["customer_id", "currency_code", "available", "reserved", "used"]
MOVEMENT_KEYS = ["kind", "customer_id", "currency_code", "amount", "available_delta", "reserved_delta",
                 "used_delta", "transaction_id", "adjustment_id"]


#: What the mover does, one kind per step in turn: every way credit moves, and sign-ups.
STEPS = ({"credits": 1}, {"reservations": 1}, {"renewals": 1}, {"first_credits": 1}, {"spends": 1},
         {"past_dues": 1}, {"completions": 1}, {"invoice_seller_credits": 1}, {"new_customers": 1},
         {"seller_credits": 1}, {"cancellations": 1}, {"transfers": 1}, {"refunds": 1})


class Mover:
    """Moves the account on, on its own thread, every ``every`` seconds while the ``with`` block runs
    (about 25 changes a second: far busier than a real account, whose customers each move rarely)."""

    def __init__(self, sim: Simulator, every: float = 0.04, seed: int = 100) -> None:
        self.sim, self.every, self.seed = sim, every, seed
        self.moves: list[tuple[int, set[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seed += 1
            ms = time.time_ns() // 1_000_000
            try:
                changed = self.sim.advance(self.seed, **STEPS[self.seed % len(STEPS)])
            except ValueError:  # the last step dated something a few ms ahead (a sign-up's credit): wait for it
                self._stop.wait(0.01)
                continue
            self.moves.append((ms, set(changed["changed_customer_ids"])))
            self._stop.wait(self.every)

    def __enter__(self) -> Mover:
        self._thread.start()
        time.sleep(self.every)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def moved(self) -> set[str]:
        return set().union(*(ids for _, ids in self.moves)) if self.moves else set()


def records(frame: pd.DataFrame) -> list[tuple]:
    return sorted((str(a), str(b), int(c), int(d), int(e)) for a, b, c, d, e in frame[COLUMNS].itertuples(index=False))


def ledger_at(sim: Simulator, at: pd.Timestamp) -> list[tuple]:
    return records(pd.DataFrame(sim.account.expected_balances(at.to_pydatetime()), columns=COLUMNS))


def moving_fetch(sim: Simulator, data_dir: Path, strategy: str, seed: int) -> tuple[Any, Mover]:
    """A live fetch (as-of: now) on four workers while the account moves on."""
    with client_for(sim) as client, Mover(sim, seed=seed) as mover:
        snap = fetch_snapshot(client, data_dir=data_dir, strategy=strategy, progress=False, workers=4)
    return snap, mover


# -- the correction's arithmetic, by hand ----------------------------------------------------------------


def test_the_date_headers_bound_paddles_clock_against_ours() -> None:
    # Paddle 1.5 s ahead: Date 1001 s written while we were between 999.40 and 999.45 s, then 1002 s between
    # 1000.49 and 1000.52 s. Offset bounds: >= 1001000 - 999450 = 1550 and >= 1002000 - 1000520 = 1480;
    # < 1002000 - 999400 = 2600 and < 1003000 - 1000490 = 2510.
    reads = [{"sent_ms": 999_400.0, "received_ms": 999_450.0, "date_s": 1001},
             {"sent_ms": 1_000_490.0, "received_ms": 1_000_520.0, "date_s": 1002}]
    assert clock_offset(reads) == (1550.0, 2510.0)
    assert read_interval(reads[0], (1550.0, 2510.0), slack=0) == (1_000_950.0, 1_001_960.0)
    assert clock_offset([{"sent_ms": 1.0, "received_ms": 2.0, "date_s": None}]) == (-2000.0, 2000.0)


def test_a_balance_is_brought_back_to_the_as_of_and_a_movement_during_the_read_is_unsure() -> None:
    as_of = 10_000.0
    read = (12_000.0, 12_100.0)  # the read happened on Paddle's clock between 12.0 and 12.1 s
    moves = [
        # after the as-of and before the read: in the read, undone
        {"occurred_ms": 11_000.0, "key": "issued:txn_a", "currency_code": "USD", "available_delta": 500,
         "reserved_delta": 0, "used_delta": 0},
        # after the read: not in it, nothing to undo
        {"occurred_ms": 13_000.0, "key": "used:txn_b", "currency_code": "USD", "available_delta": -200,
         "reserved_delta": 0, "used_delta": 200},
        # a first credit in another currency after the as-of: the row goes
        {"occurred_ms": 11_500.0, "key": "issued:txn_c", "currency_code": "EUR", "available_delta": 90,
         "reserved_delta": 0, "used_delta": 0},
    ]
    rows = [["EUR", 90, 0, 0], ["USD", 1500, 0, 300]]
    assert back_to_as_of(rows, moves, as_of, read) == ([["USD", 1000, 0, 300]], 2, [])
    # Paddle's clock behind: a movement at the as-of that the read (before it on Paddle's clock) missed is applied
    early = [{"occurred_ms": 9_900.0, "key": "reserved:txn_d", "currency_code": "USD", "available_delta": -100,
              "reserved_delta": 100, "used_delta": 0}]
    assert back_to_as_of([["USD", 1000, 0, 0]], early, as_of, (9_000.0, 9_100.0)) == ([["USD", 900, 100, 0]], 1, [])
    inside = [dict(moves[0], occurred_ms=12_050.0)]
    assert back_to_as_of(rows[1:], inside, as_of, read) == ([["USD", 1500, 0, 300]], 0, ["issued:txn_a"])


# -- a moving account, over real HTTP -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def moving_sim() -> Any:
    simulator = Simulator(customers=300, seed=23, latency_ms=1, **CURRENT_PADDLE).start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def moving(moving_sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A first snapshot and an incremental one, each fetched while the account moves on."""
    sim, tmp_path = moving_sim, tmp_path_factory.mktemp("moving")
    first, mover1 = moving_fetch(sim, tmp_path, "subscribers", seed=1000)
    second, mover2 = moving_fetch(sim, tmp_path, "auto", seed=2000)
    return {"sim": sim, "first": first, "second": second, "movers": (mover1, mover2), "data_dir": tmp_path}


@pytest.mark.slow
def test_a_first_snapshot_of_a_moving_account_equals_the_ledger_at_its_as_of(moving: dict[str, Any]) -> None:
    sim, first, (mover, _) = moving["sim"], moving["first"], moving["movers"]
    assert len(mover.moves) >= 5  # the account really moved while it was read
    assert records(first.balances) == ledger_at(sim, first.as_of)
    pit = first.manifest["point_in_time"]
    assert pit["corrected"] is True and pit["uncertain_customer_ids"] == []
    assert 0 < pit["customers_corrected"] < len(mover.moved())
    assert pit["events_after_as_of"] > 0 and pit["event_pages"] >= 1
    assert first.manifest["verification"]["found"] == 0  # credit that arrived after the as-of breaks no rule


@pytest.mark.slow
def test_the_next_snapshot_counts_the_movements_made_during_the_first_fetch_once_and_reconciles_to_zero(
        moving: dict[str, Any]) -> None:
    sim, first, second = moving["sim"], moving["first"], moving["second"]
    assert second.manifest["strategy"] == "incremental"
    assert records(second.balances) == ledger_at(sim, second.as_of)
    moved = second.movements[second.movements["kind"] != "refund"]  # refunds: evidence rows, no ledger entry
    stored = sorted(tuple(str(v) if isinstance(v, str) else int(v) for v in row)
                    for row in moved[MOVEMENT_KEYS].itertuples(index=False))
    expected = sorted(tuple(m[k] for k in MOVEMENT_KEYS) for m in sim.account.expected_movements(
        first.as_of.to_pydatetime(), second.as_of.to_pydatetime()))
    assert stored == expected and len(expected) > 0
    moves = period_movements([second], after=first.as_of, until=second.as_of)
    rec = reconcile(first.balances, second.balances, moves, evidence=True)
    assert rec.reconciled and (rec.table["unexplained"] == 0).all() and rec.customers.empty
    assert second.manifest["verification"]["found"] == 0


@pytest.mark.slow
def test_a_balance_moved_without_an_event_during_a_moving_fetch_is_the_only_unexplained_line(
        make_sim, tmp_path: Path) -> None:
    sim = make_sim(customers=200, seed=29, latency_ms=1, **CURRENT_PADDLE)
    first, _ = moving_fetch(sim, tmp_path, "subscribers", seed=3000)
    changed = sim.advance(3999, credits=3)["changed_customer_ids"]  # events name them: the fetch reads them
    holder = next(r for r in sim.account.expected_balances() if r["customer_id"] in changed)
    sim.account.move_balance_silently(holder["customer_id"], holder["currency_code"], 4321)
    second, _ = moving_fetch(sim, tmp_path, "auto", seed=4000)
    assert second.manifest["strategy"] == "incremental"
    moves = period_movements([second], after=first.as_of, until=second.as_of)
    rec = reconcile(first.balances, second.balances, moves, evidence=True)
    found = {(r.customer_id, r.currency_code, int(r.unexplained)) for r in rec.customers.itertuples()}
    assert found == {(holder["customer_id"], holder["currency_code"], 4321)}


def test_without_notification_read_a_moving_snapshot_says_it_is_not_point_in_time_and_never_unexplained(
        make_sim, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sim = make_sim(customers=120, seed=31, **CURRENT_PADDLE)
    key = "pdl_sdbx_apikey_no_events"
    sim.add_key(key, {"customer.read", "subscription.read", "adjustment.read", "transaction.read"})
    snaps = []
    with client_for(sim, api_key=key) as client:
        for seed in (5000, 6000):
            with caplog.at_level("WARNING", logger="credit_reports"), Mover(sim, seed=seed):
                snaps.append(fetch_snapshot(client, data_dir=tmp_path, progress=False, workers=4))
    lines = [r.getMessage() for r in caplog.records if "not point-in-time" in r.getMessage()]
    assert len(lines) == 2  # one line per fetch
    assert snaps[1].manifest["point_in_time"] == {
        "corrected": False, "reason": "the key cannot read events (notification.read): not point-in-time"}
    assert "not point-in-time" in periods.missing_evidence(snaps[1], snaps[0])
    assert not periods.point_in_time(snaps[1]) and not periods.window_evidence(snaps[1], snaps[0])
    rec = reconcile(snaps[0].balances, snaps[1].balances, None, evidence=False)
    assert rec.customers.empty and not rec.evidence  # derived from balances: nothing "unexplained"


@pytest.mark.slow
@pytest.mark.parametrize("offset_ms", [-1500, 1500])
def test_a_moving_account_whose_paddle_clock_is_off_by_a_second_and_a_half_is_still_point_in_time(
        make_sim, tmp_path: Path, offset_ms: int) -> None:
    """Paddle's clock (its Date header and every moment of what moves) ahead of ours or behind it."""
    sim = make_sim(customers=200, seed=37, latency_ms=1, clock_offset_ms=offset_ms, **CURRENT_PADDLE)
    first, _ = moving_fetch(sim, tmp_path, "subscribers", seed=7000)
    second, _ = moving_fetch(sim, tmp_path, "auto", seed=8000)
    low, high = second.manifest["point_in_time"]["clock_offset_ms"]
    assert low <= offset_ms <= high  # the Date headers bound the true difference
    for snap in (first, second):
        assert records(snap.balances) == ledger_at(sim, snap.as_of)
    moves = period_movements([second], after=first.as_of, until=second.as_of)
    rec = reconcile(first.balances, second.balances, moves, evidence=True)
    assert second.manifest["strategy"] == "incremental" and rec.reconciled
