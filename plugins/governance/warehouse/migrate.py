"""The ``governance`` schema under Alembic: upgrade to head, read the current revision, write a new one.

Revisions live in ``governance/warehouse/migrations/versions`` and the version table in the
``governance`` schema itself (``governance.alembic_version``), on PostgreSQL and on SQLite (where the
schema is an attached file, see :mod:`governance.warehouse.engine`). ``governance db upgrade``, ``make demo``
and the compose ``airflow-init`` service apply them; every writer also calls :func:`ensure_schema`, which
costs one indexed read once per engine when the schema is current, and otherwise upgrades inside a write
transaction holding the schema's DDL lock, so concurrent callers upgrade once and the others see head.
"""

from __future__ import annotations

import weakref
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from governance.errors import ConfigurationError
from governance.warehouse.engine import GOVERNANCE_SCHEMA, SCHEMAS, ddl_lock, is_postgres, write_transaction

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"  # Alembic's default name, in the governance schema
_CURRENT: weakref.WeakSet[sa.Engine] = weakref.WeakSet()  # engines whose schema was seen at head


def alembic_config(connection: sa.Connection | None = None, target_metadata: sa.MetaData | None = None) -> Config:
    """Alembic's configuration for the governance schema, run on ``connection`` (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes.update(connection=connection, target_metadata=target_metadata)
    return config


class SchemaAheadError(ConfigurationError):
    """The warehouse was migrated by a newer release than this code (deploy the new release here; no retry helps)."""


@cache
def revisions() -> tuple[str, ...]:
    """This release's revisions, newest first (read once per process)."""
    return tuple(script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def head() -> str:
    """The newest revision in this release."""
    return revisions()[0]


def current(bind: sa.Engine | sa.Connection) -> str | None:
    """The revision the database is at; ``None`` before the first upgrade."""
    if isinstance(bind, sa.Engine):
        with bind.connect() as connection:
            return current(connection)
    if not sa.inspect(bind).has_table(VERSION_TABLE, schema=GOVERNANCE_SCHEMA):
        return None
    return bind.scalar(sa.text(f"SELECT version_num FROM {GOVERNANCE_SCHEMA}.{VERSION_TABLE}"))


def upgrade(engine: sa.Engine, revision: str = "head") -> str | None:
    """Apply every revision up to ``revision`` in one transaction under the schema lock; returns the new one."""
    with write_transaction(engine) as connection:
        ddl_lock(connection, "governance-schema")
        if is_postgres(connection):
            for schema in SCHEMAS:
                connection.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
        command.upgrade(alembic_config(connection), revision)
        reached = current(connection)
    if reached == head():
        _CURRENT.add(engine)
    return reached


def ensure_schema(engine: sa.Engine) -> None:
    """Bring the schema to head if it is behind (cheap once current: no DDL, no lock, one read per engine).

    A login that may not run DDL (the sharing service's) only needs to read the version table.
    """
    if engine in _CURRENT:
        return
    found = current(engine)
    if found == head():
        _CURRENT.add(engine)
        return
    if found is not None and found not in revisions():
        raise SchemaAheadError(f"数据仓库 governance 模式的版本 {found} 比本程序的 {head()} 新, 请部署新版本 / the "
                               f"warehouse's governance schema is at revision {found}, newer than this release's "
                               f"head {head()}: deploy the new release on this machine")
    upgrade(engine)


def new_revision(engine: sa.Engine, message: str, target_metadata: sa.MetaData) -> str:
    """Write the next revision file: the differences between ``engine``'s schema (at head) and the tables in
    ``target_metadata``, as Alembic's autogenerate sees them; review and edit it before committing."""
    with engine.connect() as connection:
        script = command.revision(alembic_config(connection, target_metadata), message, autogenerate=True,
                                  rev_id=f"{int(head()) + 1:04d}")
    assert script is not None and not isinstance(script, list)
    return script.path
