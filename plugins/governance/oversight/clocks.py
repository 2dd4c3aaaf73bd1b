"""Read the two freshness clocks from the warehouse, tolerating whatever is not there yet.

A fresh platform has no ``run_record`` table and no published tables; a dataset's table may lag
its standard (the freshness column not yet added) or publish the column masked as text. None of
that is an error for oversight: the clock is simply unknown, and the board says so.

Timestamps: ``run_record`` holds naive UTC. Departments' ``freshness_column`` values are local
time as delivered (the standards define them as 北京时间), so naive values are read in the
platform's time zone; a date counts from the start of its day.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from governance.oversight.freshness import Freshness, assess
from governance.settings import Settings, get_settings
from governance.standards.catalogue import Catalogue
from governance.standards.models import Dataset
from governance.warehouse.engine import GOVERNANCE_SCHEMA, SHARED_SCHEMA

log = logging.getLogger(__name__)


def last_publishes(connection: sa.Connection) -> dict[str, datetime]:
    """When each dataset last published successfully: rows published and a verdict other than failed."""
    if not sa.inspect(connection).has_table("run_record", schema=GOVERNANCE_SCHEMA):
        return {}
    record = sa.Table("run_record", sa.MetaData(), schema=GOVERNANCE_SCHEMA, autoload_with=connection)
    finished = sa.func.coalesce(record.c.finished_at, record.c.started_at)
    query = (sa.select(record.c.dataset_key, sa.func.max(finished))
             .where(record.c.rows_published > 0, sa.func.coalesce(record.c.verdict, "") != "failed")
             .group_by(record.c.dataset_key))
    return {key: _aware_utc(value) for key, value in connection.execute(query) if value is not None}


def newest_value(connection: sa.Connection, dataset: Dataset, timezone: str) -> tuple[datetime | None, str]:
    """The newest ``freshness_column`` value in ``shared.<department>__<dataset>`` and a note when unknown."""
    column = dataset.freshness_column
    if column is None:
        return None, "标准未指定时效字段 (freshness_column)"
    inspector = sa.inspect(connection)
    if not inspector.has_table(dataset.dag_id, schema=SHARED_SCHEMA):
        return None, "尚未发布"
    if column not in {found["name"] for found in inspector.get_columns(dataset.dag_id, schema=SHARED_SCHEMA)}:
        return None, f"发布表中没有时效字段 {column}"
    table = sa.Table(dataset.dag_id, sa.MetaData(), schema=SHARED_SCHEMA, autoload_with=connection)
    value = connection.execute(sa.select(sa.func.max(table.c[column]))).scalar()
    if value is None:
        return None, "发布表为空"
    moment = to_moment(value, timezone)
    if moment is None:
        return None, f"时效字段 {column} 的值不是时间 (已脱敏或泛化?)"
    return moment, ""


def to_moment(value: object, timezone: str) -> datetime | None:
    """A column value as an aware datetime: naive values are local time, dates start at midnight."""
    zone = ZoneInfo(timezone)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=zone)
    return None


def freshness_board(engine: sa.Engine, catalogue: Catalogue, now: datetime | None = None,
                    settings: Settings | None = None) -> list[Freshness]:
    """Every catalogue dataset's freshness at ``now`` (default: the current time), by dataset key."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    tolerance = timedelta(minutes=settings.freshness_skew_minutes)
    board = []
    with engine.connect() as connection:
        published = last_publishes(connection)
        for key in sorted(catalogue.datasets):
            dataset = catalogue.datasets[key]
            try:
                data_max, note = newest_value(connection, dataset, settings.timezone)
            except sa.exc.SQLAlchemyError as error:  # one broken table must not hide the others
                log.warning("cannot read the data clock of %s: %s", key, error)
                connection.rollback()
                data_max, note = None, f"数据时效无法读取: {type(error).__name__}"
            board.append(assess(dataset, published.get(key), data_max, now, skew_tolerance=tolerance, note=note))
    return board


def _aware_utc(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite returns text for an aggregate over a reflected column now and then
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
