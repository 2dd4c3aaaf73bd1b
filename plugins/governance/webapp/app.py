"""The governance console inside the Airflow UI, behind Airflow's own login and its auth manager.

A plugin's FastAPI app gets no authentication from Airflow, so the app depends on the ``require_user``
dependency the plugin passes in (Airflow's token check: Bearer header or the UI's ``_token`` cookie) and
then asks the auth manager, route by route and link by link, what that user may see (``webapp.authz``):
a dataset's runs, pages and Data Docs need read access to its DAG; a raw quarantine report (and the quarantine
review's rows and downloads) also need the department's raw-rows permission, and every request for one is logged
(``governance.report_view``); lists show only what the user may open. Each validate run's GX Data Docs are
served from ``docs_root``. Pages are Jinja2 templates (``webapp.templating``); a refusal or a failure in a page
is answered with a Chinese page that says whether a retry can help, never a bare 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from governance.fonts import CJK_FONT_FAMILY
from governance.settings import get_settings
from governance.standards.problems import StandardsError
from governance.warehouse.report_views import log_report_view, report_views
from governance.webapp.authz import Access, access_dependency, airflow_auth_manager, current_access
from governance.webapp.dataset_routes import router as dataset_router
from governance.webapp.headers import HEADERS, SecurityHeaders
from governance.webapp.impact_page import router as impact_router
from governance.webapp.oversight_routes import engine
from governance.webapp.oversight_routes import router as oversight_router
from governance.webapp.quarantine_routes import router as quarantine_router
from governance.webapp.runs_routes import router as runs_router
from governance.webapp.templating import STATIC, base_path, message_page, render

log = logging.getLogger(__name__)
_DOCS_SUFFIXES = (".html", ".css", ".ico", ".png", ".svg")
_STATIC = {"console.css": "text/css; charset=utf-8", "icon.svg": "image/svg+xml"}
_TITLES = {400: "请求有误", 401: "请先登录", 403: "无权访问", 404: "未找到"}
AccessDep = Depends(current_access)


def create_app(require_user: Callable[..., Any], auth_manager: Callable[[], Any] = airflow_auth_manager) -> FastAPI:
    """``require_user``: Airflow's ``get_user``; ``auth_manager``: returns Airflow's auth manager (tests pass one)."""
    app = FastAPI(title="Data governance", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(access_dependency(require_user, auth_manager))])
    app.add_middleware(SecurityHeaders)  # CSP, nosniff, no referrer, no cache: webapp/headers.py
    _handle_errors(app)

    @app.get("/", response_class=RedirectResponse)
    def home(request: Request) -> RedirectResponse:
        """The top-level "数据治理" entry of Airflow's menu opens the console on its runs page."""
        return RedirectResponse(f"{base_path(request)}/runs/page", status_code=303)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        """The style sheet (with the platform's CJK font list) and the menu icon; fixed names only."""
        if name not in _STATIC:
            raise HTTPException(status_code=404, detail="no such file")
        body = (STATIC / name).read_text(encoding="utf-8")
        if name == "console.css":
            body = f"body{{font-family:{CJK_FONT_FAMILY}}}\n{body}"
        return Response(body, media_type=_STATIC[name])

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
    def audit_page(request: Request, days: int = Query(30, ge=1, le=366), access: Access = AccessDep) -> HTMLResponse:
        access.require(access.report_views())
        return render(request, "audit.html", active="audit", days=days, rows=_views(days))

    app.include_router(runs_router)
    app.include_router(quarantine_router)  # a department's steward: raw-rows permission for the rows
    app.include_router(dataset_router)
    app.include_router(impact_router)  # the standards owner's page: readers of each dataset's DAG
    app.include_router(oversight_router)  # behind the same app-level login and its own permission check
    return app


