"""Oversight routes: the page shown inside the Airflow UI and the JSON behind it.

The router is included in the app that ``create_app`` guards with Airflow's ``get_user`` for every route,
so nothing here can be reached without a valid Airflow token (header or the UI's ``_token`` cookie); each
route then needs the oversight permission (``Governance oversight``, see ``webapp.authz``): figures,
scorecards and access counts of every department, never a raw row.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from governance.oversight.access import access_figures
from governance.oversight.clocks import freshness_board
from governance.oversight.figures import collect, window
from governance.oversight.page import render_page
from governance.settings import get_settings
from governance.standards.catalogue import Catalogue, load_catalogue
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
    oversight = collect(engine(), _catalogue(), since, until, settings=get_settings())
    return {"since": since.isoformat(), "until": until.isoformat(),
            "headline": oversight.headline.as_dict(), "scorecards": [card.as_dict() for card in oversight.cards],
            "trend": oversight.trend}


@router.get("/access")
def access(days: int = Days) -> dict[str, Any]:
    """Calls, rows served, consumers, refusals per dataset and day (zeros before the first logged call)."""
    since, until = window(days)
    settings = get_settings()
    with engine().connect() as connection:
        figures = access_figures(connection, _catalogue().datasets, since, until, settings.timezone)
    return figures.as_dict()


@router.get("/page", response_class=HTMLResponse)
def page(days: int = Days) -> str:
    since, until = window(days)
    return render_page(collect(engine(), _catalogue(), since, until, settings=get_settings()))


def engine() -> sa.Engine:
    return _engine_for(get_settings().warehouse_url)


@lru_cache(maxsize=4)
def _engine_for(url: str) -> sa.Engine:
    """One engine (and pool) per warehouse URL for the life of the api-server, not one per request."""
    return warehouse_engine(url)


def _catalogue() -> Catalogue:
    return load_catalogue(get_settings().standards_root)
