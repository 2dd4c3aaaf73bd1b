"""Finding 10: the service's least-privilege PostgreSQL role, and durable commits of the access log.

Roles are cluster-wide, so each test prefixes them with a unique string and drops them afterwards (as
``tests/warehouse/test_grants.py`` does).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sharing_support import KEYRING, RESIDENT, TAX, Clock, _parquet, raw_id
from test_interception import small_quota

from governance.sharing.app import create_sharing_app
from governance.sharing.config import SharingConfig
from governance.sharing.roles import service_role_name, sync_service_role
from governance.sharing.tables import access_log, security_event, service_engine
from governance.sharing.tokens import issue_token
from governance.standards.catalogue import Catalogue
from governance.warehouse import publish

POSTGRES = pytest.mark.parametrize("warehouse_url", [pytest.param("postgres", marks=pytest.mark.postgres)],
                                   indirect=True)
DENIED = "42501"  # insufficient_privilege (also: must be owner of table)


@pytest.fixture
def service_login(postgres_admin: sa.Engine, published: sa.Engine, warehouse_url: str,
                  sharing_catalogue: Catalogue) -> Iterator[tuple[sa.Engine, str]]:
    """A login role made a member of a freshly synced service role; its engine and the role's prefix."""
    prefix = f"gt{uuid.uuid4().hex[:8]}_"
    login, role = f"{prefix}sharing_login", service_role_name(prefix)
    with postgres_admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE ROLE "{login}" LOGIN')
    engine = None
    try:
        sync_service_role(published, sharing_catalogue, prefix=prefix, members=[login])
        engine = service_engine(sa.make_url(warehouse_url).set(username=login).render_as_string(hide_password=False))
        yield engine, prefix
    finally:
        if engine is not None:
            engine.dispose()
        owner = sa.create_engine(warehouse_url, isolation_level="AUTOCOMMIT")
        with owner.connect() as connection:
            connection.exec_driver_sql(f'DROP OWNED BY "{login}", "{role}"')
        owner.dispose()
        with postgres_admin.connect() as connection:
            connection.exec_driver_sql(f'DROP ROLE IF EXISTS "{login}", "{role}"')


def refused(engine: sa.Engine, statement: str) -> str | None:
    """The SQLSTATE the statement fails with (None if it succeeds); rolled back either way."""
    with engine.connect() as connection:
        try:
            connection.exec_driver_sql(statement)
        except sa.exc.DBAPIError as error:
            return getattr(error.orig, "sqlstate", "?")
        finally:
            connection.rollback()
    return None


@POSTGRES
def test_the_service_role_serves_everything_the_api_does(service_login, published, sharing_catalogue) -> None:
    engine, _ = service_login
    clock = Clock()
    app = create_sharing_app(engine, small_quota(sharing_catalogue, 4), clock, keyring=KEYRING,
                             config=SharingConfig(alert_webhook=None), alert_post=lambda url, payload: None)
    token = issue_token(published, "civil_affairs", now=clock().replace(tzinfo=None), expires_days=None).token
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.get("/datasets").status_code == 200  # freshness from the run records
        page = client.get(f"/datasets/{RESIDENT}/rows", params={"limit": 2})
        assert page.status_code == 200 and len(page.json()["rows"]) == 2
        assert client.post(f"/datasets/{RESIDENT}/rows", json={"limit": 1, "after": page.json()["next_cursor"]}
                           ).status_code == 200
        assert client.post(f"/datasets/{RESIDENT}/lookup", json={"key": {"id_number": raw_id(3)}}).status_code == 200
        assert client.get(f"/datasets/{RESIDENT}/rows", params={"limit": 3}).status_code == 429  # quota 4
        app.state.services.alerter.flush()
    with published.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(access_log)) == 5
        assert connection.scalar(sa.select(security_event.c.alerted)) is True  # UPDATE (alerted) allowed


@POSTGRES
def test_the_service_role_cannot_change_the_access_log_or_its_triggers(service_login) -> None:
    engine, _ = service_login
    assert refused(engine, "INSERT INTO governance.access_log (at, request_id, consumer, method, endpoint, decision, "
                           "status_code) VALUES (now(), 'r', 'c', 'GET', '/x', 'allowed', 200)") is None
    for statement in ("UPDATE governance.access_log SET consumer = 'x'", "DELETE FROM governance.access_log",
                      "TRUNCATE governance.access_log", "SELECT * FROM governance.access_log",
                      "ALTER TABLE governance.access_log DISABLE TRIGGER access_log_append_only",
                      "ALTER TABLE governance.access_log DISABLE TRIGGER ALL",
                      "DROP TRIGGER access_log_append_only ON governance.access_log",
                      "ALTER TABLE governance.security_event DISABLE TRIGGER security_event_append_only",
                      "DELETE FROM governance.security_event", "UPDATE governance.api_token SET revoked_at = NULL",
                      "CREATE TABLE governance.mine (x int)", "CREATE TABLE shared.mine (x int)",
                      "SELECT raw_row_encrypted FROM governance.quarantine",
                      "SELECT message FROM governance.run_record"):
        assert refused(engine, statement) == DENIED, statement
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_roles r "
                                         "ON r.oid = c.relowner WHERE pg_has_role(current_user, r.oid, 'MEMBER')")) == 0


