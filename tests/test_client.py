"""PaddleClient against the local Paddle simulator over real HTTP: pagination, errors, retries, secrecy.

Expected counts come from the simulator's own account (``sim.account``) and request statistics
(``sim.stats``), or are worked out by hand from the page sizes; never from the client under test.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from credit_reports.core.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PaddleError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UsageError,
    error_from_response,
)
from credit_reports.core.retries import RetryPolicy
from credit_reports.paddle.client import PaddleClient

UNKNOWN_CUSTOMER = "ctm_" + "0" * 26
FAST_RETRIES = RetryPolicy(max_attempts=5, base=0.01, cap=0.05)


def _client(sim, **kwargs) -> PaddleClient:
    """A client for ``sim`` with a fast limiter and fast backoff, so fault tests take milliseconds."""
    kwargs.setdefault("max_rpm", 600)
    kwargs.setdefault("rate_window", 1.0)
    max_attempts = kwargs.setdefault("max_attempts", 5)
    kwargs.setdefault("retry_policy", RetryPolicy(max_attempts=max_attempts, base=0.01, cap=0.05))
    return PaddleClient(kwargs.pop("api_key", sim.api_key), base_url=sim.base_url, **kwargs)


def _requests_to(sim, template: str) -> int:
    return sim.stats["by_path"].get(template, 0)


# -- pagination ------------------------------------------------------------------------------------


def test_archived_customers_are_included_when_the_status_filter_asks_for_them(sim):
    client = _client(sim)
    every = [c["id"] for c in client.paginate("/customers", {"status": ["active", "archived"]})]
    expected = {c["id"] for c in sim.account.customers}
    assert len(every) == len(expected) == 300
    assert set(every) == expected
    archived = {c["id"] for c in sim.account.customers if c["status"] == "archived"}
    assert archived, "the simulator's account must hold archived customers for this test to mean anything"
    active_only = {c["id"] for c in client.paginate("/customers")}
    assert active_only == expected - archived


def test_stops_on_has_more_false_even_when_next_is_present(make_sim):
    sim = make_sim(customers=45, seed=5)
    total = len(sim.account.customers)
    per_page = 10
    # The premise: Paddle (and the simulator) return `next` on the last page too.
    last_after = sorted(c["id"] for c in sim.account.customers)[(total // per_page) * per_page - 1]
    raw = requests.get(
        f"{sim.base_url}/customers",
        params={"status": "active,archived", "per_page": per_page, "order_by": "id[ASC]", "after": last_after},
        headers={"Authorization": f"Bearer {sim.api_key}"},
        timeout=5,
    ).json()
    assert raw["meta"]["pagination"]["has_more"] is False and raw["meta"]["pagination"]["next"]
    sim.reset_stats()
    items = list(_client(sim).paginate("/customers", {"status": "active,archived"}, per_page=per_page))
    assert len(items) == total
    assert _requests_to(sim, "/customers") == math.ceil(total / per_page)


def test_asks_for_the_largest_page_each_list_allows(make_sim):
    sim = make_sim(customers=600, seed=9)  # credit adjustments are rare since March 2024: 72 of them here
    client = _client(sim)
    n_customers = len(sim.account.customers)
    n_adjustments = len(sim.account.adjustments)
    n_subscriptions = len(sim.account.subscriptions)
    assert n_adjustments > 50 and n_subscriptions > 0

    sim.reset_stats()
    assert len(list(client.paginate("/customers", {"status": "active,archived"}))) == n_customers
    assert _requests_to(sim, "/customers") == math.ceil(n_customers / 200)

    assert len(list(client.paginate("/adjustments"))) == n_adjustments
    assert _requests_to(sim, "/adjustments") == math.ceil(n_adjustments / 50)

    assert len(list(client.paginate("/subscriptions"))) == n_subscriptions
    assert _requests_to(sim, "/subscriptions") == math.ceil(n_subscriptions / 200)


def test_filters_survive_every_page(sim):
    client = _client(sim)
    credits = list(client.paginate("/adjustments", {"action": "credit"}, per_page=7))
    expected = [a for a in sim.account.adjustments.items if a["action"] == "credit"]
    assert len(credits) == len(expected) > 7
    assert all(a["action"] == "credit" for a in credits)


def test_list_values_are_sent_comma_separated(sim):
    client = _client(sim)
    some = [c["id"] for c in sim.account.customers[:3]]
    found = list(client.paginate("/customers", {"id": some, "status": ("active", "archived")}))
    assert sorted(c["id"] for c in found) == sorted(some)


class _Recorder(BaseHTTPRequestHandler):
    """A tiny real HTTP server that records requests and answers a two-page list with foreign `next`."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, dict[str, str]]]

    def log_message(self, *args) -> None:  # stay quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.server.seen.append((self.path, dict(self.headers)))
        if self.path.startswith("/moved"):
            self.send_response(301)
            self.send_header("Location", "https://elsewhere.invalid/customers?token=abc")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        second = "after=" in self.path
        body = {
            "data": [{"id": "b"}] if second else [{"id": "a"}],
            "meta": {
                "request_id": "r",
                "pagination": {
                    "per_page": 1,
                    # A link to another origin: the key must never be sent there.
                    "next": "https://elsewhere.invalid:8443/customers?per_page=1&after=" + ("b" if second else "a"),
                    "has_more": not second,
                    "estimated_total": -1,
                },
            },
        }
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def recorder() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_sends_auth_version_user_agent_and_skip_count_and_rebases_foreign_next_links(recorder):
    base = f"http://127.0.0.1:{recorder.server_address[1]}"
    client = PaddleClient("pdl_sdbx_apikey_recorder", base_url=base, max_rpm=600, rate_window=1.0)
    assert [item["id"] for item in client.paginate("/customers", per_page=1)] == ["a", "b"]
    paths = [path for path, _ in recorder.seen]
    assert paths == ["/customers?per_page=1", "/customers?per_page=1&after=a"]
    for number, (_, headers) in enumerate(recorder.seen):
        assert headers["Authorization"] == "Bearer pdl_sdbx_apikey_recorder"
        assert headers["Paddle-Version"] == "1"
        # the first page asks for estimated_total (the listing's bound), the rest skip counting
        assert headers.get("Skip-Count") == (None if number == 0 else "true")
        assert headers["User-Agent"].startswith("credit-reports/") and "python-requests" in headers["User-Agent"]


