"""The ``governance`` schema under Alembic: head equals the code's tables, an old database moves forward intact."""

from __future__ import annotations

import threading
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from governance.cli import main
from governance.cli.db import governance_metadata
from governance.warehouse import latest_runs, warehouse_engine, write_run_record
from governance.warehouse.engine import GOVERNANCE_SCHEMA
from governance.warehouse.migrate import SchemaAheadError, current, ensure_schema, head, upgrade
from governance.warehouse.records import close_resolved_quarantine, quarantine

RESIDENT = "public_security/resident_population"

# The schema as release 0.1.0 before the key token and standards versions wrote it (its create_all, by hand):
# run_record without delivered_at / standard_version / suite_version / standards_commit / standards_versions,
# quarantine without key_token, and none of the key, audit, report-view, freshness or sharing tables.
OLD_RELEASE = (
    """CREATE TABLE governance.run_record (
        dag_id VARCHAR(250) NOT NULL, run_id VARCHAR(250) NOT NULL, dataset_key VARCHAR(200),
        department VARCHAR(100), logical_date DATE, started_at <datetime>, finished_at <datetime>, duration_s FLOAT,
        rows_received BIGINT, rows_passed BIGINT, rows_quarantined BIGINT, rows_published BIGINT,
        verdict VARCHAR(32), masked_columns TEXT, leak_findings TEXT, quarantined_by_rule TEXT,
        published_table VARCHAR(250), message TEXT, PRIMARY KEY (dag_id, run_id))""",
    "CREATE INDEX <schema>ix_run_record_dataset ON <table>run_record (dataset_key, started_at)",
    """CREATE TABLE governance.quarantine (
        id <identity> PRIMARY KEY, run_id VARCHAR(250) NOT NULL, dataset_key VARCHAR(200) NOT NULL,
        source_file TEXT, source_line BIGINT, rules TEXT, masked_row TEXT, raw_row_encrypted TEXT,
        status VARCHAR(10) DEFAULT 'open' NOT NULL, closed_by_run VARCHAR(250),
        CONSTRAINT ck_quarantine_status CHECK (status IN ('open', 'closed')))""",
    "CREATE INDEX <schema>ix_quarantine_run ON <table>quarantine (run_id, dataset_key)",
    "CREATE INDEX <schema>ix_quarantine_open ON <table>quarantine (dataset_key, status)",
    """INSERT INTO governance.run_record (dag_id, run_id, dataset_key, department, logical_date, rows_received,
        rows_published, verdict, masked_columns) VALUES ('public_security__resident_population', 'old-run',
        'public_security/resident_population', 'public_security', '2025-03-01', 120, 118, 'passed', '["name"]')""",
    """INSERT INTO governance.quarantine (run_id, dataset_key, source_file, source_line, rules, masked_row,
        raw_row_encrypted) VALUES ('old-run', 'public_security/resident_population', 'residents.csv', 7,
        'id_number_checksum', '{"name": "*"}', 'gAAAAA-ciphertext')""",
)


def create_old_release(engine: sa.Engine) -> None:
    postgres = engine.dialect.name == "postgresql"
    names = {"<identity>": "BIGSERIAL" if postgres else "INTEGER NOT NULL",
             "<datetime>": "TIMESTAMP WITHOUT TIME ZONE" if postgres else "DATETIME",
             "<schema>": "" if postgres else "governance.",
             "<table>": "governance." if postgres else ""}  # SQLite names an index's schema, PostgreSQL its table's
    with engine.begin() as connection:
        for statement in OLD_RELEASE:
            for placeholder, value in names.items():
                statement = statement.replace(placeholder, value)
            connection.exec_driver_sql(statement)


def columns(engine: sa.Engine, table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(engine).get_columns(table, schema=GOVERNANCE_SCHEMA)}


