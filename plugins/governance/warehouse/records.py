"""The platform's own records in the ``governance`` schema: one row per run, and the quarantine.

``run_record`` is keyed by (dag_id, run_id), so a rerun replaces its record. ``quarantine`` holds
the rows a run set aside: where they came from, which rules they broke, the row with sensitive
values masked (JSON) and the raw row as ciphertext produced by the caller (never plain text).
A rerun replaces that run's quarantine entries. Timestamps are stored as naive UTC.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from governance.redaction.leak_guard import redact_json
from governance.standards.models import FLAGGED, PASSED
from governance.warehouse.engine import GOVERNANCE_SCHEMA, is_postgres, write_transaction
from governance.warehouse.migrate import ensure_schema

metadata = sa.MetaData(schema=GOVERNANCE_SCHEMA)

run_record = sa.Table(
    "run_record", metadata,
    sa.Column("dag_id", sa.String(250), primary_key=True),
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("dataset_key", sa.String(200)),
    sa.Column("department", sa.String(100)),
    sa.Column("logical_date", sa.Date()),
    sa.Column("started_at", sa.DateTime()),
    sa.Column("finished_at", sa.DateTime()),
    sa.Column("duration_s", sa.Float()),
    sa.Column("rows_received", sa.BigInteger()),
    sa.Column("rows_passed", sa.BigInteger()),
    sa.Column("rows_quarantined", sa.BigInteger()),
    sa.Column("rows_published", sa.BigInteger()),
    sa.Column("verdict", sa.String(32)),
    sa.Column("masked_columns", sa.Text(), comment="JSON list of the columns masked before publishing"),
    sa.Column("leak_findings", sa.Text(), comment="JSON list of the leak scan's findings"),
    sa.Column("quarantined_by_rule", sa.Text(), comment="JSON object: rows quarantined per rule"),
    sa.Column("published_table", sa.String(250)),
    sa.Column("message", sa.Text()),
    sa.Column("delivered_at", sa.DateTime(), comment="when the department's delivery completed (manifest written)"),
    # Which standard and suite the run was validated against (governance.standards.versions).
    sa.Column("standard_version", sa.String(64), comment="content hash of the standard, elements and code tables"),
    sa.Column("suite_version", sa.String(64), comment="content hash of the expectation suite"),
    sa.Column("standards_commit", sa.String(64), comment="git commit of the standards, where there is one"),
    sa.Column("standards_versions", sa.Text(), comment="JSON: every hash, the rules' business date, rules deferred"),
    sa.Index("ix_run_record_dataset", "dataset_key", "started_at"),
    comment="每次数据治理运行的记录",
)

quarantine = sa.Table(
    "quarantine", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("dataset_key", sa.String(200), nullable=False),
    sa.Column("source_file", sa.Text()),
    sa.Column("source_line", sa.BigInteger()),
    sa.Column("rules", sa.Text(), comment="the rules the row broke"),
    sa.Column("masked_row", sa.Text(), comment="JSON of the row with sensitive values masked"),
    sa.Column("raw_row_encrypted", sa.Text(), comment="ciphertext of the raw row (never plain text)"),
    sa.Column("status", sa.String(10), nullable=False, server_default="open"),
    sa.Column("closed_by_run", sa.String(250)),
    sa.Column("key_token", sa.String(64),
              comment="keyed pseudonym of the row's primary key: a later run publishing that key closes the entry"),
    sa.CheckConstraint("status IN ('open', 'closed')", name="ck_quarantine_status"),
    sa.Index("ix_quarantine_run", "run_id", "dataset_key"),
    sa.Index("ix_quarantine_open", "dataset_key", "status"),
    sa.Index("ix_quarantine_key", "dataset_key", "key_token"),
    comment="隔离区: 未通过校验的记录",
)

# Key management (governance.keys.registry, rotation, pseudonym_rotation). No key material, no values.
key_registry = sa.Table(
    "key_registry", metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False, comment="first 12 hex digits of the key's SHA-256"),
    sa.Column("first_seen_at", sa.DateTime(), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("status_changed_at", sa.DateTime()),
    sa.CheckConstraint("kind IN ('pseudonym', 'encryption')", name="ck_key_registry_kind"),
    sa.CheckConstraint("status IN ('next', 'active', 'retiring', 'retired')", name="ck_key_registry_status"),
    comment="密钥登记: 密钥标识、指纹与状态(不含密钥)",
)

decryption_audit = sa.Table(
    "decryption_audit", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("purpose", sa.String(200), nullable=False),
    sa.Column("table_name", sa.String(250)),
    sa.Column("column_name", sa.String(250)),
    sa.Column("element", sa.String(200)),
    sa.Column("rows", sa.BigInteger()),
    sa.Column("key_ids", sa.Text(), comment="JSON list of the key ids the values were under"),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text()),
    sa.Index("ix_decryption_audit_at", "at"),
    comment="解密审计: 谁、为何、解密了多少值(不含值)",
)

pseudonym_map = sa.Table(
    "pseudonym_map", metadata,
    sa.Column("element_key", sa.String(200), primary_key=True),
    sa.Column("current_token", sa.String(64), primary_key=True),
    sa.Column("next_token", sa.String(64), nullable=False),
    sa.Column("next_key_id", sa.String(64), nullable=False),
    sa.Index("ix_pseudonym_map_next", "element_key", "next_token"),
    comment="假名映射: 轮换期间当前假名与新假名的对应(只有假名, 不含原值)",
)

_JSON_COLUMNS = ("masked_columns", "leak_findings", "quarantined_by_rule", "standards_versions")
_QUARANTINE_FIELDS = ("source_file", "source_line", "rules", "masked_row", "raw_row_encrypted", "status",
                      "closed_by_run", "key_token")
_CLOSE_BATCH = 1000  # entry ids per UPDATE, well under every driver's bound-parameter limit


def ensure_governance_tables(engine: sa.Engine) -> None:
    """The ``governance`` schema at head (its Alembic migrations: :mod:`governance.warehouse.migrate`)."""
    ensure_schema(engine)


def write_run_record(engine: sa.Engine, record: Mapping[str, Any]) -> None:
    """Insert or replace the record of run (dag_id, run_id); missing fields are stored as NULL.

    ``masked_columns`` and ``leak_findings`` may be Python values (stored as JSON) or JSON text;
    ``logical_date`` may be a date or a datetime (its date is kept); aware timestamps become UTC.
    """
    unknown = set(record) - set(run_record.c.keys())
    if unknown:
        raise ValueError(f"unknown run record field(s): {', '.join(sorted(unknown))}")
    if not record.get("dag_id") or not record.get("run_id"):
        raise ValueError("a run record needs dag_id and run_id")
    row: dict[str, Any] = dict.fromkeys(run_record.c.keys()) | dict(record)
    row |= {name: redact_json(row[name]) for name in ("message", *_JSON_COLUMNS)}
    for name in _JSON_COLUMNS:
        row[name] = _json(row[name])
    if isinstance(row["logical_date"], datetime):
        row["logical_date"] = row["logical_date"].date()
    row["started_at"], row["finished_at"] = _utc(row["started_at"]), _utc(row["finished_at"])
    row["delivered_at"] = _utc(row["delivered_at"])
    if row["duration_s"] is None and row["started_at"] and row["finished_at"]:
        row["duration_s"] = (row["finished_at"] - row["started_at"]).total_seconds()
    ensure_governance_tables(engine)
    with write_transaction(engine) as connection:
        connection.execute(_upsert(connection, run_record, row))


def write_quarantine(engine: sa.Engine, run_id: str, dataset_key: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """Replace run ``run_id``'s quarantine entries for ``dataset_key`` with ``rows``; returns how many.

    Each row has ``source_file``, ``source_line``, ``rules`` (text or a list of rule names),
    ``masked_row`` (a dict, stored as JSON) and ``raw_row_encrypted`` (ciphertext, str or bytes).
    """
    entries = [_quarantine_entry(run_id, dataset_key, row) for row in rows]
    ensure_governance_tables(engine)
    with write_transaction(engine) as connection:
        connection.execute(sa.delete(quarantine).where(quarantine.c.run_id == run_id,
                                                       quarantine.c.dataset_key == dataset_key))
        if entries:
            connection.execute(sa.insert(quarantine), entries)
    return len(entries)


def has_open_quarantine(engine: sa.Engine, dataset_key: str, *, excluding_run: str) -> bool:
    """Whether earlier runs left open quarantine entries for the dataset (cheap: one indexed query)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(quarantine.name, schema=GOVERNANCE_SCHEMA):
            return False
        query = sa.select(quarantine.c.id).where(
            quarantine.c.dataset_key == dataset_key, quarantine.c.status == "open",
            quarantine.c.key_token.is_not(None), quarantine.c.run_id != excluding_run).limit(1)
        return connection.execute(query).first() is not None


