"""Task extra links in the Airflow UI: validate → its quarantine report and Data Docs, publish → the dataset page.

Airflow 3.3 serializes an operator's links as ``{name: xcom_key}`` and, after the task ends (in every terminal
state), the task runner pushes each link's ``get_link`` result to XCom under that key; the UI reads it back
(``XComOperatorLink``). So the links need no plugin registration, work on serialized DAGs and on every
executor, and are computed where the run's work area is: in the worker. A link with nothing to show (no
quarantined row, no Data Docs yet) is empty, and the UI shows it disabled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import attrs
from airflow.sdk import BaseOperatorLink

PREFIX = "/governance"  # where plugins/governance_plugin.py mounts governance.webapp


def quarantine_report_url(dag_id: str, reports: list[str]) -> str:
    """The department's quarantine report (HTML) of a run, served by governance.webapp (raw-rows permission)."""
    department, dataset = dag_id.split("__", 1)
    html = [Path(report).name for report in reports if report.endswith(".html")]
    return f"{PREFIX}/reports/{quote(department)}/{quote(dataset)}/{quote(html[0])}" if html else ""


def data_docs_url(dag_id: str, data_docs: str | None) -> str:
    """A run's GX Data Docs, served by governance.webapp for readers of the DAG."""
    if not data_docs:
        return ""
    folder = Path(data_docs).parent
    return f"{PREFIX}/docs/{quote(folder.parent.name)}/{quote(folder.name)}/index.html"


def dataset_page_url(dag_id: str) -> str:
    department, dataset = dag_id.split("__", 1)
    return f"{PREFIX}/datasets/{quote(department)}/{quote(dataset)}/page"


def _validate_summary(ti_key: Any) -> dict[str, Any]:
    from governance.pipeline.workarea import WorkArea
    from governance.settings import get_settings

    return WorkArea.for_run(get_settings().work_root, ti_key.dag_id, ti_key.run_id).read_step("validate")


@attrs.define
class QuarantineReportLink(BaseOperatorLink):
    name = "隔离报告 Quarantine report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return quarantine_report_url(ti_key.dag_id, _validate_summary(ti_key).get("reports") or [])


@attrs.define
class DataDocsLink(BaseOperatorLink):
    name = "校验报告 Data Docs"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return data_docs_url(ti_key.dag_id, _validate_summary(ti_key).get("data_docs"))


@attrs.define
class DatasetPageLink(BaseOperatorLink):
    name = "数据集 Dataset page"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return dataset_page_url(ti_key.dag_id)
