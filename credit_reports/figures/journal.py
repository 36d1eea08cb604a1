"""The journal entries an accountant books from the roll-forward, per period and currency.

One entry per movement line and currency, dated the period's end, each of two lines (debit and credit,
equal amounts), on the accounts named in ``credit-reports.toml``::

    [close.accounts]
    liability = "2400 Customer credit balances"   # the customer-credit liability
    issued = "4090 Proration credit granted"       # the other side of credit issued
    reversed = "4090 Proration credit granted"     # of credit reversed (default: the issued account)
    used = "1200 Accounts receivable"              # of credit used (applied to invoices)
    translation = "7950 FX translation differences"  # of the translation difference

- credit **issued**: debit the issued account, credit the liability;
- credit **reversed**: debit the liability, credit the reversed account;
- credit **used**: debit the liability, credit the used account;
- **translation difference** (only where the roll-forward is translated into a reporting currency, in
  that currency): a rise of the liability debits the translation account and credits the liability, a
  fall the other way round.

Entry numbers are what an ERP de-duplicates on, so they are unique and stable
(:func:`entry_reference`): ``CR-<period>-<currency>-<line>`` where ``<period>`` is the close period's key
(``2026-11``, ``2026-Q4``, ``2026``) or, for a report that is not a close period, the window between its
two snapshots (``20261031T061500Z-20261130T061500Z``). The same period re-rendered with the same figures
gives the same numbers; a month and its quarter, or two windows, never share one; when a period's figures
change after they were published (a re-opened period), the render adds a version suffix (``-V2``, ...;
:func:`credit_reports.delivery.close_pack.journal_version`).

Nothing is booked from a roll-forward that cannot be booked: a window without event evidence (its issued
and used are derived from balances) or a negative issued or used (impossible for real movements) gives no
entries for that currency; :func:`withheld` says why, and the pack carries it as an Attention. An
unexplained difference is never booked either: it is investigated first (the report lists it customer by
customer). Amounts are int64 minor units of the entry's currency.

With a reporting currency every line also carries its amount in that currency (``debit_converted`` /
``credit_converted``, the translated roll-forward's figures) and the rate it was translated at (``rate``:
the period's average rate, or for spot translation the effective rate of the period's movements).

"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

__all__ = ["JOURNAL_COLUMNS", "Accounts", "entries", "entry_reference", "figures_fingerprint", "period_key",
           "unbalanced", "withheld"]

JOURNAL_COLUMNS: tuple[str, ...] = (
    "entry", "date", "period", "line", "currency_code", "account", "description", "debit", "credit",
    "source_currency", "basis",
)
#: Added with a reporting currency: the line in that currency and the rate it was translated at.
CONVERTED_COLUMNS: tuple[str, ...] = ("reporting_currency", "rate", "debit_converted", "credit_converted")

_MONTHS = {name: i for i, name in enumerate(
    ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
     "November", "December"), start=1)}
_MONTH_LABEL = re.compile(r"^([A-Z][a-z]+) (\d{4})$")
_QUARTER_LABEL = re.compile(r"^Q([1-4]) (\d{4})$")
_YEAR_LABEL = re.compile(r"^(\d{4})$")


@dataclass(frozen=True)
class Accounts:
    """The general-ledger accounts of the entries (names or numbers as the ledger knows them)."""

    liability: str = "Customer credit liability"
    issued: str = "Customer credit granted"
    reversed: str = ""
    used: str = "Accounts receivable"
    translation: str = "FX translation difference"

    @property
    def reversed_account(self) -> str:
        return self.reversed or self.issued


def period_key(label: str, opening: Any = None, closing: Any = None) -> str:
    """The period part of an entry number: ``2026-11`` (a month label ``November 2026``), ``2026-Q4``,
    ``2026``; for a window that is not a close period, its two as-ofs (``20261031T061500Z-20261130T...``)."""
    text = (label or "").strip()
    if (m := _MONTH_LABEL.match(text)) and m.group(1) in _MONTHS:
        return f"{m.group(2)}-{_MONTHS[m.group(1)]:02d}"
    if m := _QUARTER_LABEL.match(text):
        return f"{m.group(2)}-Q{m.group(1)}"
    if m := _YEAR_LABEL.match(text):
        return m.group(1)
    stamps = [_stamp(t) for t in (opening, closing) if t is not None]
    return "-".join(stamps) if stamps else "UNDATED"


def _stamp(moment: Any) -> str:
    """An as-of as ``20261130T061500Z`` (UTC to the second): what tells two windows apart."""
    return pd.Timestamp(moment).tz_convert("UTC").strftime("%Y%m%dT%H%M%SZ") if pd.Timestamp(moment).tzinfo \
        else pd.Timestamp(moment).strftime("%Y%m%dT%H%M%SZ")


def entry_reference(key: str, version: int = 1) -> str:
    """The entry-number prefix of a period: ``CR-2026-11``, or ``CR-2026-11-V2`` from the second version on."""
    return f"CR-{key}" + (f"-V{version}" if version > 1 else "")


def figures_fingerprint(roll_forward: pd.DataFrame, translation: pd.DataFrame | None = None) -> str:
    """A short digest of the figures the journal books (per currency: issued, reversed, used, evidence; the
    translation differences): equal figures, equal digest, so a re-render knows whether they changed."""
    parts = []
    for r in roll_forward.sort_values("currency_code").to_dict("records"):
        parts.append(f"{r['currency_code']}:{int(r['issued'])}:{int(r.get('reversed', 0) or 0)}:{int(r['used'])}:"
                     f"{bool(r.get('evidence', False))}")
    if translation is not None and not translation.empty:
        for r in translation.sort_values("currency_code").to_dict("records"):
            parts.append(f"fx:{r['currency_code']}:{r['reporting_currency']}:{int(r['translation_converted'])}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def withheld(roll_forward: pd.DataFrame) -> dict[str, str]:
    """Per currency, why its movements are not journalled (empty when every currency is booked)."""
    out = {}
    for r in roll_forward.to_dict("records"):
        code = str(r["currency_code"])
        if not bool(r.get("evidence", False)):
            out[code] = "the roll-forward has no event evidence (derived from balances)"
        elif int(r["issued"]) < 0 or int(r["used"]) < 0:
            which = " and ".join(k for k in ("issued", "used") if int(r[k]) < 0)
            out[code] = f"{which} is negative, which no credit movement can be"
    return out


def _entry(rows: list[dict], entry: str, code: str, debit_account: str, credit_account: str, amount: int,
           description: str, common: dict, converted: tuple[int, Any] | None = None) -> None:
    """Two lines of one entry (a negative amount, only a translation difference, swaps the sides)."""
    if amount == 0:
        return
    reporting = converted[0] if converted is not None else None
    if amount < 0:
        debit_account, credit_account, amount = credit_account, debit_account, -amount
        reporting = -reporting if reporting is not None else None
    for line, (account, debit, credit) in enumerate(
            ((debit_account, amount, 0), (credit_account, 0, amount)), start=1):
        row = {**common, "entry": entry, "line": line, "currency_code": code, "account": account,
               "description": description, "debit": debit, "credit": credit}
        if converted is not None:
            row.update(rate=converted[1], debit_converted=reporting if debit else 0,
                       credit_converted=reporting if credit else 0)
        rows.append(row)


def _rate_of(row: dict, column: str) -> str:
    """The rate a translated line is at: the movement rate, else (spot) the effective rate of the line."""
    rate = row.get("movement_rate")
    if rate is not None and not (not isinstance(rate, str) and pd.isna(rate)):
        return str(rate)
    amount, converted = int(row[column] or 0), int(row[f"{column}_converted"] or 0)
    if not amount:
        return ""
    from credit_reports.core.money import minor_unit_decimals

    shift = int(minor_unit_decimals(str(row["currency_code"])) or 0) - int(
        minor_unit_decimals(str(row["reporting_currency"])) or 0)
    return f"{(Decimal(converted) / Decimal(amount)).scaleb(shift).quantize(Decimal('0.00000001'))} (effective)"


def entries(
    roll_forward: pd.DataFrame,
    accounts: Accounts,
    *,
    date: str | dt.date,
    period: str,
    reference: str,
    translation: pd.DataFrame | None = None,
    evidence: bool = True,
) -> pd.DataFrame:
    """The period's entries (:data:`JOURNAL_COLUMNS`, plus :data:`CONVERTED_COLUMNS` with a translation)
    from the roll-forward table (one row per currency).

    ``date`` is the booking date (the period's last day, a date or ``YYYY-MM-DD``), ``period`` its label and
    ``reference`` the entry-number prefix (:func:`entry_reference`). ``translation`` is
    :func:`credit_reports.figures.translation.translate`'s table, when the report has one. Currencies in
    :func:`withheld` get no entries. ``evidence`` is the report's own flag, kept for rows without one.
    """
    day = dt.date.fromisoformat(date) if isinstance(date, str) else date
    rows: list[dict] = []
    roll = roll_forward if "evidence" in roll_forward else roll_forward.assign(evidence=bool(evidence))
    skip = withheld(roll)
    trans = ({str(r["currency_code"]): r for r in translation.to_dict("records")}
             if translation is not None and not translation.empty else {})
    reporting = next((str(r["reporting_currency"]) for r in trans.values()), None)
    for r in roll.to_dict("records"):
        code = str(r["currency_code"])
        if code in skip:
            continue
        common = {"date": day, "period": period, "source_currency": code, "basis": "Paddle events"}
        t = trans.get(code)
        if reporting is not None:
            common["reporting_currency"] = reporting

        def converted(column: str, t: dict | None = t) -> tuple[int, Any] | None:
            if t is None:
                return None if reporting is None else (None, None)
            return int(t[f"{column}_converted"]), _rate_of(t, column)

        _entry(rows, f"{reference}-{code}-ISSUED", code, accounts.issued, accounts.liability, int(r["issued"]),
               f"Customer credit issued in {period} ({code})", common, converted("issued"))
        _entry(rows, f"{reference}-{code}-REVERSED", code, accounts.liability, accounts.reversed_account,
               int(r.get("reversed", 0) or 0), f"Customer credit reversed in {period} ({code})", common,
               converted("reversed"))
        _entry(rows, f"{reference}-{code}-USED", code, accounts.liability, accounts.used, int(r["used"]),
               f"Customer credit used on invoices in {period} ({code})", common, converted("used"))
    for code, r in trans.items():
        if code in ("TOTAL", reporting) or code in skip:
            continue
        common = {"date": day, "period": period, "source_currency": code, "basis": "Paddle events",
                  "reporting_currency": reporting}
        amount = int(r["translation_converted"])
        _entry(rows, f"{reference}-{code}-FX", str(reporting), accounts.translation, accounts.liability, amount,
               f"Translation difference on {code} customer credit, {period} (in {reporting})", common,
               (amount, "1"))
    columns = list(JOURNAL_COLUMNS) + (list(CONVERTED_COLUMNS) if reporting is not None else [])
    frame = pd.DataFrame(rows, columns=columns)
    frame = frame.astype({"debit": "int64", "credit": "int64", "line": "int64"})
    if reporting is not None:
        frame = frame.astype({"debit_converted": "Int64", "credit_converted": "Int64"})
    return frame


def unbalanced(journal: pd.DataFrame) -> list[str]:
    """The entries whose debits and credits differ (empty for a journal that can be booked)."""
    columns = ["debit", "credit"]
    sums = journal.groupby("entry", sort=False)[columns].sum()
    wrong = set(sums.index[sums["debit"] != sums["credit"]])
    if "debit_converted" in journal:
        converted = journal.groupby("entry", sort=False)[["debit_converted", "credit_converted"]].sum()
        wrong |= set(converted.index[converted["debit_converted"] != converted["credit_converted"]])
    return [str(e) for e in sums.index if e in wrong]
