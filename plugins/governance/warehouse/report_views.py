"""``governance.report_view``: who opened (or was refused) which raw quarantine report, and when.

A quarantine report holds a department's raw rows, so each request for one is evidence the security
officer reviews (``/governance/audit/report-views``). Like the sharing access log it is append-only in the
database itself: on PostgreSQL UPDATE, DELETE and TRUNCATE are revoked from PUBLIC and triggers refuse them
(the owner too); on SQLite triggers abort UPDATE and DELETE. The row is written and committed before the
report is sent: no log row, no report. Timestamps are naive UTC, as in :mod:`governance.warehouse.records`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from governance.warehouse.engine import GOVERNANCE_SCHEMA, ddl_lock, is_postgres, write_transaction

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

_POSTGRES_GUARDS = (
    """CREATE OR REPLACE FUNCTION governance.report_view_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'governance.report_view is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END $$""",
    "REVOKE UPDATE, DELETE, TRUNCATE ON governance.report_view FROM PUBLIC",
    """CREATE OR REPLACE TRIGGER report_view_append_only BEFORE UPDATE OR DELETE ON governance.report_view
    FOR EACH ROW EXECUTE FUNCTION governance.report_view_refuse()""",
    """CREATE OR REPLACE TRIGGER report_view_no_truncate BEFORE TRUNCATE ON governance.report_view
    FOR EACH STATEMENT EXECUTE FUNCTION governance.report_view_refuse()""",
)
_SQLITE_GUARDS = (
    """CREATE TRIGGER IF NOT EXISTS governance.report_view_no_update BEFORE UPDATE ON report_view
    BEGIN SELECT RAISE(ABORT, 'governance.report_view is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS governance.report_view_no_delete BEFORE DELETE ON report_view
    BEGIN SELECT RAISE(ABORT, 'governance.report_view is append-only'); END""",
)
_READY: set[str] = set()  # engine URLs whose table and guards exist (checked once per process)


def ensure_report_view_table(engine: sa.Engine) -> None:
    """Create the table and its append-only guards if missing (idempotent, serialised)."""
    with write_transaction(engine) as connection:
        ddl_lock(connection, "report-view-table")
        metadata.create_all(connection)
        for statement in _POSTGRES_GUARDS if is_postgres(connection) else _SQLITE_GUARDS:
            connection.execute(sa.text(statement))
    _READY.add(str(engine.url))


def log_report_view(engine: sa.Engine, *, viewer: str, department: str, dataset: str, report: str,
                    allowed: bool) -> None:
    """Append one row, committed before returning (raises if it cannot be written)."""
    if str(engine.url) not in _READY:
        ensure_report_view_table(engine)
    with write_transaction(engine) as connection:
        connection.execute(report_view.insert().values(
            at=datetime.now(UTC).replace(tzinfo=None), viewer=viewer[:250], department=department[:100],
            dataset_key=f"{department}/{dataset}"[:200], report=report[:250],
            decision="allowed" if allowed else "denied"))


def report_views(engine: sa.Engine, since: datetime, limit: int = 1000) -> list[dict[str, Any]]:
    """The newest rows since ``since`` (naive UTC), newest first."""
    if str(engine.url) not in _READY:
        ensure_report_view_table(engine)
    query = (sa.select(report_view).where(report_view.c.at >= since)
             .order_by(report_view.c.at.desc(), report_view.c.id.desc()).limit(limit))
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
