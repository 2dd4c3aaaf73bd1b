"""Issue 14, finding 1: logged in is not allowed. Raw quarantine reports, the report-view audit and the
oversight figures each ask Airflow's auth manager, here the real simple auth manager of ``make airflow``
(roles admin/op/user/viewer, no per-DAG scoping: raw rows and the audit are admin-only there)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from seeded_report import REPORT

from governance.warehouse import warehouse_engine, write_run_record
from governance.warehouse.report_views import report_view


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("role", ["viewer", "user", "op"])
def test_a_non_admin_token_is_refused_the_raw_report_by_header_and_by_cookie(client: TestClient, simple_auth,
                                                                               role: str) -> None:
    token = simple_auth(role)
    by_header = client.get(REPORT, headers=bearer(token))
    by_cookie = client.get(REPORT, cookies={"_token": token})
    assert (by_header.status_code, by_cookie.status_code) == (403, 403)
    assert "report" not in by_header.text.replace("forbidden", "")  # no row of it, only the refusal
    assert "无权访问" in by_header.json()["detail"]


def test_every_request_for_a_raw_report_is_logged_and_only_the_security_role_reads_the_log(
        client: TestClient, simple_auth, tmp_path: Path) -> None:
    viewer, admin = simple_auth("viewer"), simple_auth("admin")
    assert client.get(REPORT, cookies={"_token": viewer}).status_code == 403
    assert client.get(REPORT, headers=bearer(admin)).text == "<p>report</p>"
    assert client.get("/audit/report-views", headers=bearer(viewer)).status_code == 403
    assert client.get("/audit/report-views/page", headers=bearer(viewer)).status_code == 403
    audit = client.get("/audit/report-views", headers=bearer(admin))
    assert audit.status_code == 200
    assert [(row["viewer"], row["dataset_key"], row["report"], row["decision"]) for row in audit.json()] == [
        ("admin-user", "health/medical_institution", "quarantine_2026-11-27.html", "allowed"),
        ("viewer-user", "health/medical_institution", "quarantine_2026-11-27.html", "denied")]
    assert all(row["at"] for row in audit.json())
    page = client.get("/audit/report-views/page", headers=bearer(admin))
    assert page.status_code == 200 and "viewer-user" in page.text and "denied" in page.text


def test_the_report_view_log_is_append_only(client: TestClient, simple_auth, tmp_path: Path) -> None:
    client.get(REPORT, headers=bearer(simple_auth("admin")))
    engine = warehouse_engine(f"sqlite:///{tmp_path / 'warehouse' / 'warehouse.db'}")
    try:
        for statement in (sa.update(report_view).values(viewer="someone-else"), sa.delete(report_view)):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as connection:
                connection.execute(statement)
        with engine.connect() as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(report_view)).scalar_one() == 1
    finally:
        engine.dispose()


def test_the_runs_page_links_raw_reports_only_for_those_who_may_open_them(client: TestClient, simple_auth,
                                                                           tmp_path: Path) -> None:
    engine = warehouse_engine(f"sqlite:///{tmp_path / 'warehouse' / 'warehouse.db'}")
    write_run_record(engine, {"dag_id": "health__medical_institution", "run_id": "r1",
                              "dataset_key": "health/medical_institution", "department": "health",
                              "logical_date": date(2026, 11, 27), "verdict": "passed", "rows_received": 10,
                              "rows_passed": 9, "rows_quarantined": 1})
    engine.dispose()
    viewer_page = client.get("/runs/page", headers=bearer(simple_auth("viewer"))).text
    admin_page = client.get("/runs/page", headers=bearer(simple_auth("admin"))).text
    assert "health/medical_institution" in viewer_page and "quarantine_2026-11-27" not in viewer_page
    assert 'href="/reports/health/medical_institution/quarantine_2026-11-27.html"' in admin_page


def test_the_oversight_figures_are_open_to_every_role_under_the_simple_auth_manager(client: TestClient,
                                                                                    simple_auth) -> None:
    response = client.get("/oversight/freshness", headers=bearer(simple_auth("viewer")))
    assert response.status_code == 200
