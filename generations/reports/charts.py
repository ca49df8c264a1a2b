"""Server-side SVG charts for the report pages: no JavaScript, nothing fetched at run time.

Hand-written rather than a library on purpose: the one chart we need (stacked bars,
a day per bar, a colour per model) is ~80 lines, and pygal, the obvious library,
embeds a tooltip script from a CDN by default, which the page must not load.
Every text in the SVG goes through `escape`.
"""

from __future__ import annotations

from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

# Colour-blind-safe (Okabe-Ito, without its black: the page is dark), then greys for a
# long tail of models. Text and gridlines use currentColor, so the chart follows the page.
PALETTE = [
    "#56B4E9",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#F0E442",
    "#D55E00",
    "#0072B2",
    "#DDDDDD",
    "#AAAAAA",
    "#888888",
    "#666666",
    "#444444",
]

WIDTH, HEIGHT = 900, 320
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 48


def _ticks(peak: int) -> list[int]:
    """Four or five round gridline values from 0 to at least `peak`."""
    step = 1
    while peak / step > 5:
        step = step * 5 // 2 if str(step)[0] == "2" else step * 2
    return list(range(0, peak + step, step))


def stacked_bars(
    days: list[date], series: dict[str, list[int]], *, title: str, empty: str = ""
) -> SafeString:
    """Stacked bars, one per day, one colour per series, with a legend below; `empty` is
    said when there is nothing to draw."""
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(series))}
    totals = [sum(values[i] for values in series.values()) for i in range(len(days))]
    ticks = _ticks(max(totals, default=0) or 1)
    legend_rows = (len(colours) + 2) // 3
    height = HEIGHT + legend_rows * 18
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    scale = plot_h / ticks[-1]
    slot = plot_w / max(len(days), 1)
    bar = max(1.0, slot * 0.7)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-labelledby="chart-title" class="chart" '
        f'font-family="system-ui, sans-serif" font-size="11">',
        f'<title id="chart-title">{escape(title)}</title>',
    ]
    for tick in ticks:
        y = TOP + plot_h - tick * scale
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="currentColor" stroke-opacity=".15"/><text x="{LEFT - 6}" '
            f'y="{y + 4:.1f}" text-anchor="end" fill="currentColor" '
            f'fill-opacity=".7">{tick}</text>'
        )
    label_every = max(1, len(days) // 12)
    for i, day in enumerate(days):
        x = LEFT + i * slot + (slot - bar) / 2
        y = TOP + plot_h
        for name in sorted(series):
            value = series[name][i]
            if not value:
                continue
            h = value * scale
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colours[name]}"><title>{escape(day.isoformat())} '
                f"{escape(name)}: {value}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{TOP + plot_h + 16}" '
                f'text-anchor="middle" fill="currentColor" fill-opacity=".7">'
                f"{day:%m-%d}</text>"
            )
    for i, (name, colour) in enumerate(colours.items()):
        lx = LEFT + (i % 3) * (plot_w / 3)
        ly = HEIGHT - 8 + (i // 3) * 18
        parts.append(
            f'<rect x="{lx:.1f}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14:.1f}" y="{ly}" fill="currentColor">{escape(name)}</text>'
        )
    if not series:
        # Translated outside the f-string: xgettext does not look inside one.
        empty = empty or _("No images in this range")
        parts.append(
            f'<text x="{WIDTH / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" '
            f'fill="currentColor" fill-opacity=".6" font-size="14">'
            f"{escape(empty)}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above went through escape()
