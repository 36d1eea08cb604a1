"""Moving the simulated account while it is read: every N requests, or every S seconds in a background thread.

A live Paddle account does not stand still while a fetch of an hour reads it. A :class:`Mover` makes the
simulator's account do the same, with every kind of movement of docs/credit-rules.md (new credit from
subscription updates, credit spent on renewals, reservations of billed invoices and renewals, renewals past due,
completions and releases, seller credits, transfers, refunds, sign-ups) for customers picked at random: ones a
fetch has read already and ones it has not reached. Each move is :meth:`Account.advance`, so every movement is a
ledger entry at its exact moment and ``expected_balances(at=as_of)`` is what a point-in-time snapshot must equal.

Served in real time, a move happens at the real moment. Served at a set clock (``Account.set_time``), a move
first puts the clock ``clock_step_ms`` on and happens a second before the new clock, so the account's time
moves too, as it would during a real fetch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_log = logging.getLogger(__name__)

#: One move while a fetch reads a small account: a few of every kind of movement.
MOVE_STEP: dict[str, int] = {
    "credits": 1, "first_credits": 1, "spends": 1, "reservations": 1, "renewals": 1, "past_dues": 1,
    "completions": 1, "cancellations": 1, "seller_credits": 1, "invoice_seller_credits": 1, "transfers": 1,
    "refunds": 1, "new_customers": 1,
}
#: One ``credit-reports simulator --advance-every`` step for 2,000 customers (scaled to the account's size).
LIVE_STEP_PER_2000: dict[str, int] = {
    "credits": 40, "first_credits": 10, "spends": 20, "reservations": 25, "renewals": 25, "past_dues": 6,
    "completions": 30, "cancellations": 5, "seller_credits": 3, "invoice_seller_credits": 4, "transfers": 2,
    "refunds": 3, "new_customers": 25,
}


def live_step(customers: int) -> dict[str, int]:
    """:data:`LIVE_STEP_PER_2000` scaled to an account of ``customers`` (at least one of each kind)."""
    scale = max(customers, 1) / 2000
    return {kind: max(1, round(count * scale)) for kind, count in LIVE_STEP_PER_2000.items()}


@dataclass(frozen=True)
class Move:
    """One move: its number, the moments it spans (ms, the account's time: every entry and event it made lies
    in ``started_ms < t <= ended_ms``) and what ``advance`` returned."""

    number: int
    started_ms: int
    ended_ms: int
    changes: dict[str, set[str]] = field(repr=False)


class Mover:
    """Moves ``account`` on by ``step`` (``Account.advance`` counts) each time :meth:`move` is called."""

    def __init__(self, account: Any, step: dict[str, int] | None = None, seed: int = 0,
                 clock_step_ms: int = 2000, on_move: Callable[[Move], None] | None = None) -> None:
        if clock_step_ms < 1001:
            raise ValueError("clock_step_ms must exceed 1000 (a move happens a second before the new clock)")
        self.account = account
        self.step = dict(MOVE_STEP if step is None else step)
        self.seed = seed
        self.clock_step_ms = clock_step_ms
        self.on_move = on_move
        self.moves: list[Move] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def move(self) -> Move:
        """Move the account on once, now (or a clock step on); returns the move, also kept in ``moves``."""
        account = self.account
        with account.lock:
            number = len(self.moves) + 1
            at = None
            if account.clock is not None:
                clock = max(account.clock + self.clock_step_ms, account._latest_ms + 1001)
                account.set_time(clock)
                at = clock - 1000
            started = at - 1 if at is not None else account.now()
            changes = account.advance(seed=self.seed * 100_003 + number, at=at, **self.step)
            move = Move(number, started, account._latest_ms, changes)
            self.moves.append(move)
        if self.on_move is not None:
            self.on_move(move)
        return move

    def start(self, every_seconds: float) -> Mover:
        """Move every ``every_seconds`` in a daemon thread until :meth:`stop`; returns self."""
        if every_seconds <= 0:
            raise ValueError("every_seconds must be > 0")
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, args=(every_seconds,), name="simulator-mover",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the background thread (a move under way finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self, every_seconds: float) -> None:
        """Move until stopped; a move the account refuses (its clock, ValueError) is skipped, not fatal."""
        while not self._stop.wait(every_seconds):
            try:
                self.move()
            except ValueError as error:
                _log.warning("simulator: this move was skipped: %s", error)


__all__ = ["LIVE_STEP_PER_2000", "MOVE_STEP", "Move", "Mover", "live_step"]
