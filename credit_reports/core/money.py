"""Currencies, minor <-> major units and display formatting.

Paddle sends every amount as a string holding an integer in the currency's lowest denomination
("1000" USD is 10.00 USD, "100" JPY is 100 JPY). The toolkit keeps amounts as Python ``int`` /
pandas ``int64`` in those minor units through all arithmetic; this module is the only place that
turns them into major units: :func:`to_major` (exact :class:`~decimal.Decimal`, for display and
checks), :func:`to_major_float` (float64, for charts and statistics only) and :func:`format_money`
(display strings). Each takes one amount or a pandas Series (with one code or a column of codes).

Decimal places follow Paddle, not ISO 4217. Paddle treats JPY and KRW as zero-decimal and every
other supported currency as two-decimal, so the minor units it sends for, say, VND or CLP are
hundredths even though ISO 4217 (and CLDR, which babel uses) give those currencies 0 decimals. The
divisor has to match what Paddle sent, so :data:`PADDLE_DECIMALS` wins over babel's precision, and
formatting forces Paddle's number of decimals on babel's locale pattern.

A code you type is checked (:func:`check_currency`): it must be an ISO 4217 code (babel's list), upper
or lower case, or the call raises :class:`~credit_reports.core.errors.UsageError` in one line naming it, the
closest codes and Paddle's currencies. ``to_major(1234, "US")`` is refused rather than taken as a
currency without decimals (a hundredfold error). An ISO code outside Paddle's list takes ISO's decimals.
A column of codes that came with the data (``df["currency_code"]``) is never refused: a code in it that
is not a currency is kept, shown in minor units with a note, never dropped.
"""

from __future__ import annotations

import copy
import difflib
import operator
import re
from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache
from typing import Any

import pandas as pd
from babel import Locale, UnknownLocaleError
from babel.numbers import NumberPattern, get_currency_precision, list_currencies

from credit_reports.core.errors import UsageError

__all__ = [
    "ISO_CURRENCIES",
    "PADDLE_CURRENCIES",
    "PADDLE_DECIMALS",
    "ZERO_DECIMAL_CURRENCIES",
    "check_currency",
    "data_major",
    "format_money",
    "format_money_series",
    "is_known_currency",
    "minor_unit_decimals",
    "parse_minor",
    "to_major",
    "to_major_float",
    "to_major_series",
]

#: Paddle Billing's supported currency codes (2026), in Paddle's documented order.
PADDLE_CURRENCIES: tuple[str, ...] = (
    "USD", "EUR", "GBP", "JPY", "AUD", "CAD", "CHF", "HKD", "SGD", "SEK", "ARS", "BRL", "CNY", "COP",
    "CZK", "DKK", "HUF", "ILS", "INR", "KRW", "MXN", "NOK", "NZD", "PLN", "RUB", "THB", "TRY", "TWD",
    "UAH", "VND", "ZAR", "CLP", "PEN",
)

#: Currencies Paddle treats as having no minor unit.
ZERO_DECIMAL_CURRENCIES: frozenset[str] = frozenset({"JPY", "KRW"})

#: Decimal places of Paddle's minor units per currency (JPY, KRW: 0; every other supported code: 2).
PADDLE_DECIMALS: dict[str, int] = {
    code: (0 if code in ZERO_DECIMAL_CURRENCIES else 2) for code in PADDLE_CURRENCIES
}

#: Every ISO 4217 code babel (CLDR) knows, current and historical, upper case.
ISO_CURRENCIES: frozenset[str] = frozenset(list_currencies())

UNKNOWN_NOTE = "minor units, unknown currency"
_INTEGER = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: Unicode \d reads "١٢٣" as 123


def _normalise(code: str) -> str:
    return str(code).strip().upper()


def check_currency(code: Any, what: str = "currency") -> str:
    """``code`` upper-cased when it is an ISO 4217 code (``"eur"`` gives ``"EUR"``), else one-line
    :class:`UsageError` naming it, the closest ISO codes and Paddle's currencies.

    ``what`` names the argument in the message (``"currency"``, ``"currencies"``, ``"reporting_currency"``).
    """
    if not isinstance(code, str) or not code.strip():
        prefix = "" if what == "currency" else f"{what}: "
        raise UsageError(f"{prefix}{code!r} is not a currency code; use an ISO 4217 code such as USD, EUR or JPY")
    normal = _normalise(code)
    if normal in ISO_CURRENCIES:
        return normal
    close = (difflib.get_close_matches(normal, PADDLE_CURRENCIES, n=2, cutoff=0.6)
             or difflib.get_close_matches(normal, sorted(ISO_CURRENCIES), n=2, cutoff=0.6))
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    prefix = "" if what == "currency" else f"{what}: "
    raise UsageError(
        f"{prefix}unknown currency {code!r}{hint}: not an ISO 4217 code; Paddle's currencies are "
        f"{', '.join(PADDLE_CURRENCIES)}"
    )


