"""The close pack's own display tables: the headline against the prior period, lifetime used apart from the
liability, the month-end trend table, the translated roll-forward, and the appendix's collapsed tables.

:class:`ClosePackTables` is mixed into :class:`credit_reports.report.preparation.Report`: each method reads the
prepared report's frames (int64 minor units, one currency per row) and returns a pandas Styler (or HTML)
for the notebook to display. No figure is computed here that :mod:`credit_reports.figures.metrics`,
:mod:`credit_reports.ledger.reconcile` or :mod:`credit_reports.figures.translation` did not compute; this module
only lays them side by side and formats them in their own currency.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from credit_reports.core import money
from credit_reports.core.timestamps import parse as _as_of_key
from credit_reports.report.tables import accounting, style_table

__all__ = ["ClosePackTables"]


def _day(as_of: Any, timezone: str) -> str:
    """An as-of as the day it closes, in the report's time zone: ``30 Nov 2026``."""
    return _as_of_key(as_of).tz_convert(timezone).strftime("%d %b %Y")


def _styled(frame: pd.DataFrame, right: list[str]) -> Any:
    return style_table(frame, right=right)  # one look for every table of the report


def _money(amount: Any, code: str) -> str:
    """A statement amount (negatives in parentheses), empty when there is none."""
    if amount is None or pd.isna(amount):
        return ""
    return accounting(int(amount), code)


