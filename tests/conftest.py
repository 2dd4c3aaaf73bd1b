"""Shared fixtures. Keep each group self-contained; add new groups below the existing ones."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from governance.settings import airflow_environment
from governance.standards.catalogue import Catalogue, load_catalogue

REPO_ROOT = Path(__file__).resolve().parents[1]

# Airflow reads its configuration once, at import: point it at a private home under var/test
# before any test imports it, so tests never touch the demo's metadata DB or secrets. Under
# pytest-xdist each worker has its own (var/test/gw0, ...: one SQLite metadata DB per process).
# Workers inherit the controller's environment, so a worker first drops what this file set there.
for _name in filter(None, os.environ.pop("GOVERNANCE_TEST_DEFAULTS", "").split(",")):
    os.environ.pop(_name, None)
_before = set(os.environ)
os.environ.setdefault("GOVERNANCE_VAR_ROOT", str(REPO_ROOT / "var" / "test"))
os.environ["GOVERNANCE_VAR_ROOT"] = str(Path(os.environ["GOVERNANCE_VAR_ROOT"]) /
                                        os.environ.get("PYTEST_XDIST_WORKER", ""))
os.environ.update(airflow_environment())
os.environ["GOVERNANCE_TEST_DEFAULTS"] = ",".join(sorted(set(os.environ) - _before))

# --------------------------------------------------------------------------------------------
# Warehouse: the real standards catalogue, a fresh PostgreSQL database per test, and a
# `warehouse` engine parametrised over SQLite (tmp_path) and PostgreSQL (marked `postgres`).
# --------------------------------------------------------------------------------------------

POSTGRES_ADMIN_URL = os.environ.get("GOVERNANCE_TEST_POSTGRES_URL",
                                    "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def fresh_secrets_backends() -> Iterator[None]:
    """Airflow's SDK builds its secrets backends once per process; a test that pointed them at its own variables
    file would otherwise answer every later test's Variable (its keyring first) in the same worker."""
    from airflow.sdk.configuration import clear_secrets_backends_cache

    clear_secrets_backends_cache()
    yield
    clear_secrets_backends_cache()


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    """The repository's standards, loaded and checked once per session."""
    return load_catalogue(REPO_ROOT / "standards")


@pytest.fixture
def edit_dataset(catalogue: Catalogue) -> Callable[..., Catalogue]:
    """``edit_dataset(key, columns=[...], **fields)``: a copy of the catalogue with one dataset changed.

    ``columns`` items are column dicts (``{"name": ..., "element": ...}``); ``elements`` (a dict of
    element key -> field changes) edits elements. Standards checks are bypassed on purpose.
    """

    def edit(key: str, *, elements: dict[str, dict] | None = None, **changes: object) -> Catalogue:
        dataset = catalogue.dataset(key)
        if "columns" in changes:
            changes["columns"] = [type(dataset.columns[0]).model_validate(column) if isinstance(column, dict)
                                  else column for column in changes["columns"]]
        edited = dataset.model_copy(update=changes)
        element_map = dict(catalogue.elements)
        for element_key, update in (elements or {}).items():
            element_map[element_key] = element_map[element_key].model_copy(update=update)
        return dataclasses.replace(catalogue, elements=element_map,
                                   datasets={**catalogue.datasets, dataset.key: edited})

    return edit


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[sa.Engine]:
    """An AUTOCOMMIT engine on the admin database; skips (fails under CI=true) if PostgreSQL is down."""
    engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        engine.dispose()
        reason = f"PostgreSQL is not reachable at {engine.url.render_as_string()}: {error.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)
    yield engine
    engine.dispose()


@contextlib.contextmanager
def fresh_postgres_database(admin: sa.Engine) -> Iterator[str]:
    """URL of a fresh, uniquely named database, dropped (WITH FORCE) afterwards."""
    name = f"gov_test_{uuid.uuid4().hex[:12]}"
    preparer = admin.dialect.identifier_preparer
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {preparer.quote(name)}")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {preparer.quote(name)} WITH (FORCE)")


@pytest.fixture
def postgres_database(postgres_admin: sa.Engine) -> Iterator[str]:
    with fresh_postgres_database(postgres_admin) as url:
        yield url


@pytest.fixture(scope="module")
def postgres_database_module(postgres_admin: sa.Engine) -> Iterator[str]:
    """One fresh database shared by a module's tests (for expensive end-to-end runs)."""
    with fresh_postgres_database(postgres_admin) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A warehouse URL on each backend: a SQLite file under tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse' / 'warehouse.db'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def warehouse(warehouse_url: str) -> Iterator[sa.Engine]:
    """A warehouse engine (schemas ``shared`` and ``governance`` in place), disposed after the test."""
    from governance.warehouse import warehouse_engine

    engine = warehouse_engine(warehouse_url)
    yield engine
    engine.dispose()
