"""A Paddle-compatible HTTP server on loopback, serving the simulator's account.

Standard library only (``ThreadingHTTPServer``), HTTP/1.1 with ``Content-Length`` on every answer so a
``requests.Session`` keeps its connections alive. It answers in Paddle's shapes: list envelopes with
``meta.pagination``, error envelopes with ``type``/``code``/``detail``/``documentation_url`` and
``meta.request_id``, 403 for authentication problems, the per-IP rate limit with its block, and any
faults a test asked for.
"""

from __future__ import annotations

import contextlib
import json
import math
import operator
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from .account import Account
from .faults import FaultBook, RateLimiter, Stats
from .ids import decode_id, make_id
from .listing import Listing, Page
from .mover import Move, Mover

DEMO_API_KEY = "pdl_sdbx_apikey_01simulator0demo0key0000000_LocalSimulatorOnlyNotASecret"
ALL_PERMISSIONS = frozenset({"customer.read", "adjustment.read", "notification.read", "subscription.read",
                             "transaction.read"})
EVENTS_HORIZON_MS = 90 * 86_400_000
CUSTOMER_ID = re.compile(r"^ctm_[a-z\d]{26}$")
DOCS = "https://developer.paddle.com/errors/shared"
CLOUDFLARE = {"520", "521", "522", "523", "524"}
ADJUSTMENT_ACTIONS = {"credit", "refund", "chargeback", "chargeback_reverse", "chargeback_warning",
                      "chargeback_warning_reverse", "credit_reverse"}
ADJUSTMENT_STATUSES = {"approved", "pending_approval", "rejected", "reversed"}
SUBSCRIPTION_STATUSES = {"active", "canceled", "past_due", "paused", "trialing"}
TRANSACTION_STATUSES = {"draft", "ready", "billed", "paid", "completed", "canceled", "past_due"}
TRANSACTION_ORIGINS = {"api", "subscription_charge", "subscription_payment_method_change", "subscription_recurring",
                       "subscription_update", "web"}
DATE_FILTER = re.compile(r"^(?P<field>billed_at|created_at|updated_at)(?:\[(?P<op>LT|LTE|GT|GTE)\])?$")
SLOW_SECONDS = 5.0
RATE_LIMITED = ("IP address exceeded the allowed rate limit. Retry after the number of seconds in the "
                "Retry-After header.")


