"""Database roles that follow the sharing type of every published column (PostgreSQL).

The model, derived from the standards and the sharing agreements on every apply:

* one ``NOLOGIN`` role per department, ``dept_<key>``; the DBA makes people's login roles members;
* ``shared_reader_all``, granted to every department role: ``SELECT`` on the columns whose sharing
  is unconditional (无条件共享), column by column, so a conditional column inside an unconditional
  dataset (``legal_rep_id_number``) stays closed;
* conditional columns (有条件共享): ``SELECT (columns)`` only to the consumer role of an approved
  agreement valid today, and only on the columns it lists;
* not-shared or suppressed columns are never in the published table, so nothing can grant them;
* cross-department tables (:mod:`governance.profiles`) inherit column by column: a role reads a
  derived column only if it may read the column it came from;
* ``USAGE`` on schema ``shared`` for the department roles, nothing at all on ``governance``.

Applying revokes everything the platform's roles hold in both schemas and grants the plan again, in
one transaction: idempotent, and readers never see a half-applied state. Identifiers are composed
with :mod:`psycopg.sql` (``sql.Identifier``), never formatted from raw names. On SQLite there are no
roles; :func:`apply_grants` computes the plan and applies nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from psycopg import sql

from governance.settings import get_settings
from governance.standards.agreements import active_agreements
from governance.standards.catalogue import Catalogue
from governance.standards.profiles import TABLE_PREFIX
from governance.warehouse.engine import GOVERNANCE_SCHEMA, SHARED_SCHEMA, ddl_lock, is_postgres, write_transaction
from governance.warehouse.schema import LINEAGE_COLUMNS, MAX_IDENTIFIER, published_columns, table_name

log = logging.getLogger(__name__)

READER_ALL = "shared_reader_all"
ROLE_PREFIX = re.compile(r"^([a-z][a-z0-9_]*)?$")


class DerivedTable(Protocol):
    """A table built from published tables (a cross-department profile): where each column comes from."""

    @property
    def table(self) -> str: ...  # name in schema ``shared``

    @property
    def sources(self) -> Mapping[str, tuple[str, str]]: ...  # column -> (dataset key, source column)



@dataclass(frozen=True)
class GrantPlan:
    """Which role may SELECT which columns of which ``shared`` table, before existence is checked."""

    reader_all: str
    department_roles: dict[str, str]  # department key -> role
    tables: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)  # table -> role -> columns

    @property
    def roles(self) -> list[str]:
        return [self.reader_all, *self.department_roles.values()]

    def columns(self, table: str, role: str) -> tuple[str, ...]:
        return self.tables.get(table, {}).get(role, ())

    def lines(self) -> list[str]:
        """A readable listing, for the CLI and logs."""
        return [f"{SHARED_SCHEMA}.{table}: {role} SELECT ({', '.join(columns)})"
                for table, grants in sorted(self.tables.items()) for role, columns in sorted(grants.items())]


@dataclass(frozen=True)
class GrantReport:
    plan: GrantPlan
    applied: bool
    granted: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)  # what exists and was granted
    skipped_tables: tuple[str, ...] = ()  # planned tables not (yet) in the warehouse

    @property
    def grants(self) -> int:
        return sum(len(roles) for roles in self.granted.values())


def role_names(catalogue: Catalogue, prefix: str = "") -> tuple[str, dict[str, str]]:
    """``(<prefix>shared_reader_all, {department: <prefix>dept_<department>})``; the prefix keeps
    test runs (and several environments in one cluster) apart, since roles are cluster-wide."""
    if not ROLE_PREFIX.match(prefix):
        raise ValueError(f"role prefix {prefix!r} must be lowercase letters, digits and _, starting with a letter")
    departments = {key: f"{prefix}dept_{key}" for key in sorted(catalogue.departments)}
    for role in (f"{prefix}{READER_ALL}", *departments.values()):
        if len(role) > MAX_IDENTIFIER:
            raise ValueError(f"role name {role} is longer than {MAX_IDENTIFIER} characters")
    return f"{prefix}{READER_ALL}", departments


def plan_grants(catalogue: Catalogue, today: date, *, prefix: str = "",
                derived: Iterable[DerivedTable] | None = None) -> GrantPlan:
    """The grants the standards and the agreements valid on ``today`` call for (no database needed).
    ``derived`` defaults to the catalogue's cross-department profiles."""
    reader_all, departments = role_names(catalogue, prefix)
    plan = GrantPlan(reader_all, departments)
    by_dataset = {}
    for dataset in catalogue.datasets.values():
        columns = published_columns(catalogue, dataset)
        grants: dict[str, list[str]] = {}
        unconditional = [column.name for column in columns if column.sharing == "unconditional"]
        if unconditional:
            grants[reader_all] = unconditional
        by_dataset[dataset.key] = (table_name(dataset), grants, [column.name for column in columns])
    for agreement in active_agreements(catalogue, today):
        role = departments.get(agreement.consumer)
        if role is None or agreement.dataset not in by_dataset:
            continue  # the standards check reports these; a checked catalogue has none
        _, grants, published = by_dataset[agreement.dataset]
        held = grants.setdefault(role, [])
        held += [name for name in published if name in agreement.columns and name not in held]
    for table, grants, published in by_dataset.values():
        order = {name: index for index, name in enumerate(published)}
        plan.tables[table] = {role: (*sorted(columns, key=order.__getitem__), *LINEAGE_COLUMNS)
                              for role, columns in grants.items() if columns}
    tables_of = {key: table for key, (table, _, _) in by_dataset.items()}
    for view in catalogue.profiles.values() if derived is None else derived:
        grants = {}
        for role in plan.roles:
            readable = [column for column, (dataset_key, source) in view.sources.items()
                        if source in plan.columns(tables_of.get(dataset_key, ""), role)]
            if readable:
                grants[role] = (*readable, *LINEAGE_COLUMNS)
        plan.tables[view.table] = grants
    return plan


