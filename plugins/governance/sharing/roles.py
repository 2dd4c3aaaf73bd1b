"""The sharing service's own PostgreSQL role: least privilege, so a compromised service cannot rewrite history.

Connected as the warehouse owner the service could ``ALTER TABLE governance.access_log DISABLE TRIGGER``
and then change or delete the audit rows of calls it answered. ``governance sharing-role sync`` (run as
the owner, like ``grants apply``) creates ``<prefix>governance_sharing_service`` (``NOLOGIN``) and gives
it exactly what the service does, nothing more; the service's login is made a member (``--member`` for a
login the DBA made, or ``--login NAME --password-env VAR``, which creates or re-passwords it, as the compose
deployment's airflow-init does) and named in ``GOVERNANCE_SHARING_DATABASE_URL``:

* ``SELECT`` on the ``shared`` columns some department may be served (the same plan as
  :mod:`governance.warehouse.grants`: unconditional columns and those of agreements active today) plus
  each table's primary key (rows are served in key order) and lineage columns (freshness);
* ``access_log``: ``INSERT`` only (no SELECT, UPDATE, DELETE, TRUNCATE; the table has no RETURNING);
* ``security_event``: ``INSERT``, and ``UPDATE (alerted)`` with ``SELECT (id)`` for the alert sender;
* the counters (``row_quota_usage``, ``scan_usage``, ``scan_requests``): ``SELECT, INSERT, UPDATE``;
* ``api_token``: ``SELECT`` of the columns the check reads; ``run_record``: ``SELECT`` of the freshness
  columns; ``USAGE`` of the two id sequences and of both schemas; no ``CREATE`` anywhere.

It owns nothing, so it can neither alter nor disable a trigger, nor grant itself more. Like the department
grants, the sync revokes everything the role holds and grants the plan again in one transaction; run it
after ``grants apply`` and whenever agreements change (the nightly grants run can call both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from psycopg import sql

from governance.settings import get_settings
from governance.sharing.tables import (
    access_log,
    api_token,
    ensure_sharing_tables,
    row_quota_usage,
    scan_requests,
    scan_usage,
    security_event,
)
from governance.standards.catalogue import Catalogue
from governance.warehouse.engine import GOVERNANCE_SCHEMA, SHARED_SCHEMA, ddl_lock, is_postgres, write_transaction
from governance.warehouse.grants import ROLE_PREFIX, plan_grants, shared_columns
from governance.warehouse.records import ensure_governance_tables, run_record
from governance.warehouse.schema import LINEAGE_COLUMNS, table_name

SERVICE_ROLE = "governance_sharing_service"
_TOKEN_COLUMNS = ("token_id", "department", "token_hash", "expires_at", "revoked_at")
_FRESHNESS_COLUMNS = ("dataset_key", "finished_at", "logical_date", "rows_published")


@dataclass(frozen=True)
class ServiceRoleReport:
    role: str
    applied: bool
    shared: dict[str, tuple[str, ...]] = field(default_factory=dict)  # table -> columns granted
    members: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        return [f"{SHARED_SCHEMA}.{table}: {self.role} SELECT ({', '.join(columns)})"
                for table, columns in sorted(self.shared.items())]


def service_role_name(prefix: str = "") -> str:
    """The role's name; ``prefix`` is checked as :func:`governance.warehouse.grants.role_names` does."""
    if not ROLE_PREFIX.match(prefix):
        raise ValueError(f"role prefix {prefix!r} must be lowercase letters, digits and _, starting with a letter")
    return f"{prefix}{SERVICE_ROLE}"


def service_columns(catalogue: Catalogue, today: date) -> dict[str, tuple[str, ...]]:
    """Per ``shared`` table: the columns any department may be served today, the key and the lineage."""
    plan = plan_grants(catalogue, today, derived=())
    columns: dict[str, tuple[str, ...]] = {}
    for dataset in catalogue.datasets.values():
        table = table_name(dataset)
        granted = [name for role in plan.roles for name in plan.columns(table, role)]
        if granted:
            wanted = [*dataset.primary_key, *granted, *LINEAGE_COLUMNS]
            columns[table] = tuple(dict.fromkeys(wanted))
    return columns


