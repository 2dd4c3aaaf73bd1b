"""``make bench-api``: throughput and latency of the standalone sharing API on loopback, against PostgreSQL.

It publishes a synthetic resident register (pseudonymized IDs, the real standards) into a fresh
database, issues a token to a department with an agreement, starts ``governance serve`` with 1 and then
2 uvicorn workers, and drives each with an httpx AsyncClient at bounded concurrency: catalogue calls
(``GET /datasets``) and key lookups (``POST .../lookup`` with raw IDs) measured separately. The service
commits every access-log row durably; one more run of the first worker count with the WAL flush not
awaited (``synchronous_commit = off`` through ``PGOPTIONS``) gives what durability costs, side by side,
in the same run (``commit_cost``). Every call is
written to the access log by the service; the bench checks that the log holds exactly the calls it made,
and times the log INSERT on its own. Results go to ``var/bench/api.json``. Traffic stays on 127.0.0.1,
every loop is bounded in time and count, and the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from governance.keys import generate_keyring, pseudonymize, write_local_keyring
from governance.settings import get_settings
from governance.sharing.audit import AccessEntry, write_access_entry
from governance.sharing.tables import access_log, ensure_sharing_tables
from governance.sharing.tokens import issue_token
from governance.standards.catalogue import load_catalogue
from governance.warehouse import publish, warehouse_engine

DATASET = "public_security/resident_population"
CONSUMER = "civil_affairs"  # standards/agreements/civil_affairs_subsistence_identity_check.yaml
ADMIN_URL = os.environ.get("GOVERNANCE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TARGET = {"calls_per_s": 200, "p99_ms": 100}


def raw_id(i: int) -> str:
    return f"3301021990{i:07d}X"


def prepare(admin_url: str, database: str, rows: int, var_root: Path) -> tuple[str, str]:
    """A fresh database with the register published; returns (warehouse URL, token)."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(database)
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        connection.exec_driver_sql(f"CREATE DATABASE {quoted}")
    admin.dispose()
    url = sa.make_url(admin_url).set(database=database).render_as_string(hide_password=False)
    shutil.rmtree(var_root, ignore_errors=True)
    keyring = write_local_keyring(var_root / "secrets" / "variables.json", generate_keyring())
    catalogue = load_catalogue(get_settings().standards_root)
    tokens = pseudonymize(pd.Series([raw_id(i) for i in range(rows)]), keyring.pseudonym_key)
    columns = {"id_number": tokens.tolist(), "name": ["张*"] * rows, "gender": [str(1 + i % 2) for i in range(rows)],
               "birth_date": ["1990"] * rows, "ethnicity": ["01"] * rows, "region_code": ["330102"] * rows,
               "address": ["浙江省杭州市上城区"] * rows, "mobile": ["138****0001"] * rows,
               "updated_at": ["2026-06-01 08:00:00"] * rows}
    engine = warehouse_engine(url)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "residents.parquet"
        pq.write_table(pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()}), path)
        publish(engine, catalogue, DATASET, path, load_date=date.today(), run_id="bench")
    ensure_sharing_tables(engine)
    token = issue_token(engine, CONSUMER, now=datetime.now(UTC).replace(tzinfo=None), expires_days=1).token
    engine.dispose()
    return url, token


