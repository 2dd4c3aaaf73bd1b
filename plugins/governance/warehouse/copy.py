"""``COPY`` of Arrow batches as CSV: the load's hot loop stays in C.

``copy.write_row`` formats each value in Python (~15 µs a row for a register); pyarrow's CSV writer encodes
a whole batch at once, and PostgreSQL parses it as fast as it parses any ``COPY``. In CSV format an unquoted
empty field is NULL and a quoted one an empty string, which is exactly what ``quoting_style="all_valid"``
writes, so text values round-trip unchanged (newlines, quotes, backslashes included).
"""

from __future__ import annotations

import io
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="all_valid", batch_size=64 * 1024)


def copy_statement(connection: sa.Connection, table: sa.Table, names: list[str]) -> str:
    preparer = connection.dialect.identifier_preparer
    return (f"COPY {preparer.format_table(table)} ({', '.join(preparer.quote(name) for name in names)}) "
            "FROM STDIN WITH (FORMAT csv)")


def copy_arrow(connection: sa.Connection, table: sa.Table, batches: Iterable[pa.RecordBatch | pa.Table]) -> int:
    """COPY every batch (columns named and ordered like the statement's) into ``table``; returns rows sent."""
    driver = connection.connection.driver_connection
    rows, statement = 0, None
    with driver.cursor() as cursor:
        for batch in batches:
            if statement is None:
                statement = copy_statement(connection, table, list(batch.schema.names))
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, write_options=_OPTIONS)
            with cursor.copy(statement) as copy:
                copy.write(buffer.getbuffer())
            rows += batch.num_rows
    return rows
