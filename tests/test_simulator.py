"""The local Paddle simulator: Paddle's shapes (checked against the official OpenAPI spec), pagination,
auth, a ledger whose served balances equal an independent replay, moving the account on, the rate limit
with its block, and every injectable fault. All over real HTTP with plain ``requests``."""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from credit_reports.simulator import ANCHOR, CURRENT_PADDLE, DEMO_API_KEY, REGIME_CHANGE, Account, Simulator

SPEC_URI = "urn:paddle-openapi-v1"
ID_PATTERN = r"^{}_[a-z\d]{{26}}$"


# ---------------------------------------------------------------------------------------------- helpers

@pytest.fixture(scope="session")
def spec(shared_dir: Path) -> dict[str, Any]:
    """Paddle's OpenAPI spec, parsed once per session."""
    with open(shared_dir / "paddle" / "openapi.yaml", "rb") as handle:
        return yaml.load(handle, Loader=yaml.CSafeLoader)


@pytest.fixture(scope="session")
def validate(spec: dict[str, Any]):
    """``validate(body, path)`` checks a 200 body against the spec's GET response schema for ``path``;
    ``validate(body, None)`` checks an error body against ``#/components/schemas/error``."""
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry = Registry().with_resource(SPEC_URI, resource)
    cache: dict[str | None, jsonschema.Draft202012Validator] = {}

    def check(body: dict[str, Any], path: str | None) -> None:
        if path not in cache:
            if path is None:
                pointer = "#/components/schemas/error"
            else:
                escaped = path.replace("~", "~0").replace("/", "~1")
                pointer = f"#/paths/{escaped}/get/responses/200/content/application~1json/schema"
            cache[path] = jsonschema.Draft202012Validator({"$ref": SPEC_URI + pointer}, registry=registry)
        errors = sorted(cache[path].iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:5])

    return check


def session_for(sim: Simulator, key: str | None = None) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key or sim.api_key}"
    return session


def get(session: requests.Session, sim: Simulator, path: str, **params: Any) -> requests.Response:
    return session.get(sim.base_url + path, params=params or None, timeout=10)


