"""Fixtures for the sharing API: published synthetic datasets, a settable clock, tokens, a webhook capture."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sharing_support import (
    AGREEMENTS,
    ENTERPRISE,
    KEYRING,
    MEDICAL,
    RESIDENT,
    Clock,
    _parquet,
    enterprises,
    institutions,
    residents,
)

# Built apps load the platform's alert path, and with it Airflow, which replaces the root logging handlers on
# first import (pytest's capture included): load it with the test modules, not in the middle of a test.
import governance.alerts  # noqa: F401
from governance.sharing.app import create_sharing_app
from governance.sharing.config import SharingConfig
from governance.sharing.tables import access_log, security_event
from governance.sharing.tokens import issue_token
from governance.standards.catalogue import Catalogue
from governance.warehouse import publish


@pytest.fixture(scope="session")
def sharing_catalogue(catalogue: Catalogue) -> Catalogue:
    """The repository's standards with the tests' own agreements (sharing_support.AGREEMENTS)."""
    return dataclasses.replace(catalogue, agreements=dict(AGREEMENTS))


@pytest.fixture
def published(warehouse: sa.Engine, catalogue: Catalogue, tmp_path: Path) -> sa.Engine:
    """The warehouse with residents, enterprises and medical institutions published (not taxation)."""
    for key, rows in ((RESIDENT, residents()), (ENTERPRISE, enterprises()), (MEDICAL, institutions())):
        path = _parquet(tmp_path / f"{key.replace('/', '__')}.parquet", rows)
        publish(warehouse, catalogue, key, path, load_date=date(2026, 6, 14), run_id=f"test_{key}")
    return warehouse


@dataclass
class Api:
    """A running app with its clock, engine and a token per department."""

    client: TestClient
    engine: sa.Engine
    clock: Clock
    posts: list[dict[str, Any]]
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, department: str) -> dict[str, str]:
        if department not in self.tokens:
            issued = issue_token(self.engine, department, now=self.clock().replace(tzinfo=None), expires_days=None)
            self.tokens[department] = issued.token
        return {"Authorization": f"Bearer {self.tokens[department]}"}

    def get(self, department: str | None, path: str, **params: Any):
        headers = self.token(department) if department else {}
        return self.client.get(path, headers=headers, params=params)

    def query(self, department: str, key: str, *, filters: dict[str, str] | None = None, **fields: Any):
        """``POST .../rows``: filters, ``updated_since``, ``limit`` and ``after`` in the JSON body."""
        body = {**({"filters": filters} if filters else {}), **fields}
        return self.client.post(f"/datasets/{key}/rows", headers=self.token(department), json=body)

    def lookup(self, department: str, key: str, body: Any):
        return self.client.post(f"/datasets/{key}/lookup", headers=self.token(department), json=body)

    def log(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(sa.select(access_log).order_by(access_log.c.id))]

    def events(self) -> list[dict[str, Any]]:
        self.client.app.state.services.alerter.flush()
        with self.engine.connect() as connection:
            return [dict(row._mapping)
                    for row in connection.execute(sa.select(security_event).order_by(security_event.c.id))]


@pytest.fixture
def make_api(published: sa.Engine, sharing_catalogue: Catalogue) -> Iterator[Callable[..., Api]]:
    """``make_api(catalogue=..., keyring=..., **config)``: an Api over the published warehouse."""
    clients: list[TestClient] = []

    def make(*, catalogue_override: Catalogue | None = None, keyring: Any = KEYRING, capture: bool = True,
             **limits: Any) -> Api:
        clock, posts = Clock(), []
        config = SharingConfig(**{"alert_webhook": None, **limits})
        post = (lambda url, payload: posts.append({"url": url, **payload})) if capture else None
        app = create_sharing_app(published, catalogue_override or sharing_catalogue, clock, config=config,
                                 keyring=keyring, alert_post=post)
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client)
        return Api(client, published, clock, posts)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP receiver on loopback that records the JSON bodies POSTed to it."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    server.shutdown()
    server.server_close()
