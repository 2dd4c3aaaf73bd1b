"""Database roles follow the sharing types: proven by logging in as department members on real PostgreSQL.

Roles are cluster-wide, so every test prefixes them with a unique string and drops them afterwards.
"""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from governance.standards.catalogue import Catalogue, load_usable_catalogue
from governance.warehouse import ensure_governance_tables, publish, warehouse_engine
from governance.warehouse.grants import apply_grants, plan_grants, role_names

TODAY = date(2026, 11, 28)
RESIDENT = "public_security/resident_population"
ENTERPRISE = "market_regulation/enterprise_registration"
TAX = "taxation/taxpayer_credit_rating"
LINEAGE = ("_load_date", "_run_id", "_loaded_at")


def resident(i: int) -> dict:
    return {"id_number": f"ptok_{i:04d}", "name": "张*", "gender": str(1 + i % 2), "birth_date": "1990",
            "ethnicity": "01", "region_code": "330102", "address": "浙江省杭州市上城区", "mobile": "138****0001",
            "updated_at": "2026-11-27 08:00:00"}


def enterprise(i: int) -> dict:
    return {"credit_code": f"91330100MA{i:08d}", "enterprise_name": "某某科技有限公司", "legal_representative": "王*",
            "legal_rep_id_number": f"ptok_{i:04d}", "registered_capital": "100.00", "established_on": "2020-01-02",
            "region_code": "330102", "business_address": "杭州市西湖区文三路1号", "status": "1",
            "updated_at": "2026-11-27 08:00:00"}


def write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.table({name: pa.array([row[name] for row in rows], pa.string()) for name in rows[0]}), path)
    return path


def taxpayer(i: int) -> dict:
    return {"credit_code": f"91330100MA{i:08d}", "taxpayer_name": "某某科技有限公司", "rating": "A",
            "evaluated_on": "2026-04-01", "updated_at": "2026-04-01 08:00:00"}


# ----------------------------------------------------------------------------------- the plan (no database)

def test_unconditional_columns_go_to_everyone_column_by_column(catalogue: Catalogue) -> None:
    plan = plan_grants(catalogue, TODAY)
    register = plan.columns("market_regulation__enterprise_registration", "shared_reader_all")
    assert "enterprise_name" in register and "credit_code" in register
    assert "legal_rep_id_number" not in register  # conditional inside an unconditional dataset
    assert register[-3:] == LINEAGE
    assert plan.columns("health__medical_institution", "shared_reader_all")
    assert plan.columns("public_security__resident_population", "shared_reader_all") == ()  # conditional


def test_conditional_columns_go_only_to_agreed_consumers(catalogue: Catalogue) -> None:
    plan = plan_grants(catalogue, TODAY)
    population = plan.tables["public_security__resident_population"]
    assert population == {"dept_civil_affairs": ("id_number", "name", "region_code", *LINEAGE)}
    assert plan.columns("market_regulation__enterprise_registration", "dept_taxation") == (
        "credit_code", "legal_rep_id_number", *LINEAGE)


def test_expired_or_suspended_agreements_grant_nothing(catalogue: Catalogue) -> None:
    assert "dept_health" in plan_grants(catalogue, date(2025, 6, 1)).tables["public_security__resident_population"]
    assert "dept_health" not in plan_grants(catalogue, TODAY).tables["public_security__resident_population"]
    agreements = {key: agreement.model_copy(update={"status": "suspended"}) if agreement.consumer == "civil_affairs"
                  else agreement for key, agreement in catalogue.agreements.items()}
    suspended = dataclasses.replace(catalogue, agreements=agreements)
    assert plan_grants(suspended, TODAY).tables["public_security__resident_population"] == {}


def test_a_column_that_is_not_published_is_never_planned(edit_dataset) -> None:
    """Defence in depth: even an (unchecked) agreement naming a not-shared column grants only published ones."""
    edited = edit_dataset(RESIDENT, columns=[
        {"name": "id_number", "element": "resident_id_number"},
        {"name": "name", "element": "person_name", "required": True, "sharing": "not_shared"},
        {"name": "region_code", "element": "division_code", "required": True}])
    plan = plan_grants(edited, TODAY)
    assert plan.columns("public_security__resident_population", "dept_civil_affairs") == (
        "id_number", "region_code", *LINEAGE)


def test_profile_columns_follow_their_sources(catalogue: Catalogue) -> None:
    plan = plan_grants(catalogue, TODAY)
    profile = plan.tables["profile__enterprise"]
    everyone = profile["shared_reader_all"]
    assert "enterprise_name" in everyone and "medical_institution_name" in everyone
    assert "tax_credit_rating" not in everyone and "legal_rep_id_number" not in everyone
    assert "tax_credit_rating" in profile["dept_market_regulation"]  # via its tax-credit agreement
    assert "legal_rep_id_number" in profile["dept_taxation"]


