"""Finding 6: no filter value or cursor in any HTTP access log, standalone (uvicorn) or mounted in Airflow.

Airflow 3's api-server logs every request through ``HttpAccessLogMiddleware`` (added to the root app in
``airflow/api_fastapi/app.py``, which also mounts the plugins' apps; uvicorn's and gunicorn's own access
logs are turned off there) with the path and the query string, redacting only secret-looking keys.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from airflow.api_fastapi.common import http_access_log
from fastapi import FastAPI
from fastapi.testclient import TestClient
from governance_bench.sharing_api import free_port, start_server, stop_server, wait_ready
from sharing_support import MEDICAL

from governance.keys import generate_keyring, write_local_keyring
from governance.sharing.tokens import issue_token

CODE = "12330000MB00000003"


def values_in_every_way(client: httpx.Client | TestClient, prefix: str) -> str:
    """Rows with a filter, a cursor page, a lookup, and a client wrongly putting both in the URL; the cursor."""
    first = client.post(f"{prefix}/datasets/{MEDICAL}/rows", json={"limit": 1})
    cursor = first.json()["next_cursor"]
    assert client.post(f"{prefix}/datasets/{MEDICAL}/rows", json={"limit": 1, "after": cursor}).status_code == 200
    filtered = client.post(f"{prefix}/datasets/{MEDICAL}/rows", json={"filters": {"credit_code": CODE}})
    assert [row["credit_code"] for row in filtered.json()["rows"]] == [CODE]
    assert client.post(f"{prefix}/datasets/{MEDICAL}/lookup", json={"key": {"credit_code": CODE}}).status_code == 200
    wrong = client.get(f"{prefix}/datasets/{MEDICAL}/rows", params={"credit_code": CODE, "after": cursor})
    assert wrong.status_code == 400 and "POST" in wrong.json()["message"]
    return cursor


def test_airflows_access_log_holds_no_filter_value_or_cursor(api, monkeypatch) -> None:
    logged: list[dict] = []

    class Recorder:
        def info(self, event: str, **fields: object) -> None:
            logged.append({"event": event, **fields})

    monkeypatch.setattr(http_access_log, "logger", Recorder())
    root = FastAPI()  # as the api-server builds it: plugins mounted, the access log middleware around all
    root.mount("/sharing", api.client.app)
    root.add_middleware(http_access_log.HttpAccessLogMiddleware)
    with TestClient(root, headers=api.token("health")) as client:
        cursor = values_in_every_way(client, "/sharing")
    assert [entry["path"] for entry in logged] == [f"/sharing/datasets/{MEDICAL}/{end}"
                                                  for end in ("rows", "rows", "rows", "lookup", "rows")]
    assert [entry["status_code"] for entry in logged] == [200, 200, 200, 200, 400]
    text = json.dumps(logged)
    assert CODE not in text and cursor not in text and cursor[:40] not in text


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_the_access_log_of_governance_serve_holds_no_filter_value_or_cursor(published, warehouse_url: str,
                                                                           tmp_path: Path) -> None:
    var_root = tmp_path / "var"
    write_local_keyring(var_root / "secrets" / "variables.json", generate_keyring())
    token = issue_token(published, "health", now=datetime.now(UTC).replace(tzinfo=None), expires_days=1).token
    port, output = free_port(), tmp_path / "serve.log"
    with output.open("wb") as sink:
        server = start_server(warehouse_url, var_root, port, 1, access_log=True, stdout=sink,
                              stderr=subprocess.STDOUT)
        try:
            wait_ready(f"http://127.0.0.1:{port}")
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
                              timeout=30) as client:
                cursor = values_in_every_way(client, "")
        finally:
            stop_server(server)
    text = output.read_text(encoding="utf-8", errors="replace")
    assert f'"POST /datasets/{MEDICAL}/rows HTTP/1.1" 200' in text  # the access log is on
    assert f'"GET /datasets/{MEDICAL}/rows HTTP/1.1" 400' in text  # without its query string
    assert CODE not in text and cursor not in text and cursor[:40] not in text
