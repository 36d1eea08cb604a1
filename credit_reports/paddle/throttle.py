"""A rate limiter shared by every thread of the process, so Paddle never blocks us.

Paddle allows 240 requests a minute per IP address and blocks the IP for 60 seconds when a client goes
over. :class:`RateLimiter` keeps us under that with two mechanisms:

* **pacing**: requests go out evenly, one every ``per_seconds / max_requests`` (a little more, for the
  safety margin), so there is no burst, not even in the first window. Each slot is scheduled from the
  previous *slot*, not from the moment the previous waiter woke up, so a thread that wakes a few
  milliseconds late does not push every later slot back (up to 20 ms of lateness is made up; anything
  longer, e.g. an idle spell, is not, so idle time never turns into a burst);
* **a sliding log** of the last ``max_requests`` send times as a hard guarantee: a request waits until
  the oldest of them is more than one (widened) window old, whatever the pacing did.

Only one thread at a time waits for the next slot; the others queue behind it without waking up, so 32
workers do not all wake at every slot and compete for the CPU (which made wake-ups later still).

The window is widened by a small margin (2% plus 50 ms; 4% in all for windows under 2.5 s, as in
tests) so that the server, which sees our requests a little later and with jitter, never counts more
than ``max_requests`` in any window of its own: Paddle's 240 a minute becomes one every 255 ms.
On a 429, :meth:`pause` holds every thread until the server's ``Retry-After`` and :meth:`slow_down`
lowers the pace, which then recovers step by step while no further 429 arrives. :meth:`rate_limited`
does both at once and slows down only once per episode, however many workers met the same block.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["RateLimiter"]

_MARGIN_FRACTION = 0.02
_MARGIN_SECONDS = 0.05
# How late a slot may be taken and still count as on schedule: wake-up lateness up to this is made up by
# the following slots. Below Paddle's 250 ms slot, so it never lets two requests out together there.
_CATCH_UP_SECONDS = 0.02
_SLOW_DOWN_FACTOR = 0.8
_MIN_FACTOR = 0.25
_RECOVERY_STEP = 0.05


class RateLimiter:
    """Never more than ``max_requests`` in any ``per_seconds`` window, evenly paced; thread-safe.

    ``acquire()`` blocks until a request may go out. ``pause(seconds)`` makes every thread wait that
    long (after a 429). ``slow_down()`` reduces the rate to 80% (down to a floor of 25%); each
    ``per_seconds / 4`` without another slow-down gives back 5 points of the full rate.
    """

    def __init__(
        self,
        max_requests: int = 240,
        per_seconds: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if int(max_requests) < 1:
            raise ValueError("max_requests must be at least 1")
        if not per_seconds > 0:
            raise ValueError("per_seconds must be positive")
        self.max_requests = int(max_requests)
        self.per_seconds = float(per_seconds)
        self._clock = clock
        self._cond = threading.Condition()
        # Held by the one thread waiting for the next slot; the others queue on it, asleep.
        self._turn = threading.Lock()
        # The widened window the sliding log enforces, and the even spacing it implies.
        margin = min(_MARGIN_SECONDS, _MARGIN_FRACTION * self.per_seconds)
        self._window = self.per_seconds * (1.0 + _MARGIN_FRACTION) + margin
        self._interval = self._window / self.max_requests
        self._log: deque[float] = deque(maxlen=self.max_requests)
        self._next_slot = float("-inf")
        self._paused_until = float("-inf")
        self._factor = 1.0
        self._last_adjust = self._clock()
        self._acquired = 0
        self._waited = 0.0
        self._pauses = 0
        self._slow_downs = 0

    # -- public API ----------------------------------------------------------------------------------

    def acquire(self) -> float:
        """Block until one request may be sent, record it, and return the seconds waited."""
        start = self._clock()
        with self._turn, self._cond:
            while True:
                now = self._clock()
                ready_at = self._ready_at(now)
                if now >= ready_at:
                    break
                # pause() and slow_down() notify, so a wait that became too short is recomputed.
                self._cond.wait(timeout=ready_at - now)
            self._log.append(now)
            # The next slot follows this one's *slot*, not ``now``: lateness up to the catch-up allowance is
            # made up instead of shifting every later slot. The sliding log still caps every window.
            self._next_slot = max(self._next_slot, now - _CATCH_UP_SECONDS) + self._interval / self._factor
            self._acquired += 1
            waited = now - start
            self._waited += waited
            return waited

    def pause(self, seconds: float) -> None:
        """Hold every thread for ``seconds`` from now (e.g. Paddle's ``Retry-After`` after a 429)."""
        with self._cond:
            self._pause_locked(self._clock(), seconds)
            self._cond.notify_all()

    def slow_down(self) -> None:
        """Lower the pace to 80% of the current one (floor 25% of the limit); it recovers gradually."""
        with self._cond:
            self._slow_down_locked(self._clock())
            self._cond.notify_all()

    def rate_limited(self, seconds: float) -> bool:
        """A 429 arrived: pause every thread ``seconds`` and slow down, once per episode.

        Several workers in flight often meet the same block together; only the first 429 of an episode
        (one arriving while no pause is running) lowers the pace, the others only extend the pause.
        Returns True when this call started a new episode.
        """
        with self._cond:
            now = self._clock()
            new_episode = self._paused_until <= now
            self._pause_locked(now, seconds)
            if new_episode:
                self._slow_down_locked(now)
            self._cond.notify_all()
            return new_episode

    @property
    def rate_per_minute(self) -> float:
        """The current effective pace in requests a minute (lower after a slow-down)."""
        with self._cond:
            self._recover(self._clock())
            return 60.0 / (self._interval / self._factor)

    @property
    def ready_in(self) -> float:
        """Seconds until the next request may go out (0 when one may go now), by pace, pause and log."""
        with self._cond:
            now = self._clock()
            return max(0.0, self._ready_at(now) - now)

    @property
    def paused_for(self) -> float:
        """Seconds until a pause ends (0 when not paused)."""
        with self._cond:
            return max(0.0, self._paused_until - self._clock())

    @property
    def stats(self) -> dict[str, float]:
        """Counters: acquired, waited_seconds, pauses, slow_downs, rate_factor, rate_per_minute."""
        with self._cond:
            self._recover(self._clock())
            return {
                "acquired": self._acquired,
                "waited_seconds": round(self._waited, 3),
                "pauses": self._pauses,
                "slow_downs": self._slow_downs,
                "rate_factor": round(self._factor, 3),
                "rate_per_minute": round(60.0 / (self._interval / self._factor), 2),
            }

    def __repr__(self) -> str:
        return f"RateLimiter(max_requests={self.max_requests}, per_seconds={self.per_seconds:g})"

    # -- internals -----------------------------------------------------------------------------------

    def _ready_at(self, now: float) -> float:
        """When the next request may go out: its pacing slot, the end of any pause, and the sliding log."""
        self._recover(now)
        ready_at = max(self._next_slot, self._paused_until)
        if len(self._log) >= self.max_requests:
            ready_at = max(ready_at, self._log[0] + self._window)
        return ready_at

    def _pause_locked(self, now: float, seconds: float) -> None:
        """Extend the pause to ``now + seconds`` (never shorten it) and count it; the caller holds the lock."""
        until = now + max(0.0, float(seconds))
        if until > self._paused_until:
            self._paused_until = until
        self._pauses += 1

    def _slow_down_locked(self, now: float) -> None:
        """Lower the pace one step (floor 25%) and restart recovery from ``now``; the caller holds the lock."""
        self._factor = max(_MIN_FACTOR, self._factor * _SLOW_DOWN_FACTOR)
        self._last_adjust = now
        self._slow_downs += 1

    def _recover(self, now: float) -> None:
        """Give back rate after a slow-down: +5 points per quarter window without a further 429."""
        if self._factor >= 1.0:
            return
        step_seconds = self.per_seconds / 4.0
        steps = int((now - self._last_adjust) // step_seconds)
        if steps > 0:
            self._factor = min(1.0, self._factor + _RECOVERY_STEP * steps)
            self._last_adjust += steps * step_seconds


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
