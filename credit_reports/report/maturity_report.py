"""The maturity figures a close pack shows (issue 26), from the stored snapshots and the renewal plans.

What the report, the workbook, the journal notes and the manifest call; the maths is in
:mod:`credit_reports.figures.maturity` and :mod:`credit_reports.figures.breakage`, the rules in
docs/credit-rules.md ("Maturity"). The renewal plans come from ``fetch.subscriptions_forecast`` at the close
(Paddle, so not from here): pass them in, one frame per month end that has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from credit_reports.core import money, timestamps
from credit_reports.figures import maturity, periods
from credit_reports.figures.breakage import NOTE as BREAKAGE_NOTE
from credit_reports.figures.breakage import breakage_evidence

__all__ = ["BACKTEST_BAND", "MaturityReport", "attention_lines", "backtest_chain", "breakage_table",
           "chain_movements", "hazards_from_chain", "journal_note", "maturity_report", "revenue_from_opening",
           "split_table"]

#: The stated band of the backtest: an error above it, with the actual outside P10-P90, is an Attention.
BACKTEST_BAND = 0.25


@dataclass
class MaturityReport:
    """The forecast at the closing snapshot, the manifest's ``maturity`` block and the backtest so far."""

    forecast: maturity.Forecast
    block: dict[str, Any]
    backtest: pd.DataFrame
    attention: list[str]


def _month_ends(chain: Sequence[Any], timezone: str = "UTC") -> list[Any]:
    """The chain's month-end snapshots (the newest of each month), oldest first."""
    return [chain[i] for i in periods.month_end_points([s.as_of for s in chain], timezone)]


def hazards_from_chain(chain: Sequence[Any], *, until: Any = None, timezone: str = "UTC") -> dict[str, maturity.Hazard]:
    """Churn per cohort from the month-end snapshots' ``subscriptions`` tables up to ``until`` (inclusive).
    Left out, never counted as "no churn": snapshots whose key could not read subscriptions (an empty table) and
    month ends rebuilt by ``history`` (their subscriptions are the account's at the rebuild, not at the month
    end)."""
    limit = timestamps.parse(until) if until is not None else None
    fetched = [s for s in chain if not s.reconstructed]
    points = [(s.as_of, s.subscriptions) for s in _month_ends(fetched, timezone)
              if (limit is None or s.as_of <= limit) and len(s.subscriptions)]
    return maturity.churn_rates(points)


def chain_movements(chain: Sequence[Any]) -> pd.DataFrame:
    """Every stored movement of the chain, once each (a movement is identified by kind and its Paddle id)."""
    frames = [s.movements for s in chain if s.has_movements]
    if not frames:
        return pd.DataFrame(columns=["kind", "customer_id", "currency_code", "amount", "occurred_at",
                                     "transaction_id", "adjustment_id"])
    moves = pd.concat(frames, ignore_index=True)
    return moves.drop_duplicates(["kind", "transaction_id", "adjustment_id", "customer_id", "currency_code"])


def backtest_chain(chain: Sequence[Any], plans_by_as_of: Mapping[Any, pd.DataFrame], *,
                   horizons: tuple[int, ...] = (1, 3, 6, 12), band: float = BACKTEST_BAND,
                   used: pd.DataFrame | None = None) -> pd.DataFrame:
    """At each month end with renewal plans, the forecast made from that month end's data alone (its balances,
    its plans, the churn of the month ends before it) against what was then used (``used``: rows of
    currency_code, amount, occurred_at; default the chain's ``used`` movements). See ``maturity.backtest``."""
    plans = {timestamps.parse(k): v for k, v in plans_by_as_of.items()}
    forecasts = {}
    for snap in _month_ends(chain):
        if snap.as_of in plans:
            hz = hazards_from_chain(chain, until=snap.as_of)
            forecasts[snap.as_of] = maturity.forecast(snap.balances, plans[snap.as_of], snap.as_of, hazards=hz).monthly
    if used is None:
        moves = chain_movements(chain)
        used = moves[moves["kind"] == "used"]
    latest = chain[-1].as_of if chain else None
    return maturity.backtest(forecasts, used, horizons=horizons, band=band, latest=latest)


def attention_lines(scored: pd.DataFrame, *, band: float = BACKTEST_BAND) -> list[str]:
    """One line per month end and currency whose forecast missed (the Attention the pack raises)."""
    lines = []
    for row in scored[scored["attention"]].itertuples(index=False):
        error = "nothing used" if pd.isna(row.error) else f"off by {row.error:.0%}"
        lines.append(f"Maturity backtest: the {row.currency_code} forecast made at {row.as_of:%Y-%m-%d} for "
                     f"{row.horizon} month(s) is {error} (forecast {row.forecast}, actual {row.actual} minor units; "
                     f"band {band:.0%}, P10-P90 {row.p10}-{row.p90})")
    return lines


