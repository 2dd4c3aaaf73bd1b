"""The sharing app in the Airflow plugin, standalone, and the token commands."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from governance.cli import main
from governance.sharing.app import create_sharing_app
from governance.sharing.tables import api_token


def test_the_plugin_mounts_the_sharing_app_at_sharing_without_docs() -> None:
    from governance_plugin import GovernancePlugin

    (entry,) = [app for app in GovernancePlugin.fastapi_apps if app["url_prefix"] == "/sharing"]
    app = entry["app"]
    assert (app.docs_url, app.openapi_url) == (None, None)
    # Its own token check guards every data route (Airflow adds no authentication to a mounted app).
    assert {route.path for route in app.routes} >= {"/datasets", "/datasets/{department}/{dataset}/rows",
                                                    "/datasets/{department}/{dataset}/lookup"}


def test_the_standalone_app_serves_openapi(warehouse, catalogue) -> None:
    with TestClient(create_sharing_app(warehouse, catalogue)) as client:
        schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {"/datasets", "/datasets/{department}/{dataset}/rows",
                                    "/datasets/{department}/{dataset}/lookup"}


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_token_commands(warehouse_url, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", warehouse_url)
    assert main(["tokens", "issue", "health", "--expires-days", "7"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith("gst_t") and "store the token now" in err
    token_id = token.split("_")[1]
    assert main(["tokens", "list"]) == 0
    listing = capsys.readouterr().out
    assert token_id in listing and "health" in listing and token.split("_", 2)[2] not in listing
    assert main(["tokens", "revoke", token_id]) == 0
    assert f"revoked {token_id}" in capsys.readouterr().out
    assert main(["tokens", "revoke", "t0000000000000000"]) == 1
    assert main(["tokens", "issue", "no_such_department"]) == 1
    assert "unknown department" in capsys.readouterr().err


def test_token_hash_is_all_the_database_holds(warehouse, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", warehouse.url.render_as_string(hide_password=False))
    assert main(["tokens", "issue", "taxation"]) == 0
    token = capsys.readouterr().out.strip()
    with warehouse.connect() as connection:
        rows = [tuple(row) for row in connection.execute(sa.select(api_token))]
    assert len(rows) == 1 and token not in str(rows)


def test_mounted_under_a_prefix_the_log_keeps_route_templates(warehouse, catalogue) -> None:
    """As in Airflow's api-server: the app mounted at /sharing inside another app."""
    from fastapi import FastAPI

    from governance.sharing.tables import access_log

    parent = FastAPI()
    parent.mount("/sharing", create_sharing_app(warehouse, catalogue, docs=False))
    with TestClient(parent) as client:
        assert client.get("/sharing/datasets").status_code == 401
        assert client.get("/sharing/no/such/route").status_code == 404
        assert client.get("/sharing/docs").status_code == 404
    with warehouse.connect() as connection:
        endpoints = connection.execute(sa.select(access_log.c.endpoint).order_by(access_log.c.id)).scalars().all()
    assert endpoints == ["/datasets", "<unmatched>", "<unmatched>"]
