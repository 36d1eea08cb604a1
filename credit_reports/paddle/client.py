"""PaddleClient: authenticated, throttled, retried GETs and pagination against the Paddle Billing API.

One client is shared by every worker thread: each thread gets its own ``requests.Session`` (sessions are
not thread-safe), all of them share one :class:`~credit_reports.paddle.throttle.RateLimiter`, so the process
never sends more than ``max_rpm`` requests in any ``rate_window`` seconds, and one set of counters.

Retries: a 429 pauses every thread until ``Retry-After`` (when absent, a short probe wait of
``RATE_LIMIT_PROBE_SECONDS`` = 10 s per 60 s of rate window, not a whole window) and slows the limiter
down; 5xx, 520-524, connection errors, timeouts and malformed bodies are retried with capped exponential
backoff and jitter; other 4xx are raised at once. After ``max_attempts`` calls the mapped
:class:`~credit_reports.core.errors.PaddleError` is raised. Whether to retry and how long to wait are the pure
rules of :mod:`credit_reports.core.retries`; the attempt budget is the client's :class:`RetryPolicy`.

Pagination is bounded, in flat memory: a listing stops with one line after ``max_pages`` pages (default
``MAX_PAGES``), after ``listing_budget`` seconds, or at twice the pages the first page's ``estimated_total``
implies (plus 10, for items added while listing; the first page asks for the count, later ones skip it).

The API key is sent only to ``base_url`` (pagination ``next`` links are re-based onto it), and never
appears in a repr, log record or exception message (see :mod:`credit_reports.core.redact`).
"""

from __future__ import annotations

import collections
import email.utils
import ipaddress
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, NoReturn
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from credit_reports._version import __version__
from credit_reports.core.errors import (
    APIConnectionError,
    AuthenticationError,
    PaddleError,
    RateLimitError,
    ServerError,
    UsageError,
    error_from_response,
    read_permissions_text,
)
from credit_reports.core.redact import register_secret
from credit_reports.core.retries import RATE_LIMIT_PROBE_SECONDS, RetryPolicy, parse_retry_after, rate_limit_pause
from credit_reports.paddle.throttle import RateLimiter

__all__ = [
    "PaddleClient", "shared_limiter", "ENVIRONMENTS", "PAGE_SIZES", "API_KEY_ENV", "ENVIRONMENT_ENV", "MAX_RPM",
    "MAX_PAGES", "RATE_LIMIT_PROBE_SECONDS", "is_loopback",
]

log = logging.getLogger("credit_reports.paddle")

