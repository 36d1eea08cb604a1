"""When to try a Paddle call again: Retry-After parsing and capped exponential backoff with jitter.

Modelled on openai-python's ``_calculate_retry_timeout``: honour the server's ``Retry-After`` (seconds or
an HTTP date) when it gives one, otherwise wait a random time up to an exponentially growing, capped
ceiling ("full jitter"), so many workers that failed together do not retry together.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["parse_retry_after", "RetryPolicy"]


def parse_retry_after(value: str | float | None, now: datetime | float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value, or None when absent or unreadable.

    Accepts delta seconds (``"42"``, ``"1.5"``) and HTTP dates (``"Wed, 21 Oct 2026 07:28:00 GMT"``).
    A negative delay or a date in the past gives 0. ``now`` (a datetime or a Unix timestamp) is the
    reference time for dates; default: the current UTC time.
    """
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now is None:
        now_dt = datetime.now(UTC)
    elif isinstance(now, datetime):
        now_dt = now if now.tzinfo else now.replace(tzinfo=UTC)
    else:
        now_dt = datetime.fromtimestamp(float(now), UTC)
    return max(0.0, (when - now_dt).total_seconds())


class RetryPolicy:
    """A bounded retry schedule: ``max_attempts`` calls in all, waits of at most ``cap`` seconds.

    ``delay(attempt)`` after the ``attempt``-th failed call (1-based) is ``Retry-After`` when the server
    gave a sensible one (0..``max_retry_after`` seconds), else uniform in ``[0, min(cap, base * 2**(attempt
    - 1))]``.
    """

    def __init__(
        self,
        max_attempts: int = 5,
        base: float = 0.5,
        cap: float = 30.0,
        *,
        max_retry_after: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if base < 0 or cap < 0:
            raise ValueError("base and cap must not be negative")
        self.max_attempts = int(max_attempts)
        self.base = float(base)
        self.cap = float(cap)
        self.max_retry_after = float(max_retry_after)
        self._rng = rng or random.Random()

    def should_retry(self, attempt: int) -> bool:
        """True when another call may follow the ``attempt``-th failed one."""
        return attempt < self.max_attempts

    def ceiling(self, attempt: int) -> float:
        """The longest backoff after the ``attempt``-th failure: ``min(cap, base * 2**(attempt-1))``."""
        exponent = min(max(attempt - 1, 0), 60)
        return min(self.cap, self.base * (2.0**exponent))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before the next call, after the ``attempt``-th failed one."""
        if retry_after is not None and 0 <= retry_after <= self.max_retry_after:
            return float(retry_after)
        return self._rng.uniform(0.0, self.ceiling(attempt))

    def __repr__(self) -> str:
        return f"RetryPolicy(max_attempts={self.max_attempts}, base={self.base:g}, cap={self.cap:g})"
