"""The sharing service's own tables in schema ``governance``: tokens, the access log, security events, quotas.

``access_log`` is the evidence that every read of shared data was authorised, so it is append-only in
the database itself, not just by convention in this code: on PostgreSQL UPDATE, DELETE and TRUNCATE are
revoked from PUBLIC and triggers raise on any of them (the table owner is stopped too); on SQLite
triggers abort UPDATE and DELETE. ``security_event`` is append-only except for its ``alerted`` flag,
which the alert sender sets after the event was written. ``row_quota_usage`` is the per-day counter the
quota check reserves rows in (one atomic upsert per request) and ``scan_usage`` counts rows of sensitive
datasets in short time buckets for the scan rule, so enforcement never sums the (ever-growing) log.
Timestamps are naive UTC, as in :mod:`governance.warehouse.records`.
"""

from __future__ import annotations

import os
import weakref

import sqlalchemy as sa

from governance.warehouse.engine import GOVERNANCE_SCHEMA, ddl_lock, is_postgres, write_transaction

metadata = sa.MetaData(schema=GOVERNANCE_SCHEMA)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only

api_token = sa.Table(
    "api_token", metadata,
    sa.Column("token_id", sa.String(32), primary_key=True),
    sa.Column("department", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, comment="hex SHA-256 of the token; never the token"),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("expires_at", sa.DateTime()),
    sa.Column("revoked_at", sa.DateTime()),
    comment="共享接口调用令牌(仅存哈希)",
)

access_log = sa.Table(
    "access_log", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(), nullable=False),
    sa.Column("request_id", sa.String(32), nullable=False),
    sa.Column("consumer", sa.String(100), nullable=False),
    sa.Column("token_id", sa.String(32)),
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("endpoint", sa.String(200), nullable=False, comment="route template, never the raw path"),
    sa.Column("dataset_key", sa.String(200)),
    sa.Column("columns", sa.Text(), comment="JSON list of the columns served"),
    sa.Column("filter_shape", sa.Text(), comment="JSON list of filter NAMES (never values)"),
    sa.Column("rows_returned", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("decision", sa.String(10), nullable=False),
    sa.Column("reason", sa.String(200)),
    sa.Column("status_code", sa.SmallInteger(), nullable=False),
    sa.Column("latency_ms", sa.Float()),
    sa.CheckConstraint("decision IN ('allowed', 'denied', 'blocked')", name="ck_access_log_decision"),
    sa.Index("ix_access_log_consumer_dataset", "consumer", "dataset_key", "at"),
    sa.Index("ix_access_log_at", "at"),
    comment="共享接口访问日志(只增不改)",
)

security_event = sa.Table(
    "security_event", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(), nullable=False),
    sa.Column("request_id", sa.String(32)),
    sa.Column("consumer", sa.String(100), nullable=False),
    sa.Column("dataset_key", sa.String(200)),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("detail", sa.Text(), comment="counts and thresholds only, never data values"),
    sa.Column("alerted", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.CheckConstraint("kind IN ('quota_exceeded', 'scan_pattern')", name="ck_security_event_kind"),
    sa.Index("ix_security_event_at", "at"),
    comment="共享接口安全事件(批量下载拦截)",
)

row_quota_usage = sa.Table(
    "row_quota_usage", metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("dataset_key", sa.String(200), primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True, comment="the platform's calendar day (Asia/Shanghai)"),
    sa.Column("rows_served", sa.BigInteger(), nullable=False),
    comment="每日按消费部门和数据集计的已提供行数(配额)",
)

scan_usage = sa.Table(
    "scan_usage", metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("dataset_key", sa.String(200), primary_key=True),
    sa.Column("bucket", sa.DateTime(), primary_key=True, comment="start of the time bucket (naive UTC)"),
    sa.Column("rows_served", sa.BigInteger(), nullable=False),
    comment="敏感数据集按时间段计的已提供行数(批量下载识别)",
)

