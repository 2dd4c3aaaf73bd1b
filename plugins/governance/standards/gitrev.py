"""The few git reads standards change management needs, tolerant of a deployment image without git.

Every function returns ``None`` (or an empty result) when ``git`` is not installed, the folder is not in a
repository, or the revision or path does not exist: a run must never fail because its history is unknown.
Paths are given relative to ``folder`` (``git -C folder``), so the standards and expectations roots may sit
anywhere inside the repository.
"""

from __future__ import annotations

import subprocess
import tarfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

GIT_TIMEOUT_S = 30


def git(folder: Path, *args: str) -> bytes | None:
    """``git -C folder args...``'s output, or None when git, the repository or the object is missing."""
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, timeout=GIT_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def head_commit(folder: Path) -> str | None:
    out = git(folder, "rev-parse", "HEAD")
    return out.decode().strip() if out else None


def is_dirty(folder: Path, paths: list[str]) -> bool:
    """Whether any of ``paths`` differs from HEAD (edited or untracked): the commit alone does not name it."""
    out = git(folder, "status", "--porcelain", "--", *paths)
    return bool(out and out.strip())


def show(folder: Path, rev: str, path: str) -> bytes | None:
    """The content of ``path`` (relative to ``folder``) at ``rev``."""
    return git(folder, "show", f"{rev}:./{path}")


def export(folder: Path, rev: str, target: Path) -> bool:
    """Write ``folder``'s tree at ``rev`` into ``target`` (for loading an older catalogue); False if impossible."""
    archive = git(folder, "archive", "--format=tar", rev, "--", ".")  # run in a subfolder: paths relative to it
    if archive is None:
        return False
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, members=[member for member in tar.getmembers() if member.isfile() or member.isdir()],
                       filter="data")
    return True


@dataclass(frozen=True)
class Revision:
    """One commit that touched a file: the file's path at that commit (``--follow`` sees renames)."""

    commit: str
    date: str
    author: str
    subject: str
    path: str


def file_history(folder: Path, path: str) -> list[Revision]:
    """Newest first, every commit that changed ``path``, following renames."""
    out = git(folder, "log", "--follow", "--name-only", "--format=%x1e%H%x1f%aI%x1f%an%x1f%s", "--", path)
    if not out:
        return []
    top = git(folder, "rev-parse", "--show-prefix")
    prefix = top.decode().strip() if top else ""
    revisions = []
    for block in out.decode("utf-8", "replace").split("\x1e")[1:]:
        header, _, names = block.partition("\n")
        commit, date, author, subject = header.split("\x1f", 3)
        name = next((line.strip() for line in names.splitlines() if line.strip()), path)
        revisions.append(Revision(commit, date, author, subject, name.removeprefix(prefix)))
    return revisions
