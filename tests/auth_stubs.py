"""Stand-ins for Airflow's user and auth manager, for tests of what the pages serve rather than who may see
them (that is tests/webapp's, against the real simple and FAB auth managers)."""

from __future__ import annotations


class Reader:
    def __init__(self, name: str = "reader") -> None:
        self.name = name

    def get_name(self) -> str:
        return self.name


class AllowsEverything:
    def is_authorized_dag(self, **_: object) -> bool:
        return True

    def is_authorized_custom_view(self, **_: object) -> bool:
        return True


class Steward(Reader):
    """A department's data steward (or, with ``raw_rows=False``, its engineer: DAGs but no raw rows)."""

    def __init__(self, department: str, *, raw_rows: bool = True) -> None:
        super().__init__(f"{'steward' if raw_rows else 'engineer'}-{department}")
        self.department, self.raw_rows = department, raw_rows


class ByDepartment:
    """As FAB's per-DAG ``access_control`` and the roles sync give a department's staff: that department's DAGs,
    its raw rows for a steward, no custom view else."""

    def is_authorized_dag(self, *, details: object, user: Steward, **_: object) -> bool:
        return str(getattr(details, "id", "")).startswith(f"{user.department}__")

    def is_authorized_custom_view(self, *, resource_name: str, user: Steward, **_: object) -> bool:
        return user.raw_rows and resource_name == f"Governance raw rows: {user.department}"
