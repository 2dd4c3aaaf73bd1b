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