def start_server(url: str, var_root: Path, port: int, workers: int, *, access_log: bool = False,
                 environment: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen:
    """``governance serve`` in its own process group; ``environment`` adds variables (e.g. ``PGOPTIONS``)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env.update(GOVERNANCE_WAREHOUSE_URL=url, GOVERNANCE_VAR_ROOT=str(var_root), **(environment or {}))
    command = [sys.executable, "-m", "governance.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), *([] if access_log else ["--no-access-log"])]
    return subprocess.Popen(command, env=env, start_new_session=True, **popen)


def stop_server(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_ready(base: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/datasets", timeout=2).status_code == 401:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the sharing API did not start within {timeout:.0f} s")


async def drive(base: str, token: str, kind: str, *, seconds: float, concurrency: int, rows: int,
                max_calls: int) -> dict[str, Any]:
    """Closed-loop load: ``concurrency`` tasks call back to back until the time or the count runs out."""
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    generator = random.Random(7)  # noqa: S311 - which synthetic ID to look up, not a secret
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=10) as client:
        deadline = time.perf_counter() + seconds

        async def call() -> httpx.Response:
            if kind == "catalogue":
                return await client.get("/datasets")
            raw = raw_id(generator.randrange(rows))
            return await client.post(f"/datasets/{DATASET}/lookup", json={"key": {"id_number": raw}})

        async def loop() -> None:
            while time.perf_counter() < deadline and len(latencies) < max_calls:
                started = time.perf_counter()
                response = await call()
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[response.status_code] += 1

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"calls": len(latencies), "seconds": round(elapsed, 2), "calls_per_s": round(len(latencies) / elapsed, 1),
            **percentiles(latencies), "statuses": {str(code): count for code, count in sorted(statuses.items())}}


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values) or [0.0]

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99), "max_ms": round(ordered[-1], 2)}


def log_write_cost(url: str, samples: int = 500, *, relaxed: bool = False) -> dict[str, float]:
    """The access-log INSERT alone, on a pooled connection, as the service does it (durably, unless
    ``relaxed``: the comparison figure)."""
    engine = sa.create_engine(url, connect_args={"options": "-c synchronous_commit=off"} if relaxed else {})
    timings = []
    for _ in range(samples):
        entry = AccessEntry(request_id="probe", method="GET", at=datetime.now(UTC).replace(tzinfo=None),
                            consumer="bench_probe", endpoint="/probe", status_code=200)
        started = time.perf_counter()
        write_access_entry(engine, entry)
        timings.append((time.perf_counter() - started) * 1000)
    engine.dispose()
    return percentiles(timings)


def logged_calls(url: str, since: datetime) -> dict[str, Any]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        query = (sa.select(access_log.c.endpoint, sa.func.count(), sa.func.avg(access_log.c.latency_ms))
                 .where(access_log.c.consumer == CONSUMER, access_log.c.at >= since).group_by(access_log.c.endpoint))
        rows = {endpoint: (count, round(float(mean), 2)) for endpoint, count, mean in connection.execute(query)}
    engine.dispose()
    return {endpoint: {"rows": count, "server_mean_ms": mean} for endpoint, (count, mean) in rows.items()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="resident rows to publish (default 200000)")
    parser.add_argument("--seconds", type=float, default=15.0, help="per scenario (default 15)")
    parser.add_argument("--concurrency", type=int, default=8, help="calls in flight (default 8)")
    parser.add_argument("--workers", default="1,2", help="uvicorn worker counts to compare (default 1,2)")
    parser.add_argument("--max-calls", type=int, default=50_000, help="cap per scenario (default 50000)")
    parser.add_argument("--database", default="governance_bench")
    parser.add_argument("--output", type=Path, default=get_settings().var_root / "bench" / "api.json")
    arguments = parser.parse_args(argv)

    var_root = arguments.output.parent / "var"
    print(f"publishing {arguments.rows} synthetic residents into database {arguments.database} ...", flush=True)
    url, token = prepare(ADMIN_URL, arguments.database, arguments.rows, var_root)
    since = datetime.now(UTC).replace(tzinfo=None)
    calls_made: Counter[str] = Counter()

    def measure(workers: int, label: str, environment: dict[str, str] | None = None) -> dict[str, Any]:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(url, var_root, port, workers, environment=environment)
        try:
            wait_ready(base)
            run: dict[str, Any] = {"workers": workers, "commits": label}
            for kind in ("catalogue", "lookup"):
                warm = asyncio.run(drive(base, token, kind, seconds=2, concurrency=arguments.concurrency,
                                         rows=arguments.rows, max_calls=2000))
                result = asyncio.run(drive(base, token, kind, seconds=arguments.seconds,
                                           concurrency=arguments.concurrency, rows=arguments.rows,
                                           max_calls=arguments.max_calls))
                calls_made[kind] += warm["calls"] + result["calls"]
                run[kind] = result
                print(f"workers={workers} {label:7} {kind:9} {result['calls_per_s']:7.1f} calls/s  "
                      f"p50 {result['p50_ms']} ms  p95 {result['p95_ms']} ms  p99 {result['p99_ms']} ms  "
                      f"statuses {result['statuses']}", flush=True)
            return run
        finally:
            stop_server(server)

    runs = [measure(int(count), "durable") for count in arguments.workers.split(",")]
    # What durable commits cost: the same server with the WAL flush not awaited (libpq's PGOPTIONS, a
    # bench-only setting: the service itself always commits durably).
    relaxed = measure(runs[0]["workers"], "relaxed", {"PGOPTIONS": "-c synchronous_commit=off"})
    commit_cost = {"workers": runs[0]["workers"], **{
        kind: {"durable_calls_per_s": runs[0][kind]["calls_per_s"], "relaxed_calls_per_s": relaxed[kind]["calls_per_s"],
               "throughput_ratio": round(runs[0][kind]["calls_per_s"] / relaxed[kind]["calls_per_s"], 2),
               "durable_p99_ms": runs[0][kind]["p99_ms"], "relaxed_p99_ms": relaxed[kind]["p99_ms"]}
        for kind in ("catalogue", "lookup")}}
    logged = logged_calls(url, since)
    in_log = {"catalogue": logged.get("/datasets", {}).get("rows", 0),
              "lookup": logged.get("/datasets/{department}/{dataset}/lookup", {}).get("rows", 0)}
    best = max(runs, key=lambda run: min(run["catalogue"]["calls_per_s"], run["lookup"]["calls_per_s"]))
    meets = all(run[kind]["calls_per_s"] >= TARGET["calls_per_s"] and run[kind]["p99_ms"] < TARGET["p99_ms"]
                for run in [best] for kind in ("catalogue", "lookup"))
    report = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(), "python": sys.version.split()[0],
        "dataset": DATASET, "dataset_rows": arguments.rows, "concurrency": arguments.concurrency,
        "seconds_per_scenario": arguments.seconds, "runs": runs, "best_workers": best["workers"],
        "target": TARGET, "meets_target": meets,
        "access_log": {"calls_made": dict(calls_made), "rows_logged": in_log, "server_side": logged,
                       "every_call_logged": dict(calls_made) == in_log},
        "log_insert_ms": log_write_cost(url), "log_insert_relaxed_ms": log_write_cost(url, relaxed=True),
        "relaxed_run": relaxed, "commit_cost": commit_cost,
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    lookup_cost = commit_cost["lookup"]
    print(f"durable commits: lookups {lookup_cost['durable_calls_per_s']} vs {lookup_cost['relaxed_calls_per_s']} "
          f"calls/s relaxed (ratio {lookup_cost['throughput_ratio']}); log INSERT p50 "
          f"{report['log_insert_ms']['p50_ms']} ms durable, {report['log_insert_relaxed_ms']['p50_ms']} ms relaxed")
    print(f"every call logged: {report['access_log']['every_call_logged']}; log INSERT p50 "
          f"{report['log_insert_ms']['p50_ms']} ms, p99 {report['log_insert_ms']['p99_ms']} ms; "
          f"best with {best['workers']} worker(s); target met: {meets}; wrote {arguments.output}")
    return 0 if report["access_log"]["every_call_logged"] else 1


if __name__ == "__main__":
    sys.exit(main())