def close_resolved_quarantine(engine: sa.Engine, dataset_key: str, key_tokens: Iterable[str], run_id: str) -> int:
    """Close the dataset's open quarantine entries whose key token is among ``key_tokens`` (the keys run
    ``run_id`` published): the department fixed and resent those rows. The run's own entries stay open.
    Open entries are few, published keys many, so the open ones are read and matched here; returns how many
    entries were closed (``status='closed'``, ``closed_by_run=run_id``)."""
    published = {token for token in key_tokens if token}
    if not published:
        return 0
    ensure_governance_tables(engine)
    with write_transaction(engine) as connection:
        entries = connection.execute(sa.select(quarantine.c.id, quarantine.c.key_token).where(
            quarantine.c.dataset_key == dataset_key, quarantine.c.status == "open",
            quarantine.c.key_token.is_not(None), quarantine.c.run_id != run_id))
        resolved = [entry.id for entry in entries if entry.key_token in published]
        for start in range(0, len(resolved), _CLOSE_BATCH):
            connection.execute(sa.update(quarantine)
                               .where(quarantine.c.id.in_(resolved[start:start + _CLOSE_BATCH]))
                               .values(status="closed", closed_by_run=run_id))
    return len(resolved)


PUBLISHING_VERDICTS = (PASSED, FLAGGED)  # the verdicts that publish (``Verdict.publishes``)