def schema_differences(engine: sa.Engine, *, comments: bool = True) -> list:
    """Alembic's autogenerate view of what ``engine``'s schema lacks (or has more) than the code declares."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "include_schemas": True, "version_table_schema": GOVERNANCE_SCHEMA,
            "include_name": lambda name, kind, _parent: kind != "schema" or name == GOVERNANCE_SCHEMA})
        differences = compare_metadata(context, governance_metadata())
    kinds = [change[0][0] if isinstance(change, list) else change[0] for change in differences]
    return [change for change, kind in zip(differences, kinds, strict=True) if comments or "comment" not in kind]


def test_head_builds_exactly_the_tables_the_code_declares(warehouse: sa.Engine) -> None:
    """A table or column changed in the code without a revision fails here: write one (docs/operations.md)."""
    assert current(warehouse) is None
    assert upgrade(warehouse) == head()
    assert schema_differences(warehouse) == []


def test_an_old_database_is_migrated_forward_with_its_rows_intact(warehouse: sa.Engine) -> None:
    create_old_release(warehouse)
    assert "key_token" not in columns(warehouse, "quarantine")

    ensure_schema(warehouse)  # what the first write after the upgrade does; `governance db upgrade` does the same

    assert current(warehouse) == head()
    assert schema_differences(warehouse, comments=False) == []  # the DDL above skips the old tables' comments
    [old] = latest_runs(warehouse)
    assert (old["run_id"], old["rows_received"], old["rows_published"], old["masked_columns"]) == \
        ("old-run", 120, 118, ["name"])
    assert old["logical_date"] == date(2025, 3, 1)
    assert old["standard_version"] is None and old["delivered_at"] is None  # unknown for the old run
    with warehouse.connect() as connection:
        [entry] = connection.execute(sa.select(quarantine)).mappings()
    assert (entry["source_line"], entry["rules"], entry["raw_row_encrypted"], entry["status"], entry["key_token"]) \
        == (7, "id_number_checksum", "gAAAAA-ciphertext", "open", None)
    # The new columns work: a new run records its versions, and an old entry (no key token) is never closed.
    write_run_record(warehouse, {"dag_id": "public_security__resident_population", "run_id": "new-run",
                                 "dataset_key": RESIDENT, "started_at": datetime(2025, 3, 2, 18),
                                 "standard_version": "a" * 64, "verdict": "passed"})
    assert latest_runs(warehouse)[0]["standard_version"] == "a" * 64
    assert close_resolved_quarantine(warehouse, RESIDENT, ["token"], "new-run") == 0


def test_a_schema_migrated_by_a_newer_release_is_refused_not_downgraded(warehouse: sa.Engine) -> None:
    upgrade(warehouse)
    with warehouse.begin() as connection:
        connection.exec_driver_sql("UPDATE governance.alembic_version SET version_num = '9999'")
    worker = warehouse_engine(warehouse.url.render_as_string(hide_password=False))  # an old worker's first write
    with pytest.raises(SchemaAheadError, match="revision 9999, newer than this release's head"):
        ensure_schema(worker)
    worker.dispose()


def test_the_append_only_guards_come_with_the_baseline(warehouse: sa.Engine) -> None:
    upgrade(warehouse)
    with warehouse.begin() as connection:
        connection.exec_driver_sql("INSERT INTO governance.report_view (at, viewer, department, dataset_key, report, "
                                   "decision) VALUES ('2025-03-01 08:00:00', 'a', 'd', 'd/x', 'r.html', 'allowed')")
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), warehouse.begin() as connection:
        connection.exec_driver_sql("DELETE FROM governance.report_view")


@pytest.mark.postgres
def test_concurrent_first_writers_upgrade_once(postgres_database: str) -> None:
    """Workers starting together on an empty warehouse: one upgrades under the lock, the others find head."""
    engines = [warehouse_engine(postgres_database) for _ in range(4)]
    errors: list[BaseException] = []

    def first_write(engine: sa.Engine) -> None:
        try:
            ensure_schema(engine)
        except BaseException as error:  # reported below, not swallowed
            errors.append(error)

    threads = [threading.Thread(target=first_write, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engines[0].connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM governance.alembic_version")) == 1
    for engine in engines:
        engine.dispose()


def test_governance_db_upgrade_command(tmp_path, monkeypatch, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", url)
    create_old_release(warehouse_engine(url))
    assert main(["db", "upgrade"]) == 0
    assert f"governance schema: empty -> {head()}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "current"]) == 0
    assert f"already at {head()}" in capsys.readouterr().out
    assert "key_token" in columns(warehouse_engine(url), "quarantine")
