"""The door: every value Paddle sends is checked against what its spec allows before it becomes a row.

Paddle's answers are data from outside. A value the spec does not allow (a currency code outside its list,
``"krw"``, ``null``; an amount with a decimal point, a sign where a total cannot be negative, digits that are
not ASCII, more than 64 bits; a time that is not RFC 3339; an id of the wrong shape) is never turned into a
figure: it raises :class:`~credit_reports.core.errors.MalformedDataError` naming the record, the field and the
value in one line. Callers decide what depends on it: a customer whose balances answer fails is a failed
customer (the snapshot is incomplete), an event that fails makes the events untrustworthy for that fetch
(the strategy that reads no events still works).

What the spec says (``../shared/paddle/openapi.yaml``, ``credit_balance``): ``available``, ``reserved`` and
``used`` are "total amount" strings in the lowest denomination, so each is a non-negative integer;
``currency_code`` is one of Paddle's supported three-letter ISO 4217 codes, upper case. A credit-balances
answer holds one object per currency, so a currency twice in one answer is malformed, not two rows to add.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from credit_reports.core import timestamps
from credit_reports.core.errors import MalformedDataError
from credit_reports.core.money import PADDLE_CURRENCIES

log = logging.getLogger("credit_reports.fetch")

__all__ = [
    "adjustment",
    "checked_adjustments",
    "sound_adjustment",
    "listed_customers",
    "BALANCE_FIELDS",
    "amount",
    "balance_rows",
    "checked_events",
    "currency_code",
    "entity_id",
    "event",
    "paddle_time",
]

#: The three totals of a credit balance, each a non-negative integer string in minor units.
BALANCE_FIELDS = ("available", "reserved", "used")

_INT64_MAX = 2**63 - 1
_AMOUNT = re.compile(r"-?[0-9]+")  # ASCII digits only, no spaces, no "+", no decimal point
#: RFC 3339 as Paddle writes it: 2024-04-05T14:33:40.972651Z (fraction optional, Z or an offset).
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})")
#: A Paddle id: a lower-case prefix, "_", then letters and digits (``ctm_01h...``, ``evt_01h...``).
_ID = re.compile(r"[a-z]{2,8}_[A-Za-z0-9]{1,64}")
_CURRENCIES = frozenset(PADDLE_CURRENCIES)


def currency_code(value: Any, record: str) -> str:
    """``value`` when it is one of Paddle's currency codes exactly as Paddle sends them (``"USD"``), else raise.

    ``"krw"``, ``" USD"``, ``"ZZZ"``, ``""`` and ``None`` are refused: each would otherwise become a
    currency of its own beside the real one, or the text ``"None"``.
    """
    if not isinstance(value, str) or value not in _CURRENCIES:
        problem = ("is not upper case as Paddle sends it" if isinstance(value, str) and value.upper() in _CURRENCIES
                   else "is not one of Paddle's currency codes (ISO 4217, upper case)")
        raise MalformedDataError(record, "currency_code", value, problem)
    return value


def amount(value: Any, field: str, record: str, *, non_negative: bool = True) -> int:
    """An amount string in minor units as an exact int: ASCII digits, fits int64, >= 0 when ``non_negative``."""
    if not isinstance(value, str) or not _AMOUNT.fullmatch(value):
        raise MalformedDataError(record, field, value, "is not an integer amount in minor units (ASCII digits)")
    number = int(value)
    if abs(number) > _INT64_MAX:
        raise MalformedDataError(record, field, value, "does not fit in 64 bits")
    if non_negative and number < 0:
        raise MalformedDataError(record, field, value, "is negative, and Paddle's spec makes it a total (>= 0)")
    return number


def paddle_time(value: Any, field: str, record: str) -> str:
    """``value`` when it is an RFC 3339 time that exists (not 2025-13-45T99:99:99Z), else raise.

    Paddle's "never" (``0001-01-01T00:00:00Z``) is a time that exists; whether a table can hold it is the
    caller's question. Times a table can hold go through the one parser (:func:`core.timestamps.parse`).
    """
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise MalformedDataError(record, field, value, "is not an RFC 3339 time")
    year, month, day = int(value[:4]), int(value[5:7]), int(value[8:10])
    hour, minute, second = int(value[11:13]), int(value[14:16]), int(value[17:19])
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(max(year, 1), month)[1] and hour < 24
            and minute < 60 and second < 61):
        raise MalformedDataError(record, field, value, "is not a time that exists")
    if 1678 <= year <= 2261:
        try:
            timestamps.parse(value)
        except (ValueError, OverflowError):
            raise MalformedDataError(record, field, value, "is not a time that exists") from None
    return value


def entity_id(value: Any, field: str, record: str, prefix: str | None = None) -> str:
    """``value`` when it is shaped like a Paddle id (with ``prefix``, e.g. ``"ctm"``, when given), else raise."""
    if not isinstance(value, str) or not _ID.fullmatch(value) or (prefix and not value.startswith(prefix + "_")):
        wanted = f"a Paddle id ({prefix}_...)" if prefix else "a Paddle id"
        raise MalformedDataError(record, field, value, f"is not {wanted}")
    return value


def balance_rows(body: Any, customer_id: str) -> list[list[Any]]:
    """One credit-balances answer as ``[currency, available, reserved, used]`` rows, every field checked.

    Raises :class:`MalformedDataError` for the first value the spec does not allow, for an object of another
    customer, and for a currency that appears twice (the answer holds one object per currency: two cannot
    both be right, and adding or picking one would publish a figure Paddle never stated).
    """
    record = f"customer {customer_id}"
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, list):
        raise MalformedDataError(record, "data", type(data).__name__, "is not an array of credit balances")
    rows: list[list[Any]] = []
    seen: set[str] = set()
    for item in data:
        if not isinstance(item, Mapping):
            raise MalformedDataError(record, "data[]", item, "is not a credit balance object")
        owner = item.get("customer_id")
        if owner is not None and owner != customer_id:
            raise MalformedDataError(record, "customer_id", owner, "is another customer's balance")
        code = currency_code(item.get("currency_code"), record)
        if code in seen:
            raise MalformedDataError(record, "currency_code", code, "appears twice in one answer")
        seen.add(code)
        balance = item.get("balance")
        if not isinstance(balance, Mapping):
            raise MalformedDataError(record, f"{code} balance", balance, "is not an object")
        rows.append([code, *(amount(balance.get(f), f"{code} {f}", record) for f in BALANCE_FIELDS)])
    return rows


#: Event types whose payload carries amounts a movement is made of.
_MONEY_EVENTS = ("transaction.", "adjustment.")


def event(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """``item`` when the fields a fetch reads of an event are what the spec allows, else raise.

    Checked: ``event_id``, ``event_type``, ``occurred_at``; for transaction and adjustment events also the
    entity's id, its ``currency_code`` when present and the credit amounts movements are made of.
    """
    record = f"event {item.get('event_id')!s}"
    entity_id(item.get("event_id"), "event_id", record, "evt")
    kind = item.get("event_type")
    if not isinstance(kind, str) or not re.fullmatch(r"[a-z_]+\.[a-z_.]+", kind):
        raise MalformedDataError(record, "event_type", kind, "is not an event type")
    paddle_time(item.get("occurred_at"), "occurred_at", record)
    data = item.get("data")
    if not isinstance(data, Mapping):
        raise MalformedDataError(record, "data", data, "is not an object")
    if kind.startswith(_MONEY_EVENTS):
        entity_id(data.get("id"), "data.id", record)
        if data.get("currency_code") is not None:
            currency_code(data.get("currency_code"), record)
        totals = (data.get("details") or {}).get("totals") if isinstance(data.get("details"), Mapping) else None
        for name in ("credit", "credit_to_balance"):
            value = totals.get(name) if isinstance(totals, Mapping) else None
            if value is not None:
                amount(value, f"data.details.totals.{name}", record)
        total = (data.get("totals") or {}).get("total") if isinstance(data.get("totals"), Mapping) else None
        if total is not None:
            amount(total, "data.totals.total", record, non_negative=False)  # a credit_reverse is negative
        for name in ("billed_at", "created_at", "updated_at"):
            if data.get(name) is not None:
                paddle_time(data.get(name), f"data.{name}", record)
    return item


def listed_customers(items: Iterable[Mapping[str, Any]],
                     skipped: list[str] | None = None) -> Iterator[Mapping[str, Any]]:
    """``items`` of a customers listing whose ``id`` is a Paddle customer id; any other item is skipped with one
    line (its balances cannot be asked for without an id, and nothing else of the listing depends on it) and
    its line appended to ``skipped``: the snapshot cannot say it holds every customer."""
    for position, item in enumerate(items):
        try:
            entity_id(item.get("id"), "id", f"customers list item {position}", "ctm")
        except MalformedDataError as exc:
            log.warning("%s; the item is skipped", exc)
            if skipped is not None:
                skipped.append(str(exc))
            continue
        yield item


def adjustment(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """``item`` (an ``/adjustments`` object) when its id, ``transaction_id``, ``currency_code`` and
    ``totals.total`` are what the spec allows (a total is negative for a ``credit_reverse``), else raise."""
    record = f"adjustment {item.get('id')!s}"
    entity_id(item.get("id"), "id", record, "adj")
    if item.get("transaction_id") is not None:
        entity_id(item.get("transaction_id"), "transaction_id", record, "txn")
    if item.get("currency_code") is not None:
        currency_code(item.get("currency_code"), record)
    totals = item.get("totals")
    if totals is not None and not isinstance(totals, Mapping):
        raise MalformedDataError(record, "totals", totals, "is not an object")
    if isinstance(totals, Mapping) and totals.get("total") is not None:
        amount(totals.get("total"), "totals.total", record, non_negative=False)
    return item


def sound_adjustment(item: Mapping[str, Any]) -> bool:
    """True when the listed adjustment passes the door; else False and one line naming it, the field and the
    value. A listing keeps going: the adjustment's customer is still asked for its balance (read directly),
    only the adjustment itself never becomes a row (an ageing date, a total)."""
    try:
        adjustment(item)
    except MalformedDataError as exc:
        log.warning("%s; the adjustment is left out (its customer's balance is still read)", exc)
        return False
    return True


def checked_adjustments(items: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """``items`` with each adjustment checked at the door (:func:`adjustment`): the first malformed one raises."""
    for item in items:
        yield adjustment(item)


def checked_events(items: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """``items`` with each event checked at the door (:func:`event`): the first malformed one raises."""
    for item in items:
        yield event(item)


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
