"""docker-compose.yml, Dockerfile and .env.example, checked statically (no Docker engine needed).

The Airflow services' environment must be exactly what ``governance.settings.deployment_environment()``
returns for the compose hosts and container paths below, the same function the local multi-process test
(``test_celery_processes.py``) starts real processes with, so the two cannot drift apart.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker.utils.build import exclude_paths
from dockerfile_parse import DockerfileParser

from governance.settings import deployment_environment

REPO_ROOT = Path(__file__).resolve().parents[2]

# Where things are in docker-compose.yml: service names as hosts, container paths, and secrets as references
# to .env (compose resolves them; the settings function places them as given).
COMPOSE_DEPLOYMENT: dict[str, Any] = {
    "metadata_host": "postgres", "metadata_user": "airflow", "metadata_database": "airflow",
    "metadata_password": "${AIRFLOW_DB_PASSWORD:?see .env.example}",
    "broker_host": "redis", "broker_db": 0,
    "warehouse_host": "warehouse", "warehouse_user": "warehouse", "warehouse_database": "warehouse",
    "warehouse_password": "${WAREHOUSE_DB_PASSWORD:?see .env.example}",
    "sharing_password": "${SHARING_DB_PASSWORD:?see .env.example}",
    "api_url": "http://airflow-apiserver:8080",
    "public_url": "${AIRFLOW_PUBLIC_URL:-http://localhost:8080}",
    "jwt_secret": "${AIRFLOW_JWT_SECRET:?see .env.example}",
    "api_secret_key": "${AIRFLOW_API_SECRET_KEY:?see .env.example}",
    "fernet_key": "${AIRFLOW_FERNET_KEY:?see .env.example}",
    "airflow_home": "/opt/airflow", "code_root": "/opt/airflow", "data_root": "/data/governance",
}
EXPECTED_ENV = deployment_environment(**COMPOSE_DEPLOYMENT)

REQUIRED_SERVICES = {"postgres", "redis", "warehouse", "airflow-init", "airflow-apiserver", "airflow-scheduler",
                     "airflow-dag-processor", "airflow-triggerer", "airflow-worker"}
LONG_RUNNING_AIRFLOW = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                        "airflow-worker"}
HEALTH_CHECKED = {"postgres", "redis", "warehouse", *LONG_RUNNING_AIRFLOW}
EXACT_TAG = re.compile(r"\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?")  # 16.4, 7.2.5-bookworm, 3.3.2-python3.11
DATA_VOLUME, LOGS_VOLUME = "governance-data", "airflow-logs"
# .env.example values that are settings, not secrets (every other value must be the change-me placeholder).
NOT_SECRET = {"AIRFLOW_PUBLIC_URL", "AIRFLOW_API_PORT"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def airflow_services(services) -> dict[str, dict[str, Any]]:
    """Services that run the project's Airflow image (YAML merge keys already applied by PyYAML)."""
    return {name: service for name, service in services.items() if "build" in service}


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {name: str(value) for name, value in env.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    targets = service.get("depends_on") or {}
    if isinstance(targets, list):
        return dict.fromkeys(targets, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in targets.items()}


def volume_mounts(service: dict[str, Any]) -> dict[str, str]:
    """target path -> source (named volume or host path), short and long syntax."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        mounts[target] = source
    return mounts


def lock_pin(package: str) -> str:
    for line in (REPO_ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{package}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{package} is not pinned in requirements.lock")


def env_example() -> dict[str, str]:
    values = {}
    for line in (REPO_ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def test_every_required_service_is_there(services) -> None:
    assert set(services) >= REQUIRED_SERVICES, f"missing: {sorted(REQUIRED_SERVICES - set(services))}"


def test_the_sharing_interface_is_served_by_the_api_server(services, airflow_services) -> None:
    """Consumers reach the sharing API at /sharing on the api-server (the plugin mounts it), not as a
    service of its own (docs/deployment.md); `governance serve` is the standalone alternative."""
    from governance_plugin import GovernancePlugin

    mounts = {app["url_prefix"]: app["app"] for app in GovernancePlugin.fastapi_apps}
    assert "/sharing" in mounts and any(route.path == "/datasets" for route in mounts["/sharing"].routes)
    assert "airflow-apiserver" in airflow_services and services["airflow-apiserver"]["ports"]
    assert not any("sharing" in name for name in services)


def test_images_are_pinned(services, airflow_services) -> None:
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    for name, service in services.items():
        image = service.get("image", "")
        assert ":" in image, f"{name}: image {image!r} has no tag"
        tag = image.rsplit(":", 1)[1]
        assert tag != "latest", f"{name}: image {image!r} is not pinned"
        if name in airflow_services:
            assert service["build"] in (".", {"context": "."}), f"{name}: builds {service['build']!r}, not ./Dockerfile"
            assert tag == version, f"{name}: the built image is tagged {tag}, the project is version {version}"
        else:
            assert EXACT_TAG.fullmatch(tag), f"{name}: {image!r} is not an exact version tag"
    assert {service["image"] for service in airflow_services.values()} == {f"governance-airflow:{version}"}


def dockerfile_instructions() -> list[tuple[str, list[str]]]:
    """The Dockerfile as Docker reads it (continuations joined, comments dropped): (instruction, words)."""
    parser = DockerfileParser(path=str(REPO_ROOT / "Dockerfile"))
    return [(item["instruction"], shlex.split(item["value"])) for item in parser.structure
            if item["instruction"] != "COMMENT"]


def build_context() -> set[str]:
    """The files `docker build .` sends, by Docker's own .dockerignore rules (the docker SDK's matcher)."""
    patterns = [line.strip() for line in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    return {path for path in exclude_paths(str(REPO_ROOT), patterns) if (REPO_ROOT / path).is_file()}


def mounts_and_command(words: list[str]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """A RUN's ``--mount=`` options (by target) and the command after them."""
    mounts = {}
    while words and words[0].startswith("--mount="):
        options = dict(option.partition("=")[::2] for option in words.pop(0).removeprefix("--mount=").split(","))
        mounts[options["target"]] = options
    return mounts, words