_LIMITERS: dict[tuple[str, int, float], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(base_url: str, max_rpm: int, rate_window: float) -> RateLimiter:
    """The process-wide limiter for one API host and limit, made on first use.

    Paddle's limit is per IP address, so two clients in one notebook or scheduler must draw from one
    budget: a second client with its own limiter would double the rate and earn the 60-second block.
    """
    key = (urlsplit(base_url).netloc.lower(), int(max_rpm), float(rate_window))
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = _LIMITERS[key] = RateLimiter(max_rpm, rate_window)
        return limiter


API_KEY_ENV = "PADDLE_API_KEY"
ENVIRONMENT_ENV = "PADDLE_ENVIRONMENT"

#: Base URL of each Paddle environment.
ENVIRONMENTS = {
    "production": "https://api.paddle.com",
    "sandbox": "https://sandbox-api.paddle.com",
}

#: The largest page each list endpoint allows; paginate() asks for it unless told otherwise.
PAGE_SIZES = {
    "/customers": 200,
    "/events": 200,
    "/subscriptions": 200,
    "/adjustments": 50,
    "/transactions": 30,
}

_KEY_PREFIXES = {"pdl_live_": "production", "pdl_sdbx_": "sandbox"}
_MAX_CONNECT_TIMEOUT = 10.0
# Printable ASCII without quotes: a key never contains them, a shell or .env file often adds them.
_VALID_KEY = re.compile(r"^[\x21\x23-\x26\x28-\x7e]+$")
_QUOTES = "'\"\u2018\u2019\u201c\u201d`"
#: The highest --max-rpm accepted (Paddle allows 240 a minute; the simulator in tests needs more).
MAX_RPM = 100_000
#: Hard cap on pages of one listing (200 a page: 10 million items), whatever ``next`` says.
MAX_PAGES = 50_000
#: Paddle's ``estimated_total`` is exact up to this many items, then reads 100,001 ("more").
ESTIMATE_EXACT_UP_TO = 100_000
#: The most a listing may take (wall clock): a listing paced by balance reads of a very large account takes
#: hours, one that never ends is stopped here at the latest (``listing_budget`` per client).
LISTING_BUDGET_SECONDS = 12 * 3600.0
#: Pagination links remembered to catch a ``next`` that comes back (a loop); older ones are forgotten, since
#: the page bound ends longer loops anyway.
_RECENT_LINKS = 256


def is_loopback(host: str | None) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if not host:
        return False
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _connection_reason(exc: BaseException) -> str:
    """A short, key-free name for what went wrong on the wire (we never re-raise requests' own text)."""
    text = repr(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout | requests.exceptions.Timeout):
        return "timed out waiting for the response"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS/SSL error"
    if "NameResolutionError" in text or "getaddrinfo" in text or "Name or service not known" in text:
        return "host name not found"
    if "ConnectionRefused" in text or "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if "RemoteDisconnected" in text or "ConnectionReset" in text or "Connection aborted" in text:
        return "connection dropped"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return "response cut off"
    return "connection error"


class PaddleClient:
    """A small, thread-safe client for the read-only Paddle Billing calls the toolkit makes.

    ``api_key`` defaults to ``$PADDLE_API_KEY``; ``environment`` to ``$PADDLE_ENVIRONMENT`` or
    ``production``; ``base_url`` overrides both (e.g. the local simulator). ``max_rpm`` requests per
    ``rate_window`` seconds at most (Paddle: 240 a minute per IP); ``max_attempts`` calls per request
    (default 5), or ``retry_policy``'s budget when one is given: give either, or both agreeing.
    Clients of one process that talk to the same API host at the same limit share one
    :class:`RateLimiter` (Paddle counts requests per IP address, not per client); pass ``limiter=`` to
    choose another.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        environment: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_rpm: int = 240,
        rate_window: float = 60.0,
        max_attempts: int | None = None,
        user_agent: str | None = None,
        limiter: RateLimiter | None = None,
        retry_policy: RetryPolicy | None = None,
        max_pages: int = MAX_PAGES,
        listing_budget: float = LISTING_BUDGET_SECONDS,
    ) -> None:
        key = _check_key(api_key if api_key is not None else os.environ.get(API_KEY_ENV),
                         API_KEY_ENV if api_key is None else "api_key")
        register_secret(key)  # every message, log line and file the toolkit writes is redacted of it
        self._key = _Secret(key)  # vars(), repr() and pickling show "[redacted]", never the key
        self.key_environment = next((env for p, env in _KEY_PREFIXES.items() if key.startswith(p)), None)

        self.environment, self.base_url = self._resolve_target(environment, base_url)
        try:
            max_rpm = int(max_rpm)
        except (TypeError, ValueError):
            raise UsageError(f"max_rpm must be a whole number of requests, not {max_rpm!r}.") from None
        if max_rpm < 1:
            raise UsageError(f"max_rpm must be at least 1 request a minute, not {max_rpm}.")
        if max_rpm > MAX_RPM:
            raise UsageError(f"max_rpm {max_rpm} is more than {MAX_RPM:,} requests a minute; Paddle allows 240.")
        if not float(rate_window) > 0:
            raise UsageError(f"rate_window must be a positive number of seconds, not {rate_window!r}.")
        if not float(timeout) > 0:
            raise UsageError(f"timeout must be a positive number of seconds, not {timeout!r}.")

        self.timeout = float(timeout)
        self.max_rpm = max_rpm
        self.rate_window = float(rate_window)
        self.max_pages = max(1, int(max_pages))
        self.listing_budget = float(listing_budget)
        self.limiter = limiter or shared_limiter(self.base_url, max_rpm, self.rate_window)
        self.retry_policy = _retry_policy(max_attempts, retry_policy)
        self.user_agent = user_agent if user_agent is not None else f"credit-reports/{__version__} (+python-requests)"

        base = urlsplit(self.base_url)
        self._origin = (base.scheme, base.netloc)
        self._base_path = base.path.rstrip("/")
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._counts = {"calls": 0, "retries": 0, "rate_limited": 0, "failures": 0}
        self._ever_connected = False

    # -- configuration -------------------------------------------------------------------------------

    @staticmethod
    def _resolve_target(environment: str | None, base_url: str | None) -> tuple[str, str]:
        """(environment, base_url) from the arguments and the environment variables; UsageError if bad."""
        if base_url is not None and str(base_url).strip():
            url = str(base_url).strip().rstrip("/")
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise UsageError(f"--base-url must be an http(s) URL such as http://127.0.0.1:8080, not {base_url!r}.")
            if parts.query or parts.fragment:
                raise UsageError(f"--base-url must not carry a query or fragment: {base_url!r}.")
            if parts.username or parts.password:
                raise UsageError("--base-url must not contain credentials; use PADDLE_API_KEY for the key.")
            if environment is not None and str(environment).strip():
                env = str(environment).strip().lower()
                if env not in (*ENVIRONMENTS, "local", "custom"):
                    raise UsageError(
                        f"Unknown Paddle environment {environment!r}: use production, sandbox, local or custom."
                    )
            else:
                env = "local" if is_loopback(parts.hostname) else "custom"
            return env, url
        raw = environment if environment is not None else os.environ.get(ENVIRONMENT_ENV)
        env = (raw or "production").strip().lower() or "production"
        if env not in ENVIRONMENTS:
            raise UsageError(
                f"Unknown Paddle environment {raw!r}: set {ENVIRONMENT_ENV} to production or sandbox "
                "(or give --base-url for another server)."
            )
        return env, ENVIRONMENTS[env]

    def __repr__(self) -> str:
        return f"PaddleClient(environment={self.environment!r}, base_url={self.base_url!r})"

    @property
    def max_attempts(self) -> int:
        """Calls per request at most: the retry policy's budget (its one home)."""
        return self.retry_policy.max_attempts

    # -- sessions ------------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        """This thread's session, created on first use with the auth and version headers."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # No netrc, no environment proxies for loopback: nothing may replace our Authorization header
            # or route the key elsewhere. Remote targets still honour HTTPS_PROXY / NO_PROXY.
            session.trust_env = False
            if self.environment not in ("local",) and not is_loopback(urlsplit(self.base_url).hostname):
                session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=2, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update(
                {
                    "Authorization": f"Bearer {self._key.reveal()}",
                    "Paddle-Version": "1",
                    "User-Agent": self.user_agent,
                    "Accept": "application/json",
                }
            )
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close every thread's session (connections go back to the OS)."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    def __enter__(self) -> PaddleClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- statistics ----------------------------------------------------------------------------------

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    @property
    def stats(self) -> dict[str, int]:
        """Counters since creation: calls (HTTP requests sent), retries, rate_limited (429s), failures."""
        with self._lock:
            return dict(self._counts)

    def reset_stats(self) -> None:
        """Zero the counters (e.g. between two fetches with one client)."""
        with self._lock:
            for name in self._counts:
                self._counts[name] = 0

    # -- URLs ----------------------------------------------------------------------------------------

    def _url(self, path_or_url: str) -> str:
        """Absolute URL on base_url for a path, or a ``next`` link re-based onto base_url's origin."""
        parts = urlsplit(path_or_url)
        if parts.scheme or parts.netloc:
            if (parts.scheme, parts.netloc) != self._origin:
                log.debug("re-basing a pagination link from another origin onto %s", self.base_url)
            path = parts.path or "/"
            if self._base_path and not path.startswith(self._base_path + "/") and path != self._base_path:
                path = self._base_path + path
            return urlunsplit((*self._origin, path, parts.query, ""))
        path = "/" + path_or_url.lstrip("/")
        return self.base_url + path

    def _api_path(self, url: str) -> str:
        """The request path relative to base_url, without query: what errors and logs show."""
        path = urlsplit(url).path
        if self._base_path and path.startswith(self._base_path):
            path = path[len(self._base_path) :]
        return path or "/"

    # -- requests ------------------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, timing: dict | None = None) -> dict:
        """GET ``path`` (or a full ``next`` URL) and return the decoded JSON body, retrying as needed.

        ``timing``, when given, receives when the answering call was sent and received (``sent_ms``,
        ``received_ms``: this machine's wall clock, ms) and Paddle's ``Date`` header (``date_s``, epoch
        seconds, None when absent or unreadable): what a point-in-time snapshot needs to order a balance read
        against Paddle's events (:mod:`credit_reports.fetch.point_in_time`).
        """
        return self._request(path, params, timing=timing)

    def check(self) -> dict:
        """GET / : a cheap credential check; returns the API root's body (environment, permissions)."""
        return self._request("/", None)

    def paginate(
        self, path: str, params: Mapping[str, Any] | None = None, *, per_page: int | None = None
    ) -> Iterator[dict]:
        """Yield every item of a list endpoint, one page in memory, following ``next`` while ``has_more``.

        Asks for the largest page the endpoint allows (PAGE_SIZES) unless ``per_page`` or
        ``params["per_page"]`` says otherwise; pages after the first send ``Skip-Count: true``. Bounded: more pages than
        ``max_pages``, or than ``estimated_total`` allows (with room for growth while listing), raise
        :class:`APIConnectionError` instead of following ``next`` for ever.
        """
        query = {k: v for k, v in (params or {}).items() if v is not None}
        size = per_page if per_page is not None else PAGE_SIZES.get("/" + path.strip("/").split("?")[0])
        if size is not None and "per_page" not in query:
            query["per_page"] = int(size)
        target: str | None = path
        send: Mapping[str, Any] | None = query
        recent: collections.deque[str] = collections.deque(maxlen=_RECENT_LINKS)  # memory stays flat
        pages = 0
        cap = self.max_pages
        started = time.monotonic()
        while target is not None:
            spent = time.monotonic() - started
            if pages >= cap or spent > self.listing_budget:
                why = (f"did not end after {pages:,} pages (limit {cap:,})" if pages >= cap else
                       f"did not end within {self.listing_budget / 3600:g} h ({pages:,} pages)")
                raise APIConnectionError(
                    f"the listing {why}; Paddle's 'next' links kept coming, so nothing was saved from it",
                    reason="pagination did not end",
                    path=self._api_path(self._url(path)),
                    environment=self.environment,
                    base_url=self.base_url,
                )
            pages += 1
            # the first page asks for Paddle's estimated_total (the bound of what follows); the rest skip the count
            headers = {"Skip-Count": "true"} if pages > 1 else None
            body = self._request(target, send, extra_headers=headers)
            data = body.get("data")
            if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
                raise APIConnectionError(
                    "the list response has no 'data' array of objects",
                    reason="malformed body",
                    path=self._api_path(self._url(target)),
                    environment=self.environment,
                    base_url=self.base_url,
                )
            yield from data
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            pagination = meta.get("pagination") if isinstance(meta.get("pagination"), dict) else {}
            cap = min(cap, _page_cap(pagination, size, len(data), self.max_pages))
            next_url = pagination.get("next")
            if not pagination.get("has_more") or not next_url:
                return
            if next_url in recent:
                raise APIConnectionError(
                    "pagination did not advance (the same 'next' link came back twice)",
                    reason="pagination loop",
                    path=self._api_path(self._url(next_url)),
                    environment=self.environment,
                    base_url=self.base_url,
                )
            recent.append(next_url)
            target, send = next_url, None  # `next` keeps the filters: follow it as given

    def _request(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        extra_headers: Mapping[str, str] | None = None,
        timing: dict | None = None,
    ) -> dict:
        """One logical GET: throttled, retried per the retry rules, mapped to PaddleError on failure."""
        url = self._url(path)
        api_path = self._api_path(url)
        query = _encode_params(params)
        attempt = 0
        while True:
            attempt += 1
            outcome = self._send(url, query, extra_headers, api_path, attempt)
            if outcome.body is not None:
                if timing is not None and outcome.timing is not None:
                    timing.update(outcome.timing)
                return outcome.body
            error = outcome.error
            limit = self.retry_policy.attempts_allowed(
                status=error.status, reason=getattr(error, "reason", None), ever_connected=self._ever_connected
            )
            if isinstance(error, RateLimitError):
                self._rate_limited(error, attempt, limit, api_path)
            if attempt >= limit:
                self._fail(error, attempt)
            if not isinstance(error, RateLimitError):  # a 429's wait is the limiter's pause, for every thread
                self._backoff(attempt, limit, api_path, outcome.why, outcome.retry_after)

    def _send(
        self, url: str, query: dict[str, str] | None, headers: Mapping[str, str] | None, api_path: str, attempt: int
    ) -> _Outcome:
        """One throttled HTTP call, counted: the decoded body, or the PaddleError it amounts to."""
        self.limiter.acquire()
        self._count("calls")
        if attempt > 1:
            self._count("retries")
        started = time.monotonic()
        sent_ms = time.time() * 1000
        try:
            response = self._session().get(
                url,
                params=query,
                headers=headers,
                timeout=(min(self.timeout, _MAX_CONNECT_TIMEOUT), self.timeout),
                allow_redirects=False,
            )
            content = response.content
            received_ms = time.time() * 1000
        except (requests.exceptions.RequestException, OSError) as exc:
            reason = _connection_reason(exc)
            return _Outcome(error=self._connection_error(reason, api_path, exc), why=reason)
        self._ever_connected = True
        status = response.status_code
        elapsed_ms = (time.monotonic() - started) * 1000
        log.debug("GET %s -> %s in %.0f ms (attempt %d)", api_path, status, elapsed_ms, attempt)
        if 200 <= status < 300:
            outcome = self._decode(status, content, api_path)
            read = {"sent_ms": sent_ms, "received_ms": received_ms, "date_s": _date_header(response.headers)}
            return outcome._replace(timing=read)
        return self._error_outcome(response, content, api_path)

    def _decode(self, status: int, content: bytes, api_path: str) -> _Outcome:
        """A 2xx body as a dict, or a retryable "malformed body" error when it is not a JSON object."""
        try:
            body = json.loads(content)
        except ValueError:
            body = None
        if isinstance(body, dict):
            return _Outcome(body=body)
        error = APIConnectionError(
            f"Paddle answered {status} with a body that is not a JSON object",
            reason="malformed body",
            status=status,
            path=api_path,
            environment=self.environment,
            base_url=self.base_url,
        )
        return _Outcome(error=error, why="malformed body")

    def _error_outcome(self, response: requests.Response, content: bytes, api_path: str) -> _Outcome:
        """The PaddleError a non-2xx response maps to, with the hints a caller needs to act on it."""
        status = response.status_code
        error = error_from_response(
            status,
            content,
            response.headers,
            api_path,
            environment=self.environment,
            base_url=self.base_url,
        )
        if isinstance(error, AuthenticationError):
            error.key_environment = self.key_environment
        if 300 <= status < 400:  # redirects are not followed: the key must stay on base_url
            target = urlsplit(response.headers.get("Location") or "")
            where = urlunsplit((target.scheme, target.hostname or "", target.path, "", ""))
            error.detail = f"the server redirects to {where or 'another address'}; give the API's own URL"
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if isinstance(error, ServerError) else None
        return _Outcome(error=error, why=f"{status} from Paddle", retry_after=retry_after)

    def _rate_limited(self, error: RateLimitError, attempt: int, limit: int, api_path: str) -> None:
        """Count a 429 and pause every thread (the pace drops once per episode); log it when a retry follows."""
        self._count("rate_limited")
        wait = rate_limit_pause(error.retry_after, self.rate_window)
        self.limiter.rate_limited(wait)
        if attempt < limit:  # INFO (-v): a 429 that a retry cures is no failure; one that persists is one line
            log.info(
                "GET %s: rate limited (429); every worker pauses %.1f s and the pace drops to "
                "%.0f/min (attempt %d of %d)",
                api_path,
                wait,
                self.limiter.rate_per_minute,
                attempt,
                limit,
            )

    def _connection_error(self, reason: str, api_path: str, exc: BaseException) -> APIConnectionError:
        """An APIConnectionError with our own words (requests' text is never copied into it)."""
        hints = {
            "connection refused": "nothing is listening there; check --base-url or PADDLE_ENVIRONMENT",
            "host name not found": "the host name does not resolve; check --base-url and DNS",
            "connection timed out": f"no connection accepted within {min(self.timeout, _MAX_CONNECT_TIMEOUT):g} s",
            "timed out waiting for the response": f"no answer within {self.timeout:g} s",
            "TLS/SSL error": "the server's certificate or TLS set-up was refused",
        }
        return APIConnectionError(
            hints.get(reason, f"{type(exc).__name__} on the connection"),
            reason=reason,
            path=api_path,
            environment=self.environment,
            base_url=self.base_url,
        )

    def _backoff(self, attempt: int, limit: int, api_path: str, why: str, retry_after: float | None) -> None:
        """Sleep before the next attempt, per the retry policy, and say so in the log."""
        delay = self.retry_policy.delay(attempt, retry_after)
        log.info("GET %s: %s; retry %d of %d in %.2f s", api_path, why, attempt, limit - 1, delay)
        time.sleep(delay)

    def _fail(self, error: PaddleError, attempt: int) -> NoReturn:
        """Count and raise ``error`` (attempts noted), without chaining requests' exception text."""
        error.attempts = attempt
        self._count("failures")
        log.debug("%s", error)  # the caller reports it (the CLI in one line); -vv shows it here too
        raise error from None


class _Outcome(NamedTuple):
    """What one HTTP call came to: a decoded body, or an error with words for the log and a Retry-After."""

    body: dict | None = None
    error: PaddleError | None = None
    why: str = ""
    retry_after: float | None = None
    timing: dict | None = None  # sent_ms, received_ms (our wall clock), date_s (Paddle's Date header)


def _date_header(headers: Mapping[str, str]) -> int | None:
    """Paddle's ``Date`` response header as epoch seconds (HTTP dates have whole seconds); None if unusable."""
    value = headers.get("Date")
    if not value:
        return None
    try:
        return int(email.utils.parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _retry_policy(max_attempts: int | None, policy: RetryPolicy | None) -> RetryPolicy:
    """The one retry policy of a client: ``policy``, or a default one with ``max_attempts`` calls.

    The budget has one home (the policy): a ``max_attempts`` that contradicts the policy given with it is
    a UsageError, not silently preferred to it.
    """
    if max_attempts is not None:
        try:
            attempts = int(max_attempts)
        except (TypeError, ValueError):
            raise UsageError(f"max_attempts must be a whole number of calls, not {max_attempts!r}.") from None
        if attempts < 1:
            raise UsageError(f"max_attempts must be at least 1, not {max_attempts!r}.")
        if policy is not None and policy.max_attempts != attempts:
            raise UsageError(
                f"max_attempts={attempts} contradicts retry_policy's max_attempts={policy.max_attempts}; "
                "give one of them (the policy's budget is the one used)."
            )
    if policy is not None:
        return policy
    return RetryPolicy(max_attempts=5 if max_attempts is None else int(max_attempts))


def _check_key(key: str | None, source: str) -> str:
    """The key exactly as given, or one UsageError line: nothing is stripped or unquoted silently."""
    if key is None or key == "":
        raise UsageError(
            f"No Paddle API key: set {API_KEY_ENV} to a key from Paddle > Developer tools > "
            f"Authentication with the read permissions {read_permissions_text()}."
        )
    if key != key.strip():
        raise UsageError(
            f"The Paddle API key in {source} starts or ends with spaces or a line break; set it to the key "
            "alone (nothing is stripped for you)."
        )
    if key[0] in _QUOTES or key[-1] in _QUOTES:
        raise UsageError(
            f"The Paddle API key in {source} is wrapped in quotes; set it to the key without them "
            "(e.g. export PADDLE_API_KEY=pdl_live_apikey_...)."
        )
    if not _VALID_KEY.match(key):
        raise UsageError(
            f"The Paddle API key in {source} contains spaces, quotes or control characters; "
            "copy the key again without surrounding text."
        )
    return key


class _Secret:
    """The API key held so that ``vars(client)``, ``repr`` and ``str`` show ``[redacted]``; only the request
    headers call :meth:`reveal`. Pickling is refused, so the key never leaves the process that way either."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "[redacted]"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("the Paddle API key is not picklable")


def _page_cap(pagination: Mapping[str, Any], asked: int | None, got: int, hard: int) -> int:
    """Pages a listing may take: from ``estimated_total`` when Paddle sent one (twice the pages it implies,
    plus 10, for items added while listing), else the hard cap."""
    total = pagination.get("estimated_total")
    size = pagination.get("per_page") or asked or got
    if isinstance(total, bool) or not isinstance(total, int) or total < 0 or not isinstance(size, int) or size < 1:
        return hard
    if total > ESTIMATE_EXACT_UP_TO:  # Paddle reports 100,001 for "more than 100,000": no bound from it
        return hard
    return min(hard, 2 * math.ceil(total / size) + 10)


def _encode_params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Query parameters as Paddle expects them: lists and tuples joined with commas, None dropped."""
    if not params:
        return None
    out: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, set | frozenset):
            value = ",".join(sorted(str(v) for v in value))
        elif isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        out[name] = str(value)
    return out


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
