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

A line of the wrong sign (a derived roll-forward can issue less than nothing) swaps debit and credit, so
every amount is positive. An unexplained difference is never booked: it is investigated first (the
report lists it customer by customer). Amounts are int64 minor units of the entry's currency.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = ["JOURNAL_COLUMNS", "Accounts", "entries", "unbalanced"]

JOURNAL_COLUMNS: tuple[str, ...] = (
    "entry", "date", "period", "line", "currency_code", "account", "description", "debit", "credit",
    "source_currency", "basis",
)


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


def _entry(rows: list[dict], entry: str, code: str, debit_account: str, credit_account: str, amount: int,
           description: str, common: dict) -> None:
    """Two lines of one entry; a negative amount swaps the sides so both lines stay positive."""
    if amount == 0:
        return
    if amount < 0:
        debit_account, credit_account, amount = credit_account, debit_account, -amount
    for line, (account, debit, credit) in enumerate(
            ((debit_account, amount, 0), (credit_account, 0, amount)), start=1):
        rows.append({**common, "entry": entry, "line": line, "currency_code": code, "account": account,
                     "description": description, "debit": debit, "credit": credit})


def entries(
    roll_forward: pd.DataFrame,
    accounts: Accounts,
    *,
    date: str,
    period: str,
    reference: str,
    translation: pd.DataFrame | None = None,
    evidence: bool = True,
) -> pd.DataFrame:
    """The period's entries (:data:`JOURNAL_COLUMNS`) from the roll-forward table (one row per currency).

    ``date`` is the booking date (the period's last day, ``YYYY-MM-DD``), ``period`` its label and
    ``reference`` the entry-number prefix (``CR-2026-11``). ``translation`` is
    :func:`credit_reports.figures.translation.translate`'s table, when the report has one.
    """
    rows: list[dict] = []
    basis = "Paddle events" if evidence else "derived from balances, no evidence"
    for r in roll_forward.to_dict("records"):
        code = str(r["currency_code"])
        common = {"date": date, "period": period, "source_currency": code, "basis": basis}
        _entry(rows, f"{reference}-{code}-ISSUED", code, accounts.issued, accounts.liability, int(r["issued"]),
               f"Customer credit issued in {period} ({code})", common)
        _entry(rows, f"{reference}-{code}-REVERSED", code, accounts.liability, accounts.reversed_account,
               int(r.get("reversed", 0) or 0), f"Customer credit reversed in {period} ({code})", common)
        _entry(rows, f"{reference}-{code}-USED", code, accounts.liability, accounts.used, int(r["used"]),
               f"Customer credit used on invoices in {period} ({code})", common)
    if translation is not None and not translation.empty:
        for r in translation.to_dict("records"):
            code, reporting = str(r["currency_code"]), str(r["reporting_currency"])
            if code in ("TOTAL", reporting):
                continue
            common = {"date": date, "period": period, "source_currency": code, "basis": basis}
            _entry(rows, f"{reference}-{code}-FX", reporting, accounts.translation, accounts.liability,
                   int(r["translation_converted"]),
                   f"Translation difference on {code} customer credit, {period} (in {reporting})", common)
    frame = pd.DataFrame(rows, columns=list(JOURNAL_COLUMNS))
    return frame.astype({"debit": "int64", "credit": "int64", "line": "int64"})


def unbalanced(journal: pd.DataFrame) -> list[str]:
    """The entries whose debits and credits differ (empty for a journal that can be booked)."""
    sums = journal.groupby("entry", sort=False)[["debit", "credit"]].sum()
    return [str(e) for e in sums.index[sums["debit"] != sums["credit"]]]
