"""Read a departmental database through SQLAlchemy, with the URL from an Airflow connection.

Taking the connection from Airflow means any secrets backend (environment, local file,
Vault, ...) holds the department's credentials; nothing about them is in the standards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from governance.sources.errors import SourceError

DEFAULT_TIMEOUT_S = 600
_DRIVERS = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql",
            "sqlite": "sqlite"}


def connection_url(connection_id: str) -> sa.URL:
    from airflow.sdk import Connection

    try:
        connection = Connection.get(connection_id)
    except Exception as error:
        raise SourceError(f"Airflow connection {connection_id!r} is not defined ({type(error).__name__}); "
                          "add it in the Airflow UI or the secrets backend") from None
    driver = _DRIVERS.get(connection.conn_type or "")
    if driver is None:
        raise SourceError(f"Airflow connection {connection_id!r} has type {connection.conn_type!r}; "
                          f"supported: {', '.join(sorted(_DRIVERS))}")
    if driver == "sqlite":
        return sa.URL.create("sqlite", database=connection.host or connection.schema)
    return sa.URL.create(driver, username=connection.login, password=connection.password,
                         host=connection.host, port=connection.port, database=connection.schema)


def read_query(connection_id: str, query: str, *, chunk_rows: int = 100_000,
               timeout_s: int = DEFAULT_TIMEOUT_S) -> Iterator[pd.DataFrame]:
    """Stream the query's rows as text frames of at most ``chunk_rows`` rows.

    ``timeout_s`` bounds each statement on PostgreSQL (``statement_timeout``: the server cancels it) and the wait
    for a lock on SQLite; the dataset standard's ``source.timeout_s`` sets it.
    """
    url = connection_url(connection_id)
    engine = sa.create_engine(url, **_timeout_arguments(url, timeout_s))
    try:
        with engine.connect() as connection:
            result = connection.execution_options(stream_results=True).execute(sa.text(query))
            columns = list(result.keys())
            while rows := result.fetchmany(chunk_rows):
                frame = pd.DataFrame(rows, columns=columns, dtype=object)
                yield frame.map(_as_text).astype("string")
    except SQLAlchemyError as error:
        raise SourceError(f"query on connection {connection_id!r} failed: {type(error.orig or error).__name__}"
                          f" ({_first_line(error)})") from None
    finally:
        engine.dispose()


def _as_text(value: object) -> object:
    if value is None:
        return pd.NA
    return value if isinstance(value, str) else str(value)


def _timeout_arguments(url: sa.URL, timeout_s: int) -> dict:
    if url.drivername.startswith("postgresql"):
        return {"connect_args": {"options": f"-c statement_timeout={timeout_s * 1000}", "connect_timeout": 10}}
    if url.drivername == "sqlite":
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
