"""A real Airflow api-server with the governance plugin, on a private AIRFLOW_HOME and a seeded warehouse.

Started once per session, only by the tests that ask for it (they are marked slow). SimpleAuthManager
with one admin user and a passwords file, never ``all_admins``: anonymous requests must be refused.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from oversight_support import (
    ENTERPRISE,
    MEDICAL,
    RESIDENT,
    TAX,
    ensure_access_tables,
    log_calls,
    publish_rows,
    record_run,
)

from governance.oversight.clocks import freshness_board
from governance.oversight.history import record_checks
from governance.standards.catalogue import Catalogue
from governance.warehouse import warehouse_engine

GOVERNANCE = str(Path(sys.executable).with_name("governance"))


@dataclass
class AirflowApi:
    base: str
    token: str
    var_root: Path
    timings: dict[str, float] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def seed_warehouse(url: str, catalogue: Catalogue) -> None:
    """Datasets in every state the board shows (``EXPECTED_STATUS``), a few days of runs, hourly checks
    and access calls."""
    engine = warehouse_engine(url)
    now = datetime.now(UTC)
    for days_ago in (3, 2, 1):
        day = (now - timedelta(days=days_ago)).date()
        record_run(engine, RESIDENT, day, finished=now - timedelta(days=days_ago - 1, hours=2),
                   received=1000 + 50 * days_ago, quarantined=10 * days_ago)
        record_run(engine, ENTERPRISE, day, verdict="failed" if days_ago == 2 else "passed",
                   finished=now - timedelta(days=days_ago - 1, hours=2))
    publish_rows(engine, catalogue, RESIDENT, [now - timedelta(hours=3)])
    publish_rows(engine, catalogue, ENTERPRISE, [now - timedelta(hours=72)])
    record_run(engine, MEDICAL, (now - timedelta(days=10)).date(), finished=now - timedelta(days=9))
    publish_rows(engine, catalogue, MEDICAL, [now - timedelta(days=9)])
    record_run(engine, TAX, (now - timedelta(days=2)).date(), finished=now - timedelta(hours=1))
    publish_rows(engine, catalogue, TAX, [now + timedelta(days=2)])
    for hours_ago in (3, 2, 1):
        record_checks(engine, freshness_board(engine, catalogue, now - timedelta(hours=hours_ago)))
    ensure_access_tables(engine)
    log_calls(engine, [(now - timedelta(hours=hours), consumer, key, decision, rows)
                       for hours, consumer, key, decision, rows in (
                           (30, "civil_affairs", RESIDENT, "allowed", 120), (5, "health", RESIDENT, "allowed", 40),
                           (4, "taxation", RESIDENT, "blocked", 0), (4, "taxation", ENTERPRISE, "denied", 0),
                           (2, "taxation", ENTERPRISE, "allowed", 15), (1, "health", MEDICAL, "allowed", 9))])
    engine.dispose()


@pytest.fixture(scope="session")
def airflow_api(tmp_path_factory: pytest.TempPathFactory, catalogue: Catalogue) -> Iterator[AirflowApi]:
    var_root = tmp_path_factory.mktemp("airflow-api")
    url = f"sqlite:///{var_root / 'warehouse' / 'warehouse.db'}"
    seed_warehouse(url, catalogue)
    password = secrets.token_urlsafe(12)
    passwords = var_root / "passwords.json"
    passwords.write_text(json.dumps({"admin": password}))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    environment |= {
        "GOVERNANCE_VAR_ROOT": str(var_root), "GOVERNANCE_WAREHOUSE_URL": url,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
        "AIRFLOW__API__BASE_URL": base, "AIRFLOW__API__WORKERS": "1",
    }
    timings: dict[str, float] = {}
    started = time.monotonic()
    migrate = subprocess.run([GOVERNANCE, "airflow", "--", "db", "migrate"], env=environment, capture_output=True,
                             text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
    timings["db_migrate_s"] = round(time.monotonic() - started, 1)
    log = (var_root / "api-server.log").open("w")
    started = time.monotonic()
    server = subprocess.Popen([GOVERNANCE, "airflow", "--", "api-server", "--port", str(port), "--host", "127.0.0.1"],
                              env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_healthy(base, server, var_root / "api-server.log")
        timings["api_server_ready_s"] = round(time.monotonic() - started, 1)
        response = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=30)
        assert response.status_code == 201, response.text
        yield AirflowApi(base, response.json()["access_token"], var_root, timings)
    finally:
        _stop(server)
        log.close()


def _wait_until_healthy(base: str, server: subprocess.Popen, log: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the api-server exited ({server.returncode}):\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/api/v2/monitor/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"the api-server was not healthy within {timeout_s:.0f} s:\n{log.read_text()[-4000:]}")


def _stop(server: subprocess.Popen) -> None:
    """Stop the process group this fixture started (the api-server and its workers), nothing else."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
