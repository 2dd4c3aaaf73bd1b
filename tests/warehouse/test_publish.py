"""Publishing into the warehouse: modes, idempotence, atomicity, COPY and bounded batches."""

from __future__ import annotations

import importlib
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from governance.warehouse import (
    PublishError,
    SchemaDriftError,
    dataset_table,
    is_postgres,
    publish,
    published_columns,
    staging_table,
    warehouse_engine,
)

RESIDENT = "public_security/resident_population"
ENTERPRISE = "market_regulation/enterprise_registration"
# The package exports the function `publish`, which shadows the submodule as an attribute.
publish_module = importlib.import_module("governance.warehouse.publish")
D0, D1, D2 = date(2025, 5, 31), date(2025, 6, 1), date(2025, 6, 2)


def resident(i: int, *, name: str = "张*", updated: str = "2025-06-01 08:00:00") -> dict:
    return {"id_number": f"ptok_{i:04d}", "name": name, "gender": str(1 + i % 2), "birth_date": "1990",
            "ethnicity": "01", "region_code": "330102", "address": "浙江省杭州市上城区", "mobile": "138****0001",
            "updated_at": updated}


def enterprise(i: int, *, name: str = "某某科技有限公司", capital: str | None = "1000000.50",
               updated: str = "2025-06-01 08:00:00") -> dict:
    return {"credit_code": f"91330100MA{i:08d}", "enterprise_name": name, "legal_representative": "王*",
            "legal_rep_id_number": f"ptok_{i:04d}", "registered_capital": capital, "established_on": "2020-01-02",
            "region_code": "330102", "business_address": "杭州市西湖区文三路1号", "status": "1", "updated_at": updated}


def write_parquet(path: Path, rows: list[dict], *, extra: dict | None = None) -> Path:
    """A parquet file of text columns, in reverse order (column order must not matter)."""
    names = list(reversed(rows[0])) if rows else []
    table = pa.table({name: pa.array([row[name] for row in rows], pa.string()) for name in names})
    for name, values in (extra or {}).items():
        table = table.append_column(name, pa.array(values, pa.string()))
    pq.write_table(table, path)
    return path


@pytest.fixture
def parquet(tmp_path):
    counter = iter(range(1_000))

    def make(rows: list[dict], **options) -> Path:
        return write_parquet(tmp_path / f"input_{next(counter)}.parquet", rows, **options)

    return make


def content(engine: sa.Engine, catalogue, key: str) -> list[dict]:
    """The table's rows (data columns and _load_date), ordered by key."""
    table = dataset_table(catalogue, catalogue.dataset(key))
    columns = [column for column in table.columns if column.name not in ("_run_id", "_loaded_at")]
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(table.name, schema="shared"):
            return []
        query = sa.select(*columns).order_by(*table.primary_key.columns)
        return [dict(row) for row in connection.execute(query).mappings()]


