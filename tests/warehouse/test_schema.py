"""Warehouse tables derived from the standards, drift detection, and the governance records tables."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from governance.standards.catalogue import ResolvedColumn
from governance.standards.models import Column
from governance.warehouse import (
    SchemaDriftError,
    check_frame_columns,
    column_type,
    dataset_table,
    ensure_governance_tables,
    ensure_table,
    is_postgres,
    latest_runs,
    quarantine,
    write_quarantine,
    write_run_record,
)

RESIDENT = "public_security/resident_population"
ENTERPRISE = "market_regulation/enterprise_registration"


def kind(sql_type: sa.types.TypeEngine) -> str:
    """A backend-neutral spelling of a reflected type."""
    if isinstance(sql_type, sa.Integer):
        return "integer"
    if isinstance(sql_type, sa.Numeric):
        return f"numeric({sql_type.precision},{sql_type.scale})"
    if isinstance(sql_type, sa.DateTime):
        return "datetime"
    if isinstance(sql_type, sa.Date):
        return "date"
    if isinstance(sql_type, sa.Text) or getattr(sql_type, "length", None) is None:
        return "text"
    return f"varchar({sql_type.length})"


def reflected(engine: sa.Engine, name: str) -> dict[str, tuple[str, bool]]:
    columns = sa.inspect(engine).get_columns(name, schema="shared")
    return {column["name"]: (kind(column["type"]), column["nullable"]) for column in columns}


LINEAGE = {"_load_date": ("date", False), "_run_id": ("varchar(250)", False), "_loaded_at": ("datetime", False)}


def test_resident_table_is_derived_from_the_standard(warehouse, catalogue):
    sync = ensure_table(warehouse, catalogue, catalogue.dataset(RESIDENT))

    assert sync.created and sync.table.fullname == "shared.public_security__resident_population"
    # Masked columns (pseudonym, partial, generalised) are text whatever the element's type.
    assert reflected(warehouse, "public_security__resident_population") == {
        "id_number": ("text", False),
        "name": ("text", False),
        "gender": ("varchar(1)", False),
        "birth_date": ("text", False),
        "ethnicity": ("varchar(2)", True),
        "region_code": ("varchar(6)", False),
        "address": ("text", True),
        "mobile": ("text", True),
        "updated_at": ("datetime", False),
        **LINEAGE,
    }
    key = sa.inspect(warehouse).get_pk_constraint("public_security__resident_population", schema="shared")
    assert key["constrained_columns"] == ["id_number"]


def test_enterprise_table_keeps_unmasked_types(warehouse, catalogue):
    ensure_table(warehouse, catalogue, catalogue.dataset(ENTERPRISE))

    columns = reflected(warehouse, "market_regulation__enterprise_registration")
    assert columns["credit_code"] == ("varchar(18)", False)
    assert columns["registered_capital"] == ("numeric(16,2)", True)
    assert columns["established_on"] == ("date", False)
    assert columns["legal_rep_id_number"] == ("text", True)
    assert columns["updated_at"] == ("datetime", False)


@pytest.mark.postgres
def test_postgres_comments_carry_the_chinese_names(postgres_database, catalogue):
    from governance.warehouse import warehouse_engine

    engine = warehouse_engine(postgres_database)
    try:
        ensure_table(engine, catalogue, catalogue.dataset(RESIDENT))
        with engine.connect() as connection:
            comments = dict(connection.execute(sa.text(
                "SELECT attname, pg_catalog.col_description(attrelid, attnum) FROM pg_catalog.pg_attribute "
                "WHERE attrelid = 'shared.public_security__resident_population'::regclass AND attnum > 0"
            )).all())
            title = connection.scalar(sa.text(
                "SELECT pg_catalog.obj_description('shared.public_security__resident_population'::regclass)"))
    finally:
        engine.dispose()
    assert title == "常住人口基本信息"
    assert comments["id_number"] == "公民身份号码"
    assert comments["name"] == "姓名"
    assert comments["updated_at"] == "数据更新时间"
    assert comments["_load_date"]


def test_column_types_follow_published_type(catalogue):
    def resolved(element_key: str, *, masking: str | None = None, **element_changes) -> ResolvedColumn:
        element = catalogue.elements[element_key].model_copy(update=element_changes)
        column = Column(name="c", element=element_key, masking=masking)
        return ResolvedColumn(column=column, element=element, sharing="unconditional", primary_key=False)

    assert isinstance(column_type(resolved("bed_count")), sa.BigInteger)
    unsized = column_type(resolved("registered_capital", precision=None))
    assert isinstance(unsized, sa.Numeric) and (unsized.precision, unsized.scale) == (18, 2)
    assert column_type(resolved("registered_capital")).precision == 16
    assert isinstance(column_type(resolved("remarks", max_length=None)), sa.Text)
    assert column_type(resolved("remarks")).length == 500
    assert isinstance(column_type(resolved("monthly_income_base")), sa.Text)  # generalised decimal
    assert isinstance(column_type(resolved("event_date", masking="partial")), sa.Text)
    assert isinstance(column_type(resolved("event_date")), sa.Date)


def test_unpublished_columns_are_left_out(catalogue, edit_dataset):
    dataset = catalogue.dataset(RESIDENT)
    columns = [column.model_dump(exclude_none=True) for column in dataset.columns]
    for column in columns:
        if column["name"] == "mobile":
            column["sharing"] = "not_shared"
        if column["name"] == "address":
            column["masking"] = "suppress"
    edited = edit_dataset(RESIDENT, columns=columns)

    table = dataset_table(edited, edited.dataset(RESIDENT))
    assert "mobile" not in table.c and "address" not in table.c
    assert table.comment == "常住人口基本信息"


def test_ensure_table_is_idempotent(warehouse, catalogue):
    dataset = catalogue.dataset(RESIDENT)
    ensure_table(warehouse, catalogue, dataset)
    again = ensure_table(warehouse, catalogue, dataset)
    assert not again.created and again.added_columns == ()


def with_columns(catalogue, key: str, *, drop=(), rename=None, add=()) -> list[dict]:
    columns = []
    for column in catalogue.dataset(key).columns:
        if column.name in drop:
            continue
        data = column.model_dump(exclude_none=True)
        data["name"] = (rename or {}).get(column.name, column.name)
        columns.append(data)
    return [*columns, *add]


def test_new_nullable_column_is_added_in_place(warehouse, catalogue, edit_dataset):
    dataset = catalogue.dataset(RESIDENT)
    table = ensure_table(warehouse, catalogue, dataset).table
    row = {"id_number": "tok1", "name": "张*", "gender": "1", "birth_date": "1990", "region_code": "330102",
           "updated_at": datetime(2025, 6, 1, 8), "_load_date": date(2025, 6, 1), "_run_id": "r",
           "_loaded_at": datetime(2025, 6, 1, 9)}
    with warehouse.begin() as connection:
        connection.execute(table.insert(), row)
    edited = edit_dataset(RESIDENT, columns=with_columns(catalogue, RESIDENT,
                                                         add=[{"name": "remarks", "element": "remarks"}]))

    sync = ensure_table(warehouse, edited, edited.dataset(RESIDENT))

    assert sync.added_columns == ("remarks",) and not sync.created
    assert reflected(warehouse, table.name)["remarks"] == ("varchar(500)", True)
    with warehouse.connect() as connection:
        kept = connection.execute(sa.select(sync.table)).mappings().one()
        if is_postgres(connection):
            comment = connection.scalar(sa.text(
                "SELECT pg_catalog.col_description(attrelid, attnum) FROM pg_catalog.pg_attribute "
                "WHERE attrelid = 'shared.public_security__resident_population'::regclass "
                "AND attname = 'remarks'"))
            assert comment == "备注"
    assert kept["id_number"] == "tok1" and kept["remarks"] is None
    assert ensure_table(warehouse, edited, edited.dataset(RESIDENT)).added_columns == ()


def test_new_required_column_is_drift(warehouse, catalogue, edit_dataset):
    ensure_table(warehouse, catalogue, catalogue.dataset(RESIDENT))
    edited = edit_dataset(RESIDENT, columns=with_columns(
        catalogue, RESIDENT, add=[{"name": "remarks", "element": "remarks", "required": True}]))

    with pytest.raises(SchemaDriftError) as raised:
        ensure_table(warehouse, edited, edited.dataset(RESIDENT))
    message = str(raised.value)
    assert "shared.public_security__resident_population" in message
    assert "missing column(s) remarks" in message
    assert "remarks" not in reflected(warehouse, "public_security__resident_population")


def test_removed_and_renamed_columns_are_drift(warehouse, catalogue, edit_dataset):
    ensure_table(warehouse, catalogue, catalogue.dataset(RESIDENT))
    edited = edit_dataset(RESIDENT, columns=with_columns(catalogue, RESIDENT, drop={"mobile"},
                                                         rename={"address": "home_address"}))

    with pytest.raises(SchemaDriftError) as raised:
        ensure_table(warehouse, edited, edited.dataset(RESIDENT))
    message = str(raised.value)
    assert message.startswith("table shared.public_security__resident_population has drifted")
    assert "extra column(s) address, mobile" in message
    assert "new column(s) home_address" in message
    # All or nothing: the compatible part of a breaking change is not applied either.
    assert "home_address" not in reflected(warehouse, "public_security__resident_population")


def test_type_change_is_drift(warehouse, catalogue, edit_dataset):
    ensure_table(warehouse, catalogue, catalogue.dataset(RESIDENT))
    edited = edit_dataset(RESIDENT, elements={"gender": {"max_length": 2}, "record_updated_at": {"type": "date"}})

    with pytest.raises(SchemaDriftError) as raised:
        ensure_table(warehouse, edited, edited.dataset(RESIDENT))
    message = str(raised.value)
    assert "shared.public_security__resident_population" in message
    assert "changed type(s) gender: VARCHAR(1) -> VARCHAR(2)" in message
    assert "updated_at:" in message and "-> DATE" in message


def test_primary_key_change_is_drift(warehouse, catalogue, edit_dataset):
    ensure_table(warehouse, catalogue, catalogue.dataset(RESIDENT))
    edited = edit_dataset(RESIDENT, primary_key=["id_number", "region_code"])

    with pytest.raises(SchemaDriftError, match=r"primary key \(id_number\) differs from the standard's"):
        ensure_table(warehouse, edited, edited.dataset(RESIDENT))


def test_frame_column_check_names_missing_and_unexpected(catalogue):
    dataset = catalogue.dataset(RESIDENT)
    columns = catalogue.columns(dataset)
    frame = [column.name for column in columns if column.name != "mobile"] + ["phone", "_source_line"]

    with pytest.raises(SchemaDriftError) as raised:
        check_frame_columns(frame, columns, dataset.key)
    assert str(raised.value) == ("source for public_security/resident_population is missing column(s) mobile; "
                                 "has unexpected column(s) phone")
    check_frame_columns(reversed([column.name for column in columns]), columns, dataset.key)


# --- governance records ---------------------------------------------------------------------------


def test_run_records_upsert_and_latest_runs(warehouse):
    assert latest_runs(warehouse) == []
    ensure_governance_tables(warehouse)
    ensure_governance_tables(warehouse)
    base = {"dag_id": "public_security__resident_population", "dataset_key": RESIDENT,
            "department": "public_security", "rows_received": 10, "rows_passed": 9, "rows_quarantined": 1}
    write_run_record(warehouse, base | {"run_id": "r1", "logical_date": date(2025, 6, 1), "verdict": "passed",
                                        "started_at": datetime(2025, 6, 1, 18, 0, tzinfo=UTC),
                                        "finished_at": datetime(2025, 6, 1, 18, 1, 30, tzinfo=UTC)})
    write_run_record(warehouse, base | {"run_id": "r2", "logical_date": datetime(2025, 6, 2, 18, tzinfo=UTC),
                                        "started_at": datetime(2025, 6, 2, 18), "verdict": "running"})
    # A rerun replaces its record instead of adding one.
    write_run_record(warehouse, base | {"run_id": "r2", "logical_date": date(2025, 6, 2), "verdict": "passed",
                                        "started_at": datetime(2025, 6, 2, 18), "masked_columns": ["id_number"],
                                        "leak_findings": [], "rows_published": 9})
    write_run_record(warehouse, {"dag_id": "market_regulation__enterprise_registration", "run_id": "r9",
                                 "dataset_key": ENTERPRISE, "started_at": datetime(2025, 6, 1), "verdict": "failed",
                                 "message": "too many rows quarantined"})

    runs = latest_runs(warehouse)

    assert [(run["dataset_key"], run["run_id"], run["verdict"]) for run in runs] == [
        (ENTERPRISE, "r9", "failed"), (RESIDENT, "r2", "passed")]
    resident = runs[1]
    assert resident["masked_columns"] == ["id_number"] and resident["leak_findings"] == []
    assert resident["logical_date"] == date(2025, 6, 2) and resident["rows_published"] == 9
    with warehouse.connect() as connection:
        first = connection.execute(sa.text(
            "SELECT duration_s, started_at FROM governance.run_record WHERE run_id = 'r1'")).one()
        assert connection.scalar(sa.text("SELECT count(*) FROM governance.run_record")) == 3
    assert first.duration_s == 90.0
    with pytest.raises(ValueError, match="unknown run record field"):
        write_run_record(warehouse, {"dag_id": "d", "run_id": "r", "raw_values": "x"})


def test_quarantine_replaces_a_runs_entries(warehouse):
    def entries(count: int) -> list[dict]:
        return [{"source_file": "resident_20250601.csv", "source_line": line + 2, "rules": ["resident_id_checksum"],
                 "masked_row": {"id_number": "3301**********1234", "name": "张*"},
                 "raw_row_encrypted": b"gAAAAABexample"} for line in range(count)]

    assert write_quarantine(warehouse, "r1", RESIDENT, entries(3)) == 3
    assert write_quarantine(warehouse, "r2", RESIDENT, entries(1)) == 1
    assert write_quarantine(warehouse, "r1", RESIDENT, entries(2)) == 2

    with warehouse.connect() as connection:
        rows = connection.execute(sa.select(quarantine).order_by(quarantine.c.run_id, quarantine.c.source_line)).all()
    assert [(row.run_id, row.source_line, row.status) for row in rows] == [
        ("r1", 2, "open"), ("r1", 3, "open"), ("r2", 2, "open")]
    assert rows[0].rules == "resident_id_checksum"
    assert rows[0].masked_row == '{"id_number": "3301**********1234", "name": "张*"}'
    assert rows[0].raw_row_encrypted == "gAAAAABexample"
    with pytest.raises(TypeError, match="ciphertext"):
        write_quarantine(warehouse, "r3", RESIDENT, [{"raw_row_encrypted": {"id_number": "330102199001011234"}}])