class ApiError(Exception):
    """An error answer in Paddle's envelope, raised inside a route and written by the handler."""

    def __init__(self, status: int, code: str, detail: str, *, type_: str = "request_error",
                 errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.type = status, code, detail, type_
        self.errors, self.headers = errors, headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body Paddle sends for this error."""
        error: dict[str, Any] = {"type": self.type, "code": self.code, "detail": self.detail,
                                 "documentation_url": f"{DOCS}/{self.code}"}
        if self.errors:
            error["errors"] = self.errors
        return {"error": error, "meta": {"request_id": str(uuid.uuid4())}}


def _bad_field(field: str, message: str) -> ApiError:
    return ApiError(400, "bad_request", "Invalid request.", errors=[{"field": field, "message": message}])


def path_template(path: str) -> str:
    """The route a path belongs to, for statistics (ids replaced by ``{id}``)."""
    if path in ("/", "/customers", "/adjustments", "/events", "/subscriptions", "/transactions"):
        return path
    parts = path.strip("/").split("/")
    if parts[0] == "customers" and len(parts) == 2:
        return "/customers/{id}"
    if parts[0] == "customers" and len(parts) == 3 and parts[2] == "credit-balances":
        return "/customers/{id}/credit-balances"
    return "other"


class _Query:
    """The query string of one request, with Paddle's parsing rules for the list parameters."""

    def __init__(self, raw: str) -> None:
        self.pairs = parse_qsl(raw, keep_blank_values=True)
        self.values = dict(self.pairs)

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if value not in (None, "") else None

    def csv(self, name: str, allowed: set[str] | None = None) -> list[str] | None:
        """A comma-separated list parameter, each value checked against ``allowed``."""
        value = self.get(name)
        if value is None:
            return None
        items = [v.strip() for v in value.split(",") if v.strip()]
        if allowed is not None:
            for item in items:
                if item not in allowed:
                    raise _bad_field(name, f"invalid value {item!r}; allowed: {', '.join(sorted(allowed))}")
        return items

    def per_page(self, default: int, maximum: int) -> int:
        """``per_page``, capped at the endpoint's maximum the way Paddle caps it."""
        value = self.get("per_page")
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise _bad_field("per_page", "must be an integer") from None
        if number < 1:
            raise _bad_field("per_page", "must be at least 1")
        return min(number, maximum)

    def descending(self) -> bool:
        """``order_by``: id[ASC] or id[DESC]; Paddle's default is id[DESC]."""
        value = self.get("order_by")
        if value is None:
            return True
        normalized = value.replace(" ", "").lower()
        if normalized == "id[asc]":
            return False
        if normalized == "id[desc]":
            return True
        raise _bad_field("order_by", "must be id[ASC] or id[DESC]")


class Handler(BaseHTTPRequestHandler):
    """One request: rate limit, injected faults, authentication, then the route."""

    protocol_version = "HTTP/1.1"
    server_version = "PaddleSimulator/1"
    timeout = 60  # idle keep-alive connections are closed after this many seconds
    server: _Server

    def setup(self) -> None:
        """Disable Nagle's algorithm: small keep-alive answers must not wait for delayed ACKs."""
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header Paddle sends, from the simulated Paddle's clock (``Account.now``: the set clock,
        or the real time plus ``clock_offset_ms``), so a client can bound the difference to its own clock."""
        if timestamp is None:
            timestamp = self.server.simulator.account.now() / 1000
        return formatdate(timestamp, usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Stay silent: the simulator runs inside tests, the demo and benchmarks."""

    def do_GET(self) -> None:  # noqa: N802 - name required by BaseHTTPRequestHandler
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    # ------------------------------------------------------------------ request flow

    def _handle(self, method: str) -> None:
        sim = self.server.simulator
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        now = time.monotonic()
        sim._stats.request(path_template(path), now)
        if sim.latency_ms:
            time.sleep(sim.latency_ms / 1000)
        if sim._limiter is not None:
            retry_after = sim._limiter.check(self.client_address[0], now)
            if retry_after is not None:
                sim._stats.rate_limited()
                self._send_error(ApiError(429, "too_many_requests", RATE_LIMITED,
                                          headers={"Retry-After": str(retry_after)}))
                return
        fault = sim._faults.take(path)
        if fault is not None:
            sim._stats.injected()
            if fault.kind == "slow":
                time.sleep(SLOW_SECONDS)
            elif fault.kind == "drop":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            elif fault.kind != "malformed":
                self._send_fault(fault.kind, fault.retry_after)
                return
        sim._maybe_move()
        sim._run_hooks(path)
        try:
            if method != "GET":
                raise ApiError(405, "method_not_allowed", f"{method} is not supported by the simulator.")
            self._authenticate(path)
            status, body = 200, self._route(path, _Query(url.query), sim)
        except ApiError as error:
            if fault is not None and fault.kind == "malformed":
                self._send(200, json.dumps(error.body()).encode()[:20])
            else:
                self._send_error(error)
            return
        payload = json.dumps(body, ensure_ascii=False).encode()
        if fault is not None and fault.kind == "malformed":
            payload = payload[: max(1, len(payload) // 2)]
        self._send(status, payload)

    def _authenticate(self, path: str) -> None:
        """Paddle answers 403 for a missing key, an unknown key, and a key lacking the permission."""
        header = self.headers.get("Authorization")
        if not header:
            raise ApiError(403, "authentication_missing",
                           "Authentication header missing. Send your API key as a Bearer token.")
        scheme, _, key = header.partition(" ")
        permissions = self.server.simulator._keys.get(key.strip()) if scheme.lower() == "bearer" else None
        if permissions is None:
            raise ApiError(403, "invalid_token", "Authentication token is invalid or has been revoked.")
        needed = _permission_for(path)
        if needed is not None and needed not in permissions:
            raise ApiError(403, "forbidden", f"You aren't permitted to perform this request: the API key "
                                             f"lacks the {needed} permission.")

    # ------------------------------------------------------------------ routes

    def _route(self, path: str, query: _Query, sim: Simulator) -> dict[str, Any]:
        account = sim.account
        parts = path.strip("/").split("/")
        if path == "/":
            return _envelope({"environment": "simulator", "api_version": 1, "base_url": sim.base_url,
                              "permissions": sorted(self._key_permissions())})
        if parts[0] == "customers" and len(parts) in (2, 3):
            customer_id = parts[1]
            if not CUSTOMER_ID.match(customer_id):
                raise _bad_field("customer_id", "must match ^ctm_[a-z\\d]{26}$")
            if len(parts) == 3 and parts[2] != "credit-balances":
                raise ApiError(404, "not_found", f"Route {path} not found.")
            with account.lock:
                customer = account.customer(customer_id)
                if customer is None:
                    raise ApiError(404, "not_found", f"Entity {customer_id} not found")
                if len(parts) == 2:
                    return _envelope(customer)
                status = sim._faults.customer_status(customer_id)
                if status is not None:
                    sim._stats.injected()
                    raise ApiError(status, "internal_error", "An internal error occurred.", type_="api_error")
                rows = account.balances(customer_id)
            wanted = query.csv("currency_code")
            if wanted is not None:
                rows = [row for row in rows if row["currency_code"] in wanted]
            return _envelope(rows)
        lister = {"/customers": self._customers, "/adjustments": self._adjustments,
                  "/events": self._events, "/subscriptions": self._subscriptions,
                  "/transactions": self._transactions}.get(path)
        if lister is None:
            raise ApiError(404, "not_found", f"Route {path} not found.")
        return lister(path, query, sim)

    def _key_permissions(self) -> set[str]:
        key = self.headers.get("Authorization", "").partition(" ")[2].strip()
        return set(self.server.simulator._keys.get(key, ()))

    def _list(self, path: str, query: _Query, sim: Simulator, listing: Listing, *, per_page: int,
              predicate: Callable[[dict[str, Any]], bool] | None = None, start: int = 0,
              key: str = "id", end: int | None = None) -> dict[str, Any]:
        """Answer a list call: one page by cursor, with meta.pagination exactly as Paddle shapes it."""
        after = query.get("after")
        descending = query.descending()
        count = (self.headers.get("Skip-Count") or "").lower() != "true"
        with sim.account.lock:
            page: Page = listing.page(after=after, descending=descending, per_page=per_page,
                                      predicate=predicate, count=count, start=start, end=end)
        cursor = page.items[-1][key] if page.items else after
        params = [(k, v) for k, v in query.pairs if k != "after"]
        if cursor:
            params.append(("after", cursor))
        next_url = f"{sim.base_url}{path}" + (f"?{urlencode(params)}" if params else "")
        return {"data": page.items,
                "meta": {"request_id": str(uuid.uuid4()),
                         "pagination": {"per_page": per_page, "next": next_url, "has_more": page.has_more,
                                        "estimated_total": page.total}}}

    def _customers(self, path: str, query: _Query, sim: Simulator) -> dict[str, Any]:
        account = sim.account
        statuses = set(query.csv("status", {"active", "archived"}) or ["active"])
        listing = account.customer_lists["all" if len(statuses) == 2 else statuses.pop()]
        ids = set(query.csv("id") or ())
        email = set(query.csv("email") or ())
        search = (query.get("search") or "").lower()
        predicate = None
        if ids or email or search:
            def predicate(c: dict[str, Any]) -> bool:
                return ((not ids or c["id"] in ids) and (not email or c["email"] in email)
                        and (not search or search in c["id"] or search in (c["email"] or "").lower()
                             or search in (c["name"] or "").lower()))
        return self._list(path, query, sim, listing, per_page=query.per_page(50, 200), predicate=predicate)

    def _adjustments(self, path: str, query: _Query, sim: Simulator) -> dict[str, Any]:
        account = sim.account
        action = query.get("action")
        if action is not None and action not in ADJUSTMENT_ACTIONS:
            raise _bad_field("action", f"invalid value {action!r}")
        customers = query.csv("customer_id")
        statuses = set(query.csv("status", ADJUSTMENT_STATUSES) or ())
        ids = set(query.csv("id") or ())
        transactions = set(query.csv("transaction_id") or ())
        subscriptions = set(query.csv("subscription_id") or ())
        with account.lock:
            if customers is not None:
                listing = Listing(account.adjustments_of(customers))
            elif action is not None:
                listing = account.adjustments_by_action.get(action) or Listing()
            else:
                listing = account.adjustments
        predicate = None
        if statuses or ids or transactions or subscriptions or (customers is not None and action):
            def predicate(a: dict[str, Any]) -> bool:
                return ((not action or a["action"] == action) and (not statuses or a["status"] in statuses)
                        and (not ids or a["id"] in ids)
                        and (not transactions or a["transaction_id"] in transactions)
                        and (not subscriptions or a["subscription_id"] in subscriptions))
        return self._list(path, query, sim, listing, per_page=query.per_page(10, 50), predicate=predicate)

    def _events(self, path: str, query: _Query, sim: Simulator) -> dict[str, Any]:
        """``/events``: 90 days, ``event_type``, and ``from``/``to`` on ``occurred_at`` (inclusive, RFC 3339; Paddle
        since September 2026). Ids carry their ``occurred_at`` millisecond, so the bounds are found by bisection.
        With ``event_lag_ms`` an event is listed only once its own lag has passed (:meth:`Simulator.listed`)."""
        account = sim.account
        types = set(query.csv("event_type") or ())
        since, until = _moment_param(query, "from"), _moment_param(query, "to")
        with account.lock:
            moment = account.now()  # the clock the account is served at (Account.set_time), else real time
            events = account.events
            start = events.index_of(make_id("evt", max(0, moment - EVENTS_HORIZON_MS), 0))
            if since is not None:
                start = max(start, events.index_of(make_id("evt", math.ceil(since), 0)))
            end = events.index_of(make_id("evt", moment + 1, 0)) if account.clock is not None else None
            if until is not None:
                upto = events.index_of(make_id("evt", math.floor(until) + 1, 0))
                end = upto if end is None else min(end, upto)
            hidden = sim.unlisted(moment, end)
        predicate = None
        if types or hidden:
            def predicate(e: dict[str, Any]) -> bool:
                return (not types or e["event_type"] in types) and e["event_id"] not in hidden
        return self._list(path, query, sim, events, per_page=query.per_page(50, 200),
                          predicate=predicate, start=start, end=end, key="event_id")

    def _subscriptions(self, path: str, query: _Query, sim: Simulator) -> dict[str, Any]:
        account = sim.account
        customers = query.csv("customer_id")
        statuses = set(query.csv("status", SUBSCRIPTION_STATUSES) or ())
        ids = set(query.csv("id") or ())
        limit = getattr(sim, "max_filter_ids", None)  # tests: a Paddle that refuses a long customer_id list
        if limit is not None and customers is not None and len(customers) > limit:
            raise _bad_field("customer_id", f"at most {limit} ids")
        with account.lock:
            listing = Listing(account.subscriptions_of(customers)) if customers is not None \
                else account.subscriptions
        predicate = None
        if statuses or ids:
            def predicate(s: dict[str, Any]) -> bool:
                return (not statuses or s["status"] in statuses) and (not ids or s["id"] in ids)
        return self._list(path, query, sim, listing, per_page=query.per_page(50, 200), predicate=predicate)

    def _transactions(self, path: str, query: _Query, sim: Simulator) -> dict[str, Any]:
        """``/transactions`` with Paddle's filters; 30 a page at most."""
        account = sim.account
        customers = query.csv("customer_id")
        statuses = set(query.csv("status", TRANSACTION_STATUSES) or ())
        origins = set(query.csv("origin", TRANSACTION_ORIGINS) or ())
        modes = set(query.csv("collection_mode", {"automatic", "manual"}) or ())
        subscriptions = set(query.csv("subscription_id") or ())
        ids = set(query.csv("id") or ())
        dates = _date_filters(query)
        with account.lock:
            listing = Listing(account.transactions_of(customers)) if customers is not None \
                else account.transactions
        predicate = None
        if statuses or origins or modes or subscriptions or ids or dates:
            def predicate(t: dict[str, Any]) -> bool:
                return ((not statuses or t["status"] in statuses) and (not origins or t["origin"] in origins)
                        and (not modes or t["collection_mode"] in modes)
                        and (not subscriptions or t["subscription_id"] in subscriptions)
                        and (not ids or t["id"] in ids)
                        and all(test(t.get(field)) for field, test in dates))
        return self._list(path, query, sim, listing, per_page=query.per_page(30, 30), predicate=predicate)

    # ------------------------------------------------------------------ writing answers

    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # headers and body in one write (end_headers would flush the headers on their own)
        self._headers_buffer.append(b"\r\n" + payload)
        self.flush_headers()

    def _send_error(self, error: ApiError) -> None:
        self._send(error.status, json.dumps(error.body()).encode(), error.headers)

    def _send_fault(self, kind: str, retry_after: int) -> None:
        """Answer with an injected status: 429 variants, Paddle 5xx envelopes, or an edge's HTML page."""
        if kind.startswith("429"):
            headers = {}
            if kind == "429":
                headers["Retry-After"] = str(retry_after)
            elif kind == "429-date":
                headers["Retry-After"] = formatdate(time.time() + retry_after, usegmt=True)
            self._send_error(ApiError(429, "too_many_requests", "IP address exceeded the allowed rate limit.",
                                      headers=headers))
        elif kind in CLOUDFLARE or kind in ("502", "504"):
            page = f"<html><head><title>{kind}</title></head><body>error code: {kind}</body></html>"
            self._send(int(kind), page.encode(), content_type="text/html")
        else:
            self._send_error(ApiError(int(kind), "internal_error", "An internal error occurred.",
                                      type_="api_error"))


def _envelope(data: Any) -> dict[str, Any]:
    return {"data": data, "meta": {"request_id": str(uuid.uuid4())}}


def _moment_param(query: _Query, name: str) -> float | None:
    """An RFC 3339 query parameter as epoch ms (fractional: microseconds kept), None when absent."""
    value = query.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad_field(name, "must be an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() * 1000


def _date_filters(query: _Query) -> list[tuple[str, Callable[[Any], bool]]]:
    """``billed_at``/``created_at``/``updated_at`` with ``[LT|LTE|GT|GTE]`` (none: on that exact stamp)."""
    tests: list[tuple[str, Callable[[Any], bool]]] = []
    for name, value in query.pairs:
        match = DATE_FILTER.match(name)
        if not match or not value:
            continue
        try:
            bound = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _bad_field(name, "must be an RFC 3339 date-time") from None
        if bound.tzinfo is None:
            bound = bound.replace(tzinfo=UTC)
        op = match["op"] or "EQ"
        compare = {"LT": operator.lt, "LTE": operator.le, "GT": operator.gt, "GTE": operator.ge,
                   "EQ": operator.eq}[op]

        def test(stamp: Any, compare=compare, bound=bound) -> bool:
            return stamp is not None and compare(datetime.fromisoformat(stamp), bound)

        tests.append((match["field"], test))
    return tests


def _permission_for(path: str) -> str | None:
    """The permission a key needs for this path (None: any valid key)."""
    if path.startswith("/customers"):
        return "customer.read"
    if path.startswith("/adjustments"):
        return "adjustment.read"
    if path.startswith("/events"):
        return "notification.read"
    if path.startswith("/subscriptions"):
        return "subscription.read"
    if path.startswith("/transactions"):
        return "transaction.read"
    return None


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers open connections, so ``stop`` can close idle keep-alives."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        self.connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client went away mid-answer (timeouts, dropped connections); report bugs."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        with self._connections_lock:
            self.connections.add(conn)
        return conn, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Simulator:
    """A Paddle-compatible API on loopback over a deterministic account.

    ``with Simulator(customers=300) as sim:`` serves in a background thread; ``sim.base_url`` is where.

    Keyword arguments beyond the server's own go to :class:`Account` (``**CURRENT_PADDLE`` for every behaviour
    of current Paddle, ``refund_returns_credit``, ``clock_offset_ms``). ``move_every_requests=N`` moves the
    account on (``mover.MOVE_STEP``, or ``move_step``) before answering every N-th request, so it moves while a
    fetch reads it; ``event_lag_ms`` lists each event up to that long after it occurred (its balance change is
    visible at once), so events appear late and out of order, as Paddle documents no bound against.
    :meth:`start_moving` moves the account every S seconds. ``moves`` lists what moved when.
    :meth:`before_answer` runs a test's own move just before a given request is answered.
    """

    def __init__(self, customers: int = 2000, seed: int = 7, api_key: str = DEMO_API_KEY,
                 rpm: int | None = None, window_seconds: float = 60.0, block_seconds: float = 60.0,
                 latency_ms: int = 0, host: str = "127.0.0.1", port: int = 0,
                 unsubscribed_credits: int = 0, anchor: Any = None, *, move_every_requests: int | None = None,
                 move_step: dict[str, int] | None = None, event_lag_ms: int = 0, **behaviours: Any) -> None:
        self.account = Account(customers=customers, seed=seed, unsubscribed_credits=unsubscribed_credits,
                               anchor=anchor, **behaviours)
        if move_every_requests is not None and move_every_requests < 1:
            raise ValueError("move_every_requests must be >= 1")
        self.move_every_requests = move_every_requests
        if not isinstance(event_lag_ms, int) or event_lag_ms < 0:
            raise ValueError("event_lag_ms must be a whole number of ms >= 0")
        self.event_lag_ms = event_lag_ms
        self._mover = Mover(self.account, move_step, seed=seed)
        self._requests_seen = 0
        self._move_lock = threading.Lock()
        self._hooks: list[list[Any]] = []  # [path prefix, answers left, callback]
        self.api_key = api_key
        self.rpm = rpm
        self.window_seconds = window_seconds
        self.block_seconds = block_seconds
        self.latency_ms = latency_ms
        self.host = host
        self.port = port
        self._keys: dict[str, frozenset[str]] = {api_key: ALL_PERMISSIONS}
        self._limiter = RateLimiter(rpm, window_seconds, block_seconds) if rpm else None
        self._faults = FaultBook()
        self._stats = Stats(window_seconds)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Simulator(base_url={self.base_url!r}, customers={len(self.account.customer_lists['all'])})"

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """``http://host:port`` once started (the real port when 0 was asked)."""
        if self._server is not None:
            host, port = self._server.server_address[:2]
            return f"http://{host}:{port}"
        return f"http://{self.host}:{self.port}"

    def _bind(self) -> _Server:
        if self._server is None:
            self._server = _Server((self.host, self.port), self)
        return self._server

    def start(self) -> Simulator:
        """Serve in a background daemon thread; returns self."""
        server = self._bind()
        if self._thread is None:
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                            name="paddle-simulator", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the foreground until interrupted (the ``credit-reports simulator`` command)."""
        server = self._bind()
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()
            self._server = None

    def stop(self) -> None:
        """Stop serving and close every connection."""
        self._mover.stop()
        server, self._server = self._server, None
        if server is None:
            return
        if self._thread is not None:
            server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        server.close_connections()
        server.server_close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ controls for tests

    def advance(self, seed: int, credits: int = 0, reservations: int = 0, completions: int = 0,
                cancellations: int = 0, new_customers: int = 0, **more: int) -> dict[str, set[str]]:
        """Move the account on (see ``Account.advance`` for every knob, and ``at``); events carry its time."""
        return self.account.advance(seed, credits=credits, reservations=reservations, completions=completions,
                                    cancellations=cancellations, new_customers=new_customers, **more)

    def move(self) -> Move:
        """Move the account on once now (``move_step``, every kind of movement; see ``mover``)."""
        return self._mover.move()

    def start_moving(self, every_seconds: float, step: dict[str, int] | None = None,
                     on_move: Callable[[Move], None] | None = None) -> None:
        """Move the account on every ``every_seconds`` in a background thread until :meth:`stop_moving` (or
        :meth:`stop`); ``step`` replaces the counts of one move, ``on_move`` is called after each."""
        if step is not None:
            self._mover.step = dict(step)
        self._mover.on_move = on_move
        self._mover.start(every_seconds)

    def stop_moving(self) -> None:
        """Stop the background moves of :meth:`start_moving`."""
        self._mover.stop()

    @property
    def moves(self) -> list[Move]:
        """Every move made so far (by request count, thread or :meth:`move`), oldest first."""
        return list(self._mover.moves)

    def before_answer(self, path: str, callback: Callable[[Simulator], Any], count: int = 1) -> None:
        """Call ``callback(sim)`` before answering each of the next ``count`` requests whose path starts with
        ``path`` (e.g. ``/customers/<id>/credit-balances``): a test moves the account exactly while a fetch
        reads that customer, inside the read's uncertainty."""
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._move_lock:
            self._hooks.append([path, count, callback])

    def _run_hooks(self, path: str) -> None:
        """Run the ``before_answer`` callbacks due for this path (each at most its count of times)."""
        if not self._hooks:
            return
        due = []
        with self._move_lock:
            for hook in self._hooks:
                if path.startswith(hook[0]) and hook[1] > 0:
                    hook[1] -= 1
                    due.append(hook[2])
            self._hooks = [hook for hook in self._hooks if hook[1] > 0]
        for callback in due:
            callback(self)

    def _maybe_move(self) -> None:
        """With ``move_every_requests``, move the account before answering every N-th request."""
        if not self.move_every_requests:
            return
        with self._move_lock:
            self._requests_seen += 1
            due = self._requests_seen % self.move_every_requests == 0
        if due:
            self._mover.move()

    def lag_of(self, event_id: str) -> int:
        """How long after it occurred this event is first listed (ms): 0 to ``event_lag_ms``, drawn from the id's
        random part, so events of one move are listed late by different amounts and out of their order."""
        if not self.event_lag_ms:
            return 0
        return decode_id(event_id)[1] % (self.event_lag_ms + 1)

    def unlisted(self, moment: int, end: int | None) -> frozenset[str]:
        """Ids of the events that occurred by ``moment`` (below index ``end``) but are not listed yet (their lag
        has not passed): only the last ``event_lag_ms`` of events can be hidden. Call under the account's lock."""
        if not self.event_lag_ms:
            return frozenset()
        events = self.account.events
        first = events.index_of(make_id("evt", max(0, moment - self.event_lag_ms), 0))
        last = len(events) if end is None else end
        hidden = set()
        for event_id in events.ids[first:last]:
            if decode_id(event_id)[0] + self.lag_of(event_id) > moment:
                hidden.add(event_id)
        return frozenset(hidden)

    def set_time(self, at: Any) -> None:
        """Serve the account as it is at ``at`` (see ``Account.set_time``); None: the real time."""
        self.account.set_time(at)

    def inject(self, fault: str, count: int = 1, path: str | None = None, retry_after: int = 1) -> None:
        """The next ``count`` requests (whose path starts with ``path``, if given) get ``fault``."""
        self._faults.inject(fault, count=count, path=path, retry_after=retry_after)

    def fail_customer(self, customer_id: str, status: int = 500) -> None:
        """Credit-balances calls for this customer fail with ``status`` until ``clear_faults()``."""
        self._faults.fail_customer(customer_id, status)

    def clear_faults(self) -> None:
        """Drop every pending injected fault and failing customer."""
        self._faults.clear()

    def add_key(self, key: str, permissions: set[str]) -> None:
        """Accept another API key with only these permissions (e.g. ``{"customer.read"}``)."""
        self._keys[key] = frozenset(permissions)

    @property
    def stats(self) -> dict[str, Any]:
        """requests, by_path, rate_limited, injected, max_in_window (see ``faults.Stats``)."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Zero the request statistics."""
        self._stats.reset()
