"""A PaddleClient for tests: pointed at a simulator, no practical rate limit, quick retries."""

from __future__ import annotations

from typing import Any

from credit_reports.core.retries import RetryPolicy
from credit_reports.paddle.client import PaddleClient


def client_for(sim: Any, api_key: str | None = None, **kwargs: Any) -> PaddleClient:
    """The production client on ``sim``; two attempts with millisecond backoff keep fault tests fast."""
    kwargs.setdefault("max_rpm", 100_000)
    attempts = kwargs.pop("max_attempts", 2)
    return PaddleClient(api_key or sim.api_key, base_url=sim.base_url, max_attempts=attempts,
                        retry_policy=RetryPolicy(max_attempts=attempts, base=0.01, cap=0.02), **kwargs)
