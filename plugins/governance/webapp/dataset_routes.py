"""数据集: the catalogue entry of each dataset as a data catalogue shows it, for readers of its DAG.

The standard (elements, grading, masking, sharing type, agreements, update cycle), the suite's rules in plain
Chinese, freshness (both clocks), the quarantined share per rule over the last days, who consumes it (the
sharing API's access log) and the versions of the standard and suite its runs were validated against.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from governance.oversight.clocks import last_publishes, newest_value
from governance.oversight.freshness import Freshness, assess
from governance.settings import get_settings
from governance.standards.models import Dataset
from governance.standards.versions import dataset_versions
from governance.validation.rule_text import explain_rule
from governance.validation.suites import SuiteError, read_suite_json, suite_path
from governance.warehouse import SHARED_SCHEMA, table_name
from governance.warehouse.history import RunFilter, consumers, quality_series, run_history
from governance.warehouse.records import PUBLISHING_VERDICTS
from governance.webapp.authz import Access, current_access
from governance.webapp.console import Standards, load_standards, readable_dataset, run_links
from governance.webapp.oversight_routes import engine
from governance.webapp.quality_chart import quality_chart
from governance.webapp.templating import base_path, render

router = APIRouter(prefix="/datasets", tags=["datasets"])
AccessDep = Depends(current_access)


@router.get("/page", response_class=HTMLResponse)
def catalogue_page(request: Request, access: Access = AccessDep) -> HTMLResponse:
    """The datasets the user may read, with their department, cycle, sharing type and freshness."""
    standards = load_standards()
    readable = [dataset for _, dataset in sorted(standards.catalogue.datasets.items())
                if access.dataset(dataset.dag_id)]
    clocks = _freshness(standards, readable)
    items = [{"dataset": dataset, "department": standards.department_name(dataset.department),
              "freshness": clocks.get(dataset.key)} for dataset in readable]
    return render(request, "datasets.html", active="datasets", items=items, problems=standards.problems)


@router.get("/{department}/{name}/page", response_class=HTMLResponse)
def dataset_page(request: Request, department: str, name: str, access: Access = AccessDep,
                 days: int = Query(30, ge=7, le=366)) -> HTMLResponse:
    standards = load_standards()
    dataset = readable_dataset(standards, access, department, name)
    catalogue = standards.catalogue
    today = datetime.now(ZoneInfo(get_settings().timezone)).date()
    since = today - timedelta(days=days)
    rules, suite_problem = _rules(standards, dataset)
    labels = {text.rule: f"{text.element} · {text.title}" for text in rules}
    series = quality_series(engine(), dataset.key, since)
    for run in series:
        for rule in run.get("quarantined_by_rule") or {}:
            labels.setdefault(rule, explain_rule(catalogue, dataset, rule).title)
    runs, _ = run_history(engine(), [dataset.dag_id], RunFilter(), limit=200, offset=0)
    published = next((run for run in runs if run.get("rows_published") and run.get("verdict") in
                      PUBLISHING_VERDICTS), None)
    base = base_path(request)
    return render(
        request, "dataset.html", active="datasets", dataset=dataset,
        department_name=standards.department_name(department), columns=catalogue.columns(dataset),
        agreements=[agreement for _, agreement in sorted(catalogue.agreements.items())
                    if agreement.dataset == dataset.key],
        consumer_names={key: item.name_zh for key, item in catalogue.departments.items()},
        code_tables=catalogue.code_tables, rules=rules, suite_problem=suite_problem,
        freshness=_freshness(standards, [dataset]).get(dataset.key),
        chart=quality_chart(series, labels, since, today), series=series, labels=labels, days=days,
        consumers=consumers(engine(), dataset.key, datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)),
        current=dataset_versions(catalogue, dataset, suite_path(dataset)), versions=_versions(runs),
        table=f"{SHARED_SCHEMA}.{table_name(dataset)}", published=published,
        published_links=run_links(published, access, base) if published else [],
        latest=runs[0] if runs else None, latest_links=run_links(runs[0], access, base) if runs else [])


def _rules(standards: Standards, dataset: Dataset) -> tuple[list[Any], str]:
    """The suite's rules explained, in suite order; or the problem that keeps the suite from being read."""
    try:
        suite = read_suite_json(suite_path(dataset))
    except SuiteError as error:
        return [], str(error)
    rules = [str(item["meta"]["rule"]) for item in suite.get("expectations") or []
             if isinstance(item, dict) and isinstance(item.get("meta"), dict) and item["meta"].get("rule")]
    return [explain_rule(standards.catalogue, dataset, rule) for rule in rules], ""


def _freshness(standards: Standards, datasets: list[Dataset]) -> dict[str, Freshness]:
    """Both clocks of each dataset now (as the oversight board judges them), one connection for all."""
    settings = get_settings()
    now = datetime.now(UTC)
    board = {}
    with engine().connect() as connection:
        published = last_publishes(connection)
        for dataset in datasets:
            try:
                data_max, note = newest_value(connection, dataset, settings.timezone)
            except sa.exc.SQLAlchemyError as error:  # one unreadable table must not hide the others
                connection.rollback()
                data_max, note = None, f"数据时钟无法读取: {type(error).__name__}"
            board[dataset.key] = assess(dataset, published.get(dataset.key), data_max, now, note=_note(note),
                                        skew_tolerance=timedelta(minutes=settings.freshness_skew_minutes))
    return board


_NOTES = {"no freshness_column in the standard": "标准未指定数据时间列 (freshness_column)",
          "not published yet": "尚未发布到共享库", "published table is empty": "共享库中的表为空"}


def _note(note: str) -> str:
    """The data clock's note in Chinese where it is one of the fixed ones (the others name a column)."""
    if note in _NOTES:
        return _NOTES[note]
    if note.endswith("not in the published table"):
        return f"共享库表中没有数据时间列 ({note})"
    if note.endswith("(masked or generalised?)"):
        return f"数据时间列已脱敏或泛化, 无法读出时间 ({note})"
    return note


def _versions(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each (standard, suite) version pair the runs were validated against, with its first and last business
    date, newest first."""
    seen: dict[tuple[Any, Any], dict[str, Any]] = {}
    for run in runs:  # newest first
        key = (run.get("standard_version"), run.get("suite_version"))
        day: date | None = run.get("logical_date")
        entry = seen.setdefault(key, {"standard_version": key[0], "suite_version": key[1],
                                      "standards_commit": run.get("standards_commit"), "first": day, "last": day,
                                      "runs": 0})
        entry["first"], entry["runs"] = day, entry["runs"] + 1
    return list(seen.values())
