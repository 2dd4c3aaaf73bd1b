"""Build a cross-department profile inside the warehouse: one ``INSERT ... SELECT`` over published tables.

The join runs in the database (SQLAlchemy Core, the same statement on SQLite and PostgreSQL), so no
personal data passes through the worker. The profile table (``shared.profile__<name>``) is a snapshot:
emptied and refilled in one transaction, so readers see the old profile or the new one, never a mix.
Its columns take their types from the standards and their comments name the source dataset.

Pseudonyms are equal across departments by design, so joined identifiers stay pseudonymous here too;
who may read which profile column follows the source columns (see :mod:`governance.warehouse.grants`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from governance.errors import ConfigurationError
from governance.pipeline.workarea import WorkArea
from governance.settings import get_settings
from governance.standards.catalogue import Catalogue, load_usable_catalogue
from governance.standards.profiles import Profile
from governance.warehouse.engine import ddl_lock, is_postgres, warehouse_engine, write_transaction
from governance.warehouse.grants import apply_grants
from governance.warehouse.schema import (
    LOAD_DATE,
    LOADED_AT,
    RUN_ID,
    dataset_table,
    detect_drift,
    profile_table,
    qualified_name,
)

log = logging.getLogger(__name__)


class ProfileError(ConfigurationError):
    """The profile cannot be built (an input is not published, or the definition is wrong)."""


@dataclass(frozen=True)
class ProfileResult:
    table: str
    rows: int
    missing_inputs: tuple[str, ...] = ()  # joined datasets not published yet: their columns are NULL


def profile_query(catalogue: Catalogue, profile: Profile, present: set[str], *, load_date: date,
                  run_id: str, postgres: bool) -> sa.Select:
    """The joining SELECT; inputs not in ``present`` (not yet published) contribute NULL columns."""
    sources = _input_tables(catalogue, profile)
    base = sources[profile.base]
    joined: sa.FromClause = base
    for key in profile.joins:
        if key in present:
            joined = joined.outerjoin(sources[key], sources[key].c[profile.key] == base.c[profile.key])
    values = [(sources[column.dataset].c[column.source] if column.dataset in present
               else sa.null().cast(sources[column.dataset].c[column.source].type)).label(column.name)
              for column in profile.columns]
    now = datetime.now(UTC).replace(tzinfo=None)
    lineage = [_literal(load_date, base.c[LOAD_DATE].type, postgres).label(LOAD_DATE),
               _literal(run_id, base.c[RUN_ID].type, postgres).label(RUN_ID),
               _literal(now, base.c[LOADED_AT].type, postgres).label(LOADED_AT)]
    return sa.select(*values, *lineage).select_from(joined)


def build_profile(engine: sa.Engine, catalogue: Catalogue, profile: Profile, *, load_date: date,
                  run_id: str) -> ProfileResult:
    """Rebuild the profile table from the published inputs, in one transaction."""
    target = profile_table(catalogue, profile)
    name = qualified_name(target)
    sources = _input_tables(catalogue, profile)
    with write_transaction(engine) as connection:
        ddl_lock(connection, name)
        inspector = sa.inspect(connection)
        present = {key for key, table in sources.items() if inspector.has_table(table.name, schema=table.schema)}
        if profile.base not in present:
            raise ProfileError(f"cannot build {name}: {qualified_name(sources[profile.base])} is not published yet")
        if inspector.has_table(target.name, schema=target.schema):
            drift = detect_drift(connection, target)
            if drift.breaking or drift.addable:  # derived data: rebuild the table rather than migrate it
                log.warning("recreating %s: %s", name, drift.message())
                target.drop(connection)
                target.create(connection)
        else:
            target.create(connection)
        query = profile_query(catalogue, profile, present, load_date=load_date, run_id=run_id,
                              postgres=is_postgres(connection))
        connection.execute(sa.delete(target))
        connection.execute(sa.insert(target).from_select([column.name for column in target.columns], query))
        rows = connection.scalar(sa.select(sa.func.count()).select_from(target)) or 0
    missing = tuple(key for key in profile.joins if key not in present)
    log.info("built %s: %s rows%s", name, rows, f" (not yet published: {', '.join(missing)})" if missing else "")
    return ProfileResult(name, rows, missing)


def run_profile(name: str, run_id: str, load_date: date) -> dict[str, Any]:
    """The DAG task: build the profile on the configured warehouse, then re-apply the grants so the
    new table is readable by exactly the roles its sources allow. Returns a small summary."""
    settings = get_settings()
    catalogue = load_usable_catalogue(settings.standards_root)
    engine = warehouse_engine(settings.warehouse_url)
    profile = catalogue.profile(name)
    try:
        result = build_profile(engine, catalogue, profile, load_date=load_date, run_id=run_id)
        grants = apply_grants(engine, catalogue)
    finally:
        engine.dispose()
    summary = {"table": result.table, "rows": result.rows, "missing_inputs": list(result.missing_inputs),
               "grants": grants.grants if grants.applied else None}
    WorkArea.for_run(settings.work_root, profile.dag_id, run_id).write_step("build", summary)
    return summary


def _input_tables(catalogue: Catalogue, profile: Profile) -> dict[str, sa.Table]:
    metadata = sa.MetaData()
    return {key: dataset_table(catalogue, catalogue.dataset(key), metadata) for key in profile.inputs}


def _literal(value: Any, sql_type: sa.types.TypeEngine, postgres: bool) -> sa.ColumnElement:
    """A bound constant in a SELECT list: PostgreSQL needs its type spelled out, SQLite must not cast dates."""
    bound = sa.literal(value, sql_type)
    return sa.cast(bound, sql_type) if postgres else bound

