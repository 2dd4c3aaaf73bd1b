"""Deliveries (issue 19): a drop that shrank, arrived truncated, without its manifest, still being written, late or
after its window is never published wrong, and the department is told why (counts and names, never values).

The pipeline runs as an Airflow worker runs it: the dataset DAG's own task callables (``fault_support.DagTasks``)
in this process, on a demo night in a private var root and a SQLite warehouse.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from delivery_support import DAY, DAY_BEFORE, RESIDENTS, demo_nights, resident_file, settings_dataset
from fault_support import DagTasks, run_record_of, table_state

from governance.sources.delivery import MANIFEST_NAME, Manifest, write_manifest
from governance.sources.pull import landing_folder


@pytest.fixture
def nights(tmp_path: Path, monkeypatch, catalogue):
    return demo_nights(tmp_path, monkeypatch, catalogue)


def cut_to(path: Path, share: float, *, manifest: bool = True) -> int:
    """Keep the header and the first ``share`` of the data lines (a cut at a line boundary); returns the rows kept.
    ``manifest``: the department's export itself was smaller, so it wrote a manifest for what it sent."""
    header, *lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = lines[:int(len(lines) * share)]
    path.write_text(header + "".join(kept), encoding="utf-8")
    if manifest:
        write_manifest(path.parent, settings_dataset(RESIDENTS), date.fromisoformat(path.parent.name), "人口管理系统")
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


# ----------------------------------------------------------------------------------------------------------------
# The delivery protocol: the pull verifies the manifest before reading a row
# ----------------------------------------------------------------------------------------------------------------

def refused_at_pull(tasks: DagTasks, run_id: str, *expected: str) -> str:
    """The run stops at pull (a data error: no retry), publishes nothing, and its record tells the department."""
    outcome = tasks.run(run_id, DAY)
    assert [task for task, _ in outcome.failed] == ["pull"], outcome.tasks
    assert "AirflowFailException" in outcome.failed[0][1] and outcome.callback_errors == []
    record = run_record_of(run_id)
    assert record["verdict"] == "failed" and record["rows_published"] == 0
    for part in expected:
        assert part in record["message"], record["message"]
    return record["message"]


def test_a_truncated_file_with_its_manifest_is_refused_naming_file_and_figures(nights) -> None:
    tasks = DagTasks(RESIDENTS)
    published = publish_night_before(tasks)
    path = resident_file(nights, DAY)
    entry = Manifest.read(path.parent / MANIFEST_NAME).files[0]
    cut_to(path, 0.7, manifest=False)  # the upload broke off; the manifest was written by the export
    message = refused_at_pull(tasks, "scheduled__cut", "交付与清单不符", path.name,
                              f"size expected {entry.size}, found {path.stat().st_size}", "truncated",
                              f"请重新报送 Please resend: {path.name}")
    assert "110101" not in message and "张" not in message  # counts and names only
    assert table_state(RESIDENTS) == {"scheduled__before": published}


def test_a_changed_file_of_the_same_size_is_refused_by_its_hash(nights) -> None:
    tasks = DagTasks(RESIDENTS)
    path = resident_file(nights, DAY)
    entry = Manifest.read(path.parent / MANIFEST_NAME).files[0]
    data = bytearray(path.read_bytes())
    data[-3] = ord("0") if data[-3] != ord("0") else ord("1")  # one digit of the last timestamp
    path.write_bytes(bytes(data))
    refused_at_pull(tasks, "scheduled__hash", f"SHA-256 expected {entry.sha256}, found ", path.name)
    assert table_state(RESIDENTS) == {}


def test_a_missing_manifest_is_refused_and_says_to_write_it_last(nights) -> None:
    tasks = DagTasks(RESIDENTS)
    (resident_file(nights, DAY).parent / MANIFEST_NAME).unlink()
    refused_at_pull(tasks, "scheduled__nomanifest", "未收到交付清单 MANIFEST.json", "1 个数据文件",
                    "Write the manifest last")
    assert table_state(RESIDENTS) == {}


def test_a_manifest_whose_row_count_is_wrong_is_refused_before_anything_lands(nights) -> None:
    tasks = DagTasks(RESIDENTS)
    path = resident_file(nights, DAY)
    manifest = Manifest.read(path.parent / MANIFEST_NAME)
    (entry,) = manifest.files
    rewritten = manifest.to_json().replace(f'"rows": {entry.rows}', f'"rows": {entry.rows + 5}')
    (path.parent / MANIFEST_NAME).write_text(rewritten, encoding="utf-8")
    refused_at_pull(tasks, "scheduled__rows", f"{path.name}: 行数 rows expected {entry.rows + 5}, found {entry.rows}")
    assert table_state(RESIDENTS) == {}


