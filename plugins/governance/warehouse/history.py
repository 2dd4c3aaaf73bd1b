"""What the console reads from the platform's records: run history, quality per rule, consumers, quarantine.

Read-only queries over ``governance.run_record``, ``governance.quarantine`` and the sharing service's
``governance.access_log`` (reflected by name, as oversight reads it: no table yet means nothing logged).
Every query takes the DAG ids or dataset the caller may read; filtering by permission is the caller's.

A quarantine entry's status is ``open`` or ``closed`` in the table (a later run published its key). The
console shows a third, derived from the entries themselves: ``resubmitted``, an open entry whose key came back
in a later run and failed again (the department resent it, still wrong; the newer entry is the one to fix).
An entry's history is every entry of the dataset with the same key token, with its run's business date, then
the run that closed it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from governance.warehouse.engine import GOVERNANCE_SCHEMA
from governance.warehouse.records import decode_run, quarantine, run_record

OPEN, RESUBMITTED, CLOSED = "open", "resubmitted", "closed"
STATUSES = (OPEN, RESUBMITTED, CLOSED)


@dataclass(frozen=True)
class RunFilter:
    department: str | None = None
    dataset_key: str | None = None
    since: date | None = None
    until: date | None = None
    verdict: str | None = None


def has_table(connection: sa.Connection, name: str) -> bool:
    return sa.inspect(connection).has_table(name, schema=GOVERNANCE_SCHEMA)


def run_history(engine: sa.Engine, dag_ids: Collection[str], where: RunFilter, *, limit: int,
                offset: int) -> tuple[list[dict[str, Any]], int]:
    """Runs of ``dag_ids`` matching ``where``, newest business date first, and how many match in all."""
    if not dag_ids:
        return [], 0
    conditions = [run_record.c.dag_id.in_(sorted(dag_ids))]
    if where.department:
        conditions.append(run_record.c.department == where.department)
    if where.dataset_key:
        conditions.append(run_record.c.dataset_key == where.dataset_key)
    if where.since:
        conditions.append(run_record.c.logical_date >= where.since)
    if where.until:
        conditions.append(run_record.c.logical_date <= where.until)
    if where.verdict:
        conditions.append(run_record.c.verdict == where.verdict)
    with engine.connect() as connection:
        if not has_table(connection, run_record.name):
            return [], 0
        total = connection.execute(sa.select(sa.func.count()).select_from(run_record).where(*conditions)).scalar_one()
        query = (sa.select(run_record).where(*conditions)
                 .order_by(run_record.c.logical_date.desc().nulls_last(), run_record.c.started_at.desc().nulls_last(),
                           run_record.c.run_id.desc())
                 .limit(limit).offset(offset))
        rows = [decode_run(dict(row._mapping)) for row in connection.execute(query)]
    return rows, int(total)


def recorded_dag_ids(engine: sa.Engine) -> list[str]:
    """Every DAG id with a run record (the caller keeps those its user may read)."""
    with engine.connect() as connection:
        if not has_table(connection, run_record.name):
            return []
        return sorted(connection.execute(sa.select(run_record.c.dag_id).distinct()).scalars())


def quality_series(engine: sa.Engine, dataset_key: str, since: date) -> list[dict[str, Any]]:
    """One run per business date since ``since`` (the latest attempt), oldest first: received and per rule."""
    with engine.connect() as connection:
        if not has_table(connection, run_record.name):
            return []
        query = (sa.select(run_record.c.logical_date, run_record.c.run_id, run_record.c.started_at,
                           run_record.c.verdict, run_record.c.rows_received, run_record.c.rows_quarantined,
                           run_record.c.quarantined_by_rule)
                 .where(run_record.c.dataset_key == dataset_key, run_record.c.logical_date >= since)
                 .order_by(run_record.c.logical_date, run_record.c.started_at.nulls_first(), run_record.c.run_id))
        by_day: dict[date, dict[str, Any]] = {}
        for row in connection.execute(query):
            by_day[row.logical_date] = decode_run(dict(row._mapping))  # later attempts replace earlier ones
    return list(by_day.values())


def consumers(engine: sa.Engine, dataset_key: str, since: datetime) -> list[dict[str, Any]]:
    """Who read the dataset through the sharing API since ``since`` (naive UTC): calls, rows, refusals, last call."""
    with engine.connect() as connection:
        if not has_table(connection, "access_log"):
            return []
        log = sa.Table("access_log", sa.MetaData(), schema=GOVERNANCE_SCHEMA, autoload_with=connection)
        allowed = sa.case((log.c.decision == "allowed", 1), else_=0)
        query = (sa.select(log.c.consumer, sa.func.count().label("calls"), sa.func.sum(allowed).label("allowed"),
                           sa.func.sum(sa.case((log.c.decision == "allowed", log.c.rows_returned), else_=0))
                           .label("rows"), sa.func.max(log.c.at).label("last_at"))
                 .where(log.c.dataset_key == dataset_key, log.c.at >= since)
                 .group_by(log.c.consumer).order_by(sa.func.count().desc(), log.c.consumer))
        return [{"consumer": row.consumer, "calls": int(row.calls), "allowed": int(row.allowed or 0),
                 "refused": int(row.calls) - int(row.allowed or 0), "rows": int(row.rows or 0),
                 "last_at": _moment(row.last_at)} for row in connection.execute(query)]


@dataclass(frozen=True)
class QuarantineFilter:
    rule: str | None = None
    status: str | None = None
    since: date | None = None
    until: date | None = None


def _later_entry(entry: Any) -> sa.ColumnElement[bool]:
    """Another entry of the same dataset and key from a later business date: the key was sent again and failed."""
    later = quarantine.alias("later")
    later_run = run_record.alias("later_run")
    return sa.exists().where(
        later.c.dataset_key == entry.c.dataset_key, later.c.key_token == entry.c.key_token,
        later.c.run_id != entry.c.run_id, later_run.c.run_id == later.c.run_id,
        later_run.c.dataset_key == later.c.dataset_key, later_run.c.logical_date > run_record.c.logical_date)


def _status(entry: Any) -> sa.ColumnElement[str]:
    return sa.case((entry.c.status == CLOSED, CLOSED),
                   (sa.and_(entry.c.key_token.is_not(None), _later_entry(entry)), RESUBMITTED), else_=OPEN)


def _entries(dataset_key: str, where: QuarantineFilter) -> sa.Select[Any]:
    status = _status(quarantine).label("review_status")
    query = (sa.select(quarantine.c.id, quarantine.c.run_id, quarantine.c.source_file, quarantine.c.source_line,
                       quarantine.c.rules, quarantine.c.masked_row, quarantine.c.key_token, quarantine.c.closed_by_run,
                       run_record.c.logical_date, status)
             .select_from(quarantine.outerjoin(run_record, sa.and_(run_record.c.run_id == quarantine.c.run_id,
                                                                     run_record.c.dataset_key ==
                                                                     quarantine.c.dataset_key)))
             .where(quarantine.c.dataset_key == dataset_key))
    if where.rule:
        rules = quarantine.c.rules
        query = query.where(sa.or_(rules == where.rule, rules.startswith(where.rule + "; ", autoescape=True),
                                   rules.endswith("; " + where.rule, autoescape=True),
                                   rules.contains("; " + where.rule + "; ", autoescape=True)))
    if where.since:
        query = query.where(run_record.c.logical_date >= where.since)
    if where.until:
        query = query.where(run_record.c.logical_date <= where.until)
    return query


def quarantine_counts(engine: sa.Engine, dataset_key: str, where: QuarantineFilter) -> dict[str, dict[str, int]]:
    """Entries per rule and status (an entry that broke two rules counts under both); counts only."""
    inner = _entries(dataset_key, QuarantineFilter(since=where.since, until=where.until)).subquery()
    query = sa.select(inner.c.rules, inner.c.review_status, sa.func.count()).group_by(inner.c.rules,
                                                                                       inner.c.review_status)
    counts: dict[str, dict[str, int]] = {}
    with engine.connect() as connection:
        if not has_table(connection, quarantine.name):
            return {}
        for rules, status, count in connection.execute(query):
            for rule in split_rules(rules):
                counts.setdefault(rule, dict.fromkeys(STATUSES, 0))[status] += count
    return dict(sorted(counts.items()))


def quarantine_totals(engine: sa.Engine, dataset_key: str, where: QuarantineFilter) -> dict[str, int]:
    """Entries per status matching ``where`` (each entry once, whatever number of rules it broke)."""
    inner = _entries(dataset_key, QuarantineFilter(rule=where.rule, since=where.since, until=where.until)).subquery()
    totals = dict.fromkeys(STATUSES, 0)
    with engine.connect() as connection:
        if not has_table(connection, quarantine.name):
            return totals
        query = sa.select(inner.c.review_status, sa.func.count()).group_by(inner.c.review_status)
        totals.update({status: int(count) for status, count in connection.execute(query)})
    return totals


def quarantine_entries(engine: sa.Engine, dataset_key: str, where: QuarantineFilter, *, limit: int | None,
                       offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The dataset's entries matching ``where``, newest business date first, and how many match in all.
    ``limit`` None: every match (a download)."""
    inner = _entries(dataset_key, where).subquery()
    query = sa.select(inner)
    if where.status:
        query = query.where(inner.c.review_status == where.status)
    with engine.connect() as connection:
        if not has_table(connection, quarantine.name):
            return [], 0
        total = connection.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
        page = (query.order_by(inner.c.logical_date.desc().nulls_last(), inner.c.source_file, inner.c.source_line,
                               inner.c.id).offset(offset))
        if limit is not None:
            page = page.limit(limit)
        rows = [dict(row._mapping) for row in connection.execute(page)]
    return rows, int(total)


