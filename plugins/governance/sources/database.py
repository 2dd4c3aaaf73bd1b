"""Read a departmental database through its Airflow connection's SQL hook (common-sql ``DbApiHook``).

Taking the connection from Airflow means any secrets backend (environment, local file,
Vault, ...) holds the department's credentials; nothing about them is in the standards. The
connection type's provider hook (``PostgresHook``, ``SqliteHook``, or any installed ``DbApiHook``)
builds the SQLAlchemy engine: driver, URL, credentials and the connection's extras. The rows are
streamed here with ``fetchmany`` on a server-side cursor rather than by the hook's pandas readers,
because the number check below must see the driver's own values before pandas infers column types
(an integer column with a NULL would already be floats).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from numbers import Number

import pandas as pd
import sqlalchemy as sa
from pandas.api.types import infer_dtype
from sqlalchemy.exc import SQLAlchemyError

from governance.sources.errors import SourceError
from governance.standards.models import Element

DEFAULT_TIMEOUT_S = 600


def department_engine(connection_id: str, timeout_s: int = DEFAULT_TIMEOUT_S) -> sa.Engine:
    """The engine of the connection's SQL hook, each statement bounded by ``timeout_s``."""
    # Airflow configures itself from the environment when first imported: not at import of this module, which
    # `governance suites preview` and `suites impact` load outside Airflow (file sources need no Airflow).
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.sdk import Connection

    try:
        connection = Connection.get(connection_id)
    except Exception as error:
        raise SourceError(f"Airflow connection {connection_id!r} is not defined ({type(error).__name__}); "
                          "add it in the Airflow UI or the secrets backend") from None
    try:
        hook = connection.get_hook()
    except Exception as error:
        hook, reason = None, type(error).__name__
    else:
        reason = type(hook).__name__
    if not isinstance(hook, DbApiHook):
        raise SourceError(f"Airflow connection {connection_id!r} has type {connection.conn_type!r}, which has no SQL "
                          f"hook here ({reason}); use a type whose provider is installed (postgres, sqlite)")
    return hook.get_sqlalchemy_engine(engine_kwargs=_timeout_arguments(connection.conn_type or "", timeout_s))


def read_query(connection_id: str, query: str, *, chunk_rows: int = 100_000, timeout_s: int = DEFAULT_TIMEOUT_S,
               text_columns: Mapping[str, Element] | None = None) -> Iterator[pd.DataFrame]:
    """Stream the query's rows as text frames of at most ``chunk_rows`` rows.

    ``timeout_s`` bounds each statement on PostgreSQL (``statement_timeout``: the server cancels it) and the wait
    for a lock on SQLite; the dataset standard's ``source.timeout_s`` sets it. A column of ``text_columns`` (the
    columns whose element is text: identifiers, codes, names) that the database returns as numbers refuses the
    pull, naming the column: a number has already lost leading zeros, and a float the digits of an 18-digit ID.
    """
    engine = department_engine(connection_id, timeout_s)
    try:
        with engine.connect() as connection:
            result = connection.execution_options(stream_results=True).execute(sa.text(query))
            columns = list(result.keys())
            while rows := result.fetchmany(chunk_rows):
                frame = pd.DataFrame(rows, columns=columns, dtype=object)
                _refuse_numbers(frame, text_columns or {}, connection_id)
                yield frame.map(_as_text).astype("string")
    except SQLAlchemyError as error:
        raise SourceError(f"query on connection {connection_id!r} failed: {type(error.orig or error).__name__}"
                          f" ({_first_line(error)})") from None
    finally:
        engine.dispose()


def _refuse_numbers(frame: pd.DataFrame, text_columns: Mapping[str, Element], connection_id: str) -> None:
    """SourceError if a text column holds numbers (``infer_dtype`` scans a column in C: cheap for text)."""
    for name, element in text_columns.items():
        if name not in frame.columns or infer_dtype(frame[name], skipna=True) in ("string", "empty"):
            continue
        numbers = [value for value in frame[name] if isinstance(value, Number) and not isinstance(value, bool)]
        if numbers:
            kind = type(numbers[0]).__name__
            raise SourceError(
                f"数据库连接 {connection_id!r} 的查询结果中, 列 {name!r} 是数值类型 ({kind}), 而数据元 "
                f"{element.name_zh} ({element.key}) 是文本 (标识符、代码等): 数值已丢失前导零, "
                "超过 15 位的数字也可能已被改变。请在部门数据库中把该列改为文本类型 (如 VARCHAR), "
                "或在查询中转换为文本 (CAST(... AS VARCHAR), 仅当数值精确且没有前导零时)。 / "
                f"query on connection {connection_id!r}: column {name!r} is numeric ({kind}) in the database, but its "
                f"element {element.key} is text (an identifier or code): store it as text in the department's "
                "database, or cast it to text in the query if the numbers are exact and have no leading zeros")


def _as_text(value: object) -> object:
    if value is None:
        return pd.NA
    return value if isinstance(value, str) else str(value)


def _timeout_arguments(conn_type: str, timeout_s: int) -> dict:
    if conn_type in ("postgres", "postgresql"):
        return {"connect_args": {"options": f"-c statement_timeout={timeout_s * 1000}", "connect_timeout": 10}}
    if conn_type == "sqlite":
        return {"connect_args": {"timeout": timeout_s}}
    return {}


def _first_line(error: SQLAlchemyError) -> str:
    return _without_values(str(error.orig or error).splitlines()[0])[:200]


# A database quotes the value it failed on ('invalid input syntax for type date: "<a cell>"', 'value "<an ID>" is
# out of range'): a quoted text stays only where the word before it says it names an object, not data.
_QUOTED = re.compile(r"""(\w*)(\W{0,2})("[^"]*"|'[^']*')""")
_NAMES = frozenset({"relation", "column", "table", "schema", "database", "role", "user", "type", "constraint",
                    "index", "function", "sequence", "view", "near", "operator", "extension", "cursor", "statement",
                    "at", "host", "server"})


def _without_values(message: str) -> str:
    def redact(match: re.Match[str]) -> str:
        word, gap, quoted = match.groups()
        return match.group(0) if word.lower() in _NAMES else f"{word}{gap}{quoted[0]}…{quoted[-1]}"

    return _QUOTED.sub(redact, message)
