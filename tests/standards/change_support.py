"""A throw-away git repository holding copies of the real standards and suites, for change-management tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=标准处 Owner", "-c", "user.email=owner@example.org",
                           "-c", "commit.gpgsign=false", *args], check=True, capture_output=True, text=True).stdout


def make_repo(tmp_path: Path) -> Path:
    """``<tmp>/repo`` with standards/ and expectations/ committed once (message ``baseline``)."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "standards", repo / "standards")
    shutil.copytree(REPO / "expectations", repo / "expectations")
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "baseline")
    return repo


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def edit(file: Path, old: str, new: str) -> None:
    text = file.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {file}"
    file.write_text(text.replace(old, new, 1), encoding="utf-8")