def _handle_errors(app: FastAPI) -> None:
    """Pages (a browser asks for HTML) get refusals and failures as Chinese pages; JSON callers get JSON.

    A warehouse that cannot be reached, or standards that do not load, are the platform's failures: the page
    says so and that a retry may help (warehouse) or not (standards, until fixed). Anything else is logged with
    its type only and answered with a page that names no internal detail.
    """

    def wants_html(request: Request) -> bool:
        return "text/html" in request.headers.get("accept", "")

    @app.exception_handler(StarletteHTTPException)  # ours, and the router's own (no such route: 404, 405)
    async def refused(request: Request, error: StarletteHTTPException) -> Response:
        if not wants_html(request):
            return await http_exception_handler(request, error)
        title = _TITLES.get(error.status_code, "请求未完成")
        detail = "您的 Airflow 角色不包含此页面或此部门的数据。如需访问, 请联系本部门的数据管理员申请角色。" \
            if error.status_code == 403 else str(error.detail) if isinstance(error, HTTPException) \
            else "控制台没有这个地址或不支持这种请求, 请检查地址。"
        return message_page(request, error.status_code, f"{title} ({error.status_code})", detail, retry=False)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        if not wants_html(request):
            return await request_validation_exception_handler(request, error)
        fields = "、".join(str(item["loc"][-1]) for item in error.errors())
        return message_page(request, 400, "请求有误 (400)", f"参数 {fields} 的取值无效, 请检查筛选条件。", retry=False)

    @app.exception_handler(sa.exc.SQLAlchemyError)
    async def warehouse_down(request: Request, error: sa.exc.SQLAlchemyError) -> Response:
        log.warning("governance page %s: warehouse error %s", request.url.path, type(error).__name__)
        return _failure(request, 503, "数据仓库暂时无法访问",
                        "读取平台记录的数据仓库暂时无法连接或查询失败, 页面内容无法显示。", retry=True)

    @app.exception_handler(StandardsError)
    async def standards_broken(request: Request, error: StandardsError) -> Response:
        log.warning("governance page %s: standards do not load", request.url.path)
        return _failure(request, 503, "数据标准有误", f"数据标准未能加载, 请标准维护人员修正: {error}", retry=False)

    @app.exception_handler(OSError)
    async def files_unreadable(request: Request, error: OSError) -> Response:
        log.warning("governance page %s: %s", request.url.path, type(error).__name__)
        return _failure(request, 503, "文件暂时无法读取", "页面需要的报告或标准文件暂时无法读取。", retry=True)

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception) -> Response:
        log.exception("governance page %s failed", request.url.path)
        return _failure(request, 500, "页面出错", "页面生成时出错, 已记录在服务器日志中。", retry=False)

    def _failure(request: Request, status: int, title: str, detail: str, *, retry: bool) -> Response:
        if wants_html(request):
            return message_page(request, status, title, detail, retry=retry)
        return JSONResponse({"detail": f"{title}: {detail}", "retry": retry}, status_code=status, headers=HEADERS)


def _inside(folder: Path, relative: str, *named: str) -> Path:
    """``folder / relative``, refused (404) unless it stays inside ``folder``. The permission was asked for the
    department or DAG the URL names (``named``, the segments ``folder`` was built from), so neither they nor
    any part of ``relative`` may be empty, ``.`` or ``..``, and the resolved file must lie under ``folder``."""
    parts = [*named, *relative.split("/")]  # a NUL (ValueError) or an over-long name (OSError) is no such file
    if any(part in ("", ".", "..") or "\\" in part or len(part.encode()) > 255 or min(map(ord, part)) < 32
           for part in parts):
        raise HTTPException(status_code=404, detail="no such file")
    base = folder.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise HTTPException(status_code=404, detail="no such file")
    return target


def _views(days: int) -> list[dict[str, Any]]:
    return report_views(engine(), datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days))


def _log_view(access: Access, department: str, dataset: str, name: str, *, allowed: bool) -> None:
    log_report_view(engine(), viewer=access.name, department=department, dataset=dataset, report=name,
                    allowed=allowed)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