def test_role_names_take_a_checked_prefix(catalogue: Catalogue) -> None:
    reader, departments = role_names(catalogue, "t1_")
    assert reader == "t1_shared_reader_all" and departments["health"] == "t1_dept_health"
    for bad in ('x"; DROP ROLE postgres; --', "Upper_", "1x_"):
        with pytest.raises(ValueError, match="role prefix"):
            role_names(catalogue, bad)


def test_sqlite_applies_nothing(catalogue: Catalogue, tmp_path: Path) -> None:
    engine = warehouse_engine(f"sqlite:///{tmp_path / 'w.db'}")
    report = apply_grants(engine, catalogue, TODAY)
    engine.dispose()
    assert not report.applied and report.grants == 0 and report.plan.tables


# ----------------------------------------------------------------------------------- real PostgreSQL

USERS = {"civil": "civil_affairs", "tax": "taxation", "health": "health", "market": "market_regulation"}


@pytest.fixture
def cluster(postgres_admin: sa.Engine, postgres_database: str, catalogue: Catalogue, tmp_path: Path) -> Iterator[dict]:
    """A warehouse with three published tables, a unique role prefix, and one login user per department
    (members of the department roles); every role is dropped afterwards."""
    prefix = f"gt{uuid.uuid4().hex[:8]}_"
    engine = warehouse_engine(postgres_database)
    for key, rows in ((RESIDENT, [resident(i) for i in range(3)]), (ENTERPRISE, [enterprise(i) for i in range(3)]),
                      (TAX, [taxpayer(i) for i in range(2)])):
        path = write_parquet(tmp_path / f"{key.replace('/', '__')}.parquet", rows)
        publish(engine, catalogue, key, path, load_date=date(2026, 11, 27), run_id="grants-test")
    ensure_governance_tables(engine)
    reader, departments = role_names(catalogue, prefix)
    users = {user: f"{prefix}u_{user}" for user in USERS}
    engines: dict[str, sa.Engine] = {}
    state = {"engine": engine, "prefix": prefix, "engines": engines, "url": postgres_database}
    try:
        apply_grants(engine, catalogue, TODAY, prefix=prefix)
        with postgres_admin.connect() as connection:
            for user, department in USERS.items():
                connection.exec_driver_sql(
                    f'CREATE ROLE "{users[user]}" LOGIN IN ROLE "{departments[department]}"')
        for user, name in users.items():
            engines[user] = sa.create_engine(sa.make_url(postgres_database).set(username=name, password=None))
        yield state
    finally:
        for other in engines.values():
            other.dispose()
        engine.dispose()
        roles = [*users.values(), *departments.values(), reader]
        with postgres_admin.connect() as connection:
            existing = set(connection.execute(sa.text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:r)"),
                                              {"r": roles}).scalars())
        quoted = ", ".join(f'"{role}"' for role in roles if role in existing)
        if quoted:
            database = sa.create_engine(postgres_database, isolation_level="AUTOCOMMIT")
            with database.connect() as connection:
                connection.exec_driver_sql(f"DROP OWNED BY {quoted}")  # their privileges in the test database
            database.dispose()
            with postgres_admin.connect() as connection:
                connection.exec_driver_sql(f"DROP ROLE {quoted}")


def can_select(engine: sa.Engine, columns: str, table: str) -> bool:
    with engine.connect() as connection:
        try:
            connection.exec_driver_sql(f"SELECT {columns} FROM {table}").all()
        except sa.exc.ProgrammingError as error:
            assert getattr(error.orig, "sqlstate", None) == "42501", error  # insufficient_privilege
            return False
    return True


def acls(engine: sa.Engine, prefix: str) -> dict:
    """Every ACL and membership the platform's roles touch, for comparing two applies."""
    with engine.connect() as connection:
        tables = connection.execute(sa.text(
            "SELECT n.nspname || '.' || c.relname, c.relacl::text FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('shared', 'governance') "
            "ORDER BY 1")).all()
        columns = connection.execute(sa.text(
            "SELECT c.relname || '.' || a.attname, a.attacl::text FROM pg_attribute a JOIN pg_class c "
            "ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'shared' AND a.attacl IS NOT NULL ORDER BY 1")).all()
        schemas = connection.execute(sa.text(
            "SELECT nspname, nspacl::text FROM pg_namespace WHERE nspname IN ('shared', 'governance')")).all()
        members = connection.execute(sa.text(
            "SELECT r.rolname, m.rolname FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid "
            "JOIN pg_roles m ON m.oid = am.member WHERE r.rolname LIKE :p ORDER BY 1, 2"), {"p": f"{prefix}%"}).all()
    return {"tables": tables, "columns": columns, "schemas": schemas, "members": members}


