"""The permission is asked for the department or DAG a URL names: no path segment may step out of it into
another department's Data Docs or reports (found by review: `..` in the Data Docs path, `..` as a dataset)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient

from governance.settings import get_settings
from governance.warehouse import warehouse_engine
from governance.warehouse.report_views import report_views
from governance.webapp import create_app

OWN, OTHER = "civil_affairs__subsistence_allowance", "public_security__resident_population"


class Steward:
    def get_name(self) -> str:
        return "steward-civil-affairs"


class CivilAffairsOnly:
    """As FAB's access_control gives a civil affairs steward: its DAGs and its raw rows, nothing else."""

    def is_authorized_dag(self, *, details, **_: object) -> bool:
        return details.id.startswith("civil_affairs__")

    def is_authorized_custom_view(self, *, resource_name: str, **_: object) -> bool:
        return resource_name.endswith("civil_affairs")


def login(request: Request) -> Steward:
    if request.headers.get("Authorization") != "Bearer steward":
        raise HTTPException(status_code=401, detail="Not authenticated")
    return Steward()


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse' / 'warehouse.db'}")
    settings = get_settings()
    for dag_id in (OWN, OTHER):
        page = settings.docs_root / dag_id / "run1" / "index.html"
        page.parent.mkdir(parents=True)
        page.write_text(f"docs of {dag_id}")
    reports = settings.reports_root / "civil_affairs" / "subsistence_allowance"
    reports.mkdir(parents=True)
    (reports / "quarantine_2026-11-27.html").write_text("own report")
    (settings.reports_root / "stray.html").write_text("a file at the reports root")
    (settings.reports_root / "public_security" / "resident_population").mkdir(parents=True)
    (settings.reports_root / "public_security" / "resident_population" / "quarantine_2026-11-27.html").write_text(
        "other department's rows")
    return TestClient(create_app(require_user=login, auth_manager=CivilAffairsOnly))


AUTH = {"Authorization": "Bearer steward"}


def test_own_docs_are_served_and_no_segment_reaches_another_departments(client: TestClient) -> None:
    assert client.get(f"/docs/{OWN}/run1/index.html", headers=AUTH).text == f"docs of {OWN}"
    assert client.get(f"/docs/{OTHER}/run1/index.html", headers=AUTH).status_code == 403
    for sneaky in (f"/docs/{OWN}/run1/..%2F..%2F{OTHER}%2Frun1%2Findex.html",
                   f"/docs/{OWN}/%2E%2E/{OTHER}%2Frun1%2Findex.html",
                   f"/docs/{OWN}/run1/.%2Findex.html"):
        response = client.get(sneaky, headers=AUTH)
        assert response.status_code == 404 and OTHER not in response.text, sneaky


def test_a_report_path_stays_in_its_dataset_and_every_permitted_request_is_logged(client: TestClient) -> None:
    own = "/reports/civil_affairs/subsistence_allowance/quarantine_2026-11-27.html"
    assert client.get(own, headers=AUTH).text == "own report"
    assert client.get("/reports/civil_affairs/%2E%2E/stray.html", headers=AUTH).status_code == 404
    assert client.get("/reports/civil_affairs/subsistence_allowance/quarantine_2099-01-01.html",
                      headers=AUTH).status_code == 404
    assert client.get("/reports/public_security/resident_population/quarantine_2026-11-27.html",
                      headers=AUTH).status_code == 403
    engine = warehouse_engine(get_settings().warehouse_url)
    try:
        views = report_views(engine, since=datetime(2000, 1, 1))
        logged = {(row["dataset_key"], row["report"], row["decision"]) for row in views}
    finally:
        engine.dispose()
    assert ("civil_affairs/subsistence_allowance", "quarantine_2099-01-01.html", "allowed") in logged  # a probe
    assert ("public_security/resident_population", "quarantine_2026-11-27.html", "denied") in logged
