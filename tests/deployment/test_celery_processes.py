"""The compose deployment, proven with real local processes on the CeleryExecutor.

Mirrors docker-compose.yml service by service, with the environment from the same settings function
(``deployment_environment()``) for 127.0.0.1, free ports and tmp paths:

    postgres           -> a fresh metadata database in the local PostgreSQL
    warehouse          -> a fresh warehouse database in the local PostgreSQL
    redis              -> a private DB number of the local Redis
    airflow-init       -> ``airflow db migrate``, ``governance db upgrade``
    airflow-apiserver  -> ``airflow api-server`` (SimpleAuthManager passwords file written as compose does)
    airflow-scheduler, airflow-dag-processor, airflow-triggerer, airflow-worker (``airflow celery worker``)
    .env               -> AIRFLOW_VAR_GOVERNANCE_KEYRING in the processes' environment
    governance-data    -> one data root all processes share

The triggerer runs the dataset DAGs' deferred ``delivery`` waits and their landing watchers. The compose
health checks of the api-server, scheduler, dag-processor and worker are run as written against these
processes; then a dataset DAG is triggered through the REST API and must publish to the warehouse and record
its run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
import yaml

from governance.settings import deployment_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAG_ID = "public_security__resident_population"
TABLE = f"shared.{DAG_ID}"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
ADMIN = "admin"
START_TIMEOUT_S, PARSE_TIMEOUT_S, RUN_TIMEOUT_S, STOP_TIMEOUT_S = 180, 120, 300, 30

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(900)]


# --------------------------------------------------------------------------------------------------------------
# Services: PostgreSQL databases, a Redis DB number, free ports
# --------------------------------------------------------------------------------------------------------------

def _unreachable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: this test must run)")
    pytest.skip(reason)


@pytest.fixture
def redis_db() -> Iterator[int]:
    """A Redis DB number nobody else uses (claimed with a key, flushed afterwards)."""
    import redis

    claim = f"governance-deployment-test:{uuid.uuid4().hex}"
    for number in range(15, 0, -1):
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number, socket_connect_timeout=3)
        try:
            if client.dbsize() == 0 and client.set("governance-deployment-test", claim, nx=True, ex=3600):
                break
        except redis.RedisError as error:
            client.close()
            _unreachable(f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}: {error}")
        client.close()
    else:
        pytest.fail("no empty Redis DB number left (1-15) for a private broker")
    try:
        yield number
    finally:
        if client.get("governance-deployment-test") == claim.encode():
            client.flushdb()
        client.close()


@contextlib.contextmanager
def fresh_database(admin: sa.Engine, purpose: str) -> Iterator[str]:
    name = f"gov_test_{purpose}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --------------------------------------------------------------------------------------------------------------
# The processes: own process groups, logs in files, stopped with SIGTERM then SIGKILL
# --------------------------------------------------------------------------------------------------------------

class Stack:
    def __init__(self, env: dict[str, str], logs: Path, workdir: Path) -> None:
        self.env, self.logs, self.workdir = env, logs, workdir
        self.processes: dict[str, subprocess.Popen] = {}
        self.timings: dict[str, float] = {}
        self.started = time.monotonic()
        logs.mkdir(parents=True, exist_ok=True)

    def mark(self, what: str) -> None:
        self.timings[what] = round(time.monotonic() - self.started, 1)

    def run(self, name: str, *args: str, timeout: float = 600) -> None:
        """Run a one-shot command to completion (its output in the logs)."""
        with open(self.logs / f"{name}.log", "wb") as log:
            done = subprocess.run(args, env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False)
        if done.returncode != 0:
            self.fail(f"{shlex.join(args)} exited with {done.returncode}")

    def start(self, name: str, *args: str) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen([str(BIN / "airflow"), *args], env=self.env, cwd=self.workdir,
                                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()  # the child holds its own descriptor

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def dump(self, lines: int = 80) -> str:
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            parts.append(f"===== {path.name} (last {len(tail)} lines) =====\n" + "\n".join(tail))
        task_logs = Path(self.env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"])
        for path in sorted(task_logs.glob(f"dag_id={DAG_ID}/**/*.log"))[-6:]:
            tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
            parts.append(f"===== task log {path.relative_to(task_logs)} =====\n" + "\n".join(tail))
        return "\n".join(parts)

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\ntimings (s since start): {self.timings}\n{self.dump()}", pytrace=False)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                self.fail(f"{name} exited early with code {process.returncode}")

    def wait_for(self, what: str, probe: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
        """Poll ``probe`` until it returns something truthy; fail with every log after ``timeout`` seconds."""
        deadline, last_error = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if result := probe():
                    self.mark(what)
                    return result
            except Exception as error:  # not up yet: connection refused, 404, ...
                last_error = error
            time.sleep(interval)
        self.fail(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error!r})")
        return None

    def stop(self) -> None:
        """SIGTERM every process group, SIGKILL what is left after STOP_TIMEOUT_S."""
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for process in self.processes.values():  # also children whose leader is gone
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self.mark("stopped")


def compose_health_check(service: str) -> tuple[str, float]:
    """The service's health check in docker-compose.yml: the command as the container's shell would run it,
    and its timeout in seconds."""
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    check = compose["services"][service]["healthcheck"]
    test = check["test"]
    command = shlex.join(test[1:]) if test[0] == "CMD" else test[1]
    timeout = str(check.get("timeout", "30s"))  # compose's default
    assert timeout.endswith("s") and timeout[:-1].isdigit(), f"{service}: write the timeout in seconds ({timeout})"
    return command.replace("$$", "$"), float(timeout[:-1])  # $$ is compose's escape for a literal $


# --------------------------------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------------------------------

def test_dataset_dag_runs_on_celery_worker_processes(postgres_admin: sa.Engine, redis_db: int,
                                                     tmp_path: Path) -> None:
    day = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date() - dt.timedelta(days=10)  # not the scheduled run's day
    admin_url = postgres_admin.url
    ports = {"api": free_port(), "scheduler_health": free_port(), "worker_log": free_port(),
             "triggerer_log": free_port()}
    admin_password = secrets.token_hex(16)
    prefix = f"gt{uuid.uuid4().hex[:8]}_"  # roles are cluster-wide: this run's own, dropped afterwards
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(_drop_roles, postgres_admin, f"{prefix}sharing_login", f"{prefix}governance_sharing_service")
        metadata_db = cleanup.enter_context(fresh_database(postgres_admin, "meta"))
        warehouse_db = cleanup.enter_context(fresh_database(postgres_admin, "wh"))
        deployment = deployment_environment(
            metadata_host=admin_url.host, metadata_port=admin_url.port or 5432, metadata_user=admin_url.username,
            metadata_password=admin_url.password, metadata_database=metadata_db,
            broker_host=REDIS_HOST, broker_port=REDIS_PORT, broker_db=redis_db,
            warehouse_host=admin_url.host, warehouse_port=admin_url.port or 5432, warehouse_user=admin_url.username,
            warehouse_password=admin_url.password, warehouse_database=warehouse_db,
            api_url=f"http://127.0.0.1:{ports['api']}",
            jwt_secret=secrets.token_hex(32), api_secret_key=secrets.token_hex(32),
            fernet_key=_fernet_key(),
            airflow_home=str(tmp_path / "airflow"), code_root=str(REPO_ROOT), data_root=str(tmp_path / "data"),
            scheduler_health_port=ports["scheduler_health"], worker_log_port=ports["worker_log"],
            triggerer_log_port=ports["triggerer_log"],
            sharing_login=f"{prefix}sharing_login", sharing_password=secrets.token_hex(16),
        )
        # This process's own Airflow settings (conftest: SQLite under var/test) must not leak into the stack.
        base = {name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "GOVERNANCE_"))}
        env = base | deployment | {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "GOVERNANCE_TASK_RETRIES": "0",  # test only: a failing task fails the run at once, not after retries
        }
        stack = Stack(env, tmp_path / "logs", tmp_path)
        try:
            _prepare(stack, day, admin_password, prefix)
            _start(stack, ports)
            token = _ready(stack, ports, admin_password)
            run_id = _trigger_and_wait(stack, ports, token, day)
            _check_results(stack, ports, token, run_id, deployment["GOVERNANCE_WAREHOUSE_URL"])
        finally:
            stack.stop()
            print(f"\ndeployment test timings (s since start): {stack.timings}")


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _drop_roles(admin: sa.Engine, *roles: str) -> None:
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP ROLE IF EXISTS " + ", ".join(f'"{role}"' for role in roles))


def _prepare(stack: Stack, day: dt.date, admin_password: str, prefix: str) -> None:
    """What compose's .env and airflow-init do: keys in the environment, the metadata DB migrated, roles synced."""
    governance = str(BIN / "governance")
    stack.run("keys-init", governance, "keys", "init")
    stack.run("demo-data", governance, "demo-data", "--date", day.isoformat(), "--rows", "200")
    # `keys init` writes the demo's LocalFilesystemBackend file; a deployment passes the keyring as
    # AIRFLOW_VAR_GOVERNANCE_KEYRING (.env) instead, and no secrets backend file is configured or kept.
    variables = Path(stack.env["GOVERNANCE_VAR_ROOT"]) / "secrets" / "variables.json"
    stack.env["AIRFLOW_VAR_GOVERNANCE_KEYRING"] = json.loads(variables.read_text())["governance_keyring"]
    variables.unlink()
    stack.mark("keys and demo data")
    stack.run("db-migrate", str(BIN / "airflow"), "db", "migrate")
    stack.run("governance-db-upgrade", governance, "db", "upgrade")  # the warehouse's governance schema
    stack.mark("db migrate")
    # As airflow-init: the FAB roles from the standards (before the dag-processor syncs each DAG's
    # access_control), then the administrator, its password from the environment.
    stack.run("roles-sync", governance, "roles", "sync")
    stack.env["PLATFORM_ADMIN_PASSWORD"] = admin_password
    stack.run("ensure-admin", governance, "roles", "ensure-admin", "--username", ADMIN, "--password-env",
              "PLATFORM_ADMIN_PASSWORD")
    # As airflow-init: the sharing API's own login, a member of the least-privilege service role.
    login = sa.make_url(stack.env["GOVERNANCE_SHARING_DATABASE_URL"])
    stack.env["SHARING_DB_PASSWORD"] = login.password
    stack.run("sharing-role", governance, "sharing-role", "sync", "--login", login.username, "--password-env",
              "SHARING_DB_PASSWORD", "--role-prefix", prefix)
    stack.mark("roles and admin")


