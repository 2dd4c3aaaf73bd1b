"""A typo in one dataset's standard disables that dataset's DAG only (issue 15).

The other datasets' DAGs load, an import error names the broken file and line, a run of another dataset
still publishes, and `governance standards check` still fails on the file.
"""

from __future__ import annotations

import datetime
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from governance_demo import write_demo_data

from governance.keys import generate_keyring, keyring_to_json
from governance.pipeline import chunked, steps
from governance.settings import get_settings
from governance.standards.catalogue import Catalogue, load_usable_catalogue
from governance.standards.problems import StandardsError

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS = REPO_ROOT / "dags"
GOVERNANCE = str(Path(sys.executable).with_name("governance"))
BROKEN = "health__medical_institution"
WHERE = "datasets/health/medical_institution.yaml:16 at dataset.columns.credit_code.element"
DAY = datetime.date(2026, 11, 27)


def break_medical_institution(root: Path) -> Path:
    """A copy of the standards with the issue's typo: ``element: credit_cod`` in the medical institutions."""
    standards = Path(shutil.copytree(REPO_ROOT / "standards", root / "standards"))
    file = standards / "datasets/health/medical_institution.yaml"
    text = file.read_text(encoding="utf-8")
    assert "element: credit_code}" in text
    file.write_text(text.replace("element: credit_code}", "element: credit_cod}", 1), encoding="utf-8")
    return standards


@pytest.fixture
def broken(tmp_path: Path, monkeypatch) -> Path:
    standards = break_medical_institution(tmp_path)
    monkeypatch.setenv("GOVERNANCE_STANDARDS_ROOT", str(standards))
    return standards


def test_the_other_dags_load_and_an_import_error_names_file_and_line(broken: Path, catalogue: Catalogue) -> None:
    bag = DagBag(dag_folder=str(DAGS))
    others = {dataset.dag_id for dataset in catalogue.datasets.values()} - {BROKEN}
    assert others and others <= set(bag.dag_ids)
    assert BROKEN not in bag.dag_ids
    (file, error), = bag.import_errors.items()
    assert Path(file).name == "standards_problems.py"  # not departmental_datasets.py: its DAGs stay usable
    assert f"{WHERE}: unknown element 'credit_cod' [unknown-element]" in error
    assert "上列数据集的 DAG 已停用" in error


def test_sound_standards_raise_nothing_from_the_problems_file() -> None:
    bag = DagBag(dag_folder=str(DAGS / "standards_problems.py"))
    assert bag.import_errors == {} and bag.dag_ids == []


def test_standards_check_still_fails_on_the_file(broken: Path) -> None:
    done = subprocess.run([GOVERNANCE, "standards", "check"], capture_output=True, text=True, timeout=120,
                          env=os.environ | {"GOVERNANCE_STANDARDS_ROOT": str(broken)})
    assert done.returncode != 0
    assert WHERE in done.stdout + done.stderr


def test_problems_in_shared_files_still_stop_every_dataset(tmp_path: Path) -> None:
    """Departments, elements and code tables concern every dataset: nothing is built on them."""
    standards = Path(shutil.copytree(REPO_ROOT / "standards", tmp_path / "standards"))
    departments = standards / "departments.yaml"
    departments.write_text(departments.read_text(encoding="utf-8").replace("name_zh:", "name_cn:", 1),
                           encoding="utf-8")
    with pytest.raises(StandardsError, match=r"departments.yaml:\d+"):
        load_usable_catalogue(standards)


def test_a_run_of_another_dataset_still_publishes(broken: Path, tmp_path: Path, monkeypatch,
                                                  catalogue: Catalogue) -> None:
    """The task-time path (pull, validate, mask, publish, record) on the broken standards folder."""
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path / "var"))
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse.db'}")
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_KEYRING", keyring_to_json(generate_keyring()))
    settings = get_settings()
    write_demo_data(catalogue, settings.landing_root, settings.var_root, DAY, rows=200, defect_share=0.05)
    run = steps.Run.create("public_security/resident_population", "manual__broken_neighbour", DAY)
    assert BROKEN.replace("__", "/") not in run.catalogue.datasets
    steps.pull(run)
    chunked.validate_and_mask(run)  # plan, validate and mask chunk by chunk, as the DAG's tasks do
    steps.publish(run)
    steps.record(run)
    record = run.area.read_step("record")
    assert record["rows_published"] == record["rows_passed"] > 0
    with pytest.raises(StandardsError, match=WHERE):  # the broken one fails with its file and line
        steps.Run.create(BROKEN, "manual__broken", DAY).dataset


@pytest.mark.slow
def test_airflow_keeps_the_other_dags_active_and_records_the_error(tmp_path: Path) -> None:
    """Through Airflow's own parsing into its metadata DB (`airflow dags reserialize`): the other DAGs are
    parsed again and stay active and triggerable (no import error on their file); the broken dataset's DAG
    is no longer parsed, so the DAG processor marks it stale ([dag_processor] stale_dag_threshold later); so is
    the cross-department profile that joins it, which cannot be built without its input's standard."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    environment |= {"GOVERNANCE_VAR_ROOT": str(tmp_path / "var")}

    def airflow(*args: str, standards: Path = REPO_ROOT / "standards") -> None:
        done = subprocess.run([GOVERNANCE, "airflow", "--", *args], capture_output=True, text=True, timeout=300,
                              env=environment | {"GOVERNANCE_STANDARDS_ROOT": str(standards)})
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    def dags() -> dict[str, tuple]:
        with sqlite3.connect(tmp_path / "var" / "airflow" / "airflow.db") as db:
            return {dag_id: rest for dag_id, *rest in
                    db.execute("SELECT dag_id, is_stale, has_import_errors, last_parsed_time FROM dag")}

    airflow("db", "migrate")
    airflow("dags", "reserialize")
    before = dags()
    airflow("dags", "reserialize", standards=break_medical_institution(tmp_path))
    after = dags()
    with sqlite3.connect(tmp_path / "var" / "airflow" / "airflow.db") as db:
        errors = dict(db.execute("SELECT filename, stacktrace FROM import_error").fetchall())
    for left_out in (BROKEN, "profile__enterprise"):  # not parsed since: the processor deactivates them
        assert after.pop(left_out)[2] == before.pop(left_out)[2]
    assert after and all(after[dag_id][:2] == [0, 0] and after[dag_id][2] > before[dag_id][2] for dag_id in after)
    assert list(errors) == ["standards_problems.py"] and WHERE in errors["standards_problems.py"]


def test_a_suite_that_does_not_parse_disables_its_dataset_only(tmp_path: Path, monkeypatch,
                                                               catalogue: Catalogue) -> None:
    expectations = Path(shutil.copytree(REPO_ROOT / "expectations", tmp_path / "expectations"))
    suite = expectations / "health/medical_institution.json"
    lines = suite.read_text(encoding="utf-8").splitlines()
    at = next(number for number, line in enumerate(lines) if line.rstrip().endswith(","))
    lines[at] = lines[at].rstrip()[:-1]  # a comma lost while editing by hand
    suite.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("GOVERNANCE_EXPECTATIONS_ROOT", str(expectations))
    bag = DagBag(dag_folder=str(DAGS))
    assert BROKEN not in bag.dag_ids
    assert {dataset.dag_id for dataset in catalogue.datasets.values()} - {BROKEN} <= set(bag.dag_ids)
    (error,) = bag.import_errors.values()
    assert f"expectations/health/medical_institution.json:{at + 2}: invalid JSON: Expecting ',' delimiter" in error
