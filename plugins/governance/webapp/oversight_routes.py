"""Oversight routes: the page shown inside the Airflow UI and the JSON behind it.

The router is included in the app that ``create_app`` guards with Airflow's ``get_user`` for every route,
so nothing here can be reached without a valid Airflow token (header or the UI's ``_token`` cookie); each
route then needs the oversight permission (``Governance oversight``, see ``webapp.authz``): figures,
scorecards and access counts of every department, never a raw row.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import jinja2
import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse

from governance.oversight.access import access_figures
from governance.oversight.clocks import freshness_board
from governance.oversight.figures import collect, window
from governance.oversight.page import render_page
from governance.settings import get_settings
from governance.standards.catalogue import Catalogue, load_usable_catalogue
from governance.standards.problems import Problem, StandardsError
from governance.warehouse import warehouse_engine
from governance.webapp.authz import Access, current_access


def _oversight_reader(access: Access = Depends(current_access)) -> None:  # noqa: B008
    access.require(access.oversight())


router = APIRouter(prefix="/oversight", tags=["oversight"], dependencies=[Depends(_oversight_reader)])
Days = Query(30, ge=1, le=366, description="window in days, ending now")


@router.get("/freshness")
def freshness() -> list[dict[str, Any]]:
    """Every catalogue dataset's freshness now: status, both clocks, thresholds."""
    return [item.as_dict() for item in freshness_board(engine(), _catalogue(), settings=get_settings())]


@router.get("/scorecards")
def scorecards(days: int = Days) -> dict[str, Any]:
    """Quality scorecards per dataset and department, the daily trend per department, the headline figures."""
    since, until = window(days)
    catalogue = _catalogue()
    oversight = collect(engine(), catalogue, since, until, settings=get_settings())
    return {"since": since.isoformat(), "until": until.isoformat(), **_problems_field(catalogue),
            "headline": oversight.headline.as_dict(), "scorecards": [card.as_dict() for card in oversight.cards],
            "trend": oversight.trend}


@router.get("/access")
def access(days: int = Days) -> dict[str, Any]:
    """Calls, rows served, consumers, refusals per dataset and day (zeros before the first logged call)."""
    since, until = window(days)
    settings = get_settings()
    catalogue = _catalogue()
    with engine().connect() as connection:
        figures = access_figures(connection, catalogue.datasets, since, until, settings.timezone)
    return {**figures.as_dict(), **_problems_field(catalogue)}


@router.get("/page", response_class=HTMLResponse)
def page(days: int = Days) -> HTMLResponse:
    since, until = window(days)
    try:
        catalogue = _catalogue()
    except StandardsUnusable as unusable:
        return HTMLResponse(_NOTICE.render(title=_UNUSABLE, problems=unusable.problems), status_code=503)
    html = render_page(collect(engine(), catalogue, since, until, settings=get_settings()))
    problems = _problems(catalogue)
    if not problems:
        return HTMLResponse(html)
    notice = _NOTICE.render(title=_LEFT_OUT, problems=problems, fragment=True)
    body = re.search(r"<body[^>]*>", html)
    at = body.end() if body else 0
    return HTMLResponse(html[:at] + notice + html[at:])


def engine() -> sa.Engine:
    return _engine_for(get_settings().warehouse_url)


@lru_cache(maxsize=4)
def _engine_for(url: str) -> sa.Engine:
    """One engine (and pool) per warehouse URL for the life of the api-server, not one per request."""
    return warehouse_engine(url)


# A standard with problems degrades the page to a clear message, never a bare 500 (issue 15).
_LEFT_OUT = "以下数据标准文件有错误, 相应数据集已停用, 未计入下列数字; 其他数据集照常统计"
_UNUSABLE = "数据标准有错误 (部门、数据元或代码表), 暂时无法统计; 请标准负责人运行 governance standards check 并修正"
_NOTICE = jinja2.Environment(autoescape=True).from_string(
    "{% if not fragment %}<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
    "<title>数据治理监管 Oversight</title></head><body>{% endif %}"
    "<section role=\"alert\" id=\"standards-problems\"><p><strong>{{ title }}</strong></p><ul>"
    "{% for problem in problems %}<li>{{ problem.file }}{% if problem.line %} 第 {{ problem.line }} 行{% endif %}"
    "{% if problem.path %} ({{ problem.path }}){% endif %}: {{ problem.message }} [{{ problem.rule }}]</li>"
    "{% endfor %}</ul></section>{% if not fragment %}</body></html>{% endif %}")


class StandardsUnusable(HTTPException):
    """503 with the problems: shared standards files (departments, elements, code tables) have problems."""

    def __init__(self, error: StandardsError):
        super().__init__(status_code=503, detail={
            "message": _UNUSABLE, "retry": "修正标准文件后重试 / retry once the standards pass the check",
            "standards_problems": [str(problem) for problem in error.problems]})
        self.problems = error.problems


def _catalogue() -> Catalogue:
    """The datasets whose standards are sound (``load_usable_catalogue``)."""
    try:
        return load_usable_catalogue(get_settings().standards_root)
    except StandardsError as error:
        raise StandardsUnusable(error) from error


def _problems(catalogue: Catalogue) -> list[Problem]:
    return [problem for problems in catalogue.broken.values() for problem in problems]


def _problems_field(catalogue: Catalogue) -> dict[str, Any]:
    problems = _problems(catalogue)
    return {"standards_problems": {"message": _LEFT_OUT, "problems": [str(problem) for problem in problems]}} \
        if problems else {}