def walk(session: requests.Session, sim: Simulator, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a list, following ``next`` as given and stopping on ``has_more``."""
    pages = []
    response = get(session, sim, path, **params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body)
        if not body["meta"]["pagination"]["has_more"]:
            return pages
        response = session.get(body["meta"]["pagination"]["next"], timeout=10)


def items(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for page in pages for item in page["data"]]


def served_balances(session: requests.Session, sim: Simulator, customer_ids) -> list[dict[str, Any]]:
    """Balances as served by /credit-balances, as int rows like ``expected_balances()``."""
    rows = []
    for customer_id in customer_ids:
        response = get(session, sim, f"/customers/{customer_id}/credit-balances")
        assert response.status_code == 200, response.text
        for item in response.json()["data"]:
            balance = item["balance"]
            rows.append({"customer_id": item["customer_id"], "currency_code": item["currency_code"],
                         "available": int(balance["available"]), "reserved": int(balance["reserved"]),
                         "used": int(balance["used"])})
    return sorted(rows, key=lambda r: (r["customer_id"], r["currency_code"]))


@pytest.fixture(scope="module")
def http(sim: Simulator) -> requests.Session:
    return session_for(sim)


@pytest.fixture(scope="module")
def faulty() -> Simulator:
    """A small private simulator for fault injection (the shared ``sim`` must stay untouched)."""
    simulator = Simulator(customers=40, seed=5).start()
    yield simulator
    simulator.stop()


# ---------------------------------------------------------------------------------------------- spec

def test_customer_list_and_customer_match_the_spec(sim, http, validate):
    pages = walk(http, sim, "/customers", status="active,archived", per_page=200)
    for page in pages:
        validate(page, "/customers")
    customer = items(pages)[0]
    response = get(http, sim, f"/customers/{customer['id']}")
    validate(response.json(), "/customers/{customer_id}")
    assert response.json()["data"] == customer


def test_credit_balances_match_the_spec_including_empty_ones(sim, http, validate):
    holders = sorted({row["customer_id"] for row in sim.account.expected_balances()})
    nobody = next(c["id"] for c in sim.account.customers if c["id"] not in holders)
    for customer_id in holders[:40] + [nobody]:
        body = get(http, sim, f"/customers/{customer_id}/credit-balances").json()
        validate(body, "/customers/{customer_id}/credit-balances")
        assert set(body["meta"]) == {"request_id"}, "credit balances are not paginated"
    assert get(http, sim, f"/customers/{nobody}/credit-balances").json()["data"] == []


@pytest.mark.parametrize("path, params", [
    ("/adjustments", {"per_page": 50}),
    ("/adjustments", {"per_page": 50, "action": "credit"}),
    ("/events", {"per_page": 200}),
    ("/subscriptions", {"per_page": 200}),
    ("/transactions", {"per_page": 30}),
])
def test_list_pages_match_the_spec(sim, http, validate, path, params):
    pages = walk(http, sim, path, **params)
    assert items(pages), f"{path} served nothing to validate"
    for page in pages:
        validate(page, path)


@pytest.mark.parametrize("path, params", [
    ("/adjustments", {"per_page": 50}),
    ("/events", {"per_page": 200}),
    ("/subscriptions", {"per_page": 200}),
    ("/transactions", {"per_page": 30}),
])
def test_pages_of_an_account_behaving_as_current_paddle_that_moved_on_match_the_spec(make_sim, validate, path,
                                                                                     params):
    simulator = make_sim(customers=150, seed=12, **CURRENT_PADDLE)
    simulator.advance(1, renewals=3, past_dues=2, invoice_seller_credits=2, transfers=2, refunds=2, spends=2,
                      completions=2, cancellations=1, seller_credits=1)
    pages = walk(session_for(simulator), simulator, path, **params)
    assert items(pages)
    for page in pages:
        validate(page, path)


def test_error_bodies_match_the_spec(sim, http, validate):
    unknown = "ctm_" + "0" * 26
    answers = [
        requests.get(sim.base_url + "/customers", timeout=10),
        requests.get(sim.base_url + "/customers", headers={"Authorization": "Bearer nope"}, timeout=10),
        get(http, sim, f"/customers/{unknown}/credit-balances"),
        get(http, sim, "/customers/ctm_NOT-VALID/credit-balances"),
        get(http, sim, "/customers", per_page="many"),
    ]
    assert [a.status_code for a in answers] == [403, 403, 404, 400, 400]
    for answer in answers:
        validate(answer.json(), None)
    assert answers[3].json()["error"]["errors"][0]["field"] == "customer_id"


# ---------------------------------------------------------------------------------------------- pagination

def test_last_page_has_more_false_while_next_is_still_a_full_url_keeping_filters(sim, http):
    pages = walk(http, sim, "/customers", status="active,archived", per_page=200)
    assert len(pages) == 2  # 300 customers
    first, last = (page["meta"]["pagination"] for page in pages)
    assert first["has_more"] is True and last["has_more"] is False
    assert last["next"].startswith(sim.base_url + "/customers?")
    assert "status=active%2Carchived" in last["next"] and "per_page=200" in last["next"]
    assert last["next"].endswith("after=" + pages[-1]["data"][-1]["id"])
    assert first["estimated_total"] == last["estimated_total"] == 300


def test_per_page_above_the_maximum_is_capped_at_200_50_for_adjustments_and_30_for_transactions(sim, http):
    customers = get(http, sim, "/customers", status="active,archived", per_page=1000).json()
    assert len(customers["data"]) == 200 and customers["meta"]["pagination"]["per_page"] == 200
    adjustments = get(http, sim, "/adjustments", per_page=1000).json()
    assert len(adjustments["data"]) == min(50, len(sim.account.adjustments))
    assert adjustments["meta"]["pagination"]["per_page"] == 50
    transactions = get(http, sim, "/transactions", per_page=1000).json()
    assert len(transactions["data"]) == 30 and transactions["meta"]["pagination"]["per_page"] == 30
    assert len(get(http, sim, "/adjustments").json()["data"]) == 10  # Paddle's default page there
    assert len(get(http, sim, "/customers").json()["data"]) == 50


def test_default_order_is_id_desc_and_asc_walks_every_id_once(sim, http):
    default = [c["id"] for c in get(http, sim, "/customers", per_page=100).json()["data"]]
    assert default == sorted(default, reverse=True)
    ascending = [c["id"] for c in items(walk(http, sim, "/customers", status="active,archived",
                                               order_by="id[ASC]", per_page=37))]
    assert ascending == sorted(c["id"] for c in sim.account.customers)
    descending = [c["id"] for c in items(walk(http, sim, "/customers", status="active,archived",
                                                order_by="id[DESC]", per_page=37))]
    assert descending == ascending[::-1]


def test_customer_list_defaults_to_active_only_and_archived_must_be_asked_for(sim, http):
    statuses = Counter(c["status"] for c in sim.account.customers)
    assert statuses["archived"] > 0
    default = items(walk(http, sim, "/customers", per_page=200))
    assert {c["status"] for c in default} == {"active"} and len(default) == statuses["active"]
    archived = items(walk(http, sim, "/customers", status="archived", per_page=200))
    assert {c["status"] for c in archived} == {"archived"} and len(archived) == statuses["archived"]


def test_customer_list_filters_by_id_email_and_search(sim, http):
    first, second, third = sim.account.customers[:3]
    by_id = get(http, sim, "/customers", status="active,archived", id=f"{first['id']},{third['id']}").json()
    assert sorted(c["id"] for c in by_id["data"]) == sorted([first["id"], third["id"]])
    assert by_id["meta"]["pagination"]["estimated_total"] == 2
    by_email = get(http, sim, "/customers", status="active,archived", email=second["email"]).json()["data"]
    assert [c["id"] for c in by_email] == [second["id"]]
    found = get(http, sim, "/customers", status="active,archived", search=second["email"][-16:])
    found = found.json()["data"]
    assert second["id"] in [c["id"] for c in found]


def test_skip_count_header_makes_estimated_total_minus_one(sim, http):
    body = http.get(sim.base_url + "/customers", headers={"Skip-Count": "true"}, timeout=10).json()
    assert body["meta"]["pagination"]["estimated_total"] == -1


def test_adjustment_filters_action_customer_and_status(sim, http):
    credits = items(walk(http, sim, "/adjustments", action="credit", per_page=50))
    everything = items(walk(http, sim, "/adjustments", per_page=50))
    assert credits and {a["action"] for a in credits} == {"credit"}
    assert {a["action"] for a in everything} == {"credit", "credit_reverse", "refund"}
    two = sorted({a["customer_id"] for a in credits})[:2]
    named = items(walk(http, sim, "/adjustments", customer_id=",".join(two), per_page=50))
    assert {a["customer_id"] for a in named} == set(two)
    assert named == [a for a in everything if a["customer_id"] in two]
    pending = items(walk(http, sim, "/adjustments", status="pending_approval", per_page=50))
    assert pending == [a for a in everything if a["status"] == "pending_approval"]


def test_events_serve_only_the_last_90_days_and_filter_by_type(sim, http):
    served = items(walk(http, sim, "/events", order_by="id[ASC]", per_page=200))
    horizon = datetime.now(UTC) - timedelta(days=90)
    stamps = [datetime.fromisoformat(e["occurred_at"]) for e in served]
    assert served and min(stamps) >= horizon
    ids = [e["event_id"] for e in served]
    assert stamps == sorted(stamps) and ids == sorted(ids)
    assert len(sim.account.events) > len(served), "history older than 90 days exists but is not served"
    billed = items(walk(http, sim, "/events", event_type="transaction.billed,adjustment.created",
                        per_page=200))
    assert billed and {e["event_type"] for e in billed} == {"transaction.billed", "adjustment.created"}


def test_subscriptions_filter_by_customer_and_status(sim, http):
    everything = items(walk(http, sim, "/subscriptions", per_page=200))
    assert {s["billing_cycle"]["interval"] for s in everything} == {"month", "year"}
    customer = everything[0]["customer_id"]
    mine = items(walk(http, sim, "/subscriptions", customer_id=customer))
    assert mine and {s["customer_id"] for s in mine} == {customer}
    canceled = items(walk(http, sim, "/subscriptions", status="canceled", per_page=200))
    assert canceled == [s for s in everything if s["status"] == "canceled"]


# ---------------------------------------------------------------------------------------------- auth

def test_missing_wrong_and_underpowered_keys_get_paddles_three_403_codes(make_sim):
    simulator = make_sim(customers=20)
    simulator.add_key("pdl_sdbx_apikey_customers_only", {"customer.read"})
    no_key = requests.get(simulator.base_url + "/customers", timeout=10)
    wrong = get(session_for(simulator, "pdl_sdbx_apikey_wrong"), simulator, "/customers")
    limited = session_for(simulator, "pdl_sdbx_apikey_customers_only")
    assert (no_key.status_code, no_key.json()["error"]["code"]) == (403, "authentication_missing")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "invalid_token")
    assert get(limited, simulator, "/customers").status_code == 200
    forbidden = get(limited, simulator, "/adjustments")
    assert (forbidden.status_code, forbidden.json()["error"]["code"]) == (403, "forbidden")
    assert simulator.api_key == DEMO_API_KEY
    assert get(session_for(simulator), simulator, "/").status_code == 200


# ---------------------------------------------------------------------------------------------- the ledger

def test_served_balances_equal_the_replayed_ledger_for_every_customer(sim, http):
    every_customer = [c["id"] for c in sim.account.customers]
    assert served_balances(http, sim, every_customer) == sim.account.expected_balances()


def test_balances_are_non_negative_ints_and_every_unit_granted_is_on_a_served_transaction_or_adjustment(sim, http):
    """available + reserved + used = credit_to_balance of completed transactions + legacy credit adjustments
    applied to the balance - credit_reverse, computed here from what the API serves (credit-rules.md)."""
    expected = sim.account.expected_balances()
    for row in expected:
        for field in ("available", "reserved", "used"):
            assert type(row[field]) is int and row[field] >= 0
    granted: defaultdict[tuple[str, str], int] = defaultdict(int)
    origins = Counter()
    for txn in items(walk(http, sim, "/transactions", status="completed")):
        to_balance = int(txn["details"]["totals"]["credit_to_balance"])
        if to_balance:
            origins[txn["origin"]] += 1
            granted[(txn["customer_id"], txn["currency_code"])] += to_balance
    for adjustment in items(walk(http, sim, "/adjustments", per_page=50)):
        key = (adjustment["customer_id"], adjustment["currency_code"])
        if adjustment["action"] == "credit" and adjustment["credit_applied_to_balance"] \
                and adjustment["status"] in ("approved", "reversed"):
            granted[key] += int(adjustment["totals"]["total"])
        elif adjustment["action"] == "credit_reverse" and adjustment["status"] == "approved":
            granted[key] += int(adjustment["totals"]["total"])  # negative totals
    assert {(r["customer_id"], r["currency_code"]): r["available"] + r["reserved"] + r["used"]
            for r in expected} == {key: value for key, value in granted.items() if value}
    assert origins["subscription_update"] > origins["subscription_recurring"] > 0


def test_currency_code_filter_unknown_and_malformed_customer_ids(sim, http):
    two_currency = Counter(r["customer_id"] for r in sim.account.expected_balances()).most_common(1)[0]
    assert two_currency[1] == 2, "some customers hold credit in two currencies"
    rows = get(http, sim, f"/customers/{two_currency[0]}/credit-balances").json()["data"]
    only = get(http, sim, f"/customers/{two_currency[0]}/credit-balances",
               currency_code=rows[0]["currency_code"]).json()["data"]
    assert only == rows[:1]
    missing = get(http, sim, "/customers/ctm_" + "z" * 26 + "/credit-balances")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert get(http, sim, "/customers/cus_123/credit-balances").status_code == 400


def test_demo_account_facts_hold():
    account = Account(customers=2000, seed=7)
    rows = account.expected_balances()
    holders = {r["customer_id"] for r in rows}
    customers = account.customers
    archived = {c["id"] for c in customers if c["status"] == "archived"}
    assert len(customers) == 2000
    subscribers = account.subscriber_ids()
    assert 0.12 <= len(holders) / 2000 <= 0.25 and holders <= subscribers
    assert 0.25 <= 1 - len(subscribers) / 2000 <= 0.45, "a sizeable share never subscribed"
    assert 0.07 <= len(archived) / 2000 <= 0.13 and len(archived & holders) >= 10
    assert {"USD", "EUR", "GBP", "JPY", "AUD", "KRW"} <= {r["currency_code"] for r in rows}
    for currency, low in (("JPY", 100), ("KRW", 1000)):
        granted = [r["available"] + r["reserved"] + r["used"] for r in rows if r["currency_code"] == currency]
        assert min(granted) >= low, f"{currency} amounts are whole units of realistic size"
    assert any(r["reserved"] > 0 for r in rows) and any(r["used"] > 0 for r in rows)
    created = [c["created_at"] for c in customers]
    first = min(ANCHOR - timedelta(days=730), REGIME_CHANGE - timedelta(days=365)).strftime("%Y-%m-%d")
    anchor = ANCHOR.strftime("%Y-%m-%d")
    assert min(created) >= first and max(created) < anchor and created == sorted(created)
    assert all(re.match(ID_PATTERN.format("ctm"), c["id"]) for c in customers)
    assert {c["locale"] for c in customers} >= {"en", "de", "fr", "ja", "es", "pt"}
    plans = Counter((c["custom_data"] or {}).get("plan") for c in customers)
    assert set(plans) == {"starter", "growth", "scale", "enterprise", None}


def test_account_is_the_same_on_every_run_for_a_seed_and_differs_across_seeds():
    first, again, other = Account(150, seed=3), Account(150, seed=3), Account(150, seed=4)
    assert first.customers == again.customers and first.entries == again.entries
    assert first.customers != other.customers


def test_twenty_thousand_customers_generate_in_under_six_seconds():
    # CPU time, so other jobs sharing this 2-core machine do not make the test flaky (about 3 s when idle)
    started = time.process_time()
    account = Account(customers=20_000, seed=7)
    assert time.process_time() - started < 6.0
    assert len(account.customers) == 20_000


# ---------------------------------------------------------------------------------------------- advance

def test_advance_changes_exactly_the_customers_it_reports_and_emits_events_naming_them(make_sim, validate):
    simulator = make_sim(customers=300, seed=21)
    session = session_for(simulator)
    high_water = get(session, simulator, "/events", per_page=1).json()["data"][0]["event_id"]
    before = {(r["customer_id"], r["currency_code"]): r for r in simulator.account.expected_balances()}
    started = datetime.now(UTC) - timedelta(milliseconds=1)
    result = simulator.advance(seed=1, credits=6, reservations=5, completions=3, cancellations=2,
                               new_customers=4, first_credits=3, spends=2, seller_credits=2)
    after = {(r["customer_id"], r["currency_code"]): r for r in simulator.account.expected_balances()}

    differing = {key[0] for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    assert differing == result["changed_customer_ids"]
    assert len(result["new_customer_ids"]) == 4
    assert len(result["changed_customer_ids"] - result["new_customer_ids"]) == 6 + 5 + 3 + 2 + 3 + 2
    assert {m["customer_id"] for m in simulator.account.expected_movements(start=started)} == differing
    assert simulator.account.expected_balances(at=started) == sorted(
        before.values(), key=lambda r: (r["customer_id"], r["currency_code"]))

    pages = walk(session, simulator, "/events", after=high_water, order_by="id[ASC]", per_page=200)
    for page in pages:
        validate(page, "/events")
    events = items(pages)
    now = datetime.now(UTC)
    assert all(now - datetime.fromisoformat(e["occurred_at"]) < timedelta(minutes=1) for e in events)
    kinds = Counter(e["event_type"] for e in events)
    assert kinds["transaction.billed"] == 5 + 2 and kinds["transaction.canceled"] == 2
    assert kinds["customer.created"] == 4 and kinds["adjustment.created"] == 2
    assert kinds["transaction.completed"] >= 3 + 6 + 3 + 2
    sellers = result["seller_credit_customer_ids"]
    assert len(sellers) == 2 and not sellers & differing
    named = {e["data"].get("customer_id") or e["data"]["id"] for e in events}
    assert named == result["changed_customer_ids"] | result["new_customer_ids"] | sellers
    assert all(e["event_id"] > high_water for e in events)
    expected_rows = [after[key] for key in sorted(after) if key[0] in differing]
    assert served_balances(session, simulator, sorted(differing)) == expected_rows
    listed = {c["id"] for c in items(walk(session, simulator, "/customers", per_page=200))}
    assert result["new_customer_ids"] <= listed


# ---------------------------------------------------------------------------------------------- rate limit

def test_going_over_the_limit_gets_429_and_blocks_the_ip_for_the_block_time(make_sim):
    simulator = make_sim(customers=10, rpm=30, window_seconds=10, block_seconds=1)
    session = session_for(simulator)
    statuses = [get(session, simulator, "/").status_code for _ in range(30)]
    assert statuses == [200] * 30
    over = get(session, simulator, "/")
    assert over.status_code == 429 and over.json()["error"]["code"] == "too_many_requests"
    assert over.headers["Retry-After"] == "1"
    assert get(session, simulator, "/").status_code == 429, "the IP stays blocked"
    time.sleep(1.1)
    assert get(session, simulator, "/").status_code == 200
    stats = simulator.stats
    assert stats["rate_limited"] == 2 and stats["injected"] == 0
    assert stats["requests"] == 33 and stats["by_path"] == {"/": 33} and stats["max_in_window"] >= 31


def test_latency_is_added_per_request_and_concurrent_requests_overlap(make_sim):
    simulator = make_sim(customers=10, latency_ms=300)
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda _: get(session_for(simulator), simulator, "/").status_code, range(4)))
    elapsed = time.perf_counter() - started
    assert codes == [200] * 4 and 0.3 <= elapsed < 1.0  # one after another would take 1.2 s


def test_a_session_keeps_one_connection_alive_across_requests(make_sim):
    simulator = make_sim(customers=10)
    session = session_for(simulator)
    responses = [get(session, simulator, path) for path in ("/", "/customers", "/events", "/adjustments")]
    assert [r.status_code for r in responses] == [200] * 4
    assert all(r.raw.version == 11 and "close" not in r.headers.get("Connection", "") for r in responses)
    pools = session.get_adapter(simulator.base_url).poolmanager.pools
    # urllib3 pools refuse plain iteration, hence keys()
    assert sum(pools[key].num_connections for key in pools.keys()) == 1  # noqa: SIM118 - opened once, reused


# ---------------------------------------------------------------------------------------------- faults

@pytest.mark.parametrize("kind", ["500", "502", "503", "504", "520", "521", "522", "523", "524"])
def test_injected_server_errors_answer_their_status_once(faulty, kind):
    session = session_for(faulty)
    faulty.inject(kind)
    assert get(session, faulty, "/customers").status_code == int(kind)
    assert get(session, faulty, "/customers").status_code == 200


def test_injected_429_variants_carry_seconds_a_date_or_nothing(faulty):
    session = session_for(faulty)
    faulty.inject("429", retry_after=3)
    seconds = get(session, faulty, "/customers")
    faulty.inject("429-date", retry_after=30)
    dated = get(session, faulty, "/customers")
    faulty.inject("429-bare")
    bare = get(session, faulty, "/customers")
    assert [r.status_code for r in (seconds, dated, bare)] == [429, 429, 429]
    assert seconds.headers["Retry-After"] == "3"
    wait = parsedate_to_datetime(dated.headers["Retry-After"]) - datetime.now(UTC)
    assert 20 <= wait.total_seconds() <= 31
    assert "Retry-After" not in bare.headers
    assert bare.json()["error"]["code"] == "too_many_requests"


def test_injected_drop_closes_the_connection_without_an_answer(faulty):
    faulty.inject("drop")
    with pytest.raises(requests.ConnectionError):
        get(session_for(faulty), faulty, "/customers")


def test_injected_slow_answer_outlasts_a_short_timeout(faulty):
    faulty.inject("slow")
    with pytest.raises(requests.ReadTimeout):
        session_for(faulty).get(faulty.base_url + "/", timeout=0.3)


def test_injected_malformed_body_is_a_200_that_is_not_json(faulty):
    faulty.inject("malformed")
    response = get(session_for(faulty), faulty, "/customers")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_faults_hit_only_their_path_and_only_count_times(faulty):
    session = session_for(faulty)
    faulty.reset_stats()
    faulty.inject("503", count=2, path="/adjustments")
    codes = [get(session, faulty, path).status_code
             for path in ("/customers", "/adjustments", "/events", "/adjustments", "/adjustments")]
    assert codes == [200, 503, 200, 503, 200]
    assert faulty.stats["injected"] == 2 and faulty.stats["rate_limited"] == 0


def test_failing_customer_fails_until_faults_are_cleared(faulty):
    session = session_for(faulty)
    first, second = (c["id"] for c in faulty.account.customers[:2])
    faulty.fail_customer(first, status=502)
    assert get(session, faulty, f"/customers/{first}/credit-balances").status_code == 502
    assert get(session, faulty, f"/customers/{first}/credit-balances").status_code == 502
    assert get(session, faulty, f"/customers/{second}/credit-balances").status_code == 200
    faulty.clear_faults()
    assert get(session, faulty, f"/customers/{first}/credit-balances").status_code == 200


def test_unknown_fault_kind_is_refused(faulty):
    with pytest.raises(ValueError, match="unknown fault"):
        faulty.inject("418")
