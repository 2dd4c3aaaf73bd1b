"""The warehouse connection: one engine, two schemas, the same table names on PostgreSQL and SQLite.

``shared`` holds the published datasets, ``governance`` the platform's own records (runs,
quarantine). On PostgreSQL they are real schemas, created when missing. On SQLite they are
attached database files beside the main file (``shared.db``, ``governance.db``), so a name such
as ``shared.public_security__resident_population`` means the same thing on both backends.

SQLite runs in WAL mode (readers see the last committed state while a writer works) with a busy
timeout, and SQLAlchemy emits ``BEGIN`` itself so that DDL and DML are transactional; a
connection opened through :func:`write_transaction` takes the write lock up front
(``BEGIN IMMEDIATE``), which avoids lock-upgrade deadlocks between concurrent writers.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from governance.settings import get_settings

SHARED_SCHEMA = "shared"
GOVERNANCE_SCHEMA = "governance"
SCHEMAS = (SHARED_SCHEMA, GOVERNANCE_SCHEMA)
SQLITE_BUSY_TIMEOUT_S = 60
_IMMEDIATE = "governance_write_lock"


def warehouse_engine(url: str | None = None) -> sa.Engine:
    """An engine on the warehouse (default ``GOVERNANCE_WAREHOUSE_URL``) with both schemas in place."""
    url = url or get_settings().warehouse_url
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    engine = sa.create_engine(parsed, pool_pre_ping=True)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            ddl_lock(connection, "schemas")
            for schema in SCHEMAS:
                connection.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
    return engine


def is_postgres(bind: sa.Engine | sa.Connection) -> bool:
    return bind.dialect.name == "postgresql"


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection inside a transaction meant to write (SQLite: ``BEGIN IMMEDIATE``)."""
    with engine.connect() as connection, write_connection(connection).begin():
        yield connection


def write_connection(connection: sa.Connection) -> sa.Connection:
    """Mark a connection so every transaction it begins takes the SQLite write lock up front."""
    return connection.execution_options(**{_IMMEDIATE: True})


def ddl_lock(connection: sa.Connection, name: str) -> None:
    """Serialise schema changes to ``name`` across processes (PostgreSQL advisory lock, held until commit).

    On SQLite the write transaction itself serialises writers, so nothing more is needed.
    """
    if is_postgres(connection):
        key = zlib.crc32(f"governance.warehouse:{name}".encode()) - 2**31
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("key", key, sa.BigInteger))))


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if in_memory:
        attached = dict.fromkeys(SCHEMAS, ":memory:")
    else:
        main = Path(database).expanduser().resolve()
        main.parent.mkdir(parents=True, exist_ok=True)
        attached = {schema: str(main.parent / f"{schema}.db") for schema in SCHEMAS}
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module; the "begin" hook emits BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for schema, path in attached.items():
                # Schema names are module constants (identifiers cannot be parameters); the path is bound.
                cursor.execute(f"ATTACH DATABASE ? AS {schema}", (path,))
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
            if not in_memory:
                for schema in ("main", *SCHEMAS):
                    cursor.execute(f"PRAGMA {schema}.journal_mode = WAL")
                    cursor.execute(f"PRAGMA {schema}.synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
