"""After real Airflow runs of departmental DAGs, nothing secret or identifying is where it must not be.

Two nights in a private var root, each run through Airflow (``dag.test()`` on a fresh SQLite metadata DB, as
``make demo`` does): a good night of the resident register (CSV) and the subsistence allowance register (read from
a departmental PostgreSQL database with a password), and a night on which both fail (a malformed CSV row holding
an ID; a query whose cast fails on an ID). Then every place the runs wrote is scanned for

* key material of the keyring the runs used (each key as base64url, base64 and hex, and the keyring's JSON),
* a department's sharing-API token issued before the runs (whole, and its secret part),
* the departmental database's password,
* valid resident ID numbers and mobile numbers in clear (``identifier_counts``, the leak guard's rules).

Where: the task logs (``dag.test()`` writes them to the process's output, which is captured; any file under the
Airflow log folder too), every table of the Airflow metadata DB (XCom first), the warehouse, the Data Docs, the
run work areas and the reports. Raw identifiers are allowed in exactly two places, as docs/threat-model.md and
docs/operations.md say: the department's own quarantine report (restricted; it shows the department the rows
it must fix, and only rows it sent) and the run work area's raw inputs (pipeline-only storage). The masked
output there must hold none.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from governance.keys import keyring_from_json
from governance.redaction.leak_guard import RESIDENT_ID, identifier_counts
from governance.sharing.tokens import token_hash
from governance.sources.delivery import write_manifest
from governance.standards.catalogue import load_catalogue
from governance.warehouse import warehouse_engine

REPO_ROOT = Path(__file__).resolve().parents[2]
GOVERNANCE = str(Path(sys.executable).with_name("governance"))
GOOD_NIGHT, BAD_NIGHT = date(2026, 11, 27), date(2026, 11, 28)
RESIDENTS, ALLOWANCE = "public_security__resident_population", "civil_affairs__subsistence_allowance"
RUN_DAGS = """
import os, sys
from datetime import date
from governance.settings import airflow_environment
os.environ.update(airflow_environment())
from governance_demo.run import run_demo
print("RUN_OK", run_demo(date.fromisoformat(sys.argv[1]), only=set(sys.argv[2:])))
"""
# Hex tokens (UUIDs, hashes) in Airflow's tables and logs can hold an 11-digit run by chance: not identifiers.
_HEX_TOKENS = re.compile(r"(?<![0-9A-Za-z])(?=[0-9a-fA-F-]*[a-fA-F])[0-9a-fA-F-]{16,}(?![0-9A-Za-z])")
# A database file stores a record's values back to back, so a hash or key id there touches the next value's letters
# ("...c13b58" "market_regulation"): in raw bytes a hex run is a token whatever borders it.
_HEX_RUNS = re.compile(r"(?=[0-9a-fA-F-]*[a-fA-F])[0-9a-fA-F-]{16,}")

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(900)]


@dataclass(frozen=True)
class Night:
    var_root: Path
    logs: str  # what the DAG runs wrote to their output: the task logs, as dag.test() emits them
    secrets: dict[str, bytes]  # what must be nowhere, by what it is
    warehouse: str


def governance(environment: dict[str, str], *args: str) -> str:
    done = subprocess.run([GOVERNANCE, *args], env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"governance {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def run_dags(environment: dict[str, str], day: date, *dags: str) -> tuple[bool, str]:
    done = subprocess.run([sys.executable, "-c", RUN_DAGS, day.isoformat(), *dags], env=environment,
                          capture_output=True, text=True, timeout=600)
    assert "RUN_OK" in done.stdout, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return "RUN_OK True" in done.stdout, done.stdout + done.stderr


def key_forms(key: bytes) -> list[bytes]:
    return [base64.urlsafe_b64encode(key), base64.urlsafe_b64encode(key).rstrip(b"="), base64.b64encode(key),
            key.hex().encode(), key.hex().upper().encode(), key]


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory, postgres_database_module: str) -> Night:
    var_root = tmp_path_factory.mktemp("no-secrets")
    warehouse = f"sqlite:///{var_root / 'warehouse' / 'warehouse.db'}"
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")} | {
        "GOVERNANCE_VAR_ROOT": str(var_root), "GOVERNANCE_WAREHOUSE_URL": warehouse,
        "GOVERNANCE_TASK_RETRIES": "0", "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}
    governance(environment, "keys", "init")
    for day in (GOOD_NIGHT, BAD_NIGHT):
        governance(environment, "demo-data", "--date", day.isoformat(), "--rows", "400")
    token = governance(environment, "tokens", "issue", "market_regulation").strip().splitlines()[-1]

    # The civil affairs register moves to a PostgreSQL database reached with a password (trust auth ignores it,
    # so the password is a secret the runs hold and must never write down).
    password = f"dept-{secrets.token_hex(12)}"
    department = sa.make_url(postgres_database_module)
    demo_database = sa.create_engine(f"sqlite:///{var_root / 'departments' / 'civil_affairs.db'}")
    register = pd.read_sql("SELECT * FROM allowance_recipients", demo_database)
    demo_database.dispose()
    engine = sa.create_engine(department)
    register.to_sql("allowance_recipients", engine, index=False)
    engine.dispose()
    connections = var_root / "secrets" / "connections.json"
    connections.write_text(json.dumps({"civil_affairs_db": f"postgres://{department.username}:{password}@"
                                                           f"{department.host}:{department.port or 5432}/"
                                                           f"{department.database}"}))

    # The bad night: a malformed row holding an ID and a mobile, and a query whose cast fails on an ID.
    drop = next((var_root / "landing" / "public_security" / "resident_population" / BAD_NIGHT.isoformat())
                .glob("*.csv"))
    with drop.open("a", encoding="utf-8") as handle:
        handle.write(drop.read_text(encoding="utf-8").splitlines()[1] + ",13900000001\n")
    # Its manifest as the export wrote it (the malformed row fails the reader before row counts are compared).
    residents = load_catalogue(REPO_ROOT / "standards").dataset("public_security/resident_population")
    write_manifest(drop.parent, residents, BAD_NIGHT, "test export", rows={drop.name: 0})
    failing = Path(shutil.copytree(REPO_ROOT / "standards", var_root / "standards-failing"))
    allowance = failing / "datasets" / "civil_affairs" / "subsistence_allowance.yaml"
    allowance.write_text(allowance.read_text(encoding="utf-8").replace(
        "SELECT id_number,", "SELECT CAST(id_number AS integer) AS id_number,"), encoding="utf-8")

    good, good_logs = run_dags(environment, GOOD_NIGHT, RESIDENTS, ALLOWANCE)
    assert good, good_logs[-3000:]
    bad, bad_logs = run_dags(environment | {"GOVERNANCE_STANDARDS_ROOT": str(failing)}, BAD_NIGHT, RESIDENTS,
                             ALLOWANCE)
    assert not bad, bad_logs[-3000:]

    keyring_json = json.loads((var_root / "secrets" / "variables.json").read_text())["governance_keyring"]
    keyring = keyring_from_json(keyring_json)
    assert re.fullmatch(r"gst_t[0-9a-f]{16}_[A-Za-z0-9_-]{40,}", token)  # gst_<token id>_<secret>
    found = {"keyring JSON": keyring_json.encode(), "token": token.encode(),
             "token secret": token.split("_", 2)[2].encode(), "department password": password.encode()}
    for kind, keys in (("pseudonym", keyring.pseudonym_keys), ("encryption", keyring.encryption_keys)):
        for key_id, key in keys.items():
            for number, form in enumerate(key_forms(key)):
                found[f"{kind} key {key_id} (form {number})"] = form
    return Night(var_root, good_logs + bad_logs, found, warehouse)


# ----------------------------------------------------------------------------------------------------------------
# Scanning
# ----------------------------------------------------------------------------------------------------------------

def secrets_in(data: bytes | str, night: Night) -> list[str]:
    data = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return [what for what, secret in night.secrets.items() if secret in data]


def identifiers_in(text: str) -> dict[str, int]:
    return identifier_counts(pd.Series(_HEX_TOKENS.sub(" ", text).splitlines(), dtype="string"))


def identifiers_in_file(raw: bytes) -> dict[str, int]:
    """Identifiers in a file's raw bytes (free pages and journal included), hex runs set aside wherever they sit."""
    return identifiers_in(_HEX_RUNS.sub(" ", raw.decode("utf-8", "replace")))