def test_redirects_are_not_followed_so_the_key_never_leaves_the_base_url(recorder):
    base = f"http://127.0.0.1:{recorder.server_address[1]}"
    client = PaddleClient("pdl_sdbx_apikey_recorder", base_url=base, max_rpm=600, rate_window=1.0)
    with pytest.raises(PaddleError) as caught:
        client.get("/moved")
    assert caught.value.status == 301 and len(recorder.seen) == 1
    assert "elsewhere.invalid" in str(caught.value) and "token=abc" not in str(caught.value)


# -- errors ----------------------------------------------------------------------------------------


def test_check_returns_the_api_root_with_the_keys_permissions(sim):
    root = _client(sim).check()
    assert "customer.read" in root["data"]["permissions"]


def test_wrong_key_is_an_authentication_error_naming_the_environment_and_is_not_retried(sim):
    client = _client(sim, api_key="pdl_live_apikey_not_known_to_the_simulator", environment="sandbox")
    before = _requests_to(sim, "/customers")
    with pytest.raises(AuthenticationError) as caught:
        client.get("/customers")
    err = caught.value
    assert (err.status, err.code, err.attempts) == (403, "invalid_token", 1)
    assert _requests_to(sim, "/customers") - before == 1
    assert f"for environment 'sandbox' at {sim.base_url}" in str(err)
    assert "sandbox and production keys differ" in str(err)
    assert "looks like a production key" in str(err) and "PADDLE_ENVIRONMENT=production" in str(err)


