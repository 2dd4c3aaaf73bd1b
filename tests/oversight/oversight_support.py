"""Builders for oversight tests: run records, published tables with freshness values, access log rows.

The access log belongs to the sharing API. When its package is installed the tests create its real
tables; otherwise they create tables with exactly the columns the sharing API promised, so the
oversight code is tested against the contract either way.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from governance.standards.catalogue import Catalogue
from governance.warehouse import ensure_table, write_run_record, write_transaction
from governance.warehouse.engine import GOVERNANCE_SCHEMA

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI)  # a Friday
RESIDENT = "public_security/resident_population"  # daily, conditional
ENTERPRISE = "market_regulation/enterprise_registration"  # daily
MEDICAL = "health/medical_institution"  # weekly, unconditional
TAX = "taxation/taxpayer_credit_rating"  # monthly
ALLOWANCE = "civil_affairs/subsistence_allowance"  # monthly
INSURANCE = "human_resources/social_insurance_enrollment"  # weekly
# What the api-server fixture's warehouse shows on the board; the other datasets are never loaded.
EXPECTED_STATUS = {RESIDENT: "fresh", ENTERPRISE: "stale", MEDICAL: "warn", TAX: "skewed"}


def naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def record_run(engine: sa.Engine, key: str, day: date, *, verdict: str = "passed", received: int | None = 100,
               quarantined: int = 0, published: int | None = None, finished: datetime | None = None,
               attempt: int = 0, message: str | None = None, run_id: str | None = None) -> None:
    """A run record for dataset ``key`` and business date ``day`` (finished at 03:00 local the next day).

    A failed run gets the message of a failed standard's verdict unless ``message`` says otherwise."""
    department, name = key.split("/")
    finished = finished or datetime(day.year, day.month, day.day, 3, tzinfo=SHANGHAI) + timedelta(days=1)
    if published is None:
        published = 0 if verdict == "failed" else (received or 0) - quarantined
    if verdict == "failed" and message is None:
        message = verdict_failure(key, received or 0, quarantined)
    write_run_record(engine, {
        "dag_id": f"{department}__{name}", "run_id": run_id or f"scheduled__{day.isoformat()}__{attempt}",
        "dataset_key": key, "department": department, "logical_date": day,
        "started_at": finished - timedelta(minutes=5), "finished_at": finished, "rows_received": received,
        "rows_passed": None if received is None else received - quarantined, "rows_quarantined": quarantined,
        "rows_published": published, "verdict": verdict, "message": message})


def verdict_failure(key: str, received: int, quarantined: int) -> str:
    """The message the record step stores for a run its standard's verdict failed (steps.enforce)."""
    return (f"AirflowFailException: {key} failed its standard's verdict, nothing is published: {quarantined} of "
            f"{received} rows quarantined ({quarantined / max(received, 1):.1%}), above the standard's limit of 5%")


def publish_rows(engine: sa.Engine, catalogue: Catalogue, key: str,
                 freshness: Sequence[datetime | date | None]) -> sa.Table:
    """Create the dataset's real published table and insert one row per freshness value (naive local time)."""
    dataset = catalogue.dataset(key)
    table = ensure_table(engine, catalogue, dataset).table
    rows = []
    for index, moment in enumerate(freshness):
        row = {column.name: _filler(column, index) for column in table.columns}
        value = moment.astimezone(SHANGHAI).replace(tzinfo=None) if isinstance(moment, datetime) else moment
        row[dataset.freshness_column] = value
        rows.append(row)
    if rows:
        with write_transaction(engine) as connection:
            connection.execute(sa.insert(table), rows)
    return table


def _filler(column: sa.Column, index: int) -> object:
    if column.nullable and not column.primary_key:
        return None
    kind = column.type
    if isinstance(kind, sa.DateTime):
        return datetime(2026, 1, 1) + timedelta(minutes=index)
    if isinstance(kind, sa.Date):
        return date(2026, 1, 1) + timedelta(days=index)
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Integer | sa.Float):
        return Decimal(index)
    if isinstance(kind, sa.Integer):
        return index
    length = getattr(kind, "length", None)
    return f"{index:06d}"[-length:] if length else f"v{index:06d}"


# --------------------------------------------------------------------- the sharing API's tables

ACCESS_LOG_COLUMNS = ("id", "at", "consumer", "token_id", "method", "endpoint", "dataset_key", "columns",
                      "filter_shape", "rows_returned", "decision", "reason", "status_code", "latency_ms")
SECURITY_EVENT_COLUMNS = ("id", "at", "consumer", "dataset_key", "kind", "detail", "alerted")


def ensure_access_tables(engine: sa.Engine) -> str:
    """The sharing API's tables (its own DDL when the package is there); returns which were used."""
    try:
        from governance.sharing.tables import ensure_sharing_tables
    except ImportError:
        contract = sa.MetaData(schema=GOVERNANCE_SCHEMA)
        identity = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
        sa.Table("access_log", contract, sa.Column("id", identity, primary_key=True, autoincrement=True),
                 sa.Column("at", sa.DateTime(), nullable=False), sa.Column("consumer", sa.String(100)),
                 sa.Column("token_id", sa.String(32)), sa.Column("method", sa.String(10)),
                 sa.Column("endpoint", sa.String(200)), sa.Column("dataset_key", sa.String(200)),
                 sa.Column("columns", sa.Text()), sa.Column("filter_shape", sa.Text()),
                 sa.Column("rows_returned", sa.Integer()), sa.Column("decision", sa.String(10)),
                 sa.Column("reason", sa.String(200)), sa.Column("status_code", sa.SmallInteger()),
                 sa.Column("latency_ms", sa.Float()))
        sa.Table("security_event", contract, sa.Column("id", identity, primary_key=True, autoincrement=True),
                 sa.Column("at", sa.DateTime(), nullable=False), sa.Column("consumer", sa.String(100)),
                 sa.Column("dataset_key", sa.String(200)), sa.Column("kind", sa.String(20)),
                 sa.Column("detail", sa.Text()), sa.Column("alerted", sa.Boolean()))
        with write_transaction(engine) as connection:
            contract.create_all(connection)
        return "contract"
    ensure_sharing_tables(engine)
    return "sharing"