def sqlite_columns(path: Path) -> Iterator[tuple[str, str, list[object]]]:
    """(table, column, values) of every column of every table of an SQLite file."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            names = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
            for index, name in enumerate(names):
                yield table, name, [row[index] for row in rows]
    finally:
        connection.close()


def as_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


def parquet_text(path: Path) -> str:
    """Every value of a Parquet file (or a directory of parts), one per line."""
    table = pq.read_table(path)
    return "\n".join(str(value) for column in table.columns for value in column.to_pylist() if value is not None)


def files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


# ----------------------------------------------------------------------------------------------------------------
# The runs did what the scans rely on
# ----------------------------------------------------------------------------------------------------------------

def test_the_good_night_published_and_the_bad_night_failed_on_data(night: Night) -> None:
    engine = warehouse_engine(night.warehouse)
    records = pd.read_sql("SELECT dag_id, logical_date, verdict, rows_quarantined, rows_published, message "
                          "FROM governance.run_record", engine)
    engine.dispose()
    records["logical_date"] = records["logical_date"].astype(str)
    good = records[records["logical_date"] == GOOD_NIGHT.isoformat()].set_index("dag_id")
    bad = records[records["logical_date"] == BAD_NIGHT.isoformat()].set_index("dag_id")
    assert set(good.index) == set(bad.index) == {RESIDENTS, ALLOWANCE}
    assert (good["rows_published"] > 0).all() and good["rows_quarantined"].sum() > 0
    assert (bad["verdict"] == "failed").all() and (bad["rows_published"] == 0).all()
    assert "malformed row(s)" in bad.loc[RESIDENTS, "message"]
    assert 'NumericValueOutOfRange (value "…" is out of range for type integer)' in bad.loc[ALLOWANCE, "message"]


# ----------------------------------------------------------------------------------------------------------------
# The scans
# ----------------------------------------------------------------------------------------------------------------

def test_task_logs_hold_no_secret_and_no_identifier(night: Night) -> None:
    """Every line the tasks logged, the failures' tracebacks included (they name file, line and problem only)."""
    log_files = files_under(night.var_root / "airflow" / "logs")
    logs = night.logs + "".join(path.read_text(encoding="utf-8", errors="replace") for path in log_files)
    assert logs.count("Done. Returned value was") >= 14  # every task of both DAGs on the good night
    assert "malformed row(s)" in logs and "NumericValueOutOfRange" in logs  # the bad night's failures
    assert secrets_in(logs, night) == []
    assert identifiers_in(logs) == {}


