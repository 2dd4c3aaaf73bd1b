"""The oversight page and JSON with one dataset's standard broken: the other datasets' figures and a Chinese
notice naming the file and line (issue 15). Shared files broken: test_oversight_routes (503 with the problems)."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from fastapi.testclient import TestClient
from oversight_support import MEDICAL, RESIDENT, record_run
from test_oversight_routes import AUTH, airflow_login

from governance.warehouse import warehouse_engine
from governance.webapp import create_app

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def standards(tmp_path: Path, monkeypatch) -> Path:
    """A copy of the standards to break, and a warehouse with one resident run."""
    root = Path(shutil.copytree(REPO_ROOT / "standards", tmp_path / "standards"))
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", url)
    monkeypatch.setenv("GOVERNANCE_STANDARDS_ROOT", str(root))
    engine = warehouse_engine(url)
    record_run(engine, RESIDENT, date.today() - timedelta(days=1))
    engine.dispose()
    return root


def client() -> TestClient:
    return TestClient(create_app(require_user=airflow_login, auth_manager=SimpleAuthManager))


def test_a_broken_dataset_standard_is_named_and_the_rest_is_shown(standards: Path) -> None:
    file = standards / "datasets/health/medical_institution.yaml"
    text = file.read_text(encoding="utf-8").replace("element: credit_code}", "element: credit_cod}", 1)
    file.write_text(text + '"<b>note": hostile\n', encoding="utf-8")  # an unknown key, named in the notice
    page = client().get("/oversight/page", headers=AUTH)
    assert page.status_code == 200
    assert "相应数据集已停用" in page.text and "datasets/health/medical_institution.yaml 第 " in page.text
    assert "&lt;b&gt;note" in page.text and "<b>note" not in page.text  # escaped, never markup
    body = client().get("/oversight/scorecards", headers=AUTH).json()
    assert {problem.split(" at ")[0].split(":")[0] for problem in body["standards_problems"]["problems"]} == {
        "datasets/health/medical_institution.yaml", "profiles/enterprise.yaml"}  # the profile joining it: left out
    assert RESIDENT in {card["scope"] for card in body["scorecards"]}
    assert MEDICAL not in {item["dataset_key"] for item in client().get("/oversight/freshness", headers=AUTH).json()}
    assert "standards_problems" in client().get("/oversight/access", headers=AUTH).json()

