"""Publish a dataset's masked, validated rows into its ``shared`` table, atomically.

The input is a parquet file of text columns. It is streamed in batches, converted to the
published types and loaded into a staging table (PostgreSQL: a TEMP table filled with ``COPY``;
SQLite: ``shared._stage_*`` filled with ``executemany``). The staging rows are checked in SQL
(duplicate keys, missing required values), then one transaction swaps them in:

* ``snapshot``: the target's rows are replaced (DELETE + INSERT ... SELECT; PostgreSQL readers keep
  seeing the old rows until commit). A load for a date older than what is already published is
  skipped, so a backfill never rolls the table back.
* ``upsert``: ``INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE target._load_date <= excluded._load_date``,
  so a backfill inserts keys it brings but never overwrites rows from a later load.

Rerunning a date gives the same content. Any failure leaves the target as it was, and the staging
table is dropped in every case.

Concurrent publishes of one table (a manual rerun while the scheduled run publishes, two workers on one
task) take turns for the whole publish, staging to swap (``_table_lock``: a PostgreSQL session advisory
lock keyed by the table, a file lock beside a SQLite warehouse). Each swaps in its own complete rows; the
last to commit wins, except that the newer-load-date rules above still hold under the lock. Readers are
never blocked and see either the old or the new rows.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from governance.errors import DataError, TransientError
from governance.standards.catalogue import Catalogue, ResolvedColumn
from governance.standards.models import Dataset
from governance.warehouse.copy import copy_arrow
from governance.warehouse.engine import is_postgres, write_connection, write_transaction
from governance.warehouse.schema import (
    LINEAGE_COLUMNS,
    LOAD_DATE,
    LOADED_AT,
    MAX_IDENTIFIER,
    RUN_ID,
    check_frame_columns,
    ensure_table,
    published_columns,
    qualified_name,
)

log = logging.getLogger(__name__)

_FORMATS = {"integer": "whole number", "decimal": "decimal number within the element's precision",
            "date": "YYYY-MM-DD", "datetime": "YYYY-MM-DD HH:MM:SS"}


class WarehouseUnavailable(TransientError):
    """The warehouse connection failed mid-publish; the table is unchanged and a retry may succeed."""


class PublishError(DataError):
    """The rows could not be published; the published table is unchanged."""


@dataclass(frozen=True)
class PublishResult:
    table: str
    rows: int
    load_mode: str
    skipped_reason: str | None = None
    added_columns: tuple[str, ...] = ()


def _before_swap(connection: sa.Connection, target: sa.Table, staging: sa.Table) -> None:
    """Hook (for tests and fault injection): inside the swap transaction, before the target changes."""


def _mid_swap(connection: sa.Connection, target: sa.Table) -> None:
    """Hook (for tests and fault injection): snapshot mode, old rows deleted, new rows not yet inserted."""


def publish(engine: sa.Engine, catalogue: Catalogue, dataset: Dataset | str, parquet_path: Path, *,
            load_date: date, run_id: str, batch_rows: int = 100_000) -> PublishResult:
    """Publish ``parquet_path`` (text columns named like the published columns) as ``load_date``'s data.

    ``parquet_path`` may be a directory of ``part-*.parquet`` files (a chunked run): all parts go into one
    staging table, in part order, and are swapped in once."""
    if isinstance(dataset, str):
        dataset = catalogue.dataset(dataset)
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    columns = published_columns(catalogue, dataset)
    parts = _parts(Path(parquet_path))
    for part in parts:
        check_frame_columns(pq.ParquetFile(part).schema_arrow.names, columns, dataset.key, what="input")
    sync = ensure_table(engine, catalogue, dataset)
    target, name = sync.table, qualified_name(sync.table)

    def result(rows: int, newer: date | None = None) -> PublishResult:
        reason = f"newer data already published (load date {newer.isoformat()})" if newer else None
        return PublishResult(name, rows, dataset.load_mode, reason, sync.added_columns)

    with engine.connect() as connection:
        write_connection(connection)
        if dataset.load_mode == "snapshot":
            with connection.begin():
                newer = _newer_load_date(connection, target, load_date)
            if newer:
                log.warning("skipped %s for %s: %s already published", name, load_date, newer)
                return result(0, newer)
        staging = staging_table(target, run_id, temporary=is_postgres(connection))
        try:
            with _table_lock(connection, name):
                try:
                    rows = _stage(connection, staging, parts, columns, batch_rows, name)
                    _check_staging(connection, staging, target, name)
                    newer = _swap(connection, target, staging, dataset.load_mode, load_date, run_id)
                finally:
                    _drop_staging(engine, connection, staging)
        except sa.exc.DBAPIError as error:
            # The driver's detail lines can quote row values; report only the primary message.
            message = f"publishing {name} failed and the table is unchanged: {_describe(error)}"
            if error.connection_invalidated or isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError):
                raise WarehouseUnavailable(message) from None
            raise PublishError(message) from None
    if newer:
        return result(0, newer)
    log.info("published %s rows to %s (%s, load date %s)", rows, name, dataset.load_mode, load_date)
    return result(rows)


@contextmanager
def _table_lock(connection: sa.Connection, name: str) -> Iterator[None]:
    """One publish of table ``name`` at a time, from staging to swap, across processes.

    PostgreSQL: a session advisory lock on the publish connection (released at the end, or by the server
    when the session dies). SQLite: an ``flock`` on ``.publish-locks/<name>.lock`` beside the database
    file, because a SQLite staging table is a real table named by run id that two publishes of one run
    would otherwise share (one dropping or swapping in the other's half-filled staging). The swap itself is
    also serialised by ``LOCK TABLE`` (PostgreSQL) or ``BEGIN IMMEDIATE`` (SQLite).
    """
    if is_postgres(connection):
        key = sa.bindparam("key", zlib.crc32(f"governance.publish:{name}".encode()) - 2**31, sa.BigInteger)
        with connection.begin():
            connection.execute(sa.select(sa.func.pg_advisory_lock(key)))
        try:
            yield
        finally:
            _advisory_unlock(connection, key)
        return
    database = connection.engine.url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        yield  # a private in-memory database: no other process can publish into it
        return
    folder = Path(database).expanduser().resolve().parent / ".publish-locks"
    folder.mkdir(exist_ok=True)
    with open(folder / f"{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _advisory_unlock(connection: sa.Connection, key: sa.BindParameter) -> None:
    """Release the publish lock; if that fails, close the session so the server releases it (a pooled
    session must never keep it, or every later publish of the table would wait forever)."""
    if connection.invalidated or connection.closed:
        return  # the session is gone, and its lock with it
    try:
        if connection.in_transaction():
            connection.rollback()
        with connection.begin():
            connection.execute(sa.select(sa.func.pg_advisory_unlock(key)))
    except sa.exc.SQLAlchemyError:
        log.warning("could not release the publish lock; closing the session instead", exc_info=True)
        connection.invalidate()


def staging_table(target: sa.Table, run_id: str, *, temporary: bool) -> sa.Table:
    """``_stage_<table>_<hash of run_id>``: the target's data columns, no constraints."""
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    name = f"_stage_{target.name[: MAX_IDENTIFIER - 16]}_{digest}"
    columns = [sa.Column(column.name, column.type) for column in target.columns if column.name not in LINEAGE_COLUMNS]
    if temporary:
        return sa.Table(name, sa.MetaData(), *columns, prefixes=["TEMPORARY"])
    return sa.Table(name, sa.MetaData(), *columns, schema=target.schema)


def _parts(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    parts = sorted(path.glob("part-*.parquet"))
    if not parts:
        raise PublishError(f"nothing to publish: {path} holds no part-*.parquet file")
    return parts


def _stage(connection: sa.Connection, staging: sa.Table, parts: list[Path],
           columns: list[ResolvedColumn], batch_rows: int, name: str) -> int:
    with connection.begin():
        connection.execute(sa.schema.DropTable(staging, if_exists=True))
        staging.create(connection, checkfirst=False)
    names = [column.name for column in columns]
    postgres = is_postgres(connection)
    total = 0
    for part in parts:
        for batch in pq.ParquetFile(part).iter_batches(batch_size=batch_rows, columns=names):
            values = [_convert(batch.column(column.name), column, staging.c[column.name].type, total, name)
                      for column in columns]
            with connection.begin():
                if postgres:  # Arrow batch -> CSV -> COPY: no Python object per value
                    _copy_rows(connection, staging, names, pa.Table.from_arrays(values, names=names))
                else:
                    _insert_rows(connection, staging, names, list(zip(*(v.to_pylist() for v in values), strict=True)))
            total += batch.num_rows
    return total


def _copy_rows(connection: sa.Connection, staging: sa.Table, names: list[str], rows: pa.Table) -> None:
    """PostgreSQL: ``COPY staging (...) FROM STDIN`` of the batch encoded as CSV by pyarrow (``copy``)."""
    copy_arrow(connection, staging, [rows.select(names)])


def _insert_rows(connection: sa.Connection, staging: sa.Table, names: list[str], rows: list[tuple]) -> None:
    """SQLite: one ``executemany`` insert per batch."""
    if rows:
        connection.execute(staging.insert(), [dict(zip(names, row, strict=True)) for row in rows])


def _convert(array: pa.Array | pa.ChunkedArray, column: ResolvedColumn, sql_type: sa.types.TypeEngine,
             offset: int, table: str) -> pa.Array | pa.ChunkedArray:
    """Text values to the column's Arrow type; errors name the column and row, never the value."""
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.string())
    kind = column.published_type
    if kind == "string":
        limit = getattr(sql_type, "length", None)
        if limit:
            too_long = pc.sum(pc.greater(pc.utf8_length(array), limit)).as_py() or 0
            if too_long:
                raise PublishError(f"cannot publish {table}: column {column.name} has {too_long} value(s) "
                                   f"longer than {limit} characters")
        return array
    trimmed = pc.utf8_trim_whitespace(array)
    trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, trimmed.type), trimmed)
    arrow_type = _arrow_type(column)
    try:
        return trimmed.cast(arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        bad = [index for index, value in enumerate(trimmed.to_pylist())
               if value is not None and not _castable(value, arrow_type)]
        first = f"; first at row {offset + bad[0] + 1}" if bad else ""
        raise PublishError(f"cannot publish {table}: column {column.name} has {len(bad) or 'some'} value(s) "
                           f"that are not a valid {kind} ({_FORMATS[kind]}){first}") from None


def _arrow_type(column: ResolvedColumn) -> pa.DataType:
    kind = column.published_type
    if kind == "integer":
        return pa.int64()
    if kind == "decimal":
        precision, scale = column.element.precision or (18, 2)
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    if kind == "date":
        return pa.date32()
    return pa.timestamp("us")


def _castable(value: str, arrow_type: pa.DataType) -> bool:
    try:
        pa.array([value], pa.string()).cast(arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _check_staging(connection: sa.Connection, staging: sa.Table, target: sa.Table, name: str) -> None:
    """Checks the target's constraints would make, in SQL and without quoting any value."""
    key = [staging.c[column.name] for column in target.primary_key.columns]
    required = [column.name for column in target.columns if not column.nullable and column.name in staging.c]
    with connection.begin():
        duplicated = _count(connection, sa.select(*key).group_by(*key).having(sa.func.count() > 1))
        if duplicated:
            raise PublishError(
                f"cannot publish {name}: {duplicated} primary key value(s) ({', '.join(c.name for c in key)}) "
                f"occur more than once in the incoming rows; the table is unchanged")
        if required:
            counts = connection.execute(sa.select(*[
                sa.func.sum(sa.case((staging.c[column].is_(None), 1), else_=0)) for column in required
            ])).one()
            empty = [f"{column} ({count} row(s))" for column, count in zip(required, counts, strict=True) if count]
            if empty:
                raise PublishError(f"cannot publish {name}: required column(s) without a value: {', '.join(empty)}")


def _count(connection: sa.Connection, query: sa.Select) -> int:
    return connection.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0


def _swap(connection: sa.Connection, target: sa.Table, staging: sa.Table, load_mode: str,
          load_date: date, run_id: str) -> date | None:
    """The one transaction that changes the target. Returns the newer load date if a snapshot was skipped."""
    postgres = is_postgres(connection)
    names = [column.name for column in staging.columns]
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    lineage = [_literal(load_date, target.c[LOAD_DATE].type, postgres).label(LOAD_DATE),
               _literal(run_id, target.c[RUN_ID].type, postgres).label(RUN_ID),
               _literal(loaded_at, target.c[LOADED_AT].type, postgres).label(LOADED_AT)]
    source = sa.select(*[staging.c[name] for name in names], *lineage)
    if postgres:
        # In key order the primary-key index grows at its right edge instead of taking each random key (a
        # pseudonym) into a page that is no longer cached: a 5M-row swap took half the time (docs/performance.md).
        source = source.order_by(*[staging.c[column.name] for column in target.primary_key.columns])
    columns = [*names, *LINEAGE_COLUMNS]
    with connection.begin():
        if postgres:
            # Blocks other writers (a concurrent publish) but not readers, until commit.
            table = connection.dialect.identifier_preparer.format_table(target)
            connection.exec_driver_sql(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        if load_mode == "snapshot":
            newer = _newer_load_date(connection, target, load_date)
            if newer:
                return newer
        _before_swap(connection, target, staging)
        if load_mode == "snapshot":
            connection.execute(sa.delete(target))
            _mid_swap(connection, target)
            connection.execute(sa.insert(target).from_select(columns, source))
        else:
            connection.execute(_upsert(target, columns, source, postgres))
    return None


def _upsert(target: sa.Table, columns: list[str], source: sa.Select, postgres: bool) -> sa.Executable:
    dialect_insert = postgresql.insert if postgres else sqlite.insert
    # SQLite needs a WHERE on INSERT ... SELECT before ON CONFLICT (parser ambiguity); harmless on PostgreSQL.
    statement = dialect_insert(target).from_select(columns, source.where(sa.true()))
    key = [column.name for column in target.primary_key.columns]
    return statement.on_conflict_do_update(
        index_elements=key,
        set_={name: statement.excluded[name] for name in columns if name not in key},
        where=target.c[LOAD_DATE] <= statement.excluded[LOAD_DATE],
    )


def _literal(value: Any, sql_type: sa.types.TypeEngine, postgres: bool) -> sa.ColumnElement:
    # PostgreSQL needs the parameter's type spelled out in a SELECT list; SQLite's CAST would
    # apply numeric affinity to dates, and the bound value is already in SQLAlchemy's storage format.
    bound = sa.literal(value, sql_type)
    return sa.cast(bound, sql_type) if postgres else bound


def _newer_load_date(connection: sa.Connection, target: sa.Table, load_date: date) -> date | None:
    latest = connection.scalar(sa.select(sa.func.max(target.c[LOAD_DATE])))
    return latest if latest is not None and latest > load_date else None


def _drop_staging(engine: sa.Engine, connection: sa.Connection, staging: sa.Table) -> None:
    """Drop the staging table whatever happened; a TEMP table dies with its session anyway."""
    drop = sa.schema.DropTable(staging, if_exists=True)
    try:
        if connection.invalidated or connection.closed:
            raise sa.exc.ResourceClosedError("connection is gone")
        if connection.in_transaction():
            connection.rollback()
        with connection.begin():
            connection.execute(drop)
        return
    except sa.exc.SQLAlchemyError:
        if staging.schema is None:
            return
    try:
        with write_transaction(engine) as other:
            other.execute(drop)
    except sa.exc.SQLAlchemyError:
        log.exception("could not drop staging table %s", qualified_name(staging))


def _describe(error: sa.exc.DBAPIError) -> str:
    diagnostics = getattr(error.orig, "diag", None)
    primary = getattr(diagnostics, "message_primary", None)
    return primary or (str(error.orig).splitlines() or [type(error.orig).__name__])[0]