def _start(stack: Stack, ports: dict[str, int]) -> None:
    stack.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(ports["api"]))
    stack.start("scheduler", "scheduler")
    stack.start("dag-processor", "dag-processor")
    stack.start("triggerer", "triggerer")
    stack.start("worker", "celery", "worker")


def _ready(stack: Stack, ports: dict[str, int], admin_password: str) -> str:
    """Wait as compose's depends_on conditions do, run compose's health checks, and return a token."""
    api = f"http://127.0.0.1:{ports['api']}"

    def healthy() -> bool:
        health = httpx.get(f"{api}/api/v2/monitor/health", timeout=5).raise_for_status().json()
        return all((health.get(part) or {}).get("status") == "healthy"
                   for part in ("metadatabase", "scheduler", "dag_processor"))

    stack.wait_for("api-server, scheduler and dag-processor healthy", healthy, START_TIMEOUT_S)
    # The first /execution call after start is slow and would trip a worker's 5 s timeout once: warm it up.
    stack.wait_for("execution API warm", lambda: httpx.get(f"{api}/execution/health", timeout=30).is_success, 60)
    stack.wait_for("worker ready", lambda: " ready." in stack.log("worker"), START_TIMEOUT_S)

    from airflow.utils.net import get_hostname

    checks = {  # service -> HOSTNAME the container would have (the job's / the Celery node's host name)
        "airflow-apiserver": socket.gethostname(), "airflow-scheduler": socket.gethostname(),
        "airflow-dag-processor": get_hostname(), "airflow-worker": socket.gethostname(),
    }
    running, began = {}, time.monotonic()
    for service, hostname in checks.items():  # all at once, as the containers' checks would run
        command, timeout = compose_health_check(service)
        command = (command.replace("localhost:8080/", f"127.0.0.1:{ports['api']}/")
                   .replace("localhost:8974/", f"127.0.0.1:{ports['scheduler_health']}/"))
        running[service] = (command, timeout, subprocess.Popen(
            ["bash", "-c", command], env=stack.env | {"HOSTNAME": hostname}, cwd=stack.workdir,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for service, (command, timeout, process) in running.items():
        try:
            output, _ = process.communicate(timeout=max(0.1, began + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0]
            stack.fail(f"compose health check of {service} exceeded its timeout ({timeout:.0f} s): {command}\n{output}")
        if process.returncode != 0:
            stack.fail(f"compose health check of {service} failed ({process.returncode}): {command}\n{output}")
        stack.timings[f"health check {service} took"] = round(time.monotonic() - began, 1)
    stack.mark("compose health checks passed")

    response = httpx.post(f"{api}/auth/token", json={"username": ADMIN, "password": admin_password}, timeout=30)
    if response.status_code != 201:
        stack.fail(f"POST /auth/token: {response.status_code} {response.text}")
    return response.json()["access_token"]


def _client(ports: dict[str, int], token: str) -> Any:
    from airflow_client.client import ApiClient, Configuration

    return ApiClient(Configuration(host=f"http://127.0.0.1:{ports['api']}", access_token=token))


def _trigger_and_wait(stack: Stack, ports: dict[str, int], token: str, day: dt.date) -> str:
    from airflow_client.client import (
        DAGApi,
        DAGPatchBody,
        DagRunApi,
        DAGRunPatchBody,
        TaskInstanceApi,
        TriggerDAGRunPostBody,
    )

    with _client(ports, token) as client:
        dags, runs = DAGApi(client), DagRunApi(client)
        dag = stack.wait_for(f"{DAG_ID} parsed", lambda: dags.get_dag(DAG_ID), PARSE_TIMEOUT_S, interval=2)
        if dag.is_paused:  # paused at creation (deployment setting): an operator unpauses a new dataset DAG
            # Unpausing also creates the latest scheduled run (catchup=False, max_active_runs=1): yesterday's,
            # with no drop. Inside its delivery window (02:00-06:00 Beijing time) it waits for the drop and holds
            # the DAG; the operator marks it failed (below), as for a night that will not be delivered.
            dags.patch_dag(DAG_ID, DAGPatchBody(is_paused=False))
        logical_date = dt.datetime.combine(day, dt.time(0), tzinfo=dt.timezone(dt.timedelta(hours=8)))
        run = runs.trigger_dag_run(DAG_ID, TriggerDAGRunPostBody(logical_date=logical_date, conf={}))
        stack.mark("triggered")

        def finished() -> str | None:
            for other in runs.get_dag_runs(DAG_ID).dag_runs:
                if other.dag_run_id != run.dag_run_id and _value(other.state) in ("queued", "running"):
                    runs.patch_dag_run(DAG_ID, other.dag_run_id, DAGRunPatchBody(state="failed"))
            state = _value(runs.get_dag_run(DAG_ID, run.dag_run_id).state)
            return state if state in ("success", "failed") else None

        state = stack.wait_for(f"run {run.dag_run_id} finished", finished, RUN_TIMEOUT_S, interval=2)
        if state != "success":
            tasks = TaskInstanceApi(client).get_task_instances(DAG_ID, run.dag_run_id).task_instances
            stack.fail(f"run {run.dag_run_id} ended {state}: "
                       f"{[(task.task_id, getattr(task.state, 'value', task.state)) for task in tasks]}")
        return run.dag_run_id


def _value(state: object) -> str:
    return str(getattr(state, "value", state or "")).lower()


def _check_results(stack: Stack, ports: dict[str, int], token: str, run_id: str, warehouse_url: str) -> None:
    engine = sa.create_engine(warehouse_url)
    try:
        with engine.connect() as connection:
            published = connection.execute(sa.text(f"SELECT count(*) FROM {TABLE}")).scalar()
            record = connection.execute(sa.text(
                "SELECT dataset_key, verdict, rows_published FROM governance.run_record WHERE run_id = :run"),
                {"run": run_id}).mappings().one_or_none()
    finally:
        engine.dispose()
    if not published or record is None:
        stack.fail(f"{TABLE} has {published} rows; run record of {run_id}: {record}")
    assert record["rows_published"] == published
    assert record["verdict"] in ("passed", "passed_with_quarantine")
    # The tasks ran on the Celery worker, which the scheduler reached through Redis.
    assert "execute_workload" in stack.log("worker"), "the Celery worker received no task"
    # The api-server's plugin reads the same warehouse (the same settings) behind Airflow's login.
    runs = httpx.get(f"http://127.0.0.1:{ports['api']}/governance/runs",
                     headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert runs.status_code == 200, runs.text
    assert record["dataset_key"] in {run["dataset_key"] for run in runs.json()}
    stack.mark("results checked")
