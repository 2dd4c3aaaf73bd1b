"""Published tables derived from the standards, and the drift check that guards them.

A dataset ``department/name`` is published as ``shared.department__name``: one column per
published column (typed from ``published_type``; masked values are text), the dataset's primary
key, the elements' Chinese names as column comments and the dataset title as the table comment,
plus three lineage columns (``_load_date``, ``_run_id``, ``_loaded_at``).

Before a load the existing table is compared with the standard. A nullable column the standard
added is a compatible change and is added in place (``ALTER TABLE ... ADD COLUMN``); anything
else (a column removed or renamed, a changed type, a new required column, a different key) stops
the load with a :class:`SchemaDriftError` that names the table and the columns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from governance.errors import ConfigurationError
from governance.redaction.untrusted import describe_columns
from governance.standards.catalogue import Catalogue, ResolvedColumn
from governance.standards.models import Dataset
from governance.standards.profiles import Profile
from governance.warehouse.engine import SHARED_SCHEMA, ddl_lock, is_postgres, write_connection

log = logging.getLogger(__name__)

LOAD_DATE, RUN_ID, LOADED_AT = "_load_date", "_run_id", "_loaded_at"
LINEAGE_COLUMNS = (LOAD_DATE, RUN_ID, LOADED_AT)
DEFAULT_NUMERIC = (18, 2)
MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names silently


class SchemaDriftError(ConfigurationError):
    """The warehouse table (or an incoming frame) no longer matches the standard."""


class ExactNumeric(sa.Numeric):
    """``NUMERIC(p, s)`` that stays exact on SQLite too: bound as text (SQLite keeps the digits),
    read back as ``Decimal``; SQLAlchemy's default would round-trip through ``float``."""

    cache_ok = True

    def bind_processor(self, dialect: sa.Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return lambda value: None if value is None else format(Decimal(value), "f")

    def result_processor(self, dialect: sa.Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        quantum = Decimal(1).scaleb(-self.scale) if self.scale is not None else None

        def process(value: Any) -> Decimal | None:
            if value is None:
                return None
            number = Decimal(str(value))
            return number.quantize(quantum) if quantum is not None else number

        return process


def table_name(dataset: Dataset) -> str:
    return f"{dataset.department}__{dataset.name}"


def qualified_name(table: sa.Table) -> str:
    return f"{table.schema}.{table.name}" if table.schema else table.name


def published_columns(catalogue: Catalogue, dataset: Dataset) -> list[ResolvedColumn]:
    return [column for column in catalogue.columns(dataset) if column.published]


def column_type(column: ResolvedColumn) -> sa.types.TypeEngine:
    """The SQL type of a published column (masked columns are text, whatever the element's type)."""
    element = column.element
    kind = column.published_type
    if kind == "string":
        masked = column.masking.rule != "none"
        return sa.Text() if masked or element.max_length is None else sa.String(element.max_length)
    if kind == "integer":
        return sa.BigInteger()
    if kind == "decimal":
        precision, scale = element.precision or DEFAULT_NUMERIC
        return ExactNumeric(precision, scale)
    if kind == "date":
        return sa.Date()
    if kind == "datetime":
        return sa.DateTime()
    raise ValueError(f"column {column.name}: unknown published type {kind!r}")


def lineage_columns() -> list[sa.Column]:
    return [
        sa.Column(LOAD_DATE, sa.Date(), nullable=False, comment="装载日期(运行的逻辑日期)"),
        sa.Column(RUN_ID, sa.String(250), nullable=False, comment="装载运行标识"),
        sa.Column(LOADED_AT, sa.DateTime(), nullable=False, comment="装载时间(UTC)"),
    ]


def dataset_table(catalogue: Catalogue, dataset: Dataset, metadata: sa.MetaData | None = None) -> sa.Table:
    """The SQLAlchemy Core table that publishes ``dataset`` (schema ``shared``)."""
    name = table_name(dataset)
    if len(name) > MAX_IDENTIFIER:
        raise ValueError(f"table name {name} is longer than {MAX_IDENTIFIER} characters")
    columns = [
        sa.Column(
            column.name,
            column_type(column),
            primary_key=column.primary_key,
            nullable=not (column.required or column.primary_key),
            comment=column.element.name_zh,
        )
        for column in published_columns(catalogue, dataset)
    ]
    return sa.Table(name, metadata or sa.MetaData(), *columns, *lineage_columns(),
                    schema=SHARED_SCHEMA, comment=dataset.title_zh)


def profile_table(catalogue: Catalogue, profile: Profile, metadata: sa.MetaData | None = None) -> sa.Table:
    """``shared.profile__<name>``: the profile's columns typed as their sources, plus lineage. The catalogue
    checked the profile (inputs, keys, published source columns) when it loaded it."""
    metadata = metadata or sa.MetaData()
    sources = {key: dataset_table(catalogue, catalogue.dataset(key), metadata) for key in profile.inputs}
    columns = []
    for column in profile.columns:
        origin = sources[column.dataset].c[column.source]
        is_key = column.name == profile.key and column.dataset == profile.base
        comment = f"{origin.comment}(来源: {catalogue.dataset(column.dataset).title_zh})"
        columns.append(sa.Column(column.name, origin.type, primary_key=is_key, nullable=not is_key, comment=comment))
    return sa.Table(profile.table, metadata, *columns, *lineage_columns(), schema=SHARED_SCHEMA,
                    comment=profile.title_zh)


@dataclass(frozen=True)
class Drift:
    """How an existing table differs from the table the standard describes."""

    table: str
    addable: tuple[str, ...] = ()  # nullable columns the standard added: a compatible migration
    missing: tuple[str, ...] = ()  # required columns the standard added: cannot be added in place
    extra: tuple[str, ...] = ()  # in the table, no longer in the standard (removed or renamed)
    changed: tuple[str, ...] = ()  # "column: TABLE TYPE -> STANDARD TYPE"
    key: str | None = None  # "primary key (a) differs from the standard's (b)"

    @property
    def breaking(self) -> bool:
        return bool(self.missing or self.extra or self.changed or self.key)

    def message(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"missing column(s) {', '.join(self.missing)} (required by the standard, cannot be added)")
        if self.extra:
            parts.append(f"extra column(s) {', '.join(self.extra)} (not in the standard: removed or renamed)")
        if self.changed:
            parts.append(f"changed type(s) {'; '.join(self.changed)}")
        if self.key:
            parts.append(self.key)
        if self.addable:
            parts.append(f"new column(s) {', '.join(self.addable)} (compatible on their own, not added)")
        return f"table {self.table} has drifted from its standard: {'; '.join(parts)}"


@dataclass(frozen=True)
class TableSync:
    """What :func:`ensure_table` did: created the table, added columns, or nothing."""

    table: sa.Table
    created: bool = False
    added_columns: tuple[str, ...] = field(default_factory=tuple)


def ensure_table(engine: sa.Engine, catalogue: Catalogue, dataset: Dataset) -> TableSync:
    """Create the dataset's table if missing, or check it and apply compatible migrations."""
    table = dataset_table(catalogue, dataset)
    with engine.connect() as connection, write_connection(connection).begin():
        ddl_lock(connection, qualified_name(table))
        inspector = sa.inspect(connection)
        if not inspector.has_table(table.name, schema=table.schema):
            table.create(connection)
            log.info("created %s", qualified_name(table))
            return TableSync(table, created=True)
        drift = detect_drift(connection, table)
        if drift.breaking:
            raise SchemaDriftError(drift.message())
        for name in drift.addable:
            add_column(connection, table.c[name])
        if drift.addable:
            log.warning("migrated %s: added nullable column(s) %s", qualified_name(table), ", ".join(drift.addable))
    return TableSync(table, added_columns=drift.addable)


def detect_drift(connection: sa.Connection, table: sa.Table) -> Drift:
    """Compare the table in the database (reflected) with ``table`` as the standard defines it."""
    inspector = sa.inspect(connection)
    existing = {column["name"]: column for column in inspector.get_columns(table.name, schema=table.schema)}
    dialect = connection.dialect
    addable, missing, changed = [], [], []
    for column in table.columns:
        found = existing.get(column.name)
        if found is None:
            (addable if column.nullable else missing).append(column.name)
            continue
        have, want = _signature(found["type"]), _signature(column.type)
        if have != want:
            changed.append(f"{column.name}: {_render(found['type'], dialect)} -> {_render(column.type, dialect)}")
        elif not found["nullable"] and column.nullable:
            changed.append(f"{column.name}: NOT NULL -> nullable")
    extra = [name for name in existing if name not in table.columns]
    have_key = list(inspector.get_pk_constraint(table.name, schema=table.schema).get("constrained_columns") or [])
    want_key = [column.name for column in table.primary_key.columns]
    key = None
    if sorted(have_key) != sorted(want_key):
        key = f"primary key ({', '.join(have_key)}) differs from the standard's ({', '.join(want_key)})"
    return Drift(qualified_name(table), tuple(addable), tuple(missing), tuple(extra), tuple(changed), key)


def add_column(connection: sa.Connection, column: sa.Column) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for a nullable column, rendered (and quoted) by the dialect."""
    dialect = connection.dialect
    table = dialect.identifier_preparer.format_table(column.table)
    spec = dialect.ddl_compiler(dialect, None).get_column_specification(column)
    connection.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {spec}")
    if column.comment and is_postgres(connection):
        connection.execute(sa.schema.SetColumnComment(column))


def check_frame_columns(frame_columns: Iterable[str], dataset_columns: Iterable[ResolvedColumn | str],
                        dataset_key: str | None = None, *, what: str = "source") -> None:
    """Raise :class:`SchemaDriftError` if a frame lacks expected columns or brings unknown ones.

    Columns whose names start with ``_`` are the pipeline's own (line numbers, lineage) and are ignored.
    """
    have = [name for name in frame_columns if not name.startswith("_")]
    want = [column if isinstance(column, str) else column.name for column in dataset_columns]
    missing = [name for name in want if name not in have]
    unexpected = [name for name in have if name not in want]
    if not (missing or unexpected):
        return
    problems = []
    if missing:
        problems.append(f"is missing column(s) {', '.join(missing)}")
    if unexpected:
        problems.append(f"has unexpected column(s) {', '.join(describe_columns(unexpected, have))}")
    subject = f"{what} for {dataset_key}" if dataset_key else what
    raise SchemaDriftError(f"{subject} {'; '.join(problems)}")


def _signature(kind: sa.types.TypeEngine) -> tuple[object, ...]:
    """A backend-neutral description of a column type (reflected or declared) for comparison."""
    if isinstance(kind, sa.Integer):
        return ("integer",)
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        return ("numeric", kind.precision, kind.scale)
    if isinstance(kind, sa.DateTime):
        return ("datetime",)
    if isinstance(kind, sa.Date):
        return ("date",)
    if isinstance(kind, sa.String):
        length = None if isinstance(kind, sa.Text) else kind.length
        return ("text",) if length is None else ("varchar", length)
    return ("other", type(kind).__name__)


def _render(kind: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
    try:
        return kind.compile(dialect=dialect)
    except sa.exc.CompileError:
        return repr(kind)
