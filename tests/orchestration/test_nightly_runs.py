"""Every dataset DAG runs end to end through Airflow on demo data, on SQLite and on PostgreSQL.

This drives the same commands as ``make demo`` in a private var/ folder: demo keys, demo
drops, then real ``dag.test()`` runs on a fresh Airflow metadata DB.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from governance.masking.leak_guard import identifier_counts
from governance.standards.catalogue import load_catalogue

REPO_ROOT = Path(__file__).resolve().parents[2]
BUSINESS_DATE = "2026-11-27"
GOVERNANCE = str(Path(sys.executable).with_name("governance"))

pytestmark = pytest.mark.slow


def governance(var_root: Path, warehouse_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    environment |= {"GOVERNANCE_VAR_ROOT": str(var_root), "GOVERNANCE_WAREHOUSE_URL": warehouse_url}
    return subprocess.run([GOVERNANCE, *args], env=environment, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def nightly(request, tmp_path_factory) -> tuple[sa.Engine, str]:
    """One demo night per warehouse kind: keys, drops, and every dataset DAG run through Airflow."""
    var_root = tmp_path_factory.mktemp(f"night-{request.param}")
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database_module")
    else:
        url = f"sqlite:///{var_root / 'warehouse' / 'warehouse.db'}"
    for args in (["keys", "init"], ["demo-data", "--date", BUSINESS_DATE, "--rows", "400"],
                 ["demo", "--date", BUSINESS_DATE]):
        done = governance(var_root, url, *args)
        assert done.returncode == 0, f"governance {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    from governance.warehouse import warehouse_engine

    engine = warehouse_engine(url)
    yield engine, done.stdout
    engine.dispose()


def test_every_dataset_dag_succeeds(nightly) -> None:
    _, summary = nightly
    datasets = load_catalogue(REPO_ROOT / "standards").datasets.values()
    for dataset in datasets:
        assert re.search(rf"^{dataset.dag_id}\s+success\s", summary, re.MULTILINE), summary


def test_runs_are_recorded_and_rows_accounted_for(nightly) -> None:
    engine, _ = nightly
    records = pd.read_sql("SELECT * FROM governance.run_record", engine)
    assert len(records) == len(load_catalogue(REPO_ROOT / "standards").datasets)
    assert (records["rows_received"] == records["rows_passed"] + records["rows_quarantined"]).all()
    assert (records["rows_published"] == records["rows_passed"]).all()
    assert set(records["verdict"]) <= {"passed", "passed_with_quarantine"}
    assert records["rows_quarantined"].sum() > 0  # the demo drops carry defects
    with engine.connect() as connection:
        for record in records.itertuples():
            published = connection.execute(sa.text(f"SELECT count(*) FROM {record.published_table}")).scalar()
            assert published == record.rows_published
            quarantined = connection.execute(sa.text(
                "SELECT count(*) FROM governance.quarantine WHERE run_id = :run AND dataset_key = :key"),
                {"run": record.run_id, "key": record.dataset_key}).scalar()
            assert quarantined == record.rows_quarantined


def test_no_raw_identifier_anywhere_in_the_warehouse(nightly) -> None:
    """Scan every text column of every table, quarantine included, for valid IDs and mobiles in clear."""
    engine, _ = nightly
    inspector = sa.inspect(engine)
    scanned = 0
    with engine.connect() as connection:
        for schema in ("shared", "governance"):
            for table in inspector.get_table_names(schema=schema):
                columns = [c["name"] for c in inspector.get_columns(table, schema=schema)
                           if isinstance(c["type"], sa.String | sa.Text)]
                if not columns:
                    continue
                frame = pd.read_sql(sa.select(*[sa.column(c) for c in columns])
                                    .select_from(sa.table(table, schema=schema)), connection)
                for column in columns:
                    hits = identifier_counts(frame[column].astype("string"))
                    assert hits == {}, f"{schema}.{table}.{column} holds identifiers in clear: {hits}"
                    scanned += 1
    assert scanned > 20