def maturity_report(closing: Any, plans: pd.DataFrame, chain: Sequence[Any], *,
                    plans_by_as_of: Mapping[Any, pd.DataFrame] | None = None,
                    rates: Mapping[str, Decimal] | None = None,
                    reporting_currency: str | None = None, translated: Mapping[str, int] | None = None,
                    calls: int | None = None) -> MaturityReport:
    """Everything the pack shows about maturity at the ``closing`` snapshot: the forecast (with churn from the
    month ends before it), the manifest's ``maturity`` block (in ``reporting_currency`` too when ``rates``,
    the closing rates, or ``translated``, the outstanding per currency under ``fx_policy``, are given), the
    backtest of the earlier month ends in ``plans_by_as_of`` and its Attention lines; ``calls`` (the plans'
    ``RenewalPlans.calls``) is recorded in the block so the pack shows what the forecast cost."""
    hz = hazards_from_chain(chain, until=closing.as_of)
    fc = maturity.forecast(closing.balances, plans, closing.as_of, hazards=hz)
    block = maturity.maturity_block(fc, rates=rates, reporting_currency=reporting_currency, translated=translated)
    block["plans"] = {"subscriptions": len(plans), "calls": calls}
    scored = backtest_chain(chain, plans_by_as_of or {})
    lines = attention_lines(scored)
    block["backtest"] = {"band": BACKTEST_BAND, "scored": len(scored), "attention": len(lines), "lines": lines}
    return MaturityReport(fc, block, scored, lines)


def revenue_from_opening(opening: Any, closing: Any, chain: Sequence[Any]) -> pd.DataFrame:
    """The period's revenue out of the opening liability (``maturity.revenue_from_opening``): the opening
    snapshot's balances and the movements stored after it up to the closing one."""
    moves = chain_movements([s for s in chain if opening.as_of < s.as_of <= closing.as_of])
    moves = moves[pd.to_datetime(moves["occurred_at"], utc=True) > opening.as_of]
    return maturity.revenue_from_opening(opening.balances, moves)


def breakage_table(closing: Any, chain: Sequence[Any], churned: set[str]) -> tuple[pd.DataFrame, str]:
    """Breakage evidence at the closing snapshot (first snapshot's balances as the undated lot) and the note
    the pack prints beside it."""
    first = chain[0]
    opening = first.balances.assign(amount=first.balances["available"] + first.balances["reserved"])
    moves = chain_movements([s for s in chain if s.as_of <= closing.as_of and s is not first])
    return breakage_evidence(moves, closing.as_of, churned=churned, opening=opening), BREAKAGE_NOTE


def split_table(block: dict[str, Any]) -> pd.DataFrame:
    """The headline's and the workbook's maturity rows from the manifest block: per currency (and the reporting
    currency, last, when the block has it; ``stated`` tells the two apart) outstanding, current (P50), its
    P10-P90, non-current and dormant, in minor units (int64) of ``currency_code``: the display converts."""
    names = ("outstanding", "current", "current_p10", "current_p90", "non_current", "dormant")
    rows = [{"currency_code": code, "stated": "in its own currency", **{k: row[k] for k in names}}
            for code, row in sorted(block["currencies"].items())]
    if "reporting" in block:
        rep = block["reporting"]
        rows.append({"currency_code": rep["currency_code"],
                     "stated": f"all currencies in the reporting currency ({rep.get('basis', '')})",
                     **{k: rep[k] for k in names}})
    cols = ["currency_code", "stated", *names]
    return pd.DataFrame(rows, columns=cols).astype({c: "int64" for c in names})


def journal_note(block: dict[str, Any]) -> str:
    """The journal notes' maturity paragraph: per currency, how much of the closing outstanding is current and
    non-current, the band, the rule, and that it is an estimate the backtest checks."""
    parts = []
    for code, row in sorted(block["currencies"].items()):
        fmt = (lambda n, c=code: money.format_money(n, c)) if money.is_known_currency(code) else str
        parts.append(f"{code}: {fmt(row['current'])} current (P10-P90 {fmt(row['current_p10'])} to "
                     f"{fmt(row['current_p90'])}), {fmt(row['non_current'])} non-current, of which "
                     f"{fmt(row['dormant'])} held by customers without an active subscription")
    as_of = timestamps.parse(block["as_of"])
    return (f"Maturity at {as_of:%d %b %Y}: the credit expected to be used within twelve months is current, the "
            f"rest non-current (P50 of a forecast from each customer's renewals and the observed churn; "
            f"docs/credit-rules.md, Maturity). " + "; ".join(parts) + ". This is an estimate; each month end's "
            "forecast is backtested against the credit then used.")