def entry_histories(engine: sa.Engine, dataset_key: str, key_tokens: Collection[str]) -> dict[str, list[dict]]:
    """For each key token: its entries oldest first (business date, run, rules, status), then the closing run."""
    tokens = sorted({token for token in key_tokens if token})
    if not tokens:
        return {}
    closing = run_record.alias("closing")
    query = (sa.select(quarantine.c.key_token, quarantine.c.run_id, quarantine.c.rules, quarantine.c.status,
                       quarantine.c.closed_by_run, run_record.c.logical_date,
                       closing.c.logical_date.label("closed_on"))
             .select_from(quarantine
                          .outerjoin(run_record, sa.and_(run_record.c.run_id == quarantine.c.run_id,
                                                         run_record.c.dataset_key == quarantine.c.dataset_key))
                          .outerjoin(closing, sa.and_(closing.c.run_id == quarantine.c.closed_by_run,
                                                      closing.c.dataset_key == quarantine.c.dataset_key)))
             .where(quarantine.c.dataset_key == dataset_key, quarantine.c.key_token.in_(tokens))
             .order_by(run_record.c.logical_date.nulls_first(), quarantine.c.id))
    histories: dict[str, list[dict]] = {}
    closed: dict[str, dict] = {}
    with engine.connect() as connection:
        for row in connection.execute(query):
            events = histories.setdefault(row.key_token, [])
            events.append({"day": row.logical_date, "run_id": row.run_id, "event": "quarantined" if not events
                           else "resubmitted", "rules": split_rules(row.rules)})
            if row.closed_by_run:
                closed[row.key_token] = {"day": row.closed_on, "run_id": row.closed_by_run, "event": "closed",
                                         "rules": []}
    for token, event in closed.items():
        histories[token].append(event)
    return histories


def split_rules(rules: str | None) -> list[str]:
    """The rule ids of an entry (stored joined by ``; ``, or ``, `` by older writers)."""
    text = (rules or "").replace(", ", "; ")
    return [rule for rule in text.split("; ") if rule]


def _moment(value: Any) -> datetime | None:
    if isinstance(value, str):  # SQLite hands back text for an aggregate over a reflected column
        return datetime.fromisoformat(value)
    return value
