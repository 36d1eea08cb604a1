"""The error hierarchy, Retry-After parsing and the backoff schedule (no server needed).

Expected classes and values come from Paddle's documented example bodies in ../shared/paddle/examples
and from hand-written envelopes, never from the code under test.
"""

from __future__ import annotations

import json
import pickle
import random
from datetime import UTC, datetime

import pytest

from credit_reports.core.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    CreditReportsError,
    NotFoundError,
    PaddleError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UsageError,
    error_from_response,
)
from credit_reports.core.retries import RetryPolicy, parse_retry_after


def _envelope(code: str, detail: str = "detail text", type_: str = "request_error", **extra) -> bytes:
    error = {"type": type_, "code": code, "detail": detail, "documentation_url": "https://x/" + code, **extra}
    return json.dumps({"error": error, "meta": {"request_id": "req-123"}}).encode()


@pytest.fixture(scope="module")
def documented(shared_dir):
    return json.loads((shared_dir / "paddle" / "examples" / "error_bodies.json").read_text())


EXPECTED_CLASSES = {
    "400_bad_request": BadRequestError,
    "404_not_found": NotFoundError,
    "400_address_location_not_allowed": BadRequestError,
    "429_too_many_requests": RateLimitError,
}


def test_documented_error_bodies_map_to_their_classes_with_every_field(documented):
    cases = {k: v for k, v in documented.items() if not k.startswith("_")}
    assert set(cases) == set(EXPECTED_CLASSES), "a new documented example needs an expected class here"
    for name, case in cases.items():
        body = json.dumps(case["body"]).encode()
        err = error_from_response(case["status"], body, case["headers"], "/customers")
        assert type(err) is EXPECTED_CLASSES[name], name
        assert err.status == case["status"]
        assert err.code == case["body"]["error"]["code"]
        assert err.detail == case["body"]["error"]["detail"]
        assert err.documentation_url == case["body"]["error"]["documentation_url"]
        assert err.request_id == "f00bb3ca-399d-4686-889c-50b028f4c912"
        assert err.path == "/customers"
        assert "\n" not in str(err) and "f00bb3ca-399d-4686-889c-50b028f4c912" in str(err)


def test_documented_400_keeps_field_errors_and_shows_them(documented):
    case = documented["400_bad_request"]
    err = error_from_response(400, json.dumps(case["body"]).encode(), {}, "/customers")
    assert err.errors == [{"field": "some_field", "message": "Some error message"}]
    assert "some_field: Some error message" in str(err)


def test_documented_429_reads_retry_after_seconds_from_the_header(documented):
    case = documented["429_too_many_requests"]
    err = error_from_response(429, json.dumps(case["body"]).encode(), case["headers"], "/customers")
    assert err.retry_after == 42.0
    assert "42 s" in str(err)


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "unauthorized", AuthenticationError),
        (403, "authentication_missing", AuthenticationError),
        (403, "invalid_token", AuthenticationError),
        (403, "forbidden", PermissionDeniedError),
        (404, "not_found", NotFoundError),
        (400, "bad_request", BadRequestError),
        (429, "too_many_requests", RateLimitError),
        (500, "internal_error", ServerError),
        (503, "service_unavailable", ServerError),
        (409, "conflict", PaddleError),
    ],
)
def test_status_and_code_pick_the_class(status, code, cls):
    err = error_from_response(status, _envelope(code), {}, "/customers")
    assert type(err) is cls
    assert (err.status, err.code, err.request_id) == (status, code, "req-123")


def test_class_is_chosen_from_status_and_code_never_from_type():
    # Sources disagree on `type` for 429; a misleading type must not change the class.
    assert type(error_from_response(429, _envelope("too_many_requests", type_="api_error"), {})) is RateLimitError
    assert type(error_from_response(403, _envelope("forbidden", type_="api_error"), {})) is PermissionDeniedError
    assert type(error_from_response(500, _envelope("internal_error", type_="request_error"), {})) is ServerError


@pytest.mark.parametrize("status", [520, 521, 522, 523, 524, 502, 504])
def test_edge_html_pages_become_server_errors_with_a_short_detail(status):
    page = f"<html><head><title>example.com | {status}: Web server is down</title></head>"
    page += "<body>" + "lots of markup " * 200 + "</body></html>"
    err = error_from_response(status, page.encode(), {"Content-Type": "text/html"}, "/customers")
    assert type(err) is ServerError
    assert err.status == status and err.code is None and err.request_id is None
    assert err.detail == f"example.com | {status}: Web server is down"
    assert "<" not in str(err) and len(str(err)) < 300


def test_plain_text_and_empty_bodies_are_handled():
    long_text = "upstream connect error or disconnect/reset before headers " * 20
    err = error_from_response(503, long_text.encode(), {}, "/")
    assert type(err) is ServerError and len(err.detail) <= 160 and err.detail.startswith("upstream connect")
    empty = error_from_response(502, b"", {}, "/")
    assert type(empty) is ServerError and empty.detail is None
    assert "502" in str(empty)


def test_request_id_falls_back_to_the_response_header_when_the_body_has_no_meta():
    body = json.dumps({"error": {"type": "request_error", "code": "too_many_requests", "detail": "slow"}})
    err = error_from_response(429, body.encode(), {"request-id": "hdr-9", "retry-after": "7"}, "/events")
    assert err.request_id == "hdr-9" and err.retry_after == 7.0