def test_a_file_still_being_written_is_not_read_and_the_completed_drop_is(nights) -> None:
    """The department's upload is under way when the run starts: no manifest yet (it is written last)."""
    tasks = DagTasks(RESIDENTS)
    path = resident_file(nights, DAY)
    whole = path.read_bytes()
    (path.parent / MANIFEST_NAME).unlink()
    path.write_bytes(whole[:len(whole) // 3])
    refused_at_pull(tasks, "scheduled__writing", "未收到交付清单", "nothing was read or published")
    path.write_bytes(whole)
    write_manifest(path.parent, settings_dataset(RESIDENTS), DAY, "人口管理系统")
    assert tasks.run("scheduled__writing", DAY).failed == []  # the cleared run completes
    assert sum(table_state(RESIDENTS).values()) == Manifest.read(path.parent / MANIFEST_NAME).files[0].rows


def test_a_quiet_period_standard_waits_for_the_folder_to_settle(nights, tmp_path, monkeypatch) -> None:
    """A department that cannot write manifests: its standard declares 30 quiet minutes instead."""
    import os
    import shutil
    import time

    from fault_support import REPO_ROOT

    standards = tmp_path / "standards"
    shutil.copytree(REPO_ROOT / "standards", standards)
    yaml = standards / "datasets" / "public_security" / "resident_population.yaml"
    yaml.write_text(yaml.read_text(encoding="utf-8").replace(
        "  quality:\n", "  delivery: {completeness: quiet_period, quiet_minutes: 30}\n  quality:\n"), encoding="utf-8")
    monkeypatch.setenv("GOVERNANCE_STANDARDS_ROOT", str(standards))
    tasks = DagTasks(RESIDENTS)
    path = resident_file(nights, DAY)
    (path.parent / MANIFEST_NAME).unlink()
    refused_at_pull(tasks, "scheduled__quiet", "标准要求静默 30 分钟", "files may still be being written")
    settled = time.time() - 31 * 60
    for item in (path, path.parent):
        os.utime(item, (settled, settled))
    assert tasks.run("scheduled__quiet", DAY).failed == []
    assert sum(table_state(RESIDENTS).values()) > 0


def test_governance_delivery_manifest_writes_what_the_pull_verifies(tmp_path, catalogue, capsys) -> None:
    """The command departments' scripts call after their last file: names, sizes, rows and SHA-256."""
    import hashlib

    from governance.cli import main
    from governance.sources import pull_dataset

    dataset = catalogue.dataset(RESIDENTS)
    folder = landing_folder(tmp_path / "landing", dataset, DAY)
    folder.mkdir(parents=True)
    body = ("id_number,name,gender,birth_date,ethnicity,region_code,address,mobile,updated_at\n"
            + "11010119900307451X,测试,1,1990-03-07,01,110101,某地,13900000001,2026-11-27 08:00:00\n" * 3)
    (folder / "drop.csv").write_text(body, encoding="utf-8")
    assert main(["delivery", "manifest", str(folder), "--system", "人口管理系统"]) == 0
    manifest = Manifest.read(folder / MANIFEST_NAME)
    assert (manifest.dataset, manifest.business_date, manifest.exporting_system) == (RESIDENTS, "2026-11-27",
                                                                                     "人口管理系统")
    assert [(entry.name, entry.size, entry.rows, entry.sha256) for entry in manifest.files] == [
        ("drop.csv", len(body.encode()), 3, hashlib.sha256(body.encode()).hexdigest())]
    assert "drop.csv" in capsys.readouterr().out
    assert pull_dataset(dataset, landing_root=tmp_path / "landing", day=DAY, target=tmp_path / "r.parquet").rows == 3


@pytest.mark.parametrize(("delivery", "problem"), [
    ({"completeness": "quiet_period"}, "needs quiet_minutes"),
    ({"quiet_minutes": 30}, "quiet_minutes only applies to completeness: quiet_period"),
    ({"expected_by": "07:00", "wait_until": "06:00"}, "wait_until must not be earlier than expected_by"),
    ({"expected_by": 90}, 'write the time quoted, as "HH:MM"'),
])
def test_the_standard_always_says_how_a_delivery_completes(delivery: dict, problem: str) -> None:
    from governance.standards.models import Delivery

    with pytest.raises(ValueError, match=problem):
        Delivery.model_validate(delivery)
