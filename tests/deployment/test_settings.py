"""Settings in one place: only governance.settings reads GOVERNANCE_* variables, typed and checked there."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from governance.settings import REPO_ROOT, SettingsError, get_settings
from governance.sharing.config import SharingConfig


def environment_reads(path: Path) -> list[str]:
    """``GOVERNANCE_*`` names the module reads: os.environ.get / os.getenv / os.environ[...] / ``in os.environ``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        key: ast.AST | None = None
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.environ.get", "os.getenv") and node.args:
            key = node.args[0]
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and ast.unparse(node.value) == \
                "os.environ":
            key = node.slice
        elif isinstance(node, ast.Compare) and ast.unparse(node.comparators[0]) == "os.environ":
            key = node.left
        if isinstance(key, ast.Constant) and str(key.value).startswith("GOVERNANCE_"):
            found.append(key.value)
    return found


def test_no_module_but_settings_reads_a_governance_variable() -> None:
    """The library and the DAG files; devtools/ (demo, benchmarks) may read the test PostgreSQL's URL."""
    offenders = {}
    for path in sorted((REPO_ROOT / "plugins").rglob("*.py")) + sorted((REPO_ROOT / "dags").rglob("*.py")):
        name = path.relative_to(REPO_ROOT).as_posix()
        if name != "plugins/governance/settings.py" and environment_reads(path):
            offenders[name] = environment_reads(path)
    assert offenders == {}, "read these through governance.settings.get_settings()"


def test_the_check_sees_each_way_of_reading(tmp_path: Path) -> None:
    module = tmp_path / "reads.py"
    module.write_text('import os\nos.environ.get("GOVERNANCE_A")\nos.getenv("GOVERNANCE_B")\n'
                      'os.environ["GOVERNANCE_C"]\n"GOVERNANCE_D" in os.environ\nos.environ["GOVERNANCE_E"] = "1"\n')
    assert environment_reads(module) == ["GOVERNANCE_A", "GOVERNANCE_B", "GOVERNANCE_C", "GOVERNANCE_D"]


def test_one_webhook_setting_with_the_old_name_as_a_deprecated_alias(monkeypatch) -> None:
    monkeypatch.delenv("GOVERNANCE_ALERT_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("GOVERNANCE_ALERT_WEBHOOK", "http://alerts.invalid/old")
    with pytest.warns(FutureWarning, match="GOVERNANCE_ALERT_WEBHOOK is deprecated: rename it to "
                                           "GOVERNANCE_ALERT_WEBHOOK_URL"):
        settings = get_settings()
    assert settings.alert_webhook_url == "http://alerts.invalid/old"
    assert SharingConfig.from_settings(settings).alert_webhook == "http://alerts.invalid/old"  # one alert address
    monkeypatch.setenv("GOVERNANCE_ALERT_WEBHOOK_URL", "http://alerts.invalid/new")
    with pytest.warns(FutureWarning, match="ignored: both are set"):
        assert get_settings().alert_webhook_url == "http://alerts.invalid/new"


def test_values_are_typed_and_a_bad_one_names_its_variable(monkeypatch) -> None:
    monkeypatch.setenv("GOVERNANCE_CHUNK_ROWS", "300")
    monkeypatch.setenv("GOVERNANCE_SHARING_SCAN_SHARE", "0.5")
    monkeypatch.setenv("GOVERNANCE_SHARING_PRELOAD", "1")
    settings = get_settings()
    assert (settings.chunk_rows, settings.sharing_scan_share, settings.sharing_preload) == (300, 0.5, True)
    monkeypatch.setenv("GOVERNANCE_CHUNK_ROWS", "20万")
    with pytest.raises(SettingsError, match=r"GOVERNANCE_CHUNK_ROWS 应为整数.*'20万'"):
        get_settings()
    monkeypatch.setenv("GOVERNANCE_CHUNK_ROWS", "0")
    with pytest.raises(SettingsError, match="GOVERNANCE_CHUNK_ROWS must be at least 1"):
        get_settings()


def test_the_command_line_loads_no_airflow_before_a_command_sets_up_its_environment() -> None:
    """Airflow reads its configuration when first imported; `governance demo`, `serve` and `keys` set the suite's
    Airflow environment first, so building the parser (and the file-only preview and impact commands) must not
    import Airflow."""
    probe = ("import sys, governance.cli.command_line as cli, governance.validation.preview, "
             "governance.validation.impact; "
             "cli._parser(); print(sorted({m.split('.')[0] for m in sys.modules} & {'airflow'}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
