"""The plugin's web app: nothing without Airflow's login, and reports only from the reports folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient

from governance.webapp import create_app


def airflow_login(request: Request) -> str:
    """Stands in for Airflow's get_user: a token or nothing."""
    if request.headers.get("Authorization") != "Bearer valid":
        raise HTTPException(status_code=401, detail="Not authenticated")
    return "admin"


@pytest.fixture
def client(tmp_path: Path, monkeypatch) -> TestClient:
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    report = tmp_path / "reports" / "health" / "medical_institution" / "quarantine_2026-11-27.html"
    report.parent.mkdir(parents=True)
    report.write_text("<p>report</p>")
    (tmp_path / "secret.html").write_text("outside")
    return TestClient(create_app(require_user=airflow_login))


REPORT = "/reports/health/medical_institution/quarantine_2026-11-27.html"


@pytest.mark.parametrize("path", ["/runs", "/runs/page", REPORT])
def test_every_route_requires_a_login(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer forged"}).status_code == 401


def test_reports_are_served_to_logged_in_users_only_from_the_reports_folder(client: TestClient) -> None:
    auth = {"Authorization": "Bearer valid"}
    assert client.get(REPORT, headers=auth).text == "<p>report</p>"
    assert client.get("/reports/health/medical_institution/..%2F..%2F..%2Fsecret.html", headers=auth).status_code \
        == 404
    assert client.get("/reports/health/medical_institution/notes.txt", headers=auth).status_code == 404


def test_runs_without_any_record_is_empty(client: TestClient) -> None:
    assert client.get("/runs", headers={"Authorization": "Bearer valid"}).json() == []


def test_the_plugin_guards_the_app_with_airflows_own_login() -> None:
    from airflow.api_fastapi.core_api.security import get_user

    from governance_plugin import GovernancePlugin

    mounted = next(app for app in GovernancePlugin.fastapi_apps if app["url_prefix"] == "/governance")
    dependencies = [dependency.dependency for dependency in mounted["app"].router.dependencies]
    assert dependencies == [get_user]
