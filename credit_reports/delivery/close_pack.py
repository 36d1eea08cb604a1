"""What a render adds to make the report a close pack: journal entries, GL and reporting-currency columns,
the GL tie-out, the pack's checks and status, the sign-off block and the PDF's running header, from ``[close]``
in ``credit-reports.toml``.

These belong to the render, not the notebook: the names and accounts live in the scheduler's config, and
the tables they extend are the ones the kernel handed over (:mod:`credit_reports.report.handoff`). The report's
template places the sign-off block and the journal table after the notebook cells tagged
``close-signoff`` and ``close-journal``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from credit_reports.core.money import format_money, minor_unit_decimals
from credit_reports.delivery.config import CloseSettings
from credit_reports.figures import journal
from credit_reports.report import status as pack_status

__all__ = ["checks_table", "close_tables", "css_string", "gl_tieout", "gl_tieout_html", "journal_html",
           "journal_reference",
           "pack_checks",
           "running_header", "signoff_html", "status_html"]

#: Tables whose rows are the customer-credit liability: they get the liability's GL account column.
_LIABILITY_TABLES = ("totals", "roll_forward", "customer_subledger", "translation")


def close_tables(
    tables: dict[str, pd.DataFrame], settings: CloseSettings, *, date: str, period: str, reference: str,
    evidence: bool | None, headline: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, pd.DataFrame]:
    """``tables`` with the journal entries added (when there is a roll-forward), the liability's GL account
    beside the liability tables (when ``[close.accounts]`` names it), the GL tie-out (when a GL balance was
    entered for ``date``) and, when the report converts, the sub-ledger's and totals' outstanding credit in
    the reporting currency at the closing rate."""
    out = dict(tables)
    tieout = gl_tieout(settings, headline or {}, dt.date.fromisoformat(date))
    if tieout is not None:
        out["gl_tieout"] = tieout
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


GL_TIEOUT_COLUMNS = ("currency_code", "account", "subledger", "gl_balance", "reconciling_items", "difference",
                     "reconciling_detail")


def gl_tieout(settings: CloseSettings, headline: Mapping[str, Mapping[str, int]], day: dt.date) -> pd.DataFrame | None:
    """The GL tie-out of the closing day: per liability account and currency, the sub-ledger (the headline's
    outstanding), the GL balance entered for ``day``, the reconciling items and the difference left
    (sub-ledger - GL - reconciling items). None when no GL balance was entered for that day."""
    lines = [g for g in settings.gl if g.date == day]
    balances = [g for g in lines if g.kind == "balance"]
    if not balances:
        return None
    liability = settings.accounts.liability
    keys = list(dict.fromkeys((g.account or liability, g.currency) for g in balances))
    rows = []
    for account, code in keys:
        gl = sum(g.amount for g in balances if (g.account or liability, g.currency) == (account, code))
        items = [g for g in lines if g.kind == "reconciling" and g.currency == code
                 and (g.account or liability) == account]
        reconciling = sum(g.amount for g in items)
        subledger = int((headline.get(code) or {}).get("outstanding", 0))
        rows.append({"currency_code": code, "account": account, "subledger": subledger, "gl_balance": gl,
                     "reconciling_items": reconciling, "difference": subledger - gl - reconciling,
                     "reconciling_detail": "; ".join(f"{g.description or 'item'} ({format_money(g.amount, code)})"
                                                     for g in items)})
    frame = pd.DataFrame(rows, columns=list(GL_TIEOUT_COLUMNS))
    return frame.astype({c: "int64" for c in ("subledger", "gl_balance", "reconciling_items", "difference")})


def journal_reference(out_dir: Path, key: str, roll: pd.DataFrame | None,
                      translation: pd.DataFrame | None) -> tuple[str, dict[str, Any]]:
    """The entry-number prefix of this pack's journal and what the manifest records of it (``journal``):
    the period key, the figures' fingerprint and the version. The same figures as an earlier published pack
    of the same period keep its version; other figures take the next one (``CR-2026-11-V2``)."""
    if roll is None or roll.empty:
        return journal.entry_reference(key), {"period_key": key, "version": 1, "fingerprint": None}
    fingerprint = journal.figures_fingerprint(roll, translation)
    version = journal_version(out_dir, key, fingerprint)
    info = {"period_key": key, "version": version, "fingerprint": fingerprint,
            "reference": journal.entry_reference(key, version)}
    return info["reference"], info


def journal_version(out_dir: Path, key: str, fingerprint: str) -> int:
    """The version of ``key``'s journal with these figures, from the manifests published under ``out_dir``:
    the one already given to them, else one more than the highest given to the period."""
    seen: dict[str, int] = {}
    for path in [*Path(out_dir).glob("*/*manifest.json"), *Path(out_dir).glob("*/*/*manifest.json")]:
        try:
            record = json.loads(path.read_text(encoding="utf-8")).get("journal")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(record, Mapping) and record.get("period_key") == key and isinstance(record.get("version"), int):
            seen[str(record.get("fingerprint"))] = max(seen.get(str(record.get("fingerprint")), 0),
                                                        int(record["version"]))
    if fingerprint in seen:
        return seen[fingerprint]
    return max(seen.values(), default=0) + 1


def pack_checks(tables: Mapping[str, pd.DataFrame], headline: Mapping[str, Mapping[str, int]],
                settings: CloseSettings) -> list[pack_status.Check]:
    """Every check of the pack (:mod:`credit_reports.report.status`) over the tables it publishes."""
    roll = tables.get("roll_forward")
    translation = tables.get("translation")
    return [
        *pack_status.roll_forward_checks(roll, headline),
        *pack_status.translation_checks(translation, tables.get("converted")),
        *pack_status.journal_checks(tables.get("journal_entries"), roll, translation, settings.accounts.liability),
        *pack_status.gl_checks(tables.get("gl_tieout")),
    ]


def checks_table(checks: Sequence[pack_status.Check]) -> pd.DataFrame:
    """Every check as a table (minor units of its currency): the workbook's "Pack checks" sheet and its CSV."""
    rows = [{"check": c.name, "currency_code": c.currency, "subject": c.subject or c.currency,
             "expected": c.expected, "actual": c.actual, "difference": c.difference,
             "status": "OK" if c.passed else "CHECK", "where": c.where} for c in checks]
    frame = pd.DataFrame(rows, columns=["check", "currency_code", "subject", "expected", "actual", "difference",
                                        "status", "where"])
    return frame.astype({"expected": "int64", "actual": "int64", "difference": "int64"})


