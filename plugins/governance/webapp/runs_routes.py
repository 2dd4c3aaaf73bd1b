"""运行记录: every dataset's runs, the latest attempt beside the last good publish, and the history with filters.

Only datasets whose DAG the user may read are listed (``Access.dataset``); the raw quarantine report link only
for the department's raw-rows readers. ``/runs`` is the same as JSON.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from governance.warehouse import latest_runs
from governance.warehouse.history import RunFilter, recorded_dag_ids, run_history
from governance.webapp.authz import Access, current_access
from governance.webapp.console import load_standards, query_string, run_links
from governance.webapp.oversight_routes import engine
from governance.webapp.templating import VERDICTS, base_path, render

router = APIRouter(tags=["runs"])
AccessDep = Depends(current_access)
PAGE_SIZE = 50
MAX_PAGE = 100_000  # an offset past any database integer is bad input (400), not a warehouse failure


def parse_day(value: str | None, label: str) -> date | None:
    """An optional ``YYYY-MM-DD`` from a filter form (empty: no filter); anything else is a clear 400."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(status_code=400, detail=f"{label}应为 YYYY-MM-DD 格式的日期, 收到的不是") from None


def parse_text(value: str | None, label: str) -> str | None:
    """An optional text filter; a control character (a NUL PostgreSQL refuses) is a clear 400, not a 503."""
    if value and any(ord(character) < 32 for character in value):
        raise HTTPException(status_code=400, detail=f"{label}含有控制字符, 请检查筛选条件")
    return value or None


def run_filter(department: str | None, dataset: str | None, since: str | None, until: str | None,
               verdict: str | None) -> RunFilter:
    if verdict and verdict not in VERDICTS:
        raise HTTPException(status_code=400, detail=f"结论只能是 {', '.join(VERDICTS)} 之一")
    return RunFilter(department=parse_text(department, "部门"), dataset_key=parse_text(dataset, "数据集"),
                     since=parse_day(since, "起始业务日期"), until=parse_day(until, "截止业务日期"),
                     verdict=verdict or None)


@router.get("/runs")
def runs(access: Access = AccessDep, department: str | None = None, dataset: str | None = None,
         since: str | None = None, until: str | None = None, verdict: str | None = None,
         page: int = Query(1, ge=1, le=MAX_PAGE), size: int = Query(PAGE_SIZE, ge=1, le=500)) -> list[dict[str, Any]]:
    """Without filters: the latest attempt of every dataset the user may read, each with ``last_published``
    (the latest run that published, when that is another run). With any filter (department, dataset,
    business date range ``since``/``until``, verdict): the matching runs, newest first, ``size`` a page."""
    where = run_filter(department, dataset, since, until, verdict)
    if where == RunFilter() and page == 1 and size == PAGE_SIZE:
        return [_json(run) for run in _latest(access)]
    rows, _ = run_history(engine(), _readable_dags(access), where, limit=size, offset=(page - 1) * size)
    return [_json(run) for run in rows]


@router.get("/runs/page", response_class=HTMLResponse)
def runs_page(request: Request, access: Access = AccessDep, department: str | None = None,
              dataset: str | None = None, since: str | None = None, until: str | None = None,
              verdict: str | None = None, page: int = Query(1, ge=1, le=MAX_PAGE)) -> HTMLResponse:
    where = run_filter(department, dataset, since, until, verdict)
    standards = load_standards()
    base = base_path(request)
    readable = _readable_dags(access)
    rows, total = run_history(engine(), readable, where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    latest = []
    for run in _latest(access):
        good = run["last_published"]
        latest.append({"run": run, "title": standards.title(run["dataset_key"]), "links": run_links(run, access, base),
                       "good": {"run": good, "links": run_links(good, access, base)} if good else None})
    readable_keys = sorted(key for key, item in standards.catalogue.datasets.items() if access.dataset(item.dag_id))
    filters = {"department": where.department, "dataset": where.dataset_key, "since": where.since,
               "until": where.until, "verdict": where.verdict}
    return render(request, "runs.html", active="runs", latest=latest, problems=standards.problems,
                  history=[{"run": run, "title": standards.title(run["dataset_key"]),
                            "links": run_links(run, access, base)} for run in rows],
                  total=total, page=page, pages=max(1, -(-total // PAGE_SIZE)),
                  pager=lambda number: query_string({**filters, "page": number}), filters=where,
                  departments=sorted({(key.split("/")[0], standards.department_name(key.split("/")[0]))
                                      for key in readable_keys}),
                  datasets=[(key, standards.title(key)) for key in readable_keys])


def _readable_dags(access: Access) -> list[str]:
    return [dag_id for dag_id in recorded_dag_ids(engine()) if access.dataset(dag_id)]


def _latest(access: Access) -> list[dict[str, Any]]:
    return [run for run in latest_runs(engine()) if access.dataset(str(run["dag_id"]))]


def _json(run: dict[str, Any]) -> dict[str, Any]:
    return {key: _json(value) if isinstance(value, dict) and key == "last_published" else
            value.isoformat() if hasattr(value, "isoformat") else value for key, value in run.items()}
