"""Metrics against figures worked out by hand from small frames written out here."""

from __future__ import annotations

import json
from decimal import Decimal

import pandas as pd
import pytest
from ledger import currency_sums

from credit_reports.core.errors import UsageError
from credit_reports.figures import metrics

COLUMNS = ["customer_id", "currency_code", "available", "reserved", "used"]


def frame(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.astype({"available": "int64", "reserved": "int64", "used": "int64"})


# Opening snapshot.
#   USD: c1 1000/200/300, c2 0/0/500 (no outstanding credit), c3 250/0/0
#   JPY: c1 5000/0/1000
#   EUR: c4 0/75/25          (EUR disappears by the closing snapshot)
OPENING = frame([
    ("c1", "USD", 1000, 200, 300),
    ("c2", "USD", 0, 0, 500),
    ("c3", "USD", 250, 0, 0),
    ("c1", "JPY", 5000, 0, 1000),
    ("c4", "EUR", 0, 75, 25),
])

# Closing snapshot.
#   USD: c1 spent 400 available and its 200 reserved completed (used +600); c2 got 100; c5 is new
#        with 50 (10 of it reserved).  GBP appears only here.  JPY: 500 used, 500 moved to reserved.
CLOSING = frame([
    ("c1", "USD", 600, 0, 900),
    ("c2", "USD", 100, 0, 500),
    ("c3", "USD", 250, 0, 0),
    ("c5", "USD", 40, 10, 0),
    ("c1", "JPY", 4000, 500, 1500),
    ("c6", "GBP", 300, 0, 0),
])


def test_currency_totals_sums_each_currency_separately():
    totals = metrics.currency_totals(OPENING)
    assert list(totals.columns) == [
        "currency_code", "available", "reserved", "used", "outstanding", "customers_with_credit",
        "customers_with_balance",
    ]
    assert totals.to_dict("records") == [
        {"currency_code": "EUR", "available": 0, "reserved": 75, "used": 25, "outstanding": 75,
         "customers_with_credit": 1, "customers_with_balance": 1},
        {"currency_code": "JPY", "available": 5000, "reserved": 0, "used": 1000, "outstanding": 5000,
         "customers_with_credit": 1, "customers_with_balance": 1},
        {"currency_code": "USD", "available": 1250, "reserved": 200, "used": 800, "outstanding": 1450,
         "customers_with_credit": 2, "customers_with_balance": 3},
    ]
    assert all(totals[c].dtype == "int64" for c in totals.columns[1:])


def test_currency_totals_of_an_empty_frame_is_an_empty_table_with_the_columns():
    totals = metrics.currency_totals(OPENING.iloc[:0])
    assert totals.empty
    assert list(totals.columns)[:5] == ["currency_code", "available", "reserved", "used", "outstanding"]


def test_currency_totals_refuses_float_amounts_and_missing_columns():
    with pytest.raises(UsageError, match="integers"):
        metrics.currency_totals(OPENING.astype({"available": "float64"}))
    with pytest.raises(UsageError, match="reserved"):
        metrics.currency_totals(OPENING.drop(columns="reserved"))


def test_currency_totals_stay_exact_beyond_float_precision():
    big = 2**53 + 1  # not representable as a float64
    totals = metrics.currency_totals(frame([("a", "USD", big, 0, 0), ("b", "USD", 2, 0, 0)]))
    assert int(totals.loc[0, "available"]) == 2**53 + 3


def test_headline_is_plain_ints_per_currency_and_json_ready():
    head = metrics.headline(OPENING)
    assert head["USD"] == {"available": 1250, "reserved": 200, "used": 800, "outstanding": 1450,
                           "customers_with_credit": 2, "customers_with_balance": 3}
    assert set(head) == {"EUR", "JPY", "USD"}
    assert all(type(v) is int for cur in head.values() for v in cur.values())
    json.dumps(head)


def test_balance_change_values_per_currency_including_one_sided_currencies():
    roll = metrics.balance_change(OPENING, CLOSING)
    assert list(roll.columns) == ["currency_code", "opening", "issued", "used", "closing"]
    # USD: opening 1250+200=1450; totals 2250 -> 2400 so issued 150; used 800 -> 1400 so 600; closing 1000
    # JPY: 5000 -> 4500, nothing issued (6000 -> 6000), 500 used
    # EUR only at opening: closing 0, issued -(0+75+25) = -100, used -25
    # GBP only at closing: opening 0, issued 300
    assert roll.to_dict("records") == [
        {"currency_code": "EUR", "opening": 75, "issued": -100, "used": -25, "closing": 0},
        {"currency_code": "GBP", "opening": 0, "issued": 300, "used": 0, "closing": 300},
        {"currency_code": "JPY", "opening": 5000, "issued": 0, "used": 500, "closing": 4500},
        {"currency_code": "USD", "opening": 1450, "issued": 150, "used": 600, "closing": 1000},
    ]


def test_balance_change_accepts_currency_totals_tables():
    from_totals = metrics.balance_change(metrics.currency_totals(OPENING), metrics.currency_totals(CLOSING))
    pd.testing.assert_frame_equal(from_totals, metrics.balance_change(OPENING, CLOSING))


def test_balance_change_dict_gives_plain_ints():
    d = metrics.balance_change_dict(OPENING, CLOSING)
    assert d["USD"] == {"opening": 1450, "issued": 150, "used": 600, "closing": 1000}
    assert d["GBP"] == {"opening": 0, "issued": 300, "used": 0, "closing": 300}
    assert all(type(v) is int for cur in d.values() for v in cur.values())


def test_trend_gives_totals_per_snapshot_and_currency():
    t1 = pd.Timestamp("2026-11-01T06:00:00Z")
    t2 = pd.Timestamp("2026-11-02T06:00:00Z")
    history = pd.concat([OPENING.assign(as_of=t1), CLOSING.assign(as_of=t2)], ignore_index=True)
    tr = metrics.trend(history)
    assert list(tr.columns[:6]) == ["as_of", "currency_code", "available", "reserved", "used", "outstanding"]
    got = {(row["as_of"], row["currency_code"]): row["outstanding"] for row in tr.to_dict("records")}
    assert got == {
        (t1, "EUR"): 75, (t1, "JPY"): 5000, (t1, "USD"): 1450,
        (t2, "GBP"): 300, (t2, "JPY"): 4500, (t2, "USD"): 1000,
    }
    assert list(tr["as_of"]) == sorted(tr["as_of"])


CONC = frame([
    ("u1", "USD", 500, 0, 0),
    ("u3", "USD", 300, 0, 0),
    ("u2", "USD", 300, 0, 0),
    ("u4", "USD", 100, 0, 0),
    ("u5", "USD", 0, 50, 0),  # not a holder of available credit
    ("u6", "USD", 100, 0, 0),
    ("j1", "JPY", 1000, 0, 0),
])


def test_concentration_lists_top_holders_with_shares_and_breaks_ties_by_id():
    top = metrics.concentration(CONC, top=3)
    assert list(top.columns) == ["currency_code", "rank", "customer_id", "available", "share", "cumulative_share"]
    assert top[["currency_code", "rank", "customer_id", "available"]].to_dict("records") == [
        {"currency_code": "JPY", "rank": 1, "customer_id": "j1", "available": 1000},
        {"currency_code": "USD", "rank": 1, "customer_id": "u1", "available": 500},
        {"currency_code": "USD", "rank": 2, "customer_id": "u2", "available": 300},
        {"currency_code": "USD", "rank": 3, "customer_id": "u3", "available": 300},
    ]
    # USD total available = 500 + 300 + 300 + 100 + 100 = 1300
    assert top["share"].tolist() == pytest.approx([1.0, 500 / 1300, 300 / 1300, 300 / 1300])
    assert top["cumulative_share"].tolist() == pytest.approx([1.0, 500 / 1300, 800 / 1300, 1100 / 1300])


def test_concentration_with_top_larger_than_holders_lists_every_holder():
    top = metrics.concentration(CONC, top=50)
    assert sorted(top.loc[top["currency_code"] == "USD", "customer_id"]) == ["u1", "u2", "u3", "u4", "u6"]
    assert top.loc[top["currency_code"] == "USD", "cumulative_share"].iloc[-1] == pytest.approx(1.0)


def test_top_share_uses_ceil_of_holders_and_ignores_zero_balances():
    # EUR: 11 holders with 100..1100 (sum 6600) and one customer with nothing available.
    # top 1% = ceil(0.11) = 1 holder -> 1100; top 10% = ceil(1.1) = 2 holders -> 1100 + 1000 = 2100
    rows = [(f"e{i}", "EUR", 100 * i, 0, 0) for i in range(1, 12)] + [("e0", "EUR", 0, 5, 0)]
    # GBP: 150 holders with 1..150 (sum 11325): top 1% = 2 holders -> 150 + 149 = 299;
    # top 10% = 15 holders -> 136 + ... + 150 = 2145
    rows += [(f"g{i}", "GBP", i, 0, 0) for i in range(1, 151)]
    share = metrics.top_share(frame(rows)).set_index("currency_code")
    eur, gbp = share.loc["EUR"], share.loc["GBP"]
    assert (eur["holders"], eur["available"]) == (11, 6600)
    assert (eur["top_1pct_holders"], eur["top_1pct_available"]) == (1, 1100)
    assert (eur["top_10pct_holders"], eur["top_10pct_available"]) == (2, 2100)
    assert eur["top_10pct_share"] == pytest.approx(2100 / 6600)
    assert (gbp["holders"], gbp["available"]) == (150, 11325)
    assert (gbp["top_1pct_holders"], gbp["top_1pct_available"]) == (2, 299)
    assert (gbp["top_10pct_holders"], gbp["top_10pct_available"]) == (15, 2145)
    assert gbp["top_1pct_share"] == pytest.approx(299 / 11325)


def test_reserved_customers_lists_only_reserved_credit_largest_first():
    res = metrics.reserved_customers(OPENING.assign(reserved=[200, 0, 0, 0, 75]))
    assert res.to_dict("records") == [
        {"currency_code": "EUR", "customer_id": "c4", "reserved": 75, "available": 0, "used": 25},
        {"currency_code": "USD", "customer_id": "c1", "reserved": 200, "available": 1000, "used": 300},
    ]


# --- conversion -------------------------------------------------------------------------------------


@pytest.fixture
def rates_file(tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text(
        "currency,rate,date,source\n"
        "JPY,0.0067,2026-11-25,ECB reference\n"
        "EUR,1.085,2026-11-25,ECB reference\n"
    )
    return path


def test_load_rates_keeps_rates_exact(rates_file):
    rates = metrics.load_rates(rates_file)
    assert list(rates.columns) == ["currency", "rate", "date", "source"]
    assert rates.loc[0, "rate"] == Decimal("0.0067")
    assert rates.to_dict("records")[1] == {
        "currency": "EUR", "rate": Decimal("1.085"), "date": "2026-11-25", "source": "ECB reference",
    }


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("currency,rate,date\nJPY,0.0067,2026-11-25\n", "source"),
        ("currency,rate,date,source\nJPY,abc,2026-11-25,ECB\n", "not a number"),
        ("currency,rate,date,source\nJPY,-1,2026-11-25,ECB\n", "positive"),
        ("currency,rate,date,source\nJPY,0.0067,25/11/2026,ECB\n", "YYYY-MM-DD"),
        ("currency,rate,date,source\nJPY,0.0067,2026-11-25,\n", "source"),
        ("currency,rate,date,source\nJPY,1,2026-11-25,a\nJPY,2,2026-11-25,b\n", "twice"),
        ("currency,rate,date,source\n", "no rates"),
    ],
)
def test_load_rates_refuses_a_bad_file_with_one_line(tmp_path, content, needle):
    path = tmp_path / "rates.csv"
    path.write_text(content)
    with pytest.raises(UsageError, match=needle) as info:
        metrics.load_rates(path)
    assert "\n" not in str(info.value)


