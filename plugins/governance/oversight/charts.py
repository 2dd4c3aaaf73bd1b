"""Server-rendered SVG charts: the page works on a closed network with no script or CDN.

Three shapes are enough for the oversight page and the bulletin: horizontal bars (volume per
dataset), lines over days (quality trend per department) and stacked columns over days (refused
requests). Every label is escaped; numbers are formatted by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
FONT = "font-family='sans-serif' font-size='11'"


def empty(message: str, width: int = 640) -> str:
    return (f"<svg class='chart empty' role='img' width='{width}' height='40' viewBox='0 0 {width} 40'>"
            f"<text x='8' y='24' {FONT} fill='#666'>{escape(message)}</text></svg>")


def hbars(rows: Sequence[tuple[str, float]], *, label: Callable[[float], str] = lambda v: f"{v:,.0f}",
          width: int = 640, title: str = "", colour: str = PALETTE[0]) -> str:
    """One bar per (label, value); bars scale to the largest value."""
    if not rows:
        return empty("no data")
    row_h, right = 20, 80
    left = min(12 + 6.4 * max(len(name) for name, _ in rows), width // 2)  # room for the longest label
    top = max((value for _, value in rows), default=0) or 1
    height = row_h * len(rows) + 8
    parts = [f"<svg class='chart hbars' role='img' aria-label='{escape(title)}' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}'>"]
    for index, (name, value) in enumerate(rows):
        y = 4 + index * row_h
        length = (width - left - right) * (value / top)
        parts.append(f"<text x='{left - 6}' y='{y + 13}' text-anchor='end' {FONT}>{escape(name)}</text>"
                     f"<rect x='{left}' y='{y + 2}' width='{length:.1f}' height='{row_h - 6}' fill='{colour}'>"
                     f"<title>{escape(name)}: {escape(label(value))}</title></rect>"
                     f"<text x='{left + length + 4:.1f}' y='{y + 13}' {FONT}>{escape(label(value))}</text>")
    parts.append("</svg>")
    return "".join(parts)


def lines(series: Mapping[str, Sequence[tuple[str, float | None]]], *, y_max: float = 1.0,
          y_label: Callable[[float], str] = lambda v: f"{v:.0%}", width: int = 640, height: int = 220,
          title: str = "") -> str:
    """One line per series over shared x labels (days); ``None`` values break the line."""
    xs = sorted({x for points in series.values() for x, _ in points})
    if not xs:
        return empty("no runs in the window")
    left, right, top, bottom = 44, 150, 10, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(xs) - 1, 1)
    position = {x: left + index * step for index, x in enumerate(xs)}

    def y_of(value: float) -> float:
        return top + plot_h * (1 - min(max(value / y_max, 0), 1))

    parts = [f"<svg class='chart lines' role='img' aria-label='{escape(title)}' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}'>"]
    for fraction in (0, 0.5, 1):
        y, tick = y_of(fraction * y_max), y_label(fraction * y_max)
        parts.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{y:.1f}' y2='{y:.1f}' stroke='#ddd'/>"
                     f"<text x='{left - 4}' y='{y + 4:.1f}' text-anchor='end' {FONT}>{escape(tick)}</text>")
    for x in (xs[0], xs[-1]) if len(xs) > 1 else (xs[0],):
        parts.append(f"<text x='{position[x]:.1f}' y='{height - 10}' text-anchor='middle' {FONT}>{escape(x)}</text>")
    for index, (name, points) in enumerate(sorted(series.items())):
        colour = PALETTE[index % len(PALETTE)]
        segments: list[list[str]] = [[]]
        for x, value in sorted(points, key=lambda point: point[0]):
            if value is None:
                segments.append([])
            else:
                segments[-1].append(f"{position[x]:.1f},{y_of(value):.1f}")
        for segment in filter(None, segments):
            parts.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{' '.join(segment)}'/>")
            parts.extend(f"<circle cx='{point.split(',')[0]}' cy='{point.split(',')[1]}' r='2.5' fill='{colour}'/>"
                         for point in segment)
        legend_y = top + 14 * index + 8
        parts.append(f"<rect x='{left + plot_w + 12}' y='{legend_y - 8}' width='10' height='10' fill='{colour}'/>"
                     f"<text x='{left + plot_w + 26}' y='{legend_y + 1}' {FONT}>{escape(name)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def stacked_columns(days: Sequence[tuple[str, Mapping[str, float]]], keys: Sequence[str], *,
                    colours: Sequence[str] = ("#ff7f0e", "#d62728"), width: int = 640, height: int = 180,
                    title: str = "") -> str:
    """Per day, one column stacking ``keys`` (e.g. denied, blocked)."""
    if not days:
        return empty("no refused requests in the window")
    left, right, top, bottom = 44, 110, 10, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(sum(values.get(key, 0) for key in keys) for _, values in days) or 1
    slot = plot_w / len(days)
    bar = max(min(slot * 0.7, 28), 2)
    parts = [f"<svg class='chart columns' role='img' aria-label='{escape(title)}' width='{width}' "
             f"height='{height}' viewBox='0 0 {width} {height}'>",
             f"<text x='{left - 4}' y='{top + 8}' text-anchor='end' {FONT}>{peak:,.0f}</text>",
             f"<line x1='{left}' x2='{left + plot_w}' y1='{top + plot_h}' y2='{top + plot_h}' stroke='#999'/>"]
    for index, (day, values) in enumerate(days):
        x, base = left + index * slot + (slot - bar) / 2, top + plot_h
        for key, colour in zip(keys, colours, strict=False):
            h = plot_h * values.get(key, 0) / peak
            if h:
                base -= h
                parts.append(f"<rect x='{x:.1f}' y='{base:.1f}' width='{bar:.1f}' height='{h:.1f}' fill='{colour}'>"
                             f"<title>{escape(day)} {escape(key)}: {values.get(key, 0):,.0f}</title></rect>")
    for day in {days[0][0], days[-1][0]}:
        index = next(i for i, (d, _) in enumerate(days) if d == day)
        parts.append(f"<text x='{left + (index + 0.5) * slot:.1f}' y='{height - 10}' text-anchor='middle' {FONT}>"
                     f"{escape(day)}</text>")
    for index, (key, colour) in enumerate(zip(keys, colours, strict=False)):
        parts.append(f"<rect x='{left + plot_w + 12}' y='{top + 14 * index}' width='10' height='10' fill='{colour}'/>"
                     f"<text x='{left + plot_w + 26}' y='{top + 14 * index + 9}' {FONT}>{escape(key)}</text>")
    parts.append("</svg>")
    return "".join(parts)
