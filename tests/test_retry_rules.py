"""The client's retry rules as tables: whether a failed call is tried again, and how long the wait is.

The rules are pure functions (credit_reports.core.retries), so every case is one row; the last tests check
over real HTTP against the simulator that the client obeys the policy it is given.
"""

from __future__ import annotations

import random

import pytest

from credit_reports.core.errors import ServerError, UsageError
from credit_reports.core.retries import RetryPolicy, attempts_allowed, rate_limit_pause
from credit_reports.paddle.client import PaddleClient

# (status, reason, ever_connected) -> calls in all, with a budget of 5
ALLOWED = [
    (429, None, True, 5),
    (500, None, True, 5),
    (503, None, False, 5),
    (520, None, True, 5),
    (524, None, True, 5),
    (400, None, True, 1),
    (401, None, True, 1),
    (403, None, True, 1),
    (404, None, True, 1),
    (409, None, True, 1),
    (302, None, True, 1),
    (200, "malformed body", True, 5),
    (None, "connection refused", False, 3),
    (None, "host name not found", False, 3),
    (None, "connection timed out", False, 3),
    (None, "connection refused", True, 5),
    (None, "connection timed out", True, 5),
    (None, "TLS/SSL error", True, 1),
    (None, "TLS/SSL error", False, 1),
    (None, "connection dropped", False, 5),
    (None, "timed out waiting for the response", False, 5),
    (None, "response cut off", True, 5),
    (None, "connection error", False, 5),
]


@pytest.mark.parametrize(("status", "reason", "ever_connected", "expected"), ALLOWED)
def test_attempts_allowed_per_kind_of_failure(status, reason, ever_connected, expected):
    assert attempts_allowed(5, status=status, reason=reason, ever_connected=ever_connected) == expected


@pytest.mark.parametrize(("budget", "expected"), [(1, 1), (2, 2), (3, 3), (8, 3)])
def test_an_unreachable_address_never_gets_more_than_the_budget_or_three(budget, expected):
    assert attempts_allowed(budget, reason="connection refused", ever_connected=False) == expected


@pytest.mark.parametrize(
    ("attempt", "status", "reason", "expected"),
    [
        (1, 503, None, True),
        (3, 503, None, True),
        (4, 503, None, False),
        (1, 404, None, False),
        (1, None, "connection refused", True),
        (2, None, "connection refused", True),
        (3, None, "connection refused", False),
        (1, None, "TLS/SSL error", False),
        (3, 429, None, True),
        (4, 429, None, False),
    ],
)
def test_should_retry_reads_the_policys_budget(attempt, status, reason, expected):
    policy = RetryPolicy(max_attempts=4)
    assert policy.should_retry(attempt, status=status, reason=reason, ever_connected=False) is expected


@pytest.mark.parametrize(
    ("retry_after", "rate_window", "expected"),
    [
        (None, 60.0, 10.0),  # no Retry-After: a 10 s probe per 60 s of window, not the whole block
        (None, 1.2, 0.2),
        (None, 6.0, 1.0),
        (0.0, 60.0, 0.0),
        (42.0, 60.0, 42.0),
        (299.0, 60.0, 299.0),
        (301.0, 60.0, 300.0),  # never more than five minutes, whatever the server says
        (86_400.0, 60.0, 300.0),
        (None, 3600.0, 300.0),
    ],
)
def test_rate_limit_pause(retry_after, rate_window, expected):
    assert rate_limit_pause(retry_after, rate_window) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("attempt", "retry_after", "low", "high"),
    [
        (1, None, 0.0, 0.5),
        (2, None, 0.0, 1.0),
        (3, None, 0.0, 2.0),
        (7, None, 0.0, 3.0),
        (2, 1.5, 1.5, 1.5),
        (5, 0.0, 0.0, 0.0),
        (1, 60.0, 60.0, 60.0),
        (1, 61.0, 0.0, 0.5),  # beyond max_retry_after: back off as if none was given
        (1, -1.0, 0.0, 0.5),
    ],
)
def test_backoff_delay(attempt, retry_after, low, high):
    policy = RetryPolicy(base=0.5, cap=3.0, rng=random.Random(attempt))
    for _ in range(50):
        assert low <= policy.delay(attempt, retry_after) <= high


def test_a_policy_given_alone_sets_the_clients_attempt_budget(make_sim):
    sim = make_sim(customers=10, seed=1)
    sim.inject("503", count=10)
    client = PaddleClient(sim.api_key, base_url=sim.base_url, max_rpm=600, rate_window=1.0,
                          retry_policy=RetryPolicy(max_attempts=2, base=0.001, cap=0.002))
    assert client.max_attempts == 2
    with pytest.raises(ServerError) as caught:
        client.get("/")
    assert caught.value.attempts == 2 and sim.stats["requests"] == 2


def test_max_attempts_alone_builds_the_policy_and_a_contradiction_is_refused(sim):
    assert PaddleClient(sim.api_key, base_url=sim.base_url, max_attempts=3).retry_policy.max_attempts == 3
    assert PaddleClient(sim.api_key, base_url=sim.base_url).retry_policy.max_attempts == 5
    with pytest.raises(UsageError, match="contradicts"):
        PaddleClient(sim.api_key, base_url=sim.base_url, max_attempts=3, retry_policy=RetryPolicy(max_attempts=2))
    with pytest.raises(UsageError, match="at least 1"):
        PaddleClient(sim.api_key, base_url=sim.base_url, max_attempts=0)