def test_load_rates_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        metrics.load_rates(tmp_path / "nope.csv")


def test_convert_totals_rounds_half_even_and_states_rate_date_source(rates_file):
    totals = pd.DataFrame({
        "currency_code": ["EUR", "JPY", "JPY", "JPY", "USD"],
        "available": [1001, 12345, 150, 250, 1001],
    })
    out = metrics.convert_totals(totals, metrics.load_rates(rates_file), "USD")
    # EUR 10.01 x 1.085 = 10.86085 USD -> 1086 cents
    # JPY 12345 x 0.0067 = 82.7115 USD -> 8271 cents
    # JPY 150 x 0.0067 = 1.005 USD = 100.5 cents -> 100 (half to even); 250 -> 167.5 cents -> 168
    # USD converts at 1
    assert out["available_converted"].tolist() == [1086, 8271, 100, 168, 1001]
    assert out["available_converted"].dtype == "int64"
    assert out["available"].tolist() == [1001, 12345, 150, 250, 1001]  # own currency kept beside it
    assert out["rate"].tolist() == [Decimal("1.085"), Decimal("0.0067"), Decimal("0.0067"), Decimal("0.0067"),
                                    Decimal(1)]
    assert out["rate_date"].tolist()[:2] == ["2026-11-25", "2026-11-25"]
    assert out["rate_source"].tolist()[0] == "ECB reference"
    assert set(out["reporting_currency"]) == {"USD"}
    assert len(out) == 5  # no cross-currency total unless asked