def apply_grants(engine: sa.Engine, catalogue: Catalogue, today: date | None = None, *, prefix: str = "",
                 derived: Iterable[DerivedTable] | None = None) -> GrantReport:
    """Create the roles if missing, revoke everything they hold, grant the plan: one transaction.

    ``derived`` defaults to the catalogue's cross-department profiles. On SQLite nothing is applied.
    """
    derived = list(catalogue.profiles.values()) if derived is None else list(derived)
    today = today or datetime.now(ZoneInfo(get_settings().timezone)).date()
    plan = plan_grants(catalogue, today, prefix=prefix, derived=derived)
    if not is_postgres(engine):
        log.info("warehouse %s has no roles: grants not applied", engine.dialect.name)
        return GrantReport(plan, applied=False)
    with write_transaction(engine) as connection:
        ddl_lock(connection, "grants")
        existing = shared_columns(connection)
        _ensure_roles(connection, plan)
        stale = _stale_members(connection, plan)
        kept = _held(connection, _left_out_tables(catalogue, derived), plan.roles)
        _revoke_everything(connection, [*plan.roles, *stale])
        for member in stale:
            _execute(connection, sql.SQL("REVOKE {} FROM {}").format(_id(plan.reader_all), _id(member)))
        for role in plan.department_roles.values():
            _execute(connection, sql.SQL("GRANT {} TO {}").format(_id(plan.reader_all), _id(role)))
        _execute(connection, sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
            _id(SHARED_SCHEMA), sql.SQL(", ").join(_id(role) for role in plan.department_roles.values())))
        granted: dict[str, dict[str, tuple[str, ...]]] = {}
        for table, grants in sorted(plan.tables.items()):
            have = existing.get(table)
            for role, columns in sorted(grants.items()):
                present = tuple(column for column in columns if have and column in have)
                if present:
                    _execute(connection, sql.SQL("GRANT SELECT ({}) ON TABLE {} TO {}").format(
                        sql.SQL(", ").join(_id(column) for column in present),
                        sql.Identifier(SHARED_SCHEMA, table), _id(role)))
                    granted.setdefault(table, {})[role] = present
        for (table, role), columns in sorted(kept.items()):  # as they were: their standard is being fixed
            _execute(connection, sql.SQL("GRANT SELECT ({}) ON TABLE {} TO {}").format(
                sql.SQL(", ").join(_id(column) for column in columns), sql.Identifier(SHARED_SCHEMA, table), _id(role)))
    skipped = tuple(sorted(table for table, grants in plan.tables.items() if grants and table not in existing))
    report = GrantReport(plan, applied=True, granted=granted, skipped_tables=skipped)
    log.info("applied %s grant(s) to %s role(s) on %s table(s)", report.grants, len(plan.roles), len(granted))
    return report


