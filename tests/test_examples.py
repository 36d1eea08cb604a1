"""Paddle's documented response bodies (../shared/paddle/examples) go through our real client and parsers.

A tiny loopback server replays the documented bodies verbatim, so these tests pin that the client and
the DataFrame builders read Paddle's own examples, not only our simulator's rendering of the spec.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from credit_reports.fetch.readers import (
    fetch_credit_balances,
    fetch_credited_customer_ids,
    fetch_customers,
    fetch_subscriptions,
)
from credit_reports.paddle.client import PaddleClient

KEY = "pdl_sdbx_apikey_01examplesexamplesexamplesex_replayonly"


def _routes(examples: Path) -> dict[str, object]:
    load = lambda name: json.loads((examples / name).read_text(encoding="utf-8"))  # noqa: E731
    return {
        "/customers": load("customers_list.json"),
        "/customers/ctm_01gw9m680k848184fpttwr0b7z/credit-balances": load("credit_balances_list.json"),
        "/adjustments": load("adjustments_list.json"),
        "/events": load("events_list.json"),
        "/notification-settings": load("pagination_page_one.json"),
        "/notification-settings?after": load("pagination_page_two.json"),
        "/lenient/customers": _page([{
            "id": "ctm_01h844q4mznqpgqgm6evgw1w63", "status": "active", "email": "a@example.com",
            "created_at": "0001-01-01T00:00:00Z", "updated_at": None, "locale": None, "custom_data": None,
            "a_field_from_the_future": {"nested": [1, 2]},
        }]),
        "/lenient/subscriptions": _page([{
            "id": "sub_01h844q4mznqpgqgm6evgw1w63", "customer_id": "ctm_01h844q4mznqpgqgm6evgw1w63",
            "status": "paused", "currency_code": "USD", "created_at": "0001-01-01T00:00:00Z",
            "billing_cycle": None, "items": [None, {"price": None, "status": "active"}], "next_transaction": {},
        }]),
    }


def _page(data: list[dict[str, object]]) -> dict[str, object]:
    """A one-page list body in Paddle's envelope."""
    return {"data": data, "meta": {"request_id": "r", "pagination": {
        "per_page": 50, "next": "http://unused/", "has_more": False, "estimated_total": len(data)}}}


@pytest.fixture(scope="module")
def replay(shared_dir: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve the documented bodies on loopback; yield the base URL and the log of request targets."""
    routes = _routes(shared_dir / "paddle" / "examples")
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            seen.append(self.path)
            url = urlsplit(self.path)
            key = url.path + ("?after" if "after" in parse_qs(url.query) else "")
            if url.path == "/events" and "after" in parse_qs(url.query):
                body = {"data": [], "meta": {"request_id": "r", "pagination": {
                    "per_page": 10, "next": "x", "has_more": False, "estimated_total": 0}}}
            else:
                body = routes.get(key) or routes.get(url.path)
            data = json.dumps(body).encode()
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def client(replay) -> PaddleClient:
    return PaddleClient(api_key=KEY, base_url=replay[0], max_rpm=6000)


def test_documented_customer_list_becomes_typed_rows(client) -> None:
    customers = fetch_customers(client).set_index("customer_id")
    assert sorted(customers.index) == [
        "ctm_01h8441jn5pcwrfhwh78jqt8hk", "ctm_01h844p3h41s12zs5mn4axja51", "ctm_01h844q4mznqpgqgm6evgw1w63",
    ]
    jamie = customers.loc["ctm_01h844q4mznqpgqgm6evgw1w63"]
    assert str(customers["created_at"].dt.tz) == "UTC"
    assert jamie["created_at"] == pd.Timestamp("2023-08-18T10:58:05.087Z")
    assert jamie["name"] == "Jamie Price" and jamie["email"] == "test3@example.com"
    assert json.loads(jamie["custom_data"]) == {"customer_reference_id": "abcd1234"}
    assert pd.isna(customers.loc["ctm_01h844p3h41s12zs5mn4axja51", "custom_data"])


def test_documented_credit_balance_becomes_integer_minor_units(client) -> None:
    balances = fetch_credit_balances(client, ["ctm_01gw9m680k848184fpttwr0b7z"])
    assert balances.to_dict("records") == [{
        "customer_id": "ctm_01gw9m680k848184fpttwr0b7z", "currency_code": "USD",
        "available": 550, "reserved": 900, "used": 1300,
    }]
    assert str(balances["available"].dtype) == "int64"


def test_documented_adjustments_name_their_customers(client, shared_dir: Path) -> None:
    documented = json.loads((shared_dir / "paddle/examples/adjustments_list.json").read_text())["data"]
    assert fetch_credited_customer_ids(client) == {a["customer_id"] for a in documented}


def test_pagination_follows_the_documented_next_onto_our_base_url_and_stops_on_has_more(client, replay) -> None:
    base_url, seen = replay
    before = len(seen)
    items = list(client.paginate("/notification-settings"))
    assert [i["id"] for i in items] == ["ntfset_01gkpjp8bkm3tm53kdgkx6sms7", "ntfset_01gkpop8bkm3tm53itgkx6klk7"]
    # page one's next names sandbox-api.paddle.com: it was re-based onto the replay server, and page
    # two's next (present although has_more is false) was not followed
    assert len(seen) - before == 2
    assert "after=ntfset_01gkpjp8bkm3tm53kdgkx6sms7" in seen[-1]


def test_documented_events_list_is_read_to_the_end(client) -> None:
    events = list(client.paginate("/events"))
    assert len(events) == 11
    assert events[0]["event_type"] == "subscription.updated"


def test_unknown_fields_nulls_missing_optionals_and_placeholder_dates_are_read_leniently(replay) -> None:
    lenient = PaddleClient(api_key=KEY, base_url=replay[0] + "/lenient", max_rpm=6000)
    customers = fetch_customers(lenient)
    assert customers["customer_id"].tolist() == ["ctm_01h844q4mznqpgqgm6evgw1w63"]
    assert pd.isna(customers["created_at"].iloc[0]) and pd.isna(customers["updated_at"].iloc[0])
    assert pd.isna(customers["name"].iloc[0]) and bool(customers["marketing_consent"].iloc[0]) is False
    subscriptions = fetch_subscriptions(lenient)
    assert len(subscriptions) == 2 and set(subscriptions["status"]) == {"paused"}
    assert subscriptions["created_at"].isna().all() and subscriptions["price_id"].isna().all()