def test_dockerfile_is_the_official_image_plus_the_lock_and_the_project() -> None:
    airflow, python = lock_pin("apache-airflow"), ".".join(
        tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
        .removeprefix(">=").split(",")[0].split(".")[:2])
    parser = DockerfileParser(path=str(REPO_ROOT / "Dockerfile"))
    assert parser.baseimage == f"apache/airflow:{airflow}-python{python}"
    assert parser.args == {"AIRFLOW_VERSION": airflow}, "the image's Airflow, the lock's and the ARG agree"
    runs = [mounts_and_command(words) for instruction, words in dockerfile_instructions() if instruction == "RUN"]
    installs = [(mounts, command) for mounts, command in runs if command[:2] == ["pip", "install"]]
    assert len(installs) == 2, installs
    (lock_mounts, lock_install), (source_mounts, source_install) = installs
    assert lock_mounts["/tmp/requirements.lock"]["source"] == "requirements.lock"
    assert "-r" in lock_install and lock_install[lock_install.index("-r") + 1] == "/tmp/requirements.lock"
    assert "apache-airflow==${AIRFLOW_VERSION}" in lock_install  # pip keeps the image's Airflow or stops
    assert source_mounts["/tmp/governance-src"]["source"] == "."
    assert source_install[-1] == "/tmp/governance-src" and "--no-deps" in source_install
    copied = {words[-2]: words[-1] for instruction, words in dockerfile_instructions() if instruction == "COPY"}
    assert copied == {"dags": EXPECTED_ENV["AIRFLOW__CORE__DAGS_FOLDER"],
                      "plugins": EXPECTED_ENV["AIRFLOW__CORE__PLUGINS_FOLDER"],
                      "standards": EXPECTED_ENV["GOVERNANCE_STANDARDS_ROOT"],
                      "expectations": EXPECTED_ENV["GOVERNANCE_EXPECTATIONS_ROOT"]}
    made = [words for instruction, words in dockerfile_instructions()
            if instruction == "RUN" and words[:2] == ["mkdir", "-p"]]
    assert made and EXPECTED_ENV["GOVERNANCE_VAR_ROOT"] + "/landing" in made[0], "the data volume's mount point"


