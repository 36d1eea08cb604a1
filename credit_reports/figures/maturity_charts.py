"""The maturity charts (issue 26): the usage forecast's fan and the backtest's forecast against actual.

Same conventions as :mod:`credit_reports.figures.charts` (one axis per currency, figures built without pyplot,
major units only for drawing, the currency on the y axis, Okabe-Ito colours); kept apart so the forecast's
charts do not grow that module.
"""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure

from credit_reports.core import money
from credit_reports.figures.charts import COLORS, unit_label

__all__ = ["backtest_chart", "forecast_fan"]

_PANEL = (3.6, 2.6)


def _panels(codes: list[str], title: str) -> tuple[Figure, list]:
    """A figure with one panel per currency (three a row) and the title."""
    n = max(len(codes), 1)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(_PANEL[0] * cols, _PANEL[1] * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[len(codes):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=12)
    return fig, axes[: len(codes)]


def _major(values: pd.Series, code: str) -> list[float]:
    return [float(money.to_major(int(v), code)) for v in values]


def forecast_fan(monthly: pd.DataFrame, title: str = "Credit expected to be used, cumulative (P10-P90, P50)") -> Figure:
    """Per currency: the cumulative P10-P90 band, the P50 line and the schedule without churn, by month; the
    twelve-month line marks the current / non-current boundary."""
    codes = list(dict.fromkeys(monthly["currency_code"].astype(str)))
    fig, axes = _panels(codes, title)
    for ax, code in zip(axes, codes, strict=True):
        part = monthly[monthly["currency_code"] == code]
        months = part["month"].tolist()
        ax.fill_between(months, _major(part["cum_p10"], code), _major(part["cum_p90"], code),
                        color=COLORS["available"], alpha=0.25, label="P10-P90")
        ax.plot(months, _major(part["cum_p50"], code), color=COLORS["available"], label="P50")
        ax.plot(months, _major(part["scheduled"].cumsum(), code), color=COLORS["used"], linestyle="--",
                label="scheduled, no churn")
        ax.axvline(12.5, color="grey", linewidth=0.8)
        ax.set_title(code, fontsize=10)
        ax.set_xlabel("months after the balance-sheet date", fontsize=8)
        ax.set_ylabel(unit_label(code), fontsize=8)
        ax.tick_params(labelsize=8)
    if axes:
        axes[0].legend(fontsize=7, frameon=False)
    return fig


def backtest_chart(scored: pd.DataFrame, horizon: int = 3,
                   title: str = "Backtest: forecast against actual use") -> Figure:
    """Per currency, at each month end: the P50 forecast of the next ``horizon`` months' use (with its
    P10-P90 band) against what was used; a month end flagged for Attention is marked."""
    part_all = scored[scored["horizon"] == horizon]
    codes = list(dict.fromkeys(part_all["currency_code"].astype(str)))
    fig, axes = _panels(codes, f"{title} ({horizon} month{'s' if horizon != 1 else ''})")
    for ax, code in zip(axes, codes, strict=True):
        part = part_all[part_all["currency_code"] == code].sort_values("as_of")
        when = pd.to_datetime(part["as_of"], utc=True).dt.tz_localize(None)
        ax.fill_between(when, _major(part["p10"], code), _major(part["p90"], code), color=COLORS["available"],
                        alpha=0.2, label="P10-P90")
        ax.plot(when, _major(part["forecast"], code), color=COLORS["available"], marker="o", markersize=3,
                label="forecast (P50)")
        ax.plot(when, _major(part["actual"], code), color=COLORS["used"], marker="s", markersize=3, label="actual")
        flagged = part[part["attention"]]
        if len(flagged):
            ax.scatter(pd.to_datetime(flagged["as_of"], utc=True).dt.tz_localize(None),
                       _major(flagged["actual"], code), color=COLORS["decrease"], zorder=3, label="Attention")
        ax.set_title(code, fontsize=10)
        ax.set_ylabel(unit_label(code), fontsize=8)
        ax.tick_params(labelsize=7)
    if axes:
        axes[0].legend(fontsize=7, frameon=False)
    return fig
