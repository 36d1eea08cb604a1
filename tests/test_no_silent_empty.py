"""A wrong question is answered in one line, never with an empty frame: unknown currencies, customers,
cohort rules and columns; an empty result only for a valid question with no data (issue 19, item 1).

Against a small demo store (a first fetch, then incremental month-end snapshots from the simulator)."""

from __future__ import annotations

from typing import Any

import pytest

import credit_reports as cr
from credit_reports.core.errors import UsageError
from credit_reports.figures import cohorts
from credit_reports.report import alerts


@pytest.fixture(scope="module")
def demo(small_demo: dict[str, Any]) -> dict[str, Any]:
    return small_demo


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(exc.value)
    assert "\n" not in text, text
    return text


def test_movements_of_a_code_that_is_no_currency_is_refused_naming_it(demo):
    with pytest.raises(UsageError) as caught:
        cr.movements(data_dir=demo["data"], currency="EURO")
    line = _one_line(caught)
    assert "'EURO'" in line and "did you mean EUR" in line


def test_movements_accept_a_lower_case_code_as_the_currency(demo):
    lower = cr.movements(data_dir=demo["data"], currency="eur")
    assert len(lower) > 0 and set(lower["currency_code"]) == {"EUR"}
    everything = cr.movements(data_dir=demo["data"])
    assert len(lower) == int((everything["currency_code"] == "EUR").sum())


def test_movements_in_a_valid_currency_nobody_holds_are_an_empty_frame(demo):
    assert "CHF" not in set(demo["snap"].balances["currency_code"])
    assert cr.movements(data_dir=demo["data"], currency="CHF").empty


def test_statement_of_an_unknown_customer_is_refused_in_one_line(demo):
    with pytest.raises(UsageError) as caught:
        cr.statement("ctm_doesnotexist", data_dir=demo["data"])
    line = _one_line(caught)
    assert "'ctm_doesnotexist'" in line and demo["snap"].name in line
    with pytest.raises(UsageError, match="unknown customer_id"):
        cr.movements(data_dir=demo["data"], customer_id="ctm_doesnotexist")


def test_statement_of_a_known_customer_without_credit_is_empty_not_an_error(demo):
    snap = demo["snap"]
    holders = set(snap.balances["customer_id"])
    never = [c for c in snap.customers["customer_id"] if c not in holders
             and not (cr.movements(data_dir=demo["data"])["customer_id"] == c).any()]
    assert never, "the demo account should have a customer who never held credit"
    assert cr.statement(never[0], data_dir=demo["data"]).empty


def test_statement_in_a_code_that_is_no_currency_is_refused(demo):
    customer = str(demo["snap"].balances["customer_id"].iloc[0])
    with pytest.raises(UsageError, match="unknown currency 'US'"):
        cr.statement(customer, data_dir=demo["data"], currency="US")


def test_a_requested_currency_without_data_needs_attention():
    manifest = {"parameters": {"currencies": "[CHF, EUR]"}, "headline": {"EUR": {"outstanding": 5}},
                "snapshot": {"complete": True}}
    reasons = alerts.attention_reasons(manifest)
    assert any("CHF" in r and "no data" in r for r in reasons), reasons
    assert not any("EUR" in r for r in reasons)
    assert alerts.attention_reasons({**manifest, "parameters": {"currencies": ["EUR"]}}) == []


def test_an_unknown_cohort_rule_or_column_is_refused_in_one_line(demo):
    customers = demo["snap"].customers
    with pytest.raises(UsageError) as caught:
        cohorts.assign_cohorts(customers, "signup_quater")
    assert "did you mean 'signup_quarter'" in _one_line(caught)
    with pytest.raises(UsageError) as caught:
        cohorts.assign_cohorts(customers.drop(columns=["created_at"]), "signup_month")
    assert "created_at" in _one_line(caught)


def test_a_custom_data_key_no_customer_has_is_refused_naming_the_keys_they_have():
    import pandas as pd

    customers = pd.DataFrame({"customer_id": ["c1", "c2", "c3"],
                              "custom_data": ['{"plan": "pro"}', None, '{"plan": "free", "seats": 3}']})
    with pytest.raises(UsageError) as caught:
        cohorts.assign_cohorts(customers, "custom_data.plann")
    line = _one_line(caught)
    assert "did you mean 'custom_data.plan'" in line and "plan, seats" in line
    assert cohorts.assign_cohorts(customers, "custom_data.seats")["cohort"].tolist() == ["(none)", "(none)", "3"]


def test_an_environment_the_store_does_not_hold_is_refused_not_listed_empty(demo):
    for call in (lambda: cr.list_snapshots(demo["data"], "demos"), lambda: cr.load_history(demo["data"], "demos")):
        with pytest.raises(UsageError) as caught:
            call()
        line = _one_line(caught)
        assert "'demos'" in line and "did you mean 'demo'" in line
    empty_store = demo["data"].parent / "empty-store"
    empty_store.mkdir(exist_ok=True)
    assert cr.list_snapshots(empty_store, "production").empty  # nothing stored yet: a valid empty answer


def test_prepare_reads_lower_case_currencies_and_refuses_a_code_that_is_none(demo):
    from credit_reports.report.preparation import prepare

    report = prepare(data_dir=str(demo["data"]), currencies="eur")
    assert report.totals["currency_code"].tolist() == ["EUR"]
    with pytest.raises(UsageError, match=r"unknown currency 'EURO' \(did you mean EUR\?\)"):
        prepare(data_dir=str(demo["data"]), currencies="[EURO]")


@pytest.mark.slow
def test_a_rendered_report_of_a_currency_nobody_holds_needs_attention(demo, tmp_path):
    import json

    from credit_reports.delivery.render import render_report

    result = render_report(parameters={"currencies": ["CHF", "EUR"]}, data_dir=demo["data"], out_dir=tmp_path)
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    assert manifest["attention"] == ["no data in CHF, a requested currency (no customer holds a balance in it)"]
    assert "CHF" in (tmp_path / "index.html").read_text(encoding="utf-8")
