"""The import structure docs/architecture.md describes: layers without cycles (import-linter's contracts in
pyproject.toml, also run by `make lint`), and no import hidden inside a function to dodge one."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from governance.settings import REPO_ROOT

LIBRARY = REPO_ROOT / "plugins" / "governance"
# Where a function-level import is the design, not a dodge: the command line imports each command's modules
# when it runs (`governance --help` loads no Airflow, GX or warehouse), and Airflow task callables import the
# pipeline when the task runs (DAG parsing stays light, as Airflow's best practices ask).
DEFERRING_PACKAGES = ("cli", "orchestration")
# Single deferred imports elsewhere, each for a reason other than a cycle (import-linter checks these too).
DEFERRED = {
    ("oversight/check.py", "governance.alerts"): "the notifier loads Airflow, which configures itself on import",
    ("sharing/service.py", "governance.alerts"): "the same, once `governance serve` has set Airflow's environment",
    ("standards/notices.py", "governance.alerts"): "the same: standards commands run without Airflow",
    ("pipeline/workarea.py", "governance.redaction.leak_guard"): "pandas: the work area is read at DAG parse time",
}


def deferred_imports(path: Path) -> list[str]:
    """Modules of the library ``path`` imports inside a function body."""
    inside = {id(node): node for function in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
              if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) for node in ast.walk(function)}
    found = []
    for node in inside.values():
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("governance")):
            found.append(node.module or ".")
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("governance")]
    return found


def test_the_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_no_function_level_import_outside_the_command_line_and_the_task_callables() -> None:
    offenders = []
    for path in sorted(LIBRARY.rglob("*.py")):
        name = path.relative_to(LIBRARY).as_posix()
        if name.split("/")[0] in DEFERRING_PACKAGES:
            continue
        offenders += [f"{name}: {module}" for module in deferred_imports(path) if (name, module) not in DEFERRED]
    assert offenders == [], "import at the top of the module (a cycle means a module is in the wrong layer)"


def test_every_allowed_deferral_still_exists() -> None:
    for name, module in DEFERRED:
        assert module in deferred_imports(LIBRARY / name), f"{name} no longer defers {module}: drop the entry"


def test_the_check_sees_imports_in_methods_and_nested_functions(tmp_path: Path) -> None:
    module = tmp_path / "late.py"
    module.write_text("import governance.settings\n\nclass A:\n    def f(self):\n        from governance import keys\n"
                      "\n\ndef g():\n    def h():\n        import governance.files\n    from . import x\n")
    assert sorted(deferred_imports(module)) == [".", "governance", "governance.files"]


def test_the_package_itself_imports_nothing_of_the_library() -> None:
    """``governance/__init__.py`` is in no layer (import-linter checks only what is under it) and runs before
    every module of the library: an import there would reach every layer from every layer."""
    tree = ast.parse((LIBRARY / "__init__.py").read_text(encoding="utf-8"))
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert [name for name in imported if name.startswith("governance")] == []
