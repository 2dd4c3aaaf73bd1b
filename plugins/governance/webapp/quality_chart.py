"""The dataset page's chart: the share of rows each rule quarantined, per business date, drawn on the server.

Geometry only (the SVG itself is the template's, escaped like the rest): every day of the window has its place
on the x axis, so a missing night shows as a gap, not as a shorter line; rules are told apart by colour and
listed in a legend, and every point carries its figures in a ``<title>`` (a tooltip without script).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

PALETTE = ("#017cee", "#e11d48", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d")
WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 48


@dataclass
class Series:
    rule: str
    label: str
    colour: str
    css: str
    points: list[tuple[float, float, str]] = field(default_factory=list)  # x, y, tooltip

    @property
    def path(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in self.points)


@dataclass
class Chart:
    width: int
    height: int
    series: list[Series]
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    plot: tuple[float, float, float, float]  # left, top, right, bottom


def quality_chart(runs: list[dict[str, Any]], labels: dict[str, str], since: date, until: date) -> Chart | None:
    """``runs``: one per business date (``quality_series``); ``labels``: rule -> Chinese label. None: no data."""
    shares: dict[str, dict[date, float]] = {}
    for run in runs:
        received = run.get("rows_received") or 0
        for rule, count in (run.get("quarantined_by_rule") or {}).items():
            if received:
                shares.setdefault(rule, {})[run["logical_date"]] = 100 * count / received
    if not shares:
        return None
    days = max((until - since).days, 1)
    top = max(max(values.values()) for values in shares.values())
    ceiling = next(step for step in (1, 2, 5, 10, 20, 25, 50, 100) if step >= top)
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM

    def x(day: date) -> float:
        return LEFT + (right - LEFT) * (day - since).days / days

    def y(share: float) -> float:
        return bottom - (bottom - TOP) * share / ceiling

    ranked = sorted(shares, key=lambda rule: (-max(shares[rule].values()), rule))[:len(PALETTE)]
    series = []
    for index, rule in enumerate(ranked):
        line = Series(rule, labels.get(rule, rule), PALETTE[index], f"c{index}")
        line.points = [(x(day), y(share), f"{day.isoformat()} {labels.get(rule, rule)}: {share:.2f}%")
                       for day, share in sorted(shares[rule].items())]
        series.append(line)
    step = max(1, round(days / 6))
    x_ticks = [(x(since + timedelta(days=offset)), (since + timedelta(days=offset)).strftime("%m-%d"))
               for offset in range(0, days + 1, step)]
    y_ticks = [(y(ceiling * fraction / 4), f"{ceiling * fraction / 4:g}%") for fraction in range(5)]
    return Chart(WIDTH, HEIGHT, series, x_ticks, y_ticks, (LEFT, TOP, right, bottom))
