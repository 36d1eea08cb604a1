"""The display tables of a report: every ``*_table()`` the notebook shows, and the notes at its top.

:class:`ReportTables` is the half of :class:`credit_reports.report.preparation.Report` that turns its minor-unit frames
into display tables (amounts formatted in their own currency, numbers right-aligned, text escaped) and
writes the banner and the red unexplained-difference note. It computes no figures: they come from
:mod:`credit_reports.figures.metrics`, :mod:`credit_reports.ledger.reconcile` and
:mod:`credit_reports.ledger.ageing` through :func:`credit_reports.report.preparation.prepare`.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from credit_reports.core import money, timestamps
from credit_reports.figures import periods
from credit_reports.ledger import ageing as ageing_mod
from credit_reports.report import history_notes

__all__ = [
    "BANNER_STYLE", "DIFFERENCE_CUSTOMERS_IN_NOTE", "NO_EVIDENCE", "RESERVED_ROWS_SHOWN", "ReportTables",
    "accounting", "customer_count", "local_time",
]

#: At most this many customers behind an unexplained difference are named in the red note at the top.
DIFFERENCE_CUSTOMERS_IN_NOTE = 5
#: At most this many rows per currency in the reserved-credit table shown (the raw table keeps all).
RESERVED_ROWS_SHOWN = 15
#: The style of the red banner and note at the top of a report.
BANNER_STYLE = (
    "background:#b00020;color:#ffffff;padding:14px 18px;border-radius:4px;font-size:1.05em;"
    "font-weight:600;margin:8px 0 16px 0"
)

#: How a roll-forward without event evidence is labelled, in the notes and the reconciliation table.
NO_EVIDENCE = "derived from balances, no evidence"


class ReportTables:
    """The display half of :class:`~credit_reports.report.preparation.Report` (a mixin: it holds no data of its own)."""

    def header(self) -> Any:
        """The top of the report: for an incomplete snapshot the red banner, then the report's one heading,
        the ``title`` parameter (the notebook has no heading of its own)."""
        from IPython.display import HTML

        parts = []
        banner = self.banner_text()
        if banner:
            parts.append(f'<div class="credit-report-banner" role="alert" style="{BANNER_STYLE}">{banner}</div>')
        unexplained = self.unexplained_text()
        if unexplained:
            parts.append(f'<div class="credit-report-unexplained" role="alert" style="{BANNER_STYLE}">'
                         f'{html.escape(unexplained)}</div>')
        parts.append(f'<h1 class="credit-report-title">{html.escape(self.parameters.title)}</h1>')
        return HTML("\n".join(parts))

    def banner_text(self) -> str:
        """The incomplete-snapshot warning in plain words; empty for a complete snapshot."""
        if self.complete:
            return ""
        n = self.failed_customers
        who = f"{n:,} customer{'s' if n != 1 else ''}" if n else "some customers"
        return (
            f"This report is incomplete: the balances of {who} could not be fetched, so the totals below "
            "understate customer credit. Run the fetch again to complete the snapshot, then re-render."
        )

    def unexplained_text(self) -> str:
        """The red note at the top when the roll-forward does not reconcile (empty when it does, or when
        there is no evidence to reconcile with): what differs, and the customers behind it, largest first."""
        rec = self.reconciliation
        if rec is None or not rec.evidence or rec.reconciled:
            return ""
        parts = []
        for r in rec.table.to_dict("records"):
            code = str(r["currency_code"])
            bits = [f"{label} {money.format_money(int(r[col]), code)}" for col, label in (
                ("unexplained", "unexplained difference"), ("used_difference", "used check off by"),
                ("reserved_difference", "reserved check off by")) if int(r[col])]
            if bits:
                parts.append(f"{code}: {', '.join(bits)}")
        customers = self.redacted(rec.customers)
        named = [
            f"{c['customer_id']} ({money.format_money(int(c['unexplained']), str(c['currency_code']))})"
            for c in customers.head(DIFFERENCE_CUSTOMERS_IN_NOTE).to_dict("records")
        ]
        more = len(customers) - len(named)
        who = ", ".join(named) + (f" and {more:,} more" if more > 0 else "")
        return (
            "The roll-forward does not reconcile: " + "; ".join(parts) + ". "
            f"Customers behind it, largest first: {who}. The Roll-forward section lists them with their movements."
        )

    def note(self, section: str) -> Any:
        """A sentence of context for a section (e.g. merged cohorts, no earlier snapshot), as Markdown."""
        from IPython.display import Markdown

        return Markdown(self.notes.get(section, ""))

    def summary_table(self) -> Any:
        """The snapshot: as-of, environment, customers covered, completeness, comparison point."""
        snap = self.snapshot
        manifest = snap.manifest or {}
        n_failed = self.failed_customers
        rows = [
            ("As of", timestamps.display(snap.as_of)),
            ("Environment", str(snap.environment)),
            ("Customers covered", f"{customer_count(snap):,}"),
            ("Customers with a balance", f"{self.balances['customer_id'].nunique():,}"),
            ("Currencies", ", ".join(self.totals["currency_code"]) or "none"),
            ("Complete", "yes" if self.complete else f"NO: {n_failed:,} customers failed" if n_failed else "NO"),
            ("Compared with",
             timestamps.display(self.opening.as_of) if self.opening is not None else "no earlier snapshot"),
            ("Snapshots stored up to this one", f"{self.snapshots_in_history:,}"),
        ]
        strategy = manifest.get("strategy")
        if strategy:
            rows.append(("Fetch strategy", str(strategy)))
        history = history_notes.stored_summary(snap)
        if history is not None:
            rows.append(("History from day one", history_notes.summary_line(history)))
        rows.extend(self.period_rows())
        frame = pd.DataFrame(rows, columns=["Snapshot", ""])
        return style_table(frame, right=[])

    def totals_table(self) -> Any:
        """Per currency: available, reserved, used, outstanding and customers holding credit."""
        t = self.totals
        frame = pd.DataFrame(
            {
                "Currency": t["currency_code"],
                "Available": _fmt(t, "available"),
                "Reserved": _fmt(t, "reserved"),
                "Used": _fmt(t, "used"),
                "Outstanding (available + reserved)": _fmt(t, "outstanding"),
                "Customers holding credit": t["customers_with_credit"].map("{:,}".format),
            }
        )
        return style_table(frame, right=list(frame.columns[1:]))

    def cohort_table(self) -> Any:
        """Per currency and cohort: cohort size, its customers holding that currency (any balance, and
        outstanding credit) and the balance kinds, amounts in the currency."""
        c = self.cohorts
        if c.empty:
            return style_table(pd.DataFrame({"": ["No cohorts: the snapshot holds no balances."]}), right=[])
        frame = pd.DataFrame(
            {
                "Currency": c["currency_code"],
                "Cohort": c["cohort"].astype(str),
                "Customers in cohort": c["customers"].map("{:,}".format),
                "With a balance in this currency": c["customers_with_balance"].map("{:,}".format),
                "With credit in this currency": c["customers_with_credit"].map("{:,}".format),
                "Available": _fmt(c, "available"),
                "Reserved": _fmt(c, "reserved"),
                "Used": _fmt(c, "used"),
                "Outstanding": _fmt(c, "outstanding"),
            }
        )
        return style_table(frame, right=list(frame.columns[2:]))

    def period_rows(self) -> list[tuple[str, str]]:
        """The period, its opening and closing snapshots with their distance from the boundaries, and
        whether the roll-forward rests on event evidence (rows for :meth:`summary_table`)."""
        rows: list[tuple[str, str]] = []
        per = self.period
        if per is not None:
            zone = per.timezone
            rows.append(("Period", f"{per.label} ({zone}): {local_time(per.start)} to {local_time(per.end)}"))
            if self.opening is not None:
                rows.append(("Opening snapshot", f"{timestamps.display(self.opening.as_of)}, "
                             + periods.describe_distance(self.opening.as_of, per.start, "the period start")))
            rows.append(("Closing snapshot", f"{timestamps.display(self.snapshot.as_of)}, "
                         + periods.describe_distance(self.snapshot.as_of, per.end, "the period end")))
        if self.reconciliation is not None:
            label = "Paddle events for every snapshot window" if self.evidence else NO_EVIDENCE
            snaps = [s for s in (self.opening, self.snapshot) if s is not None]
            if not all(periods.point_in_time(s) for s in snaps):
                label = f"{periods.NOT_POINT_IN_TIME}: {label} (the key cannot read events)"
            rows.append(("Roll-forward evidence", label))
        return rows

    def roll_forward_table(self) -> Any:
        """The reconciliation (:meth:`reconciliation_table`) when the period has event evidence; otherwise
        opening outstanding + issued - used = closing outstanding per currency, derived from balances."""
        r = self.roll_forward
        if r is None:
            return style_table(pd.DataFrame({"": [self.notes.get("roll_forward", "No roll-forward.")]}), right=[])
        if self.evidence:
            return self.reconciliation_table()
        frame = pd.DataFrame(
            {
                "Currency": r["currency_code"],
                f"Opening outstanding ({timestamps.display(self.opening.as_of)})": _fmt(r, "opening"),
                "+ Issued": _fmt(r, "issued"),
                "- Used": _fmt(r, "used"),
                f"= Closing outstanding ({timestamps.display(self.snapshot.as_of)})": _fmt(r, "closing"),
            }
        )
        return style_table(frame, right=list(frame.columns[1:]))

    def _reconciliation_lines(self) -> list[tuple[str, str, str | None, str]]:
        """(label, column, count column, the sentence saying what the line is) of each reconciliation line."""
        opened = timestamps.display(self.opening.as_of) if self.opening is not None else "opening"
        return [
            (f"Opening outstanding ({opened})", "opening", None,
             "What customers held in credit at the opening snapshot (available + reserved), as Paddle reported."),
            ("+ Issued", "issued", "issued_count",
             "Credit granted in the period, each from a Paddle event: proration credit on completed subscription "
             "changes (credit_to_balance) and approved legacy credit adjustments."),
            ("- Reversed", "reversed", "reversed_count",
             "Credit taken back by approved credit_reverse adjustments."),
            ("- Used", "used", "used_count",
             "Credit spent: the credit applied to transactions that completed in the period."),
            ("= Expected closing outstanding", "expected_closing", None,
             "What customers should hold if these movements are all that happened."),
            (f"Actual closing outstanding ({timestamps.display(self.snapshot.as_of)})", "closing", None,
             "What Paddle reports customers hold at the closing snapshot."),
            ("Unexplained difference", "unexplained", None,
             "Actual minus expected. Zero means every change in the balances is backed by a movement with its "
             "Paddle id; anything else is listed customer by customer below."),
        ]

    def reconciliation_table(self) -> Any:
        """The reconciling roll-forward, one line per row and one column per currency (each line's sentence
        is in :meth:`reconciliation_lines_table`, so eight currencies still fit a laptop screen)."""
        t = self.reconciliation.table if self.reconciliation is not None else None
        if t is None or t.empty:
            return style_table(pd.DataFrame({"": [self.notes.get("roll_forward", "No roll-forward.")]}), right=[])
        lines = self._reconciliation_lines()
        labels: list[str] = []
        for label, _col, count, _text in lines:  # each count on its own line: an amount cell holds the amount alone
            labels.append(label)
            if count is not None:
                labels.append(f"{label.lstrip('+- ')}: movements")
        data: dict[str, list[str]] = {"Line": labels}
        for row in t.to_dict("records"):
            code = str(row["currency_code"])
            cells = []
            for _label, col, count, _text in lines:
                cells.append(accounting(int(row[col]), code))
                if count is not None:
                    cells.append(f"{int(row[count]):,}")
            data[code] = cells
        frame = pd.DataFrame(data)
        return style_table(frame, right=[c for c in frame.columns if c != "Line"])

    def reconciliation_lines_table(self) -> Any:
        """What each line of the reconciliation means, in a sentence a finance reader understands."""
        lines = self._reconciliation_lines()
        frame = pd.DataFrame({"Line": [line[0] for line in lines], "What the line means": [line[3] for line in lines]})
        return style_table(frame, right=[]).set_table_styles(
            [{"selector": "td.col1", "props": "white-space:normal;min-width:22em;max-width:48em;"}], overwrite=False)

    def checks_table(self) -> Any:
        """The two checks beside the roll-forward: used and reserved, each against the movements."""
        rec = self.reconciliation
        if rec is None or rec.table.empty or not rec.evidence:
            return style_table(pd.DataFrame({"": [f"No checks: the roll-forward is {NO_EVIDENCE}."]}), right=[])
        t = rec.table
        frame = pd.DataFrame(
            {
                "Currency": t["currency_code"],
                "Change in used (balances)": _fmt(t, "used_change"),
                "Used movements": _fmt(t, "used"),
                "Used: difference": _accounting(t, "used_difference"),
                "Reserved (balances)": _fmt(t, "reserved"),
                "Reserved on invoices still open": _fmt(t, "reserved_expected"),
                "Reserved: difference": _accounting(t, "reserved_difference"),
            }
        )
        return style_table(frame, right=list(frame.columns[1:]))

    def unexplained_customers_table(self) -> Any:
        """Customers behind a difference, largest first: opening, movements, expected, actual, difference."""
        rec = self.reconciliation
        if rec is None or rec.customers.empty:
            return style_table(pd.DataFrame({"": ["No customer has a difference."]}), right=[])
        c = self.redacted(rec.customers)
        frame = pd.DataFrame(
            {
                "Currency": c["currency_code"],
                "Customer": c["customer_id"],
                **_pii_columns(c),
                "Opening outstanding": _fmt(c, "opening"),
                "+ Issued": _fmt(c, "issued"),
                "- Reversed": _fmt(c, "reversed"),
                "- Used": _fmt(c, "used"),
                "Movements": c["movements"].map("{:,}".format),
                "= Expected": _fmt(c, "expected_closing"),
                "Actual": _fmt(c, "closing"),
                "Unexplained": _fmt(c, "unexplained"),
                "Used check": _fmt(c, "used_difference"),
                "Reserved check": _fmt(c, "reserved_difference"),
            }
        )
        return style_table(frame, right=[col for col in frame.columns if col not in ("Currency", "Customer", "Email",
                                                                                 "Name")])

    def unexplained_movements_table(self) -> Any:
        """The movements of the customers behind a difference, with the Paddle ids that prove each."""
        rec = self.reconciliation
        if rec is None or rec.movements.empty:
            return style_table(pd.DataFrame({"": ["No movements behind a difference."]}), right=[])
        m = self.redacted(rec.movements)
        frame = pd.DataFrame(
            {
                "Currency": m["currency_code"],
                "Customer": m["customer_id"],
                "When": m["occurred_at"].map(timestamps.display),
                "Movement": m["kind"],
                "Amount": _fmt(m, "amount"),
                "Source": m["source"],
                "Event": m["event_id"],
                "Transaction": m["transaction_id"],
                "Adjustment": m["adjustment_id"],
            }
        )
        return style_table(frame, right=["Amount"])

    def issued_by_source_table(self) -> Any:
        """Issued credit per currency and where it came from (from the period's movements)."""
        t = self.issued_by_source
        if t is None or t.empty:
            return style_table(pd.DataFrame({"": [self.notes.get("issued_by_source", "No credit was issued.")]}),
                          right=[])
        frame = pd.DataFrame(
            {
                "Currency": t["currency_code"],
                "Source": t["label"],
                "Movements": t["count"].map("{:,}".format),
                "Issued": _fmt(t, "amount"),
            }
        )
        return style_table(frame, right=["Movements", "Issued"])

    def ageing_table(self) -> Any:
        """Available credit per currency by age, first in first out; the buckets add up to available."""
        if self.ageing is None or self.ageing.empty:
            return style_table(pd.DataFrame({"": ["No available credit to age."]}), right=[])
        wide = ageing_mod.ageing_table(self.ageing)
        data = {"Currency": wide["currency_code"]}
        for col in wide.columns[1:]:
            data["Available" if col == "available" else str(col)] = _fmt(wide, col)
        frame = pd.DataFrame(data)
        return style_table(frame, right=list(frame.columns[1:]))

    def concentration_table(self) -> Any:
        """The largest holders of available credit per currency, with their share of it."""
        c = self.redacted(self.concentration)
        frame = pd.DataFrame(
            {
                "Currency": c["currency_code"],
                "Rank": c["rank"],
                "Customer": c["customer_id"],
                **_pii_columns(c),
                "Available": _fmt(c, "available"),
                "Share of currency": c["share"].map("{:.1%}".format),
                "Cumulative share": c["cumulative_share"].map("{:.1%}".format),
            }
        )
        return style_table(frame, right=["Rank", "Available", "Share of currency", "Cumulative share"])

    def top_share_table(self) -> Any:
        """Share of each currency's available credit held by the top 1% and top 10% of holders."""
        t = self.top_share
        frame = pd.DataFrame(
            {
                "Currency": t["currency_code"],
                "Holders": t["holders"].map("{:,}".format),
                "Available": _fmt(t, "available"),
                "Top 1%: holders": t["top_1pct_holders"].map("{:,}".format),
                "Top 1%: available": _fmt(t, "top_1pct_available"),
                "Top 1%: share": t["top_1pct_share"].map("{:.1%}".format),
                "Top 10%: holders": t["top_10pct_holders"].map("{:,}".format),
                "Top 10%: available": _fmt(t, "top_10pct_available"),
                "Top 10%: share": t["top_10pct_share"].map("{:.1%}".format),
            }
        )
        return style_table(frame, right=list(frame.columns[1:]))

    def reserved_table(self) -> Any:
        """Customers with reserved credit (tied to issued, unpaid invoices), largest first per currency."""
        r = self.redacted(self.reserved).groupby("currency_code", sort=False).head(RESERVED_ROWS_SHOWN)
        frame = pd.DataFrame(
            {
                "Currency": r["currency_code"],
                "Customer": r["customer_id"],
                **_pii_columns(r),
                "Reserved": _fmt(r, "reserved"),
                "Available": _fmt(r, "available"),
                "Used": _fmt(r, "used"),
            }
        )
        return style_table(frame, right=["Reserved", "Available", "Used"])

    def reserved_summary_table(self) -> Any:
        """Per currency: how many customers have reserved credit and how much (figures from metrics)."""
        t = self.totals
        counts = self.reserved_counts
        frame = pd.DataFrame(
            {
                "Currency": t["currency_code"],
                "Customers with reserved credit": t["currency_code"].map(counts).fillna(0).astype("int64")
                .map("{:,}".format),
                "Reserved": _fmt(t, "reserved"),
            }
        )
        return style_table(frame, right=list(frame.columns[1:]))

    def converted_table(self) -> Any:
        """Totals converted into the reporting currency, with rate, date and source on every row."""
        c = self.converted
        if c is None:
            return style_table(pd.DataFrame({"": ["No conversion: no rates file was given."]}), right=[])
        rep = self.parameters.reporting_currency
        is_total = c["currency_code"] == "TOTAL"

        def own(col: str) -> pd.Series:
            return pd.Series(
                ["" if t else money.format_money(int(v), code)
                 for v, code, t in zip(c[col], c["currency_code"], is_total, strict=True)],
                index=c.index,
            )

        frame = pd.DataFrame(
            {
                "Currency": c["currency_code"].where(~is_total, f"Total in {rep}"),
                "Outstanding": own("outstanding"),
                "Rate": [("" if t else f"1 {code} = {r} {rep}")
                         for r, code, t in zip(c["rate"], c["currency_code"], is_total, strict=True)],
                "Rate date": c["rate_date"].fillna("").astype(str),
                "Rate source": c["rate_source"].fillna("").astype(str),
                f"Available in {rep}": money.format_money_series(c["available_converted"], rep),
                f"Reserved in {rep}": money.format_money_series(c["reserved_converted"], rep),
                f"Used in {rep}": money.format_money_series(c["used_converted"], rep),
                f"Outstanding in {rep}": money.format_money_series(c["outstanding_converted"], rep),
            }
        )
        return style_table(frame, right=["Outstanding", *[c for c in frame.columns if c.endswith(f"in {rep}")]])


# ---------------------------------------------------------------------------------------------------
# helpers


def customer_count(snap: Any) -> int:
    customers = getattr(snap, "customers", None)
    if customers is not None and "customer_id" in customers:
        return int(customers["customer_id"].nunique())
    return int(snap.balances["customer_id"].nunique())


def local_time(ts: pd.Timestamp) -> str:
    """A period boundary in its own time zone: 01 Nov 2026, 00:00."""
    return ts.strftime("%d %b %Y, %H:%M")


def _fmt(frame: pd.DataFrame, column: str) -> pd.Series:
    return money.format_money_series(frame[column], frame["currency_code"])


def accounting(amount: int, code: str) -> str:
    """An amount as finance reads it in a statement: a negative in parentheses, ``(A$1,205.44)``."""
    return f"({money.format_money(-amount, code)})" if amount < 0 else money.format_money(amount, code)


def _accounting(frame: pd.DataFrame, column: str) -> list[str]:
    """A column of :func:`accounting` amounts, each in its row's currency."""
    return [accounting(int(v), str(c)) for v, c in zip(frame[column], frame["currency_code"], strict=True)]


def _pii_columns(frame: pd.DataFrame) -> dict[str, pd.Series]:
    return {label: frame[col] for col, label in (("email", "Email"), ("name", "Name")) if col in frame}


def style_table(frame: pd.DataFrame, right: list[str]) -> Any:
    """A Styler without the index, numbers right-aligned, escaped text."""
    styler = frame.style.hide(axis="index").format(escape="html")
    styler = styler.set_table_attributes('class="credit-table"')
    styles = [
        {"selector": "th", "props": "text-align:left;padding:4px 10px;border-bottom:1px solid #888;"},
        {"selector": "td", "props": "text-align:left;padding:3px 10px;white-space:nowrap;"},
    ]
    for i, column in enumerate(frame.columns):
        if column in right:  # one rule per column keeps the HTML small (no per-cell CSS)
            styles.append({"selector": f"td.col{i}", "props": "text-align:right;"})
            styles.append({"selector": f"th.col_heading.col{i}", "props": "text-align:right;"})
    return styler.set_table_styles(styles)


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
