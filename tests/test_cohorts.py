"""Cohort rules and per-cohort totals against labels and sums worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from credit_reports.core.errors import UsageError
from credit_reports.figures import cohorts

CUSTOMERS = pd.DataFrame({
    "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
    "status": ["active", "archived", None, "active", "", "active"],
    "locale": ["en", "fr", "en", None, "de", "en"],
    "created_at": pd.to_datetime([
        "2024-12-31T12:00:00Z",
        "2025-01-15T00:00:00Z",
        # 23:30 at UTC-2 on 31 March is 01:30 UTC on 1 April: the April cohort
        "2025-03-31T23:30:00-02:00",
        "2025-03-01T00:00:00Z",
        None,
        "2025-02-28T23:59:59Z",
    ], utc=True, format="ISO8601"),
    "custom_data": [
        '{"plan": "pro", "segment": "smb", "team": {"size": 12}}',
        '{"plan": "free"}',
        None,
        "{not json",
        '{"segment": "ent"}',
        '{"plan": "pro", "seats": 3}',
    ],
    "email": [f"c{i}@example.com" for i in range(1, 7)],
    "name": [f"Customer {i}" for i in range(1, 7)],
})

SUBSCRIPTIONS = pd.DataFrame({
    "subscription_id": ["sub_b", "sub_a", "sub_c", "sub_d", "sub_d"],
    "customer_id": ["c1", "c1", "c2", "c3", "c3"],
    "status": "active",
    "currency_code": "USD",
    "billing_interval": ["month", "year", "month", "week", "week"],
    "billing_frequency": [1, 1, 3, 1, 1],
    "price_id": ["pri_m", "pri_y", "pri_q", "pri_w2", "pri_w1"],
    "product_id": ["pro_basic", "pro_gold", "pro_basic", "pro_z", "pro_a"],
    # c1's earliest is sub_a (a year plan); c3's sub_d has two items: the first by product is pro_a
    "created_at": pd.to_datetime(["2025-02-01", "2025-01-01", "2025-03-01", "2025-04-02", "2025-04-02"], utc=True),
})


def labels(rule: str, **kwargs) -> list[str]:
    frame = cohorts.assign_cohorts(CUSTOMERS, rule, **kwargs)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ["customer_id", "cohort"]
    assert frame["customer_id"].tolist() == CUSTOMERS["customer_id"].tolist()
    assert isinstance(frame["customer_id"].dtype, pd.StringDtype)
    return [str(v) for v in frame["cohort"]]


def test_assign_cohorts_returns_a_frame_of_customer_id_and_cohort_like_every_result():
    frame = cohorts.assign_cohorts(CUSTOMERS, "status")
    assert list(frame.columns) == ["customer_id", "cohort"] and frame.index.tolist() == list(range(len(CUSTOMERS)))
    assert isinstance(frame["cohort"].dtype, pd.StringDtype)
    by_customer = dict(zip(frame["customer_id"], frame["cohort"], strict=True))
    assert by_customer == {"c1": "active", "c2": "archived", "c3": "(none)", "c4": "active", "c5": "(none)",
                           "c6": "active"}


def test_signup_month_in_utc_as_ordered_categorical_unknown_last():
    series = cohorts.assign_cohorts(CUSTOMERS)["cohort"]  # default rule
    assert [str(v) for v in series] == ["2024-12", "2025-01", "2025-04", "2025-03", "(unknown)", "2025-02"]
    assert series.cat.ordered
    assert list(series.cat.categories) == ["2024-12", "2025-01", "2025-02", "2025-03", "2025-04", "(unknown)"]


def test_signup_quarter_and_year():
    assert labels("signup_quarter") == ["2024Q4", "2025Q1", "2025Q2", "2025Q1", "(unknown)", "2025Q1"]
    assert labels("signup_year") == ["2024", "2025", "2025", "2025", "(unknown)", "2025"]
    year = cohorts.assign_cohorts(CUSTOMERS, "signup_year")["cohort"]
    assert list(year.cat.categories) == ["2024", "2025", "(unknown)"]


def test_signup_month_accepts_iso_text_dates():
    text = CUSTOMERS.assign(created_at=["2024-12-31T12:00:00Z"] * 3 + ["2025-03-01T00:00:00+00:00"] * 3)
    assert [str(v) for v in cohorts.assign_cohorts(text)["cohort"]] == ["2024-12"] * 3 + ["2025-03"] * 3


def test_status_and_locale_show_missing_as_none():
    assert labels("status") == ["active", "archived", "(none)", "active", "(none)", "active"]
    assert labels("locale") == ["en", "fr", "en", "(none)", "de", "en"]


def test_custom_data_key_with_missing_invalid_nested_and_non_text_values():
    assert labels("custom_data.plan") == ["pro", "free", "(none)", "(invalid JSON)", "(none)", "pro"]
    assert labels("custom_data.segment") == ["smb", "(none)", "(none)", "(invalid JSON)", "ent", "(none)"]
    assert labels("custom_data.seats") == ["(none)", "(none)", "(none)", "(invalid JSON)", "(none)", "3"]
    assert labels("custom_data.team.size") == ["12", "(none)", "(none)", "(invalid JSON)", "(none)", "(none)"]


def test_custom_data_accepts_already_parsed_dicts():
    parsed = CUSTOMERS.assign(custom_data=[{"plan": "pro"}, None, {"plan": "free"}, {}, None, {"plan": "x"}])
    series = cohorts.assign_cohorts(parsed, "custom_data.plan")["cohort"]
    assert list(series) == ["pro", "(none)", "free", "(none)", "(none)", "x"]


def test_file_mapping_with_unmapped_customers(tmp_path):
    path = tmp_path / "cohorts.csv"
    path.write_text("customer_id,cohort\nc1,Key accounts\nc4, Key accounts \nc6,Partners\nzz,Elsewhere\n")
    mapping = cohorts.load_cohort_file(path)
    assert mapping.to_dict("records")[1] == {"customer_id": "c4", "cohort": "Key accounts"}
    expected = ["Key accounts", "(unmapped)", "(unmapped)", "Key accounts", "(unmapped)", "Partners"]
    assert labels("file", mapping=mapping) == expected
    assert labels(f"file:{path}") == expected


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("customer,cohort\nc1,a\n", "customer_id"),
        ("customer_id,cohort\nc1,a\nc1,b\n", "more than one cohort"),
        ("customer_id,cohort\nc1,\n", "empty"),
    ],
)
def test_bad_cohort_file_is_a_one_line_usage_error(tmp_path, content, needle):
    path = tmp_path / "cohorts.csv"
    path.write_text(content)
    with pytest.raises(UsageError, match=needle) as info:
        cohorts.load_cohort_file(path)
    assert "\n" not in str(info.value)


def test_file_rule_without_a_mapping_or_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="mapping"):
        cohorts.assign_cohorts(CUSTOMERS, "file")
    with pytest.raises(UsageError, match="not found"):
        cohorts.assign_cohorts(CUSTOMERS, f"file:{tmp_path / 'missing.csv'}")


def test_subscription_rules_use_the_earliest_subscription():
    none = "(no subscription)"
    assert labels("subscription.product", subscriptions=SUBSCRIPTIONS) == [
        "pro_gold", "pro_basic", "pro_a", none, none, none,
    ]
    assert labels("subscription.price", subscriptions=SUBSCRIPTIONS) == [
        "pri_y", "pri_q", "pri_w1", none, none, none,
    ]
    assert labels("subscription.interval", subscriptions=SUBSCRIPTIONS) == [
        "yearly", "every 3 months", "weekly", none, none, none,
    ]


def test_subscription_rule_without_subscriptions_is_a_usage_error():
    with pytest.raises(UsageError, match="subscriptions"):
        cohorts.assign_cohorts(CUSTOMERS, "subscription.product")


def test_unknown_rule_lists_the_valid_ones():
    with pytest.raises(UsageError) as info:
        cohorts.assign_cohorts(CUSTOMERS, "signup_week")
    message = str(info.value)
    for rule in ("signup_month", "signup_quarter", "status", "custom_data.<key>", "file", "subscription.interval"):
        assert rule in message


# --- totals per cohort --------------------------------------------------------------------------------

# sizes: pro 3, free 3 (f3 holds no balance), enterprise 1, trial 1 (t1 holds no balance)
PLAN = pd.Series(
    ["pro", "pro", "pro", "free", "free", "free", "enterprise", "trial"],
    index=pd.Index(["p1", "p2", "p3", "f1", "f2", "f3", "e1", "t1"], name="customer_id"),
    name="cohort",
)
BALANCES = pd.DataFrame(
    [
        ("p1", "USD", 100, 10, 5),
        ("p2", "USD", 200, 0, 0),
        ("p3", "USD", 0, 0, 7),  # holds USD but nothing outstanding
        ("p1", "EUR", 50, 0, 0),
        ("f1", "USD", 30, 0, 0),
        ("f2", "USD", 0, 20, 0),
        ("e1", "USD", 1000, 0, 0),
        ("e1", "EUR", 9, 1, 0),
    ],
    columns=["customer_id", "currency_code", "available", "reserved", "used"],
)


def records(df: pd.DataFrame) -> list[dict]:
    return df.to_dict("records")


def test_cohort_totals_per_cohort_and_currency_without_merging():
    out = cohorts.cohort_totals(BALANCES, PLAN, min_cohort_size=0)
    assert list(out.columns) == [
        "cohort", "currency_code", "customers", "customers_with_balance", "customers_with_credit", "available",
        "reserved", "used", "outstanding",
    ]
    # customers is the cohort's size in every currency; customers_with_balance those holding that currency
    assert records(out) == [
        {"cohort": "enterprise", "currency_code": "EUR", "customers": 1, "customers_with_balance": 1,
         "customers_with_credit": 1, "available": 9, "reserved": 1, "used": 0, "outstanding": 10},
        {"cohort": "pro", "currency_code": "EUR", "customers": 3, "customers_with_balance": 1,
         "customers_with_credit": 1, "available": 50, "reserved": 0, "used": 0, "outstanding": 50},
        {"cohort": "enterprise", "currency_code": "USD", "customers": 1, "customers_with_balance": 1,
         "customers_with_credit": 1, "available": 1000, "reserved": 0, "used": 0, "outstanding": 1000},
        {"cohort": "free", "currency_code": "USD", "customers": 3, "customers_with_balance": 2,
         "customers_with_credit": 2, "available": 30, "reserved": 20, "used": 0, "outstanding": 50},
        {"cohort": "pro", "currency_code": "USD", "customers": 3, "customers_with_balance": 3,
         "customers_with_credit": 2, "available": 300, "reserved": 10, "used": 12, "outstanding": 310},
    ]
    assert out.attrs["merged"] == []


def test_cohort_totals_merge_by_cohort_size_the_same_cohorts_in_every_currency_and_say_so():
    out = cohorts.cohort_totals(BALANCES, PLAN, min_cohort_size=3)
    # enterprise (1) and trial (1, no balance) are merged: other has 2 customers, 1 of them (e1) holding
    # each currency. pro stays in EUR although only p1 holds EUR; free stays although only 2 hold USD.
    assert records(out) == [
        {"cohort": "pro", "currency_code": "EUR", "customers": 3, "customers_with_balance": 1,
         "customers_with_credit": 1, "available": 50, "reserved": 0, "used": 0, "outstanding": 50},
        {"cohort": "other", "currency_code": "EUR", "customers": 2, "customers_with_balance": 1,
         "customers_with_credit": 1, "available": 9, "reserved": 1, "used": 0, "outstanding": 10},
        {"cohort": "free", "currency_code": "USD", "customers": 3, "customers_with_balance": 2,
         "customers_with_credit": 2, "available": 30, "reserved": 20, "used": 0, "outstanding": 50},
        {"cohort": "pro", "currency_code": "USD", "customers": 3, "customers_with_balance": 3,
         "customers_with_credit": 2, "available": 300, "reserved": 10, "used": 12, "outstanding": 310},
        {"cohort": "other", "currency_code": "USD", "customers": 2, "customers_with_balance": 1,
         "customers_with_credit": 1, "available": 1000, "reserved": 0, "used": 0, "outstanding": 1000},
    ]
    assert out.attrs["merged"] == [{"cohort": "enterprise", "customers": 1}, {"cohort": "trial", "customers": 1}]
    assert out.attrs["min_cohort_size"] == 3
    assert out.attrs["order"] == ["free", "pro", "other"]


def test_cohort_totals_merge_cohorts_one_customer_short_of_the_minimum():
    out = cohorts.cohort_totals(BALANCES, PLAN, min_cohort_size=4)
    # every cohort has fewer than 4 customers: all 8 customers are in other
    assert out["cohort"].tolist() == ["other", "other"]
    assert out["customers"].tolist() == [8, 8]
    assert out["customers_with_balance"].tolist() == [2, 6]
    assert out["available"].tolist() == [59, 1330]
    assert [m["cohort"] for m in out.attrs["merged"]] == ["enterprise", "free", "pro", "trial"]


def test_a_cohort_named_other_takes_in_the_merged_ones_however_small():
    plan = pd.Series(["other", "other", "big", "big", "big", "tiny"],
                     index=pd.Index(["o1", "o2", "b1", "b2", "b3", "t1"], name="customer_id"), name="cohort")
    balances = pd.DataFrame(
        [("o1", "USD", 1, 0, 0), ("b1", "USD", 2, 0, 0), ("t1", "USD", 4, 0, 0)],
        columns=["customer_id", "currency_code", "available", "reserved", "used"],
    )
    out = cohorts.cohort_totals(balances, plan, min_cohort_size=3)
    assert records(out[["cohort", "customers", "customers_with_balance", "available"]]) == [
        {"cohort": "big", "customers": 3, "customers_with_balance": 1, "available": 2},
        {"cohort": "other", "customers": 3, "customers_with_balance": 2, "available": 5},
    ]
    assert out.attrs["merged"] == [{"cohort": "tiny", "customers": 1}]


def test_cohort_totals_keep_time_order_and_flag_balances_without_a_customer():
    months = cohorts.assign_cohorts(CUSTOMERS)
    balances = pd.DataFrame(
        [("c3", "USD", 1, 0, 0), ("c1", "USD", 2, 0, 0), ("c2", "USD", 4, 0, 0), ("ghost", "USD", 8, 0, 0)],
        columns=["customer_id", "currency_code", "available", "reserved", "used"],
    )
    out = cohorts.cohort_totals(balances, months, min_cohort_size=1)
    assert out["cohort"].tolist() == ["2024-12", "2025-01", "2025-04", "(no customer record)"]
    assert out["available"].tolist() == [2, 4, 1, 8]
    assert out["customers"].tolist() == [1, 1, 1, 1]


def test_cohort_totals_give_one_cohort_order_across_currencies_that_hold_different_cohorts():
    months = cohorts.assign_cohorts(CUSTOMERS)
    # EUR holds 2024-12 and 2025-03, USD 2025-01 and 2025-04: neither currency alone gives the whole order
    balances = pd.DataFrame(
        [("c4", "EUR", 1, 0, 0), ("c1", "EUR", 2, 0, 0), ("c3", "USD", 4, 0, 0), ("c2", "USD", 8, 0, 0)],
        columns=["customer_id", "currency_code", "available", "reserved", "used"],
    )
    out = cohorts.cohort_totals(balances, months, min_cohort_size=1)
    assert out["cohort"].tolist() == ["2024-12", "2025-03", "2025-01", "2025-04"]
    assert out.attrs["order"] == ["2024-12", "2025-01", "2025-03", "2025-04"]


def test_balances_without_a_customer_record_are_never_merged_into_other():
    months = cohorts.assign_cohorts(CUSTOMERS)  # six monthly cohorts of one customer each
    balances = pd.DataFrame(
        [("c3", "USD", 1, 0, 0), ("c1", "USD", 2, 0, 0), ("ghost", "USD", 8, 0, 0), ("ghost", "EUR", 16, 0, 0)],
        columns=["customer_id", "currency_code", "available", "reserved", "used"],
    )
    out = cohorts.cohort_totals(balances, months, min_cohort_size=2)
    assert records(out[["cohort", "currency_code", "customers", "customers_with_balance", "available"]]) == [
        {"cohort": "(no customer record)", "currency_code": "EUR", "customers": 1, "customers_with_balance": 1,
         "available": 16},
        {"cohort": "(no customer record)", "currency_code": "USD", "customers": 1, "customers_with_balance": 1,
         "available": 8},
        # all six customers, with or without a balance, are in other
        {"cohort": "other", "currency_code": "USD", "customers": 6, "customers_with_balance": 2, "available": 3},
    ]
    assert [m["cohort"] for m in out.attrs["merged"]] == [
        "2024-12", "2025-01", "2025-02", "2025-03", "2025-04", "(unknown)",
    ]


def test_cohort_sizes_counts_customers_per_cohort():
    sizes = cohorts.cohort_sizes(PLAN, BALANCES.iloc[[0, 4, 5]].assign(reserved=[10, 0, 0], available=[0, 0, 0]))
    # with credit: p1 (reserved 10); with a balance row: p1, f1, f2
    assert records(sizes) == [
        {"cohort": "enterprise", "customers": 1, "customers_with_balance": 0, "customers_with_credit": 0},
        {"cohort": "free", "customers": 3, "customers_with_balance": 2, "customers_with_credit": 0},
        {"cohort": "pro", "customers": 3, "customers_with_balance": 1, "customers_with_credit": 1},
        {"cohort": "trial", "customers": 1, "customers_with_balance": 0, "customers_with_credit": 0},
    ]


def test_cohort_heatmap_scales_each_currency_on_its_own_and_merges_as_cohort_totals_do():
    hm = cohorts.cohort_heatmap(BALANCES, PLAN, min_cohort_size=3)
    # sizes: pro 3, free 3, enterprise 1 and trial 1 -> merged into other (2 customers)
    assert hm.available.index.tolist() == ["free", "pro", "other"]
    assert hm.available.columns.tolist() == ["EUR", "USD"]
    assert hm.available.to_dict("list") == {"EUR": [0, 50, 9], "USD": [30, 300, 1000]}
    assert hm.shares["EUR"].tolist() == pytest.approx([0, 50 / 59, 9 / 59])
    assert hm.shares["USD"].tolist() == pytest.approx([30 / 1330, 300 / 1330, 1000 / 1330])
    assert hm.shares.sum().tolist() == pytest.approx([1.0, 1.0])
    assert hm.sizes.to_dict() == {"free": 3, "pro": 3, "other": 2}
    merged = [{"cohort": "enterprise", "customers": 1}, {"cohort": "trial", "customers": 1}]
    assert hm.available.attrs["merged"] == merged
    assert cohorts.cohort_totals(BALANCES, PLAN, min_cohort_size=3).attrs["merged"] == merged


def test_cohort_totals_and_heatmap_reject_a_negative_min_cohort_size():
    with pytest.raises(UsageError, match="min_cohort_size"):
        cohorts.cohort_totals(BALANCES, PLAN, min_cohort_size=-1)
    with pytest.raises(UsageError, match="min_cohort_size"):
        cohorts.cohort_heatmap(BALANCES, PLAN, min_cohort_size=-1)
