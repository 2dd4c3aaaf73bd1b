"""Run records and quarantine reports for operators, behind Airflow's own login and its auth manager.

A plugin's FastAPI app gets no authentication from Airflow, so the app depends on the ``require_user``
dependency the plugin passes in (Airflow's token check: Bearer header or the UI's ``_token`` cookie) and
then asks the auth manager, route by route and link by link, what that user may see (``webapp.authz``):
a dataset's runs and Data Docs need read access to its DAG; a raw quarantine report also needs the
department's raw-rows permission, and every request for one is logged (``governance.report_view``);
lists show only what the user may open. Each validate run's GX Data Docs are served from ``docs_root``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse

from governance.settings import get_settings
from governance.validation.data_docs import run_docs_folder
from governance.warehouse import latest_runs
from governance.warehouse.report_views import log_report_view, report_views
from governance.webapp.authz import Access, access_dependency, airflow_auth_manager, current_access
from governance.webapp.headers import SecurityHeaders
from governance.webapp.impact_page import router as impact_router
from governance.webapp.oversight_routes import engine
from governance.webapp.oversight_routes import router as oversight_router

_DOCS_SUFFIXES = (".html", ".css", ".ico", ".png", ".svg")
_COLUMNS = ("dataset_key", "logical_date", "verdict", "rows_received", "rows_passed", "rows_quarantined",
            "rows_published", "duration_s", "standard_version", "suite_version", "message")
_VIEW_COLUMNS = ("at", "viewer", "dataset_key", "report", "decision")
AccessDep = Depends(current_access)


def create_app(require_user: Callable[..., Any], auth_manager: Callable[[], Any] = airflow_auth_manager) -> FastAPI:
    """``require_user``: Airflow's ``get_user``; ``auth_manager``: returns Airflow's auth manager (tests pass one)."""
    app = FastAPI(title="Data governance", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(access_dependency(require_user, auth_manager))])
    app.add_middleware(SecurityHeaders)  # CSP, nosniff, no referrer, no cache: webapp/headers.py

    @app.get("/runs")
    def runs(access: Access = AccessDep) -> list[dict[str, Any]]:
        """The latest run of every dataset the user may read, as recorded by the pipeline's record step."""
        return [{key: _jsonable(value) for key, value in run.items()} for run in _latest_runs(access)]

    @app.get("/runs/page", response_class=HTMLResponse)
    def runs_page(access: Access = AccessDep) -> str:
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(run.get(column) if run.get(column) is not None else ''))}</td>"
                             for column in _COLUMNS)
            + f"<td>{_report_link(run, access)}</td><td>{_docs_link(run)}</td></tr>" for run in _latest_runs(access))
        header = "".join(f"<th>{column}</th>" for column in (*_COLUMNS, "report", "data docs"))
        return (f"<!doctype html><meta charset='utf-8'><title>最近运行 Nightly runs</title>"
                f"<h1>最近运行 / Latest nightly runs</h1><p>{html.escape(access.name)}</p>"
                f"<table border='1' cellpadding='4'><tr>{header}</tr>{rows}</table>")

    @app.get("/reports/{department}/{dataset}/{name}")
    def report(department: str, dataset: str, name: str, access: Access = AccessDep) -> FileResponse:
        """A department's raw quarantine report (CSV or HTML): its raw-rows permission, logged, names checked."""
        if not access.raw_rows(department, f"{department}__{dataset}"):
            _log_view(access, department, dataset, name, allowed=False)
            access.require(False)
        _log_view(access, department, dataset, name, allowed=True)  # every permitted request, found or not
        path = _inside(get_settings().reports_root / department / dataset, name, department, dataset)
        if path.suffix not in (".csv", ".html") or not path.is_file():
            raise HTTPException(status_code=404, detail="no such report")
        return FileResponse(path)

    @app.get("/docs/{dag_id}/{run}/{path:path}")
    def data_docs(dag_id: str, run: str, path: str, access: Access = AccessDep) -> FileResponse:
        """A run's GX Data Docs page or asset, for readers of its DAG; names are checked, never joined blindly."""
        access.require(access.dataset(dag_id))
        target = _inside(get_settings().docs_root / dag_id / run, path or "index.html", dag_id, run)
        if target.suffix not in _DOCS_SUFFIXES or not target.is_file():
            raise HTTPException(status_code=404, detail="no such page")
        return FileResponse(target)

    @app.get("/audit/report-views")
    def audit(days: int = Query(30, ge=1, le=366), access: Access = AccessDep) -> list[dict[str, Any]]:
        """Who opened or was refused which raw report, newest first (security officer)."""
        access.require(access.report_views())
        return [{key: _jsonable(value) for key, value in row.items()} for row in _views(days)]

    @app.get("/audit/report-views/page", response_class=HTMLResponse)
    def audit_page(days: int = Query(30, ge=1, le=366), access: Access = AccessDep) -> str:
        access.require(access.report_views())
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(_jsonable(row[column])))}</td>"
                                        for column in _VIEW_COLUMNS) + "</tr>" for row in _views(days))
        header = "".join(f"<th>{column}</th>" for column in _VIEW_COLUMNS)
        return (f"<!doctype html><meta charset='utf-8'><title>原始报告查看日志 Report views</title>"
                f"<h1>原始隔离报告查看日志 / Raw report views (last {days} days)</h1>"
                f"<table id='report-views' border='1' cellpadding='4'><tr>{header}</tr>{rows}</table>")

    app.include_router(impact_router)  # the standards owner's page: readers of each dataset's DAG
    app.include_router(oversight_router)  # behind the same app-level login and its own permission check
    return app


def _inside(folder: Path, relative: str, *named: str) -> Path:
    """``folder / relative``, refused (404) unless it stays inside ``folder``. The permission was asked for the
    department or DAG the URL names (``named``, the segments ``folder`` was built from), so neither they nor
    any part of ``relative`` may be empty, ``.`` or ``..``, and the resolved file must lie under ``folder``."""
    parts = [*named, *relative.split("/")]
    if any(part in ("", ".", "..") or "\\" in part for part in parts):
        raise HTTPException(status_code=404, detail="no such file")
    base = folder.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise HTTPException(status_code=404, detail="no such file")
    return target


def _latest_runs(access: Access) -> list[dict[str, Any]]:
    return [run for run in latest_runs(engine()) if access.dataset(str(run["dag_id"]))]


def _views(days: int) -> list[dict[str, Any]]:
    return report_views(engine(), datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days))


def _log_view(access: Access, department: str, dataset: str, name: str, *, allowed: bool) -> None:
    log_report_view(engine(), viewer=access.name, department=department, dataset=dataset, report=name,
                    allowed=allowed)


def _report_link(run: dict[str, Any], access: Access) -> str:
    if not run.get("rows_quarantined"):
        return ""
    department, dataset = str(run["dataset_key"]).split("/", 1)
    if not access.raw_rows(department, str(run["dag_id"])):
        return ""
    name = f"quarantine_{run['logical_date']}.html"
    return f"<a href='../reports/{html.escape(department)}/{html.escape(dataset)}/{html.escape(name)}'>report</a>"


def _docs_link(run: dict[str, Any]) -> str:
    """Only runs the user may read are listed, and Data Docs need no more than that."""
    folder = run_docs_folder(get_settings().docs_root, str(run["dag_id"]), str(run["run_id"]))
    if not (folder / "index.html").is_file():
        return ""
    return f"<a href='../docs/{html.escape(folder.parent.name)}/{html.escape(folder.name)}/index.html'>data docs</a>"


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
