"""The pack's checks and its status: "Ready to sign", or "Attention" with each reason and where to look.

A close pack is signed as it stands, so every check it makes is listed in one place and every check that
fails is a reason for attention (issue 23 point 3, issue 24 point 3). The checks are computed from the
tables the render publishes (int64 minor units, one currency per row), never from the notebook's display:

- **roll-forward**: opening + issued - reversed - used = closing, per currency (with event evidence only:
  without it the line holds by construction and proves nothing);
- **used**: the change in the ``used`` balance against the period's ``used`` movements;
- **reserved**: the ``reserved`` balance against the credit reserved on open invoices;
- **closing vs headline**: the roll-forward's closing outstanding equals the headline's outstanding;
- **translated roll-forward**: per currency, opening + issued - reversed - used + unexplained + translation
  = closing in the reporting currency, its closing equal to the headline converted at the closing rate, and
  the total line the sum of the currency lines;
- **journal vs roll-forward**: the journal's net movement on the liability account equals issued - reversed
  - used per currency (and the FX entries the translation difference);
- **GL tie-out**: the general ledger's balance of the liability account, plus the reconciling items, against
  the sub-ledger (the headline outstanding); only when a GL balance was entered for the closing day.

:func:`checks_json` is what the report manifest records under ``checks``;
:func:`credit_reports.report.alerts.attention_reasons` turns each failed one into a reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = [
    "READY", "Check", "check_failures", "checks_json", "gl_checks", "journal_checks", "roll_forward_checks",
    "status_line", "status_text", "translation_checks",
]

#: The status of a pack with no reason for attention.
READY = "Ready to sign"
ATTENTION = "Attention"


@dataclass(frozen=True)
class Check:
    """One check of the pack: what was expected, what was found (int64 minor units of ``currency``)."""

    name: str  # "roll-forward", "used", "reserved", "closing vs headline", "translated roll-forward", ...
    currency: str  # the currency the amounts are in (the reporting currency for translated checks)
    expected: int
    actual: int
    where: str  # where a reviewer looks: the workbook sheet or report section
    subject: str = ""  # what the check is about when it is not the currency itself (``EUR in USD``, an entry)

    @property
    def difference(self) -> int:
        return int(self.actual) - int(self.expected)

    @property
    def passed(self) -> bool:
        return self.difference == 0

    def as_json(self) -> dict[str, Any]:
        return {"check": self.name, "currency": self.currency, "subject": self.subject or self.currency,
                "expected": int(self.expected), "actual": int(self.actual), "difference": self.difference,
                "passed": self.passed, "where": self.where}


def _int(value: Any) -> int:
    return 0 if value is None or (not isinstance(value, str) and pd.isna(value)) else int(value)


def roll_forward_checks(roll: pd.DataFrame | None, headline: Mapping[str, Mapping[str, int]]) -> list[Check]:
    """The roll-forward's own checks per currency (with evidence), and its closing against the headline."""
    if roll is None or roll.empty:
        return []
    out: list[Check] = []
    for r in roll.to_dict("records"):
        code = str(r["currency_code"])
        if bool(r.get("evidence", False)):
            expected = _int(r["opening"]) + _int(r["issued"]) - _int(r.get("reversed")) - _int(r["used"])
            out.append(Check("roll-forward", code, expected, _int(r["closing"]),
                             "Roll-forward (customers behind each difference listed below it)"))
            if "used_difference" in r:
                used_change = _int(r.get("used_change"))
                out.append(Check("used", code, used_change - _int(r["used_difference"]), used_change,
                                 "Roll-forward, used check (used balance against used movements)"))
            if "reserved_difference" in r:
                out.append(Check("reserved", code, _int(r.get("reserved_expected")), _int(r.get("reserved")),
                                 "Roll-forward, reserved check (reserved balance against open invoices)"))
        if code in headline and "outstanding" in headline[code]:
            out.append(Check("closing vs headline", code, int(headline[code]["outstanding"]), _int(r["closing"]),
                             "Headline and Roll-forward: closing outstanding"))
    return out