def test_xcom_and_the_whole_metadata_db_hold_no_secret_and_no_identifier(night: Night) -> None:
    """Every column of every table (XCom, task instances, rendered fields, the event log, serialized DAGs), and
    the database files' raw bytes too: free pages and the write-ahead log keep what a table no longer shows."""
    scanned: dict[str, int] = {}
    metadata = night.var_root / "airflow" / "airflow.db"
    for table, column, values in sqlite_columns(metadata):
        text = b"\n".join(as_bytes(value) for value in values if value is not None)
        assert secrets_in(text, night) == [], f"{table}.{column}"
        assert identifiers_in(text.decode("utf-8", "replace")) == {}, f"{table}.{column}"
        scanned[table] = len(values)
    assert scanned.get("xcom", 0) >= 14 and scanned.get("task_instance", 0) >= 14
    for path in metadata.parent.glob("airflow.db*"):
        raw = path.read_bytes()
        assert secrets_in(raw, night) == [] and identifiers_in_file(raw) == {}, path


def test_the_warehouse_holds_no_secret_and_no_identifier(night: Night) -> None:
    """Published tables, run records (failure messages included), quarantine entries (raw rows encrypted), the
    token table; then the database files' raw bytes."""
    cells = b""
    databases = [path for path in files_under(night.var_root / "warehouse") if path.suffix == ".db"]
    assert len(databases) >= 2
    for path in databases:
        for table, column, values in sqlite_columns(path):
            text = b"\n".join(as_bytes(value) for value in values if value is not None)
            assert secrets_in(text, night) == [], f"{path.name}: {table}.{column}"
            assert identifiers_in(text.decode("utf-8", "replace")) == {}, f"{path.name}: {table}.{column}"
            cells += text
    token = night.secrets["token"].decode()
    assert token_hash(token).encode() in cells  # the token table was scanned: it holds the hash, not the token
    for path in files_under(night.var_root / "warehouse"):
        raw = path.read_bytes()
        assert secrets_in(raw, night) == [] and identifiers_in_file(raw) == {}, path


