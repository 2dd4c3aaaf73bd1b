"""The oversight page (and the sections the weekly bulletin reuses), as one self-contained HTML document.

Rendered from the Jinja2 templates beside this module (``templates/``, autoescape on: every department and
dataset name is escaped). No script, no external style sheet, no font or chart library: the Airflow UI shows
the page in an iframe on a closed network, and the bulletin is mailed around as a file. The one inline style
block is ``STYLE``, allowed by its hash in the Content-Security-Policy (``webapp.headers``). Each dataset on
the freshness board is one element with ``data-dataset`` and ``data-status``, for people and tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from governance.fonts import CJK_FONT_FAMILY
from governance.oversight import charts
from governance.oversight.figures import Oversight
from governance.oversight.freshness import LABELS_ZH, STATUSES
from governance.oversight.scorecards import OUTCOME_ZH, Scorecard

TEMPLATES = Path(__file__).with_name("templates")
COLOURS = {"fresh": "#2f855a", "warn": "#b7791f", "skewed": "#6b46c1", "stale": "#c53030", "never-loaded": "#718096"}
STYLE = ("body{font-family:" + CJK_FONT_FAMILY + "}\n" + (TEMPLATES / "oversight.css").read_text(encoding="utf-8")
         + "".join(f".status-{status}{{--status:{colour}}}" for status, colour in COLOURS.items()))
CYCLES_ZH = {"daily": "每日", "weekly": "每周", "monthly": "每月"}
VERDICTS_ZH = {"passed": "通过", "passed_with_quarantine": "通过(部分隔离)", "held_for_confirmation": "待部门确认",
               "failed": "失败"}
DECISIONS = (("denied", "拒绝(无授权或协议)", "#d55e00"), ("blocked", "拦截(限流或批量下载)", "#7b3294"))


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def signed_pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f}%"


def minutes(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} min" if value < 120 else hours(value / 60)


def hours(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} h" if abs(value) < 72 else f"{value / 24:.1f} d"


def hours_zh(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} 小时" if abs(value) < 72 else f"{value / 24:.1f} 天"


def minutes_zh(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} 分钟" if value < 120 else hours_zh(value / 60)


def breakable(key: str) -> list[str]:
    """A key cut after each ``/`` and ``_``: the template puts a ``<wbr>`` there, so it never breaks mid-word."""
    parts, current = [], ""
    for char in key:
        current += char
        if char in "/_":
            parts.append(current)
            current = ""
    return [*parts, current] if current else parts


_ENVIRONMENT = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                  undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_ENVIRONMENT.filters.update(pct=pct, signed_pct=signed_pct, hours=hours_zh, minutes=minutes_zh, breakable=breakable)


def quality_charts(oversight: Oversight) -> dict[str, Any]:
    """Pass rate per department as small multiples (they sit on top of each other at 100%), quarantine rate as
    one chart with every department; counted runs only, so the platform's failures and reruns do not show."""
    names = oversight.names
    passing = {names.get(key, key): [(day["day"], day["pass_rate"]) for day in days]
               for key, days in oversight.trend.items()}
    quarantined = {names.get(key, key): [(day["day"], day["quarantine_rate"]) for day in days]
                   for key, days in oversight.trend.items()}
    peak = max((value for points in quarantined.values() for _, value in points if value), default=0.0)
    return {
        "passing": charts.small_multiples(passing, y_title="通过率 (%)",
                                          tip=lambda name, day, value: f"{name} {day} 通过率 {value:.0%}"),
        "quarantine": charts.lines(quarantined, title="各部门数据隔离率(隔离行数 / 接收行数)", y_title="隔离率 (%)",
                                   y_max=max(peak * 1.2, 0.01), y_label=lambda value: f"{value:.1%}",
                                   tip=lambda name, day, value: f"{name} {day} 隔离率 {value:.2%}"),
    }


def access_charts(oversight: Oversight) -> list[Any]:
    access, names = oversight.access, oversight.names
    if not access.logged:
        return []
    rows = sorted((row for row in access.datasets if row["calls"]), key=lambda row: -row["calls"])
    return [
        charts.hbars([(names.get(row["dataset_key"], row["dataset_key"]), row["calls"]) for row in rows],
                     title="各数据集调用次数", x_title="调用次数 (次)"),
        charts.hbars([(names.get(row["dataset_key"], row["dataset_key"]), row["rows_served"]) for row in rows],
                     title="各数据集返回行数", x_title="返回行数 (行)", colour=charts.PALETTE[2]),
        charts.stacked_columns([(row["day"], row) for row in access.refusals_daily], DECISIONS,
                               title="每日被拒绝与被拦截的请求", y_title="请求数 (次)"),
    ]


def sorted_cards(cards: list[Scorecard]) -> list[Scorecard]:
    return sorted(cards, key=lambda card: (card.kind != "department", card.department, card.scope))


def scorecard_table(cards: list[Scorecard], names: dict[str, str] | None = None) -> str:
    """The scorecards alone (the dataset table and the department cards), as the page shows them."""
    return _ENVIRONMENT.get_template("_scorecards.html").render(
        cards=sorted_cards(cards), names=names or {}, verdicts=VERDICTS_ZH)


def render_page(oversight: Oversight, title: str = "数据治理监管", *, json_links: bool = True,
                nav: Sequence[tuple[str, str, bool]] = ()) -> str:
    """The whole document; ``json_links`` points at the JSON endpoints beside the page (not in a bulletin);
    ``nav``: the console's entries (label, address, current) when the page is served in the console."""
    zone = ZoneInfo(oversight.timezone)

    def local(moment: datetime | None, fallback: str = "从未") -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else fallback

    return _ENVIRONMENT.get_template("oversight.html").render(
        title=title, style=STYLE, oversight=oversight, json_links=json_links, nav=nav, local=local,
        names=oversight.names, cards=sorted_cards(oversight.cards), quality=quality_charts(oversight),
        access_charts=access_charts(oversight), statuses=STATUSES, status_zh=LABELS_ZH, cycles=CYCLES_ZH,
        verdicts=VERDICTS_ZH, outcomes=OUTCOME_ZH, colours=COLOURS)


def render_message(title: str, message: str, *, details: list[str] | None = None, retry: bool = False) -> str:
    """A page that says in Chinese what could not be shown and whether trying again can help."""
    return _ENVIRONMENT.get_template("message.html").render(title=title, style=STYLE, message=message,
                                                            details=details or [], retry=retry)
