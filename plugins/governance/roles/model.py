"""The role model of the platform, generated from ``standards/`` (departments and datasets), nothing typed twice.

Roles (FAB auth manager names; the Chinese title is what people call them):

* ``Admin`` (平台管理员): FAB's own role. FAB grants it every non-DAG permission at each start, so it also
  holds the raw-rows permissions below; every raw report it opens is logged for the security officer.
* ``Security officer`` (安全管理员): every DAG read-only, every department's raw quarantine reports, the
  report-view audit, the oversight figures, Airflow's audit log.
* ``Oversight office`` (督查考核): the oversight figures, scorecards and bulletins; no DAG, never a raw row.
* ``Steward <department>`` (部门数据管理员): its own datasets' runs, Data Docs and raw quarantine reports.
* ``Engineer <department>`` (部门运维工程师): its own DAGs: trigger, clear, logs; no raw rows.
* ``Standards owner <department>`` (标准负责人): its own datasets' runs and Data Docs (standards and suites
  are edited in the repository); no raw rows.

Per-dataset scoping is Airflow's own per-DAG permission (``DAG:<department>__<dataset>``, set by the DAG
factory's ``access_control``); raw rows and the oversight and audit pages are custom resources named
below. This module imports nothing from Airflow: the DAG factory calls it at parse time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from governance.standards.catalogue import Catalogue

RAW_ROWS = "Governance raw rows"          # one resource per department: "Governance raw rows: <department>"
OVERSIGHT = "Governance oversight"        # figures, scorecards, bulletins, access figures
REPORT_VIEWS = "Governance report views"  # the log of who opened which raw report

SECURITY_OFFICER = "Security officer"
OVERSIGHT_OFFICE = "Oversight office"

READ, EDIT, CREATE, DELETE, MENU = "can_read", "can_edit", "can_create", "can_delete", "menu_access"

# What every governance role needs to open the Airflow UI at all (FAB's own resource names).
_UI = ((READ, "Website"), (READ, "Plugins"), (READ, "My Profile"), (EDIT, "My Profile"), (READ, "My Password"),
       (EDIT, "My Password"), (MENU, "Browse"), (MENU, "Docs"), (MENU, "Documentation"))
# Reading a DAG's runs, tasks and logs; which DAGs is decided per DAG (``DAG:<id>``) by ``access_control``.
_DAG_DETAIL_READ = ((READ, "DAG Runs"), (READ, "Task Instances"), (READ, "Task Logs"), (READ, "DAG Warnings"),
                    (READ, "DAG Versions"), (READ, "DAG Dependencies"), (READ, "DAG Code"), (READ, "XComs"),
                    (MENU, "DAGs"), (MENU, "DAG Runs"), (MENU, "Task Instances"))
_OPERATE = ((CREATE, "DAG Runs"), (EDIT, "DAG Runs"), (DELETE, "DAG Runs"), (CREATE, "Task Instances"),
            (EDIT, "Task Instances"), (DELETE, "Task Instances"))


def raw_rows_resource(department: str) -> str:
    return f"{RAW_ROWS}: {department}"


def steward_role(department: str) -> str:
    return f"Steward {department}"


def engineer_role(department: str) -> str:
    return f"Engineer {department}"


def standards_owner_role(department: str) -> str:
    return f"Standards owner {department}"


def dag_access_control(department: str) -> dict[str, dict[str, set[str]]]:
    """The ``access_control`` of a department's DAGs: its own roles only (the security officer and Admin
    read every DAG through the global ``DAGs`` permission)."""
    return {steward_role(department): {"DAGs": {READ}},
            standards_owner_role(department): {"DAGs": {READ}},
            engineer_role(department): {"DAGs": {READ, EDIT}}}


@dataclass(frozen=True)
class Role:
    name: str
    title_zh: str
    permissions: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "title_zh": self.title_zh, "permissions": sorted(self.permissions)}


def platform_roles(catalogue: Catalogue) -> list[Role]:
    """Every governance role with its global (non-DAG) permissions; per-DAG ones come from ``dag_access_control``."""
    departments = sorted(catalogue.departments)
    roles = [
        Role(SECURITY_OFFICER, "安全管理员", _perms(
            _UI, _DAG_DETAIL_READ, [(READ, "DAGs"), (READ, "Audit Logs"), (MENU, "Audit Logs"), (READ, OVERSIGHT),
                                    (READ, REPORT_VIEWS)],
            [(READ, raw_rows_resource(department)) for department in departments])),
        Role(OVERSIGHT_OFFICE, "督查考核", _perms(_UI, [(READ, OVERSIGHT)])),
    ]
    for department in departments:
        roles += [
            Role(steward_role(department), "部门数据管理员",
                 _perms(_UI, _DAG_DETAIL_READ, [(READ, raw_rows_resource(department))])),
            Role(engineer_role(department), "部门运维工程师", _perms(_UI, _DAG_DETAIL_READ, _OPERATE)),
            Role(standards_owner_role(department), "标准负责人", _perms(_UI, _DAG_DETAIL_READ)),
        ]
    return roles


def _perms(*groups: Iterable[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    return frozenset(permission for group in groups for permission in group)
