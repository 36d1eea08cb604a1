"""What makes the simulator misbehave on purpose: Paddle's per-IP rate limit, injected faults, statistics.

Kept apart from the HTTP handler so each piece is small and testable: the handler asks the rate limiter
whether an IP may be served, asks the fault book whether this request should fail, and records every
request in the statistics (which a benchmark reads to prove it was never blocked).
"""

from __future__ import annotations

import math
import threading
from collections import Counter, deque
from dataclasses import dataclass

FAULTS = frozenset({
    "429", "429-date", "429-bare", "500", "502", "503", "504", "520", "521", "522", "523", "524",
    "drop", "slow", "malformed",
})


class RateLimiter:
    """Paddle's limit: more than ``rpm`` requests from one IP in a sliding window blocks that IP.

    While blocked, every request from the IP gets 429 with ``Retry-After`` set to the seconds left.
    """

    def __init__(self, rpm: int, window_seconds: float = 60.0, block_seconds: float = 60.0) -> None:
        if rpm < 1:
            raise ValueError("rpm must be at least 1")
        self.rpm = rpm
        self.window = window_seconds
        self.block = block_seconds
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}

    def check(self, ip: str, now: float) -> int | None:
        """Record a request from ``ip``; return the Retry-After seconds if it must get 429, else None."""
        with self._lock:
            until = self._blocked_until.get(ip, 0.0)
            if until > now:
                return max(1, math.ceil(until - now))
            seen = self._seen.setdefault(ip, deque())
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            seen.append(now)
            if len(seen) > self.rpm:
                self._blocked_until[ip] = now + self.block
                seen.clear()
                return max(1, math.ceil(self.block))
            return None


@dataclass
class Fault:
    """A fault waiting to hit the next ``remaining`` requests whose path starts with ``path``."""

    kind: str
    remaining: int
    path: str | None
    retry_after: int


class FaultBook:
    """Faults queued by ``Simulator.inject`` and customers made to fail by ``fail_customer``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []
        self._customers: dict[str, int] = {}

    def inject(self, kind: str, count: int = 1, path: str | None = None, retry_after: int = 1) -> None:
        """Queue ``count`` occurrences of fault ``kind`` (see FAULTS)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; choose one of {', '.join(sorted(FAULTS))}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._queue.append(Fault(kind, count, path, retry_after))

    def take(self, path: str) -> Fault | None:
        """The first queued fault matching ``path``, consuming one of its occurrences; else None."""
        with self._lock:
            for fault in self._queue:
                if fault.path is None or path.startswith(fault.path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._queue.remove(fault)
                    return fault
        return None

    def fail_customer(self, customer_id: str, status: int = 500) -> None:
        """Make every credit-balances call for this customer answer ``status`` until cleared."""
        with self._lock:
            self._customers[customer_id] = status

    def customer_status(self, customer_id: str) -> int | None:
        """The failure status set for this customer, if any."""
        with self._lock:
            return self._customers.get(customer_id)

    def clear(self) -> None:
        """Forget every queued fault and failing customer."""
        with self._lock:
            self._queue.clear()
            self._customers.clear()


class Stats:
    """Request counts for tests and benchmarks, including the busiest sliding window seen."""

    def __init__(self, window_seconds: float = 60.0) -> None:
        self.window = window_seconds
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Start counting again from zero."""
        with self._lock:
            self._requests = 0
            self._by_path: Counter[str] = Counter()
            self._rate_limited = 0
            self._injected = 0
            self._max_in_window = 0
            self._recent: deque[float] = deque()

    def request(self, path_template: str, now: float) -> None:
        """Count one request and update the largest number seen within any window."""
        with self._lock:
            self._requests += 1
            self._by_path[path_template] += 1
            recent = self._recent
            recent.append(now)
            while recent[0] <= now - self.window:
                recent.popleft()
            self._max_in_window = max(self._max_in_window, len(recent))

    def rate_limited(self) -> None:
        """Count a 429 sent by the rate limiter."""
        with self._lock:
            self._rate_limited += 1

    def injected(self) -> None:
        """Count a response spoiled by an injected fault or a failing customer."""
        with self._lock:
            self._injected += 1

    def snapshot(self) -> dict:
        """A copy of the counters: requests, by_path, rate_limited, injected, max_in_window."""
        with self._lock:
            return {"requests": self._requests, "by_path": dict(self._by_path),
                    "rate_limited": self._rate_limited, "injected": self._injected,
                    "max_in_window": self._max_in_window}
