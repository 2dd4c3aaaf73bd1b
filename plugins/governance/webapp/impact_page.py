"""The standards owner's page: what a proposed suite would do to the last nights' real deliveries.

``governance suites impact`` (run where the landing folder is readable) keeps its latest report per dataset
(``validation.impact_reports``); this page shows the reports of the datasets the user may read (read access
to the dataset's DAG, as for its runs). Examples in a report are masked as ``suites preview`` masks them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from governance.settings import get_settings
from governance.validation.impact_reports import impact_folder, saved_reports
from governance.webapp.authz import Access, current_access
from governance.webapp.templating import render

router = APIRouter(prefix="/impact", tags=["standards"])
AccessDep = Depends(current_access)

@router.get("")
def impact_reports(access: Access = AccessDep) -> dict[str, Any]:
    """The latest impact report of every dataset the user may read, by DAG id."""
    return _readable(access)


@router.get("/page", response_class=HTMLResponse)
def impact_page(request: Request, access: Access = AccessDep) -> HTMLResponse:
    return render(request, "impact.html", active="impact", reports=sorted(_readable(access).items()))


def _readable(access: Access) -> dict[str, Any]:
    return {dag_id: report for dag_id, report in saved_reports(impact_folder(get_settings())).items()
            if access.dataset(dag_id)}
