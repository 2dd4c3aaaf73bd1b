"""Helpers for the standards tests: a private copy of the real standards to break, and small edits."""

from __future__ import annotations

from pathlib import Path

from governance.standards.catalogue import check_catalogue

STANDARDS = Path(__file__).resolve().parents[2] / "standards"


def problems_of(root: Path) -> list[str]:
    return [str(problem) for problem in check_catalogue(root)[1]]


def edit(file: Path, old: str, new: str) -> None:
    text = file.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {file}"
    file.write_text(text.replace(old, new, 1), encoding="utf-8")