def staging_left(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        if is_postgres(connection):  # includes other sessions' TEMP tables
            query = sa.text(r"SELECT relname FROM pg_catalog.pg_class WHERE relname LIKE '\_stage\_%'")
            return list(connection.scalars(query))
        return [name for name in sa.inspect(connection).get_table_names(schema="shared") if name.startswith("_stage")]


def ids(rows: list[dict], key: str = "id_number") -> list[str]:
    return [row[key] for row in rows]


def test_snapshot_replaces_the_table(warehouse, catalogue, parquet):
    first = publish(warehouse, catalogue, RESIDENT, parquet([resident(i) for i in range(1, 6)]),
                    load_date=D1, run_id="run-d1")
    second = publish(warehouse, catalogue, catalogue.dataset(RESIDENT),
                     parquet([resident(i, name="李*", updated="2025-06-02 09:30:00") for i in (4, 5, 6)]),
                     load_date=D2, run_id="run-d2")

    assert (first.rows, first.load_mode, first.skipped_reason) == (5, "snapshot", None)
    assert second.table == "shared.public_security__resident_population" and second.rows == 3
    rows = content(warehouse, catalogue, RESIDENT)
    assert ids(rows) == ["ptok_0004", "ptok_0005", "ptok_0006"]
    assert {(row["name"], row["_load_date"]) for row in rows} == {("李*", D2)}
    assert rows[0]["updated_at"] == datetime(2025, 6, 2, 9, 30)
    assert staging_left(warehouse) == []


def test_snapshot_rerun_is_idempotent(warehouse, catalogue, parquet):
    publish(warehouse, catalogue, RESIDENT, parquet([resident(i) for i in range(1, 6)]), load_date=D1, run_id="a")
    file = parquet([resident(i, name="李*") for i in range(3, 9)])
    publish(warehouse, catalogue, RESIDENT, file, load_date=D2, run_id="b")
    once = content(warehouse, catalogue, RESIDENT)
    publish(warehouse, catalogue, RESIDENT, file, load_date=D2, run_id="b")
    publish(warehouse, catalogue, RESIDENT, file, load_date=D2, run_id="b-manual-rerun")

    assert content(warehouse, catalogue, RESIDENT) == once and len(once) == 6


def test_upsert_updates_inserts_and_a_backfill_never_overwrites_newer_rows(warehouse, catalogue, parquet):
    publish(warehouse, catalogue, ENTERPRISE, parquet([enterprise(i) for i in (1, 2, 3)]), load_date=D1, run_id="d1")
    day2 = parquet([enterprise(2, name="更名后公司"), enterprise(4)])
    result = publish(warehouse, catalogue, ENTERPRISE, day2, load_date=D2, run_id="d2")

    assert (result.rows, result.load_mode) == (2, "upsert")
    rows = {row["credit_code"][-1]: row for row in content(warehouse, catalogue, ENTERPRISE)}
    assert sorted(rows) == ["1", "2", "3", "4"]
    assert (rows["2"]["enterprise_name"], rows["2"]["_load_date"]) == ("更名后公司", D2)
    assert (rows["1"]["_load_date"], rows["4"]["_load_date"]) == (D1, D2)

    # A backfill of an older date: keys it brings are inserted, newer rows are left alone.
    backfill = parquet([enterprise(1, name="旧名称"), enterprise(2, name="旧名称"), enterprise(5, name="新登记")])
    publish(warehouse, catalogue, ENTERPRISE, backfill, load_date=D0, run_id="d0")
    rows = {row["credit_code"][-1]: row for row in content(warehouse, catalogue, ENTERPRISE)}
    assert (rows["1"]["enterprise_name"], rows["1"]["_load_date"]) == ("某某科技有限公司", D1)
    assert (rows["2"]["enterprise_name"], rows["2"]["_load_date"]) == ("更名后公司", D2)
    assert (rows["5"]["enterprise_name"], rows["5"]["_load_date"]) == ("新登记", D0)

    before = content(warehouse, catalogue, ENTERPRISE)
    publish(warehouse, catalogue, ENTERPRISE, day2, load_date=D2, run_id="d2")
    assert content(warehouse, catalogue, ENTERPRISE) == before


def test_text_is_converted_to_the_column_types(warehouse, catalogue, parquet):
    rows = [enterprise(1, capital="12345678901234.56", updated="2025-06-01 23:59:59"),
            enterprise(2, capital=""), enterprise(3, capital=None), enterprise(4, capital=" 7 ")]
    publish(warehouse, catalogue, ENTERPRISE, parquet(rows), load_date=D1, run_id="r")

    loaded = content(warehouse, catalogue, ENTERPRISE)
    assert [row["registered_capital"] for row in loaded] == [Decimal("12345678901234.56"), None, None, Decimal("7.00")]
    assert loaded[0]["established_on"] == date(2020, 1, 2)
    assert loaded[0]["updated_at"] == datetime(2025, 6, 1, 23, 59, 59)


def test_an_invalid_value_names_column_and_row_but_not_the_value(warehouse, catalogue, parquet):
    rows = [enterprise(i) for i in range(1, 5)]
    rows[2]["established_on"] = "2024-13-01"
    with pytest.raises(PublishError) as raised:
        publish(warehouse, catalogue, ENTERPRISE, parquet(rows), load_date=D1, run_id="r", batch_rows=2)
    message = str(raised.value)
    assert "column established_on has 1 value(s) that are not a valid date" in message
    assert "first at row 3" in message and "2024-13-01" not in message
    assert content(warehouse, catalogue, ENTERPRISE) == [] and staging_left(warehouse) == []

    rows = [enterprise(1), enterprise(2, capital="1.005")]
    with pytest.raises(PublishError, match="registered_capital has 1 value"):
        publish(warehouse, catalogue, ENTERPRISE, parquet(rows), load_date=D1, run_id="r")
    rows = [enterprise(1), enterprise(2)]
    rows[1]["region_code"] = "3301020"
    with pytest.raises(PublishError, match=r"region_code has 1 value.* longer than 6 characters"):
        publish(warehouse, catalogue, ENTERPRISE, parquet(rows), load_date=D1, run_id="r")


def test_a_snapshot_backfill_is_skipped_when_newer_data_is_published(warehouse, catalogue, parquet):
    publish(warehouse, catalogue, RESIDENT, parquet([resident(i) for i in (1, 2)]), load_date=D2, run_id="d2")
    before = content(warehouse, catalogue, RESIDENT)

    result = publish(warehouse, catalogue, RESIDENT, parquet([resident(9)]), load_date=D1, run_id="d1")

    assert result.skipped_reason == "newer data already published (load date 2025-06-02)"
    assert result.rows == 0
    assert content(warehouse, catalogue, RESIDENT) == before


def test_the_newer_check_is_repeated_under_the_swap_lock(warehouse, catalogue, parquet, monkeypatch):
    publish(warehouse, catalogue, RESIDENT, parquet([resident(1)]), load_date=D1, run_id="d1")
    # Simulate a concurrent publish of a newer date landing after the first check, before the swap.
    answers = iter([None, D2])
    monkeypatch.setattr(publish_module, "_newer_load_date", lambda *_: next(answers))

    result = publish(warehouse, catalogue, RESIDENT, parquet([resident(2)]), load_date=D1, run_id="again")

    assert result.skipped_reason == "newer data already published (load date 2025-06-02)"
    assert ids(content(warehouse, catalogue, RESIDENT)) == ["ptok_0001"] and staging_left(warehouse) == []


@pytest.mark.parametrize("key", [RESIDENT, ENTERPRISE])
def test_a_failure_before_the_swap_leaves_the_table_unchanged(warehouse, catalogue, parquet, monkeypatch, key):
    make = resident if key == RESIDENT else enterprise
    publish(warehouse, catalogue, key, parquet([make(i) for i in range(1, 6)]), load_date=D1, run_id="d1")
    before = content(warehouse, catalogue, key)

    def explode(*_args):
        raise RuntimeError("injected between staging and swap")

    monkeypatch.setattr(publish_module, "_before_swap", explode)
    with pytest.raises(RuntimeError, match="injected"):
        publish(warehouse, catalogue, key, parquet([make(i, name="李*") for i in range(3, 9)]),
                load_date=D2, run_id="d2")

    assert content(warehouse, catalogue, key) == before
    assert staging_left(warehouse) == []


def test_a_failure_mid_swap_rolls_back_and_readers_see_the_old_rows(warehouse, catalogue, parquet, monkeypatch):
    publish(warehouse, catalogue, RESIDENT, parquet([resident(i) for i in range(1, 6)]), load_date=D1, run_id="d1")
    before = content(warehouse, catalogue, RESIDENT)
    seen = []

    def read_then_fail(connection, target):
        assert connection.scalar(sa.select(sa.func.count()).select_from(target)) == 0  # deleted, uncommitted
        seen.append(content(warehouse, catalogue, RESIDENT))  # another connection, meanwhile
        raise RuntimeError("injected mid-swap")

    monkeypatch.setattr(publish_module, "_mid_swap", read_then_fail)
    with pytest.raises(RuntimeError, match="mid-swap"):
        publish(warehouse, catalogue, RESIDENT, parquet([resident(7)]), load_date=D2, run_id="d2")

    assert seen == [before]
    assert content(warehouse, catalogue, RESIDENT) == before and staging_left(warehouse) == []


def test_duplicate_keys_fail_without_showing_them(warehouse, catalogue, parquet):
    publish(warehouse, catalogue, RESIDENT, parquet([resident(i) for i in range(1, 4)]), load_date=D1, run_id="d1")
    before = content(warehouse, catalogue, RESIDENT)
    rows = [resident(i) for i in (1, 1, 2, 2, 2, 3, 4)]

    with pytest.raises(PublishError) as raised:
        publish(warehouse, catalogue, RESIDENT, parquet(rows), load_date=D2, run_id="d2", batch_rows=3)

    message = str(raised.value)
    assert "shared.public_security__resident_population" in message
    assert "2 primary key value(s) (id_number) occur more than once" in message
    assert "ptok_" not in message
    assert content(warehouse, catalogue, RESIDENT) == before and staging_left(warehouse) == []


def test_missing_required_values_fail_before_the_swap(warehouse, catalogue, parquet):
    rows = [resident(1), resident(2, name=None), resident(3)]
    rows[2]["gender"] = None
    with pytest.raises(PublishError, match=r"required column\(s\) without a value: name \(1 row\(s\)\), gender"):
        publish(warehouse, catalogue, RESIDENT, parquet(rows), load_date=D1, run_id="r")
    assert content(warehouse, catalogue, RESIDENT) == [] and staging_left(warehouse) == []


def test_input_columns_must_match_the_standard(warehouse, catalogue, parquet):
    rows = [resident(i) for i in (1, 2)]
    for row in rows:
        row["phone"] = row.pop("mobile")
    with pytest.raises(SchemaDriftError) as raised:
        publish(warehouse, catalogue, RESIDENT, parquet(rows), load_date=D1, run_id="r")
    assert str(raised.value) == ("input for public_security/resident_population is missing column(s) mobile; "
                                 "has unexpected column(s) phone")

    # Columns starting with "_" (the pipeline's own) are ignored.
    result = publish(warehouse, catalogue, RESIDENT, parquet([resident(1)], extra={"_source_line": ["2"]}),
                     load_date=D1, run_id="r")
    assert result.rows == 1


def test_copy_on_postgres_executemany_on_sqlite_in_bounded_batches(warehouse, catalogue, parquet, monkeypatch):
    calls: dict[str, list[int]] = {"copy": [], "insert": []}
    original_copy, original_insert = publish_module._copy_rows, publish_module._insert_rows

    def spy(kind, original):
        def wrapper(connection, staging, names, rows):
            calls[kind].append(len(rows))
            return original(connection, staging, names, rows)
        return wrapper

    monkeypatch.setattr(publish_module, "_copy_rows", spy("copy", original_copy))
    monkeypatch.setattr(publish_module, "_insert_rows", spy("insert", original_insert))
    file = parquet([resident(i) for i in range(1, 8)])

    publish(warehouse, catalogue, RESIDENT, file, load_date=D1, run_id="whole")
    whole = content(warehouse, catalogue, RESIDENT)
    publish(warehouse, catalogue, RESIDENT, file, load_date=D1, run_id="batched", batch_rows=2)

    used, unused = ("copy", "insert") if is_postgres(warehouse) else ("insert", "copy")
    assert calls[used] == [7, 2, 2, 2, 1] and calls[unused] == []
    assert content(warehouse, catalogue, RESIDENT) == whole and len(whole) == 7


def test_a_compatible_standard_change_is_migrated_on_publish(warehouse, catalogue, edit_dataset, parquet):
    publish(warehouse, catalogue, RESIDENT, parquet([resident(1)]), load_date=D1, run_id="d1")
    columns = [column.model_dump(exclude_none=True) for column in catalogue.dataset(RESIDENT).columns]
    edited = edit_dataset(RESIDENT, columns=[*columns, {"name": "remarks", "element": "remarks"}])
    rows = [resident(1) | {"remarks": "核实"}, resident(2) | {"remarks": None}]

    result = publish(warehouse, edited, RESIDENT, parquet(rows), load_date=D2, run_id="d2")

    assert result.added_columns == ("remarks",) and result.rows == 2
    assert [row["remarks"] for row in content(warehouse, edited, RESIDENT)] == ["核实", None]


def test_staging_table_names(catalogue):
    target = dataset_table(catalogue, catalogue.dataset(RESIDENT))
    shared = staging_table(target, "scheduled__2025-06-01T18:00:00+00:00", temporary=False)
    temporary = staging_table(target, "scheduled__2025-06-01T18:00:00+00:00", temporary=True)

    assert shared.schema == "shared" and temporary.schema is None
    assert shared.name == temporary.name and shared.name.startswith("_stage_public_security__resident_population_")
    assert len(shared.name) <= 63
    assert staging_table(target, "other", temporary=False).name != shared.name
    assert [column.name for column in shared.columns] == [c.name for c in published_columns(
        catalogue, catalogue.dataset(RESIDENT))]


@pytest.mark.postgres
def test_a_dropped_connection_leaves_the_table_unchanged(postgres_database, postgres_admin, catalogue, parquet,
                                                         monkeypatch):
    engine = warehouse_engine(postgres_database)
    try:
        publish(engine, catalogue, RESIDENT, parquet([resident(i) for i in range(1, 6)]), load_date=D1, run_id="d1")
        before = content(engine, catalogue, RESIDENT)

        def kill_own_session(connection, target):
            pid = connection.scalar(sa.text("SELECT pg_backend_pid()"))
            with postgres_admin.connect() as admin:
                admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

        monkeypatch.setattr(publish_module, "_mid_swap", kill_own_session)
        with pytest.raises(publish_module.WarehouseUnavailable,
                           match=r"publishing shared\.public_security__resident_population failed"):
            publish(engine, catalogue, RESIDENT, parquet([resident(7)]), load_date=D2, run_id="d2")

        assert content(engine, catalogue, RESIDENT) == before
        assert staging_left(engine) == []
    finally:
        engine.dispose()
