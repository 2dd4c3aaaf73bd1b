"""Expectation suites generated from the standards, and regenerated without losing owners' edits.

A suite lives in ``<expectations_root>/<department>/<dataset>.json`` and is GX suite JSON named
``<department>__<dataset>``. Every expectation carries ``meta.rule``, a stable rule id such as
``id_number.resident_id``, and the generator marks its own with ``meta.generated: true``.

Editing convention (also written into each suite's ``meta.editing``):

* an expectation with ``"generated": true`` belongs to the generator: ``regenerate`` rewrites it from the
  standards, so hand edits to it are lost;
* to tighten a generated expectation, edit it and set ``"generated": false`` (or delete the key), keeping
  its ``rule``: the owner's version then replaces the generated rule of that id and is never overwritten;
* an expectation an owner adds (no ``generated: true``) is kept as it is; give it a ``rule`` id of its own
  (one not generated) so quarantine reports can name it. A rule id appears at most once in a suite.

This module reads and writes plain JSON and does not import GX; ``runner.load_suite`` checks a suite
against GX's registry of expectation types.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

from governance.errors import ConfigurationError
from governance.settings import get_settings
from governance.standards.catalogue import Catalogue, ResolvedColumn
from governance.standards.formats import strftime_format
from governance.standards.models import Dataset

EDITING = (
    "Expectations with meta.generated=true are rewritten from the standards on regeneration. To tighten one, "
    "edit it and set meta.generated to false, keeping meta.rule. Expectations without generated=true are kept."
)


class SuiteError(ConfigurationError):
    """A suite file that cannot be used: names the file and, for JSON syntax errors, the line and column."""

    def __init__(self, path: str, message: str, line: int | None = None, column: int | None = None):
        super().__init__(path, message, line, column)  # args rebuild it when pickled
        self.path, self.message, self.line, self.column = str(path), message, line, column

    def __str__(self) -> str:
        where = self.path + (f":{self.line}" if self.line else "") + (f":{self.column}" if self.column else "")
        return f"{where}: {self.message}"


def suite_name(dataset: Dataset) -> str:
    return dataset.dag_id


def suite_path(dataset: Dataset, expectations_root: Path | None = None) -> Path:
    """``<expectations_root>/<department>/<dataset>.json`` (root from the settings unless given)."""
    root = expectations_root if expectations_root is not None else get_settings().expectations_root
    return root / dataset.department / f"{dataset.name}.json"


def _expectation(rule: str, type_: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": type_, "kwargs": kwargs, "meta": {"generated": True, "rule": rule}}


def _column_rules(column: ResolvedColumn) -> list[dict[str, Any]]:
    name, element = column.name, column.element
    domain = element.domain
    rules = []
    if column.required:
        rules.append(_expectation(f"{name}.not_null", "expect_column_values_to_not_be_null", column=name))
    if domain.validator:
        type_ = {
            "resident_id": "expect_column_values_to_be_valid_resident_id",
            "credit_code": "expect_column_values_to_be_valid_credit_code",
            "mobile": "expect_column_values_to_be_valid_mobile_number",
            "person_name": "expect_column_values_to_be_valid_person_name",
        }[domain.validator]
        rules.append(_expectation(f"{name}.{domain.validator}", type_, column=name))
    elif domain.code_table:
        # By name, not by listing the codes: the table (retired division codes included) stays in standards/.
        rules.append(
            _expectation(
                f"{name}.code_table",
                "expect_column_values_to_be_in_code_table",
                column=name,
                code_table=domain.code_table,
            )
        )
    if element.max_length and not domain.code_table and domain.validator in (None, "person_name"):
        # Identifier validators and code tables already fix the length; a second rule would report the same row
        # twice. A name's length is its own rule, counted in characters (code points).
        rules.append(
            _expectation(
                f"{name}.max_length",
                "expect_column_value_lengths_to_be_between",
                column=name,
                min_value=0,
                max_value=element.max_length,
            )
        )
    if domain.pattern:
        regex = domain.pattern if domain.pattern.startswith("^") else f"^(?:{domain.pattern})$"
        rules.append(_expectation(f"{name}.pattern", "expect_column_values_to_match_regex", column=name, regex=regex))
    if element.type in ("date", "datetime"):
        rules.append(
            _expectation(
                f"{name}.{element.type}",
                "expect_column_values_to_be_valid_date",
                column=name,
                strftime_format=strftime_format(element.format, element.type),
            )
        )
    elif element.type in ("integer", "decimal"):
        kwargs: dict[str, Any] = {"number_type": element.type}
        if element.precision:
            kwargs["precision"], kwargs["scale"] = element.precision
        rules.append(
            _expectation(f"{name}.{element.type}", "expect_column_values_to_be_valid_number", column=name, **kwargs)
        )
    return rules


def _cross_field_rules(columns: list[ResolvedColumn]) -> list[dict[str, Any]]:
    """Gender and birth date against the resident ID, when the dataset has exactly one ID column."""
    ids = [column for column in columns if column.element.domain.validator == "resident_id"]
    if len(ids) != 1:
        return []
    id_column, rules = ids[0].name, []
    for column in columns:
        rule = f"{column.name}.matches_{id_column}"
        pair = {"column_A": id_column, "column_B": column.name, "ignore_row_if": "either_value_is_missing"}
        if column.element.key == "gender":
            rules.append(_expectation(rule, "expect_column_pair_gender_to_match_resident_id", **pair))
        elif column.element.key == "birth_date" and column.element.type == "date":
            rules.append(
                _expectation(
                    rule,
                    "expect_column_pair_birth_date_to_match_resident_id",
                    **pair,
                    strftime_format=strftime_format(column.element.format, "date"),
                )
            )
    return rules


def generate_suite(catalogue: Catalogue, dataset: Dataset) -> dict[str, Any]:
    """The GX suite JSON (as a dict) the standards imply for ``dataset``."""
    columns = catalogue.columns(dataset)
    expectations = [
        _expectation(
            "table.columns",
            "expect_table_columns_to_match_set",
            column_set=[column.name for column in columns],
            exact_match=True,
        )
    ]
    for column in columns:
        expectations.extend(_column_rules(column))
    key = dataset.primary_key
    if len(key) == 1:
        expectations.append(_expectation(f"{key[0]}.unique", "expect_column_values_to_be_unique", column=key[0]))
    else:
        expectations.append(
            _expectation(
                f"{'+'.join(key)}.unique",
                "expect_compound_columns_to_be_unique",
                column_list=list(key),
                ignore_row_if="any_value_is_missing",
            )
        )
    expectations.extend(_cross_field_rules(columns))
    return {
        "name": suite_name(dataset),
        "expectations": expectations,
        "meta": {
            "great_expectations_version": version("great-expectations"),
            "dataset": dataset.key,
            "title_zh": dataset.title_zh,
            "primary_key": list(key),
            "sensitive_columns": [column.name for column in columns if column.sensitive],
            "generator": "governance.validation.suites",
            "editing": EDITING,
        },
    }


def rule_id(expectation: dict[str, Any]) -> str | None:
    meta = expectation.get("meta") or {}
    return meta.get("rule")


def is_generated(expectation: dict[str, Any]) -> bool:
    return (expectation.get("meta") or {}).get("generated") is True


def regenerate(existing: dict[str, Any] | None, generated: dict[str, Any]) -> dict[str, Any]:
    """Merge a freshly generated suite into the one on disk.

    Generated expectations (``meta.generated: true``) are replaced by the new generated ones; an owner's
    expectation (anything else) is kept, and when it carries the rule id of a generated rule it takes that
    rule's place in the order. Owner keys in the suite's ``meta`` and top level survive; generated keys win.
    """
    if existing is None:
        return json.loads(json.dumps(generated))
    owned = [e for e in existing.get("expectations", []) if not is_generated(e)]
    by_rule: dict[str, dict[str, Any]] = {}
    for expectation in owned:
        rule = rule_id(expectation)
        if rule is None:
            continue
        if rule in by_rule:
            raise ValueError(f"suite {existing.get('name')!r}: rule {rule!r} appears in more than one expectation")
        by_rule[rule] = expectation
    placed: set[str] = set()
    merged = []
    for expectation in generated["expectations"]:
        rule = rule_id(expectation)
        if rule in by_rule:
            merged.append(by_rule[rule])
            placed.add(rule)
        else:
            merged.append(expectation)
    merged.extend(e for e in owned if rule_id(e) is None or rule_id(e) not in placed)
    suite = {**existing, **generated, "meta": {**(existing.get("meta") or {}), **generated["meta"]}}
    suite["expectations"] = merged
    return json.loads(json.dumps(suite))


def dumps_suite(suite: dict[str, Any]) -> str:
    return json.dumps(suite, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_suite(path: Path, suite: dict[str, Any]) -> None:
    """Pretty, stable JSON (sorted keys, UTF-8, Chinese kept readable); expectation order is preserved."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(dumps_suite(suite), encoding="utf-8")
    partial.replace(path)  # readers never see half a file


def read_suite_json(path: Path) -> dict[str, Any]:
    """The suite file's JSON object; SuiteError naming the file, line and column if it does not parse."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(str(path), "suite file does not exist") from None
    except UnicodeDecodeError as error:
        raise SuiteError(str(path), f"suite files must be UTF-8 ({error.reason} at byte {error.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SuiteError(str(path), f"invalid JSON: {error.msg}", error.lineno, error.colno) from None
    if not isinstance(data, dict):
        raise SuiteError(str(path), "a suite file holds one JSON object")
    return data


def regenerate_all(catalogue: Catalogue, expectations_root: Path | None = None) -> list[Path]:
    """Regenerate and write the suite of every dataset in the catalogue; returns the files written."""
    written = []
    for key in sorted(catalogue.datasets):
        dataset = catalogue.datasets[key]
        path = suite_path(dataset, expectations_root)
        existing = read_suite_json(path) if path.exists() else None
        write_suite(path, regenerate(existing, generate_suite(catalogue, dataset)))
        written.append(path)
    return written