def translation_checks(translation: pd.DataFrame | None, converted: pd.DataFrame | None) -> list[Check]:
    """The translated roll-forward adds up per currency, its closing equals the closing converted at the
    closing rate, and its total line is the sum of the currency lines (reporting-currency minor units)."""
    if translation is None or translation.empty:
        return []
    where = "Translated roll-forward (reporting currency)"
    out: list[Check] = []
    rows = translation.to_dict("records")
    reporting = str(rows[0]["reporting_currency"])
    lines = [r for r in rows if str(r["currency_code"]) != "TOTAL"]
    by_code = ({str(r["currency_code"]): r for r in converted.to_dict("records")}
               if converted is not None and not converted.empty else {})
    for r in lines:
        code = str(r["currency_code"])
        subject = f"{code} in {reporting}"
        expected = (_int(r["opening_converted"]) + _int(r["issued_converted"]) - _int(r["reversed_converted"])
                    - _int(r["used_converted"]) + _int(r["unexplained_converted"])
                    + _int(r["translation_converted"]))
        out.append(Check("translated roll-forward", reporting, expected, _int(r["closing_converted"]), where,
                         subject))
        headline = by_code.get(code, {}).get("outstanding_converted")
        if headline is not None and not pd.isna(headline):
            out.append(Check("translated closing vs converted headline", reporting, _int(headline),
                             _int(r["closing_converted"]), where, subject))
    total = next((r for r in rows if str(r["currency_code"]) == "TOTAL"), None)
    if total is not None:
        for column in ("opening_converted", "closing_converted", "translation_converted"):
            out.append(Check("translated total", reporting, sum(_int(r[column]) for r in lines), _int(total[column]),
                             where, f"total {column.removesuffix('_converted')}"))
    return out


def journal_checks(entries: pd.DataFrame | None, roll: pd.DataFrame | None, translation: pd.DataFrame | None,
                   liability: str) -> list[Check]:
    """The journal's net credit to the liability account against the roll-forward, per currency: issued -
    reversed - used (own currency), and the translation difference (reporting currency)."""
    if entries is None or roll is None or roll.empty:
        return []
    where = "Journal entries against the Roll-forward"
    on_liability = entries[entries["account"].astype(str) == liability]
    own = on_liability[~on_liability["entry"].astype(str).str.contains("-FX")]
    fx = on_liability[on_liability["entry"].astype(str).str.contains("-FX")]
    out: list[Check] = []
    for r in roll.to_dict("records"):
        code = str(r["currency_code"])
        lines = own[own["source_currency"].astype(str) == code]
        booked = int(lines["credit"].sum()) - int(lines["debit"].sum())
        expected = _int(r["issued"]) - _int(r.get("reversed")) - _int(r["used"])
        if not len(lines) and expected != 0 and not _journalled(r):
            continue  # no entries on purpose (no evidence, an impossible figure): its own reason says why
        out.append(Check("journal vs roll-forward", code, expected, booked, where))
    if translation is not None and not translation.empty:
        reporting = str(translation["reporting_currency"].iloc[0])
        rows = [t for t in translation.to_dict("records") if str(t["currency_code"]) not in ("TOTAL", reporting)]
        if rows and len(fx):
            expected = sum(_int(t["translation_converted"]) for t in rows)
            booked = int(fx["credit"].sum()) - int(fx["debit"].sum())
            out.append(Check("journal vs translation difference", reporting, expected, booked, where,
                             f"FX entries in {reporting}"))
    return out


def _journalled(row: Mapping[str, Any]) -> bool:
    """Whether the journal books this roll-forward row: with evidence and no negative issued or used."""
    return bool(row.get("evidence", False)) and _int(row["issued"]) >= 0 and _int(row["used"]) >= 0


def gl_checks(tieout: pd.DataFrame | None) -> list[Check]:
    """The GL tie-out's lines as checks: the sub-ledger against GL balance + reconciling items (the
    difference as the tie-out shows it: sub-ledger - GL - items)."""
    if tieout is None or tieout.empty:
        return []
    return [Check("GL tie-out", str(r["currency_code"]), _int(r["gl_balance"]) + _int(r["reconciling_items"]),
                  _int(r["subledger"]), "GL tie-out (under the sign-off, and its sheet)",
                  f"{r['currency_code']} on {r['account']}")
            for r in tieout.to_dict("records")]


def checks_json(checks: Iterable[Check]) -> list[dict[str, Any]]:
    """The checks as the report manifest records them (``checks``)."""
    return [c.as_json() for c in checks]


def check_failures(checks: Sequence[Mapping[str, Any]]) -> list[str]:
    """One reason per failed check (from the manifest's ``checks``), with the difference and where to look."""
    from credit_reports.core.money import format_money

    reasons = []
    for c in checks:
        if not isinstance(c, Mapping) or c.get("passed") is not False:
            continue
        code = str(c.get("currency") or "")
        try:
            difference = format_money(int(c.get("difference") or 0), code)
        except Exception:  # a hand-edited manifest: the number as it stands
            difference = str(c.get("difference"))
        subject = str(c.get("subject") or code)
        reasons.append(f"{c.get('check')} check off by {difference} ({subject}): see {c.get('where')}")
    return reasons


def status_text(reasons: Sequence[str]) -> str:
    """The status with every reason, for one cell or one line: ``Attention: a; b`` or ``Ready to sign``."""
    return READY if not reasons else f"{ATTENTION}: " + "; ".join(reasons)


def status_line(reasons: Sequence[str]) -> str:
    """The pack's status in one line: ``Ready to sign`` or ``Attention: <n> reasons``."""
    if not reasons:
        return READY
    return f"{ATTENTION}: {len(reasons)} reason{'s' if len(reasons) != 1 else ''}"


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
