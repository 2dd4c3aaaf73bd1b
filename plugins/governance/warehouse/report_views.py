"""``governance.report_view``: who opened (or was refused) which raw quarantine report, and when.

A quarantine report holds a department's raw rows, so each request for one is evidence the security
officer reviews (``/governance/audit/report-views``). Like the sharing access log it is append-only in the
database itself: on PostgreSQL UPDATE, DELETE and TRUNCATE are revoked from PUBLIC and triggers refuse them
(the owner too); on SQLite triggers abort UPDATE and DELETE. The row is written and committed before the
report is sent: no log row, no report. Timestamps are naive UTC, as in :mod:`governance.warehouse.records`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from governance.warehouse.engine import GOVERNANCE_SCHEMA, write_transaction
from governance.warehouse.migrate import ensure_schema

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

metadata = sa.MetaData(schema=GOVERNANCE_SCHEMA)

report_view = sa.Table(
    "report_view", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(), nullable=False),
    sa.Column("viewer", sa.String(250), nullable=False, comment="the Airflow user name"),
    sa.Column("department", sa.String(100), nullable=False),
    sa.Column("dataset_key", sa.String(200), nullable=False),
    sa.Column("report", sa.String(250), nullable=False, comment="the report's file name"),
    sa.Column("decision", sa.String(10), nullable=False),
    sa.CheckConstraint("decision IN ('allowed', 'denied')", name="ck_report_view_decision"),
    sa.Index("ix_report_view_at", "at"),
    comment="原始隔离报告查看日志(只增不改)",
)

def ensure_report_view_table(engine: sa.Engine) -> None:
    """The table and its append-only guards (the ``governance`` schema's migrations) at head."""
    ensure_schema(engine)


def log_report_view(engine: sa.Engine, *, viewer: str, department: str, dataset: str, report: str,
                    allowed: bool) -> None:
    """Append one row, committed before returning (raises if it cannot be written). The strings come from the
    URL: control characters (a NUL PostgreSQL refuses) are written as U+FFFD, so a probe is logged, not lost."""
    viewer, department, dataset, report = (_CONTROL.sub("\ufffd", text) for text in (viewer, department, dataset,
                                                                                       report))
    ensure_report_view_table(engine)
    with write_transaction(engine) as connection:
        connection.execute(report_view.insert().values(
            at=datetime.now(UTC).replace(tzinfo=None), viewer=viewer[:250], department=department[:100],
            dataset_key=f"{department}/{dataset}"[:200], report=report[:250],
            decision="allowed" if allowed else "denied"))


def report_views(engine: sa.Engine, since: datetime, limit: int = 1000) -> list[dict[str, Any]]:
    """The newest rows since ``since`` (naive UTC), newest first."""
    ensure_report_view_table(engine)
    query = (sa.select(report_view).where(report_view.c.at >= since)
             .order_by(report_view.c.at.desc(), report_view.c.id.desc()).limit(limit))
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
