"""Talking to Paddle: the client (auth, the shared per-host rate limiter, retries, pagination, call
statistics) and the throttle. The only stage that sends a request.
"""

from credit_reports.core.lazy import exports

_EXPORTS: dict[str, str] = {
    "PaddleClient": "client",
    "shared_limiter": "client",
    "ENVIRONMENTS": "client",
    "PAGE_SIZES": "client",
    "API_KEY_ENV": "client",
    "ENVIRONMENT_ENV": "client",
    "MAX_RPM": "client",
    "MAX_PAGES": "client",
    "RATE_LIMIT_PROBE_SECONDS": "client",
    "is_loopback": "client",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS)
