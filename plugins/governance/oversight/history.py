"""``governance.freshness_history``: every hourly check, and the memory that makes alerts fire once.

Each check appends one row per dataset. The row's ``notified`` flag says whether the people on call
know this status: true when nothing changed or the alert about the change was delivered, false
when delivery failed. The next check compares with the last *notified* status, so a transition is
announced once when delivery works, and announced again next hour when it did not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from governance.oversight.freshness import ALERTING, FRESH, Freshness
from governance.warehouse.engine import GOVERNANCE_SCHEMA, write_transaction
from governance.warehouse.migrate import ensure_schema

metadata = sa.MetaData(schema=GOVERNANCE_SCHEMA)

freshness_history = sa.Table(
    "freshness_history", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("checked_at", sa.DateTime(), nullable=False, comment="naive UTC"),
    sa.Column("dataset_key", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("pipeline_age_h", sa.Float()),
    sa.Column("data_age_h", sa.Float()),
    sa.Column("notified", sa.Boolean(), nullable=False, server_default=sa.true(),
              comment="false when this status changed and the alert could not be delivered"),
    sa.Index("ix_freshness_history_dataset", "dataset_key", "checked_at"),
    sa.Index("ix_freshness_history_checked", "checked_at"),
    comment="数据时效性检查记录(每小时)",
)


@dataclass(frozen=True)
class Transition:
    """A dataset's status changed since the last status people were told about."""

    dataset_key: str
    before: str | None
    after: str
    freshness: Freshness

    @property
    def recovery(self) -> bool:
        return self.after == FRESH


def ensure_history_table(engine: sa.Engine) -> None:
    """The ``governance`` schema, this table included, at head (:mod:`governance.warehouse.migrate`)."""
    ensure_schema(engine)


def last_notified(connection: sa.Connection) -> dict[str, str]:
    """Each dataset's most recent status that was announced (or needed no announcement)."""
    if not sa.inspect(connection).has_table(freshness_history.name, schema=GOVERNANCE_SCHEMA):
        return {}
    table = freshness_history
    rank = sa.func.row_number().over(partition_by=table.c.dataset_key,
                                     order_by=[table.c.checked_at.desc(), table.c.id.desc()]).label("rank")
    ranked = sa.select(table.c.dataset_key, table.c.status, rank).where(table.c.notified.is_(True)).subquery()
    query = sa.select(ranked.c.dataset_key, ranked.c.status).where(ranked.c.rank == 1)
    return {key: status for key, status in connection.execute(query)}


def transitions(board: Iterable[Freshness], previous: dict[str, str]) -> list[Transition]:
    """Changes worth a message: into warn/skewed/stale/never-loaded, and back to fresh from those.

    A dataset seen for the first time alerts only when it is not fresh (fresh is no news).
    """
    changes = []
    for item in board:
        before = previous.get(item.dataset_key)
        if item.status == before:
            continue
        if item.status in ALERTING or (item.status == FRESH and before in ALERTING):
            changes.append(Transition(item.dataset_key, before, item.status, item))
    return changes


def record_checks(engine: sa.Engine, board: Sequence[Freshness], undelivered: Iterable[str] = ()) -> int:
    """Append one row per dataset; ``undelivered`` names datasets whose alert could not be sent."""
    failed = set(undelivered)
    rows = [{"checked_at": _naive_utc(item.checked_at), "dataset_key": item.dataset_key, "status": item.status,
             "pipeline_age_h": item.pipeline_age_h, "data_age_h": item.data_age_h,
             "notified": item.dataset_key not in failed} for item in board]
    ensure_history_table(engine)
    if rows:
        with write_transaction(engine) as connection:
            connection.execute(sa.insert(freshness_history), rows)
    return len(rows)


def load_checks(connection: sa.Connection, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
    """Checks in ``[since, until)`` (aware or naive-UTC bounds), oldest first; empty without the table."""
    if not sa.inspect(connection).has_table(freshness_history.name, schema=GOVERNANCE_SCHEMA):
        return []
    table = freshness_history
    query = sa.select(table.c.checked_at, table.c.dataset_key, table.c.status, table.c.pipeline_age_h,
                      table.c.data_age_h).where(table.c.checked_at >= _naive_utc(since))
    if until is not None:
        query = query.where(table.c.checked_at < _naive_utc(until))
    return [dict(row._mapping) for row in connection.execute(query.order_by(table.c.checked_at, table.c.id))]


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