def sync_service_role(engine: sa.Engine, catalogue: Catalogue, today: date | None = None, *, prefix: str = "",
                      members: Iterable[str] = (), create: bool = True) -> ServiceRoleReport:
    """Create the role if missing, revoke what it holds, grant what the service needs (one transaction).

    ``create=False`` (the publish step, after every publish) only refreshes a role that exists, so a
    newly published table becomes readable by the service without the pipeline creating roles.
    """
    role, members = service_role_name(prefix), tuple(members)
    if not is_postgres(engine) or not (create or _exists(engine, role)):
        return ServiceRoleReport(role, applied=False)
    today = today or datetime.now(ZoneInfo(get_settings().timezone)).date()
    ensure_sharing_tables(engine)
    ensure_governance_tables(engine)
    wanted = service_columns(catalogue, today)
    granted: dict[str, tuple[str, ...]] = {}
    with write_transaction(engine) as connection:
        ddl_lock(connection, "grants")
        run = _runner(connection)
        if not _exists(connection, role):
            try:
                with connection.begin_nested():  # another database of the cluster may create it meanwhile
                    run(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
            except sa.exc.ProgrammingError as error:
                if getattr(error.orig, "sqlstate", None) != "42710":  # duplicate_object
                    raise
        for schema in (SHARED_SCHEMA, GOVERNANCE_SCHEMA):
            for kind in ("TABLES", "SEQUENCES"):
                run(sql.SQL(f"REVOKE ALL ON ALL {kind} IN SCHEMA {{}} FROM {{}}").format(
                    sql.Identifier(schema), sql.Identifier(role)))
            run(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(sql.Identifier(schema), sql.Identifier(role)))
            run(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), sql.Identifier(role)))
        existing = shared_columns(connection)
        for table, columns in sorted(wanted.items()):
            present = tuple(column for column in columns if column in existing.get(table, ()))
            if present:
                run(sql.SQL("GRANT SELECT ({}) ON TABLE {} TO {}").format(
                    sql.SQL(", ").join(map(sql.Identifier, present)), sql.Identifier(SHARED_SCHEMA, table),
                    sql.Identifier(role)))
                granted[table] = present
        for privileges, table in (
                ("INSERT", access_log), ("INSERT, SELECT (id), UPDATE (alerted)", security_event),
                (f"SELECT ({', '.join(_TOKEN_COLUMNS)})", api_token),
                (f"SELECT ({', '.join(_FRESHNESS_COLUMNS)})", run_record),
                *(("SELECT, INSERT, UPDATE", counter) for counter in (row_quota_usage, scan_usage, scan_requests))):
            run(sql.SQL(f"GRANT {privileges} ON TABLE {{}} TO {{}}").format(
                sql.Identifier(GOVERNANCE_SCHEMA, table.name), sql.Identifier(role)))
        # The service checks the schema is at head (ensure_sharing_tables) by reading Alembic's version table.
        run(sql.SQL("GRANT SELECT ON TABLE {} TO {}").format(sql.Identifier(GOVERNANCE_SCHEMA, "alembic_version"),
                                                             sql.Identifier(role)))
        for table in (access_log, security_event):
            sequence = connection.scalar(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"),
                                         {"t": f"{GOVERNANCE_SCHEMA}.{table.name}"})
            run(sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(sql.SQL(sequence), sql.Identifier(role)))
        for member in members:
            run(sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(member)))
    return ServiceRoleReport(role, applied=True, shared=granted, members=members)


def ensure_login(engine: sa.Engine, login: str, password: str) -> None:
    """Create the service's login role with ``password``, or set the password of the one that exists. It holds
    nothing of its own: what it may do comes from membership in the service role (``sync_service_role``).
    The password is composed as a literal by psycopg and never printed or logged here."""
    with write_transaction(engine) as connection:
        ddl_lock(connection, "grants")
        verb = "ALTER" if _exists(connection, login) else "CREATE"
        _runner(connection)(sql.SQL(f"{verb} ROLE {{}} LOGIN NOCREATEDB NOCREATEROLE PASSWORD {{}}").format(
            sql.Identifier(login), sql.Literal(password)))


def _exists(bind: sa.Engine | sa.Connection, role: str) -> bool:
    query = sa.text("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = :r")
    if isinstance(bind, sa.Engine):
        with bind.connect() as connection:
            return connection.scalar(query, {"r": role}) is not None
    return bind.scalar(query, {"r": role}) is not None


def _runner(connection: sa.Connection) -> Callable[[sql.Composable], None]:
    def run(statement: sql.Composable) -> None:
        connection.exec_driver_sql(statement.as_string(connection.connection.driver_connection))
    return run