def test_convert_totals_into_a_zero_decimal_reporting_currency(tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text("currency,rate,date,source\nUSD,150.25,2026-11-25,BoJ\n")
    totals = pd.DataFrame({"currency_code": ["USD"], "available": [1001], "reserved": [3]})
    out = metrics.convert_totals(totals, metrics.load_rates(path), "JPY")
    # 10.01 USD x 150.25 = 1504.0025 JPY -> 1504; 0.03 USD x 150.25 = 4.5075 -> 5
    assert out[["available_converted", "reserved_converted"]].iloc[0].tolist() == [1504, 5]


def test_convert_totals_missing_rate_names_the_currency(rates_file):
    totals = pd.DataFrame({"currency_code": ["GBP", "JPY", "KRW"], "available": [1, 2, 3]})
    with pytest.raises(metrics.MissingRateError, match="GBP, KRW") as info:
        metrics.convert_totals(totals, metrics.load_rates(rates_file), "USD")
    assert isinstance(info.value, UsageError)
    assert info.value.currencies == ["GBP", "KRW"]


def test_convert_totals_total_row_only_when_asked_and_adds_rounded_rows(rates_file):
    totals = metrics.currency_totals(frame([
        ("a", "USD", 1001, 0, 0), ("b", "JPY", 150, 0, 0), ("c", "EUR", 1001, 0, 0),
    ]))
    out = metrics.convert_totals(totals, metrics.load_rates(rates_file), "USD", include_total=True)
    assert out["currency_code"].tolist() == ["EUR", "JPY", "USD", "TOTAL"]
    assert out["available_converted"].tolist() == [1086, 100, 1001, 1086 + 100 + 1001]
    last = out.iloc[-1]
    assert pd.isna(last["available"])  # no own-currency figure for a mix of currencies
    assert last["reporting_currency"] == "USD"


def test_convert_totals_refuses_a_reporting_currency_rate_other_than_one(tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text("currency,rate,date,source\nUSD,1.1,2026-11-25,x\n")
    with pytest.raises(UsageError, match="must be 1"):
        metrics.convert_totals(pd.DataFrame({"currency_code": ["USD"], "available": [1]}),
                               metrics.load_rates(path), "USD")


def test_convert_totals_converts_a_roll_forward_table(rates_file):
    roll = metrics.balance_change(OPENING.iloc[3:4], CLOSING.iloc[4:5])  # JPY only: 5000 -> 4500, used 500
    out = metrics.convert_totals(roll, metrics.load_rates(rates_file), "USD")
    # 5000 x 0.0067 = 33.5 USD; 4500 -> 30.15; 500 -> 3.35; issued 0
    assert out[["opening_converted", "issued_converted", "used_converted", "closing_converted"]].iloc[0].tolist() \
        == [3350, 0, 335, 3015]


# --- on the simulator, over real HTTP ---------------------------------------------------------------


def fetch_balances(sim) -> pd.DataFrame:
    from credit_reports.fetch.readers import fetch_credit_balances
    from credit_reports.paddle.client import PaddleClient

    client = PaddleClient(api_key=sim.api_key, base_url=sim.base_url, max_rpm=2000, rate_window=1.0)
    return fetch_credit_balances(client)


def test_currency_totals_of_a_fetched_snapshot_equal_the_simulator_ledger(make_sim):
    sim = make_sim(customers=150, seed=5)
    totals = metrics.currency_totals(fetch_balances(sim)).set_index("currency_code")
    expected = currency_sums(sim.account.expected_balances())
    assert set(totals.index) == set(expected)
    for code, sums in expected.items():
        assert totals.loc[code, ["available", "reserved", "used"]].tolist() == [
            sums["available"], sums["reserved"], sums["used"],
        ]
        assert totals.loc[code, "outstanding"] == sums["available"] + sums["reserved"]


def test_balance_change_between_two_fetched_balance_frames_matches_the_ledger_movements(make_sim):
    sim = make_sim(customers=150, seed=5)
    opening = fetch_balances(sim)
    before = currency_sums(sim.account.expected_balances())
    first_new_entry = len(sim.account.entries)
    sim.advance(1, credits=12, reservations=8, completions=6, cancellations=3, new_customers=8)
    closing = fetch_balances(sim)
    after = currency_sums(sim.account.expected_balances())

    # Independent expectation from the ledger entries written by advance(): credit on transactions is
    # issued credit; completed transactions move reserved credit to used; reserve/cancel only move
    # credit between available and reserved.
    issued: dict[str, int] = {}
    used: dict[str, int] = {}
    for entry in sim.account.entries[first_new_entry:]:
        if entry.kind == "issued":
            issued[entry.currency_code] = issued.get(entry.currency_code, 0) + entry.amount
        elif entry.kind == "used":
            used[entry.currency_code] = used.get(entry.currency_code, 0) + entry.amount
    assert issued and used, "advance() should have issued and used credit"

    roll = metrics.balance_change(opening, closing).set_index("currency_code")
    assert set(roll.index) == set(before) | set(after)
    zero = {"available": 0, "reserved": 0, "used": 0}
    for code in roll.index:
        b, a = before.get(code, zero), after.get(code, zero)
        assert roll.loc[code].to_dict() == {
            "opening": b["available"] + b["reserved"],
            "issued": issued.get(code, 0),
            "used": used.get(code, 0),
            "closing": a["available"] + a["reserved"],
        }
    assert (roll["opening"] + roll["issued"] - roll["used"] == roll["closing"]).all()


def test_amounts_given_as_integer_strings_are_read_exactly_but_fractions_are_refused():
    text = OPENING.astype({"available": "object"}).assign(available=["1000", "0", "250", "5000", "0"])
    assert metrics.currency_totals(text)["available"].tolist() == [0, 5000, 1250]
    with pytest.raises(UsageError, match="integers"):
        metrics.currency_totals(OPENING.astype({"available": "object"}).assign(available=[1.5, 0, 0, 0, 0]))


def test_rows_without_a_currency_are_refused_not_dropped():
    with pytest.raises(UsageError, match="currency_code"):
        metrics.currency_totals(OPENING.assign(currency_code=["USD", None, "USD", "JPY", "EUR"]))
