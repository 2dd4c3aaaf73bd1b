"""Run records and quarantine reports for operators, behind Airflow's own login.

A plugin's FastAPI app gets no authentication from Airflow, so every route depends on the
``require_user`` dependency the plugin passes in: Airflow's token check (Bearer header or the
UI's ``_token`` cookie). Reports hold a department's raw rows, so they are served only here.
Each validate run's GX Data Docs (counts and rules, no values) are served from ``docs_root``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from governance.settings import get_settings
from governance.validation.data_docs import run_docs_folder
from governance.warehouse import latest_runs, warehouse_engine
from governance.webapp.headers import SecurityHeaders
from governance.webapp.oversight_routes import router as oversight_router

_DOCS_SUFFIXES = (".html", ".css", ".ico", ".png", ".svg")
_COLUMNS = ("dataset_key", "logical_date", "verdict", "rows_received", "rows_passed", "rows_quarantined",
            "rows_published", "duration_s", "message")


def create_app(require_user: Callable[..., Any]) -> FastAPI:
    app = FastAPI(title="Data governance", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(require_user)])
    app.add_middleware(SecurityHeaders)  # CSP, nosniff, no referrer, no cache: webapp/headers.py

    @app.get("/runs")
    def runs() -> list[dict[str, Any]]:
        """The latest run of every dataset, as recorded by the pipeline's record step."""
        return [{key: _jsonable(value) for key, value in run.items()} for run in _latest_runs()]

    @app.get("/runs/page", response_class=HTMLResponse)
    def runs_page() -> str:
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(run.get(column) if run.get(column) is not None else ''))}</td>"
                             for column in _COLUMNS)
            + f"<td>{_report_link(run)}</td><td>{_docs_link(run)}</td></tr>" for run in _latest_runs())
        header = "".join(f"<th>{column}</th>" for column in (*_COLUMNS, "report", "data docs"))
        return (f"<!doctype html><meta charset='utf-8'><title>Nightly runs</title><h1>Latest nightly runs</h1>"
                f"<table border='1' cellpadding='4'><tr>{header}</tr>{rows}</table>")

    @app.get("/reports/{department}/{dataset}/{name}")
    def report(department: str, dataset: str, name: str) -> FileResponse:
        """A department's quarantine report (CSV or HTML); names are checked, never joined blindly."""
        root = get_settings().reports_root.resolve()
        path = (root / department / dataset / name).resolve()
        if not path.is_relative_to(root) or path.suffix not in (".csv", ".html") or not path.is_file():
            raise HTTPException(status_code=404, detail="no such report")
        return FileResponse(path)

    @app.get("/docs/{dag_id}/{run}/{path:path}")
    def data_docs(dag_id: str, run: str, path: str) -> FileResponse:
        """A run's GX Data Docs page or asset; names are checked, never joined blindly."""
        root = get_settings().docs_root.resolve()
        target = (root / dag_id / run / (path or "index.html")).resolve()
        if not target.is_relative_to(root) or target.suffix not in _DOCS_SUFFIXES or not target.is_file():
            raise HTTPException(status_code=404, detail="no such page")
        return FileResponse(target)

    app.include_router(oversight_router)  # behind the same app-level require_user
    return app


def _latest_runs() -> list[dict[str, Any]]:
    return latest_runs(warehouse_engine(get_settings().warehouse_url))


def _report_link(run: dict[str, Any]) -> str:
    if not run.get("rows_quarantined"):
        return ""
    department, dataset = str(run["dataset_key"]).split("/", 1)
    name = f"quarantine_{run['logical_date']}.html"
    return f"<a href='../reports/{html.escape(department)}/{html.escape(dataset)}/{html.escape(name)}'>report</a>"


def _docs_link(run: dict[str, Any]) -> str:
    folder = run_docs_folder(get_settings().docs_root, str(run["dag_id"]), str(run["run_id"]))
    if not (folder / "index.html").is_file():
        return ""
    return f"<a href='../docs/{html.escape(folder.parent.name)}/{html.escape(folder.name)}/index.html'>data docs</a>"


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
