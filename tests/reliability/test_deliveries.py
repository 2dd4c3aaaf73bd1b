"""Deliveries (issue 19): a drop that shrank, arrived truncated, without its manifest, still being written, late or
after its window is never published wrong, and the department is told why (counts and names, never values).

The pipeline runs as an Airflow worker runs it: the dataset DAG's own task callables (``fault_support.DagTasks``)
in this process, on a demo night in a private var root and a SQLite warehouse.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from fault_support import DagTasks, run_record_of, table_state

from governance.demo import write_demo_data
from governance.masking import generate_keyring, keyring_to_json
from governance.settings import get_settings
from governance.sources.pull import landing_folder

RESIDENTS = "public_security/resident_population"  # snapshot, CSV
DAY_BEFORE, DAY = date(2026, 11, 26), date(2026, 11, 27)


@pytest.fixture
def nights(tmp_path: Path, monkeypatch, catalogue):
    """Demo drops for two nights (no defects), a keyring, a SQLite warehouse: the pipeline's settings."""
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse' / 'warehouse.db'}")
    monkeypatch.setenv("GOVERNANCE_TASK_RETRIES", "0")
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_KEYRING", keyring_to_json(generate_keyring()))
    settings = get_settings()
    for day in (DAY_BEFORE, DAY):
        write_demo_data(catalogue, settings.landing_root, settings.var_root, day, rows=200, defect_share=0.0)
    return settings


def resident_file(settings, day: date) -> Path:
    return next(landing_folder(settings.landing_root, settings_dataset(RESIDENTS), day).glob("*.csv"))


def settings_dataset(key: str):
    from governance.standards.catalogue import load_catalogue

    return load_catalogue(get_settings().standards_root).dataset(key)


def cut_to(path: Path, share: float) -> int:
    """Keep the header and the first ``share`` of the data lines (a cut at a line boundary); returns the rows kept."""
    header, *lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = lines[:int(len(lines) * share)]
    path.write_text(header + "".join(kept), encoding="utf-8")
    return len(kept)


def publish_night_before(tasks: DagTasks) -> int:
    outcome = tasks.run("scheduled__before", DAY_BEFORE)
    assert outcome.failed == [], outcome.tasks
    (rows,) = table_state(RESIDENTS).values()
    return rows


def test_a_shrinking_snapshot_is_held_until_the_department_confirms_it(nights) -> None:
    tasks = DagTasks(RESIDENTS)
    published = publish_night_before(tasks)
    kept = cut_to(resident_file(nights, DAY), 0.7)

    outcome = tasks.run("scheduled__day", DAY)
    assert [task for task, _ in outcome.failed] == ["validate"]  # a data error: no retry, nothing after it
    assert "AirflowFailException" in outcome.failed[0][1] and outcome.callback_errors == []
    assert table_state(RESIDENTS) == {"scheduled__before": published}  # the register is untouched
    record = run_record_of("scheduled__day")
    assert record["verdict"] == "held_for_confirmation" and record["rows_published"] == 0
    assert record["rows_received"] == kept
    assert f"数据量骤减，暂停发布，等待部门确认：本次收到 {kept} 行，上次发布时收到 {published} 行" in record["message"]
    assert "CONFIRM_SHRINK" in record["message"]

    # A confirmation of another count (the department counted before a second cut) releases nothing.
    confirmation = landing_folder(nights.landing_root, settings_dataset(RESIDENTS), DAY) / "CONFIRM_SHRINK"
    confirmation.write_text(str(kept + 1))
    again = tasks.run("scheduled__day", DAY)
    assert [task for task, _ in again.failed] == ["validate"]
    assert f"已收到的确认为 {kept + 1} 行，与本次 {kept} 行不符" in run_record_of("scheduled__day")["message"]

    # The department confirms exactly what it sent: the cleared run publishes the smaller register.
    confirmation.write_text(f"{kept}\n")
    released = tasks.run("scheduled__day", DAY)
    assert released.failed == [], released.tasks
    assert table_state(RESIDENTS) == {"scheduled__day": kept}
    assert run_record_of("scheduled__day")["verdict"] == "passed"


def test_an_operator_confirms_with_the_runs_param(nights, monkeypatch) -> None:
    tasks = DagTasks(RESIDENTS)
    publish_night_before(tasks)
    kept = cut_to(resident_file(nights, DAY), 0.5)
    plain = tasks.context
    monkeypatch.setattr(tasks, "context", lambda run_id, day: plain(run_id, day) | {
        "params": {"business_date": day.isoformat(), "confirm_shrink": kept}})
    assert tasks.run("manual__confirmed", DAY).failed == []
    assert table_state(RESIDENTS) == {"manual__confirmed": kept}
