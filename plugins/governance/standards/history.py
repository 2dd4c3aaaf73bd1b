"""``governance standards history <dataset>``: every version of a dataset's standard and suite, from git.

Each entry is one commit that changed the standard file or the suite file (``git log --follow``, so a moved
file keeps its history), with its date, author, the file's content hash (the hash a run records in
``standards_versions.standard`` / ``suite``) and what changed against the previous version: columns added,
removed or changed, dataset properties changed; rules added, removed or changed (kwargs, effective dates).
Uncommitted edits are listed first as ``(working tree)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from governance.standards import gitrev
from governance.standards.catalogue import Catalogue
from governance.standards.models import Dataset
from governance.standards.versions import SHORT, sha256, standard_file

WORKING_TREE = "(working tree)"


@dataclass
class Version:
    kind: str  # "standard" or "suite"
    commit: str
    date: str
    author: str
    subject: str
    content_hash: str | None
    changes: list[str] = field(default_factory=list)

    def render(self) -> str:
        commit = self.commit[:10] if self.commit != WORKING_TREE else self.commit
        content = (self.content_hash or "deleted")[:SHORT]
        head = f"{self.date[:19] or '-':19}  {commit:14}  {self.kind:8}  {content:16}  {self.author}: {self.subject}"
        return "\n".join([head, *(f"    - {change}" for change in self.changes or ["(no change in content)"])])


def dataset_history(catalogue: Catalogue, dataset: Dataset, suite_file: Path) -> list[Version]:
    """Versions of the standard and the suite, newest first."""
    standard = standard_file(catalogue, dataset)
    versions = (_file_versions("standard", standard.parent, standard.name, standard_changes)
                + _file_versions("suite", suite_file.parent, suite_file.name, suite_changes))
    return sorted(versions, key=lambda version: (version.commit == WORKING_TREE, version.date), reverse=True)


def _file_versions(kind: str, folder: Path, name: str, differ: Any) -> list[Version]:
    revisions = gitrev.file_history(folder, name)
    contents = [gitrev.show(folder, revision.commit, revision.path) for revision in revisions]
    versions = []
    current = (folder / name).read_bytes() if (folder / name).is_file() else None
    if current != (contents[0] if contents else None):
        versions.append(Version(kind, WORKING_TREE, "", "", "uncommitted edits",
                                sha256(current) if current is not None else None,
                                differ(contents[0] if contents else None, current)))
    for index, revision in enumerate(revisions):
        before = contents[index + 1] if index + 1 < len(contents) else None
        after = contents[index]
        versions.append(Version(kind, revision.commit, revision.date, revision.author, revision.subject,
                                sha256(after) if after is not None else None, differ(before, after)))
    return versions


def _yaml_dataset(content: bytes | None) -> dict[str, Any]:
    if content is None:
        return {}
    try:
        data = yaml.safe_load(content.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return {"_unreadable": True}
    return data.get("dataset", {}) if isinstance(data, dict) and isinstance(data.get("dataset"), dict) else {}


def standard_changes(before: bytes | None, after: bytes | None) -> list[str]:
    """What changed between two versions of a dataset standard file, for people."""
    if before is None:
        return ["standard created"] if after is not None else []
    if after is None:
        return ["standard deleted"]
    old, new = _yaml_dataset(before), _yaml_dataset(after)
    if old.get("_unreadable") or new.get("_unreadable"):
        return ["file changed (one version is not valid YAML)"]
    old_columns = {column.get("name"): column for column in old.get("columns") or [] if isinstance(column, dict)}
    new_columns = {column.get("name"): column for column in new.get("columns") or [] if isinstance(column, dict)}
    changes = [f"column added: {name}" for name in new_columns if name not in old_columns]
    changes += [f"column removed: {name}" for name in old_columns if name not in new_columns]
    for name in [name for name in new_columns if name in old_columns]:
        for key in sorted(set(old_columns[name]) | set(new_columns[name])):
            if old_columns[name].get(key) != new_columns[name].get(key):
                changes.append(f"column {name}: {key} {_short(old_columns[name].get(key))} -> "
                               f"{_short(new_columns[name].get(key))}")
    for key in sorted((set(old) | set(new)) - {"columns"}):
        if old.get(key) != new.get(key):
            changes.append(f"{key}: {_short(old.get(key))} -> {_short(new.get(key))}")
    return changes


def _rules(content: bytes | None) -> dict[str, dict[str, Any]]:
    try:
        suite = json.loads(content.decode("utf-8")) if content is not None else {}
    except (ValueError, UnicodeDecodeError):
        return {}
    rules = {}
    for index, expectation in enumerate(suite.get("expectations") or [] if isinstance(suite, dict) else []):
        if isinstance(expectation, dict):
            meta = expectation.get("meta") if isinstance(expectation.get("meta"), dict) else {}
            rules[str(meta.get("rule") or f"{expectation.get('type')}[{index}]")] = expectation
    return rules


def suite_changes(before: bytes | None, after: bytes | None) -> list[str]:
    """Rules added, removed or changed between two versions of a suite file (rules named by ``meta.rule``)."""
    if before is None:
        return ["suite created"] if after is not None else []
    if after is None:
        return ["suite deleted"]
    old, new = _rules(before), _rules(after)
    changes = [f"rule added: {rule}" + _effective(new[rule]) for rule in new if rule not in old]
    changes += [f"rule removed: {rule}" for rule in old if rule not in new]
    for rule in [rule for rule in new if rule in old]:
        was, now = old[rule], new[rule]
        if was.get("type") != now.get("type"):
            changes.append(f"rule {rule}: type {was.get('type')} -> {now.get('type')}")
        for key in sorted(set(was.get("kwargs") or {}) | set(now.get("kwargs") or {})):
            before_value, after_value = (was.get("kwargs") or {}).get(key), (now.get("kwargs") or {}).get(key)
            if before_value != after_value:
                changes.append(f"rule {rule}: {key} {_short(before_value)} -> {_short(after_value)}"
                               + _effective(now))
        for key in ("effective_from", "waiver"):
            if (was.get("meta") or {}).get(key) != (now.get("meta") or {}).get(key):
                changes.append(f"rule {rule}: meta.{key} {_short((was.get('meta') or {}).get(key))} -> "
                               f"{_short((now.get('meta') or {}).get(key))}")
    return changes


def _effective(expectation: dict[str, Any]) -> str:
    day = (expectation.get("meta") or {}).get("effective_from")
    return f" (in force from {day})" if day else ""


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if value is not None else "-"
    return text if len(text) <= 60 else text[:57] + "..."
