"""What a render adds to make the report a close pack: journal entries, GL and reporting-currency columns,
the sign-off block and the PDF's running header, from ``[close]`` in ``credit-reports.toml``.

These belong to the render, not the notebook: the names and accounts live in the scheduler's config, and
the tables they extend are the ones the kernel handed over (:mod:`credit_reports.report.handoff`). The report's
template places the sign-off block and the journal table after the notebook cells tagged
``close-signoff`` and ``close-journal``.
"""

from __future__ import annotations

import html
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pandas as pd

from credit_reports.core.money import format_money, minor_unit_decimals
from credit_reports.delivery.config import CloseSettings
from credit_reports.figures import journal

__all__ = ["close_tables", "css_string", "journal_html", "running_header", "signoff_html"]

#: Tables whose rows are the customer-credit liability: they get the liability's GL account column.
_LIABILITY_TABLES = ("totals", "roll_forward", "customer_subledger", "translation")


def close_tables(
    tables: dict[str, pd.DataFrame], settings: CloseSettings, *, date: str, period: str, reference: str,
    evidence: bool | None,
) -> dict[str, pd.DataFrame]:
    """``tables`` with the journal entries added (when there is a roll-forward), the liability's GL account
    beside the liability tables (when ``[close.accounts]`` names it) and, when the report converts, the
    sub-ledger's and totals' outstanding credit in the reporting currency at the closing rate."""
    out = dict(tables)
    roll = out.get("roll_forward")
    if roll is not None and len(roll):
        entries = journal.entries(roll, settings.accounts, date=date, period=period, reference=reference,
                                  translation=out.get("translation"), evidence=bool(evidence))
        wrong = journal.unbalanced(entries)
        if wrong:  # cannot happen by construction; never publish a journal that does not balance
            raise AssertionError(f"journal entries {', '.join(wrong)} do not balance")
        out["journal_entries"] = entries
    converted = out.get("converted")
    if converted is not None and len(converted):
        rates = {str(r["currency_code"]): (r["rate"], str(r["reporting_currency"]))
                 for r in converted.to_dict("records") if str(r["currency_code"]) != "TOTAL"}
        for name in ("customer_subledger", "totals"):
            if name in out and "outstanding" in out[name]:
                out[name] = _with_reporting(out[name], rates)
    if settings.accounts_configured:
        for name in _LIABILITY_TABLES:
            if name in out:
                frame = out[name].copy()
                frame.insert(1, "gl_account", settings.accounts.liability)
                out[name] = frame
    return out


def _with_reporting(frame: pd.DataFrame, rates: dict[str, tuple[Any, str]]) -> pd.DataFrame:
    """``outstanding_converted`` (int64 minor units of the reporting currency, half to even per row)."""
    if not rates:
        return frame
    reporting = next(iter(rates.values()))[1]
    rep_decimals = int(minor_unit_decimals(reporting) or 0)
    factors = {code: Decimal(str(rate)).scaleb(rep_decimals - int(minor_unit_decimals(code) or 0))
               for code, (rate, _rep) in rates.items()}
    values = [int((Decimal(int(v)) * factors[str(c)]).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
              if str(c) in factors else None
              for v, c in zip(frame["outstanding"], frame["currency_code"], strict=True)]
    out = frame.copy()
    out["reporting_currency"] = reporting
    out["outstanding_converted"] = pd.array(values, dtype="Int64")
    return out


def signoff_html(settings: CloseSettings, *, prepared_on: str) -> str:
    """The sign-off block: prepared by / reviewed by with names from ``[close]``, signature and date lines."""
    def name(value: str | None, key: str) -> str:
        if value:
            return html.escape(value)
        return f'<span class="credit-signoff-missing">not named: set {key} in [close]</span>'

    rows = [("Prepared by", name(settings.prepared_by, "prepared_by")),
            ("Reviewed by", name(settings.reviewed_by, "reviewed_by"))]
    body = "".join(f'<tr><th scope="row">{role}</th><td>{who}</td><td class="credit-sign-line"></td>'
                   '<td class="credit-sign-line"></td></tr>' for role, who in rows)
    return (
        '<div class="credit-pack credit-signoff" role="group" aria-label="Sign-off">'
        '<table class="credit-signoff-table"><thead><tr><th>Role</th><th>Name</th><th>Signature</th>'
        f'<th>Date</th></tr></thead><tbody>{body}</tbody></table>'
        f'<p class="credit-signoff-note">Pack prepared by credit-reports on {html.escape(prepared_on)}.</p></div>'
    )


def journal_html(entries: pd.DataFrame | None, settings: CloseSettings) -> str:
    """The journal entries, one row per entry (debit account, credit account, amount in its currency), with
    whether every entry balances; the CSV and the workbook hold the same entries as debit and credit lines."""
    if entries is None or entries.empty:
        return ('<div class="credit-pack"><p class="credit-journal-none">No entries: the report has no '
                "roll-forward (no opening snapshot).</p></div>")
    head = "".join(f"<th>{h}</th>" for h in ("Entry", "Date", "Debit", "Credit", "Amount", "Description"))
    rows = []
    for entry, lines in entries.groupby("entry", sort=False):
        debit = lines[lines["debit"] > 0].iloc[0]
        credit = lines[lines["credit"] > 0].iloc[0]
        code = str(debit["currency_code"])
        rows.append(f'<tr><td class="credit-nowrap">{html.escape(str(entry))}</td>'
                    f'<td class="credit-nowrap">{html.escape(str(debit["date"]))}</td>'
                    f'<td>{html.escape(str(debit["account"]))}</td><td>{html.escape(str(credit["account"]))}</td>'
                    f'<td class="credit-nowrap credit-amount">{format_money(int(debit["debit"]), code)}</td>'
                    f'<td>{html.escape(str(debit["description"]))}</td></tr>')
    balanced = not journal.unbalanced(entries)
    status = ("Every entry balances: its debits equal its credits." if balanced else
              "An entry does not balance: do not book it.")
    accounts = ("" if settings.accounts_configured else
                " The account names are placeholders until [close.accounts] in credit-reports.toml names them.")
    return (f'<div class="credit-pack"><p class="credit-journal-status">{status}{html.escape(accounts)}</p>'
            f'<table class="credit-table credit-table-wide credit-journal"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def running_header(*, title: str, period: str, as_of: str, account: str) -> str:
    """The PDF's running header: title, period, as-of and account, one line."""
    parts = [title, period, f"as of {as_of}", account]
    return "  ·  ".join(p for p in parts if p)


def css_string(text: str) -> str:
    """``text`` as a CSS string literal (every character outside plain ASCII letters and digits escaped)."""
    out = []
    for char in text:
        if char.isascii() and (char.isalnum() or char in " ,.:;()-_/%&+"):
            out.append(char)
        else:
            out.append(f"\\{ord(char):06x}")
    return '"' + "".join(out) + '"'
