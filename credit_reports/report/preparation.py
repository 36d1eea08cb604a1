"""Everything the credit-balances notebook shows, prepared in one call: ``prepare(**parameters)``.

The notebook stays thin: its parameters cell holds literals, its validation cell calls :func:`prepare`,
and every later cell displays a table or a figure this module (or :mod:`credit_reports.figures.charts`) returns.
All figures come from :mod:`credit_reports.figures.metrics` and :mod:`credit_reports.figures.cohorts`; this module picks
the snapshots, validates the parameters (one :class:`~credit_reports.core.errors.UsageError` line each),
applies the privacy settings and turns minor-unit frames into display tables with amounts formatted in
their own currency. The raw minor-unit frames stay on the :class:`Report` for exports
(:meth:`Report.tables`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pandas as pd

from credit_reports.core import timestamps
from credit_reports.core.errors import MissingRateError, UsageError
from credit_reports.figures import cohorts as cohorts_mod
from credit_reports.figures import metrics, periods, privacy
from credit_reports.figures import translation as translation_mod
from credit_reports.ledger import ageing as ageing_mod
from credit_reports.ledger.movements import period_movements, union_adjustments, union_movements
from credit_reports.ledger.reconcile import Reconciliation, reconcile
from credit_reports.report import history_notes
from credit_reports.report import maturity_report as maturity_mod
from credit_reports.report import parameters as report_parameters
from credit_reports.report.close_tables import ClosePackTables
from credit_reports.report.parameters import (
    COHORT_RULES,
    Parameters,
    parameter_names,
    resolve_data_dir,
    validate_parameters,
)
from credit_reports.report.selection import period_closing, resolve
from credit_reports.report.tables import NO_EVIDENCE, RESERVED_ROWS_SHOWN, ReportTables
from credit_reports.store import reader as store

__all__ = [
    "COHORT_RULES", "Parameters", "Report", "parameter_names", "period_closing", "prepare", "resolve_data_dir",
    "validate_parameters",
]




# ---------------------------------------------------------------------------------------------------
# the report


@dataclass
class Report(ReportTables, ClosePackTables):
    """What the report shows. Raw frames hold int64 minor units; ``*_table()`` give display tables."""

    parameters: Parameters
    snapshot: Any  # store.Snapshot
    opening: Any | None  # store.Snapshot the roll-forward starts from, or None
    balances: pd.DataFrame  # the reported snapshot's balances, filtered to the chosen currencies
    totals: pd.DataFrame
    cohorts: pd.DataFrame
    merged_cohorts: list[dict]
    heatmap: Any  # cohorts.CohortHeatmap: available (int64), shares (0-1 per currency), sizes
    roll_forward: pd.DataFrame | None
    trend: pd.DataFrame
    snapshots_in_history: int  # usable stored snapshots up to and including this one (empty ones too)
    concentration: pd.DataFrame
    top_share: pd.DataFrame
    reserved: pd.DataFrame
    converted: pd.DataFrame | None
    rates: pd.DataFrame | None
    notes: dict[str, str] = field(default_factory=dict)
    reconciliation: Reconciliation | None = None
    period: periods.Period | None = None
    ageing: pd.DataFrame | None = None  # ageing.ageing: currency, bucket, amount, customers
    issued_by_source: pd.DataFrame | None = None
    snapshots: list[Any] = field(default_factory=list)  # the environment's snapshot chain (store.chain)
    prior_totals: pd.DataFrame | None = None  # currency_totals of the opening snapshot (the prior period)
    translation: pd.DataFrame | None = None  # translation.translate: the roll-forward in the reporting currency
    #: customers whose transactions do not explain their balance (history_notes.untrusted_table), or None
    history_untrusted: pd.DataFrame | None = None
    #: why the figures are not those of the period's boundaries, or the period is open (report/selection.py):
    #: each is an Attention of the pack
    attention: list[str] = field(default_factory=list)
    #: when the closing outstanding will be used (report/maturity_report.py): the forecast, the manifest's
    #: ``maturity`` block and the backtest; None when no renewal plans were read with the snapshot
    maturity: Any | None = None

    @property
    def evidence(self) -> bool:
        """True when every snapshot window of the roll-forward had event evidence."""
        return self.reconciliation is not None and self.reconciliation.evidence

    def __repr__(self) -> str:
        """Short (the tables are on the attributes): snapshot, completeness, currencies, comparison."""
        snap = self.snapshot
        state = "complete" if self.complete else "INCOMPLETE"
        codes = ",".join(self.totals["currency_code"].astype(str)) if "currency_code" in self.totals else ""
        if len(codes) > 40:
            codes = f"{len(self.totals)} currencies"
        opening = getattr(self.opening, "name", None) or "none"
        return (f"Report({getattr(snap, 'environment', '?')}/{getattr(snap, 'name', '?')}, {state}, "
                f"currencies={codes or 'none'}, cohort={self.parameters.cohort}, compared_with={opening})")

    # -- facts -------------------------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        return bool(self.snapshot.complete)

    @property
    def failed_customers(self) -> int:
        """How many customers' balances the fetch could not get (0 for a complete snapshot)."""
        return len(getattr(self.snapshot, "failed_customer_ids", []) or [])

    def headline(self) -> dict[str, dict[str, int]]:
        """Per-currency headline figures in minor units (for a manifest)."""
        return metrics.headline(self.balances)

    def roll_forward_dict(self) -> dict[str, dict[str, Any]]:
        """Roll-forward per currency for the manifest: ``opening``, ``issued``, ``used``, ``closing``,
        ``reversed``, ``expected_closing``, ``unexplained`` and ``evidence`` (see
        :meth:`credit_reports.ledger.reconcile.Reconciliation.as_dict`; empty when there is no roll-forward)."""
        if self.reconciliation is None:
            return {}
        return self.reconciliation.as_dict()

    def tables(self) -> dict[str, pd.DataFrame]:
        """The raw tables (int64 minor units, a currency column each) for CSV/XLSX exports."""
        out = {
            "totals": self.totals,
            "cohorts": self.cohorts,
            "concentration": self.redacted(self.concentration),
            "top_share": self.top_share,
            "reserved": self.redacted(self.reserved),
            "trend": self.trend,
        }
        if self.roll_forward is not None:
            out["roll_forward"] = self.roll_forward
        if self.reconciliation is not None and not self.reconciliation.customers.empty:
            out["unexplained_customers"] = self.redacted(self.reconciliation.customers)
        if self.ageing is not None:
            out["ageing"] = self.ageing
        if self.issued_by_source is not None and not self.issued_by_source.empty:
            out["issued_by_source"] = self.issued_by_source
        if self.history_untrusted is not None:
            out["history_untrusted"] = self.redacted(self.history_untrusted)
        if self.converted is not None:
            out["converted"] = self.converted
        if self.maturity is not None:
            out["maturity"] = maturity_mod.split_table(self.maturity.block)
        if self.translation is not None:
            out["translation"] = self.translation
        out["customer_subledger"] = self.redacted(self.subledger())
        movements = self.period_movements()
        if movements is not None:
            out["movements"] = self.redacted(movements)
        return out

    def subledger(self) -> pd.DataFrame:
        """Every customer and currency with a non-zero balance (:func:`credit_reports.figures.metrics.subledger`):
        the sub-ledger finance ties to the general ledger."""
        return metrics.subledger(self.balances)

    @property
    def reserved_counts(self) -> dict[str, int]:
        """Customers with reserved credit per currency."""
        return metrics.reserved_counts(self.reserved)

    def period_movements(self) -> pd.DataFrame | None:
        """The period's credit movements (the snapshots after the opening up to this one, each movement
        once, :func:`credit_movements.period_movements`) in the reported currencies; without an opening, this
        snapshot's own window. None when none of those snapshots kept movements (older snapshots)."""
        closing = timestamps.parse(self.snapshot.as_of)
        if self.opening is None:
            chain, after = [self.snapshot], None
        else:
            opened = timestamps.parse(self.opening.as_of)
            chain = [s for s in self.snapshots
                     if opened < timestamps.parse(s.as_of) <= closing] or [self.snapshot]
            after = self.opening.as_of
        if not any(getattr(s, "has_movements", False) for s in chain):
            return None
        moves = period_movements(chain, after=after, until=self.snapshot.as_of)
        return _filter(moves, self.parameters.currencies)

    # -- privacy -----------------------------------------------------------------------------------

    def redacted(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A per-customer table as the privacy parameters allow: PII only with show_pii, hashed IDs
        with pseudonymize."""
        out = frame
        if self.parameters.show_pii:
            people = self.snapshot.customers[["customer_id", "email", "name"]].drop_duplicates("customer_id")
            out = out.merge(people, on="customer_id", how="left")
        return privacy.redact(out, pseudonymize=self.parameters.pseudonymize, show_pii=self.parameters.show_pii)


# ---------------------------------------------------------------------------------------------------
# helpers



# ---------------------------------------------------------------------------------------------------
# loading


def _filter(frame: pd.DataFrame, currencies: tuple[str, ...]) -> pd.DataFrame:
    if not currencies or frame is None:
        return frame
    return frame[frame["currency_code"].isin(currencies)].reset_index(drop=True)


def prepare(**parameters: Any) -> Report:
    """Validate the notebook's parameters, load the snapshot(s) and compute everything the report shows.

    Parameters (all keyword, the notebook's parameters cell; declared once in
    :class:`~credit_reports.report.parameters.Parameters`, which ``help()`` shows): ``data_dir`` (snapshot store; empty:
    ``$CREDIT_REPORTS_DATA_DIR`` or ``./data``), ``environment`` (empty: the store's newest),
    ``snapshot`` ("latest", an as-of or a month), ``compare_to`` ("previous", "none", an as-of, a date or a month),
    ``currencies`` (empty: all; ``[EUR, USD]``, ``["EUR", "USD"]`` or ``EUR,USD``), ``cohort``
    (a rule of :data:`COHORT_RULES` or ``custom_data.<key>``), ``cohort_file``, ``min_cohort_size``,
    ``rates_file`` and ``reporting_currency`` (conversion), ``pseudonymize``, ``show_pii``, ``title``,
    ``period`` (a close period: ``2026-11``, ``2026-Q4``, ``2026``, ``previous-month``, ``previous-quarter``),
    ``timezone`` (IANA name of period boundaries and month ends), ``trend`` ("month-end" or "snapshot") and
    ``rate_type`` (the translated roll-forward's movements at the period's "average" rate or each at its
    day's "spot" rate).

    Raises :class:`UsageError` with one line on any bad or unknown parameter, an unknown snapshot, a
    missing file, a currency without a rate or a cohort rule the data cannot serve.
    """
    p = Parameters.check(**parameters)
    chosen = resolve(p)  # the one resolver of which snapshots a report reads (report/selection.py)
    snap, opening, period, rf_note = chosen.closing, chosen.opening, chosen.period, chosen.note
    snapshots = chosen.chain  # listed once and handed to every step below
    notes: dict[str, str] = {}
    if chosen.attention:
        notes["boundaries"] = " ".join(f"Attention: {reason}." for reason in chosen.attention)

    balances = _filter(snap.balances, p.currencies)
    missing = [c for c in p.currencies if c not in set(snap.balances["currency_code"])]
    if missing:
        notes["currencies"] = (
            f"No customer holds a balance in {', '.join(missing)} in this snapshot, so "
            f"{'it does' if len(missing) == 1 else 'they do'} not appear below."
        )
    totals = metrics.currency_totals(balances)

    mapping = cohorts_mod.load_cohort_file(p.cohort_file) if p.cohort_file else None
    # only subscription cohorts read subscriptions.parquet (a lazy load: skip it for every other rule)
    subscriptions = getattr(snap, "subscriptions", None) if p.cohort.startswith("subscription.") else None
    if p.cohort.startswith("subscription.") and subscriptions is None:
        raise UsageError(
            f"cohort {p.cohort!r} needs subscriptions, but this snapshot has none; fetch a new snapshot"
        )
    assigned = cohorts_mod.assign_cohorts(snap.customers, p.cohort, subscriptions=subscriptions, mapping=mapping)
    cohort_totals = cohorts_mod.cohort_totals(balances, assigned, min_cohort_size=p.min_cohort_size)
    merged = list(cohort_totals.attrs.get("merged", []))
    heat = cohorts_mod.cohort_heatmap(balances, assigned, min_cohort_size=p.min_cohort_size)
    notes["cohorts"] = _cohort_note(p, merged)

    closing = timestamps.parse(snap.as_of)
    chain = [s for s in snapshots if timestamps.parse(s.as_of) <= closing] or [snap]
    rec, roll, period_moves = _roll_forward(p, opening, snap, chain, balances, notes, rf_note)

    history = _filter(_history_totals(chain, snap, opening), p.currencies)
    n_history = int(history["as_of"].nunique()) if len(history) else 1
    trend = metrics.trend_points(history, p.trend, p.timezone).reset_index(drop=True)
    points = int(trend["as_of"].nunique()) if len(trend) else 1
    if points <= 1:
        notes["trend"] = (
            "Only one snapshot exists so far, so each line is a single point." if n_history <= 1 else
            "All snapshots so far fall in one month, so the month-end view has a single point; "
            "set trend = \"snapshot\" to see every snapshot."
        )

    rebuilt_note = history_notes.reconstructed_note(chain)
    if rebuilt_note:
        notes["trend"] = f"{notes['trend']} {rebuilt_note}" if notes.get("trend") else rebuilt_note

    aged, by_source = _ageing_and_sources(p, snap, chain, balances, period_moves, rec, notes)

    reserved = metrics.reserved_customers(balances)
    if any(n > RESERVED_ROWS_SHOWN for n in metrics.reserved_counts(reserved).values()):
        notes["reserved"] = (
            f"Only the {RESERVED_ROWS_SHOWN} largest per currency are listed; the full list is in the "
            "reserved-credit export beside this report."
        )

    rates = converted = translated = None
    if p.rates_file is not None:
        rates, converted, translated = _convert(p, snap, opening, totals, rec, period_moves, notes)
    prior = metrics.currency_totals(_filter(opening.balances, p.currencies)) if opening is not None else None
    mature = _maturity(p, snap, chain, balances, rates, notes)

    return Report(
        parameters=p, snapshot=snap, opening=opening, balances=balances, totals=totals,
        cohorts=cohort_totals, merged_cohorts=merged, heatmap=heat,
        roll_forward=roll, trend=trend, snapshots_in_history=len(chain),
        concentration=metrics.concentration(balances, top=10), top_share=metrics.top_share(balances),
        reserved=reserved, converted=converted, rates=rates, notes=notes,
        reconciliation=rec, period=period, ageing=aged, issued_by_source=by_source, snapshots=snapshots,
        prior_totals=prior, translation=translated, history_untrusted=_untrusted(snap, p.currencies, snapshots),
        attention=[*chosen.attention, *(mature.attention if mature is not None else ())], maturity=mature,
    )


def _maturity(p: Parameters, snap: Any, chain: list[Any], balances: pd.DataFrame, rates: pd.DataFrame | None,
              notes: dict[str, str]) -> Any:
    """The maturity figures (current / non-current, the forecast and its backtest) when renewal plans were read
    with the closing snapshot; else None and one note saying the split was not estimated (not an Attention: the
    split is an estimate the pack adds, and its absence hides no figure). The reporting currency's figures use
    the closing rates."""
    if not getattr(snap, "has_renewal_plans", False):
        notes["maturity"] = ("The current / non-current split was not estimated: no renewal plans were read with "
                             "this snapshot (`credit-reports run` reads them; `credit-reports fetch --plans` too).")
        return None
    plans = _filter(snap.renewal_plans, p.currencies)
    earlier = {s.as_of: _filter(s.renewal_plans, p.currencies) for s in chain
               if s is not snap and getattr(s, "has_renewal_plans", False)}
    calls = (snap.manifest.get("renewal_plans") or {}).get("calls")
    closing = SimpleNamespace(as_of=snap.as_of, balances=balances)
    rate_map = None
    if rates is not None and p.reporting_currency:
        rate_map = {str(r.currency): Decimal(str(r.rate)) for r in rates.itertuples(index=False)}
    try:
        mature = maturity_mod.maturity_report(closing, plans, chain, plans_by_as_of=earlier, rates=rate_map,
                                              reporting_currency=p.reporting_currency, calls=calls)
    except MissingRateError as exc:
        mature = maturity_mod.maturity_report(closing, plans, chain, plans_by_as_of=earlier, calls=calls)
        notes["maturity_rates"] = f"The split is not converted to the reporting currency: {exc}."
    notes["maturity"] = _maturity_note(mature.block)
    notes["maturity_headline"] = (
        "**When it will be used.** Current: the part of the outstanding expected to be used within twelve months "
        "of the balance-sheet date (P50, with its P10 to P90 band); non-current: the rest, of which dormant is "
        "held by customers without an active subscription. See \"When the credit will be used\".")
    return mature


def _maturity_note(block: dict[str, Any]) -> str:
    """What the maturity figures rest on, in words (the figures are in the table and the journal notes): the
    plans' cost, the reporting currency's basis, what the backtest has scored, and the forecast's caveats."""
    plans = block.get("plans") or {}
    parts = [f"The forecast reads {plans.get('subscriptions', 0):,} subscriptions of the customers holding credit"
             + (f" ({plans['calls']:,} Paddle calls)." if plans.get("calls") is not None else ".")]
    if "reporting" in block:
        parts.append(f"The {block['reporting']['currency_code']} figures convert each currency at the closing rate.")
    test = block.get("backtest") or {}
    if not test.get("scored"):
        parts.append("No earlier month end has stored renewal plans with a horizon that has ended, so nothing is "
                     "backtested yet.")
    else:
        parts.append(f"Backtest: {test['scored']:,} forecast(s) of earlier month ends scored against the credit "
                     f"then used; {test.get('attention', 0):,} outside the band of {test.get('band', 0):.0%} and "
                     "P10-P90 (each one an Attention).")
    parts.extend(f"{str(n)[:1].upper()}{str(n)[1:]}." for n in block.get("notes") or ())
    return " ".join(parts)


def _convert(
    p: Parameters, snap: Any, opening: Any | None, totals: pd.DataFrame, rec: Reconciliation | None,
    moves: pd.DataFrame | None, notes: dict[str, str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """The closing rates, the closing totals converted at them and, with a roll-forward, the roll-forward
    translated (opening rate, stated rate, closing rate; :mod:`credit_reports.figures.translation`)."""
    history = translation_mod.load_rate_history(p.rates_file)
    closing_day = timestamps.parse(snap.as_of).tz_convert(p.timezone).date()
    rates = translation_mod.closing_rates(history, closing_day)
    if rates.empty:
        raise UsageError(f"rates_file {p.rates_file}: no spot rates in it")
    converted = metrics.convert_totals(totals, rates, p.reporting_currency, include_total=True)
    if rec is None or opening is None:
        notes["translation"] = "No roll-forward to translate: the report has no opening snapshot."
        return rates, converted, None
    try:
        translated, notes["translation"] = translation_mod.translate(
            rec.table, history, p.reporting_currency, rate_type=p.rate_type, movements=moves, timezone=p.timezone,
            opening_date=timestamps.parse(opening.as_of).tz_convert(p.timezone).date(), closing_date=closing_day)
    except UsageError as exc:
        notes["translation"] = f"The roll-forward is not translated: {exc}."
        return rates, converted, None
    return rates, converted, translated


def _untrusted(snap: Any, currencies: tuple[str, ...], chain: list[Any]) -> pd.DataFrame | None:
    """The history's customers that do not tie out (the reported currencies), or None when all do or there
    is no history."""
    table = _filter(history_notes.untrusted_table(snap, chain), currencies)
    return table if len(table) else None


prepare.__signature__ = report_parameters.signature(unknown=True)  # type: ignore[attr-defined]


def _roll_forward(
    p: Parameters, opening: Any | None, snap: Any, chain: list[Any], balances: pd.DataFrame,
    notes: dict[str, str], rf_note: str,
) -> tuple[Reconciliation | None, pd.DataFrame | None, pd.DataFrame | None]:
    """The reconciliation between ``opening`` and ``snap`` from the movements of the windows between
    them, when every window has event evidence; else derived from balances and marked so."""
    if opening is None:
        notes["roll_forward"] = rf_note
        return None, None, None
    opened = timestamps.parse(opening.as_of)
    between = [(i, s) for i, s in enumerate(chain) if timestamps.parse(s.as_of) > opened]
    reasons = [periods.missing_evidence(s, chain[i - 1] if i else None) for i, s in between]
    missing = [r for r in reasons if r]
    evidence = bool(between) and not missing
    moves = (_filter(period_movements([s for _, s in between], after=opening.as_of, until=snap.as_of),
                     p.currencies) if evidence else None)
    rec = reconcile(_filter(opening.balances, p.currencies), balances, moves, evidence=evidence)
    if evidence:
        rf_note = (
            "Every line below comes from a Paddle event with its id (reserved and released credit stays inside "
            "outstanding, so it is checked on its own, beside the roll-forward)."
            if rec.reconciled else
            "The roll-forward does not reconcile: the customers and movements behind each difference are listed "
            "below, largest first."
        )
    else:
        why = missing[0] if missing else "no snapshot was taken after the opening one"
        rf_note = (
            f"This roll-forward is **{NO_EVIDENCE}** ({why}): issued is the change in available + reserved + "
            "used, so opening + issued - used = closing holds by construction and is not a reconciliation."
        )
    if not opening.complete:
        rf_note += " The opening snapshot is incomplete, so the opening figures understate credit."
    notes["roll_forward"] = rf_note
    return rec, rec.table, moves


def _ageing_and_sources(
    p: Parameters, snap: Any, chain: list[Any], balances: pd.DataFrame, period_moves: pd.DataFrame | None,
    rec: Reconciliation | None, notes: dict[str, str],
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Ageing of the reported snapshot's available credit (every movement stored so far, and the
    adjustments the first fetch listed), and the period's issued credit by source."""
    first = chain[0]
    stored = _filter(union_movements(s.movements for s in chain[1:]), p.currencies)
    adjustments = union_adjustments(s.adjustments for s in chain)
    if first.manifest.get("reconstructed"):
        adjustments = None  # a history from day one: its issued movements date every legacy credit already
    aged = ageing_mod.ageing(balances, snap.as_of, first_balances=_filter(first.balances, p.currencies),
                             first_as_of=first.as_of, movements=stored, adjustments=adjustments)
    notes["ageing"] = (
        f"Credit the toolkit never saw arrive is its own bucket: it was issued before the first snapshot "
        f"({timestamps.display(first.as_of)}), unless a legacy credit adjustment dates it."
    )
    if first.manifest.get("reconstructed"):
        undated = aged["bucket"].astype(str).str.endswith("(date not seen)")
        if not aged.loc[undated, "amount"].any():  # the history from day one dated every credit
            aged = aged[~undated].reset_index(drop=True)
        first_credit = history_notes.first_credit_text(history_notes.stored_summary(snap, chain))
        notes["ageing"] = (
            f"Every credit is dated: the history rebuilt from Paddle's transactions starts at "
            f"{timestamps.display(first.as_of)}, the month end before the first credit ({first_credit}). "
            "Customers whose transactions do not "
            "explain their balance are left out of it, and their credit (if any) is the undated bucket."
        )
    by_source = None
    if rec is not None and rec.evidence:
        by_source = ageing_mod.issued_by_source(period_moves)
    else:
        notes["issued_by_source"] = f"No split by source: the roll-forward is {NO_EVIDENCE}."
    return aged, by_source


def _history_totals(chain: list[Any], snap: Any, opening: Any | None) -> pd.DataFrame:
    """The trend's points: totals per snapshot of ``chain`` and currency (``as_of`` first, then the
    :data:`metrics.TOTALS_COLUMNS`, sorted by as-of then currency), what :func:`metrics.trend` of every
    snapshot's balances gives. Each snapshot's come from its manifest (``totals``, computed at fetch time), so
    the trend loads no balances; the reported and opening snapshots (loaded anyway) and snapshots older than
    the field are totalled from their balances."""
    frames = []
    for s in chain:
        recorded = None if s is snap or s is opening else _recorded_totals(s.manifest.totals)
        frame = recorded if recorded is not None else metrics.currency_totals(s.balances)
        frame.insert(0, "as_of", pd.Series(timestamps.parse(s.as_of), index=frame.index, dtype="datetime64[us, UTC]"))
        frames.append(frame)
    if not frames or all(f.empty for f in frames):
        return metrics.trend(store.load_history(snapshots=[]))
    out = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    return out.sort_values(["as_of", "currency_code"], kind="stable").reset_index(drop=True)


def _recorded_totals(totals: Any) -> pd.DataFrame | None:
    """A manifest's ``totals`` as a :func:`metrics.currency_totals` frame; None when absent or malformed."""
    columns = metrics.TOTALS_COLUMNS[1:]
    if not isinstance(totals, dict) or not all(
        isinstance(figures, dict) and all(type(figures.get(c)) is int for c in columns) for figures in totals.values()
    ):
        return None
    codes = sorted(totals)
    frame = pd.DataFrame({"currency_code": pd.array(codes, dtype="string"),
                          **{c: pd.array([totals[k][c] for k in codes], dtype="int64") for c in columns}})
    return frame[list(metrics.TOTALS_COLUMNS)]


def _cohort_note(p: Parameters, merged: list[dict]) -> str:
    """What the cohorts are, what n counts, and which small cohorts were merged into "other"."""
    if p.cohort.startswith("custom_data."):
        rule = f"the custom data key {p.cohort.split('.', 1)[1]}"
    else:
        rule = p.cohort.replace("_", " ").replace("subscription.", "subscription ")
    base = (
        f"Customers are grouped by **{rule}**. Each chart shows every cohort's size, n: all its customers, "
        "active or archived, whether they hold credit or not."
    )
    if not merged:
        return base
    total = sum(int(m["customers"]) for m in merged)
    who = f"{total:,} customer{'s' if total != 1 else ''}"
    if len(merged) <= 10:
        detail = ", ".join(f"{_markdown_text(m['cohort'])} ({int(m['customers']):,})" for m in merged)
    else:
        detail = f"{len(merged):,} cohorts, {who}"
    return (
        f"{base} Cohorts of fewer than {p.min_cohort_size:,} customers are merged into \"other\", in every "
        f"currency and in the heatmap: {detail}."
    )


def _markdown_text(value: Any) -> str:
    """A label (e.g. a custom_data value) shown literally in Markdown: markup characters escaped."""
    return re.sub(r"([\\`*_\[\]|~])", r"\\\1", html.escape(str(value), quote=False))


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
