"""Commands an operator copies from the deployment files and docs (``python -c "from governance... import ..."``,
``python -m ...``) name modules and functions that exist: a moved module must take its instructions along."""

from __future__ import annotations

import importlib
import re

import pytest

from governance.settings import REPO_ROOT

FILES = [".env.example", "docker-compose.yml", "Dockerfile", "Makefile", "README.md",
         *sorted(path.relative_to(REPO_ROOT).as_posix() for path in (REPO_ROOT / "docs").glob("*.md"))]
FROM_IMPORT = re.compile(r"from (governance[\w.]*) import ([\w, ]+)")
RUN_MODULE = re.compile(r"python3? -m (governance[\w.]*)")


def references() -> list[tuple[str, str, tuple[str, ...]]]:
    found = []
    for name in FILES:
        text = (REPO_ROOT / name).read_text(encoding="utf-8")
        for match in FROM_IMPORT.finditer(text):
            names = tuple(part.strip() for part in match.group(2).split(",") if part.strip())
            found.append((name, match.group(1), names))
        found += [(name, match.group(1), ()) for match in RUN_MODULE.finditer(text)]
    return found


def test_the_files_hold_such_commands() -> None:
    assert {name for name, _, _ in references()} >= {".env.example", "docker-compose.yml", "Makefile"}


@pytest.mark.parametrize(("file", "module", "names"), references())
def test_each_named_module_and_function_exists(file: str, module: str, names: tuple[str, ...]) -> None:
    imported = importlib.import_module(module)
    assert all(hasattr(imported, name) for name in names), f"{file}: {module} has no {names}"
