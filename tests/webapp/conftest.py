"""The web app behind Airflow's real login and real simple auth manager, in-process (no api-server).

Tokens are signed by the auth manager itself, so ``get_user`` validates them exactly as the api-server
does (Bearer header or the ``_token`` cookie); the roles are the simple auth manager's own.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

SIMPLE = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
JWT_SECRET = secrets.token_urlsafe(48)  # one per session: Airflow caches its token signer and validator


@pytest.fixture(scope="session")
def airflow_metadata() -> None:
    """Token checks look up revoked tokens in Airflow's metadata DB: migrate this session's (idempotent)."""
    governance = str(Path(sys.executable).with_name("governance"))
    migrate = subprocess.run([governance, "airflow", "--", "db", "migrate"], env=dict(os.environ),
                             capture_output=True, text=True, timeout=600)
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]


@pytest.fixture
def simple_auth(monkeypatch: pytest.MonkeyPatch, airflow_metadata: None) -> Iterator[Callable[[str], str]]:
    """``token(role)``: a JWT for a user of that simple-auth-manager role (admin, op, user, viewer)."""
    from airflow.api_fastapi.app import init_auth_manager, purge_cached_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", SIMPLE)
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", JWT_SECRET)
    purge_cached_app()
    manager = init_auth_manager()
    yield lambda role: manager.generate_jwt(SimpleAuthManagerUser(username=f"{role}-user", role=role))
    purge_cached_app()


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, simple_auth) -> TestClient:
    from airflow.api_fastapi.core_api.security import get_user

    from governance.webapp import create_app

    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse' / 'warehouse.db'}")
    report = tmp_path / "reports" / "health" / "medical_institution" / "quarantine_2026-11-27.html"
    report.parent.mkdir(parents=True)
    report.write_text("<p>report</p>")
    (tmp_path / "secret.html").write_text("outside")
    return TestClient(create_app(require_user=get_user))
