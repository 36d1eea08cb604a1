"""Money: Paddle's decimals, exact minor -> major conversion, display formatting, amount parsing."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from credit_reports.core import money
from credit_reports.core.errors import UsageError

NBSP = "\xa0"


def test_paddle_supported_codes_all_have_decimals_and_only_jpy_krw_are_zero_decimal():
    codes = [
        "USD", "EUR", "GBP", "JPY", "AUD", "CAD", "CHF", "HKD", "SGD", "SEK", "ARS", "BRL", "CNY", "COP",
        "CZK", "DKK", "HUF", "ILS", "INR", "KRW", "MXN", "NOK", "NZD", "PLN", "RUB", "THB", "TRY", "TWD",
        "UAH", "VND", "ZAR", "CLP", "PEN",
    ]
    assert set(money.PADDLE_DECIMALS) == set(codes)
    assert {c for c in codes if money.minor_unit_decimals(c) == 0} == {"JPY", "KRW"}
    # Paddle, not ISO 4217: VND and CLP are zero-decimal in ISO but Paddle sends hundredths
    assert money.minor_unit_decimals("VND") == 2
    assert money.minor_unit_decimals("CLP") == 2


def test_unknown_code_has_no_decimals_and_lowercase_codes_are_recognised():
    assert money.minor_unit_decimals("XYZ") is None
    assert money.minor_unit_decimals("BHD") == 3  # ISO 4217 (babel) decimals outside Paddle's list
    assert money.minor_unit_decimals("usd") == 2
    assert money.is_known_currency("jpy")
    assert not money.is_known_currency("XYZ")


@pytest.mark.parametrize(
    ("minor", "code", "expected"),
    [
        (1234, "USD", "12.34"),
        (5, "USD", "0.05"),
        (-250, "EUR", "-2.50"),
        (1234, "JPY", "1234"),
        (50000, "KRW", "50000"),
        (1234, "usd", "12.34"),  # lower case is read as the code
    ],
)
def test_to_major_is_exact_with_paddle_decimals(minor, code, expected):
    result = money.to_major(minor, code)
    assert isinstance(result, Decimal)
    assert str(result) == expected


def test_to_major_stays_exact_beyond_float_precision():
    minor = 2**62 + 1  # 4611686018427387905: a float would lose the last digit
    assert money.to_major(minor, "USD") == Decimal("46116860184273879.05")


def test_to_major_accepts_numpy_integers_and_refuses_floats():
    assert money.to_major(np.int64(1999), "USD") == Decimal("19.99")
    with pytest.raises(TypeError):
        money.to_major(19.99, "USD")


def test_to_major_series_keeps_decimals_per_row_currency():
    out = money.to_major_series(pd.Series([1050, 1050]), pd.Series(["USD", "JPY"]))
    assert list(out) == [Decimal("10.50"), Decimal("1050")]


@pytest.mark.parametrize(
    ("minor", "code", "locale", "expected"),
    [
        (123456, "USD", "en_US", "$1,234.56"),
        (5, "USD", "en_US", "$0.05"),
        (-250, "USD", "en_US", "-$2.50"),
        (1234, "JPY", "en_US", "¥1,234"),
        (50000, "KRW", "en_US", "₩50,000"),
        (123456, "EUR", "de_DE", f"1.234,56{NBSP}€"),
        (1234, "JPY", "de_DE", f"1.234{NBSP}¥"),
        (12345, "VND", "en_US", "₫123.45"),  # Paddle's two decimals, not babel's zero
    ],
)
def test_format_money_uses_paddle_decimals_and_locale(minor, code, locale, expected):
    assert money.format_money(minor, code, locale) == expected


def test_a_code_from_the_data_that_is_no_currency_is_shown_in_minor_units_with_a_note():
    out = money.format_money(pd.Series([12345]), pd.Series(["XYZ"]))
    assert list(out) == ["12345 XYZ (minor units, unknown currency)"]
    assert list(money.to_major(pd.Series([12345]), pd.Series(["XYZ"]))) == [Decimal("12345")]


@pytest.mark.parametrize("call", [money.to_major, money.to_major_float, money.format_money])
def test_a_typed_code_that_is_no_currency_is_refused_in_one_line_naming_it_and_the_known_ones(call):
    for amount in (1234, pd.Series([1234])):
        with pytest.raises(UsageError) as caught:
            call(amount, "US")  # once taken as a currency without decimals: Decimal('1234'), 100x too much
        line = str(caught.value)
        assert "\n" not in line and "'US'" in line
        assert "did you mean USD" in line and "EUR, GBP, JPY" in line


def test_lower_case_codes_are_normalised_everywhere():
    assert money.to_major(1234, "eur") == Decimal("12.34")
    assert money.to_major_float(pd.Series([1234]), "jpy").tolist() == [1234.0]
    assert money.format_money(1234, "usd") == "$12.34"
    assert money.check_currency(" chf ") == "CHF"


def test_format_money_series_formats_each_row_in_its_own_currency():
    s = pd.Series([150, 150, 7], index=[10, 11, 12])
    out = money.format_money_series(s, pd.Series(["USD", "JPY", "XYZ"]))
    assert list(out.index) == [10, 11, 12]
    assert list(out) == ["$1.50", "¥150", "7 XYZ (minor units, unknown currency)"]
    assert list(money.format_money_series([100, 2], "GBP")) == ["£1.00", "£0.02"]


@pytest.mark.parametrize(("text", "expected"), [("1000", 1000), ("0", 0), ("-75", -75), (" 42 ", 42), (7, 7)])
def test_parse_minor_reads_integer_strings(text, expected):
    assert money.parse_minor(text) == expected


@pytest.mark.parametrize("text", ["10.00", "1e3", "", "ten", "1,000", 10.0, True, None])
def test_parse_minor_refuses_anything_but_an_integer(text):
    with pytest.raises(ValueError):
        money.parse_minor(text)


def test_parse_minor_reads_paddles_documented_credit_balance_example(shared_dir):
    path = shared_dir / "paddle" / "examples" / "credit_balances_list.json"
    balance = json.loads(path.read_text())["data"][0]["balance"]
    assert {k: money.parse_minor(v) for k, v in balance.items()} == {
        "available": 550, "reserved": 900, "used": 1300,
    }
    assert money.format_money(money.parse_minor(balance["available"]), "USD") == "$5.50"


def test_series_helpers_leave_missing_amounts_empty():
    amounts = pd.Series([100, pd.NA], dtype="Int64")
    assert list(money.format_money_series(amounts, "USD")) == ["$1.00", ""]
    assert list(money.to_major_series(amounts, "USD")) == [Decimal("1.00"), None]


def test_an_unknown_locale_is_a_usage_error():
    from credit_reports.core.errors import UsageError

    with pytest.raises(UsageError, match="locale"):
        money.format_money(100, "USD", "xx_NOPE")


# -- Series in, Series out: the pandas-native helpers ------------------------------------------------


def test_public_helpers_take_a_series_with_one_code_or_a_column_of_codes():
    amounts = pd.Series([1234, 1234, 1234, 5], index=[10, 11, 12, 13], dtype="int64")
    codes = pd.Series(["USD", "JPY", "KRW", "EUR"], index=amounts.index, dtype="string")
    exact = money.to_major(amounts, codes)
    assert list(exact) == [Decimal("12.34"), Decimal("1234"), Decimal("1234"), Decimal("0.05")]
    assert list(exact.index) == [10, 11, 12, 13]
    assert list(money.format_money(amounts, codes)) == ["$12.34", "¥1,234", "₩1,234", "€0.05"]
    assert list(money.to_major(amounts, "JPY")) == [Decimal(1234)] * 3 + [Decimal(5)]
    assert money.to_major(1234, "USD") == Decimal("12.34") and money.format_money(1234, "JPY") == "¥1,234"


def test_to_major_float_gives_float64_for_plots_and_statistics_with_paddle_decimals():
    amounts = pd.Series([1234, 1234, 1234, 99], dtype="int64", name="available")
    codes = ["USD", "JPY", "KRW", "XYZ"]
    floats = money.to_major_float(amounts, codes)
    assert floats.dtype == "float64" and floats.name == "available"
    assert floats.tolist() == [12.34, 1234.0, 1234.0, 99.0]  # unknown code: minor units, not guessed
    assert money.to_major_float(amounts, "EUR").tolist() == [12.34, 12.34, 12.34, 0.99]
    assert money.to_major_float(1234, "USD") == 12.34 and money.to_major_float(1234, "KRW") == 1234.0
    frame = pd.DataFrame({"cohort": ["a", "b"], "eur": money.to_major_float(pd.Series([150, 250]), "EUR")})
    ax = frame.plot.bar(x="cohort", y="eur")  # the plot that failed on Decimal objects
    assert [p.get_height() for p in ax.patches] == [1.5, 2.5]
    import matplotlib.pyplot as plt

    plt.close("all")
    with_missing = money.to_major_float(pd.Series([100, None], dtype="Int64"), "USD")
    assert with_missing.iloc[0] == 1.0 and np.isnan(with_missing.iloc[1])


def test_series_helpers_refuse_fractional_amounts_and_mismatched_lengths():
    with pytest.raises(TypeError, match="integer in minor units"):
        money.to_major(pd.Series([1.5]), "USD")
    with pytest.raises(ValueError, match="differ in length"):
        money.format_money(pd.Series([1, 2]), ["USD"])
