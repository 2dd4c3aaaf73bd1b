"""Load every standards file, check it in two passes and resolve references.

Pass one is structural (pydantic models in ``models``); pass two applies the platform's
own rules (references resolve, keys exist, sensitive elements are masked, files sit where
their department and name say). Every problem is collected and reported together.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from governance.standards.agreements import Agreement, AgreementFile, check_agreement
from governance.standards.models import (
    MIN_NOTICE_DAYS,
    SENSITIVE_GRADES,
    CodeTableFile,
    Column,
    Dataset,
    DatasetFile,
    DataType,
    Department,
    Element,
    Masking,
    SharingType,
)
from governance.standards.positions import KeyPath, PositionedDocument, YamlSyntaxError, load_positioned
from governance.standards.problems import Problem, StandardsError
from governance.standards.profiles import Profile, ProfileFile, check_profile

DIVISIONS_FILE = "codes/divisions.csv"
_ISOLATED = ("datasets/", "agreements/", "profiles/")  # folders whose files break only themselves


@dataclass(frozen=True)
class CodeTable:
    id: str
    name_zh: str
    standard: str
    codes: dict[str, str]
    retired: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ResolvedColumn:
    """A dataset column with its element's definition and the dataset's overrides applied."""

    column: Column
    element: Element
    sharing: SharingType
    primary_key: bool

    @property
    def name(self) -> str:
        return self.column.name

    @property
    def masking(self) -> Masking:
        return self.column.masking or self.element.masking

    @property
    def required(self) -> bool:
        return self.column.required or self.primary_key

    @property
    def published(self) -> bool:
        return self.sharing != "not_shared" and self.masking.rule != "suppress"

    @property
    def published_type(self) -> DataType:
        """Masked values are text tokens or masks; only unmasked columns keep the element's type."""
        return self.element.type if self.masking.rule == "none" else "string"

    @property
    def sensitive(self) -> bool:
        return self.element.sensitivity in SENSITIVE_GRADES


@dataclass
class Catalogue:
    root: Path
    departments: dict[str, Department] = field(default_factory=dict)
    elements: dict[str, Element] = field(default_factory=dict)
    code_tables: dict[str, CodeTable] = field(default_factory=dict)
    datasets: dict[str, Dataset] = field(default_factory=dict)
    agreements: dict[str, Agreement] = field(default_factory=dict)  # sharing agreements, by id
    profiles: dict[str, Profile] = field(default_factory=dict)  # cross-department profiles, by name
    # Files left out by ``load_usable_catalogue`` (dataset, agreement and profile files with problems), with
    # their problems
    broken: dict[str, list[Problem]] = field(default_factory=dict)

    def dataset(self, key: str) -> Dataset:
        """Look a dataset up by ``department/dataset`` or by its DAG id; a left-out one raises its problems."""
        dataset = self.datasets.get(key.replace("__", "/"))
        problems = self.broken.get(f"datasets/{key.replace('__', '/')}.yaml")
        if dataset is None and problems:
            raise StandardsError(problems)
        if dataset is None:
            raise KeyError(f"no dataset {key!r} in {self.root}; known: {', '.join(sorted(self.datasets))}")
        return dataset

    def profile(self, name: str) -> Profile:
        """A cross-department profile by name; a left-out one raises its problems."""
        profile = self.profiles.get(name)
        if profile is None:
            problems = self.broken.get(f"profiles/{name}.yaml")
            if problems:
                raise StandardsError(problems)
            raise KeyError(f"no profile {name!r} in {self.root}; known: {', '.join(sorted(self.profiles))}")
        return profile

    def columns(self, dataset: Dataset) -> list[ResolvedColumn]:
        return self._resolved[dataset.key]

    def resolve(self, dataset: Dataset, name: str) -> ResolvedColumn | None:
        """One column of ``dataset`` resolved, or None if it has no such column or the column's element is
        unknown: safe on a catalogue still being checked (where ``columns`` would fail on any dataset)."""
        column = dataset.column(name)
        element = self.elements.get(column.element) if column else None
        return None if column is None or element is None else _resolve(dataset, column, element)

    @cached_property
    def _resolved(self) -> dict[str, list[ResolvedColumn]]:
        return {key: [_resolve(dataset, column, self.elements[column.element]) for column in dataset.columns]
                for key, dataset in self.datasets.items()}