def shared_columns(connection: sa.Connection) -> dict[str, set[str]]:
    """The columns of every table and view in schema ``shared``, by table (PostgreSQL's catalog)."""
    rows = connection.execute(sa.text(
        "SELECT c.relname, a.attname FROM pg_catalog.pg_attribute a "
        "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped"),
        {"schema": SHARED_SCHEMA})
    existing: dict[str, set[str]] = {}
    for table, column in rows:
        existing.setdefault(table, set()).add(column)
    return existing


def _ensure_roles(connection: sa.Connection, plan: GrantPlan) -> None:
    """``CREATE ROLE ... NOLOGIN`` for missing roles; a concurrent creator (another database of the
    cluster: roles are cluster-wide, the advisory lock is not) is tolerated through a savepoint."""
    found = set(connection.execute(sa.text("SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY(:names)"),
                                   {"names": plan.roles}).scalars())
    for role in plan.roles:
        if role in found:
            continue
        try:
            with connection.begin_nested():
                _execute(connection, sql.SQL("CREATE ROLE {} NOLOGIN").format(_id(role)))
            log.info("created role %s", role)
        except sa.exc.ProgrammingError as error:
            if getattr(error.orig, "sqlstate", None) != "42710":  # duplicate_object
                raise


def _stale_members(connection: sa.Connection, plan: GrantPlan) -> list[str]:
    """Department roles from an earlier standard (members of reader_all no longer planned)."""
    members = connection.execute(sa.text(
        "SELECT m.rolname FROM pg_catalog.pg_auth_members am "
        "JOIN pg_catalog.pg_roles r ON r.oid = am.roleid JOIN pg_catalog.pg_roles m ON m.oid = am.member "
        "WHERE r.rolname = :reader ORDER BY 1"), {"reader": plan.reader_all}).scalars()
    planned = set(plan.department_roles.values())
    return [member for member in members if member not in planned]


def _left_out_tables(catalogue: Catalogue, derived: Iterable[DerivedTable]) -> set[str]:
    """Tables of datasets and profiles whose standards file has problems, or whose input's has
    (``load_usable_catalogue`` left them out), and the derived tables reading them: no plan can be made for
    them, so what their readers hold is kept."""
    keys = {file.removeprefix("datasets/").removesuffix(".yaml") for file in catalogue.broken
            if file.startswith("datasets/")}
    profiles = {TABLE_PREFIX + file.removeprefix("profiles/").removesuffix(".yaml") for file in catalogue.broken
                if file.startswith("profiles/")}
    return ({key.replace("/", "__") for key in keys} | profiles
            | {view.table for view in derived if any(key in keys for key, _ in view.sources.values())})


def _held(connection: sa.Connection, tables: set[str], roles: Iterable[str]) -> dict[tuple[str, str], list[str]]:
    """``(table, role) -> columns`` the roles may SELECT now on ``tables`` in schema ``shared``."""
    if not tables:
        return {}
    rows = connection.execute(sa.text(
        "SELECT table_name, grantee, column_name FROM information_schema.column_privileges "
        "WHERE table_schema = :schema AND privilege_type = 'SELECT' AND table_name = ANY(:tables) "
        "AND grantee = ANY(:roles) ORDER BY table_name, grantee, column_name"),
        {"schema": SHARED_SCHEMA, "tables": sorted(tables), "roles": sorted(roles)})
    held: dict[tuple[str, str], list[str]] = {}
    for table, role, column in rows:
        held.setdefault((table, role), []).append(column)
    return held


def _revoke_everything(connection: sa.Connection, roles: list[str]) -> None:
    """Table-level REVOKE ALL also removes column privileges; PUBLIC loses anything it was given too."""
    grantees = sql.SQL(", ").join([*(_id(role) for role in roles), sql.SQL("PUBLIC")])
    for schema in (SHARED_SCHEMA, GOVERNANCE_SCHEMA):
        _execute(connection, sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(_id(schema), grantees))
        _execute(connection, sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(_id(schema), grantees))


def _id(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def _execute(connection: sa.Connection, statement: sql.Composable) -> None:
    """Run a psycopg-composed statement inside the SQLAlchemy transaction (quoting done by psycopg)."""
    connection.exec_driver_sql(statement.as_string(connection.connection.driver_connection))