def withheld_reasons(tables: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    """Per currency, why the journal books nothing for it (no evidence, a negative issued or used)."""
    roll = tables.get("roll_forward")
    return {} if roll is None or roll.empty else journal.withheld(roll)


def status_html(reasons: Sequence[str], checks: Sequence[pack_status.Check], *, gl_entered: bool) -> str:
    """The first thing on the page: "Ready to sign" (with how many checks passed) or "Attention" with each
    reason and where to look."""
    passed = sum(1 for c in checks if c.passed)
    gl = ("" if gl_entered else
          " No GL balance was entered for the closing day, so the GL tie-out is still to do.")
    if not reasons:
        return ('<section class="credit-status credit-status-ready" role="status" aria-label="Pack status">'
                f'<p><strong>{pack_status.READY}.</strong> All {passed} checks of this pack pass.{html.escape(gl)}'
                "</p></section>")
    items = "".join(f"<li>{html.escape(r)}</li>" for r in reasons)
    return ('<section class="credit-status credit-status-attention" role="alert" aria-label="Pack status">'
            f'<p><strong>Attention</strong>: {len(reasons)} reason{"s" if len(reasons) != 1 else ""} to resolve '
            f'before signing ({passed} of {len(checks)} checks pass).{html.escape(gl)}</p><ul>{items}</ul></section>')


def gl_tieout_html(tieout: pd.DataFrame | None) -> str:
    """The GL tie-out beside the sign-off: per account and currency, sub-ledger, GL balance, reconciling items
    and the difference left (negatives in parentheses); or a line saying no GL balance was entered."""
    from credit_reports.report.tables import accounting

    if tieout is None or tieout.empty:
        return ('<div class="credit-pack"><p class="credit-journal-status">GL tie-out: no GL balance was entered '
                "for the closing day; enter the liability account's balance per currency to tie the sub-ledger "
                "out.</p></div>")
    head = "".join(f"<th>{h}</th>" for h in ("Account", "Currency", "Sub-ledger", "GL balance", "Reconciling items",
                                             "Difference", "Reconciling items, what they are"))
    rows = []
    for r in tieout.to_dict("records"):
        code = str(r["currency_code"])
        amounts = "".join(f'<td class="credit-nowrap credit-amount">{html.escape(accounting(int(r[c]), code))}</td>'
                          for c in ("subledger", "gl_balance", "reconciling_items", "difference"))
        rows.append(f'<tr><td>{html.escape(str(r["account"]))}</td><td>{html.escape(code)}</td>{amounts}'
                    f'<td>{html.escape(str(r["reconciling_detail"] or ""))}</td></tr>')
    left = [str(r["currency_code"]) for r in tieout.to_dict("records") if int(r["difference"])]
    status = ("Every GL balance ties out to the sub-ledger." if not left else
              f"A difference is left in {', '.join(left)}: explain it with a reconciling item or correct the GL.")
    return (f'<div class="credit-pack"><h3 id="gl-tie-out">GL tie-out</h3><p class="credit-journal-status">{status}</p>'
            f'<table class="credit-table credit-table-wide"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def signoff_html(settings: CloseSettings, *, prepared_on: str) -> str:
    """The sign-off block: prepared by / reviewed by with their names, signature and date lines."""
    def name(value: str | None, key: str) -> str:
        if value:
            return html.escape(value)
        return '<span class="credit-signoff-missing">name, signature and date by hand</span>'

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


def journal_html(entries: pd.DataFrame | None, settings: CloseSettings, notes: tuple[str, ...] = ()) -> str:
    """The journal entries, one row per entry (debit account, credit account, amount in its currency), with
    whether every entry balances; the CSV and the workbook hold the same entries as debit and credit lines.
    ``notes`` are the journal notes printed under them (e.g. the maturity split: disclosed, not booked)."""
    after = "".join(f'<p class="credit-journal-note">{html.escape(n)}</p>' for n in notes)
    if entries is None or entries.empty:
        return ('<div class="credit-pack"><p class="credit-journal-none">No entries: the report has no '
                f"roll-forward that can be booked (see the status at the top).</p>{after}</div>")
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
                " The account names are placeholders: map them to your chart of accounts before booking.")
    return (f'<div class="credit-pack"><p class="credit-journal-status">{status}{html.escape(accounts)}</p>'
            f'<table class="credit-table credit-table-wide credit-journal"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>{after}</div>')


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
