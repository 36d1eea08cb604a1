"""A tiny hostile Paddle-shaped server on loopback, for data and answers the simulator never gives.

It answers the five calls a snapshot makes (``/events``, ``/customers``, ``/subscriptions``,
``/adjustments``, ``/customers/{id}/credit-balances``) in Paddle's shapes, from plain attributes a test
sets: the customer list pages (which may repeat a customer), each customer's balance rows (which may
repeat a currency or hold huge amounts), an endless ``next``, and error bodies that echo the request's
Authorization header back. It counts requests per path so a test can say what was asked.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

KEY = "pdl_sdbx_apikey_01hostile0test0key00000000000_HostileServerKeyValue"


def customer(cid: str) -> dict[str, Any]:
    """A Paddle customer object."""
    return {
        "id": cid, "status": "active", "custom_data": None, "name": f"Name {cid}", "email": f"{cid}@example.com",
        "marketing_consent": False, "locale": "en",
        "created_at": "2025-01-02T03:04:05.000Z", "updated_at": "2025-01-02T03:04:05.000Z",
    }


class HostilePaddle:
    """Settings of the hostile server; change them between requests (they are read per request)."""

    def __init__(self) -> None:
        self.customer_pages: list[list[str]] = [[]]
        self.balances: dict[str, list[tuple[str, str, str, str]]] = {}
        self.adjustment_customers: list[str] = []
        self.echo_auth_for: set[str] = set()  # customers whose balances answer 500 echoing Authorization
        self.fail_customers_page: int | None = None  # this page index answers 400 (not retried)
        self.fail_delay: float = 0.0  # seconds before that 400, so balances already asked are answered
        self.endless: bool = False
        self.raw_customer_items: list[Any] | None = None  # sent as the customers page's data, as is
        self.raw_adjustments: list[Any] | None = None  # sent as the adjustments page's data, as is
        self.estimated_total: int | None = None
        self.events: list[dict[str, Any]] = []  # served on /events (order_by and after honoured), as is
        self.honour_skip_count = False  # True: estimated_total only when the request did not skip the count
        self.counted = True
        self.root_failures: int = 0  # GET / answers 429 this many times before its 200
        self.requests: Counter[str] = Counter()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HostilePaddle:
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                app.counted = (self.headers.get("Skip-Count") or "").lower() != "true"
                status, body = app.answer(self.path, self.headers.get("Authorization") or "")
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- answers ---------------------------------------------------------------------------------------

    def _page(self, data: list[Any], path: str, page: int, more: bool) -> dict[str, Any]:
        pagination: dict[str, Any] = {
            "per_page": max(1, len(data)), "has_more": more,
            "next": f"{self.base_url}{path}?after=page{page + 1}",
        }
        if self.estimated_total is not None and (self.counted or not self.honour_skip_count):
            pagination["estimated_total"] = self.estimated_total
        return {"data": data, "meta": {"request_id": f"req_{page}", "pagination": pagination}}

    def _events(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        """The events after ``after``, in ``order_by``'s order (by event id, as Paddle orders them)."""
        descending = "DESC" in (query.get("order_by") or [""])[0]
        events = sorted(self.events, key=lambda e: str(e.get("event_id")), reverse=descending)
        after = (query.get("after") or [""])[0]
        if after:
            events = [e for e in events if (str(e.get("event_id")) < after if descending
                                            else str(e.get("event_id")) > after)]
        limit = int((query.get("per_page") or ["200"])[0])
        return events[:limit]

    def answer(self, raw_path: str, authorization: str) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(raw_path)
        path = parts.path
        query = parse_qs(parts.query)
        self.requests[path] += 1
        after = (query.get("after") or [""])[0]
        page = int(after[4:]) if after.startswith("page") else 0
        if path == "/":
            if self.root_failures > 0:
                self.root_failures -= 1
                return 429, {"error": {"type": "request_error", "code": "too_many_requests",
                                       "detail": "slow down"}, "meta": {"request_id": "req_429"}}
            return 200, {"data": {"environment": "sandbox"}, "meta": {"request_id": "req_root"}}
        if path == "/events":
            return 200, self._page(self._events(query), path, 0, False)
        if path in ("/subscriptions", "/transactions"):
            return 200, self._page([], path, 0, False)
        if path == "/adjustments":
            data = self.raw_adjustments if self.raw_adjustments is not None else [
                {"id": f"adj_{i}", "customer_id": c, "action": "credit"}
                for i, c in enumerate(self.adjustment_customers)]
            return 200, self._page(data, path, 0, False)
        if path == "/customers":
            if self.raw_customer_items is not None:
                return 200, self._page(self.raw_customer_items, path, 0, False)
            if self.endless:
                return 200, self._page([customer(f"ctm_endless{page:05d}")], path, page, True)
            if page == self.fail_customers_page:
                time.sleep(self.fail_delay)
                return 400, {"error": {"type": "request_error", "code": "bad_request", "detail": "page refused"},
                             "meta": {"request_id": "req_bad"}}
            ids = self.customer_pages[page]
            more = page + 1 < len(self.customer_pages)
            return 200, self._page([customer(c) for c in ids], path, page, more)
        if path.startswith("/customers/") and path.endswith("/credit-balances"):
            cid = path.split("/")[2]
            if cid in self.echo_auth_for:
                return 500, {"error": {"type": "api_error", "code": "internal_error",
                                       "detail": f"upstream said no to header Authorization: {authorization}"},
                             "meta": {"request_id": "req_echo"}}
            rows = [{"customer_id": cid, "currency_code": cur,
                     "balance": {"available": a, "reserved": r, "used": u}}
                    for cur, a, r, u in self.balances.get(cid, [])]
            return 200, {"data": rows, "meta": {"request_id": "req_bal"}}
        return 404, {"error": {"type": "request_error", "code": "not_found", "detail": "no such path"},
                     "meta": {"request_id": "req_404"}}
