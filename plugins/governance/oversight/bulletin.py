"""The weekly bulletin (每周进度通报): one HTML report and one CSV of its figures per week.

A week is an ISO week, Monday to Sunday in the platform's time zone, named by its Sunday: the scheduled run
reports the last complete week before the Monday it runs, and a ``week_ending`` that is not a Sunday means the
ISO week holding that day (never the seven days ending on it, which would run Thursday to Wednesday). The HTML is the
oversight page's sections for that week; the CSV is long-format (section, scope, metric, value),
so figures can be pivoted without parsing the report. Spreadsheet programs execute cells that start
with ``= + - @`` (or a tab / carriage return) as formulas, so every *text* cell that does is
prefixed with an apostrophe; numbers stay numbers. Files are written whole, then renamed into place.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from governance.oversight.figures import Oversight, collect
from governance.oversight.page import render_page
from governance.settings import Settings, get_settings
from governance.standards.catalogue import Catalogue

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Bulletin:
    week_ending: date
    html: Path
    csv: Path
    oversight: Oversight


def last_week_ending(today: date) -> date:
    """The Sunday that ends the last complete week before ``today``."""
    return today - timedelta(days=today.isoweekday() % 7 or 7)


def week_sunday(day: date) -> date:
    """The Sunday that ends the ISO week (Monday to Sunday) holding ``day``."""
    return day + timedelta(days=7 - day.isoweekday())


def week_window(week_ending: date, timezone: str) -> tuple[datetime, datetime]:
    """``[Monday 00:00, next Monday 00:00)`` local of the ISO week holding ``week_ending``, as aware datetimes."""
    zone = ZoneInfo(timezone)
    week_ending = week_sunday(week_ending)
    start = week_ending - timedelta(days=6)
    end = week_ending + timedelta(days=1)
    return (datetime(start.year, start.month, start.day, tzinfo=zone),
            datetime(end.year, end.month, end.day, tzinfo=zone))


def write_bulletin(engine: sa.Engine, catalogue: Catalogue, week_ending: date, *, settings: Settings | None = None,
                   now: datetime | None = None, root: Path | None = None) -> Bulletin:
    """Write ``bulletin_<Sunday>.html`` and ``.csv`` for the ISO week holding ``week_ending``; return their paths.

    Quality, access and the freshness SLA cover the week; the freshness board is judged at ``now``
    (default: when the bulletin is written, Monday morning for the scheduled run), because the
    published tables only hold their current state: an older week's board cannot be rebuilt.
    """
    settings = settings or get_settings()
    week_ending = week_sunday(week_ending)
    since, until = week_window(week_ending, settings.timezone)
    now = now or datetime.now(UTC)
    oversight = collect(engine, catalogue, since, until, now=now, settings=settings)
    folder = root or settings.bulletin_root
    folder.mkdir(parents=True, exist_ok=True)
    start = (week_ending - timedelta(days=6)).isoformat()
    title = f"数据共享与治理每周进度通报 {start} 至 {week_ending.isoformat()}"
    page = render_page(oversight, title=title, json_links=False)
    html_path = _write(folder / f"bulletin_{week_ending.isoformat()}.html", page, "utf-8")
    csv_path = _write(folder / f"bulletin_{week_ending.isoformat()}.csv", figures_csv(oversight, week_ending),
                      "utf-8-sig")  # the BOM makes spreadsheet programs read the Chinese titles as UTF-8
    return Bulletin(week_ending, html_path, csv_path, oversight)


def figure_rows(oversight: Oversight) -> list[tuple[str, str, str, Any]]:
    """Every figure of the bulletin as (section, scope, metric, value)."""
    rows: list[tuple[str, str, str, Any]] = []
    for metric, value in oversight.headline.as_dict().items():
        rows.append(("headline", "platform", metric, _round(value)))
    for item in oversight.board:
        rows += [("freshness", item.dataset_key, "title_zh", item.title_zh),
                 ("freshness", item.dataset_key, "status", item.status),
                 ("freshness", item.dataset_key, "pipeline_age_h", _round(item.pipeline_age_h)),
                 ("freshness", item.dataset_key, "data_age_h", _round(item.data_age_h))]
    for card in oversight.cards:  # failed: the department's own failures; platform failures and reruns apart
        section = f"quality_{card.kind}"
        rows += [(section, card.scope, metric, _round(value)) for metric, value in (
            ("runs", card.runs), ("failed", card.failed), ("pass_rate", card.pass_rate),
            ("quarantine_rate", card.quarantine_rate), ("freshness_sla", card.freshness_sla),
            ("volume_change_pct", card.volume_change_pct), ("days_counted", card.days), ("held", card.held),
            ("platform_failures", card.platform_failures), ("reruns", card.reruns))]
        rows += [(section, card.scope, f"failed: {cause}", count) for cause, count in card.failure_causes.items()]
    rows += [("incident", row["dataset_key"], f"{row['day']} {row['outcome']}", row["cause"])
             for row in oversight.incidents]
    for row in oversight.access.datasets:
        rows += [("access", row["dataset_key"], metric, row[metric])
                 for metric in ("calls", "allowed", "denied", "blocked", "rows_served", "consumers")]
    rows += [("access", key, "never_used", 1) for key in oversight.access.never_used]
    rows += [("security", row["kind"], "events", row["events"]) for row in oversight.access.security_events]
    return rows


def figures_csv(oversight: Oversight, week_ending: date) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["week_ending", "section", "scope", "metric", "value"])
    for row in figure_rows(oversight):
        writer.writerow([safe_cell(value) for value in (week_ending.isoformat(), *row)])
    return buffer.getvalue()


def safe_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; other values pass."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def _write(path: Path, text: str, encoding: str) -> Path:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding=encoding)
    os.replace(partial, path)
    return path
