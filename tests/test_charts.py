"""Charts: one axis per currency, never two currencies on one axis, labels that carry the currency.

Frames are written by hand here (minor units), so the expected bar heights are known exactly.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest
from PIL import Image

from credit_reports.figures import charts

CURRENCIES = ["EUR", "JPY", "USD"]


def _totals() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "currency_code": CURRENCIES,
            "available": [150_000, 1_200_000, 99_999],  # EUR 1,500.00; JPY 1,200,000; USD 999.99
            "reserved": [2_500, 30_000, 1],
            "used": [40_000, 500_000, 12_345],
            "outstanding": [152_500, 1_230_000, 100_000],
            "customers_with_credit": [3, 2, 4],
            "customers": [3, 2, 5],
        }
    )


def _visible_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def _currency_in(text: str) -> list[str]:
    return [code for code in CURRENCIES if code in text]


def _assert_one_currency_per_axis(fig, expected: list[str]) -> None:
    axes = _visible_axes(fig)
    assert len(axes) == len(expected)
    seen = []
    for ax in axes:
        in_title, in_label = _currency_in(ax.get_title()), _currency_in(ax.get_ylabel())
        assert len(in_title) == 1 and in_title == in_label, (ax.get_title(), ax.get_ylabel())
        seen.append(in_title[0])
    assert seen == expected


def test_balance_bars_draw_one_axis_per_currency_in_major_units() -> None:
    fig = charts.balance_bars(_totals())
    _assert_one_currency_per_axis(fig, CURRENCIES)
    heights = {ax.get_title()[:3]: [p.get_height() for p in ax.patches] for ax in _visible_axes(fig)}
    assert heights["EUR"] == [1500.0, 25.0, 400.0]
    assert heights["JPY"] == [1_200_000.0, 30_000.0, 500_000.0]  # zero-decimal: not divided by 100
    assert heights["USD"] == [999.99, 0.01, 123.45]
    colours = {tuple(p.get_facecolor()) for ax in _visible_axes(fig) for p in ax.patches[:1]}
    assert len(colours) == 1  # available has the same colour in every panel


def test_balance_bars_label_each_bar_with_the_formatted_amount() -> None:
    fig = charts.balance_bars(_totals())
    texts = [t.get_text() for ax in _visible_axes(fig) for t in ax.texts]
    assert "€1,500.00" in texts and "¥1,200,000" in texts and "$999.99" in texts


def _cohort_frame() -> pd.DataFrame:
    # a cohort's size is the same in every currency (cohorts.cohort_totals); 2025-03 only in JPY
    return pd.DataFrame(
        {
            "cohort": ["2025-01", "2025-02", "other", "2025-01", "2025-03", "other", "2025-01"],
            "currency_code": ["EUR", "EUR", "EUR", "JPY", "JPY", "JPY", "USD"],
            "customers": [12, 15, 7, 12, 11, 7, 12],
            "customers_with_credit": [12, 15, 7, 11, 3, 2, 4],
            "available": [100, 200, 300, 4000, 4500, 5000, 600],
            "reserved": [0, 0, 0, 0, 0, 0, 0],
            "used": [1, 2, 3, 4, 5, 6, 7],
            "outstanding": [100, 200, 300, 4000, 4500, 5000, 600],
        }
    )


def _bars(ax, label: str) -> list[tuple[float, float]]:
    """(centre x, height) of each bar in the series ``label`` (one polygon collection per series)."""
    (series,) = [c for c in ax.collections if c.get_label() == label]
    out = []
    for path in series.get_paths():
        xs, ys = path.vertices[:4, 0], path.vertices[:4, 1]
        out.append((round(float(xs.mean()), 6), float(ys.max())))
    return out


def test_cohort_bars_share_one_cohort_axis_labelled_with_every_cohort_size() -> None:
    fig = charts.cohort_bars(_cohort_frame())
    _assert_one_currency_per_axis(fig, CURRENCIES)
    axes = _visible_axes(fig)
    labels = [t.get_text() for t in axes[-1].get_xticklabels()]
    # 2025-03, seen only in JPY, takes its place between 2025-02 and "other"
    assert labels == ["2025-01\n(n=12)", "2025-02\n(n=15)", "2025-03\n(n=11)", "other\n(n=7)"]
    assert all(ax.get_xlim() == axes[-1].get_xlim() for ax in axes)  # one cohort axis for every panel
    assert [len(ax.get_xticks()) for ax in axes] == [0, 0, 4]  # labelled once, under the last panel


def test_cohort_bars_keep_display_order_when_currencies_hold_different_cohorts() -> None:
    # no currency holds both 2024-12 and 2025-03: the order comes from the labels, "other" and "(...)" last
    rows = [("AUD", "2024-11"), ("AUD", "2025-03"), ("AUD", "2025-04"), ("AUD", "other"),
            ("BRL", "2024-12"), ("BRL", "2025-01"), ("BRL", "2025-05"), ("BRL", "(no customer record)"),
            ("BRL", "other")]
    frame = pd.DataFrame({"currency_code": [r[0] for r in rows], "cohort": [r[1] for r in rows],
                          "customers": 20, "available": 100, "reserved": 0, "used": 0})
    fig = charts.cohort_bars(frame)
    labels = [t.get_text().split("\n")[0] for t in _visible_axes(fig)[-1].get_xticklabels()]
    assert labels == ["2024-11", "2024-12", "2025-01", "2025-03", "2025-04", "2025-05", "(no customer record)",
                      "other"]


def test_cohort_bars_follow_the_order_cohort_totals_gives() -> None:
    # cohorts.cohort_totals puts the display order in attrs["order"]; it wins over sorting the labels
    frame = pd.DataFrame({"currency_code": ["AUD", "BRL"], "cohort": ["starter", "growth"],
                          "customers": 20, "available": 100, "reserved": 0, "used": 0})
    frame.attrs["order"] = ["starter", "growth", "enterprise"]  # enterprise: in no currency here
    labels = [t.get_text().split("\n")[0] for t in _visible_axes(charts.cohort_bars(frame))[-1].get_xticklabels()]
    assert labels == ["starter", "growth"]  # by label alone, growth would come first


def test_cohort_bars_stand_at_their_cohort_in_major_units() -> None:
    fig = charts.cohort_bars(_cohort_frame())
    eur, jpy, usd = _visible_axes(fig)
    left = -0.27  # available is the left bar of each group
    assert _bars(eur, "available") == [(left, 1.0), (1 + left, 2.0), (3 + left, 3.0)]
    assert _bars(jpy, "available") == [(left, 4000.0), (2 + left, 4500.0), (3 + left, 5000.0)]  # JPY: no cents
    assert _bars(usd, "used") == [(0.27, 0.07)]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list(charts.KINDS)


def test_heatmap_scales_each_currency_column_on_its_own() -> None:
    shares = pd.DataFrame(
        {"EUR": [0.5, 0.5], "JPY": [0.9, 0.1], "USD": [0.2, 0.8]},
        index=pd.Index(["2025-01", "2025-02"], name="cohort"),
    )
    sizes = pd.Series([10, 20], index=shares.index)
    fig = charts.cohort_heatmap(shares, sizes)
    ax = fig.axes[0]
    grid = ax.images[0].get_array()
    # each column reaches 1.0 at its own largest cohort, whatever the other currencies hold
    assert [round(float(grid[:, c].max()), 6) for c in range(3)] == [1.0, 1.0, 1.0]
    assert round(float(grid[1, 1]), 6) == round(0.1 / 0.9, 6)
    assert [t.get_text() for t in ax.get_xticklabels()] == CURRENCIES
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2025-01 (n=10)", "2025-02 (n=20)"]
    assert "90%" in [t.get_text() for t in ax.texts]


def test_waterfall_steps_add_up_within_each_currency() -> None:
    roll = pd.DataFrame(
        {
            "currency_code": ["EUR", "JPY"],
            "opening": [10_000, 50_000],
            "issued": [2_500, 7_000],
            "used": [1_000, 2_000],
            "closing": [11_500, 55_000],
        }
    )
    fig = charts.roll_forward_waterfall(roll)
    _assert_one_currency_per_axis(fig, ["EUR", "JPY"])
    eur = _visible_axes(fig)[0]
    bars = [(p.get_y(), p.get_height()) for p in eur.patches]
    assert bars == [(0.0, 100.0), (100.0, 25.0), (125.0, -10.0), (0.0, 115.0)]
    # compact amounts in the currency's own symbol that fit over four bars (the table has them exactly)
    assert [t.get_text() for t in eur.texts] == ["€100", "+€25", "-€10", "€115"]
    jpy = _visible_axes(fig)[1]
    assert [t.get_text() for t in jpy.texts] == ["¥50K", "+¥7K", "-¥2K", "¥55K"]  # yen: not divided by 100
    assert "opening + issued - used = closing" in fig._suptitle.get_text()
    fig = charts.roll_forward_waterfall(roll.assign(reversed=[0, 0], unexplained=[0, 0], evidence=True))
    assert "opening + issued - reversed - used = closing" in fig._suptitle.get_text()


def _big_amounts() -> dict[str, pd.DataFrame]:
    """Frames with the widest labels the small multiples meet: billions of won, negative movements."""
    codes = ["EUR", "JPY", "KRW", "USD"]
    big = [987_654_321_00, 9_876_543_210, 1_141_854_863_000, 55_555_555_55]
    totals = pd.DataFrame({"currency_code": codes, "available": big, "reserved": [b // 7 for b in big],
                           "used": [b // 3 for b in big]})
    roll = pd.DataFrame({"currency_code": codes, "opening": big, "issued": [-b // 9 for b in big],
                         "used": [b // 11 for b in big],
                         "closing": [b - b // 9 - b // 11 for b in big]})
    as_of = pd.to_datetime(["2024-11-01T06:00Z", "2025-11-01T06:00Z", "2026-11-01T06:00Z"], utc=True)
    trend = pd.DataFrame([{"as_of": t, "currency_code": c, "available": b * k, "reserved": b // 5, "used": b // 3,
                           "outstanding": b * k + b // 5} for k, t in enumerate(as_of, 1)
                           for c, b in zip(codes, big, strict=True)])
    return {"balance_bars": totals, "roll_forward_waterfall": roll, "trend_panels": trend}


@pytest.mark.parametrize("builder", ["balance_bars", "roll_forward_waterfall", "trend_panels"])
def test_small_multiples_keep_every_label_inside_the_figure(builder: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = getattr(charts, builder)(_big_amounts()[builder])
    assert fig.get_layout_engine() is None  # fixed margins: nothing moves labels in at draw time
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    ink = fig.get_tightbbox(canvas.get_renderer())  # everything drawn, in inches
    width, height = fig.get_size_inches()
    assert ink.x0 >= -0.01 and ink.y0 >= -0.01, ink
    assert ink.x1 <= width + 0.01 and ink.y1 <= height + 0.01, (ink, width, height)


@pytest.mark.parametrize("builder", [charts.balance_bars, charts.roll_forward_waterfall, charts.trend_panels])
def test_empty_input_gives_a_message_not_an_error(builder) -> None:
    fig = builder(pd.DataFrame(columns=["currency_code"]))
    assert any("No " in t.get_text() for ax in fig.axes for t in ax.texts)


def test_png_2x_stores_twice_the_pixels_it_displays() -> None:
    fig = charts.balance_bars(_totals())
    data, meta = charts.png_2x(fig)
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.mode == "P"  # palette: small files
    width_in, height_in = fig.get_size_inches()  # the whole figure, no trimming pass
    assert abs(image.size[0] - width_in * 2 * fig.dpi) <= 1 and abs(image.size[1] - height_in * 2 * fig.dpi) <= 1
    assert (meta["width"], meta["height"]) == (image.size[0] // 2, image.size[1] // 2)
    assert len(data) < 200_000


def test_png_2x_keeps_the_chart_colours_on_white() -> None:
    fig = charts.balance_bars(_totals())
    fig.set_facecolor((1, 1, 1, 0))  # the inline backend's transparent figure background
    dpi = fig.dpi
    image = Image.open(io.BytesIO(charts.png_2x(fig)[0])).convert("RGB")
    colours = {colour for _count, colour in image.getcolors(maxcolors=1 << 16)}
    assert (255, 255, 255) in colours and (0, 0, 0) in colours  # white page, black text
    assert fig.get_facecolor() == (1, 1, 1, 0) and fig.dpi == dpi  # the figure is left as it was
    for kind in charts.KINDS:  # flat bar colours survive the palette exactly
        hex_colour = charts.COLORS[kind].lstrip("#")
        assert tuple(int(hex_colour[i:i + 2], 16) for i in (0, 2, 4)) in colours, kind
