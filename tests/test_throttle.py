"""The shared rate limiter: never more than N in any window, no initial burst, pauses, slow-downs.

Windows are scaled down (20 requests per second) so the tests take seconds; the simulator, set to the
same limit with Paddle's block, is the judge of "never blocked".
"""

from __future__ import annotations

import threading
import time

import pytest

from credit_reports.core.errors import RateLimitError
from credit_reports.paddle.client import PaddleClient
from credit_reports.paddle.throttle import RateLimiter

LIMIT, WINDOW = 20, 1.0


def _acquire_from_threads(limiter: RateLimiter, total: int, threads: int) -> list[float]:
    """Acquire ``total`` slots from ``threads`` threads; return the sorted times the slots were granted."""
    times: list[float] = []
    lock = threading.Lock()
    remaining = [total]

    def worker() -> None:
        while True:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            limiter.acquire()
            stamp = time.monotonic()
            with lock:
                times.append(stamp)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sorted(times)


def test_never_more_than_the_limit_in_any_sliding_window_and_no_initial_burst():
    limiter = RateLimiter(LIMIT, WINDOW)
    times = _acquire_from_threads(limiter, total=45, threads=4)
    assert len(times) == 45
    # Any LIMIT+1 consecutive grants must span more than a window: at most LIMIT in any window.
    spans = [times[i + LIMIT] - times[i] for i in range(len(times) - LIMIT)]
    assert min(spans) > WINDOW
    # No burst at the start: the first LIMIT grants are spread over (almost) a whole window.
    assert times[LIMIT - 1] - times[0] >= (LIMIT - 1) * WINDOW / LIMIT * 0.95
    # Evenly paced: no two grants much closer than the spacing (thread wake-ups allow some slack).
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.5 * WINDOW / LIMIT
    assert sorted(gaps)[len(gaps) // 2] >= 0.95 * WINDOW / LIMIT
    # And not needlessly slow: at least 80% of the allowed rate (about 97% when the machine is idle).
    assert (len(times) - 1) / (times[-1] - times[0]) >= 0.8 * LIMIT / WINDOW


def test_late_wake_ups_cost_no_slots_yet_every_window_stays_capped():
    # A waiter that wakes a little late must not push every later slot back (the pace would drop to one
    # per interval + lateness); the next slots make the lateness up, and the sliding log still caps every
    # window. With a clock of our own, every grant happens 0 to 16 ms after the limiter said it could.
    clock = [0.0]
    limiter = RateLimiter(LIMIT, WINDOW, clock=lambda: clock[0])
    widened = WINDOW * 1.02 + 0.02  # 2% plus min(50 ms, 2%) of a 1 s window: 1.04 s
    interval = widened / LIMIT  # 52 ms
    granted: list[float] = []
    while clock[0] < 10.0:
        clock[0] += limiter.ready_in + 0.004 * (len(granted) % 5)  # woke 0, 4, 8, 12 or 16 ms late
        assert limiter.ready_in == 0.0
        assert limiter.acquire() == 0.0  # ready: no (real) waiting with this clock
        granted.append(clock[0])
    # Slots every 52 ms from the first grant: about 192 in 10 s. Scheduling each slot from the late
    # wake-up instead spaces them 52 + 8 ms apart on average: about 167.
    assert len(granted) >= int((10.0 - 0.016) / interval)
    spans = [granted[i + LIMIT] - granted[i] for i in range(len(granted) - LIMIT)]
    assert min(spans) >= widened - 1e-9  # never LIMIT + 1 within a (widened) window


def test_an_idle_spell_is_not_made_up_with_a_burst():
    clock = [0.0]
    limiter = RateLimiter(LIMIT, WINDOW, clock=lambda: clock[0])
    interval = (WINDOW * 1.02 + 0.02) / LIMIT  # 52 ms
    limiter.acquire()
    clock[0] += 5.0  # nobody asked for 5 s: those slots are gone, not owed
    limiter.acquire()
    # At most the 20 ms catch-up allowance is made up: the next request waits at least 52 - 20 ms.
    assert limiter.ready_in >= interval - 0.02 - 1e-9
    clock[0] += limiter.ready_in
    limiter.acquire()
    assert limiter.ready_in == pytest.approx(interval)


def test_pause_holds_every_thread_until_it_ends():
    limiter = RateLimiter(1000, 1.0)
    limiter.acquire()
    limiter.pause(0.6)
    start = time.monotonic()
    times = _acquire_from_threads(limiter, total=6, threads=3)
    assert times[0] - start >= 0.55
    assert limiter.stats["pauses"] == 1
    assert limiter.paused_for == 0.0


def test_a_pause_during_waiting_is_honoured_by_threads_already_waiting():
    limiter = RateLimiter(2, 1.0)  # one slot every ~0.5 s
    limiter.acquire()
    granted: list[float] = []
    waiter = threading.Thread(target=lambda: (limiter.acquire(), granted.append(time.monotonic())))
    start = time.monotonic()
    waiter.start()
    time.sleep(0.1)
    limiter.pause(0.8)  # arrives while the waiter waits for its pacing slot
    waiter.join()
    assert granted[0] - start >= 0.85


def test_slow_down_lowers_the_pace_then_recovers_gradually():
    clock = [0.0]
    limiter = RateLimiter(240, 60.0, clock=lambda: clock[0])
    full = limiter.rate_per_minute
    limiter.slow_down()
    assert limiter.rate_per_minute == pytest.approx(full * 0.8)
    limiter.slow_down()
    assert limiter.rate_per_minute == pytest.approx(full * 0.64)
    clock[0] += 15.0  # a quarter window without a 429 gives back 5 points
    assert limiter.rate_per_minute == pytest.approx(full * 0.69)
    clock[0] += 120.0
    assert limiter.rate_per_minute == pytest.approx(full)
    for _ in range(20):
        limiter.slow_down()
    assert limiter.stats["rate_factor"] == 0.25


def test_slowed_limiter_spaces_requests_further_apart():
    limiter = RateLimiter(LIMIT, WINDOW)
    limiter.slow_down()
    times = _acquire_from_threads(limiter, total=8, threads=2)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert sorted(gaps)[len(gaps) // 2] >= 0.95 * (WINDOW / LIMIT) / 0.8


def test_limiter_rejects_nonsense_limits():
    with pytest.raises(ValueError):
        RateLimiter(0, 60.0)
    with pytest.raises(ValueError):
        RateLimiter(10, 0.0)


# -- against the simulator enforcing the same limit with Paddle's block ------------------------------


def test_clients_threads_sharing_the_limiter_never_trigger_the_block(make_sim):
    sim = make_sim(customers=20, seed=3, rpm=LIMIT, window_seconds=WINDOW, block_seconds=5.0)
    client = PaddleClient(sim.api_key, base_url=sim.base_url, max_rpm=LIMIT, rate_window=WINDOW, max_attempts=1)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(12):
                client.get("/")
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    start = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - start
    stats = sim.stats
    assert errors == []
    assert stats["requests"] == 48
    assert stats["rate_limited"] == 0 and client.stats["rate_limited"] == 0
    assert stats["max_in_window"] <= LIMIT
    assert stats["max_in_window"] >= LIMIT - 3, "the limiter should run close to the allowed rate"
    assert elapsed >= (48 - 1) * WINDOW / LIMIT * 0.95


def test_without_the_limiter_the_same_load_is_blocked(make_sim):
    # The control for the test above: the simulator really does block a client that bursts.
    sim = make_sim(customers=20, seed=3, rpm=LIMIT, window_seconds=WINDOW, block_seconds=0.5)
    client = PaddleClient(sim.api_key, base_url=sim.base_url, max_rpm=100_000, rate_window=WINDOW, max_attempts=1)
    with pytest.raises(RateLimitError) as caught:
        for _ in range(LIMIT + 5):
            client.get("/")
    assert caught.value.retry_after is not None and caught.value.retry_after >= 0
    assert sim.stats["rate_limited"] >= 1


def test_429s_met_together_slow_down_once_per_episode_but_all_extend_the_pause():
    clock = [100.0]
    limiter = RateLimiter(240, 60.0, clock=lambda: clock[0])
    assert limiter.rate_limited(2.0) is True
    clock[0] += 0.5
    assert limiter.rate_limited(3.0) is False  # a second worker's 429 from the same block
    assert limiter.stats["slow_downs"] == 1 and limiter.stats["pauses"] == 2
    assert limiter.paused_for == pytest.approx(3.0)
    clock[0] += 3.5  # the pause is over: a new 429 is a new episode
    assert limiter.rate_limited(1.0) is True
    assert limiter.stats["slow_downs"] == 2 and limiter.stats["rate_factor"] == pytest.approx(0.64)