@POSTGRES
def test_the_access_log_is_committed_durably(service_login, published, sharing_catalogue) -> None:
    """Finding 10: the log was written with synchronous_commit = off (a database crash lost answered calls)."""
    engine, _ = service_login
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    clock = Clock()
    app = create_sharing_app(engine, sharing_catalogue, clock, keyring=KEYRING,
                             config=SharingConfig(alert_webhook=None))
    token = issue_token(published, "civil_affairs", now=clock().replace(tzinfo=None), expires_days=None).token
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.post(f"/datasets/{RESIDENT}/lookup", json={"key": {"id_number": raw_id(3)}}).status_code == 200
    assert statements and not any("synchronous_commit" in statement.lower() for statement in statements)


@POSTGRES
def test_governance_sharing_role_sync_creates_the_role(postgres_admin, published, warehouse_url) -> None:
    prefix = f"gt{uuid.uuid4().hex[:8]}_"
    login, role = f"{prefix}sharing_login", service_role_name(prefix)
    with postgres_admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE ROLE "{login}" LOGIN')
    try:
        command = ["sharing-role", "sync", "--role-prefix", prefix, "--member", login]
        result = subprocess.run(
            [sys.executable, "-m", "governance.cli", *command],
            env={**os.environ, "GOVERNANCE_WAREHOUSE_URL": warehouse_url}, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert f"shared.public_security__resident_population: {role} SELECT (id_number" in result.stdout
        with postgres_admin.connect() as connection:
            assert connection.scalar(sa.text("SELECT pg_has_role(:login, :role, 'MEMBER')"),
                                     {"login": login, "role": role}) is True
    finally:
        owner = sa.create_engine(warehouse_url, isolation_level="AUTOCOMMIT")
        with owner.connect() as connection:
            connection.exec_driver_sql(f'DROP OWNED BY "{login}"')
            if connection.scalar(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}):
                connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
        owner.dispose()
        with postgres_admin.connect() as connection:
            connection.exec_driver_sql(f'DROP ROLE IF EXISTS "{login}", "{role}"')



@POSTGRES
def test_sharing_role_sync_creates_the_services_login_with_its_password_from_the_environment(
        postgres_admin, published, warehouse_url) -> None:
    """As the compose deployment's airflow-init: ``--login NAME --password-env VAR`` creates the login (or sets
    its password), makes it a member, and never takes the password from the command line."""
    prefix = f"gt{uuid.uuid4().hex[:8]}_"
    login, role = f"{prefix}sharing_login", service_role_name(prefix)
    command = [sys.executable, "-m", "governance.cli", "sharing-role", "sync", "--role-prefix", prefix,
               "--login", login, "--password-env", "SHARING_TEST_PASSWORD"]
    environment = {**os.environ, "GOVERNANCE_WAREHOUSE_URL": warehouse_url}
    try:
        missing = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
        assert missing.returncode == 1 and "--password-env" in missing.stderr
        for password in ("first-" + uuid.uuid4().hex, "second-" + uuid.uuid4().hex):  # created, then re-passworded
            done = subprocess.run(command, env={**environment, "SHARING_TEST_PASSWORD": password},
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            assert password not in done.stdout + done.stderr
        with postgres_admin.connect() as connection:
            login_row = connection.execute(sa.text(
                "SELECT rolcanlogin, rolcreaterole, rolsuper, rolpassword IS NOT NULL FROM pg_authid "
                "WHERE rolname = :r"), {"r": login}).one()
            assert tuple(login_row) == (True, False, False, True)
            assert connection.scalar(sa.text("SELECT pg_has_role(:login, :role, 'MEMBER')"),
                                     {"login": login, "role": role}) is True
    finally:
        owner = sa.create_engine(warehouse_url, isolation_level="AUTOCOMMIT")
        with owner.connect() as connection:
            for name in (login, role):
                if connection.scalar(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": name}):
                    connection.exec_driver_sql(f'DROP OWNED BY "{name}"')
        owner.dispose()
        with postgres_admin.connect() as connection:
            connection.exec_driver_sql(f'DROP ROLE IF EXISTS "{login}", "{role}"')


@POSTGRES
def test_a_table_published_later_is_readable_after_the_refresh(service_login, published, catalogue,
                                                               sharing_catalogue, tmp_path) -> None:
    """The publish step calls ``sync_service_role(create=False)``: it refreshes an existing role only."""
    engine, prefix = service_login
    assert not sync_service_role(published, sharing_catalogue, prefix=f"{prefix}none_", create=False).applied
    rows = [{"credit_code": f"91330100MA{i:08d}", "taxpayer_name": "某某科技有限公司", "rating": "A",
             "evaluated_on": "2026-04-01", "updated_at": "2026-04-01 08:00:00"} for i in range(3)]
    publish(published, catalogue, TAX, _parquet(tmp_path / "tax.parquet", rows), load_date=date(2026, 6, 14),
            run_id="later")
    statement = "SELECT credit_code, rating FROM shared.taxation__taxpayer_credit_rating"
    assert refused(engine, statement) == DENIED
    assert sync_service_role(published, sharing_catalogue, prefix=prefix, create=False).applied
    assert refused(engine, statement) is None