def test_a_key_the_local_simulator_does_not_know_is_told_to_use_the_simulators_key(sim):
    client = _client(sim, api_key="pdl_sdbx_apikey_not_known_to_the_simulator")
    assert client.environment == "local"
    with pytest.raises(AuthenticationError) as caught:
        client.get("/customers")
    text = str(caught.value)
    assert "looks like" not in text and "sandbox and production" not in text
    assert "the simulator accepts only the key `credit-reports simulator` printed" in text


def test_a_refused_key_of_the_right_environment_is_called_revoked_expired_or_mistyped():
    from credit_reports.core.errors import _key_hint

    assert "revoked, expired or mistyped" in _key_hint("sandbox", "sandbox")
    assert "check PADDLE_ENVIRONMENT matches your key" in _key_hint("production", None)
    assert "a key that server issued" in _key_hint("custom", "sandbox")


def test_missing_authorization_header_maps_to_authentication_error(sim):
    response = requests.get(f"{sim.base_url}/customers", timeout=5)
    err = error_from_response(response.status_code, response.content, response.headers, "/customers")
    assert type(err) is AuthenticationError
    assert (err.status, err.code) == (403, "authentication_missing")
    assert "PADDLE_API_KEY" in str(err)


def test_key_without_a_permission_is_permission_denied(make_sim):
    sim = make_sim(customers=10, seed=1)
    sim.add_key("pdl_sdbx_apikey_customers_only", {"customer.read"})
    client = _client(sim, api_key="pdl_sdbx_apikey_customers_only")
    assert len(list(client.paginate("/customers"))) > 0
    with pytest.raises(PermissionDeniedError) as caught:
        client.get("/adjustments")
    assert (caught.value.status, caught.value.code) == (403, "forbidden")
    assert "adjustment.read" in str(caught.value)


def test_unknown_customer_is_not_found_and_not_retried(sim):
    client = _client(sim)
    before = _requests_to(sim, "/customers/{id}/credit-balances")
    with pytest.raises(NotFoundError) as caught:
        client.get(f"/customers/{UNKNOWN_CUSTOMER}/credit-balances")
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    assert caught.value.path == f"/customers/{UNKNOWN_CUSTOMER}/credit-balances"
    assert caught.value.request_id
    assert _requests_to(sim, "/customers/{id}/credit-balances") - before == 1


def test_bad_parameter_is_a_bad_request_with_field_errors(sim):
    with pytest.raises(BadRequestError) as caught:
        _client(sim).get("/customers", {"per_page": "lots"})
    assert caught.value.status == 400
    assert [e["field"] for e in caught.value.errors] == ["per_page"]


# -- retries ---------------------------------------------------------------------------------------


def test_429_with_seconds_pauses_for_retry_after_then_succeeds(make_sim):
    sim = make_sim(customers=10, seed=1)
    sim.inject("429", retry_after=1)
    client = _client(sim)
    start = time.monotonic()
    assert client.get("/")["data"]["permissions"]
    assert time.monotonic() - start >= 0.95
    assert sim.stats["requests"] == 2
    assert client.stats == {"calls": 2, "retries": 1, "rate_limited": 1, "failures": 0}
    assert client.limiter.stats["pauses"] == 1 and client.limiter.stats["slow_downs"] == 1


def test_429_with_an_http_date_pauses_until_that_date(make_sim):
    sim = make_sim(customers=10, seed=1)
    sim.inject("429-date", retry_after=2)  # a date 2 s ahead, to the second: 1-2 s from now
    client = _client(sim)
    start = time.monotonic()
    client.get("/")
    assert time.monotonic() - start >= 0.9
    assert client.stats["rate_limited"] == 1 and sim.stats["requests"] == 2


def test_429_without_retry_after_waits_the_short_probe_default_not_a_whole_window(make_sim):
    # 10 s per 60 s of window (RATE_LIMIT_PROBE_SECONDS): with a 1.2 s window, 0.2 s, not 1.2 s.
    sim = make_sim(customers=10, seed=1)
    sim.inject("429-bare")
    client = _client(sim, rate_window=1.2, max_rpm=300)
    start = time.monotonic()
    client.get("/")
    elapsed = time.monotonic() - start
    assert 0.19 <= elapsed < 0.9, elapsed
    assert client.stats["rate_limited"] == 1 and sim.stats["requests"] == 2


