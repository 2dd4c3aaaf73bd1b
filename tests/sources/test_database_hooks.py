"""Departmental databases through Airflow connections and their common-sql hooks (DbApiHook)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from governance.sources.database import department_engine, read_query
from governance.sources.errors import SourceError


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def department(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch) -> str:
    """A connection id, defined as Airflow reads it from the environment, on a database with two rows."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'department.db'}"
        monkeypatch.setenv("AIRFLOW_CONN_DEPT_DB", url)
    else:
        url = request.getfixturevalue("postgres_database")
        parsed = sa.make_url(url)
        monkeypatch.setenv("AIRFLOW_CONN_DEPT_DB", json.dumps({
            "conn_type": "postgres", "host": parsed.host, "port": parsed.port, "login": parsed.username,
            "schema": parsed.database}))
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE register (id_number VARCHAR(20), seq INTEGER)"))
        connection.execute(sa.text("INSERT INTO register VALUES ('T-000001', 1), "
                                   "('T-000002', NULL)"))
    engine.dispose()
    return "dept_db"


def test_the_connections_hook_builds_the_engine_and_rows_stream_as_text(department: str) -> None:
    engine = department_engine(department)
    assert engine.url.drivername in ("postgresql+psycopg", "sqlite")  # the provider's driver, not ours
    engine.dispose()
    frames = list(read_query(department, "SELECT id_number, seq FROM register ORDER BY id_number", chunk_rows=1))
    assert [len(frame) for frame in frames] == [1, 1]  # streamed in chunks of chunk_rows
    rows = pd.concat(frames, ignore_index=True)
    assert all(dtype == "string" for dtype in rows.dtypes)  # text as the department stored it, a NULL stays missing
    assert rows["id_number"].tolist() == ["T-000001", "T-000002"]
    assert rows["seq"].iloc[0] == "1" and rows["seq"].isna().tolist() == [False, True]


def test_a_connection_without_a_sql_hook_is_refused_naming_its_type(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DEPT_MAIL", json.dumps({"conn_type": "smtp", "host": "mail.invalid"}))
    with pytest.raises(SourceError, match="'dept_mail' has type 'smtp', which has no SQL hook here"):
        list(read_query("dept_mail", "SELECT 1"))


def test_an_undefined_connection_says_where_to_add_it() -> None:
    with pytest.raises(SourceError, match=r"'dept_nowhere' is not defined .* secrets backend"):
        department_engine("dept_nowhere")
