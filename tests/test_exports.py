"""Exports put amounts in major units per currency, and never pass an unknown code's minor units off as major."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from credit_reports.exports import major_units_table


def test_amounts_become_major_units_with_each_currencys_decimals() -> None:
    table = pd.DataFrame({"currency_code": ["USD", "JPY", "KRW"], "available": [123456, 123456, 5]})
    columns, rows, _ = major_units_table(table)
    assert columns == ["currency_code", "available"]
    assert [r[1] for r in rows] == [Decimal("1234.56"), Decimal("123456"), Decimal("5")]


def test_an_unknown_currency_keeps_minor_units_and_says_so_in_a_unit_column() -> None:
    table = pd.DataFrame({"currency_code": ["USD", "XYZ"], "available": [1234, 1234]})
    columns, rows, _ = major_units_table(table)
    assert columns == ["currency_code", "available", "amount_unit"]
    assert rows == [
        ["USD", Decimal("12.34"), "major units"],
        ["XYZ", Decimal("1234"), "minor units (unknown currency)"],
    ]