def test_build_context_holds_the_sources_and_no_local_state() -> None:
    context = build_context()
    tracked = set(subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True,
                                 check=True).stdout.split())
    for folder in ("dags", "plugins", "standards", "expectations"):  # every COPY source, whole
        assert {path for path in tracked if path.startswith(f"{folder}/")} <= context, folder
    assert {"pyproject.toml", "README.md", "requirements.lock"} <= context
    assert not {path for path in context if path.split("/")[0] in {".git", ".venv", "var", "tests", ".env"}}
    assert not {path for path in context if "__pycache__" in path or path.endswith(".pyc")}


def test_the_image_installs_the_library_and_its_command_from_the_build_context(tmp_path) -> None:
    """What `pip install --no-deps /tmp/governance-src` builds from the filtered context: every module of
    the library with the console's templates, and the `governance` command (built here without network, by the
    venv's setuptools, which the lock pins to what pyproject's build-system requires)."""
    source = tmp_path / "governance-src"
    for path in build_context():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_bytes((REPO_ROOT / path).read_bytes())
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                            "--wheel-dir", str(tmp_path / "wheels"), str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "wheels").glob("governance-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(name).decode() for name in names if name.endswith("entry_points.txt"))
    webapp = REPO_ROOT / "plugins" / "governance" / "webapp"  # the console's templates and style sheet too
    library = {path.relative_to(REPO_ROOT / "plugins").as_posix()
               for path in [*(REPO_ROOT / "plugins" / "governance").rglob("*.py"), *(webapp / "templates").iterdir(),
                            *(webapp / "static").iterdir()]
               if "__pycache__" not in path.parts}
    assert library <= names, sorted(library - names)
    assert "governance/warehouse/migrations/script.py.mako" in names  # `governance db revision` in a container
    assert "governance = governance.cli:main" in entry_points


def test_every_dependency_exists_with_a_valid_condition(services, airflow_services) -> None:
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on {target}, which is not a service"
            assert condition in conditions, f"{name} -> {target}: unknown condition {condition}"
            if target in HEALTH_CHECKED:
                assert condition == "service_healthy", f"{name} -> {target} should wait for it to be healthy"
    for name in airflow_services:
        targets = depends_on(services[name])
        assert {"postgres", "redis", "warehouse"} <= set(targets), f"{name}: {targets}"
    for name in LONG_RUNNING_AIRFLOW:
        assert depends_on(services[name]).get("airflow-init") == "service_completed_successfully", name
    assert depends_on(services["airflow-worker"]).get("airflow-apiserver") == "service_healthy"


def test_airflow_environment_is_the_settings_modules(airflow_services) -> None:
    """Same executor, metadata DB, broker, JWT secret, API and paths everywhere: exactly the settings' output."""
    block = "\n".join(f"    {name}: {value!r}" for name, value in EXPECTED_ENV.items())
    for name, service in airflow_services.items():
        env = environment(service)
        settings = {key: value for key, value in env.items() if key.startswith(("AIRFLOW_", "GOVERNANCE_"))}
        assert settings == EXPECTED_ENV, (
            f"{name}: environment differs from deployment_environment(**COMPOSE_DEPLOYMENT):\n"
            f"  compose has:   { {k: v for k, v in settings.items() if EXPECTED_ENV.get(k) != v} }\n"
            f"  settings give: { {k: v for k, v in EXPECTED_ENV.items() if settings.get(k) != v} }\n"
            f"the generated block for x-airflow-common.environment:\n{block}")
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__API_AUTH__JWT_SECRET",
                "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY", "GOVERNANCE_WAREHOUSE_URL"):
        assert len({environment(service)[key] for service in airflow_services.values()}) == 1, key


