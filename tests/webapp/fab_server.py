"""A real ``airflow api-server`` with the FAB auth manager on a private SQLite metadata DB, for the pages tests.

Set up as an operator would: ``airflow db migrate`` (FAB's tables too), ``governance roles sync`` (roles and
per-DAG permissions from the standards), users created by ``governance.roles.sync.ensure_user`` (FAB's
security manager), the DAGs serialized (``airflow dags reserialize``, which syncs each DAG's
``access_control`` as the dag-processor does), a warehouse with two departments' runs, raw quarantine
reports and Data Docs, then the api-server itself.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx

from governance.validation.data_docs import run_docs_folder
from governance.warehouse import warehouse_engine, write_run_record

BIN = Path(sys.executable).parent
FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
DAY = date(2026, 11, 27)
A, B = "civil_affairs/subsistence_allowance", "health/medical_institution"
RAW = {A: "110101194903070011,张三,13800138000", B: "110101198001010022,李四,13900139000"}
USERS = {"steward_a": "Steward civil_affairs", "steward_b": "Steward health", "engineer_a": "Engineer civil_affairs",
         "oversight": "Oversight office", "security": "Security officer"}

_CREATE_USERS = """
import json, sys
from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
from governance.roles.sync import ensure_user
for name, (role, password) in json.loads(sys.argv[1]).items():
    assert ensure_user(name, role, password), name
with get_application_builder() as appbuilder:  # a hand-made grant the next sync must take back
    manager = appbuilder.sm
    manager.add_permission_to_role(manager.find_role("Steward civil_affairs"),
                                   manager.create_permission("can_read", "Variables"))
"""


@dataclass
class FabServer:
    base: str
    var_root: Path
    passwords: dict[str, str]
    timings: dict[str, float | str] = field(default_factory=dict)

    def token(self, user: str) -> str:
        response = httpx.post(f"{self.base}/auth/token", json={"username": user, "password": self.passwords[user]},
                              timeout=60)
        assert response.status_code == 201, response.text
        return response.json()["access_token"]


def report_path(key: str) -> str:
    return f"/governance/reports/{key}/quarantine_{DAY.isoformat()}.csv"


def docs_path(key: str) -> str:
    department, name = key.split("/")
    return f"/governance/docs/{department}__{name}/scheduled__{DAY.isoformat()}/index.html"


def seed(var_root: Path, warehouse_url: str) -> None:
    """Each of departments A and B: a run with one quarantined row, its raw report and its Data Docs page."""
    engine = warehouse_engine(warehouse_url)
    for key, raw in RAW.items():
        department, name = key.split("/")
        run_id = f"scheduled__{DAY.isoformat()}"
        write_run_record(engine, {"dag_id": f"{department}__{name}", "run_id": run_id, "dataset_key": key,
                                  "department": department, "logical_date": DAY, "verdict": "passed",
                                  "rows_received": 10, "rows_passed": 9, "rows_quarantined": 1, "rows_published": 9})
        report = var_root / "reports" / department / name / f"quarantine_{DAY.isoformat()}.csv"
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(f"id,name,mobile\n{raw}\n", encoding="utf-8")
        (report.with_suffix(".html")).write_text(f"<table><tr><td>{raw}</td></tr></table>", encoding="utf-8")
        docs = run_docs_folder(var_root / "data_docs", f"{department}__{name}", run_id)
        docs.mkdir(parents=True, exist_ok=True)
        (docs / "index.html").write_text(f"<h1>Data Docs {key}</h1>", encoding="utf-8")
    engine.dispose()


def start(var_root: Path, port: int) -> tuple[subprocess.Popen, FabServer]:
    warehouse_url = f"sqlite:///{var_root / 'warehouse' / 'warehouse.db'}"
    seed(var_root, warehouse_url)
    base = f"http://127.0.0.1:{port}"
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    environment |= {
        "GOVERNANCE_VAR_ROOT": str(var_root), "GOVERNANCE_WAREHOUSE_URL": warehouse_url,
        "AIRFLOW_HOME": str(var_root / "airflow"), "AIRFLOW__CORE__AUTH_MANAGER": FAB,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{var_root / 'airflow' / 'airflow.db'}",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48), "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API__BASE_URL": base, "AIRFLOW__API__WORKERS": "1",
    }
    (var_root / "airflow").mkdir(parents=True, exist_ok=True)
    passwords = {user: secrets.token_urlsafe(12) for user in USERS}
    timings: dict[str, float | str] = {}
    for label, command in (
            ("db_migrate_s", [BIN / "governance", "airflow", "--", "db", "migrate"]),
            ("roles_sync_s", [BIN / "governance", "roles", "sync"]),
            ("users_s", [BIN / "python", "-c", _CREATE_USERS,
                         json.dumps({user: [role, passwords[user]] for user, role in USERS.items()})]),
            ("roles_resync_s", [BIN / "governance", "roles", "sync"]),
            ("dags_reserialize_s", [BIN / "governance", "airflow", "--", "dags", "reserialize"])):
        started = time.monotonic()
        done = subprocess.run([str(part) for part in command], env=environment, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, f"{label}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
        timings[label] = round(time.monotonic() - started, 1)
        if label in ("roles_sync_s", "roles_resync_s"):
            timings[label.removesuffix("_s") + "_output"] = done.stdout.strip().splitlines()[-1]
    log = (var_root / "api-server.log").open("w")
    started = time.monotonic()
    server = subprocess.Popen([str(BIN / "governance"), "airflow", "--", "api-server", "--port", str(port),
                               "--host", "127.0.0.1"], env=environment, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    _wait_until_healthy(base, server, var_root / "api-server.log")
    timings["api_server_ready_s"] = round(time.monotonic() - started, 1)
    return server, FabServer(base, var_root, passwords, timings)


def _wait_until_healthy(base: str, server: subprocess.Popen, log: Path, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the api-server exited ({server.returncode}):\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/api/v2/monitor/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"the api-server was not healthy within {timeout_s:.0f} s:\n{log.read_text()[-4000:]}")


def stop(server: subprocess.Popen) -> None:
    """Stop the process group this module started (the api-server and its workers), nothing else."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
