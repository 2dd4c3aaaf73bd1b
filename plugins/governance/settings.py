"""Every path and URL the suite uses, read from the environment in one place.

The local demo, the tests and the docker-compose deployment all go through this module,
so they cannot drift apart: each setting is an environment variable with a default that
works on a fresh clone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _path(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class Settings:
    standards_root: Path
    expectations_root: Path
    var_root: Path
    landing_root: Path
    work_root: Path
    reports_root: Path
    warehouse_url: str
    timezone: str
    nightly_cron: str
    task_retries: int

    @property
    def docs_root(self) -> Path:
        return self.var_root / "data_docs"


def get_settings() -> Settings:
    """Read the settings now (not at import time), so tests can point them elsewhere."""
    var_root = _path("GOVERNANCE_VAR_ROOT", REPO_ROOT / "var")
    default_warehouse = f"sqlite:///{var_root / 'warehouse' / 'warehouse.db'}"
    return Settings(
        standards_root=_path("GOVERNANCE_STANDARDS_ROOT", REPO_ROOT / "standards"),
        expectations_root=_path("GOVERNANCE_EXPECTATIONS_ROOT", REPO_ROOT / "expectations"),
        var_root=var_root,
        landing_root=_path("GOVERNANCE_LANDING_ROOT", var_root / "landing"),
        work_root=_path("GOVERNANCE_WORK_ROOT", var_root / "work"),
        reports_root=_path("GOVERNANCE_REPORTS_ROOT", var_root / "reports"),
        warehouse_url=os.environ.get("GOVERNANCE_WAREHOUSE_URL", default_warehouse),
        timezone=os.environ.get("GOVERNANCE_TIMEZONE", "Asia/Shanghai"),
        nightly_cron=os.environ.get("GOVERNANCE_NIGHTLY_CRON", "0 2 * * *"),
        task_retries=int(os.environ.get("GOVERNANCE_TASK_RETRIES", "2")),
    )


def airflow_environment(settings: Settings | None = None) -> dict[str, str]:
    """Airflow's own settings for running this suite locally: a SQLite metadata DB under var/,
    the repo's DAGs and plugins, and the local secrets files the demo writes (outside git).

    Values already in the environment win, so a deployment can point Airflow elsewhere.
    """
    settings = settings or get_settings()
    secrets = settings.var_root / "secrets"
    airflow_home = settings.var_root / "airflow"
    defaults = {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": settings.timezone,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": (
            f'{{"variables_file_path": "{secrets / "variables.json"}", '
            f'"connections_file_path": "{secrets / "connections.json"}"}}'),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
    }
    return {name: os.environ.get(name, value) for name, value in defaults.items()}