def _resolve(dataset: Dataset, column: Column, element: Element) -> ResolvedColumn:
    """The column with its element and the dataset's sharing type applied."""
    return ResolvedColumn(column=column, element=element, sharing=column.sharing or dataset.sharing,
                          primary_key=column.name in dataset.primary_key)


def load_catalogue(root: Path) -> Catalogue:
    """Load and check all standards under ``root``; raise StandardsError listing every problem."""
    catalogue, problems = check_catalogue(root)
    if problems:
        raise StandardsError(problems)
    return catalogue


def load_usable_catalogue(root: Path) -> Catalogue:
    """The catalogue for DAGs and runs: a dataset, agreement or profile file with problems is left out (listed
    in ``broken``) so the other datasets keep running, and so is an agreement or profile reading a left-out
    dataset; problems in shared files (departments, elements, code tables) concern every dataset and raise
    StandardsError as ``load_catalogue`` does. ``governance standards check`` still fails on any problem."""
    catalogue, problems, origins = _check(root)
    if any(not problem.file.startswith(_ISOLATED) for problem in problems):
        raise StandardsError(problems)
    for problem in problems:
        catalogue.broken.setdefault(problem.file, []).append(problem)
    for registry, kind in ((catalogue.datasets, "Dataset"), (catalogue.agreements, "Agreement"),
                           (catalogue.profiles, "Profile")):
        for key in [key for key in registry if _relative(root, origins[f"{kind}:{key}"][0].file) in catalogue.broken]:
            del registry[key]
    readers = [(catalogue.agreements, "Agreement", "agreement.dataset", lambda a: [a.dataset], ("dataset",)),
               (catalogue.profiles, "Profile", "profile.base", lambda p: p.inputs, ("base",))]
    for registry, kind, shown, inputs, at in readers:  # an input was left out: so is its reader
        for key, item in [(key, item) for key, item in registry.items()
                          if any(dataset not in catalogue.datasets for dataset in inputs(item))]:
            document, path = origins[f"{kind}:{key}"]
            missing = ", ".join(dataset for dataset in inputs(item) if dataset not in catalogue.datasets)
            file, line = _relative(root, document.file), document.line_of((*path, *at))
            catalogue.broken[file] = [Problem(file, line, shown, "dataset-left-out",
                                              f"dataset {missing} has problems and was left out")]
            del registry[key]
    return catalogue


def check_catalogue(root: Path) -> tuple[Catalogue, list[Problem]]:
    catalogue, problems, _ = _check(root)
    return catalogue, problems


def _check(root: Path) -> tuple[Catalogue, list[Problem], dict[str, tuple[PositionedDocument, KeyPath]]]:
    loader = _Loader(root)
    catalogue = loader.load()
    loader.problems.extend(_cross_reference_problems(catalogue, loader.origins, loader.invalid_items))
    return catalogue, sorted(loader.problems, key=Problem.sort_key), loader.origins


