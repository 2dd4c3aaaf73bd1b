"""What a data engineer sees of a dataset DAG in the Airflow UI (issue 15): a Chinese display name, extra
links from validate (quarantine report, Data Docs) and publish (the dataset page) that survive serialization,
a validate log that reads as a short Chinese summary with those links, and Asset events that carry the
verdict and quarantine counts."""

from __future__ import annotations

import datetime
import logging
import shutil
from pathlib import Path
from types import SimpleNamespace

import pendulum
import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization
from governance_demo import write_demo_data

from governance.keys import generate_keyring, keyring_to_json
from governance.orchestration.dataset_dag import build_dataset_dag
from governance.orchestration.task_log import WIDTH
from governance.pipeline import chunked, steps
from governance.settings import get_settings
from governance.standards.catalogue import Catalogue

REPO_ROOT = Path(__file__).resolve().parents[2]
RESIDENTS = "public_security/resident_population"
DAY = datetime.date(2026, 11, 27)


@pytest.fixture(scope="module")
def bag() -> DagBag:
    return DagBag(dag_folder=str(REPO_ROOT / "dags" / "departmental_datasets.py"))


def test_every_dataset_dag_has_a_chinese_display_name(bag: DagBag, catalogue: Catalogue) -> None:
    for dataset in catalogue.datasets.values():
        department = catalogue.departments[dataset.department].name_zh
        assert bag.dags[dataset.dag_id].dag_display_name == f"{dataset.title_zh} ({department})"
    assert bag.dags["health__medical_institution"].dag_display_name == "医疗机构执业登记信息 (省卫生健康委员会)"


def test_extra_links_survive_serialization(bag: DagBag) -> None:
    """Airflow 3.3 keeps an operator's links as name -> XCom key; the task runner pushes each URL at the end."""
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(bag.dags["public_security__resident_population"]))
    assert serialized.get_task("validate").extra_links == ["校验报告 Data Docs", "隔离报告 Quarantine report"]
    assert serialized.get_task("publish").extra_links == ["数据集 Dataset page"]
    assert [type(link).__name__ for link in serialized.get_task("publish").operator_extra_links] == ["XComOperatorLink"]
    assert serialized.get_task("record").extra_links == []


@pytest.fixture
def night(tmp_path: Path, monkeypatch, catalogue: Catalogue) -> steps.Run:
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse.db'}")
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_KEYRING", keyring_to_json(generate_keyring()))
    settings = get_settings()
    write_demo_data(catalogue, settings.landing_root, settings.var_root, DAY, rows=600, defect_share=0.05)
    return steps.Run.create(RESIDENTS, "manual__touches", DAY)


def test_validate_logs_a_chinese_summary_with_links_and_publish_tells_the_asset_the_verdict(
        night: steps.Run, caplog) -> None:
    """The DAG's own validate and publish callables on a real night (chunked, as the DAG runs it)."""
    run = night
    dag = build_dataset_dag(run.catalogue, run.dataset, run.settings)
    context = {"run_id": run.run_id, "params": {"business_date": DAY.isoformat()},
               "logical_date": pendulum.datetime(DAY.year, DAY.month, DAY.day, tz="Asia/Shanghai")}
    steps.pull(run)
    chunks = chunked.plan(run, 250).chunks
    for chunk in chunks:
        chunked.validate_chunk(run, chunk)
    with caplog.at_level(logging.INFO, logger="governance.orchestration.task_log"):
        summary = dag.get_task("validate").python_callable(**context)
    assert dag.get_task("validate").show_return_value_in_logs is False  # no one-line dict in the log
    lines = [record.getMessage() for record in caplog.records if record.name == "governance.orchestration.task_log"]
    quarantined = summary["rows_quarantined"]
    assert quarantined > 0
    assert lines[0] == "校验结果 / verdict: 通过 (部分行已隔离) (passed_with_quarantine)"
    assert lines[1].startswith(f"接收 {summary['rows_received']} 行, 通过 {summary['rows_passed']} 行, "
                               f"隔离 {quarantined} 行")
    top = max(summary["quarantined_by_rule"].items(), key=lambda item: (item[1], [-ord(c) for c in item[0]]))
    assert any(line.strip().startswith(f"{top[1]} 行  {top[0]}: ") for line in lines)
    assert any("主键重复" in line or "身份证号" in line for line in lines)  # reasons in Chinese
    report = f"/governance/reports/public_security/resident_population/quarantine_{DAY.isoformat()}.html"
    at = lines.index("隔离报告 (本部门可见) / quarantine report:")
    assert lines[at + 1] == f"    {report}"
    docs_at = lines.index("校验报告 / Data Docs:")
    assert lines[docs_at + 1].startswith("    /governance/docs/public_security__resident_population/")
    assert all(len(line) <= WIDTH for line in lines if not line.startswith("    /governance/"))
    ti_key = SimpleNamespace(dag_id=dag.dag_id, run_id=run.run_id, task_id="validate", map_index=-1)
    links = {link.name: link.get_link(dag.get_task("validate"), ti_key=ti_key)
             for link in dag.get_task("validate").operator_extra_links}
    assert links["隔离报告 Quarantine report"] == report
    docs = links["校验报告 Data Docs"]
    assert docs.endswith("/index.html") and lines[docs_at + 1] == f"    {docs}"
    assert (Path(summary["data_docs"])).is_file()
    for chunk in chunks:
        chunked.mask_chunk(run, chunk)
    chunked.finish_mask(run)
    events: dict = {}

    class Events(dict):
        def __missing__(self, asset):
            events[asset] = SimpleNamespace()
            return events[asset]

    dag.get_task("publish").python_callable(**context, outlet_events=Events())
    [event] = events.values()
    assert event.extra["verdict"] == "passed_with_quarantine"
    assert event.extra["rows_quarantined"] == quarantined and event.extra["rows_received"] == summary["rows_received"]
    assert event.extra["quarantined_by_rule"] == summary["quarantined_by_rule"]
    assert event.extra["rows"] == summary["rows_passed"]
    (page,) = [link.get_link(dag.get_task("publish"), ti_key=ti_key)
               for link in dag.get_task("publish").operator_extra_links]
    assert page == "/governance/datasets/public_security/resident_population/page"


