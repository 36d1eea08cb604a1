"""Matplotlib figures for the report notebooks: one axis per currency, never two currencies on one axis.

Every builder takes a frame of integer minor units as ``metrics``/``cohorts`` return it and gives back a
:class:`matplotlib.figure.Figure` built without pyplot, so a notebook shows it exactly once (as the cell's
value) and nothing leaks between calls. Amounts become major units only here, for drawing, through
:mod:`credit_reports.core.money`; the y axis names the currency it is in. Colours come from the Okabe-Ito
palette, which stays distinguishable with the common colour-vision deficiencies, and each balance kind
keeps its colour in every chart: available blue, reserved orange, used green.
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib
import pandas as pd
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from credit_reports.core import money
from credit_reports.figures.cohorts import OTHER

log = logging.getLogger("credit_reports.charts")

__all__ = [
    "COLORS",
    "KINDS",
    "ageing_bars",
    "balance_bars",
    "cohort_bars",
    "cohort_heatmap",
    "roll_forward_waterfall",
    "trend_panels",
    "png_2x",
    "unit_label",
    "use_sharp_png",
]

#: Okabe-Ito colours, one per balance kind, the same in every chart.
COLORS: dict[str, str] = {
    "available": "#0072B2",  # blue
    "reserved": "#E69F00",  # orange
    "used": "#009E73",  # bluish green
    "outstanding": "#CC79A7",  # reddish purple
    "opening": "#56B4E9",  # sky blue
    "closing": "#0072B2",
    "issued": "#009E73",
    "decrease": "#D55E00",  # vermillion
}
#: The three balance kinds Paddle reports, in display order.
KINDS: tuple[str, ...] = ("available", "reserved", "used")

_PANEL_W, _PANEL_H = 3.3, 2.4  # inches per small-multiple panel
#: Display resolution: 96 dots per inch shown (CSS pixels), twice that many pixels stored (PNG at 2x).
DISPLAY_DPI = 96
#: Colours kept in each PNG: charts are flat colours plus anti-aliasing, so a palette loses nothing
#: visible and the file shrinks about threefold (the demo report has a 1.5 MB budget).
PNG_COLOURS = 256


def png_2x(fig: Figure) -> tuple[bytes, dict[str, int]]:
    """The figure as a palette PNG at twice the display resolution, with its display size.

    Returned as ``(png_bytes, {"width": w, "height": h})`` in CSS pixels, the shape IPython's
    ``image/png`` formatter takes, so notebooks and the HTML export show it sharp on high-density
    screens at its natural size.

    Drawn once, straight onto an Agg canvas: the figures lay themselves out (fixed margins or constrained
    layout), so there is no ``bbox_inches="tight"`` pass, and no ``savefig``, which draws a figure with a
    layout engine twice (once without rendering, for the layout). Agg's RGBA pixels go to Pillow without a
    PNG round trip; the fast-octree palette and zlib's default level make a smaller file than median cut
    with ``optimize=True`` in a fraction of the time (see docs/benchmarks/render.md).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(fig)
    dpi, facecolor = fig.dpi, fig.get_facecolor()
    try:
        fig.dpi = 2 * dpi
        fig.set_facecolor("white")  # the inline backend's default figure background is transparent
        canvas.draw()
        renderer = canvas.get_renderer()
        size = (int(renderer.width), int(renderer.height))
        image = Image.frombuffer("RGBA", size, canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
    finally:
        fig.dpi = dpi
        fig.set_facecolor(facecolor)
    image = image.quantize(colors=PNG_COLOURS, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    _snap_palette(image)
    out = io.BytesIO()
    image.save(out, format="PNG")
    width, height = image.size
    return out.getvalue(), {"width": width // 2, "height": height // 2}


def _anchor_colours() -> list[tuple[int, int, int]]:
    """Colours that must come out exact: the white page, black text, the palette of every chart."""
    anchors = [(255, 255, 255), (0, 0, 0)]
    for value in COLORS.values():
        anchors.append(tuple(int(value[i:i + 2], 16) for i in (1, 3, 5)))
    return anchors


def _snap_palette(image: Any, tolerance: int = 3) -> None:
    """Put palette entries within ``tolerance`` of an anchor colour exactly on it.

    Fast octree gives each palette entry the mean of its pixels, so the white background comes out as
    (254, 254, 254) where anti-aliased edges share its bucket: a faint grey box on a white page.
    """
    palette = image.getpalette()
    anchors = _anchor_colours()
    for i in range(0, len(palette), 3):
        entry = palette[i:i + 3]
        for anchor in anchors:
            if all(abs(a - b) <= tolerance for a, b in zip(entry, anchor, strict=True)):
                palette[i:i + 3] = anchor
                break
    image.putpalette(palette)


def use_sharp_png(dpi: int = DISPLAY_DPI) -> None:
    """In a notebook: show figures as compact PNGs at 2x (call after ``%matplotlib inline``).

    Sets the display resolution for new figures and makes IPython render every matplotlib figure
    (including the ones this module builds without pyplot) through :func:`png_2x`.
    """
    matplotlib.rcParams.update({"figure.dpi": dpi, "savefig.dpi": 2 * dpi, "font.size": 8})
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the notebook stack
        return
    shell: Any = get_ipython()
    if shell is None:
        return
    formatters = shell.display_formatter.formatters
    formatters["image/png"].for_type(Figure, png_2x)
    for other in ("image/svg+xml", "application/pdf", "image/jpeg"):
        formatters[other].pop(Figure, None)


def unit_label(code: str) -> str:
    """Axis label naming the currency and the unit the axis is drawn in ("USD", or minor units if unknown)."""
    if money.is_known_currency(code):
        return f"Amount ({code})"
    return f"Amount ({code}, minor units)"


def _major(values: Sequence[int] | pd.Series, code: str) -> list[float]:
    """Major units for drawing only; exact amounts stay in the tables."""
    return [float(money.to_major(int(v), code)) for v in values]


def _axis_formatter(code: str) -> FuncFormatter:
    """Compact tick labels (1.2k, 3.4M) in major units: the currency is in the axis label."""

    def fmt(value: float, _pos: int) -> str:
        magnitude = abs(value)
        for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if magnitude >= limit:  # up to 3 decimals so close ticks (9.15M, 9.2M) stay distinct
                return f"{value / limit:,.3f}".rstrip("0").rstrip(".") + suffix
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value else "0"

    return FuncFormatter(fmt)


def _currencies(frame: pd.DataFrame) -> list[str]:
    """Currencies in the frame in first-seen order (the metrics sort them already)."""
    return list(dict.fromkeys(frame["currency_code"].astype(str)))


#: Fixed margins of a small-multiple panel, in inches: y tick labels and the axis label on the left, the
#: panel title above, x tick labels (and a one-line axis note) below. The small multiples' labels are
#: short by construction (compact amounts like 1.234M, kind names, dates), so fixed margins fit and the
#: figure skips constrained layout, which measured every label on every draw (about a third of the time).
_MARGIN = {"left": 0.66, "right": 0.1, "top": 0.3, "bottom": 0.45}
_HEADER = {"title": 0.4, "legend": 0.62}  # suptitle only; suptitle with the colour key under it


def _grid(n: int, max_cols: int = 3, panel: tuple[float, float] = (_PANEL_W, _PANEL_H), header: str = "title"):
    """A figure with ``n`` panels on fixed margins (unused grid cells hidden); returns (fig, axes)."""
    n = max(n, 1)
    cols = min(max_cols, n)
    rows = math.ceil(n / cols)
    top_in = _HEADER[header]
    width, height = panel[0] * cols, panel[1] * rows + top_in
    side = _MARGIN["left"] + _MARGIN["right"]
    between = _MARGIN["top"] + _MARGIN["bottom"]
    fig = Figure(figsize=(width, height))
    spec = fig.add_gridspec(rows, cols, left=_MARGIN["left"] / width, right=1 - _MARGIN["right"] / width,
                            bottom=_MARGIN["bottom"] / height, top=1 - (top_in + _MARGIN["top"]) / height,
                            wspace=side / (panel[0] - side), hspace=between / (panel[1] - between))
    # only the panels shown: an empty grid cell gets no axes (no ticks, spines or labels built and hidden)
    with _titles_on_top():
        return fig, [fig.add_subplot(spec[i // cols, i % cols]) for i in range(n)]


def _titles_on_top() -> Any:
    """Axes made in this context put their title straight on top of the panel (``axes.titley`` 1.0).

    Where the title goes is what matplotlib works out on every draw otherwise: it measures the y axis (every
    tick label) to find an offset text our formatters never show, and the x axis for tick labels on top that
    these panels never have, then puts the title where it is put here. The picture is the same; the
    measuring, a third of a small-multiple chart's drawing, is gone. (Not for the heatmap: its cohort labels
    sit on top.)
    """
    return matplotlib.rc_context({"axes.titley": 1.0})


def _suptitle(fig: Figure, title: str) -> None:
    """The figure title in the fixed header of a :func:`_grid` figure."""
    fig.suptitle(_plain_text(title), fontsize=12, y=1 - 0.08 / fig.get_figheight(), va="top")


def _empty(message: str) -> Figure:
    fig = Figure(figsize=(6, 1.2), layout="constrained")
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11)
    return fig


def _style(ax, code: str) -> None:
    """The currency on the y axis, compact tick labels, light grid; sizes fixed so fixed margins hold."""
    ax.set_ylabel(unit_label(code), fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.yaxis.set_major_formatter(_axis_formatter(code))
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _title_and_legend(fig: Figure, ax, title: str) -> None:
    """The figure title with the colour key on the line below it (one key for all panels)."""
    handles, labels = ax.get_legend_handles_labels()
    if fig.get_layout_engine() is None:  # a fixed-margin _grid figure: the key sits in its header
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.04 / fig.get_figheight()),
                   ncols=len(labels), fontsize=8, frameon=False, title=_plain_text(title), title_fontsize=12)
        return
    fig.legend(handles, labels, loc="outside upper center", ncols=len(labels), fontsize=8, frameon=False,
               title=_plain_text(title), title_fontsize=12)


def balance_bars(totals: pd.DataFrame, title: str = "Available, reserved and used credit") -> Figure:
    """One panel per currency: bars of available, reserved and used, labelled with the formatted amount.

    ``totals`` has ``currency_code`` and ``available``/``reserved``/``used`` in minor units, one row per
    currency (``metrics.currency_totals``).
    """
    if totals.empty:
        return _empty("No credit balances to chart.")
    codes = _currencies(totals)
    fig, axes = _grid(len(codes))
    for ax, code in zip(axes, codes, strict=True):
        row = totals[totals["currency_code"] == code].iloc[0]
        minor = [int(row[k]) for k in KINDS]
        bars = ax.bar(list(KINDS), _major(minor, code), color=[COLORS[k] for k in KINDS])
        ax.bar_label(bars, labels=[money.format_money(m, code) for m in minor], fontsize=7, padding=2)
        ax.set_title(f"{code}: available vs reserved vs used", fontsize=10)
        ax.margins(y=0.15)
        _style(ax, code)
    _suptitle(fig, title)
    return fig


#: Bidirectional controls (embeddings, overrides, isolates, marks): in a label they can reverse what a reader
#: sees ("gro$ 001" shown as "100 $org"), so they are stripped from chart text and the strip is logged.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _plain_text(text: object) -> str:
    """Customer data as text matplotlib shows literally: every ``$`` escaped, so ``"$$"`` or ``"50% off $x^$"``
    never reaches mathtext (which fails on them, or renders them as formulas), and bidi controls stripped
    (said in one log line)."""
    value = str(text)
    if _BIDI.search(value):
        log.warning("chart label %r holds bidirectional control characters: they are stripped from the chart",
                    value.encode("unicode_escape").decode("ascii"))
        value = _BIDI.sub("", value)
    return value.replace("$", "\\$")


def _cohort_label(cohort: object, size: object) -> str:
    name = _plain_text(cohort)
    return f"{name}\n(n={int(size):,})" if size is not None and not pd.isna(size) else name


def _cohort_order(cohort_totals: pd.DataFrame, codes: list[str]) -> list[str]:
    """Every cohort once, in display order.

    ``cohorts.cohort_totals`` gives that order in ``attrs["order"]``; it is used when it covers the frame.
    Otherwise (a frame built another way): each currency lists its cohorts in display order, so the whole
    order is the one that keeps every currency's, a topological merge of their sequences; where no currency
    says which of two cohorts comes first, they go the way ``cohort_totals`` orders cohorts: by label (time
    cohorts are chronological that way), "(...)" labels after the others, "other" last.
    """
    present = set(cohort_totals["cohort"].astype(str))
    given = [str(c) for c in cohort_totals.attrs.get("order") or []]
    if given and present <= set(given):
        return [c for c in given if c in present]
    sequences = [
        list(cohort_totals.loc[cohort_totals["currency_code"] == code, "cohort"].astype(str)) for code in codes
    ]
    after: dict[str, set[str]] = {}
    waiting: dict[str, int] = {}
    for seq in sequences:
        for cohort in seq:
            after.setdefault(cohort, set())
            waiting.setdefault(cohort, 0)
        for first, then in zip(seq, seq[1:], strict=False):
            if then not in after[first]:
                after[first].add(then)
                waiting[then] += 1

    def key(label: str) -> tuple[bool, bool, str]:
        return label == OTHER, label.startswith("("), label

    ready = sorted((c for c, n in waiting.items() if n == 0), key=key)
    order: list[str] = []
    while ready:
        cohort = ready.pop(0)
        order.append(cohort)
        for then in after[cohort]:
            waiting[then] -= 1
            if waiting[then] == 0:
                ready.append(then)
        ready.sort(key=key)
    # currencies that disagree (not from cohort_totals) leave a cycle: its cohorts go last, by key
    return order + sorted((c for c in waiting if c not in set(order)), key=key)


def _bar_collection(xs: Sequence[float], heights: Sequence[float], width: float, colour: str, label: str):
    """Bars as one polygon collection: one artist for a whole series instead of one patch per bar."""
    from matplotlib.collections import PolyCollection

    half = width / 2
    verts = [[(x - half, 0.0), (x - half, h), (x + half, h), (x + half, 0.0)] for x, h in zip(xs, heights, strict=True)]
    bars = PolyCollection(verts, facecolors=colour, edgecolors="none", linewidths=0, label=label)
    bars.sticky_edges.y.append(0.0)  # bars stand on 0, as ax.bar draws them
    return bars


def cohort_bars(
    cohort_totals: pd.DataFrame,
    size_column: str = "customers",
    title: str = "Credit by cohort",
) -> Figure:
    """One panel per currency (stacked vertically): grouped bars of available/reserved/used per cohort.

    The panels share one cohort axis (every cohort in every panel, in display order, absent where no
    customer of the cohort holds the currency), labelled once at the bottom: each label carries the
    cohort's size (``n=`` from ``size_column``, the customers in the cohort, the same in every currency),
    so a tall bar from a handful of customers reads as such. Each series is one artist, so a report
    with many cohorts and currencies stays quick to draw.
    """
    if cohort_totals.empty:
        return _empty("No cohorts to chart.")
    codes = _currencies(cohort_totals)
    order = _cohort_order(cohort_totals, codes)
    position = {cohort: i for i, cohort in enumerate(order)}
    sizes: dict[str, object] = {}
    if size_column in cohort_totals:
        sizes = dict(zip(cohort_totals["cohort"].astype(str), cohort_totals[size_column], strict=True))
    n_cohorts = len(order)
    rotate = n_cohorts > 8
    width_in = min(max(6.0, 0.36 * n_cohorts + 1.5), 10.0)
    labels_in = 0.75 if rotate else 0.35  # room for the cohort labels under the last panel
    fig = Figure(figsize=(width_in, 1.75 * len(codes) + labels_in + 0.6), layout="constrained")
    with _titles_on_top():
        axes = fig.subplots(len(codes), 1, squeeze=False)[:, 0]
    bar_w = 0.27
    pad = max(0.6, (6 - n_cohorts) / 2)  # few cohorts: keep bars slim and centred
    for ax, code in zip(axes, codes, strict=True):
        part = cohort_totals[cohort_totals["currency_code"] == code]
        xs = [position[c] for c in part["cohort"].astype(str)]
        for i, kind in enumerate(KINDS):
            ax.add_collection(_bar_collection([x + (i - 1) * bar_w for x in xs], _major(part[kind], code), bar_w,
                                              COLORS[kind], kind))
        ax.autoscale_view()
        ax.set_xlim(-pad, n_cohorts - 1 + pad)  # the same cohort axis in every panel
        ax.set_xticks([])  # ticks and labels once, under the last panel (tick objects are costly)
        ax.set_title(f"{code}: available vs reserved vs used per cohort", fontsize=10)
        _style(ax, code)
    bottom = axes[-1]
    bottom.set_xticks(range(n_cohorts), [_cohort_label(c, sizes.get(c)) for c in order])
    bottom.tick_params(axis="x", labelsize=7, rotation=90 if rotate else 0)
    bottom.set_xlabel("cohort (n = customers in the cohort)", fontsize=8)
    _title_and_legend(fig, axes[0], title)
    return fig


def cohort_heatmap(
    shares: pd.DataFrame,
    sizes: pd.Series | None = None,
    title: str = "Where each currency's available credit sits, by cohort",
) -> Figure:
    """Cohort x currency grid of each currency's available credit, coloured per currency.

    ``shares`` is indexed by cohort with one column per currency holding the cohort's share (0-1) of that
    currency's available credit (``cohorts.cohort_heatmap``). Every column is scaled on its own: colour
    says where a currency's credit sits, never how currencies compare. Cells show the share in percent.
    """
    if shares.empty or shares.shape[1] == 0:
        return _empty("No available credit to map.")
    n_rows, n_cols = shares.shape
    fig = Figure(figsize=(min(0.9 * n_cols + 2.6, 10.0), 0.24 * n_rows + 1.5), layout="constrained")
    ax = fig.subplots()
    scaled = shares.astype(float)
    col_max = scaled.max(axis=0).where(lambda s: s > 0, 1.0)
    # ten steps of blue: the colour bar reads as bands, and the PNG palette keeps every colour exactly
    image = ax.imshow((scaled / col_max).to_numpy(), aspect="auto", cmap=matplotlib.colormaps["Blues"].resampled(10),
                      vmin=0, vmax=1)
    for r in range(n_rows):
        for c in range(n_cols):
            value = scaled.iat[r, c]
            dark = value / col_max.iat[c] > 0.6
            ax.text(c, r, f"{value:.0%}" if value >= 0.005 or value == 0 else "<1%", ha="center",
                    va="center", fontsize=7, color="white" if dark else "black", in_layout=False)  # inside the axes
    ax.set_xticks(range(n_cols), [str(c) for c in shares.columns])
    labels = [
        _cohort_label(c, sizes.get(c) if sizes is not None else None).replace("\n", " ") for c in shares.index
    ]
    ax.set_yticks(range(n_rows), labels, fontsize=7)
    ax.xaxis.tick_top()
    ax.set_xlabel("Currency (each column scaled to its own largest cohort)")
    ax.set_title(_plain_text(title), fontsize=11)
    bar = fig.colorbar(image, ax=ax, fraction=0.04)
    bar.set_label("relative to the currency's largest cohort", fontsize=8)
    return fig


def _compact_money(code: str) -> Callable[[float, Any], str]:
    """A bar label in the currency's own symbol, compact (``$10.2K``, ``-€26.58K``, ``¥2.98M``)."""
    from babel.numbers import format_compact_currency

    def label(value: float, _pos: Any = None) -> str:
        try:
            return format_compact_currency(value, code, locale="en_US", fraction_digits=2)
        except (ValueError, KeyError):
            return f"{value:,.2f} {code}"

    return label


def _waterfall_steps(row: pd.Series, code: str) -> list[tuple[str, float, float, str, str]]:
    """(label, bottom, height, colour, annotation) per bar: opening, the movements, closing."""
    short = _compact_money(code)  # compact labels with the currency fit over narrow bars; the table is exact
    evidence = bool(row.get("evidence", False)) and "reversed" in row
    moves = [("+ issued", int(row["issued"]))]
    if evidence and int(row["reversed"]):
        moves.append(("- reversed", -int(row["reversed"])))
    moves.append(("- used", -int(row["used"])))
    if evidence and int(row.get("unexplained", 0)):
        moves.append(("unexplained", int(row["unexplained"])))
    opening, closing = _major([int(row["opening"]), int(row["closing"])], code)
    steps = [("opening", 0.0, opening, COLORS["opening"], short(opening, 0))]
    level = opening
    for label, amount in moves:
        (height,) = _major([amount], code)
        colour = COLORS["issued"] if height >= 0 else COLORS["decrease"]
        if label == "unexplained":
            colour = "#B00020"
        steps.append((label, level, height, colour, ("+" if height > 0 else "") + short(height, 0)))
        level += height
    steps.append(("closing", 0.0, closing, COLORS["closing"], short(closing, 0)))
    return steps


def roll_forward_waterfall(roll: pd.DataFrame, title: str = "Roll-forward of outstanding credit") -> Figure:
    """One panel per currency: opening outstanding, + issued, - used, = closing outstanding.

    ``roll`` has ``currency_code``, ``opening``, ``issued``, ``used``, ``closing`` in minor units
    (``metrics.roll_forward``, or ``reconcile.reconcile(...).table``: with ``evidence`` true a
    ``- reversed`` bar and, when not zero, a red ``unexplained`` bar are drawn too). Floating bars start
    where the previous step ended; a negative issued amount (reversals) is drawn downwards in the
    decrease colour. Each bar carries its amount in the axis's compact form (1.224M, +137.07k, -26.58k);
    the report's table beside the chart has the exact amounts. When the movements are small next to the
    balances (a day's change), the axis is zoomed onto them and the panel says it does not start at 0.
    """
    if roll is None or roll.empty:
        return _empty("No roll-forward to chart.")
    codes = _currencies(roll)
    fig, axes = _grid(len(codes))
    for ax, code in zip(axes, codes, strict=True):
        row = roll[roll["currency_code"] == code].iloc[0]
        steps = _waterfall_steps(row, code)
        xs = range(len(steps))
        ax.bar(xs, [s[2] for s in steps], bottom=[s[1] for s in steps], color=[s[3] for s in steps],
               width=0.6)
        ax.set_xticks(list(xs), [s[0] for s in steps])
        ends = [s[1] + s[2] for s in steps]
        lo, hi = min(ends), max(ends)
        span = hi - lo
        zoom = span > 0 and lo > 0 and span < 0.25 * hi
        if zoom:
            ax.set_ylim(max(lo - 0.8 * span, 0), hi + 0.8 * span)
            ax.set_xlabel("axis zoomed in: it does not start at 0", fontsize=7, color="0.35")
        else:
            ax.axhline(0, color="0.4", linewidth=0.8)
            ax.margins(y=0.15)
        for x, (_name, bottom, height, _colour, label) in zip(xs, steps, strict=True):
            top = max(bottom, bottom + height)
            ax.annotate(label, (x, top), xytext=(0, 2), textcoords="offset points", ha="center",
                        va="bottom", fontsize=7, annotation_clip=False)
        ax.set_title(f"{code}: roll-forward", fontsize=10, pad=12)  # room for the labels over the top bars
        ax.tick_params(axis="x", labelsize=8 if len(steps) <= 4 else 6)
        _style(ax, code)
    lines = "opening + issued - reversed - used" if "reversed" in roll.columns else "opening + issued - used"
    lines += " + unexplained = closing" if "unexplained" in roll.columns and bool(
        (roll["unexplained"].fillna(0) != 0).any()) else " = closing"
    _suptitle(fig, f"{title}: {lines}")
    return fig


def ageing_bars(aged: pd.DataFrame, title: str = "Age of available credit (first in, first out)") -> Figure:
    """One panel per currency: available credit per age bucket (``ageing.ageing``), oldest on the right."""
    if aged is None or aged.empty:
        return _empty("No available credit to age.")
    codes = _currencies(aged)
    fig, axes = _grid(len(codes))
    for ax, code in zip(axes, codes, strict=True):
        part = aged[aged["currency_code"] == code]
        labels = [str(b).replace(" (date not seen)", "").replace("issued before ", "before\n")
                  .replace("over 365 days", ">365").replace(" days", "") for b in part["bucket"]]
        heights = _major(part["amount"], code)
        colours = [COLORS["available"]] * (len(heights) - 1) + ["0.6"]
        ax.bar(range(len(heights)), heights, color=colours, width=0.7)
        ax.set_xticks(list(range(len(heights))), labels)
        ax.tick_params(axis="x", labelsize=6)
        ax.set_title(f"{code}: available by age", fontsize=10)
        ax.set_xlabel("age in days", fontsize=7, color="0.35")
        ax.set_ylim(bottom=0)
        _style(ax, code)
    _suptitle(fig, title)
    return fig


def trend_panels(trend: pd.DataFrame, title: str = "Credit over time") -> Figure:
    """One panel per currency: available, reserved, used and outstanding at each snapshot's as-of time.

    ``trend`` has ``as_of`` (datetime), ``currency_code`` and the four amounts in minor units
    (``metrics.trend``). A single snapshot draws as points, so the chart still says something.
    """
    if trend is None or trend.empty:
        return _empty("No snapshot history to chart.")
    codes = _currencies(trend)
    fig, axes = _grid(len(codes), header="legend")
    kinds = ("outstanding", *KINDS)
    for ax, code in zip(axes, codes, strict=True):
        part = trend[trend["currency_code"] == code].sort_values("as_of")
        x = pd.to_datetime(part["as_of"])
        for kind in kinds:
            if kind in part:
                style = "--" if kind == "outstanding" else "-"
                ax.plot(x, _major(part[kind], code), style, marker="o", markersize=3, color=COLORS[kind],
                        label=kind)
        ax.set_title(f"{code}: balances at each snapshot", fontsize=10)
        locator = AutoDateLocator(minticks=2, maxticks=5)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.tick_params(axis="x", labelsize=7)
        ax.set_ylim(bottom=0)
        _style(ax, code)
    _title_and_legend(fig, axes[0], title)
    return fig


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
