"""The sharing service's own tables in schema ``governance``: tokens, the access log, security events, quotas.

``access_log`` is the evidence that every read of shared data was authorised, so it is append-only in
the database itself, not just by convention in this code: on PostgreSQL UPDATE, DELETE and TRUNCATE are
revoked from PUBLIC and triggers raise on any of them (the table owner is stopped too); on SQLite
triggers abort UPDATE and DELETE. ``security_event`` is append-only except for its ``alerted`` flag,
which the alert sender sets after the event was written. ``row_quota_usage`` is the per-day counter the
quota check reserves rows in, ``scan_usage`` counts rows of sensitive datasets in short time buckets for
the share rule and ``scan_requests`` counts cursor pages and lookups that found nothing in the same
buckets, so enforcement never reads the (ever-growing, INSERT-only for the service) log. The counters
of one consumer and dataset are read and written under one lock (:func:`governance.sharing.guard.hold`).
Timestamps are naive UTC, as in :mod:`governance.warehouse.records`.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from governance.settings import get_settings
from governance.warehouse.engine import GOVERNANCE_SCHEMA, is_postgres, warehouse_engine
from governance.warehouse.migrate import ensure_schema

log = logging.getLogger("governance.sharing")
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
    implicit_returning=False,  # the service may INSERT, not SELECT: no RETURNING id
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

scan_requests = sa.Table(
    "scan_requests", metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("dataset_key", sa.String(200), primary_key=True),
    sa.Column("bucket", sa.DateTime(), primary_key=True, comment="start of the time bucket (naive UTC)"),
    sa.Column("cursor_pages", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("misses", sa.Integer(), nullable=False, server_default="0"),
    comment="敏感数据集按时间段计的翻页次数和未命中查询次数(遍历识别)",
)

def ensure_sharing_tables(engine: sa.Engine) -> None:
    """The sharing tables and their append-only guards (the ``governance`` schema's migrations) at head.

    When the schema is at head nothing but the version table is read, so the service's least-privilege
    role (:mod:`governance.sharing.roles`), which may not run DDL, can call it on start-up.
    """
    ensure_schema(engine)


def service_engine(url: str | None = None) -> sa.Engine:
    """The sharing service's own engine.

    ``GOVERNANCE_SHARING_DATABASE_URL`` (or ``url``) is the service's least-privilege login
    (``governance sharing-role sync``); without it the warehouse URL is used and a warning says so.
    Commits are durable (the default ``synchronous_commit = on``): an answered call's access-log row
    survives a crash of the database server. On PostgreSQL no ping per checkout (after a database
    restart one request fails and the pool is refreshed).
    """
    url = url or get_settings().sharing_database_url or None
    if url is None:
        engine = warehouse_engine()  # creates the schemas if missing
        if is_postgres(engine):
            log.warning("the sharing API connects as the warehouse owner; set GOVERNANCE_SHARING_DATABASE_URL "
                        "to the login of `governance sharing-role sync` (least privilege)")
    else:
        engine = sa.create_engine(url) if sa.make_url(url).get_backend_name() == "postgresql" else warehouse_engine(url)
    if not is_postgres(engine):
        return engine
    engine.dispose()
    return sa.create_engine(engine.url, pool_pre_ping=False, pool_size=10, max_overflow=10, pool_recycle=900)
