"""Fixtures of the standards tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from standards_support import STANDARDS


@pytest.fixture
def standards(tmp_path: Path) -> Path:
    """A private copy of the real standards to break."""
    return Path(shutil.copytree(STANDARDS, tmp_path / "standards"))