def test_persistent_429_raises_rate_limit_error_after_max_attempts(make_sim):
    sim = make_sim(customers=10, seed=1)
    sim.inject("429", count=10, retry_after=0)
    client = _client(sim, max_attempts=3)
    with pytest.raises(RateLimitError) as caught:
        client.get("/")
    assert caught.value.retry_after == 0.0 and caught.value.attempts == 3
    assert sim.stats["requests"] == 3
    assert client.stats["failures"] == 1


@pytest.mark.parametrize("fault", ["500", "502", "503", "504", "520", "521", "522", "523", "524"])
def test_server_and_edge_errors_are_retried_then_succeed(make_sim, fault):
    sim = make_sim(customers=10, seed=1)
    sim.inject(fault, count=2)
    client = _client(sim)
    assert client.get("/")["data"]["permissions"]
    assert sim.stats["requests"] == 3
    assert client.stats["retries"] == 2 and client.stats["failures"] == 0


def test_persistent_server_error_raises_after_max_attempts(make_sim):
    sim = make_sim(customers=10, seed=1)
    sim.inject("503", count=10)
    client = _client(sim, max_attempts=4)
    with pytest.raises(ServerError) as caught:
        client.get("/customers")
    assert caught.value.status == 503 and caught.value.attempts == 4
    assert sim.stats["requests"] == 4
    assert "after 4 attempts" in str(caught.value)


def test_malformed_body_is_retried_then_raised_as_connection_error(make_sim):
    sim = make_sim(customers=10, seed=1)
    sim.inject("malformed")
    client = _client(sim, max_attempts=2)
    assert client.get("/")["data"]["permissions"]
    assert sim.stats["requests"] == 2
    sim.inject("malformed", count=2)
    with pytest.raises(APIConnectionError) as caught:
        client.get("/")
    assert caught.value.reason == "malformed body"


def test_dropped_connection_is_retried(make_sim):
    sim = make_sim(customers=10, seed=1)
    sim.inject("drop", count=2)
    client = _client(sim)
    assert client.get("/")["data"]["permissions"]
    assert sim.stats["requests"] == 3 and client.stats["retries"] == 2


def test_slow_response_times_out_and_is_retried(make_sim):
    sim = make_sim(customers=10, seed=1)
    sim.inject("slow")
    client = _client(sim, timeout=0.4)
    assert client.get("/")["data"]["permissions"]
    assert sim.stats["requests"] == 2 and client.stats["retries"] == 1


