"""The DAG files import cleanly, one DAG per dataset standard, shaped as the standards say."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from governance.standards.catalogue import load_catalogue

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS = REPO_ROOT / "dags"


@pytest.fixture(scope="module")
def bag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


def test_every_dag_imports_without_errors(bag: DagBag) -> None:
    assert bag.import_errors == {}
    datasets = load_catalogue(REPO_ROOT / "standards").datasets.values()
    assert {dataset.dag_id for dataset in datasets} <= set(bag.dag_ids)
    assert "public_security__resident_population" in bag.dag_ids


def test_dataset_dag_shape(bag: DagBag) -> None:
    dag = bag.dags["public_security__resident_population"]
    assert [task.task_id for task in dag.topological_sort()] == [
        "delivery", "pull", "plan", "validate_chunk", "validate", "mask_chunk", "mask", "publish", "record"]
    assert set(dag.tags) == {"public_security", "cycle:daily", "sharing:conditional"}
    # 02:00 Asia/Shanghai, or as soon as a delivery lands (the landing Asset's watcher, issue 19)
    assert str(dag.timetable.timetable.timezone) in ("Asia/Shanghai", "Timezone('Asia/Shanghai')")
    assert dag.timetable.asset_condition.name == "landing.public_security__resident_population"
    assert type(dag.timetable.asset_condition.watchers[0].trigger).__name__ == "LandingWatchTrigger"
    assert "常住人口基本信息" in dag.doc_md and "| id_number | DE0001 resident_id_number |" in dag.doc_md
    (outlet,) = dag.get_task("publish").outlets
    assert outlet.name == "shared.public_security__resident_population"


def test_broken_standard_is_an_import_error_naming_the_file(tmp_path: Path, monkeypatch) -> None:
    standards = Path(shutil.copytree(REPO_ROOT / "standards", tmp_path / "standards"))
    dataset = standards / "datasets/public_security/resident_population.yaml"
    dataset.write_text(dataset.read_text().replace("element: mobile_number", "element: phone"))
    monkeypatch.setenv("GOVERNANCE_STANDARDS_ROOT", str(standards))
    broken = DagBag(dag_folder=str(DAGS))
    (error,) = broken.import_errors.values()
    assert "datasets/public_security/resident_population.yaml:26 at dataset.columns.mobile.element: " \
           "unknown element 'phone' [unknown-element]" in error
