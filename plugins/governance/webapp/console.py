"""What every console page needs: the standards as far as they load, the warehouse, links into Airflow.

The console reads the standards on each request (a few small files) and keeps every dataset whose own file and
elements are sound: a typo in one dataset's standard takes that dataset off the console pages, named with its
file and line, and leaves the others working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import HTTPException

from governance.settings import get_settings
from governance.standards.catalogue import Catalogue, check_catalogue
from governance.standards.models import Dataset
from governance.validation.data_docs import run_docs_folder
from governance.webapp.authz import Access


@dataclass
class Standards:
    catalogue: Catalogue
    problems: list[str] = field(default_factory=list)  # "file:line path: message" of what did not load

    def title(self, dataset_key: str) -> str:
        dataset = self.catalogue.datasets.get(dataset_key)
        return dataset.title_zh if dataset else dataset_key

    def department_name(self, key: str) -> str:
        department = self.catalogue.departments.get(key)
        return department.name_zh if department else key


def load_standards() -> Standards:
    """The catalogue without the datasets its problems concern (their file, or an element they use, is broken)."""
    catalogue, problems = check_catalogue(get_settings().standards_root)
    broken_files = {problem.file for problem in problems}
    usable = {}
    for key, dataset in catalogue.datasets.items():
        own_file = f"datasets/{dataset.department}/{dataset.name}.yaml"
        if own_file in broken_files or any(column.element not in catalogue.elements for column in dataset.columns):
            continue
        usable[key] = dataset
    catalogue.datasets = usable
    return Standards(catalogue, [_describe(problem) for problem in problems])


def _describe(problem: Any) -> str:
    where = f"{problem.file}:{problem.line}" if problem.line else problem.file
    return f"{where} {problem.path}: {problem.message}".replace("  ", " ")


def readable_dataset(standards: Standards, access: Access, department: str, name: str) -> Dataset:
    """The dataset the URL names, if its standard loads and the user may read its DAG (404 / 403 otherwise)."""
    dataset = standards.catalogue.datasets.get(f"{department}/{name}")
    if dataset is None:
        raise HTTPException(status_code=404, detail=f"没有数据集 {department}/{name}, 或其数据标准有误暂不可用")
    access.require(access.dataset(dataset.dag_id))
    return dataset


def airflow_run(dag_id: str, run_id: str, task_id: str | None = None) -> str:
    """The run (or one task of it, whose page shows its log) in Airflow's own UI, opened in the top window."""
    path = f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    return f"{path}/tasks/{quote(task_id, safe='')}" if task_id else path


def run_links(run: dict[str, Any], access: Access, base: str) -> list[tuple[str, str, bool]]:
    """(label, href, opens in the top window) for one run: Airflow run, task logs, report, Data Docs, dataset."""
    dag_id, run_id = str(run["dag_id"]), str(run["run_id"])
    links = [("Airflow 运行", airflow_run(dag_id, run_id), True),
             ("校验日志", airflow_run(dag_id, run_id, "validate"), True),
             ("发布日志", airflow_run(dag_id, run_id, "publish"), True)]
    report = quarantine_report(run, access, base)
    if report:
        links.append(("隔离报告", report, False))
    if run.get("rows_quarantined") and run.get("logical_date"):
        that_day = query_string({"since": run["logical_date"], "until": run["logical_date"]})
        links.append(("隔离审核", f"{base}/quarantine/{run['dataset_key']}/page{that_day}", False))
    folder = run_docs_folder(get_settings().docs_root, dag_id, run_id)
    if (folder / "index.html").is_file():
        links.append(("Data Docs", f"{base}/docs/{quote(folder.parent.name)}/{quote(folder.name)}/index.html", False))
    if run.get("published_table") and run.get("rows_published"):
        links.append(("发布表", f"{base}/datasets/{run['dataset_key']}/page#published", False))
    return links


def quarantine_report(run: dict[str, Any], access: Access, base: str) -> str:
    """The raw quarantine report of the run's business date, where there is one, for the department's raw-rows
    readers only."""
    if not run.get("rows_quarantined") or not run.get("logical_date"):
        return ""
    department, dataset = str(run["dataset_key"]).split("/", 1)
    name = f"quarantine_{run['logical_date']}.html"
    if not access.raw_rows(department, str(run["dag_id"])) or not (
            get_settings().reports_root / department / dataset / name).is_file():
        return ""
    return f"{base}/reports/{quote(department)}/{quote(dataset)}/{name}"


def query_string(values: dict[str, Any]) -> str:
    """``?a=1&b=2`` of the values that are set (dates as ISO), for filter and page links."""
    pairs = {key: value.isoformat() if isinstance(value, date) else value for key, value in values.items()
             if value not in (None, "")}
    return "?" + urlencode(pairs) if pairs else ""
