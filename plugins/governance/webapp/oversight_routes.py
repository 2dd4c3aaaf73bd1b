"""Oversight routes: the page shown inside the Airflow UI and the JSON behind it.

The router is included in the app that ``create_app`` guards with Airflow's ``get_user`` for every route,
so nothing here can be reached without a valid Airflow token (header or the UI's ``_token`` cookie); each
route then needs the oversight permission (``Governance oversight``, see ``webapp.authz``): figures,
scorecards and access counts of every department, never a raw row.

When the warehouse cannot be reached or the standards cannot be read, the page answers with a Chinese message
(503, and whether a retry can help) and the JSON with ``{"error", "error_en", "retry", "details"}``, never a bare
500. Standards problems are listed by file and line (they hold no data); warehouse errors only by their type, since
a driver's message can carry the connection's host and user. A dataset whose own standard has problems is left
out (``load_usable_catalogue``): the figures cover the others and the page and JSON name the broken files.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, wraps
from typing import Any

import jinja2
import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from governance.oversight.access import access_figures
from governance.oversight.clocks import freshness_board
from governance.oversight.figures import collect, window
from governance.oversight.page import render_message, render_page
from governance.settings import get_settings
from governance.standards.catalogue import Catalogue, load_usable_catalogue
from governance.standards.problems import Problem, StandardsError
from governance.warehouse import warehouse_engine
from governance.webapp.authz import Access, current_access
from governance.webapp.templating import base_path, navigation


def _oversight_reader(access: Access = Depends(current_access)) -> None:  # noqa: B008
    access.require(access.oversight())


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unavailable:
    """What the oversight figures could not be computed from, in Chinese, with an English fallback."""

    message: str
    english: str
    retry: bool
    details: list[str] = field(default_factory=list)


def explain(error: Exception) -> Unavailable:
    """The reader-facing account of a failure to read the standards or the warehouse."""
    if isinstance(error, StandardsError):
        details = [str(problem) for problem in error.problems[:10]]
        more = len(error.problems) - len(details)
        return Unavailable(
            f"数据标准无法读取({len(error.problems)} 处问题), 监管数据暂时无法计算。"
            "请标准负责人修正下列文件后再刷新本页。",
            "The standards cannot be read; fix the files listed and reload.", retry=False,
            details=details + ([f"……另有 {more} 处问题, 见 governance check"] if more > 0 else []))
    if not isinstance(error, sa.exc.SQLAlchemyError | OSError):
        return Unavailable(f"监管页面内部错误({type(error).__name__}), 已记入服务日志; 请联系平台运维。",
                           f"Internal error ({type(error).__name__}), logged for the platform team.", retry=False)
    return Unavailable(
        f"数据仓库暂时无法访问({type(error).__name__}), 监管数据无法计算。通常是数据库连接中断, 稍后刷新重试; "
        "若持续出现, 请联系平台运维检查数据仓库。",
        f"The warehouse cannot be reached ({type(error).__name__}); retry later.", retry=True)


def degrading(html: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Answer a failure to read the standards or the warehouse with a message (503), any other failure with one
    too (500, logged with its traceback): never a bare 500."""
    def decorate(route: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(route)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return route(*args, **kwargs)
            except HTTPException:
                raise
            except Exception as error:
                problem = explain(error)
                expected = isinstance(error, StandardsError | sa.exc.SQLAlchemyError | OSError)
                if expected:
                    log.warning("oversight %s unavailable: %s", route.__name__, problem.english)
                else:
                    log.exception("oversight %s failed", route.__name__)
                status = 503 if expected else 500
                if html:
                    return HTMLResponse(render_message("数据治理监管: 暂时无法显示", problem.message,
                                                       details=problem.details, retry=problem.retry),
                                        status_code=status)
                return JSONResponse({"error": problem.message, "error_en": problem.english, "retry": problem.retry,
                                     "details": problem.details}, status_code=status)
        return wrapper
    return decorate


router = APIRouter(prefix="/oversight", tags=["oversight"], dependencies=[Depends(_oversight_reader)])
Days = Query(30, ge=1, le=366, description="window in days, ending now")


@router.get("/freshness")
@degrading(html=False)
def freshness() -> list[dict[str, Any]]:
    """Every catalogue dataset's freshness now: status, both clocks, thresholds."""
    return [item.as_dict() for item in freshness_board(engine(), _catalogue(), settings=get_settings())]


@router.get("/scorecards")
@degrading(html=False)
def scorecards(days: int = Days) -> dict[str, Any]:
    """Quality scorecards per dataset and department, the daily trend per department, the headline figures."""
    since, until = window(days)
    catalogue = _catalogue()
    oversight = collect(engine(), catalogue, since, until, settings=get_settings())
    return {"since": since.isoformat(), "until": until.isoformat(),
            "headline": oversight.headline.as_dict(), "scorecards": [card.as_dict() for card in oversight.cards],
            "trend": oversight.trend, "incidents": oversight.incidents, **_problems_field(catalogue)}


@router.get("/access")
@degrading(html=False)
def access(days: int = Days) -> dict[str, Any]:
    """Calls, rows served, consumers, refusals per dataset and day (zeros before the first logged call)."""
    since, until = window(days)
    settings = get_settings()
    catalogue = _catalogue()
    with engine().connect() as connection:
        figures = access_figures(connection, catalogue.datasets, since, until, settings.timezone)
    return {**figures.as_dict(), **_problems_field(catalogue)}


@router.get("/page", response_class=HTMLResponse)
@degrading(html=True)
def page(request: Request, days: int = Days) -> str:
    """The oversight page with the console's navigation on top (the bulletin, a file, has none)."""
    since, until = window(days)
    nav = [(label, f"{base_path(request)}{path}", key == "oversight")
           for key, label, path in navigation(getattr(request.state, "governance_access", None))]
    catalogue = _catalogue()
    html = render_page(collect(engine(), catalogue, since, until, settings=get_settings()), nav=nav)
    problems = _problems(catalogue)
    if not problems:
        return html
    body = re.search(r"<body[^>]*>", html)
    at = body.end() if body else 0
    return html[:at] + _LEFT_OUT_NOTICE.render(message=_LEFT_OUT, problems=problems) + html[at:]


def engine() -> sa.Engine:
    return _engine_for(get_settings().warehouse_url)


@lru_cache(maxsize=4)
def _engine_for(url: str) -> sa.Engine:
    """One engine (and pool) per warehouse URL for the life of the api-server, not one per request."""
    return warehouse_engine(url)


def _catalogue() -> Catalogue:
    """The datasets whose own standards files are sound; problems in shared files raise (a 503 above)."""
    return load_usable_catalogue(get_settings().standards_root)


_LEFT_OUT = "以下数据标准文件有错误, 相应数据集已停用, 未计入下列数字; 其他数据集照常统计"
_LEFT_OUT_NOTICE = jinja2.Environment(autoescape=True).from_string(
    "<section role=\"alert\" id=\"standards-problems\"><p><strong>{{ message }}</strong></p><ul>"
    "{% for problem in problems %}<li>{{ problem.file }}{% if problem.line %} 第 {{ problem.line }} 行{% endif %}"
    "{% if problem.path %} ({{ problem.path }}){% endif %}: {{ problem.message }} [{{ problem.rule }}]</li>"
    "{% endfor %}</ul></section>")


def _problems(catalogue: Catalogue) -> list[Problem]:
    return [problem for problems in catalogue.broken.values() for problem in problems]


def _problems_field(catalogue: Catalogue) -> dict[str, Any]:
    problems = _problems(catalogue)
    return {"standards_problems": {"message": _LEFT_OUT, "problems": [str(problem) for problem in problems]}} \
        if problems else {}