def published_condition(table: sa.Table) -> sa.ColumnElement[bool]:
    """A run that published: a publishing verdict and rows written (a rerun on a day with no data does not)."""
    return sa.and_(table.c.verdict.in_(PUBLISHING_VERDICTS), table.c.rows_published > 0)


def latest_runs(engine: sa.Engine) -> list[dict[str, Any]]:
    """The latest attempt of each dataset (by start time), JSON fields decoded, by dataset; each with
    ``last_published``: the latest run that published, None when that is the latest attempt itself or when none
    did. A failed rerun for a day with no data so never hides the report and Data Docs of the run that published."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(run_record.name, schema=GOVERNANCE_SCHEMA):
            return []
        latest = _ranked(connection, None)
        published = {row["dataset_key"]: row for row in _ranked(connection, published_condition(run_record))}
    for row in latest:
        good = published.get(row["dataset_key"])
        row["last_published"] = good if good is not None and good["run_id"] != row["run_id"] else None
    return latest


def _ranked(connection: sa.Connection, condition: sa.ColumnElement[bool] | None) -> list[dict[str, Any]]:
    """The newest run of each dataset among those meeting ``condition``, JSON fields decoded."""
    rank = sa.func.row_number().over(
        partition_by=run_record.c.dataset_key,
        order_by=[run_record.c.started_at.desc().nulls_last(), run_record.c.run_id.desc()],
    ).label("rank")
    inner = sa.select(run_record, rank)
    if condition is not None:
        inner = inner.where(condition)
    ranked = inner.subquery()
    query = (sa.select(*[ranked.c[column.name] for column in run_record.columns])
             .where(ranked.c.rank == 1).order_by(ranked.c.dataset_key))
    return [decode_run(dict(row._mapping)) for row in connection.execute(query)]


def decode_run(row: dict[str, Any]) -> dict[str, Any]:
    """A run record row with its JSON fields decoded."""
    for name in _JSON_COLUMNS:
        if name in row:
            row[name] = json.loads(row[name]) if row[name] else None
    return row


def _quarantine_entry(run_id: str, dataset_key: str, row: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(row) - set(_QUARANTINE_FIELDS)
    if unknown:
        raise ValueError(f"unknown quarantine field(s): {', '.join(sorted(unknown))}")
    raw = row.get("raw_row_encrypted")
    if isinstance(raw, bytes):
        raw = raw.decode("ascii")
    elif raw is not None and not isinstance(raw, str):
        raise TypeError("raw_row_encrypted must be ciphertext (str or bytes) produced by the caller, not a row")
    rules = row.get("rules")
    if rules is not None and not isinstance(rules, str):
        rules = ", ".join(str(rule) for rule in rules)
    masked = row.get("masked_row")
    return {
        "run_id": run_id,
        "dataset_key": dataset_key,
        "source_file": row.get("source_file"),
        "source_line": row.get("source_line"),
        "rules": rules,
        "masked_row": masked if masked is None or isinstance(masked, str) else _json(masked),
        "raw_row_encrypted": raw,
        "status": row.get("status") or "open",
        "closed_by_run": row.get("closed_by_run"),
        "key_token": row.get("key_token"),
    }


def _upsert(connection: sa.Connection, table: sa.Table, row: dict[str, Any]) -> sa.Executable:
    statement = (postgresql.insert if is_postgres(connection) else sqlite.insert)(table).values(row)
    key = [column.name for column in table.primary_key.columns]
    return statement.on_conflict_do_update(
        index_elements=key, set_={name: statement.excluded[name] for name in row if name not in key})


def _json(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        json.loads(value)  # already JSON text: it must parse (raises ValueError otherwise)
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _utc(value: datetime | date | None) -> datetime | date | None:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def previous_rows_received(engine: sa.Engine, dataset_key: str, run_id: str) -> int | None:
    """Rows received by the dataset's latest other run that published, to spot a collapsing volume."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(run_record.name, schema=GOVERNANCE_SCHEMA):
            return None
        query = (sa.select(run_record.c.rows_received)
                 .where(run_record.c.dataset_key == dataset_key, run_record.c.run_id != run_id,
                        run_record.c.rows_published > 0)
                 .order_by(run_record.c.logical_date.desc(), run_record.c.finished_at.desc()).limit(1))
        return connection.execute(query).scalar()