@pytest.mark.postgres
def test_department_members_read_exactly_what_they_may(cluster: dict) -> None:
    civil, tax, health, market = (cluster["engines"][user] for user in USERS)
    population = "shared.public_security__resident_population"
    register = "shared.market_regulation__enterprise_registration"
    ratings = "shared.taxation__taxpayer_credit_rating"
    # conditional dataset: only the agreed consumer, only the agreed columns
    assert can_select(civil, "id_number, name, region_code, _load_date", population)
    assert not can_select(civil, "mobile", population)
    assert not can_select(civil, "*", population)
    assert not can_select(tax, "id_number", population)
    # unconditional dataset: everyone, except its conditional column, which only taxation agreed on
    for engine in (civil, tax, health, market):
        assert can_select(engine, "credit_code, enterprise_name, status, _run_id", register)
    assert can_select(tax, "legal_rep_id_number", register)
    assert not can_select(civil, "legal_rep_id_number", register)
    assert not can_select(market, "legal_rep_id_number", register)
    # market regulation's tax-credit agreement: rating yes, the taxpayer's name (not agreed) no
    assert can_select(market, "credit_code, rating, evaluated_on", ratings)
    assert not can_select(market, "taxpayer_name", ratings)
    assert not can_select(health, "rating", ratings)
    # the platform's own records are closed to everyone
    for engine in (civil, tax, health, market):
        assert not can_select(engine, "count(*)", "governance.run_record")


@pytest.mark.postgres
def test_an_expired_agreement_grants_nothing_and_revocation_follows_the_calendar(cluster: dict, catalogue) -> None:
    health, engine, prefix = cluster["engines"]["health"], cluster["engine"], cluster["prefix"]
    population = "shared.public_security__resident_population"
    assert not can_select(health, "id_number", population)  # agreement ended 2025-12-31
    apply_grants(engine, catalogue, date(2025, 6, 1), prefix=prefix)  # while it was valid
    assert can_select(health, "id_number, gender, birth_date, region_code", population)
    apply_grants(engine, catalogue, TODAY, prefix=prefix)
    assert not can_select(health, "id_number", population)


@pytest.mark.postgres
def test_reapplying_is_idempotent_and_removes_hand_made_grants(cluster: dict, catalogue) -> None:
    engine, prefix = cluster["engine"], cluster["prefix"]
    before = acls(engine, prefix)
    assert before["columns"] and before["members"]
    report = apply_grants(engine, catalogue, TODAY, prefix=prefix)
    assert acls(engine, prefix) == before
    assert report.applied and "profile__enterprise" in report.skipped_tables  # not built in this test
    with engine.begin() as connection:  # someone grants by hand, outside the agreements
        connection.exec_driver_sql(
            f'GRANT SELECT ON shared.public_security__resident_population TO "{prefix}dept_health"')
    assert can_select(cluster["engines"]["health"], "*", "shared.public_security__resident_population")
    apply_grants(engine, catalogue, TODAY, prefix=prefix)
    assert acls(engine, prefix) == before
    assert not can_select(cluster["engines"]["health"], "*", "shared.public_security__resident_population")


@pytest.mark.postgres
def test_not_shared_columns_are_never_in_the_published_table(postgres_database: str, edit_dataset, tmp_path) -> None:
    edited = edit_dataset(RESIDENT, columns=[
        {"name": "id_number", "element": "resident_id_number"},
        {"name": "name", "element": "person_name", "required": True},
        {"name": "mobile", "element": "mobile_number", "sharing": "not_shared"},
        {"name": "address", "element": "address", "masking": "suppress"},
        {"name": "region_code", "element": "division_code", "required": True},
        {"name": "updated_at", "element": "record_updated_at", "required": True}])
    rows = [{key: value for key, value in resident(i).items() if key in ("id_number", "name", "region_code",
                                                                          "updated_at")} for i in range(2)]
    engine = warehouse_engine(postgres_database)
    try:
        publish(engine, edited, RESIDENT, write_parquet(tmp_path / "r.parquet", rows), load_date=TODAY, run_id="r1")
        columns = {column["name"] for column in sa.inspect(engine).get_columns(
            "public_security__resident_population", schema="shared")}
    finally:
        engine.dispose()
    assert columns == {"id_number", "name", "region_code", "updated_at", *LINEAGE}


@pytest.mark.postgres
def test_a_dataset_left_out_for_its_broken_standard_keeps_its_readers(cluster: dict, tmp_path: Path) -> None:
    """While the resident standard has a typo (its DAG disabled), another dataset's publish re-applies the
    grants: no plan can be made for the resident table, so what its readers held stays as it was."""
    engine, prefix = cluster["engine"], cluster["prefix"]
    standards = Path(shutil.copytree(Path(__file__).resolve().parents[2] / "standards", tmp_path / "standards"))
    file = standards / "datasets/public_security/resident_population.yaml"
    file.write_text(file.read_text(encoding="utf-8").replace("element: mobile_number", "element: phone"),
                    encoding="utf-8")
    usable = load_usable_catalogue(standards)
    assert RESIDENT not in usable.datasets and "datasets/public_security/resident_population.yaml" in usable.broken
    before = acls(engine, prefix)
    apply_grants(engine, usable, TODAY, prefix=prefix)
    assert acls(engine, prefix) == before
    population = "shared.public_security__resident_population"
    assert can_select(cluster["engines"]["civil"], "id_number, name, region_code, _load_date", population)
    assert not can_select(cluster["engines"]["civil"], "mobile", population)
