"""``governance roles sync``: create or update the FAB roles and per-DAG permissions from the standards.

Runs inside Airflow's configuration (``AIRFLOW__CORE__AUTH_MANAGER`` = the FAB auth manager, the metadata
DB migrated with ``airflow fab-db migrate``): in the deployment's init container before the dag-processor
parses, because a DAG whose ``access_control`` names a missing role is refused. Idempotent: a role's global
permissions become exactly the model's (a hand-added one is removed); per-DAG permissions are what
``access_control`` says, written with FAB's own ``sync_perm_for_dag`` (the same call the dag-processor makes).
FAB's built-in roles (Admin, Op, User, Viewer, Public) are not touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from governance.roles.model import dag_access_control, platform_roles
from governance.standards.catalogue import Catalogue

_DAG_RESOURCE_PREFIXES = ("DAG:", "DAG Run:")


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    granted: int = 0
    revoked: int = 0
    dags: int = 0

    def summary(self) -> str:
        created = ", ".join(self.created) or "无"
        return (f"角色同步完成 / roles synced: 新建角色 created {created}; 授予 granted {self.granted}, "
                f"撤销 revoked {self.revoked} permission(s); {self.dags} DAG(s) scoped")


def sync_roles(catalogue: Catalogue) -> SyncReport:
    """Bring the FAB roles and DAG permissions in line with ``catalogue`` (see the module docstring)."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    report = SyncReport()
    with get_application_builder() as appbuilder:
        manager = appbuilder.sm
        for role in platform_roles(catalogue):
            existing = manager.find_role(role.name)
            if existing is None:
                existing = manager.add_role(role.name)
                report.created.append(role.name)
            held = {(permission.action.name, permission.resource.name): permission
                    for permission in existing.permissions if permission.action and permission.resource}
            for key, permission in held.items():
                if key not in role.permissions and not key[1].startswith(_DAG_RESOURCE_PREFIXES):
                    manager.remove_permission_from_role(existing, permission)
                    report.revoked += 1
            for action, resource in sorted(role.permissions - held.keys()):
                manager.add_permission_to_role(existing, manager.create_permission(action, resource))
                report.granted += 1
        for dataset in catalogue.datasets.values():
            manager.sync_perm_for_dag(dataset.dag_id, dag_access_control(dataset.department))
            report.dags += 1
        manager.session.commit()
    return report


def ensure_user(username: str, role: str, password: str) -> bool:
    """Create FAB user ``username`` with ``role`` unless it exists (its password is then left alone).

    Returns whether it was created. The password comes from the caller (an environment variable in the
    deployment), never from a command line, where other processes could read it."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    if not password:
        raise ValueError(f"no password for user {username!r}: set it in the environment")
    with get_application_builder() as appbuilder:
        manager = appbuilder.sm
        if manager.find_user(username=username) is not None:
            return False
        found = manager.find_role(role)
        if found is None:
            raise ValueError(f"role {role!r} does not exist: run `governance roles sync` first")
        if not manager.add_user(username, username, role, f"{username}@localhost", found, password):
            raise RuntimeError(f"FAB refused to create user {username!r}")
        return True
