"""Soak: the sharing API under sustained concurrent load while nightly runs publish the very datasets it serves.

A real ``governance serve`` (uvicorn) on loopback serves a fresh PostgreSQL warehouse. A publisher process runs
night after night (the dataset DAGs' own tasks, ``fault_support.DagTasks``: pull, validate, mask, publish,
record) for a snapshot dataset (medical institutions, whole table swapped) and an upsert dataset (enterprises),
capturing each version it publishes. Meanwhile ``GOVERNANCE_SOAK_CONCURRENCY`` clients read both without pause
for ``GOVERNANCE_SOAK_SECONDS`` (longer if fewer than ``MIN_PUBLISHES`` publishes of each dataset landed by
then): whole-table reads, keyset walks and catalogue calls.

Checked afterwards: no failed request (every status 200, no connection error); every data response is exactly
a slice of one published version (the rows after its cursor, in key order, as many as asked or up to the end),
so no read ever showed half a publish or rows of two loads; reads saw several versions; every request is in
the access log with its status and row count; every night accounts for every row it received.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing
import os
import queue
import threading
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fault_support import DagTasks, night_environment
from governance_bench.sharing_api import free_port, percentiles, start_server, stop_server, wait_ready

from governance.sharing.policy import Grant, decide
from governance.sharing.tables import access_log
from governance.sharing.tokens import issue_token
from governance.standards.catalogue import Catalogue
from governance.warehouse import warehouse_engine

MEDICAL = "health/medical_institution"  # snapshot: each publish replaces the whole table
ENTERPRISES = "market_regulation/enterprise_registration"  # upsert: each publish updates and adds rows
CONSUMER = "civil_affairs"  # no agreement for either: reads their unconditional columns
FIRST_DAY = date(2026, 11, 1)
ROWS = 10_000  # demo population: 52 medical institutions, 2,502 enterprises a night
SOAK_SECONDS = float(os.environ.get("GOVERNANCE_SOAK_SECONDS", "45"))
CONCURRENCY = int(os.environ.get("GOVERNANCE_SOAK_CONCURRENCY", "8"))
MIN_PUBLISHES = 3  # of each dataset while the load runs
MAX_SECONDS = max(4 * SOAK_SECONDS, 300.0)  # give up waiting for publishes after this long

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(int(MAX_SECONDS) + 600)]


# ----------------------------------------------------------------------------------------------------------------
# The publisher: nights for consecutive days, each published version captured as the API would serve it
# ----------------------------------------------------------------------------------------------------------------

def capture(key: str, columns: list[str]) -> list[dict[str, Any]]:
    """The table as the consumer may read it: its granted columns, in key order, as JSON values."""
    from governance.settings import get_settings
    from governance.sharing.queries import jsonable
    from governance.standards.catalogue import load_catalogue
    from governance.warehouse import dataset_table

    catalogue = load_catalogue(get_settings().standards_root)
    dataset = catalogue.dataset(key)
    table = dataset_table(catalogue, dataset)
    engine = warehouse_engine()
    try:
        with engine.connect() as connection:
            query = sa.select(*[table.c[name] for name in columns]).order_by(
                *[table.c[name] for name in dataset.primary_key])
            return [{name: jsonable(value) for name, value in row.items()}
                    for row in connection.execute(query).mappings()]
    finally:
        engine.dispose()


def publisher(environment: dict[str, str], columns: dict[str, list[str]], stop: Any, messages: Any) -> None:
    """Night after night until ``stop``: demo drops for the day, then each dataset's DAG tasks; the version each
    publish committed is captured before the next publish can start."""
    os.environ.update(environment)
    from governance_demo import write_demo_data

    from governance.settings import get_settings
    from governance.standards.catalogue import load_catalogue

    settings = get_settings()
    catalogue = load_catalogue(settings.standards_root)
    tasks = {key: DagTasks(key) for key in columns}
    day = FIRST_DAY
    try:
        while True:
            if day != FIRST_DAY:
                write_demo_data(catalogue, settings.landing_root, settings.var_root, day, rows=ROWS)
            for key in columns:
                run_id = f"scheduled__{day.isoformat()}T18:00:00+00:00"

                def after_publish(label: str, key: str = key, run_id: str = run_id) -> None:
                    if label == "record":  # publish has returned: its swap is committed
                        messages.put(("published", key, run_id, time.time(), capture(key, columns[key])))

                outcome = tasks[key].run(run_id, day, before=after_publish)
                messages.put(("night", key, run_id, outcome.__dict__))
                if outcome.failed:
                    return
            messages.put(("day", day.isoformat()))
            if stop.is_set():
                return
            day += timedelta(days=1)
    finally:
        messages.put(("done",))


# ----------------------------------------------------------------------------------------------------------------
# The readers
# ----------------------------------------------------------------------------------------------------------------

def digest(rows: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass
class Read:
    """One response: what was asked (cursor position, limit) and a digest of the rows it held."""

    dataset: str | None
    after: str | None
    limit: int
    status: int
    request_id: str
    rows: int
    digest: str
    seconds: float


@dataclass
class Load:
    reads: list[Read] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0


async def read_load(base: str, token: str, keys: dict[str, str], done: Any) -> Load:
    """``CONCURRENCY`` clients, each cycling through whole-table reads, keyset walks and catalogue calls, until
    ``done()``."""
    load = Load(started=time.time())
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    timeout = httpx.Timeout(60.0)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits,
                                 timeout=timeout) as client:

        async def get(path: str, dataset: str | None, after: str | None, limit: int, cursor: str | None) -> Any:
            params: dict[str, Any] = {"limit": limit} if dataset else {}
            began = time.perf_counter()
            try:  # a cursor goes in the body of POST .../rows, never in a URL
                response = await (client.post(path, json={**params, "after": cursor}) if cursor
                                  else client.get(path, params=params))
            except httpx.HTTPError as error:
                load.errors.append(f"{path}: {type(error).__name__}: {error}")
                return None
            body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            rows = body.get("rows", []) if dataset else []
            load.reads.append(Read(dataset, after, limit, response.status_code, response.headers["x-request-id"],
                                   len(rows), digest(rows), time.perf_counter() - began))
            return body if response.status_code == 200 else None

        async def walk(dataset: str, limit: int) -> None:
            cursor, after = None, None
            while not done():
                body = await get(f"/datasets/{dataset}/rows", dataset, after, limit, cursor)
                if not body or not body["next_cursor"]:
                    return
                cursor, after = body["next_cursor"], body["rows"][-1][keys[dataset]]

        async def client_loop(number: int) -> None:
            patterns = [lambda: get(f"/datasets/{MEDICAL}/rows", MEDICAL, None, 1000, None),
                        lambda: walk(MEDICAL, 7), lambda: walk(ENTERPRISES, 500),
                        lambda: get("/datasets", None, None, 0, None)]
            turn = number
            while not done():
                await patterns[turn % len(patterns)]()
                turn += 1

        await asyncio.gather(*(client_loop(number) for number in range(CONCURRENCY)))
    load.finished = time.time()
    return load


# ----------------------------------------------------------------------------------------------------------------
# The test
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class Version:
    run_id: str
    at: float
    keys: list[str]
    rows: list[dict[str, Any]]

    def slice_digest(self, after: str | None, limit: int) -> str:
        start = 0 if after is None else bisect_right(self.keys, after)
        return digest(self.rows[start:start + limit])


def grant_for(catalogue: Catalogue, key: str) -> Grant:
    today = datetime.now(UTC).date()
    grant = decide(catalogue, CONSUMER, key, today, 10**12)
    assert isinstance(grant, Grant) and len(grant.dataset.primary_key) == 1
    return grant


def test_sharing_api_under_load_while_nightly_runs_publish_what_it_serves(
        tmp_path: Path, postgres_database: str, catalogue: Catalogue, monkeypatch) -> None:
    url = postgres_database
    environment = night_environment(tmp_path / "var", url, [FIRST_DAY], ROWS)
    grants = {key: grant_for(catalogue, key) for key in (MEDICAL, ENTERPRISES)}
    columns = {key: grant.column_names for key, grant in grants.items()}
    keys = {key: grant.dataset.primary_key[0] for key, grant in grants.items()}

    context = multiprocessing.get_context("spawn")
    stop, messages = context.Event(), context.Queue()
    process = context.Process(target=publisher, args=(environment, columns, stop, messages), name="publisher")
    process.start()
    received: list[tuple[Any, ...]] = []
    finished = threading.Event()

    def drain() -> None:
        while True:
            try:
                message = messages.get(timeout=1)
            except queue.Empty:
                if not process.is_alive():
                    finished.set()
                    return
                continue
            received.append(message)
            if message[0] == "done":
                finished.set()
                return

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    server = None
    try:
        deadline = time.monotonic() + 600
        while not any(message[0] == "day" for message in received):
            assert not finished.is_set(), f"the first night failed: {received}"
            assert time.monotonic() < deadline, "the first night did not finish within 600 s"
            time.sleep(0.5)
        engine = warehouse_engine(url)
        token = issue_token(engine, CONSUMER, now=datetime.now(UTC).replace(tzinfo=None), expires_days=1).token
        # No quota or scan interception: this consumer reads both datasets whole, hundreds of times.
        monkeypatch.setenv("GOVERNANCE_SHARING_DEFAULT_QUOTA", str(10**12))
        monkeypatch.setenv("GOVERNANCE_SHARING_SCAN_PAGES", str(10**9))
        monkeypatch.setenv("GOVERNANCE_SHARING_SCAN_SHARE", str(10**6))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(url, Path(environment["GOVERNANCE_VAR_ROOT"]), port,
                              int(os.environ.get("GOVERNANCE_SOAK_WORKERS", "1")))
        wait_ready(base)
        since = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
        started = time.time()

        def done() -> bool:
            landed = Counter(message[1] for message in received if message[0] == "published" and message[3] > started)
            elapsed = time.time() - started
            enough = all(landed[key] >= MIN_PUBLISHES for key in columns)
            return finished.is_set() or elapsed >= MAX_SECONDS or (elapsed >= SOAK_SECONDS and enough)

        load = asyncio.run(read_load(base, token, keys, done))
    finally:
        stop.set()
        if server is not None:
            stop_server(server)
        process.join(timeout=600)
        if process.is_alive():
            process.kill()
        drainer.join(timeout=60)

    nights = [message for message in received if message[0] == "night"]
    for _, key, run_id, outcome in nights:
        failed = [(task, result) for task, result in outcome["tasks"] if result != "ok"]
        assert not failed and not outcome["callback_errors"], f"{key} {run_id}: {failed} {outcome['callback_errors']}"

    # No failed request.
    assert not load.errors, load.errors[:10]
    statuses = Counter(read.status for read in load.reads)
    assert set(statuses) == {200}, statuses

    # Every data response is a slice of exactly one published version.
    versions: dict[str, list[Version]] = defaultdict(list)
    for _, key, run_id, at, rows in (message for message in received if message[0] == "published"):
        version = Version(run_id, at, [row[keys[key]] for row in rows], rows)
        assert version.keys == sorted(version.keys), "the warehouse's key order is not Python's"
        versions[key].append(version)
    seen: dict[str, set[str]] = defaultdict(set)
    for read in (read for read in load.reads if read.dataset):
        matches = [version.run_id for version in versions[read.dataset]
                   if version.slice_digest(read.after, read.limit) == read.digest]
        assert matches, (f"{read.dataset} after {read.after} limit {read.limit}: {read.rows} rows that are no "
                         f"published version's (request {read.request_id})")
        if len(matches) == 1:  # a slice that only one version has: proof of which version this read saw
            seen[read.dataset].add(matches[0])
    during = {key: [version for version in versions[key] if load.started < version.at < load.finished]
              for key in columns}
    for key in columns:
        assert len(during[key]) >= MIN_PUBLISHES, f"{key}: only {len(during[key])} publish(es) during the load"
        assert len(seen[key]) >= 2, f"{key}: reads saw only versions {seen[key]}"

    # Every request is in the access log, with its status and row count.
    logged = access_logged(url, since)
    missing = [read.request_id for read in load.reads if read.request_id not in logged]
    assert not missing, f"{len(missing)} request(s) not in the access log, e.g. {missing[:5]}"
    assert all(logged[read.request_id] == (read.status, read.rows) for read in load.reads if read.dataset)
    assert len(logged) == len(load.reads)

    # Every night accounts for every row it received.
    with engine.connect() as connection:
        records = connection.execute(sa.text("SELECT run_id, dataset_key, rows_received, rows_passed, "
                                             "rows_quarantined, rows_published FROM governance.run_record")).all()
    engine.dispose()
    assert len(records) == len(nights)
    for record in records:
        assert record.rows_received == record.rows_published + record.rows_quarantined, record
        assert record.rows_published == record.rows_passed > 0, record

    seconds = load.finished - load.started
    figures = {"seconds": round(seconds, 1), "requests": len(load.reads), "requests_per_s": round(len(load.reads)
               / seconds, 1), "publishes_during": {key: len(during[key]) for key in columns},
               "versions_seen": {key: len(seen[key]) for key in columns}, "concurrency": CONCURRENCY,
               **percentiles([read.seconds * 1000 for read in load.reads])}
    print(f"\nsoak: {json.dumps(figures)}")


def access_logged(url: str, since: datetime) -> dict[str, tuple[int, int]]:
    """request id -> (status, rows returned) of the consumer's requests since ``since``."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(access_log.c.request_id, access_log.c.status_code,
                                                access_log.c.rows_returned)
                                      .where(access_log.c.consumer == CONSUMER, access_log.c.at >= since))
            return {request_id: (status, count) for request_id, status, count in rows}
    finally:
        engine.dispose()
