"""When to try a Paddle call again, and how long to wait first: the client's retry rules in one place.

*Whether* to retry (stripe-python's ``_should_retry``): :func:`attempts_allowed` says how many calls in all
a request may make after a failure of a given kind; 429, 5xx (520-524 included), dropped connections,
timeouts and malformed bodies get the whole budget, other 4xx and redirects one call, a TLS failure one,
and a refused or unresolvable address only ``CONNECT_REFUSED_ATTEMPTS`` until a connection has worked.

*How long* to wait (openai-python's ``_calculate_retry_timeout``): :meth:`RetryPolicy.delay` honours the
server's ``Retry-After`` (seconds or an HTTP date) when it gives one, otherwise waits a random time up to
an exponentially growing, capped ceiling ("full jitter"), so many workers that failed together do not
retry together; :func:`rate_limit_pause` is the pause every worker takes after a 429.

These are pure functions of their arguments, so tests reach them with a table of cases; the attempt budget
has one home, :attr:`RetryPolicy.max_attempts`, which the client reads.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = [
    "parse_retry_after", "RetryPolicy", "attempts_allowed", "rate_limit_pause", "UNREACHABLE",
    "CONNECT_REFUSED_ATTEMPTS", "RATE_LIMIT_PROBE_SECONDS", "MAX_RATE_LIMIT_PAUSE",
]

#: Connection failures that suggest a wrong or unreachable address rather than a passing fault.
UNREACHABLE = frozenset({"connection refused", "host name not found", "connection timed out"})
#: Calls allowed for an UNREACHABLE failure before any connection has worked: fail fast on a wrong URL.
CONNECT_REFUSED_ATTEMPTS = 3
#: Wait after a 429 without Retry-After, per 60 s of rate window, before probing again (Paddle's block is
#: 60 s; a shorter probe finds its end sooner, and a probe met by another 429 only waits again).
RATE_LIMIT_PROBE_SECONDS = 10.0
#: The longest pause a 429 imposes, whatever its Retry-After says.
MAX_RATE_LIMIT_PAUSE = 300.0


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


def attempts_allowed(
    max_attempts: int, *, status: int | None = None, reason: str | None = None, ever_connected: bool = True
) -> int:
    """How many calls in all a request may make, given how its latest call failed.

    ``status`` is the HTTP status when one came back (None for a connection failure); ``reason`` the
    connection failure's name (``"connection refused"``, ``"TLS/SSL error"``, ``"malformed body"``...).
    429 and 5xx get ``max_attempts``; any other non-2xx status one call (asking again changes nothing).
    Without a usable status: a TLS failure one call, an UNREACHABLE one ``CONNECT_REFUSED_ATTEMPTS`` at
    most while no connection has ever worked (``ever_connected``), anything else ``max_attempts``.
    """
    if status is not None and not 200 <= status < 300:
        return max_attempts if status == 429 or status >= 500 else 1
    if reason == "TLS/SSL error":
        return 1
    if reason in UNREACHABLE and not ever_connected:
        return min(max_attempts, CONNECT_REFUSED_ATTEMPTS)
    return max_attempts


def rate_limit_pause(retry_after: float | None, rate_window: float) -> float:
    """Seconds every worker pauses after a 429: ``Retry-After`` when given, else a short probe wait
    (``RATE_LIMIT_PROBE_SECONDS`` per 60 s of ``rate_window``), never more than ``MAX_RATE_LIMIT_PAUSE``."""
    wait = retry_after if retry_after is not None else RATE_LIMIT_PROBE_SECONDS * rate_window / 60.0
    return min(wait, MAX_RATE_LIMIT_PAUSE)


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

    def attempts_allowed(
        self, *, status: int | None = None, reason: str | None = None, ever_connected: bool = True
    ) -> int:
        """Calls in all for a request whose latest call failed so (see :func:`attempts_allowed`)."""
        return attempts_allowed(self.max_attempts, status=status, reason=reason, ever_connected=ever_connected)

    def should_retry(
        self, attempt: int, *, status: int | None = None, reason: str | None = None, ever_connected: bool = True
    ) -> bool:
        """True when another call may follow the ``attempt``-th failed one (failed so)."""
        return attempt < self.attempts_allowed(status=status, reason=reason, ever_connected=ever_connected)

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


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
