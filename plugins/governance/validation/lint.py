"""``governance suites check``: every suite in expectations/ checked against GX and against the standards.

Standards owners edit suites by hand, so a suite can be broken in ways GX only notices at night (a typo in
a type or a kwarg, a column that does not exist) or weakened in ways nobody notices at all (a generated rule
deleted, a length limit raised). The checker reports every problem at once, each naming the file, the
expectation (``expectations[3] (name.max_length)``) and a check id, so ``make test`` fails before a merge.

The baseline is what ``suites.generate_suite`` derives from the standard: each of its rules must be in the
suite, and an owner's version (``meta.generated: false``) must not be looser unless it carries
``meta.waiver: "<reason>"``; a rule removed on purpose is waived in the suite's ``meta.waivers``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from governance.standards.catalogue import Catalogue
from governance.standards.models import Dataset
from governance.validation import effective
from governance.validation.baseline import loosenings
from governance.validation.runner import (
    SUITE_KEYS,
    ExpectationProblem,
    build_expectation,
    expectation_label,
    to_gx_suite,
)
from governance.validation.suites import SuiteError, generate_suite, is_generated, read_suite_json, rule_id


@dataclass(frozen=True)
class SuiteProblem:
    """One problem in one suite file: where (file, expectation), which check found it, and why."""

    file: str
    expectation: str  # "expectations[3] (name.max_length)", "rule name.not_null" for a removed rule, "" for the file
    check: str
    reason: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}:{self.column}" if self.line else "")
        at = f" {self.expectation}" if self.expectation else ""
        return f"{where}{at}: {self.reason} [{self.check}]"


@dataclass
class SuiteCheck:
    problems: list[SuiteProblem] = field(default_factory=list)
    suites: int = 0
    expectations: int = 0


def check_suites(catalogue: Catalogue, expectations_root: Path) -> SuiteCheck:
    """Check every file under ``expectations_root`` and that every dataset of ``catalogue`` has a suite."""
    report, found = SuiteCheck(), set()
    files = sorted(path for path in expectations_root.rglob("*") if path.is_file() and not path.name.startswith("."))
    for path in files:
        name, parts = _display(path, expectations_root), path.relative_to(expectations_root).parts
        if path.suffix != ".json" or len(parts) != 2:
            report.problems.append(SuiteProblem(name, "", "stray-file",
                                                "not a suite: suites are expectations/<department>/<dataset>.json"))
            continue
        key = f"{parts[0]}/{path.stem}"
        dataset = catalogue.datasets.get(key)
        if dataset is None:
            report.problems.append(SuiteProblem(name, "", "unknown-dataset", (
                f"no dataset {key} in the standards (standards/datasets/{key}.yaml); "
                "delete the suite or add the standard")))
            continue
        found.add(key)
        try:
            suite = read_suite_json(path)
        except SuiteError as error:
            report.problems.append(SuiteProblem(name, "", "invalid-json", error.message, error.line, error.column))
            continue
        report.suites += 1
        report.expectations += len(suite.get("expectations") or [])
        report.problems.extend(_check_suite(name, suite, dataset, catalogue))
    for key in sorted(set(catalogue.datasets) - found):
        dataset = catalogue.datasets[key]
        report.problems.append(SuiteProblem(_display(expectations_root / dataset.department / f"{dataset.name}.json",
                                                     expectations_root), "", "missing-suite",
                                            f"dataset {key} has no suite; run `governance suites generate`"))
    report.problems.sort(key=lambda problem: problem.file)  # stable: each file's problems keep their order
    return report


def _effective_problems(expectation: dict[str, Any], columns: set[str], dataset: Dataset) -> list[str]:
    """``meta.effective_from`` is a date, ``meta.replaces`` (the rule's earlier kwargs) builds and names the
    standard's columns (``governance.validation.effective``)."""
    found = effective.problems(expectation)
    previous = (expectation.get("meta") or {}).get(effective.REPLACES) if isinstance(expectation.get("meta"),
                                                                                        dict) else None
    if isinstance(previous, dict) and not found:
        try:
            build_expectation({"type": expectation.get("type"), "kwargs": previous})
        except ExpectationProblem as error:
            found.append(f"meta.replaces: {error.message}")
        found += [f"meta.replaces: column {column!r} is not in the standard of {dataset.key}"
                  for column in _columns(previous) if column not in columns]
    return found


def _display(path: Path, root: Path) -> str:
    return str(path.relative_to(root.parent))


def _check_suite(name: str, suite: dict[str, Any], dataset: Dataset, catalogue: Catalogue) -> list[SuiteProblem]:
    problems: list[SuiteProblem] = []

    def problem(expectation: str, check: str, reason: str) -> None:
        problems.append(SuiteProblem(name, expectation, check, reason))

    if suite.get("name") != dataset.dag_id:
        problem("", "suite-shape", f"the suite's name must be {dataset.dag_id!r}, not {suite.get('name')!r}")
    if unknown := sorted(set(suite) - SUITE_KEYS):
        problem("", "suite-shape", f"unknown suite keys: {', '.join(unknown)}")
    meta = suite.get("meta") or {}
    waivers = meta.get("waivers", {}) if isinstance(meta, dict) else {}
    if not isinstance(meta, dict) or not _is_waiver_map(waivers):
        problem("", "suite-shape", "'meta' must be an object and meta.waivers must map rule ids to reasons (text)")
        waivers = {}
    expectations = suite.get("expectations")
    if not isinstance(expectations, list):
        problem("", "suite-shape", "a suite needs an 'expectations' list")
        return problems
    columns = {column.name for column in dataset.columns}
    by_rule: dict[str, tuple[str, dict[str, Any]]] = {}
    for index, expectation in enumerate(expectations):
        label = expectation_label(index, expectation)
        try:
            build_expectation(expectation)
        except ExpectationProblem as error:
            problem(label, error.check, error.message)
        if not isinstance(expectation, dict):
            continue
        kwargs = expectation.get("kwargs") if isinstance(expectation.get("kwargs"), dict) else {}
        for column in _columns(kwargs):
            if column not in columns:
                problem(label, "unknown-column", f"column {column!r} is not in the standard of {dataset.key}")
        rule = rule_id(expectation) if isinstance(expectation.get("meta"), dict) else None
        if rule is not None and not isinstance(rule, str):
            problem(label, "suite-shape", "meta.rule must be a rule id (text)")
        elif rule is not None and rule in by_rule:
            problem(label, "duplicate-rule", f"rule id {rule!r} is also used by {by_rule[rule][0]}")
        elif rule is not None:
            by_rule[rule] = (label, expectation)
        problems.extend(SuiteProblem(name, label, "effective-date", reason) for reason in _effective_problems(
            expectation, columns, dataset))
        waiver = (expectation.get("meta") or {}).get("waiver") if isinstance(expectation.get("meta"), dict) else None
        if waiver is not None and not _is_reason(waiver):
            problem(label, "suite-shape", "meta.waiver must be the reason, as text")
    problems.extend(_check_baseline(name, generate_suite(catalogue, dataset), by_rule, waivers, catalogue))
    if not problems:
        try:  # whatever GX itself still objects to, once every expectation builds on its own
            to_gx_suite(suite, source=name)
        except SuiteError as error:
            problem("", "suite-shape", error.message)
    return problems


def _check_baseline(name: str, generated: dict[str, Any], by_rule: dict[str, tuple[str, dict[str, Any]]],
                    waivers: dict[str, str], catalogue: Catalogue) -> list[SuiteProblem]:
    """Every rule the standard implies is present, and no owner's version of one is looser, unless waived."""
    problems = []
    baseline = {rule_id(expectation): expectation for expectation in generated["expectations"]}
    for rule, expected in baseline.items():
        if rule not in by_rule:
            if not _is_reason(waivers.get(rule)):
                problems.append(SuiteProblem(name, f"rule {rule}", "removed-rule", (
                    f"the standard's rule {rule} ({expected['type']}) is missing; restore it with "
                    f"`governance suites generate`, or give the reason in meta.waivers[{rule!r}]")))
            continue
        label, actual = by_rule[rule]
        if is_generated(actual):
            if actual != expected:
                problems.append(SuiteProblem(name, label, "stale-rule", (
                    "marked generated but differs from what the standard generates; run `governance suites "
                    "generate`, or set meta.generated to false to keep an edit")))
        elif not _is_reason((actual.get("meta") or {}).get("waiver")) and (
                reasons := loosenings(expected, actual, lambda table: _codes(catalogue, table))):
            problems.append(SuiteProblem(name, label, "loosened-rule", (
                "looser than the standard without a waiver: " + "; ".join(reasons)
                + " (tighten it back, or give the reason in meta.waiver)")))
    for rule, (label, actual) in by_rule.items():
        if rule not in baseline and is_generated(actual):
            problems.append(SuiteProblem(name, label, "stale-rule", (
                "marked generated but the standard no longer generates it; `governance suites generate` will "
                "remove it (set meta.generated to false to keep it as your own rule)")))
    for rule in sorted(waivers):
        if rule not in baseline:
            problems.append(SuiteProblem(name, "", "unused-waiver",
                                         f"meta.waivers names {rule!r}, which is not a rule the standard generates"))
        elif rule in by_rule:
            problems.append(SuiteProblem(name, by_rule[rule][0], "unused-waiver",
                                         f"meta.waivers waives removing {rule}, but the suite has it"))
    return problems


def _columns(kwargs: dict[str, Any]) -> list[str]:
    """Every column an expectation's kwargs name (single, pair, compound or a table's column set)."""
    named = [kwargs[key] for key in ("column", "column_A", "column_B") if isinstance(kwargs.get(key), str)]
    for key in ("column_list", "column_set"):
        if isinstance(kwargs.get(key), list):
            named.extend(str(column) for column in kwargs[key])
    return named


def _codes(catalogue: Catalogue, table: str) -> set[str] | None:
    return set(catalogue.code_tables[table].codes) if table in catalogue.code_tables else None


def _is_reason(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_waiver_map(value: Any) -> bool:
    return isinstance(value, dict) and all(_is_reason(reason) for reason in value.values())
