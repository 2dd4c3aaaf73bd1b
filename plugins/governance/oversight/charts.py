"""Chart geometry for server-rendered SVG: the page works on a closed network with no script or CDN.

This module only computes numbers and labels; ``templates/_charts.html`` draws them with autoescaping, so a
department's or dataset's name never reaches the SVG unescaped. Three shapes cover the oversight page and the
bulletin: lines over business dates (quality per department), horizontal bars (volume per dataset) and
stacked columns over days (refused requests).

Every line chart is readable in black and white and where lines overlap: each series has its own colour
(Okabe-Ito, safe for colour-blind readers), marker shape, dash pattern and line width (wider first, so a line
drawn over another leaves the one below showing at its edges), and a small sideways offset of its own.
Axes carry a title with the unit, the x axis several date ticks, and every point a ``<title>`` tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#7b3294", "#333333")
DASHES = ("", "7 3", "2 3", "9 3 2 3", "4 4", "1 3", "12 4", "5 2 1 2")
MARKERS = ("circle", "square", "triangle", "diamond", "cross", "triangle-down", "plus", "hexagon")
WIDTH = 720
CHAR_W, CJK_W = 6.6, 12.0  # width of a character at the charts' 12px font, Latin and CJK


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    tip: str
    marker: str  # the marker's SVG path


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    dash: str
    marker: str  # the legend's marker (SVG path)
    width: float
    paths: list[str]  # polyline point lists; a missing value breaks the line
    points: list[Point]
    legend_x: float
    legend_y: float


@dataclass(frozen=True)
class Plot:
    """A chart with two axes: its size, the plot area inside the margins and the ticks on each axis."""

    title: str
    x_title: str
    y_title: str
    width: int
    height: int
    left: float
    top: float
    plot_w: float
    plot_h: float
    x_ticks: list[Tick]
    y_ticks: list[Tick]


@dataclass(frozen=True)
class LineChart(Plot):
    series: list[Series]
    empty: str = ""
    kind: str = "lines"
    show_legend: bool = True


@dataclass(frozen=True)
class Bar:
    label: str
    full: str
    y: float
    length: float
    value: str


@dataclass(frozen=True)
class BarChart:
    title: str
    x_title: str
    width: int
    height: int
    left: float
    bar_h: float
    colour: str
    bars: list[Bar]
    empty: str = ""
    kind: str = "bars"


@dataclass(frozen=True)
class Column:
    x: float
    y: float
    w: float
    h: float
    colour: str
    tip: str


@dataclass(frozen=True)
class ColumnChart(Plot):
    columns: list[Column]
    legend: list[tuple[str, str]] = field(default_factory=list)  # (label, colour)
    empty: str = ""
    kind: str = "columns"


def text_width(text: str) -> float:
    """Rough rendered width: CJK characters are about twice as wide as Latin ones."""
    return sum(CJK_W if ord(char) > 0x2E80 else CHAR_W for char in text)


def fit(text: str, room: float) -> str:
    """``text`` shortened with an ellipsis to fit ``room`` pixels (the full text stays in the tooltip)."""
    if text_width(text) <= room:
        return text
    while text and text_width(text + "…") > room:
        text = text[:-1]
    return text + "…"


def marker_path(shape: str, x: float, y: float, r: float = 4.5) -> str:
    """An SVG path for one marker centred on (x, y)."""
    if shape == "circle":
        return f"M{x - r:.1f},{y:.1f}a{r},{r} 0 1,0 {2 * r},0a{r},{r} 0 1,0 {-2 * r},0Z"
    if shape == "square":
        s = r * 0.85
        return f"M{x - s:.1f},{y - s:.1f}h{2 * s:.1f}v{2 * s:.1f}h{-2 * s:.1f}Z"
    if shape in ("triangle", "triangle-down"):
        d = 1 if shape == "triangle" else -1
        return f"M{x:.1f},{y - d * r:.1f}L{x + r:.1f},{y + d * r * 0.8:.1f}L{x - r:.1f},{y + d * r * 0.8:.1f}Z"
    if shape == "diamond":
        return f"M{x:.1f},{y - r:.1f}L{x + r:.1f},{y:.1f}L{x:.1f},{y + r:.1f}L{x - r:.1f},{y:.1f}Z"
    if shape in ("cross", "plus"):
        a = r * 0.35  # half the arm's thickness; the cross is the plus turned by 45 degrees
        outline = [(-a, -r), (a, -r), (a, -a), (r, -a), (r, a), (a, a), (a, r), (-a, r), (-a, a), (-r, a),
                   (-r, -a), (-a, -a)]
        turn = math.pi / 4 if shape == "cross" else 0.0
        return _polygon([(px * math.cos(turn) - py * math.sin(turn), px * math.sin(turn) + py * math.cos(turn))
                         for px, py in outline], x, y)
    return _polygon([(r * math.cos(math.pi / 3 * k), r * math.sin(math.pi / 3 * k)) for k in range(6)], x, y)


def _polygon(corners: Sequence[tuple[float, float]], x: float, y: float) -> str:
    return "M" + "L".join(f"{x + px:.1f},{y + py:.1f}" for px, py in corners) + "Z"


def date_ticks(first: date, last: date, most: int = 8) -> list[date]:
    """Evenly spaced dates from ``first`` to ``last`` (both included when they fit), at most ``most``."""
    span = (last - first).days
    step = max(1, math.ceil(span / (most - 1))) if span else 1
    ticks = [first + timedelta(days=offset) for offset in range(0, span + 1, step)]
    if ticks[-1] != last and (last - ticks[-1]).days > step * 0.75:
        ticks.append(last)
    elif ticks[-1] != last:
        ticks[-1] = last
    return ticks


def lines(series: Mapping[str, Sequence[tuple[str, float | None]]], *, title: str, y_title: str,
          x_title: str = "业务日期", y_max: float = 1.0, y_label: Callable[[float], str] = lambda v: f"{v:.0%}",
          tip: Callable[[str, str, float], str] | None = None, width: int = WIDTH, plot_h: float = 200.0,
          span: tuple[date, date] | None = None, styles: Mapping[str, int] | None = None,
          legend: bool = True) -> LineChart:
    """One line per series over business dates (ISO ``YYYY-MM-DD``); ``None`` values break the line.

    Dates sit on a continuous axis from ``span`` (default: the first to the last date with a value), so a day
    without runs leaves a gap instead of squeezing the line. ``styles`` fixes a series' colour, marker and dash
    (its index), so small multiples keep each department's look from the overlaid chart.
    """
    days = sorted({date.fromisoformat(x) for points in series.values() for x, _ in points})
    names = sorted(series)
    styles = styles or {name: index for index, name in enumerate(names)}
    legend_columns = max(1, int((width - 60) // 230))
    legend_rows = math.ceil(len(names) / legend_columns) if legend else 0
    left, right, top = 58.0, 20.0, 14.0
    plot_w = width - left - right
    height = int(top + plot_h + 44 + 22 * legend_rows + 6)
    y_ticks = [Tick(top + plot_h * (1 - k / 4), y_label(y_max * k / 4)) for k in range(5)]
    if not days:
        return LineChart(title, x_title, y_title, width, 60, left, top, plot_w, 0, [], [], [],
                         empty="窗口内没有计入的运行")
    first, last = span or (days[0], days[-1])
    length = max((last - first).days, 1)

    def x_of(day: date) -> float:
        return left + (plot_w * (day - first).days / length if last > first else plot_w / 2)

    def y_of(value: float) -> float:
        return top + plot_h * (1 - min(max(value / y_max, 0.0), 1.0))

    x_ticks = [Tick(x_of(day), day.isoformat() if index == 0 else day.strftime("%m-%d"))
               for index, day in enumerate(date_ticks(first, last, most=max(4, int(plot_w // 64))))]
    spread = min(3.0, plot_w / length / (len(names) + 1))  # the sideways offset between neighbouring series
    drawn = []
    for order, name in enumerate(names):
        index = styles.get(name, order)
        offset = (order - (len(names) - 1) / 2) * spread
        marker = MARKERS[index % len(MARKERS)]
        paths: list[list[str]] = [[]]
        points = []
        for x, value in sorted(series[name], key=lambda point: point[0]):
            if value is None:
                paths.append([])
                continue
            px, py = x_of(date.fromisoformat(x)) + offset, y_of(value)
            paths[-1].append(f"{px:.1f},{py:.1f}")
            points.append(Point(px, py, tip(name, x, value) if tip else f"{name} {x}: {y_label(value)}",
                                marker_path(marker, px, py)))
        legend_x, legend_y = left + (order % legend_columns) * 230, top + plot_h + 48 + 22 * (order // legend_columns)
        drawn.append(Series(
            name=name, colour=PALETTE[index % len(PALETTE)], dash=DASHES[index % len(DASHES)],
            marker=marker_path(marker, legend_x + 15, legend_y), width=max(4.0 - 0.6 * order, 1.6),
            paths=[" ".join(path) for path in paths if path], points=points, legend_x=legend_x,
            legend_y=legend_y))
    return LineChart(title, x_title, y_title, width, height, left, top, plot_w, plot_h, x_ticks, y_ticks, drawn,
                     show_legend=legend)


def small_multiples(series: Mapping[str, Sequence[tuple[str, float | None]]], *, width: int = 350,
                    **options: Any) -> list[LineChart]:
    """One small chart per series on the same date span and scale: lines that would lie on top of each other
    (every department at 100%) each get their own panel, titled with the series' name."""
    days = sorted({date.fromisoformat(x) for points in series.values() for x, _ in points})
    if not days:
        return []
    styles = {name: index for index, name in enumerate(sorted(series))}
    return [lines({name: series[name]}, title=name, width=width, plot_h=120.0, span=(days[0], days[-1]),
                  styles=styles, legend=False, **options) for name in sorted(series)]


