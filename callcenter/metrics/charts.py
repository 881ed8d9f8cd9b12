"""Charts for the HTML report as inline SVG: no script, no network, viewable offline and printable.

Three shapes cover section 7's reports: a line over the hours (service level against its target Y, R-123),
a column histogram (rings and seconds to answer, R-01 / R-127, with the three-ring limit marked) and
horizontal bars of percentages (work-order SLA compliance per deadline, R-125). Each returns markup that is
safe to insert as is: every label is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 560, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 12, 24, 40
INK, GRID, ACCENT, WARN, GOOD = "#1f2937", "#e5e7eb", "#2563eb", "#dc2626", "#16a34a"
FONT = 'font-family="Noto Sans CJK SC, Noto Sans, sans-serif" font-size="11"'


def _frame(title: str, body: list[str], width: int = WIDTH, height: int = HEIGHT) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title)}" {FONT}>'
        f"<title>{escape(title)}</title>"
        f'<text x="{PAD_LEFT}" y="15" font-size="13" font-weight="bold" fill="{INK}">{escape(title)}</text>'
    )
    return Markup(head + "".join(body) + "</svg>")


def _nice_top(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above ``value``, for round gridlines."""
    if value <= 0:
        return 1.0
    scale: float = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * scale:
            return step * scale
    return 10.0 * scale


def _y_axis(top: float, unit: str, plot_h: float, plot_w: float) -> list[str]:
    out = []
    for i in range(5):
        value = top * i / 4
        y = PAD_TOP + plot_h - plot_h * i / 4
        out.append(f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{PAD_LEFT + plot_w}" y2="{y:.1f}" stroke="{GRID}"/>')
        label = f"{value:g}{unit}"
        out.append(f'<text x="{PAD_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{INK}">{escape(label)}</text>')
    return out


def line_chart(
    title: str, points: Sequence[tuple[str, float | None]], *, target: float | None = None, unit: str = "%"
) -> Markup:
    """A line over labelled points (None = no calls: a gap); ``target`` draws the goal as a dashed line."""
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    top = 100.0 if unit == "%" else _nice_top(max([v for _, v in points if v is not None] + [1.0]))
    body = _y_axis(top, unit, plot_h, plot_w)
    step = plot_w / max(len(points), 1)
    segment: list[str] = []
    segments: list[list[str]] = [segment]
    for i, (label, value) in enumerate(points):
        x = PAD_LEFT + step * (i + 0.5)
        if i % max(1, len(points) // 12) == 0:
            body.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 14}" text-anchor="middle" '
                        f'fill="{INK}">{escape(label)}</text>')
        if value is None:
            segment = []
            segments.append(segment)
            continue
        y = PAD_TOP + plot_h - plot_h * min(value, top) / top
        segment.append(f"{x:.1f},{y:.1f}")
        colour = GOOD if target is None or value >= target else WARN
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                    f"<title>{escape(label)}: {value:g}{escape(unit)}</title></circle>")
    for seg in segments:
        if len(seg) > 1:
            body.insert(0, f'<polyline points="{" ".join(seg)}" fill="none" stroke="{ACCENT}" stroke-width="2"/>')
    if target is not None:
        y = PAD_TOP + plot_h - plot_h * min(target, top) / top
        body.append(f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{PAD_LEFT + plot_w}" y2="{y:.1f}" stroke="{WARN}" '
                    f'stroke-dasharray="5,4"/>')
        body.append(f'<text x="{PAD_LEFT + plot_w}" y="{y - 4:.1f}" text-anchor="end" fill="{WARN}">'
                    f"{escape(f'target {target:g}{unit}')}</text>")
    return _frame(title, body)


def histogram(title: str, bars: Sequence[tuple[str, int]], *, limit_after: int | None = None) -> Markup:
    """Columns of counts; bars after index ``limit_after`` are drawn as breaches (past the ring limit)."""
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    top = _nice_top(max([n for _, n in bars] + [1]) * 1.1)  # headroom for the count above the tallest bar
    body = _y_axis(top, "", plot_h, plot_w)
    step = plot_w / max(len(bars), 1)
    for i, (label, count) in enumerate(bars):
        h = plot_h * count / top
        x = PAD_LEFT + step * i + step * 0.15
        colour = WARN if limit_after is not None and i > limit_after else ACCENT
        body.append(f'<rect x="{x:.1f}" y="{PAD_TOP + plot_h - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                    f'fill="{colour}"><title>{escape(label)}: {count}</title></rect>')
        body.append(f'<text x="{x + step * 0.35:.1f}" y="{PAD_TOP + plot_h - h - 3:.1f}" text-anchor="middle" '
                    f'fill="{INK}">{count}</text>')
        body.append(f'<text x="{x + step * 0.35:.1f}" y="{HEIGHT - PAD_BOTTOM + 14}" text-anchor="middle" '
                    f'fill="{INK}">{escape(label)}</text>')
    if limit_after is not None and limit_after + 1 < len(bars):
        x = PAD_LEFT + step * (limit_after + 1)
        body.append(f'<line x1="{x:.1f}" y1="{PAD_TOP}" x2="{x:.1f}" y2="{PAD_TOP + plot_h}" stroke="{WARN}" '
                    f'stroke-dasharray="4,3"/>')
        body.append(f'<text x="{x + 3:.1f}" y="{PAD_TOP + 10}" fill="{WARN}">3 rings</text>')
    return _frame(title, body)


def percent_bars(
    title: str, bars: Sequence[tuple[str, float | None]], *, target: float = 100.0, empty: str = "nothing to show"
) -> Markup:
    """Horizontal bars of percentages (None = nothing was due); bars below ``target`` are drawn as breaches."""
    row_h, label_w = 26, 150
    height = PAD_TOP + 16 + row_h * max(len(bars), 1)
    plot_w = WIDTH - label_w - PAD_RIGHT - 50
    body: list[str] = []
    if not bars:
        body.append(f'<text x="{PAD_LEFT}" y="{PAD_TOP + 20}" fill="{INK}">{escape(empty)}</text>')
    for i, (label, value) in enumerate(bars):
        y = PAD_TOP + 8 + row_h * i
        body.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" fill="{INK}">{escape(label)}</text>')
        body.append(f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{row_h - 8}" fill="{GRID}"/>')
        if value is None:
            body.append(f'<text x="{label_w + 4}" y="{y + 14}" fill="{INK}">nothing due</text>')
            continue
        colour = GOOD if value >= target else WARN
        body.append(f'<rect x="{label_w}" y="{y}" width="{plot_w * min(value, 100.0) / 100:.1f}" '
                    f'height="{row_h - 8}" fill="{colour}"/>')
        body.append(f'<text x="{label_w + plot_w + 6}" y="{y + 14}" fill="{INK}">{value:g}%</text>')
    return _frame(title, body, height=height)
