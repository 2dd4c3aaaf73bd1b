"""Safe YAML loading that remembers where each key came from.

Standards owners edit these files by hand, so every problem must point at a line. PyYAML's
safe composer gives node positions; we keep a map from key path to 1-based line beside the
plain data. YAML never names code here: only the safe constructors are used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from governance.errors import ConfigurationError

KeyPath = tuple[str | int, ...]


@dataclass
class PositionedDocument:
    """Plain data from one YAML file plus the line where each key path starts."""

    file: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


class YamlSyntaxError(ConfigurationError, ValueError):
    def __init__(self, file: Path, line: int | None, reason: str):
        super().__init__(reason)
        self.file, self.line, self.reason = file, line, reason


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int):
        super().__init__(key)
        self.key, self.line = key, line


def load_positioned(file: Path) -> PositionedDocument:
    text = file.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        reason = f"invalid YAML: {error.problem}"
        raise YamlSyntaxError(file, mark.line + 1 if mark else None, reason) from error
    document = PositionedDocument(file=file, data=None)
    if node is None:
        return document
    try:
        document.data = _construct(node, (), document.lines)
    except _DuplicateKey as duplicate:
        raise YamlSyntaxError(file, duplicate.line, f"duplicate key {duplicate.key!r}") from None
    return document


def _construct(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            child = (*path, key)
            lines[child] = key_node.start_mark.line + 1
            if key in result:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            result[key] = _construct(value_node, child, lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, index), lines) for index, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
