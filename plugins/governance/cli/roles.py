"""``governance roles list|sync``: the role model from the standards, and its sync into FAB."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable

from governance.settings import airflow_environment, get_settings

Command = Callable[..., argparse.ArgumentParser]


def add_role_commands(commands: argparse._SubParsersAction, command: Command) -> None:
    roles = commands.add_parser("roles", help="platform roles (FAB auth manager) from the standards").add_subparsers()
    listing = command(roles, "list", _list, "print every role and its permissions as the standards define them")
    listing.add_argument("--json", action="store_true", help="print JSON")
    command(roles, "sync", _sync, "create or update the FAB roles and per-DAG permissions from the standards "
            "(run after `airflow db migrate`, before the dag-processor)")
    admin = command(roles, "ensure-admin", _ensure_admin, "create the platform administrator (FAB role Admin) "
                    "unless it exists; the password is read from an environment variable, never from the command line")
    admin.add_argument("--username", default="admin")
    admin.add_argument("--password-env", default="AIRFLOW_ADMIN_PASSWORD",
                       help="the environment variable holding the password (default AIRFLOW_ADMIN_PASSWORD)")


def _list(arguments: argparse.Namespace) -> int:
    from governance.roles.model import dag_access_control, platform_roles
    from governance.standards.catalogue import load_catalogue

    catalogue = load_catalogue(get_settings().standards_root)
    roles = [role.as_dict() for role in platform_roles(catalogue)]
    dags = {dataset.dag_id: {role: sorted(actions["DAGs"]) for role, actions in
                             dag_access_control(dataset.department).items()} for dataset in catalogue.datasets.values()}
    if arguments.json:
        print(json.dumps({"roles": roles, "dags": dags}, ensure_ascii=False, indent=2))
        return 0
    for role in roles:
        print(f"{role['name']} ({role['title_zh']}): {len(role['permissions'])} global permission(s)")
    for dag_id, grants in sorted(dags.items()):
        print(f"DAG:{dag_id}: " + "; ".join(f"{role} {','.join(actions)}" for role, actions in grants.items()))
    return 0


def _sync(_: argparse.Namespace) -> int:
    os.environ.update(airflow_environment())  # the deployment's own Airflow settings win (see the function)
    from governance.roles.sync import sync_roles
    from governance.standards.catalogue import load_catalogue

    print(sync_roles(load_catalogue(get_settings().standards_root)).summary())
    return 0


def _ensure_admin(arguments: argparse.Namespace) -> int:
    os.environ.update(airflow_environment())
    from governance.roles.sync import ensure_user

    created = ensure_user(arguments.username, "Admin", os.environ.get(arguments.password_env, ""))
    print(f"{arguments.username}: {'已创建 created' if created else '已存在 exists, password unchanged'}")
    return 0