def hbars(rows: Sequence[tuple[str, float]], *, title: str, x_title: str,
          label: Callable[[float], str] = lambda v: f"{v:,.0f}", width: int = WIDTH,
          colour: str = PALETTE[0]) -> BarChart:
    """One bar per (label, value), scaled to the largest value; labels that do not fit end in an ellipsis."""
    if not rows:
        return BarChart(title, x_title, width, 60, 0, 0, colour, [], empty="窗口内没有数据")
    left = min(max(text_width(name) for name, _ in rows) + 16, width * 0.4)
    right, row_h = 90.0, 24.0
    top = max((value for _, value in rows), default=0) or 1
    bars = [Bar(fit(name, left - 12), name, 6 + index * row_h, (width - left - right) * value / top, label(value))
            for index, (name, value) in enumerate(rows)]
    return BarChart(title, x_title, width, int(row_h * len(rows) + 40), left, row_h - 8, colour, bars)


def stacked_columns(days: Sequence[tuple[str, Mapping[str, float]]], keys: Sequence[tuple[str, str, str]], *,
                    title: str, y_title: str, x_title: str = "日期", width: int = WIDTH) -> ColumnChart:
    """Per day (ISO date), one column stacking ``keys``: (key in the values, label, colour)."""
    legend = [(label, colour) for _, label, colour in keys]
    if not days:
        return ColumnChart(title, x_title, y_title, width, 60, 0, 0, 0, 0, [], [], [], legend,
                           empty="窗口内没有被拒绝或拦截的请求")
    left, right, top = 58.0, 20.0, 14.0
    plot_w, plot_h = width - left - right, 150.0
    first, last = date.fromisoformat(days[0][0]), date.fromisoformat(days[-1][0])
    span = (last - first).days + 1
    slot = plot_w / span
    bar = max(min(slot * 0.7, 28), 2)
    peak = max(sum(values.get(key, 0) for key, _, _ in keys) for _, values in days) or 1
    columns = []
    for day, values in days:
        x = left + (date.fromisoformat(day) - first).days * slot + (slot - bar) / 2
        base = top + plot_h
        for key, label, colour in keys:
            h = plot_h * values.get(key, 0) / peak
            if h:
                base -= h
                columns.append(Column(x, base, bar, h, colour, f"{day} {label}: {values.get(key, 0):,.0f}"))
    x_ticks = [Tick(left + ((day - first).days + 0.5) * slot, day.isoformat() if index == 0 else day.strftime("%m-%d"))
               for index, day in enumerate(date_ticks(first, last))]
    y_ticks = [Tick(top + plot_h * (1 - k / 2), f"{peak * k / 2:,.0f}") for k in range(3)]
    return ColumnChart(title, x_title, y_title, width, int(top + plot_h + 70), left, top, plot_w, plot_h,
                       x_ticks, y_ticks, columns, legend)