def test_key_refused_message_names_the_environment_url_and_the_sandbox_production_hint():
    err = error_from_response(
        403, _envelope("invalid_token"), {}, "/customers",
        environment="sandbox", base_url="https://sandbox-api.paddle.com",
    )
    text = str(err)
    assert text.startswith("Paddle refused the API key (403 invalid_token) for environment 'sandbox' at "
                           "https://sandbox-api.paddle.com: sandbox and production keys differ")
    assert "PADDLE_ENVIRONMENT" in text and text.endswith("[request_id req-123]")
    missing = error_from_response(403, _envelope("authentication_missing"), {}, "/customers")
    assert "PADDLE_API_KEY" in str(missing)


def test_hierarchy_lets_callers_catch_broadly_or_narrowly():
    for cls in (BadRequestError, AuthenticationError, PermissionDeniedError, NotFoundError, RateLimitError,
                ServerError, APIConnectionError):
        assert issubclass(cls, PaddleError) and issubclass(cls, CreditReportsError)
    assert issubclass(UsageError, CreditReportsError) and not issubclass(UsageError, PaddleError)


def test_errors_survive_pickling_with_their_attributes():
    err = error_from_response(429, _envelope("too_many_requests"), {"Retry-After": "3"}, "/adjustments")
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is RateLimitError
    assert (copy.status, copy.code, copy.retry_after, copy.path, str(copy)) == (
        429, "too_many_requests", 3.0, "/adjustments", str(err))


# -- Retry-After -----------------------------------------------------------------------------------

NOW = datetime(2026, 11, 26, 7, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("42", 42.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-5", 0.0),
        ("Thu, 26 Nov 2026 07:00:30 GMT", 30.0),
        ("Thursday, 26-Nov-26 07:01:00 GMT", 60.0),  # RFC 850 form
        ("Thu, 26 Nov 2026 06:59:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_retry_after_reads_seconds_and_http_dates(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_accepts_a_unix_timestamp_as_now():
    assert parse_retry_after("Thu, 26 Nov 2026 07:00:10 GMT", now=NOW.timestamp()) == 10.0


# -- backoff ---------------------------------------------------------------------------------------


def test_backoff_honours_retry_after_when_given():
    policy = RetryPolicy(max_attempts=5, base=0.5, cap=30.0, rng=random.Random(1))
    assert policy.delay(1, retry_after=12.0) == 12.0
    assert policy.delay(4, retry_after=0.0) == 0.0


def test_backoff_is_jittered_within_a_doubling_capped_ceiling():
    policy = RetryPolicy(max_attempts=10, base=0.5, cap=3.0, rng=random.Random(7))
    ceilings = {1: 0.5, 2: 1.0, 3: 2.0, 4: 3.0, 9: 3.0}
    for attempt, ceiling in ceilings.items():
        delays = [policy.delay(attempt) for _ in range(300)]
        assert all(0.0 <= d <= ceiling for d in delays), attempt
        assert max(delays) > 0.8 * ceiling and min(delays) < 0.2 * ceiling, "full jitter spans the range"


def test_absurd_retry_after_falls_back_to_backoff_and_attempts_are_bounded():
    policy = RetryPolicy(max_attempts=3, base=0.5, cap=30.0, rng=random.Random(3))
    assert policy.delay(1, retry_after=86_400.0) <= 0.5
    assert [policy.should_retry(a) for a in (1, 2, 3)] == [True, True, False]
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_an_error_body_echoing_the_authorization_header_is_redacted_in_every_form() -> None:
    key = "pdl_sdbx_apikey_01echo0echo0echo0echo0echo0ec_EchoedBackByAProxy"
    body = json.dumps({"error": {"type": "api_error", "code": "internal_error",
                                 "detail": f"bad upstream; request had Authorization: Bearer {key}"},
                       "meta": {"request_id": "req_1"}})
    err = error_from_response(502, body, {}, "/customers")
    for text in (str(err), repr(err), err.detail, str(pickle.loads(pickle.dumps(err)))):
        assert key not in text and "[redacted]" in text, text


def test_every_toolkit_message_is_redacted_even_one_built_by_hand() -> None:
    assert "s3cr3t" not in str(UsageError("cannot use https://h/x?api_key=s3cr3t00: refused"))


def _every_subclass(cls: type) -> list[type]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _every_subclass(sub))]


def test_every_toolkit_error_is_declared_in_errors_py_with_its_exit_code() -> None:
    # import every module so every subclass the package defines is known, then look where each lives
    import importlib
    import pkgutil

    import credit_reports

    for info in pkgutil.iter_modules(credit_reports.__path__):
        importlib.import_module(f"credit_reports.{info.name}")
    outside = sorted(f"{c.__module__}.{c.__name__}" for c in _every_subclass(CreditReportsError)
                     if c.__module__ != "credit_reports.core.errors")
    assert not outside, f"declare these in errors.py: {outside}"
    # the README's exit-code table, written out by hand
    from credit_reports.core import errors

    expected = {"UsageError": 2, "StoreError": 2, "TotalOverflowError": 2, "MissingRateError": 2,
                "IncompleteSnapshotError": 3, "RunLockedError": 4, "PaddleError": 5, "ServerError": 5,
                "RateLimitError": 5, "APIConnectionError": 5, "BadRequestError": 5, "AuthenticationError": 2,
                "PermissionDeniedError": 2, "NotFoundError": 2, "ReportFailedError": 1, "SecretLeakError": 1,
                "MailError": 6, "PdfUnavailableError": 1, "CreditReportsError": 1}
    assert {name: getattr(errors, name).exit_code for name in expected} == expected
