"""Access figures from the sharing service's append-only ``governance.access_log``.

The log belongs to the sharing API (:mod:`governance.sharing`); oversight only reads it, by name
and through reflection, so it neither imports that package nor breaks before the first call was
ever logged: no table means zero calls. Aggregation happens in SQL (the log grows by millions of
rows a month); days are the platform's calendar days, with ``at`` stored as naive UTC.

Counting rules: every logged request is a *call*; *rows served* and *consumers* (distinct
consumer departments) count allowed requests only; *denied* (no grant, no agreement) and
*blocked* (quota or scan pattern: bulk download intercepted) are counted apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from governance.warehouse.engine import GOVERNANCE_SCHEMA, is_postgres


@dataclass
class AccessFigures:
    since: datetime
    until: datetime
    logged: bool = False  # False: the access log does not exist yet (no sharing API calls ever)
    daily: list[dict[str, Any]] = field(default_factory=list)  # per dataset and day
    datasets: list[dict[str, Any]] = field(default_factory=list)  # per catalogue dataset, over the window
    refusals_daily: list[dict[str, Any]] = field(default_factory=list)  # denied / blocked per day
    refusing_consumers: list[dict[str, Any]] = field(default_factory=list)  # who was refused most
    security_events: list[dict[str, Any]] = field(default_factory=list)  # per kind
    total_calls: int = 0

    @property
    def most_used(self) -> list[dict[str, Any]]:
        used = [row for row in self.datasets if row["calls"]]
        return sorted(used, key=lambda row: (-row["calls"], row["dataset_key"]))[:5]

    @property
    def never_used(self) -> list[str]:
        return [row["dataset_key"] for row in self.datasets if not row["calls"]]

    def as_dict(self) -> dict[str, Any]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat(), "logged": self.logged,
                "total_calls": self.total_calls, "datasets": self.datasets, "daily": self.daily,
                "most_used": self.most_used, "never_used": self.never_used, "refusals_daily": self.refusals_daily,
                "refusing_consumers": self.refusing_consumers, "security_events": self.security_events}


def access_figures(connection: sa.Connection, catalogue_keys: Iterable[str], since: datetime, until: datetime,
                   timezone: str) -> AccessFigures:
    """Calls, rows served, consumers, refusals in ``[since, until)`` (aware bounds), per dataset and day."""
    keys = sorted(catalogue_keys)
    figures = AccessFigures(since, until)
    empty = {"calls": 0, "allowed": 0, "denied": 0, "blocked": 0, "rows_served": 0, "consumers": 0}
    log = _reflect(connection, "access_log")
    if log is None:
        figures.datasets = [{"dataset_key": key, **empty} for key in keys]
        return figures
    figures.logged = True
    window = _window(log, since, until)
    day = local_day(connection, log.c.at, timezone).label("day")
    measures = _measures(log)
    daily = (sa.select(log.c.dataset_key, day, *measures).where(window, log.c.dataset_key.is_not(None))
             .group_by(log.c.dataset_key, day).order_by(day, log.c.dataset_key))
    figures.daily = [_row(row) for row in connection.execute(daily)]
    totals = {row.dataset_key: _row(row) for row in connection.execute(
        sa.select(log.c.dataset_key, *measures).where(window).group_by(log.c.dataset_key))}
    figures.datasets = [totals.get(key, {"dataset_key": key, **empty}) for key in keys]
    figures.total_calls = connection.execute(sa.select(sa.func.count()).select_from(log).where(window)).scalar() or 0
    refusals = (sa.select(day, _count(log, "denied").label("denied"), _count(log, "blocked").label("blocked"))
                .where(window, log.c.decision.in_(("denied", "blocked"))).group_by(day).order_by(day))
    figures.refusals_daily = [_row(row) for row in connection.execute(refusals)]
    consumers = (sa.select(log.c.consumer, _count(log, "denied").label("denied"),
                           _count(log, "blocked").label("blocked"))
                 .where(window, log.c.decision.in_(("denied", "blocked"))).group_by(log.c.consumer))
    figures.refusing_consumers = sorted((_row(row) for row in connection.execute(consumers)),
                                        key=lambda row: (-(row["denied"] + row["blocked"]), row["consumer"]))[:10]
    events = _reflect(connection, "security_event")
    if events is not None:
        query = (sa.select(events.c.kind, sa.func.count().label("events"))
                 .where(_window(events, since, until)).group_by(events.c.kind).order_by(events.c.kind))
        figures.security_events = [_row(row) for row in connection.execute(query)]
    return figures


def calls_between(connection: sa.Connection, since: datetime, until: datetime) -> int:
    """Every logged call in ``[since, until)``; zero when nothing was ever logged."""
    log = _reflect(connection, "access_log")
    if log is None:
        return 0
    query = sa.select(sa.func.count()).select_from(log).where(_window(log, since, until))
    return connection.execute(query).scalar() or 0


def local_day(connection: sa.Connection, column: sa.ColumnElement, timezone: str) -> sa.ColumnElement:
    """The calendar day of a naive-UTC timestamp column in ``timezone``, computed by the database.

    SQLite has no time zones: the zone's current UTC offset is applied (exact for Asia/Shanghai).
    """
    if is_postgres(connection):
        aware = column if getattr(column.type, "timezone", False) else sa.func.timezone("UTC", column)
        return sa.cast(sa.func.timezone(timezone, aware), sa.Date)
    offset = datetime.now(ZoneInfo(timezone)).utcoffset() or timedelta(0)
    return sa.func.date(column, f"{int(offset.total_seconds() // 60):+d} minutes")


def _reflect(connection: sa.Connection, name: str) -> sa.Table | None:
    if not sa.inspect(connection).has_table(name, schema=GOVERNANCE_SCHEMA):
        return None
    return sa.Table(name, sa.MetaData(), schema=GOVERNANCE_SCHEMA, autoload_with=connection)


def _window(table: sa.Table, since: datetime, until: datetime) -> sa.ColumnElement[bool]:
    aware = getattr(table.c.at.type, "timezone", False)

    def bound(moment: datetime) -> datetime:
        moment = moment.astimezone(UTC)
        return moment if aware else moment.replace(tzinfo=None)

    return sa.and_(table.c.at >= bound(since), table.c.at < bound(until))


def _count(log: sa.Table, decision: str) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((log.c.decision == decision, 1), else_=0)), 0)


def _measures(log: sa.Table) -> list[sa.ColumnElement]:
    allowed = log.c.decision == "allowed"
    return [
        sa.func.count().label("calls"),
        _count(log, "allowed").label("allowed"),
        _count(log, "denied").label("denied"),
        _count(log, "blocked").label("blocked"),
        sa.func.coalesce(sa.func.sum(sa.case((allowed, log.c.rows_returned), else_=0)), 0).label("rows_served"),
        sa.func.count(sa.distinct(sa.case((allowed, log.c.consumer)))).label("consumers"),
    ]


def _row(row: sa.Row) -> dict[str, Any]:
    values = dict(row._mapping)
    if "day" in values and not isinstance(values["day"], str):
        values["day"] = values["day"].isoformat()
    return {name: int(value) if isinstance(value, float | int | Decimal) and not isinstance(value, bool) else value
            for name, value in values.items()}
