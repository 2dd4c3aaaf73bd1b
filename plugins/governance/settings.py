"""Every setting the suite uses, read from the environment in this module only.

The local demo, the tests and the docker-compose deployment all go through :func:`get_settings`,
so they cannot drift apart: each setting is a ``GOVERNANCE_*`` environment variable with a default
that works on a fresh clone, parsed into a typed field (a bad value is refused with the variable's
name). ``tests/deployment/test_settings.py`` fails when code elsewhere reads a ``GOVERNANCE_*``
variable itself. Secrets are not settings: they live in Airflow's secrets backend.
"""

from __future__ import annotations

import logging
import os
import posixpath
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from governance.errors import ConfigurationError

N = TypeVar("N", int, float)
REPO_ROOT = Path(__file__).resolve().parents[2]
# Deprecated names still honoured, with a warning: old name -> the setting's name.
DEPRECATED_ALIASES = {"GOVERNANCE_ALERT_WEBHOOK": "GOVERNANCE_ALERT_WEBHOOK_URL"}
log = logging.getLogger("governance.settings")


class SettingsError(ConfigurationError, ValueError):
    """A ``GOVERNANCE_*`` variable holds a value the suite cannot use (fix the environment; a retry cannot help)."""


def _path(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser().resolve() if value else default


def _text(variable: str, default: str = "") -> str:
    for old, new in DEPRECATED_ALIASES.items():
        if new == variable and os.environ.get(old):
            message = f"{old} is deprecated: rename it to {new}" + (" (ignored: both are set)"
                                                                     if os.environ.get(new) else "")
            warnings.warn(message, FutureWarning, stacklevel=3)
            log.warning("%s", message)
            return os.environ.get(new) or os.environ[old]
    return os.environ.get(variable, default)


def _number(variable: str, default: N, kind: type[N], minimum: N | None = None) -> N:
    value = os.environ.get(variable)
    if not value:
        return default
    try:
        number = kind(value)
    except ValueError:
        raise SettingsError(f"设置 {variable} 应为{'整数' if kind is int else '数值'}, 而不是 {value!r} "
                            f"({variable} must be {'a whole number' if kind is int else 'a number'})") from None
    if minimum is not None and number < minimum:
        raise SettingsError(f"设置 {variable} 不能小于 {minimum} ({variable} must be at least {minimum}), "
                            f"not {value!r}")
    return number


def _flag(variable: str) -> bool:
    return os.environ.get(variable, "").strip().lower() not in ("", "0", "false", "no", "off")


def debug() -> bool:
    """``GOVERNANCE_DEBUG``: the CLI prints tracebacks (read on its own: it must work when other settings fail)."""
    return _flag("GOVERNANCE_DEBUG")


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
    # Oversight (freshness, alerts, weekly bulletin); defaults so other constructors need not change.
    bulletin_root: Path = REPO_ROOT / "var" / "bulletins"
    nightly_deadline: str = "06:00"
    oversight_cron: str = "0 * * * *"
    bulletin_cron: str = "0 8 * * 1"
    freshness_skew_minutes: int = 15
    alert_email_to: str = ""
    alert_email_from: str = ""
    alert_smtp_conn_id: str = "smtp_default"
    alert_webhook_url: str = ""  # every alert: oversight, nightly deadline, sharing blocks (old name deprecated)
    chunk_rows: int = 200_000  # rows a chunk task validates and masks at once (docs/performance.md)
    # The sharing API (docs/sharing.md): its least-privilege login, limits, and `governance serve`'s process flags.
    sharing_database_url: str = ""
    sharing_default_quota: int = 100_000
    sharing_scan_pages: int = 50
    sharing_scan_window_s: int = 3600
    sharing_scan_share: float = 0.2
    sharing_scan_min_rows: int = 1000
    sharing_scan_misses: int = 100
    sharing_max_body_bytes: int = 16_384
    sharing_alert_throttle_s: int = 600
    sharing_token_cache_s: float = 5.0
    sharing_preload: bool = False
    sharing_access_log: bool = False

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
        task_retries=_number("GOVERNANCE_TASK_RETRIES", 2, int, minimum=0),
        bulletin_root=_path("GOVERNANCE_BULLETIN_ROOT", var_root / "bulletins"),
        nightly_deadline=os.environ.get("GOVERNANCE_NIGHTLY_DEADLINE", "06:00"),
        oversight_cron=os.environ.get("GOVERNANCE_OVERSIGHT_CRON", "0 * * * *"),
        bulletin_cron=os.environ.get("GOVERNANCE_BULLETIN_CRON", "0 8 * * 1"),
        freshness_skew_minutes=_number("GOVERNANCE_FRESHNESS_SKEW_MINUTES", 15, int, minimum=0),
        alert_email_to=os.environ.get("GOVERNANCE_ALERT_EMAIL_TO", ""),
        alert_email_from=os.environ.get("GOVERNANCE_ALERT_EMAIL_FROM", ""),
        alert_smtp_conn_id=os.environ.get("GOVERNANCE_ALERT_SMTP_CONN_ID", "smtp_default"),
        alert_webhook_url=_text("GOVERNANCE_ALERT_WEBHOOK_URL"),
        chunk_rows=_number("GOVERNANCE_CHUNK_ROWS", 200_000, int, minimum=1),
        sharing_database_url=_text("GOVERNANCE_SHARING_DATABASE_URL"),
        sharing_default_quota=_number("GOVERNANCE_SHARING_DEFAULT_QUOTA", 100_000, int, minimum=0),
        sharing_scan_pages=_number("GOVERNANCE_SHARING_SCAN_PAGES", 50, int, minimum=1),
        sharing_scan_window_s=_number("GOVERNANCE_SHARING_SCAN_WINDOW_S", 3600, int, minimum=1),
        sharing_scan_share=_number("GOVERNANCE_SHARING_SCAN_SHARE", 0.2, float, minimum=0.0),
        sharing_scan_min_rows=_number("GOVERNANCE_SHARING_SCAN_MIN_ROWS", 1000, int, minimum=0),
        sharing_scan_misses=_number("GOVERNANCE_SHARING_SCAN_MISSES", 100, int, minimum=1),
        sharing_max_body_bytes=_number("GOVERNANCE_SHARING_MAX_BODY_BYTES", 16_384, int, minimum=1),
        sharing_alert_throttle_s=_number("GOVERNANCE_SHARING_ALERT_THROTTLE_S", 600, int, minimum=0),
        sharing_token_cache_s=_number("GOVERNANCE_SHARING_TOKEN_CACHE_S", 5.0, float, minimum=0.0),
        sharing_preload=_flag("GOVERNANCE_SHARING_PRELOAD"),
        sharing_access_log=_flag("GOVERNANCE_SHARING_ACCESS_LOG"),
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


FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
SHARING_LOGIN = "governance_sharing_login"  # the sharing API's warehouse login in a deployment


def deployment_environment(
    *,
    metadata_host: str, metadata_user: str, metadata_password: str | None, metadata_database: str,
    broker_host: str, broker_db: int | str,
    warehouse_host: str, warehouse_user: str, warehouse_password: str | None, warehouse_database: str,
    api_url: str, jwt_secret: str, api_secret_key: str, fernet_key: str,
    airflow_home: str, code_root: str, data_root: str,
    metadata_port: int | str = 5432, broker_port: int | str = 6379, warehouse_port: int | str = 5432,
    public_url: str | None = None, worker_concurrency: int | str = 2,
    scheduler_health_port: int | str = 8974, worker_log_port: int | str = 8793,
    triggerer_log_port: int | str = 8794, timezone: str = "Asia/Shanghai",
    sharing_login: str = SHARING_LOGIN, sharing_password: str | None = None,
) -> dict[str, str]:
    """The environment of every Airflow service of a CeleryExecutor deployment, given where things are.

    One source of truth for two deployments: ``docker-compose.yml`` carries exactly this for its service
    hosts and container paths (``tests/deployment/test_compose.py`` checks it), and the local multi-process
    test starts its api-server, scheduler, dag-processor and Celery worker with it for 127.0.0.1 and tmp paths.

    - ``*_host/_port/_user/_password/_database``: the Airflow metadata PostgreSQL, the Redis broker (Celery
      messages only; results go to the metadata DB, Airflow's default) and the shared warehouse PostgreSQL.
    - ``sharing_login``/``sharing_password``: the sharing API's own warehouse login (least privilege:
      ``governance sharing-role sync --login``, which airflow-init runs), used by the API the api-server mounts.
    - ``api_url``: the api-server as the workers reach it (their Task Execution API is ``<api_url>/execution/``);
      ``public_url``: as browsers reach it (``[api] base_url``, default ``api_url``).
    - ``jwt_secret`` (task and UI tokens), ``api_secret_key`` (log fetching) and ``fernet_key`` (secrets in the
      metadata DB) must be the same in every process. Secrets and passwords are placed as given, so compose
      passes ``${VAR}`` references to its ``.env`` and the test real values; use URL-safe values (hex).
    - ``airflow_home``: logs; ``code_root``: ``dags/``, ``plugins/``,
      ``standards/``, ``expectations/``; ``data_root``: the landing, work and reports areas, which every worker
      and the api-server must see at the same path (a shared volume).

    Masking keys and departmental connections are not here: they come from the secrets backend
    (``AIRFLOW_VAR_GOVERNANCE_KEYRING``, ``AIRFLOW_CONN_*``).
    """
    def postgres(driver: str, user: str, password: str | None, host: str, port: int | str, database: str) -> str:
        credentials = f"{user}:{password}" if password else user
        return f"postgresql+{driver}://{credentials}@{host}:{port}/{database}"

    def under(root: str, *parts: str) -> str:
        return posixpath.join(root, *parts)

    api_url = api_url.rstrip("/")
    return {
        "AIRFLOW_HOME": airflow_home,
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        # Users, roles and per-DAG permissions in the metadata DB (governance.roles: `governance roles sync`).
        "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
        "AIRFLOW__CORE__DAGS_FOLDER": under(code_root, "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": under(code_root, "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # A new dataset DAG publishes to the shared warehouse only once an operator has unpaused it.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": timezone,
        "AIRFLOW__CORE__FERNET_KEY": fernet_key,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres("psycopg2", metadata_user, metadata_password, metadata_host,
                                                        metadata_port, metadata_database),
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{broker_host}:{broker_port}/{broker_db}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(worker_concurrency),
        "AIRFLOW__API__BASE_URL": (public_url or api_url).rstrip("/"),
        "AIRFLOW__API__SECRET_KEY": api_secret_key,
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(scheduler_health_port),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": under(airflow_home, "logs"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(worker_log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(triggerer_log_port),
        "GOVERNANCE_STANDARDS_ROOT": under(code_root, "standards"),
        "GOVERNANCE_EXPECTATIONS_ROOT": under(code_root, "expectations"),
        "GOVERNANCE_VAR_ROOT": data_root,
        "GOVERNANCE_LANDING_ROOT": under(data_root, "landing"),
        "GOVERNANCE_WORK_ROOT": under(data_root, "work"),
        "GOVERNANCE_REPORTS_ROOT": under(data_root, "reports"),
        "GOVERNANCE_WAREHOUSE_URL": postgres("psycopg", warehouse_user, warehouse_password, warehouse_host,
                                             warehouse_port, warehouse_database),
        "GOVERNANCE_SHARING_DATABASE_URL": postgres("psycopg", sharing_login, sharing_password, warehouse_host,
                                                    warehouse_port, warehouse_database),
        "GOVERNANCE_TIMEZONE": timezone,
    }