class _Loader:
    def __init__(self, root: Path):
        self.root = root
        self.problems: list[Problem] = []
        self.origins: dict[str, tuple[PositionedDocument, KeyPath]] = {}
        self.invalid_items: set[str] = set()  # keys of items already reported as invalid

    def load(self) -> Catalogue:
        catalogue = Catalogue(root=self.root)
        if not self.root.is_dir():
            self._problem(self.root, None, "", "missing-root", f"standards folder {self.root} does not exist")
            return catalogue
        for document, path, department in self._parse_items("departments.yaml", "departments", Department):
            self._add(catalogue.departments, department.key, department, document, path)
        for document, path, element in self._parse_items("elements/*.yaml", "elements", Element):
            self._add(catalogue.elements, element.key, element, document, path)
        for document, parsed in self._parse_all("codes/*.yaml", CodeTableFile):
            table = CodeTable(parsed.id, parsed.name_zh, parsed.standard, parsed.codes)
            self._add(catalogue.code_tables, table.id, table, document, ("id",))
        divisions = self._load_divisions()
        if divisions is not None:
            catalogue.code_tables[divisions.id] = divisions
        files = (("datasets/*/*.yaml", DatasetFile, "dataset", "name", catalogue.datasets,
                  lambda dataset: (dataset.key, Path("datasets", dataset.department, f"{dataset.name}.yaml"))),
                 ("agreements/*.yaml", AgreementFile, "agreement", "id", catalogue.agreements,
                  lambda agreement: (agreement.id, Path("agreements", f"{agreement.id}.yaml"))),
                 ("profiles/*.yaml", ProfileFile, "profile", "name", catalogue.profiles,
                  lambda profile: (profile.name, Path("profiles", f"{profile.name}.yaml"))))
        for pattern, model, kind, naming, registry, place in files:  # one item per file, named by its file
            for document, parsed in self._parse_all(pattern, model):
                item = getattr(parsed, kind)
                key, expected = place(item)
                if self._relative(document.file) != str(expected):
                    self._problem(document.file, document.line_of((kind, naming)), f"{kind}.{naming}",
                                  "file-location", f"{kind} {key} must live in {expected}")
                self._add(registry, key, item, document, (kind,))
        return catalogue

    def _parse_all(self, pattern: str, model: type[BaseModel]) -> Iterable[tuple[PositionedDocument, Any]]:
        for document in self._documents(pattern):
            parsed = self._validate(document, model, document.data, ())
            if parsed is not None:
                yield document, parsed

    def _parse_items(self, pattern: str, list_key: str,
                     model: type[BaseModel]) -> Iterable[tuple[PositionedDocument, KeyPath, Any]]:
        """Validate list items one by one, so one bad element does not hide the others."""
        for document in self._documents(pattern):
            items = document.data.get(list_key) if isinstance(document.data, dict) else None
            if not isinstance(items, list) or set(document.data) != {list_key}:
                self._problem(document.file, 1, "", "schema", f"the file must hold one key, {list_key!r}, with a list")
                continue
            for index, item in enumerate(items):
                parsed = self._validate(document, model, item, (list_key, index))
                if parsed is not None:
                    yield document, (list_key, index), parsed
                elif isinstance(item, dict) and isinstance(item.get("key"), str):
                    self.invalid_items.add(item["key"])

    def _documents(self, pattern: str) -> Iterable[PositionedDocument]:
        for file in sorted(self.root.glob(pattern)):
            try:
                yield load_positioned(file)
            except YamlSyntaxError as error:
                self._problem(file, error.line, "", "yaml-syntax", error.reason)
            except UnicodeDecodeError:
                self._problem(file, None, "", "encoding", "standards files must be UTF-8")

    def _validate(self, document: PositionedDocument, model: type[BaseModel], data: Any, at: KeyPath) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as error:
            for detail in error.errors():
                path = (*at, *detail["loc"])
                self._problem(document.file, document.line_of(path), _render_path(document.data, path),
                              "schema", _message(detail))
            return None

    def _load_divisions(self) -> CodeTable | None:
        file = self.root / DIVISIONS_FILE
        if not file.exists():
            return None
        codes, retired = {}, set()
        with file.open(encoding="utf-8", newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                code = row.get("code", "")
                if len(code) != 6 or not code.isdigit():
                    self._problem(file, line, "code", "code-format", f"division code {code!r} is not 6 digits")
                    continue
                codes[code] = row["name"]
                if row.get("status") == "retired":
                    retired.add(code)
        return CodeTable("division", "县级以上行政区划代码", "GB/T 2260", codes, frozenset(retired))

    def _add(self, registry: dict[str, Any], key: str, item: Any, document: PositionedDocument,
             path: KeyPath) -> None:
        if key in registry:
            self._problem(document.file, document.line_of(path), _render_path(document.data, path),
                          "duplicate", f"{key!r} is defined twice")
            return
        registry[key] = item
        self.origins[f"{type(item).__name__}:{key}"] = (document, path)

    def _problem(self, file: Path, line: int | None, path: str, rule: str, message: str) -> None:
        self.problems.append(Problem(self._relative(file), line, path, rule, message))

    def _relative(self, file: Path) -> str:
        try:
            return str(file.relative_to(self.root))
        except ValueError:
            return str(file)


def _cross_reference_problems(catalogue: Catalogue, origins: dict[str, tuple[PositionedDocument, KeyPath]],
                              invalid_items: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    for element in catalogue.elements.values():
        document, here = origins[f"Element:{element.key}"]
        report = _reporter(catalogue.root, document, problems)
        table = element.domain.code_table
        if table and table not in catalogue.code_tables:
            report((*here, "domain", "code_table"), "unknown-code-table", f"unknown code table {table!r}")
        if element.sensitivity in SENSITIVE_GRADES and element.masking.rule == "none":
            report((*here, "masking"), "sensitive-unmasked",
                   f"element {element.key} is graded {element.sensitivity} but its masking rule is none")
    for dataset in catalogue.datasets.values():
        document, _ = origins[f"Dataset:{dataset.key}"]
        _check_dataset(catalogue, dataset, _reporter(catalogue.root, document, problems), invalid_items)
    for agreement in catalogue.agreements.values():
        document, _ = origins[f"Agreement:{agreement.id}"]
        check_agreement(catalogue, agreement, _reporter(catalogue.root, document, problems))
    for profile in catalogue.profiles.values():
        document, _ = origins[f"Profile:{profile.name}"]
        check_profile(catalogue, profile, _reporter(catalogue.root, document, problems))
    return problems


def _reporter(root: Path, document: PositionedDocument,
              problems: list[Problem]) -> Callable[[KeyPath, str, str], None]:
    def report(path: KeyPath, rule: str, message: str) -> None:
        problems.append(Problem(_relative(root, document.file), document.line_of(path),
                                _render_path(document.data, path), rule, message))
    return report


def _check_dataset(catalogue: Catalogue, dataset: Dataset, report: Callable[[KeyPath, str, str], None],
                   invalid_items: set[str]) -> None:
    if dataset.department not in catalogue.departments:
        report(("dataset", "department"), "unknown-department",
               f"unknown department {dataset.department!r} (not in departments.yaml)")
    names = [column.name for column in dataset.columns]
    for index, column in enumerate(dataset.columns):
        here = ("dataset", "columns", index)
        if names.count(column.name) > 1 and names.index(column.name) != index:
            report((*here, "name"), "duplicate-column", f"column {column.name!r} appears twice")
        element = catalogue.elements.get(column.element)
        if element is None:
            if column.element not in invalid_items:
                report((*here, "element"), "unknown-element", f"unknown element {column.element!r}")
            continue
        masking = column.masking or element.masking
        if element.sensitivity in SENSITIVE_GRADES and masking.rule == "none":
            report((*here, "masking"), "sensitive-unmasked",
                   f"column {column.name} holds {element.key} ({element.sensitivity}) and must be masked")
        if column.name in dataset.primary_key and masking.rule == "suppress":
            report((*here, "masking"), "key-suppressed", f"primary key column {column.name} cannot be suppressed")
    for index, key in enumerate(dataset.primary_key):
        if key not in names:
            report(("dataset", "primary_key", index), "unknown-column", f"primary key {key!r} is not a column")
    if dataset.freshness_column:
        column = dataset.column(dataset.freshness_column)
        element = catalogue.elements.get(column.element) if column else None
        if column is None:
            report(("dataset", "freshness_column"), "unknown-column",
                   f"freshness column {dataset.freshness_column!r} is not a column")
        elif element is not None and element.type not in ("date", "datetime"):
            report(("dataset", "freshness_column"), "freshness-type",
                   f"freshness column {column.name} must be a date or datetime, not {element.type}")
    for index, notice in enumerate(dataset.changes):
        if (notice.effective_from - notice.notice).days < MIN_NOTICE_DAYS:
            report(("dataset", "changes", index, "effective_from"), "notice-period",
                   f"a change effective {notice.effective_from} announced on {notice.notice} gives consumers "
                   f"{(notice.effective_from - notice.notice).days} days; at least {MIN_NOTICE_DAYS} are needed")
    if dataset.sharing == "not_shared" and not dataset.sharing_basis:
        report(("dataset", "sharing"), "sharing-basis", "a not_shared dataset must cite its legal basis")


def _relative(root: Path, file: Path) -> str:
    try:
        return str(file.relative_to(root))
    except ValueError:
        return str(file)


def _render_path(data: Any, path: KeyPath) -> str:
    """Name list items by their name or key (``columns.id_number``), not by index."""
    parts: list[str] = []
    node = data
    for step in path:
        if isinstance(step, int) and isinstance(node, list) and step < len(node):
            node = node[step]
            label = node.get("name") or node.get("key") if isinstance(node, dict) else None
            if label:
                parts.append(str(label))
            elif parts:
                parts[-1] += f"[{step}]"
            else:
                parts.append(f"[{step}]")
        else:
            node = node.get(step) if isinstance(node, dict) else None
            parts.append(str(step))
    return ".".join(parts)


def _message(detail: dict[str, Any]) -> str:
    message = detail["msg"].removeprefix("Value error, ")
    if detail["type"] == "missing":
        return "required key is missing"
    if detail["type"] == "extra_forbidden":
        return "unknown key (not part of the standards format)"
    return message