def log_calls(engine: sa.Engine, calls: Sequence[tuple[datetime, str, str | None, str, int]]) -> None:
    """Append (at, consumer, dataset_key, decision, rows_returned) rows to the access log."""
    with engine.connect() as connection:
        log = sa.Table("access_log", sa.MetaData(), schema=GOVERNANCE_SCHEMA, autoload_with=connection)
    rows = []
    for at, consumer, dataset_key, decision, rows_returned in calls:
        row = {"at": naive_utc(at), "consumer": consumer, "token_id": "t1", "method": "GET",
               "endpoint": "/datasets/{department}/{dataset}/rows", "dataset_key": dataset_key,
               "columns": json.dumps(["name"]), "filter_shape": json.dumps([]), "rows_returned": rows_returned,
               "decision": decision, "reason": None if decision == "allowed" else "test",
               "status_code": {"allowed": 200, "denied": 403, "blocked": 429}[decision], "latency_ms": 3.0}
        if "request_id" in log.c:
            row["request_id"] = uuid.uuid4().hex
        rows.append(row)
    with write_transaction(engine) as connection:
        connection.execute(sa.insert(log), rows)


def log_security_event(engine: sa.Engine, at: datetime, consumer: str, dataset_key: str, kind: str) -> None:
    with engine.connect() as connection:
        events = sa.Table("security_event", sa.MetaData(), schema=GOVERNANCE_SCHEMA, autoload_with=connection)
    row = {"at": naive_utc(at), "consumer": consumer, "dataset_key": dataset_key, "kind": kind,
           "detail": "{}", "alerted": False}
    if "request_id" in events.c:
        row["request_id"] = uuid.uuid4().hex
    with write_transaction(engine) as connection:
        connection.execute(sa.insert(events), [row])


# --------------------------------------------------------------------- a history with platform failures and reruns

SUITE_TYPO = ("AirflowFailException: standards/expectations/public_security/resident_population.json: expectation #4 "
              "(expect_column_values_to_be_in_set): unknown column 'gendr'")
WAREHOUSE_DOWN = ("OperationalError: (psycopg2.OperationalError) connection to server at \"127.0.0.1\", port 5432 "
                  "failed: Connection refused")
KEY_MISMATCH = ("AirflowFailException: key id k2026 is registered as a pseudonym key but the keyring has it as "
                "encryption")
TIMEOUT = "AirflowTaskTimeout: Timeout, PID: 4242"
SCHEMA_DRIFT = ("AirflowFailException: the delivered file for market_regulation/enterprise_registration is missing "
                "column(s) credit_code")


def no_drop(key: str) -> str:
    return f"AirflowFailException: no drop for {key}: folder /srv/landing/{key}/2026-11-20 does not exist"


def seed_history(engine: sa.Engine, today: date, days: int = 14) -> None:
    """``days`` business dates up to yesterday for four departments, with platform failures and reruns.

    public_security: every date published; one night the suite had a typo (platform) and the rerun after the fix
    published; one date already published was rerun by hand and found no data. market_regulation: two dates
    quarantined over the limit, one delivery missing a column (schema drift), later resubmitted and published.
    health: weekly, one night the warehouse was down. human_resources: the scheduled run found no delivery once
    (late), a timeout once, and a key mismatch once.
    """
    first = today - timedelta(days=days)
    for offset in range(days):
        day = first + timedelta(days=offset)
        received = 1000 + 37 * offset
        if offset == 3:
            record_run(engine, RESIDENT, day, verdict="failed", received=None, message=SUITE_TYPO)
            record_run(engine, RESIDENT, day, received=received, quarantined=4, attempt=1,
                       run_id=f"manual__{day.isoformat()}T09:00:00", finished=_local(day, 34))
        else:
            record_run(engine, RESIDENT, day, received=received, quarantined=offset % 5)
        if offset == days - 2:  # an operator reran an already published date: the landing folder was cleaned
            record_run(engine, RESIDENT, day, verdict="failed", received=None, message=no_drop(RESIDENT),
                       run_id=f"manual__{day.isoformat()}T12:00:00", finished=_local(day, 36))
        if offset in (5, 9):
            record_run(engine, ENTERPRISE, day, verdict="failed", received=800, quarantined=120)
        elif offset == 11:
            record_run(engine, ENTERPRISE, day, verdict="failed", received=None, message=SCHEMA_DRIFT)
            record_run(engine, ENTERPRISE, day, received=820, quarantined=9, attempt=1,
                       run_id=f"manual__{day.isoformat()}T15:00:00", finished=_local(day, 40))
        else:
            record_run(engine, ENTERPRISE, day, received=800 + offset, quarantined=8 + offset % 3)
        if day.isoweekday() == 1:
            if offset < 7:
                record_run(engine, MEDICAL, day, verdict="failed", received=None, message=WAREHOUSE_DOWN)
            else:
                record_run(engine, MEDICAL, day, received=300, quarantined=1)
        insurance = {2: ("failed", no_drop(INSURANCE)), 6: ("failed", TIMEOUT), 8: ("failed", KEY_MISMATCH)}
        verdict, message = insurance.get(offset, ("passed", None))
        record_run(engine, INSURANCE, day, verdict=verdict, received=None if message else 500, message=message,
                   quarantined=0)


def _local(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI) + timedelta(hours=hour)