def test_data_docs_and_work_summaries_hold_no_secret_and_no_identifier(night: Night) -> None:
    """Data Docs show counts and rules, never a value; the step and chunk summaries (what XCom carries) and the
    step locks likewise: every file of the Data Docs and the work areas but the Parquet data."""
    documents = files_under(night.var_root / "data_docs")
    work = [path for path in files_under(night.var_root / "work") if ".parquet" not in path.as_posix()]
    assert len(documents) >= 4 and len([path for path in work if path.suffix == ".json"]) >= 14
    for path in documents + work:
        raw = path.read_bytes()
        assert secrets_in(raw, night) == [] and identifiers_in_file(raw) == {}, path


def test_the_work_area_keeps_raw_identifiers_only_in_its_raw_inputs(night: Night) -> None:
    """received, passed and quarantined hold the department's rows as sent (pipeline-only storage); the masked
    output, what publish reads, holds none. No secret in any of them."""
    parquet = {path.parent if path.parent.suffix == ".parquet" else path
               for path in files_under(night.var_root / "work") if ".parquet" in str(path)}
    masked = [path for path in parquet if path.name == "masked.parquet"]
    raw = [path for path in parquet if path.name in ("received.parquet", "passed.parquet", "quarantined.parquet")]
    assert len(masked) == 2 and raw
    for path in sorted(parquet):
        text = parquet_text(path)
        assert secrets_in(text, night) == [], path
        if path in masked:
            assert identifiers_in(text) == {}, path
    assert any(identifiers_in(parquet_text(path)) for path in raw)  # the scan does see raw identifiers


def test_quarantine_reports_show_each_department_only_its_own_rows(night: Night) -> None:
    """The department's own report carries its raw rows to fix (restricted to its folder): identifiers there are
    expected, and every ID in it is one that department sent. No secret in any report."""
    reports = files_under(night.var_root / "reports")
    assert reports
    drops = (night.var_root / "landing" / "public_security").rglob("*.csv")
    department = sa.create_engine(f"sqlite:///{night.var_root / 'departments' / 'civil_affairs.db'}")
    sent = {"public_security/resident_population": "\n".join(path.read_text(encoding="utf-8") for path in drops),
            "civil_affairs/subsistence_allowance": pd.read_sql("SELECT * FROM allowance_recipients",
                                                               department).to_csv()}
    department.dispose()
    with_identifiers = 0
    for path in reports:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        assert secrets_in(text, night) == [], path
        folder = path.parent.relative_to(night.var_root / "reports").as_posix()
        assert folder in sent and path.name.startswith("quarantine_"), path
        if identifiers_in(text):
            with_identifiers += 1
            assert set(re.findall(RESIDENT_ID, text)) <= set(re.findall(RESIDENT_ID, sent[folder])), path
    assert with_identifiers >= 2  # both departments' reports (CSV and HTML) were scanned with rows in them


def test_no_file_but_the_secrets_backend_holds_a_secret(night: Night) -> None:
    """Every file the two nights left, inputs included (a landed drop, the department's database file, the
    Airflow configuration and logs), read raw, and Parquet files by value (their pages are compressed)."""
    scanned = 0
    for path in files_under(night.var_root):
        if path.is_relative_to(night.var_root / "secrets"):
            continue
        data = parquet_text(path).encode() if path.suffix == ".parquet" else path.read_bytes()
        assert secrets_in(data, night) == [], path
        scanned += 1
    assert scanned > 60
