"""Authorization of the /governance pages: every question goes to Airflow's auth manager.

* A dataset's runs and Data Docs: read access to its DAG's runs (``is_authorized_dag`` with
  ``DagAccessEntity.RUN`` on ``<department>__<dataset>``), so FAB's per-DAG ``access_control`` scopes it.
* A raw quarantine report: the same, plus the custom resource ``Governance raw rows: <department>``.
* The oversight figures: the custom resource ``Governance oversight``; the report-view audit:
  ``Governance report views`` (``is_authorized_custom_view``).

The simple auth manager of ``make airflow`` answers every custom view "yes" for every role and has no
per-DAG scoping, so there (and only there) the custom resources map to its roles: raw rows and the audit
need ``admin``; the oversight figures any role; datasets follow its own ``is_authorized_dag`` (viewer and up).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request

from governance.roles.model import OVERSIGHT, RAW_ROWS, REPORT_VIEWS, raw_rows_resource

FORBIDDEN = "无权访问 / forbidden: your Airflow role does not grant this page"
# Simple auth manager only: the least role that holds each custom resource (see the module docstring).
SIMPLE_MANAGER_ROLE = {OVERSIGHT: "VIEWER", REPORT_VIEWS: "ADMIN", RAW_ROWS: "ADMIN"}
_SIMPLE_ORDER = ("VIEWER", "USER", "OP", "ADMIN")


def airflow_auth_manager() -> Any:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


@dataclass(frozen=True)
class Access:
    """What one logged-in user may see, asked of the auth manager on each question."""

    manager: Any
    user: Any

    @property
    def name(self) -> str:
        return str(self.user.get_name())

    def dataset(self, dag_id: str) -> bool:
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

        return bool(self.manager.is_authorized_dag(method="GET", access_entity=DagAccessEntity.RUN,
                                                   details=DagDetails(id=dag_id), user=self.user))

    def raw_rows(self, department: str, dag_id: str) -> bool:
        return self.dataset(dag_id) and self._custom(raw_rows_resource(department), RAW_ROWS)

    def oversight(self) -> bool:
        return self._custom(OVERSIGHT, OVERSIGHT)

    def report_views(self) -> bool:
        return self._custom(REPORT_VIEWS, REPORT_VIEWS)

    def require(self, allowed: bool) -> None:
        if not allowed:
            raise HTTPException(status_code=403, detail=FORBIDDEN)

    def _custom(self, resource: str, kind: str) -> bool:
        from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

        if isinstance(self.manager, SimpleAuthManager):
            role = str(getattr(self.user, "role", "") or "").upper()
            needed = SIMPLE_MANAGER_ROLE[kind]
            return role in _SIMPLE_ORDER and _SIMPLE_ORDER.index(role) >= _SIMPLE_ORDER.index(needed)
        return bool(self.manager.is_authorized_custom_view(method="GET", resource_name=resource, user=self.user))


def access_dependency(require_user: Callable[..., Any], manager: Callable[[], Any]) -> Callable[..., Any]:
    """The app-level dependency: Airflow's login (``require_user``), then the user's ``Access`` on the request."""
    from fastapi import Depends

    def authorize(request: Request, user: Any = Depends(require_user)) -> None:  # noqa: B008
        request.state.governance_access = Access(manager(), user)

    return authorize


def current_access(request: Request) -> Access:
    """The route-level dependency; set by ``access_dependency`` for every route of the app."""
    return request.state.governance_access