_POSTGRES_GUARDS = (
    """CREATE OR REPLACE FUNCTION governance.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'governance.% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END $$""",
    """CREATE OR REPLACE FUNCTION governance.security_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - 'alerted') = (to_jsonb(OLD) - 'alerted') THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'governance.security_event is append-only (only alerted may change): % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END $$""",
    "REVOKE UPDATE, DELETE, TRUNCATE ON governance.access_log FROM PUBLIC",
    "REVOKE DELETE, TRUNCATE ON governance.security_event FROM PUBLIC",
    """CREATE OR REPLACE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON governance.access_log
    FOR EACH ROW EXECUTE FUNCTION governance.refuse_change()""",
    """CREATE OR REPLACE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON governance.access_log
    FOR EACH STATEMENT EXECUTE FUNCTION governance.refuse_change()""",
    """CREATE OR REPLACE TRIGGER security_event_append_only BEFORE UPDATE OR DELETE ON governance.security_event
    FOR EACH ROW EXECUTE FUNCTION governance.security_event_guard()""",
    """CREATE OR REPLACE TRIGGER security_event_no_truncate BEFORE TRUNCATE ON governance.security_event
    FOR EACH STATEMENT EXECUTE FUNCTION governance.refuse_change()""",
)

_SQLITE_GUARDS = (
    """CREATE TRIGGER IF NOT EXISTS governance.access_log_no_update BEFORE UPDATE ON access_log
    BEGIN SELECT RAISE(ABORT, 'governance.access_log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS governance.access_log_no_delete BEFORE DELETE ON access_log
    BEGIN SELECT RAISE(ABORT, 'governance.access_log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS governance.security_event_no_update
    BEFORE UPDATE OF id, at, request_id, consumer, dataset_key, kind, detail ON security_event
    BEGIN SELECT RAISE(ABORT, 'governance.security_event is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS governance.security_event_no_delete BEFORE DELETE ON security_event
    BEGIN SELECT RAISE(ABORT, 'governance.security_event is append-only'); END""",
)


def ensure_sharing_tables(engine: sa.Engine) -> None:
    """Create the sharing tables and their append-only guards if missing (idempotent, serialised)."""
    with write_transaction(engine) as connection:
        ddl_lock(connection, "sharing-tables")
        metadata.create_all(connection)
        for statement in _POSTGRES_GUARDS if is_postgres(connection) else _SQLITE_GUARDS:
            connection.execute(sa.text(statement))


_RELAXED: weakref.WeakSet[sa.Engine] = weakref.WeakSet()  # engines whose sessions already relax commits


def sync_commit_required() -> bool:
    return bool(os.environ.get("GOVERNANCE_SHARING_SYNC_COMMIT"))


def service_engine(url: str | None = None) -> sa.Engine:
    """The sharing service's own engine. On PostgreSQL: sessions start with ``synchronous_commit = off``
    (see :func:`relaxed_commit`) and without a ping per checkout (two round trips fewer per request; after
    a database restart one request fails and the pool is refreshed). Elsewhere: ``warehouse_engine``."""
    from governance.warehouse import warehouse_engine

    engine = warehouse_engine(url)  # creates the schemas if missing
    if not is_postgres(engine):
        return engine
    engine.dispose()
    options = {} if sync_commit_required() else {"options": "-c synchronous_commit=off"}
    engine = sa.create_engine(engine.url, pool_pre_ping=False, pool_size=10, max_overflow=10, pool_recycle=900,
                              connect_args=options)
    if options:
        _RELAXED.add(engine)
    return engine


def relaxed_commit(connection: sa.Connection) -> None:
    """PostgreSQL: let this transaction's commit return before its WAL is flushed to disk.

    Every request commits its access-log row (and quota counters) before the response leaves; waiting
    for the disk flush measured 4-8 ms per commit here and dominated the request. With
    ``synchronous_commit = off`` a commit is still atomic and ordered, and only a crash of the database
    server itself (not of this service) can lose the last few hundred milliseconds of log rows. Set
    ``GOVERNANCE_SHARING_SYNC_COMMIT=1`` to wait for the flush on every request instead.
    """
    if is_postgres(connection) and connection.engine not in _RELAXED and not sync_commit_required():
        connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
