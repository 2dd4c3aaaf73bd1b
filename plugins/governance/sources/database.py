"""Read a departmental database through SQLAlchemy, with the URL from an Airflow connection.

Taking the connection from Airflow means any secrets backend (environment, local file,
Vault, ...) holds the department's credentials; nothing about them is in the standards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from governance.sources.errors import SourceError

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
               timeout_s: int = 600) -> Iterator[pd.DataFrame]:
    """Stream the query's rows as text frames of at most ``chunk_rows`` rows."""
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
    return str(error.orig or error).splitlines()[0][:200]