def test_a_failed_verdict_is_wrapped_and_passes_the_leak_guard(caplog) -> None:
    """Long reasons are split into lines the log view shows whole; nothing that looks like a personal value
    reaches the log, even inside a rule's failure text."""
    from governance.orchestration.task_log import log_validate_summary

    summary = {"rows_received": 10, "rows_passed": 2, "rows_quarantined": 8, "verdict": "failed",
               "quarantined_by_rule": {"id_number.resident_id": 6, "name.not_null": 2, "x.custom_rule": 1},
               "verdict_reasons": ["8 of 10 rows quarantined (80.0%), above the standard's limit of 5%",
                                   "table rule failed: " + "expect_table_columns_to_match_ordered_list " * 4
                                   + "13812345678"],
               "reports": [], "data_docs": None}
    with caplog.at_level(logging.INFO, logger="governance.orchestration.task_log"):
        log_validate_summary("public_security__resident_population", summary)
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == "校验结果 / verdict: 不通过 (failed)"
    assert sum(line.startswith("不通过原因 / reason: ") for line in lines) == 2
    assert any(line.startswith("    ") and "expect_table" in line for line in lines)  # the long one, wrapped
    assert all(len(line) <= WIDTH for line in lines)
    assert "13812345678" not in "\n".join(lines) and any("手机号已隐去" in line for line in lines)
    assert any("必填项为空" in line for line in lines) and any("自定义规则" in line for line in lines)
    assert not any("quarantine report" in line or "Data Docs" in line for line in lines)  # none written


def test_a_data_error_is_logged_wrapped_before_the_task_fails(night: steps.Run, caplog) -> None:
    """A drop with no rows fails the pull at once; its message is logged line by line, no line too long."""
    from airflow.sdk.exceptions import AirflowFailException

    shutil.rmtree(night.settings.landing_root / "public_security" / "resident_population" / DAY.isoformat())
    dag = build_dataset_dag(night.catalogue, night.dataset, night.settings)
    context = {"run_id": night.run_id, "params": {"business_date": DAY.isoformat()},
               "logical_date": pendulum.datetime(DAY.year, DAY.month, DAY.day, tz="Asia/Shanghai")}
    with caplog.at_level(logging.ERROR, logger="governance.orchestration.task_log"), \
            pytest.raises(AirflowFailException) as failed:
        dag.get_task("pull").python_callable(**context)
    lines = [record.getMessage() for record in caplog.records if record.name == "governance.orchestration.task_log"]
    assert lines[0].startswith("任务失败, 重试无效")
    assert " ".join(line.strip() for line in lines[1:]) == " ".join(str(failed.value).split())
    assert all(len(line) <= WIDTH for line in lines if " " in line.strip())
