"""The cross-department profile: SQL joins on both warehouses, an Asset-scheduled DAG, and real Asset events."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from airflow.dag_processing.dagbag import DagBag

from governance.orchestration.dataset_dag import dataset_asset
from governance.orchestration.profile_dags import input_asset
from governance.profiles.build import ProfileError, build_profile
from governance.standards.catalogue import Catalogue
from governance.warehouse import publish
from governance.warehouse.schema import profile_table

REPO_ROOT = Path(__file__).resolve().parents[2]
REGISTER = "market_regulation/enterprise_registration"
RATINGS = "taxation/taxpayer_credit_rating"
HOSPITALS = "health/medical_institution"
DAY = date(2026, 11, 27)


def code(i: int) -> str:
    return f"91330100MA{i:08d}"


def register_row(i: int) -> dict:
    return {"credit_code": code(i), "enterprise_name": f"企业{i}有限公司", "legal_representative": "王*",
            "legal_rep_id_number": f"ptok_{i:04d}", "registered_capital": "100.50", "established_on": "2020-01-02",
            "region_code": "330102", "business_address": "杭州市西湖区文三路1号", "status": "1",
            "updated_at": "2026-11-27 08:00:00"}


def rating_row(i: int, rating: str) -> dict:
    return {"credit_code": code(i), "taxpayer_name": f"企业{i}有限公司", "rating": rating,
            "evaluated_on": "2026-04-01", "updated_at": "2026-05-01 08:00:00"}


def hospital_row(i: int) -> dict:
    return {"credit_code": code(i), "institution_name": f"企业{i}医院", "level": "2", "bed_count": "120",
            "region_code": "330102", "address": "杭州市西湖区", "updated_at": "2026-11-20 08:00:00"}


def publish_rows(engine: sa.Engine, catalogue: Catalogue, key: str, rows: list[dict], tmp_path: Path) -> None:
    path = tmp_path / f"{key.replace('/', '__')}.parquet"
    pq.write_table(pa.table({name: pa.array([row[name] for row in rows], pa.string()) for name in rows[0]}), path)
    publish(engine, catalogue, key, path, load_date=DAY, run_id=f"test-{key}")


def profile_rows(engine: sa.Engine, catalogue: Catalogue) -> dict[str, dict]:
    """The profile's rows by credit code, read through the typed table (SQLite stores dates as text)."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(profile_table(catalogue, catalogue.profile("enterprise")))).mappings()
        return {row["credit_code"]: dict(row) for row in rows}


def test_the_profile_table_is_typed_and_described_by_its_sources(catalogue: Catalogue) -> None:
    table = profile_table(catalogue, catalogue.profile("enterprise"))
    assert [column.name for column in table.primary_key.columns] == ["credit_code"]
    assert [column.name for column in table.columns][-3:] == ["_load_date", "_run_id", "_loaded_at"]
    assert table.c.tax_credit_rating.comment.endswith("(来源: 纳税信用等级评价结果)")


def test_profile_joins_on_the_credit_code(warehouse: sa.Engine, catalogue: Catalogue, tmp_path: Path) -> None:
    publish_rows(warehouse, catalogue, REGISTER, [register_row(i) for i in range(3)], tmp_path)
    publish_rows(warehouse, catalogue, RATINGS, [rating_row(0, "A"), rating_row(2, "M"), rating_row(9, "D")], tmp_path)
    result = build_profile(warehouse, catalogue, catalogue.profile("enterprise"), load_date=DAY, run_id="profile-1")
    assert (result.table, result.rows, result.missing_inputs) == ("shared.profile__enterprise", 3, (HOSPITALS,))
    rows = profile_rows(warehouse, catalogue)
    assert set(rows) == {code(0), code(1), code(2)}  # one row per registered enterprise; code 9 is not one
    assert [rows[code(i)]["tax_credit_rating"] for i in range(3)] == ["A", None, "M"]
    assert rows[code(0)]["tax_rated_on"] == date(2026, 4, 1) and rows[code(0)]["enterprise_name"] == "企业0有限公司"
    assert rows[code(0)]["medical_institution_name"] is None  # health not published yet
    assert rows[code(1)]["_run_id"] == "profile-1" and rows[code(1)]["_load_date"] == DAY

    publish_rows(warehouse, catalogue, HOSPITALS, [hospital_row(1)], tmp_path)
    again = build_profile(warehouse, catalogue, catalogue.profile("enterprise"), load_date=DAY, run_id="profile-2")
    assert (again.rows, again.missing_inputs) == (3, ())
    rows = profile_rows(warehouse, catalogue)
    assert rows[code(1)]["medical_institution_name"] == "企业1医院" and rows[code(1)]["medical_bed_count"] == 120
    assert {row["_run_id"] for row in rows.values()} == {"profile-2"}  # a snapshot: every row rebuilt


def test_profile_needs_its_driving_table(warehouse: sa.Engine, catalogue: Catalogue) -> None:
    with pytest.raises(ProfileError, match="market_regulation__enterprise_registration is not published yet"):
        build_profile(warehouse, catalogue, catalogue.profile("enterprise"), load_date=DAY, run_id="p")