def minor_unit_decimals(code: str) -> int | None:
    """Decimal places of the minor unit for ``code``: Paddle's for its currencies, ISO 4217's (babel) for
    other ISO codes; ``None`` when the code is no currency at all."""
    normal = _normalise(code)
    if normal in PADDLE_DECIMALS:
        return PADDLE_DECIMALS[normal]
    if normal in ISO_CURRENCIES:
        return int(get_currency_precision(normal))
    return None


def is_known_currency(code: str) -> bool:
    """True when ``code`` is one of Paddle's supported currencies."""
    return _normalise(code) in PADDLE_DECIMALS


def data_major(minor: Any, code: str) -> Decimal:
    """One exact major-unit amount whose code came with the data (a cell of ``currency_code``): like
    :func:`to_major` but never refuses the code; one that is no currency keeps its minor units."""
    return _scalar_major(minor, str(code))


def _scalar_major(minor: Any, code: str) -> Decimal:
    """One exact major-unit amount (see :func:`to_major`)."""
    if isinstance(minor, bool):
        raise TypeError("amount must be an integer in minor units, got bool")
    try:
        minor = operator.index(minor)  # int and numpy integers; floats would hide rounding
    except TypeError:
        raise TypeError(f"amount must be an integer in minor units, got {type(minor).__name__}") from None
    decimals = minor_unit_decimals(code)
    if decimals is None:
        return Decimal(minor)
    return Decimal(minor).scaleb(-decimals)


def _codes_for(values: pd.Series, codes: pd.Series | Iterable[str] | str) -> list[str]:
    """One currency code per value: a single code repeated, or a column of codes (same length)."""
    code_list = [codes] * len(values) if isinstance(codes, str) else list(codes)
    if len(code_list) != len(values):
        raise ValueError("amounts and currency codes differ in length")
    return code_list


def to_major(minor: Any, code: pd.Series | Iterable[str] | str) -> Any:
    """Exact major-unit amount(s) as :class:`~decimal.Decimal`, for exact display and checks.

    A scalar gives one Decimal: ``to_major(1234, "USD") == Decimal("12.34")``; JPY and KRW are
    unchanged (``to_major(1234, "JPY") == Decimal("1234")``). A Series gives a Series of Decimal
    (object dtype, same index); ``code`` is then one code or a column of codes (e.g.
    ``df["currency_code"]``), and missing amounts stay ``None``. For plotting and statistics use
    :func:`to_major_float` instead (float64). A code given as text is checked (:func:`check_currency`:
    ``to_major(1234, "US")`` raises, ``"usd"`` is read as USD); in a column of codes from the data a
    code that is no currency keeps its minor units: the toolkit cannot know its divisor and must not guess.
    """
    if isinstance(code, str):
        code = check_currency(code)
    if isinstance(minor, pd.Series):
        return to_major_series(minor, code)
    return _scalar_major(minor, str(code))


def to_major_series(minor: pd.Series, codes: pd.Series | Iterable[str] | str) -> pd.Series:
    """Element-wise :func:`to_major` for a column: a Series of exact ``Decimal`` (object dtype).

    Missing amounts (``<NA>``, e.g. the own-currency cells of a conversion's TOTAL row) stay ``None``.
    """
    code_list = _codes_for(minor, check_currency(codes) if isinstance(codes, str) else codes)
    return pd.Series(
        [None if pd.isna(m) else _scalar_major(_as_int(m), c)
         for m, c in zip(minor, code_list, strict=True)],
        index=minor.index,
        dtype=object,
    )


def _as_int(value: Any) -> int:
    """A numpy integer (or a float holding a whole number from a NaN-widened column) as an int; other
    floats are refused because they would hide rounding."""
    if isinstance(value, float):
        if not value.is_integer():
            raise TypeError(f"amount must be an integer in minor units, got {value!r}")
        return int(value)
    return operator.index(value)