class ClosePackTables:
    """Display tables of the close pack (mixed into ``Report``; uses its frames and parameters)."""

    def _days(self) -> tuple[str, str | None]:
        zone = self.parameters.timezone
        closing = _day(self.snapshot.as_of, zone)
        opening = _day(self.opening.as_of, zone) if self.opening is not None else None
        if opening == closing:  # two snapshots of one day: the time tells them apart
            stamp = "%d %b %Y %H:%M:%S"
            closing = _as_of_key(self.snapshot.as_of).tz_convert(zone).strftime(stamp)
            opening = _as_of_key(self.opening.as_of).tz_convert(zone).strftime(stamp)
        return closing, opening

    def headline_table(self) -> Any:
        """Per currency: outstanding credit (the liability) at this period's end beside the prior period's
        end, the change, and what it is made of (available + reserved); lifetime used is not here."""
        t = self.totals
        closing, opening = self._days()
        prior = self.prior_totals
        prior_by = ({str(r["currency_code"]): r for r in prior.to_dict("records")} if prior is not None else {})
        codes = [str(c) for c in t["currency_code"]]
        data: dict[str, list[str]] = {"Currency": codes,
                                      f"Outstanding at {closing}": _fmt_col(t, "outstanding")}
        if opening is not None:
            before = [int(prior_by.get(c, {}).get("outstanding", 0)) for c in codes]
            data[f"Prior period, at {opening}"] = [money.format_money(v, c) for v, c in zip(before, codes, strict=True)]
            data["Change"] = [accounting(int(now) - b, c) for now, b, c in
                              zip(t["outstanding"], before, codes, strict=True)]
        data["of which available"] = _fmt_col(t, "available")
        data["of which reserved"] = _fmt_col(t, "reserved")
        data["Customers holding credit"] = [f"{int(v):,}" for v in t["customers_with_credit"]]
        frame = pd.DataFrame(data)
        return _styled(frame, right=list(frame.columns[1:]))

    def maturity_table(self) -> Any:
        """Per currency: the closing outstanding split into current (expected to be used within twelve months,
        P50, with its P10-P90) and non-current, and the dormant part of non-current (docs/credit-rules.md,
        Maturity); in the reporting currency too with a rates file. None when the split was not estimated."""
        if getattr(self, "maturity", None) is None:
            return None
        from credit_reports.report.maturity_report import split_table

        t = split_table(self.maturity.block)
        codes = [str(c) for c in t["currency_code"]]
        label = [c if s == "in its own currency" else f"{c} (reporting)" for c, s in zip(codes, t["stated"],
                                                                                         strict=True)]
        frame = pd.DataFrame({
            "Currency": label,
            "Outstanding": _fmt_col(t, "outstanding"),
            "Current (P50)": _fmt_col(t, "current"),
            "Current, P10 to P90": [f"{money.format_money(int(lo), c)} to {money.format_money(int(hi), c)}"
                                    for lo, hi, c in zip(t["current_p10"], t["current_p90"], codes, strict=True)],
            "Non-current": _fmt_col(t, "non_current"),
            "of which dormant": _fmt_col(t, "dormant"),
        })
        return _styled(frame, right=list(frame.columns[1:]))

    def used_to_date_table(self) -> Any:
        """Per currency: credit used since the account began (lifetime, not a liability), at both ends."""
        t = self.totals
        closing, opening = self._days()
        codes = [str(c) for c in t["currency_code"]]
        data: dict[str, list[str]] = {"Currency": codes, f"Used to date, at {closing}": _fmt_col(t, "used")}
        if self.prior_totals is not None and opening is not None:
            prior_by = {str(r["currency_code"]): int(r["used"]) for r in self.prior_totals.to_dict("records")}
            data[f"Used to date, at {opening}"] = [money.format_money(prior_by.get(c, 0), c) for c in codes]
        frame = pd.DataFrame(data)
        return _styled(frame, right=list(frame.columns[1:]))

    def trend_table(self) -> Any:
        """Outstanding credit at each point of the trend (each month's end by default), one column per
        currency: the figures behind the trend chart."""
        t = self.trend
        if t is None or t.empty:
            return _styled(pd.DataFrame({"": ["No trend yet."]}), right=[])
        zone = self.parameters.timezone
        wide = t.pivot(index="as_of", columns="currency_code", values="outstanding").sort_index()
        label = "Month end" if self.parameters.trend == "month-end" else "Snapshot"
        data: dict[str, list[str]] = {label: [_day(stamp, zone) for stamp in wide.index]}
        for code in wide.columns:
            data[f"{code} outstanding"] = ["" if pd.isna(v) else money.format_money(int(v), str(code))
                                           for v in wide[code]]
        frame = pd.DataFrame(data)
        return _styled(frame, right=list(frame.columns[1:]))

    def translation_table(self) -> Any:
        """The roll-forward in the reporting currency: one line per row, one column per currency and a total,
        then the rate of each line with its date and source."""
        from IPython.display import HTML

        from credit_reports.figures.translation import TRANSLATION_LINES

        t = self.translation
        if t is None or t.empty:  # the note above says why (or that no rates file was given)
            return HTML("")
        rep = str(t["reporting_currency"].iloc[0])
        data: dict[str, list[str]] = {"Line": [label for _col, label in TRANSLATION_LINES]}
        for row in t.to_dict("records"):
            code = str(row["currency_code"])
            head = f"Total in {rep}" if code == "TOTAL" else f"{code} in {rep}"
            data[head] = [_money(row[f"{col}_converted"], rep) for col, _label in TRANSLATION_LINES]
        frame = pd.DataFrame(data)
        return _styled(frame, right=[c for c in frame.columns if c != "Line"])

    def translation_rates_table(self) -> Any:
        """The rates behind the translation, per currency: opening, movement and closing rate with their
        dates, and the source of each."""
        from IPython.display import HTML

        t = self.translation
        if t is None or t.empty:
            return HTML("")
        rows = [r for r in t.to_dict("records") if str(r["currency_code"]) != "TOTAL"]
        rep = str(t["reporting_currency"].iloc[0])
        data: dict[str, list[str]] = {"Currency": [str(r["currency_code"]) for r in rows]}
        for label, prefix in (("Opening rate", "opening"), ("Movement rate", "movement"), ("Closing rate", "closing")):
            data[f"{label} (in {rep})"] = [_rate_text(r, prefix) for r in rows]
        kinds = ("opening", "movement", "closing")
        data["Source"] = [" / ".join(dict.fromkeys(str(r[f"{k}_rate_source"]) for k in kinds
                                                   if r.get(f"{k}_rate_source"))) for r in rows]
        frame = pd.DataFrame(data)
        return _styled(frame, right=[c for c in frame.columns if "rate" in c])

    def appendix(self, summary: str, table: Any) -> Any:
        """A long table collapsed under its title (``<details>``); the PDF prints it open."""
        from IPython.display import HTML

        body = table.to_html() if hasattr(table, "to_html") else str(table)
        return HTML(f'<details class="credit-appendix"><summary>{html.escape(summary)}</summary>\n{body}\n'
                    "</details>")


def _fmt_col(frame: pd.DataFrame, column: str) -> list[str]:
    return [money.format_money(int(v), str(c)) for v, c in zip(frame[column], frame["currency_code"], strict=True)]


def _rate_text(row: dict, prefix: str) -> str:
    """``0.92455 (2026-11-30)``; ``1`` for the reporting currency; "per movement" for spot movement rates."""
    rate = row.get(f"{prefix}_rate")
    if rate is None or (not isinstance(rate, str) and pd.isna(rate)):
        return "each movement's day"
    date = row.get(f"{prefix}_rate_date")
    if not isinstance(date, str) or not date:
        return f"{rate}"
    return f"{rate} ({pd.Timestamp(date):%d %b %Y})"  # words, so a narrow column breaks between them