def test_a_pagination_page_failing_once_is_retried_without_losing_items(make_sim):
    sim = make_sim(customers=60, seed=2)
    sim.inject("502", count=1, path="/customers")
    sim.inject("drop", count=1, path="/customers")
    ids = [c["id"] for c in _client(sim).paginate("/customers", {"status": "active,archived"}, per_page=25)]
    assert sorted(ids) == sorted(c["id"] for c in sim.account.customers)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_base_url_fails_fast_with_one_clear_line():
    base = f"http://127.0.0.1:{_free_port()}"
    client = PaddleClient("pdl_sdbx_apikey_x", base_url=base)
    start = time.monotonic()
    with pytest.raises(APIConnectionError) as caught:
        client.check()
    assert time.monotonic() - start < 5.0
    text = str(caught.value)
    assert caught.value.reason == "connection refused" and base in text and "\n" not in text
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_429_pauses_every_thread_sharing_the_client(make_sim, caplog):
    sim = make_sim(customers=10, seed=1)
    client = _client(sim, max_rpm=1000)
    sim.inject("429", retry_after=1)
    done: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            client.get("/")
            with lock:
                done.append(time.time())

    caplog.set_level(logging.INFO, logger="credit_reports.paddle")  # a cured 429 is INFO (-v)
    pool = [threading.Thread(target=worker) for _ in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    hit = [r.created for r in caplog.records if "rate limited" in r.getMessage()]
    assert len(hit) == 1 and len(done) == 20
    # After the 429, no call anywhere completes until Retry-After has passed (in-flight ones aside).
    assert not [t for t in done if hit[0] + 0.1 < t < hit[0] + 0.9]
    assert sum(t >= hit[0] + 0.9 for t in done) >= 10, "the other threads waited, then finished"


# -- configuration and secrecy ---------------------------------------------------------------------


def test_missing_key_is_a_usage_error_naming_the_variable():
    with pytest.raises(UsageError, match="PADDLE_API_KEY"):
        PaddleClient()


def test_key_and_environment_come_from_the_environment_variables(monkeypatch):
    monkeypatch.setenv("PADDLE_API_KEY", "pdl_sdbx_apikey_from_env")
    monkeypatch.setenv("PADDLE_ENVIRONMENT", "sandbox")
    client = PaddleClient()
    assert (client.environment, client.base_url) == ("sandbox", "https://sandbox-api.paddle.com")
    monkeypatch.delenv("PADDLE_ENVIRONMENT")
    assert PaddleClient().base_url == "https://api.paddle.com"
    assert PaddleClient().environment == "production"


@pytest.mark.parametrize(
    ("kwargs", "environment"),
    [
        ({"base_url": "http://127.0.0.1:8080/"}, "local"),
        ({"base_url": "http://localhost:1"}, "local"),
        ({"base_url": "http://[::1]:9"}, "local"),
        ({"base_url": "https://paddle-proxy.example.com"}, "custom"),
        ({"base_url": "https://paddle-proxy.example.com", "environment": "sandbox"}, "sandbox"),
    ],
)
def test_base_url_overrides_the_environment(kwargs, environment):
    client = PaddleClient("k", **kwargs)
    assert client.environment == environment
    assert client.base_url == kwargs["base_url"].rstrip("/")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"environment": "staging"},
        {"base_url": "ftp://example.com"},
        {"base_url": "127.0.0.1:8080"},
        {"base_url": "http://user:pw@example.com"},
        {"max_rpm": 0},
    ],
)
def test_bad_settings_are_usage_errors(kwargs):
    with pytest.raises(UsageError) as caught:
        PaddleClient("k", **kwargs)
    assert "\n" not in str(caught.value)


def test_key_with_control_characters_is_refused_without_echoing_it():
    with pytest.raises(UsageError) as caught:
        PaddleClient("pdl_sdbx_apikey_s3cr3tvalue\r\nX-Evil: 1")
    assert "s3cr3tvalue" not in str(caught.value)


def test_the_key_never_appears_in_reprs_messages_tracebacks_or_logs(make_sim, caplog):
    secret = "pdl_sdbx_apikey_01zzdistinctivesecretmarker0000_QQQ"
    wrong = "pdl_live_apikey_01ZZ_another_distinctive_wrong_key_WWW"  # not a live-key shape
    sim = make_sim(customers=10, seed=1)
    sim.add_key(secret, {"customer.read"})
    caplog.set_level(logging.DEBUG)
    client = _client(sim, api_key=secret, max_attempts=2)
    failures: list[BaseException] = []
    sim.inject("503", count=2)
    sim.inject("drop", count=2)
    sim.inject("malformed", count=2)
    for call in (
        lambda: client.get("/"),
        lambda: client.get("/"),
        lambda: client.get("/"),
        lambda: client.get(f"/customers/{UNKNOWN_CUSTOMER}/credit-balances"),
        lambda: client.get("/adjustments"),
        lambda: _client(sim, api_key=wrong).get("/customers"),
        lambda: PaddleClient(secret, base_url=f"http://127.0.0.1:{_free_port()}", max_attempts=1).check(),
    ):
        with pytest.raises(Exception) as caught:  # noqa: PT011 - every kind of failure is wanted here
            call()
        failures.append(caught.value)
    assert len(failures) == 7
    texts = [repr(client), str(client), caplog.text]
    for err in failures:
        texts += [str(err), repr(err), "".join(traceback.format_exception(err)), repr(vars(err))]
    for text in texts:
        assert secret not in text and "distinctivesecretmarker" not in text
        assert wrong not in text
    assert caplog.records, "the calls above must have logged something for this check to mean anything"