def test_environment_points_at_the_compose_services(services) -> None:
    postgres, warehouse = environment(services["postgres"]), environment(services["warehouse"])
    assert (f"postgresql+psycopg2://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}@postgres:5432/"
            f"{postgres['POSTGRES_DB']}") == EXPECTED_ENV["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert (f"postgresql+psycopg://{warehouse['POSTGRES_USER']}:{warehouse['POSTGRES_PASSWORD']}@warehouse:5432/"
            f"{warehouse['POSTGRES_DB']}") == EXPECTED_ENV["GOVERNANCE_WAREHOUSE_URL"]
    assert postgres["POSTGRES_PASSWORD"] != warehouse["POSTGRES_PASSWORD"], "the warehouse has its own credentials"
    assert EXPECTED_ENV["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379/")
    assert EXPECTED_ENV["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert services["airflow-apiserver"]["ports"][0].endswith(":8080")  # the api-server's own port, published
    assert "http://localhost:8080/" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    scheduler_check = " ".join(services["airflow-scheduler"]["healthcheck"]["test"])
    assert f":{EXPECTED_ENV['AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT']}/health" in scheduler_check


def test_volumes_share_the_data_area_and_logs(compose, services, airflow_services) -> None:
    var_root = EXPECTED_ENV["GOVERNANCE_VAR_ROOT"]
    for area in ("GOVERNANCE_LANDING_ROOT", "GOVERNANCE_WORK_ROOT", "GOVERNANCE_REPORTS_ROOT"):
        assert EXPECTED_ENV[area].startswith(var_root + "/"), f"{area} is not on the shared data volume"
    for name, service in airflow_services.items():
        mounts = volume_mounts(service)
        assert mounts.get(var_root) == DATA_VOLUME, f"{name}: {DATA_VOLUME} is not mounted at {var_root}"
        assert mounts.get(EXPECTED_ENV["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]) == LOGS_VOLUME, f"{name}: logs"
        code = {EXPECTED_ENV[key] for key in ("AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER",
                                              "GOVERNANCE_STANDARDS_ROOT", "GOVERNANCE_EXPECTATIONS_ROOT")}
        for target, source in mounts.items():  # code is baked into the image; a bind mount would shadow it
            assert target not in code or source.lstrip("./") in {Path(path).name for path in code}, (name, target)
    assert {DATA_VOLUME, LOGS_VOLUME, "postgres-db-volume", "warehouse-db-volume"} <= set(compose["volumes"])
    assert volume_mounts(services["postgres"]) != volume_mounts(services["warehouse"])


def test_health_checks_and_scaling(services) -> None:
    for name in HEALTH_CHECKED:
        check = services[name].get("healthcheck") or {}
        assert check.get("test") and check["test"][0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker, "workers must scale (--scale airflow-worker=N)"
    assert "celery worker" in str(worker["command"])


def test_secrets_come_from_env_and_the_example_holds_placeholders_only() -> None:
    text = (REPO_ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    example = env_example()
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))
    assert referenced <= set(example), f"not in .env.example: {sorted(referenced - set(example))}"
    for name, value in example.items():
        assert name in NOT_SECRET or value == "change-me", f".env.example: {name} must be the change-me placeholder"
    for secret in ("AIRFLOW_DB_PASSWORD", "WAREHOUSE_DB_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY",
                   "AIRFLOW_FERNET_KEY", "AIRFLOW_ADMIN_PASSWORD"):
        assert f"${{{secret}:?" in text, f"{secret} must be required from .env, with no default"
    assert "AIRFLOW_VAR_GOVERNANCE_KEYRING" in (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    assert ".env" in (REPO_ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert "change-me" in text, "airflow-init refuses to start while .env still holds placeholders"


# The shell scripts in docker-compose.yml, run here as the containers would run them (compose turns $$ into $).

def compose_script(services: dict[str, Any], service: str) -> str:
    command = services[service]["command"]
    script = command[-1]
    assert not re.search(r"(?<!\$)\$\{", script), f"{service}: unescaped ${{...}} would be interpolated by compose"
    return script.replace("$$", "$")


def script_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "GOVERNANCE_"))}
    return base | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                   "AIRFLOW_HOME": str(tmp_path / "airflow"), "GOVERNANCE_LANDING_ROOT": str(tmp_path / "landing"),
                   "GOVERNANCE_WORK_ROOT": str(tmp_path / "work"), "GOVERNANCE_REPORTS_ROOT": str(tmp_path / "reports"),
                   } | extra


def test_the_deployment_uses_the_fab_auth_manager_and_init_syncs_the_roles(services, airflow_services) -> None:
    """Per-department roles and per-DAG permissions need FAB (the simple auth manager has neither)."""
    assert all(environment(service)["AIRFLOW__CORE__AUTH_MANAGER"].endswith(".FabAuthManager")
               for service in airflow_services.values())
    assert not any("SIMPLE_AUTH" in name for service in airflow_services.values() for name in environment(service))
    assert services["airflow-apiserver"]["command"] == "api-server"
    init = compose_script(services, "airflow-init")
    migrate, sync = init.index("airflow db migrate"), init.index("governance roles sync")
    assert migrate < sync < init.index("governance roles ensure-admin"), "roles after migrate, admin after roles"
    assert "PASSWORD}" not in init and "$PLATFORM" not in init, "the admin password is never on a command line"
    admin_password = environment(services["airflow-init"])["PLATFORM_ADMIN_PASSWORD"]
    assert admin_password == "${AIRFLOW_ADMIN_PASSWORD:?see .env.example}"
    assert lock_pin("apache-airflow-providers-fab") == "3.10.2"


def test_init_refuses_placeholders_then_checks_standards_and_migrates(services, tmp_path) -> None:
    script = compose_script(services, "airflow-init").replace("/entrypoint ", "echo ")
    refused = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=script_environment(
        tmp_path, AIRFLOW_JWT_SECRET="change-me", AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql://a:change-me@x/a"))
    assert refused.returncode == 1
    assert "AIRFLOW_JWT_SECRET AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in refused.stderr
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=script_environment(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "standards OK" in done.stdout and "airflow db migrate" in done.stdout
    assert "governance db upgrade" in done.stdout  # the warehouse's governance schema, before anything writes it
    assert "governance roles sync" in done.stdout and "governance roles ensure-admin" in done.stdout
    assert "governance sharing-role sync --login governance_sharing_login --password-env SHARING_DB_PASSWORD" \
        in done.stdout
    assert "WARNING: no usable masking keyring" in done.stderr  # none set here: a warning, not a failure
    assert all((tmp_path / area).is_dir() for area in ("landing", "work", "reports"))


def test_local_hosts_without_passwords_give_plain_urls() -> None:
    local = deployment_environment(
        metadata_host="127.0.0.1", metadata_user="postgres", metadata_password=None, metadata_database="meta",
        broker_host="127.0.0.1", broker_db=7, warehouse_host="127.0.0.1", warehouse_user="postgres",
        warehouse_password=None, warehouse_database="wh", api_url="http://127.0.0.1:8123/", jwt_secret="j",
        api_secret_key="k", fernet_key="f", airflow_home="/tmp/a", code_root="/repo", data_root="/tmp/d")
    assert local["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://postgres@127.0.0.1:5432/meta"
    assert local["GOVERNANCE_WAREHOUSE_URL"] == "postgresql+psycopg://postgres@127.0.0.1:5432/wh"
    assert local["GOVERNANCE_SHARING_DATABASE_URL"] == "postgresql+psycopg://governance_sharing_login@127.0.0.1:5432/wh"
    assert local["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6379/7"
    assert local["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:8123"
    assert local["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8123/execution/"
    assert set(local) == set(EXPECTED_ENV), "local and compose deployments set the same settings"
