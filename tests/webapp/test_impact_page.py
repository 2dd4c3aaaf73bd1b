"""Issue 16: the standards owner's impact page shows the latest `suites impact` report of each dataset the
user may read (its DAG), escaped, behind Airflow's login."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fastapi import HTTPException, Request
from fastapi.testclient import TestClient

from governance.settings import get_settings
from governance.validation.impact import Impact, NightImpact, RuleImpact
from governance.validation.impact_reports import impact_folder, save_report, saved_reports
from governance.webapp import create_app

HOSTILE = "<img src=x onerror=alert(1)>"


def report(dataset_key: str) -> Impact:
    rule = RuleImpact("name.person_name", newly_quarantined=2, examples=[f"line 7: name={HOSTILE}"])
    night = NightImpact(date(2026, 11, 27), received=1939, quarantined_current=61, quarantined_proposed=63,
                        verdict_current="passed_with_quarantine", verdict_proposed="passed_with_quarantine",
                        rules=[rule], newly_quarantined=2)
    return Impact(dataset_key, current="HEAD", proposed="expectations/ (working tree)", nights=[night])


def test_a_saved_report_is_shown_escaped_behind_the_login(client: TestClient, simple_auth) -> None:
    folder = impact_folder(get_settings())
    saved = save_report(report("public_security/resident_population"), folder, computed_at="2026-12-03T09:00+08:00")
    assert saved == folder / "public_security__resident_population.json"
    assert client.get("/impact/page").status_code == 401
    page = client.get("/impact/page", cookies={"_token": simple_auth("viewer")})
    assert page.status_code == 200 and "标准变更影响" in page.text
    assert "public_security/resident_population" in page.text and "61 → 63" in page.text
    assert HOSTILE not in page.text and "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


class Reader:
    def get_name(self) -> str:
        return "steward-a"


class OneDepartment:
    """An auth manager that lets the user read public security's DAGs only (as FAB's access_control does)."""

    def is_authorized_dag(self, *, details, **_: object) -> bool:
        return details.id.startswith("public_security__")

    def is_authorized_custom_view(self, **_: object) -> bool:
        return False


def login(request: Request) -> Reader:
    if request.headers.get("Authorization") != "Bearer steward":
        raise HTTPException(status_code=401, detail="Not authenticated")
    return Reader()


def test_only_the_datasets_the_user_may_read_are_shown(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    folder = impact_folder(get_settings())
    for key in ("public_security/resident_population", "civil_affairs/subsistence_allowance"):
        save_report(report(key), folder, computed_at="2026-12-03T09:00+08:00")
    (folder / "broken.json").write_text("{not json")
    assert set(saved_reports(folder)) == {"public_security__resident_population",
                                          "civil_affairs__subsistence_allowance"}
    client = TestClient(create_app(require_user=login, auth_manager=OneDepartment))
    auth = {"Authorization": "Bearer steward"}
    assert set(client.get("/impact", headers=auth).json()) == {"public_security__resident_population"}
    page = client.get("/impact/page", headers=auth).text
    assert "public_security/resident_population" in page and "civil_affairs" not in page
    (folder / "public_security__resident_population.json").unlink()
    assert "暂无可查看的影响分析" in client.get("/impact/page", headers=auth).text