def to_major_float(minor: Any, code: pd.Series | Iterable[str] | str) -> Any:
    """Amount(s) in major units as float: for charts, ``describe()``, means, regressions. Not for sums
    you report: floats round (use the int64 minor units for arithmetic, :func:`to_major` for display).

    A scalar gives a float (``to_major_float(1234, "USD") == 12.34``, JPY/KRW unchanged); a Series
    gives a float64 Series with the same index, ``code`` one code or a column of codes, ``<NA>``
    becoming ``NaN``. Decimals follow Paddle (:data:`PADDLE_DECIMALS`); an unknown code keeps its
    minor units. ``df.assign(available_major=to_major_float(df["available"], df["currency_code"]))``
    is then ready for ``.plot.bar()``. A code given as text is checked as in :func:`to_major`.
    """
    if isinstance(code, str):
        code = check_currency(code)
    if not isinstance(minor, pd.Series):
        return float(_scalar_major(minor, str(code)))
    values = pd.to_numeric(minor, errors="raise").astype("float64")
    code_list = _codes_for(minor, code)
    divisors = [10.0 ** (minor_unit_decimals(c) or 0) for c in code_list]
    return pd.Series(values.to_numpy() / divisors if len(values) else values.to_numpy(),
                     index=minor.index, dtype="float64", name=minor.name)


@lru_cache(maxsize=256)
def _pattern(locale: str, decimals: int) -> tuple[Locale, NumberPattern]:
    """The locale's standard currency pattern with exactly ``decimals`` fraction digits."""
    try:
        loc = Locale.parse(locale)
    except (ValueError, TypeError, UnknownLocaleError):
        raise UsageError(f"unknown locale {locale!r} for formatting money; use e.g. en_US or de_DE") from None
    pattern = copy.copy(loc.currency_formats["standard"])
    pattern.frac_prec = (decimals, decimals)
    return loc, pattern


def format_money(minor: Any, code: pd.Series | Iterable[str] | str, locale: str = "en_US") -> Any:
    """Display string(s) for amounts in minor units, with Paddle's decimals and the locale's symbol.

    ``format_money(123456, "USD") == "$1,234.56"``, ``format_money(1234, "JPY") == "¥1,234"``.
    A Series gives a Series of strings (``code`` one code or a column of codes; ``<NA>`` becomes "").
    A code given as text is checked (:func:`check_currency`); in a column of codes from the data, a code
    that is no currency is shown as ``"12345 XYZ (minor units, unknown currency)"`` rather than guessed.
    """
    if isinstance(code, str):
        code = check_currency(code)
    if isinstance(minor, pd.Series):
        return format_money_series(minor, code, locale)
    return _format_one(minor, str(code), locale)


def _format_one(minor: Any, code: str, locale: str) -> str:
    code = _normalise(code)
    decimals = minor_unit_decimals(code)
    if decimals is None:
        return f"{int(minor)} {code} ({UNKNOWN_NOTE})"
    loc, pattern = _pattern(locale, decimals)
    return pattern.apply(_scalar_major(minor, code), loc, currency=code, currency_digits=False)


def format_money_series(
    minor: pd.Series | Iterable[int], codes: pd.Series | Iterable[str] | str, locale: str = "en_US"
) -> pd.Series:
    """Element-wise :func:`format_money` for table columns (one currency or a currency column).

    Missing amounts (``<NA>``) become empty strings. Formatting is per value by nature; this is meant for
    report tables (hundreds of rows), not for million-row frames.
    """
    values = minor if isinstance(minor, pd.Series) else pd.Series(list(minor))
    code_list = _codes_for(values, check_currency(codes) if isinstance(codes, str) else codes)
    return pd.Series(
        ["" if pd.isna(m) else _format_one(_as_int(m), c, locale) for m, c in zip(values, code_list, strict=True)],
        index=values.index,
        dtype=object,
    )


def parse_minor(text: str | int) -> int:
    """Parse one of Paddle's amount strings ("1000") into an int; anything but an integer is refused.

    ``"10.00"``, ``"1e3"``, ``""`` and floats raise :class:`ValueError`: Paddle amounts are integers in
    the lowest denomination, and accepting a decimal would silently misread the unit.
    """
    if isinstance(text, bool):
        raise ValueError(f"not an amount in minor units: {text!r}")
    if isinstance(text, int):
        return text
    if not isinstance(text, str) or not _INTEGER.fullmatch(text.strip()):
        raise ValueError(f"not an integer amount in minor units: {text!r}")
    return int(text.strip())


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
