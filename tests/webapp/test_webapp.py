"""The plugin's web app: nothing without Airflow's login, and reports only from the reports folder."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from seeded_report import REPORT


@pytest.mark.parametrize("path", ["/runs", "/runs/page", REPORT, "/oversight/page", "/audit/report-views"])
def test_every_route_requires_a_login(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer forged"}).status_code == 403


def test_reports_are_served_only_from_the_reports_folder(client: TestClient, simple_auth) -> None:
    auth = {"Authorization": f"Bearer {simple_auth('admin')}"}
    assert client.get(REPORT, headers=auth).text == "<p>report</p>"
    assert client.get("/reports/health/medical_institution/..%2F..%2F..%2Fsecret.html", headers=auth).status_code \
        == 404
    assert client.get("/reports/health/medical_institution/notes.txt", headers=auth).status_code == 404


def test_runs_without_any_record_is_empty(client: TestClient, simple_auth) -> None:
    assert client.get("/runs", headers={"Authorization": f"Bearer {simple_auth('viewer')}"}).json() == []


def test_the_plugin_guards_the_app_with_airflows_own_login() -> None:
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.params import Depends

    from governance_plugin import GovernancePlugin

    mounted = next(app for app in GovernancePlugin.fastapi_apps if app["url_prefix"] == "/governance")
    (guard,) = mounted["app"].router.dependencies
    login = [parameter.default.dependency for parameter in __import__("inspect").signature(
        guard.dependency).parameters.values() if isinstance(parameter.default, Depends)]
    assert login == [get_user]