def test_a_drifted_profile_table_is_rebuilt(warehouse: sa.Engine, catalogue: Catalogue, tmp_path: Path) -> None:
    publish_rows(warehouse, catalogue, REGISTER, [register_row(0)], tmp_path)
    with warehouse.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE shared.profile__enterprise (credit_code TEXT PRIMARY KEY, old TEXT)")
    assert build_profile(warehouse, catalogue, catalogue.profile("enterprise"), load_date=DAY, run_id="p").rows == 1
    columns = {column["name"] for column in sa.inspect(warehouse).get_columns("profile__enterprise", schema="shared")}
    assert "old" not in columns and "tax_credit_rating" in columns


def test_input_assets_are_the_ones_the_dataset_dags_emit(catalogue: Catalogue) -> None:
    for profile in catalogue.profiles.values():
        for key in profile.inputs:
            assert input_asset(key) == dataset_asset(catalogue.dataset(key))


def test_the_profile_dag_is_scheduled_on_its_inputs_assets() -> None:
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["profile__enterprise"]
    condition = dag.timetable.asset_condition
    assert type(condition).__name__ == "AssetAny"  # any input's update rebuilds it (daily vs monthly inputs)
    assert {asset.name for asset in condition.objects} == {
        "shared.market_regulation__enterprise_registration", "shared.taxation__taxpayer_credit_rating",
        "shared.health__medical_institution"}
    assert [asset.name for asset in dag.get_task("build").outlets] == ["shared.profile__enterprise"]
    assert "cross-department" in dag.tags


EVENTS_SCRIPT = """
import json, os, sys
from datetime import date
from governance.settings import airflow_environment
os.environ.update(airflow_environment())
from governance_demo.run import run_demo
ok = run_demo(date.fromisoformat(sys.argv[1]), only=set(sys.argv[2:]))
from airflow.models.asset import AssetEvent, AssetModel, DagScheduleAssetReference
from airflow.utils.session import create_session
with create_session() as session:
    events = [{"asset": name, "dag_id": event.source_dag_id, "run_id": event.source_run_id, "extra": event.extra}
              for event, name in session.query(AssetEvent, AssetModel.name)
              .join(AssetModel, AssetModel.id == AssetEvent.asset_id)]
    schedule = sorted(name for _, name in session.query(DagScheduleAssetReference, AssetModel.name)
                      .join(AssetModel, AssetModel.id == DagScheduleAssetReference.asset_id)
                      .filter(DagScheduleAssetReference.dag_id == "profile__enterprise"))
print("EVENTS " + json.dumps({"ok": ok, "events": events, "schedule": schedule}))
"""


@pytest.mark.slow
def test_dataset_dags_emit_asset_events_and_the_profile_dag_follows(tmp_path: Path) -> None:
    """Real ``dag.test()`` runs in a private var/ (own Airflow metadata DB, keys and drops): the publish
    tasks record Asset events with their extra, and the profile DAG emits its own."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    environment |= {"GOVERNANCE_VAR_ROOT": str(tmp_path), "GOVERNANCE_TASK_RETRIES": "0",
                    "GOVERNANCE_WAREHOUSE_URL": f"sqlite:///{tmp_path / 'warehouse' / 'warehouse.db'}"}
    governance = str(Path(sys.executable).with_name("governance"))
    for args in (["keys", "init"], ["demo-data", "--date", DAY.isoformat(), "--rows", "200"]):
        done = subprocess.run([governance, *args], env=environment, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    dags = ["market_regulation__enterprise_registration", "taxation__taxpayer_credit_rating", "profile__enterprise"]
    done = subprocess.run([sys.executable, "-c", EVENTS_SCRIPT, DAY.isoformat(), *dags], env=environment,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("EVENTS ")]
    result = json.loads(line.removeprefix("EVENTS "))
    assert result["ok"], done.stdout[-3000:]
    events = {event["asset"]: event for event in result["events"]}
    assert set(events) == {f"shared.{dag_id}" for dag_id in dags}
    register = events["shared.market_regulation__enterprise_registration"]
    assert register["dag_id"] == "market_regulation__enterprise_registration"
    assert register["extra"]["run_id"] == register["run_id"] and register["extra"]["load_mode"] == "upsert"
    assert register["extra"]["table"] == "shared.market_regulation__enterprise_registration"
    assert events["shared.taxation__taxpayer_credit_rating"]["extra"]["load_mode"] == "snapshot"
    assert result["schedule"] == sorted(["shared.market_regulation__enterprise_registration",
                                         "shared.taxation__taxpayer_credit_rating",
                                         "shared.health__medical_institution"])
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'warehouse' / 'shared.db'}")
    with engine.connect() as connection:
        published = connection.exec_driver_sql(
            "SELECT count(*) FROM market_regulation__enterprise_registration").scalar()
        profiled = connection.exec_driver_sql("SELECT count(*) FROM profile__enterprise").scalar()
        rated = connection.exec_driver_sql(
            "SELECT count(*) FROM profile__enterprise WHERE tax_credit_rating IS NOT NULL").scalar()
    engine.dispose()
    assert register["extra"]["rows"] == published > 0
    assert events["shared.profile__enterprise"]["extra"]["rows"] == profiled == published
    assert 0 < rated < profiled
    assert re.search(rf"^profile__enterprise\s+success\s+{profiled} rows in shared\.profile__enterprise\b", done.stdout,
                     re.MULTILINE), done.stdout[-2000:]
