"""The role model comes from the standards: every department gets its roles, every dataset DAG its scoping."""

from __future__ import annotations

from governance.orchestration.dataset_dag import build_dataset_dags
from governance.roles.model import (
    OVERSIGHT,
    OVERSIGHT_OFFICE,
    RAW_ROWS,
    READ,
    REPORT_VIEWS,
    SECURITY_OFFICER,
    engineer_role,
    platform_roles,
    raw_rows_resource,
    standards_owner_role,
    steward_role,
)
from governance.standards.catalogue import Catalogue


def test_every_dataset_dag_is_scoped_to_its_own_departments_roles(catalogue: Catalogue) -> None:
    dags = build_dataset_dags()
    assert set(dags) == {dataset.dag_id for dataset in catalogue.datasets.values()}
    for dataset in catalogue.datasets.values():
        control = dags[dataset.dag_id].access_control
        department = dataset.department
        assert control == {steward_role(department): {"DAGs": {READ}},
                           standards_owner_role(department): {"DAGs": {READ}},
                           engineer_role(department): {"DAGs": {"can_read", "can_edit"}}}


def test_raw_rows_only_for_the_departments_steward_and_the_security_officer(catalogue: Catalogue) -> None:
    roles = {role.name: role.permissions for role in platform_roles(catalogue)}
    departments = set(catalogue.departments)
    assert set(roles) == {SECURITY_OFFICER, OVERSIGHT_OFFICE} | {
        name(department) for department in departments for name in (steward_role, engineer_role,
                                                                       standards_owner_role)}
    for role, permissions in roles.items():
        raw = {resource for _, resource in permissions if resource.startswith(RAW_ROWS)}
        if role == SECURITY_OFFICER:
            assert raw == {raw_rows_resource(department) for department in departments}
        elif role.startswith("Steward "):
            assert raw == {raw_rows_resource(role.removeprefix("Steward "))}
        else:
            assert raw == set(), role
        assert ((READ, "DAGs") in permissions) == (role == SECURITY_OFFICER), "only global readers see every DAG"
        assert ((READ, REPORT_VIEWS) in permissions) == (role == SECURITY_OFFICER)
    assert {resource for _, resource in roles[OVERSIGHT_OFFICE]} & {"DAG Runs", "Task Logs", "Task Instances"} == set()
    assert (READ, OVERSIGHT) in roles[OVERSIGHT_OFFICE] and (READ, OVERSIGHT) not in roles[steward_role("health")]
    assert {("can_create", "DAG Runs"), ("can_edit", "Task Instances")} <= roles[engineer_role("health")]
    assert ("can_create", "DAG Runs") not in roles[steward_role("health")]
