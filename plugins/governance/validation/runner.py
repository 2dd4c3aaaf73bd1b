"""Run a suite with GX on a received frame and turn the results into row and table failures.

What leaves this module never holds a data value: GX is asked for COMPLETE results with
``exclude_unexpected_values`` (row indexes, no values), and the GX result leaves only as ``docs_result``,
stripped to counts by ``data_docs.safe_result`` for the run's Data Docs. Row failures name a positional
row, a rule, a column and a reason code; for identifier rules the reason is the specific one from
``identifiers`` (``bad_check_character``, ``legacy_15_digit``...), recomputed on the failing rows only.
The file's own column names (what the column-match rule observes) leave only as ``redaction.untrusted`` describes
them, and GX's exception messages (which can quote a value) not at all: only the exception's type.

A cell the reader marked as a number in a text column (``sources.cells``, the ``_numeric_cells`` bookkeeping
column) fails ``<column>.text_cell`` with reason ``numeric_cell``, whatever it shows; the other rules on that
cell (its digits are not what the department typed) are not reported for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import great_expectations as gx
import numpy as np
import pandas as pd
from great_expectations import exceptions as gx_exceptions
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.execution_engine import pandas_execution_engine
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from great_expectations.validator.v1_validator import Validator

import governance.validation.expectations  # noqa: F401  (registers the custom expectations)
from governance.errors import ConfigurationError
from governance.identifiers import credit_code_reasons, mobile_reasons, resident_id_reasons
from governance.redaction.untrusted import MISSING_HEADER_HINT, describe_column, is_safe_name, looks_like_data_row
from governance.sources.cells import NUMERIC_CELLS
from governance.validation.data_docs import safe_result
from governance.validation.names import person_name_reasons
from governance.validation.reasons import NUMERIC_CELL, NUMERIC_CELL_RULE
from governance.validation.suites import SuiteError, read_suite_json, rule_id
from governance.validation.uniqueness import UNIQUE_TYPES

__all__ = [
    "ROW_FAILURE_COLUMNS",
    "ExpectationProblem",
    "SuiteError",
    "ValidationOutcome",
    "build_expectation",
    "expectation_label",
    "load_suite",
    "to_gx_suite",
    "validate_frame",
]

# GX fingerprints every in-memory batch below 1 GB (an md5 over a pandas hash of every cell) as a batch
# marker; nothing here reads it and it cost a fifth of each chunk's validation. Pinned GX: see docs/performance.md.
pandas_execution_engine.HASH_THRESHOLD = 0

ROW_FAILURE_COLUMNS = ["row", "rule", "column", "reason"]
RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "exclude_unexpected_values": True,  # indexes only: unexpected values may be raw personal data
    "partial_unexpected_count": 0,
    "include_unexpected_rows": False,
    "return_unexpected_index_query": False,
}
_IDENTIFIER_REASONS = {
    "expect_column_values_to_be_valid_resident_id": resident_id_reasons,
    "expect_column_values_to_be_valid_credit_code": credit_code_reasons,
    "expect_column_values_to_be_valid_mobile_number": mobile_reasons,
    "expect_column_values_to_be_valid_person_name": person_name_reasons,
}
_REASONS = {
    "expect_column_values_to_not_be_null": "missing",
    "expect_column_values_to_be_unique": "duplicate_key",
    "expect_compound_columns_to_be_unique": "duplicate_key",
    "expect_column_values_to_be_in_set": "not_in_code_table",
    "expect_column_values_to_be_in_code_table": "not_in_code_table",
    "expect_column_value_lengths_to_be_between": "bad_length",
    "expect_column_values_to_match_regex": "pattern_mismatch",
    "expect_column_values_to_be_valid_date": "bad_date",
    "expect_column_values_to_be_valid_number": "bad_number",
    "expect_column_pair_gender_to_match_resident_id": "gender_mismatch",
    "expect_column_pair_birth_date_to_match_resident_id": "birth_date_mismatch",
}
# Table-level results whose observed value is structural (column names, counts), never data.
_SAFE_OBSERVED = ("expect_table_row_count", "expect_table_column_count")
_POSITION = "_governance_position"
SUITE_KEYS = {"name", "expectations", "meta", "id", "notes", "suite_parameters"}
_EXPECTATION_KEYS = {"type", "kwargs", "meta", "id", "notes", "description", "severity", "rendered_content"}


@dataclass
class ValidationOutcome:
    dataset_key: str
    suite_name: str
    row_count: int
    row_failures: pd.DataFrame  # row (positional), rule, column, reason
    table_failures: list[str] = field(default_factory=list)
    expectation_results: list[dict[str, Any]] = field(default_factory=list)
    success: bool = True
    docs_result: Any = None  # the GX suite result with counts only (no values), for Data Docs

    @property
    def failed_rows(self) -> list[int]:
        return sorted(set(self.row_failures["row"].tolist()))


def load_suite(path: Path | str) -> dict[str, Any]:
    """Read and check a suite file: SuiteError on invalid JSON (with line and column), a wrong shape, an
    unknown expectation type or kwargs GX rejects."""
    suite = read_suite_json(Path(path))
    to_gx_suite(suite, source=str(path))
    return suite


def expectation_label(index: int, expectation: Any) -> str:
    """``expectations[3] (name.max_length)``: how problems name an expectation (rule id where it has one)."""
    meta = expectation.get("meta") if isinstance(expectation, dict) else None
    rule = meta.get("rule") if isinstance(meta, dict) else None
    return f"expectations[{index}]" + (f" ({rule})" if rule else "")


class ExpectationProblem(ConfigurationError, ValueError):
    """Why GX cannot build one expectation; ``check`` is ``expectation-shape``, ``unknown-type`` or ``bad-kwargs``."""

    def __init__(self, check: str, message: str):
        super().__init__(check, message)
        self.check, self.message = check, message


def build_expectation(expectation: Any) -> ExpectationConfiguration:
    """The GX configuration of one suite entry, constructed as GX would (which validates its kwargs)."""
    if not isinstance(expectation, dict) or not isinstance(expectation.get("type"), str):
        raise ExpectationProblem("expectation-shape", "must be an object with a string 'type'")
    if unknown := sorted(set(expectation) - _EXPECTATION_KEYS):
        raise ExpectationProblem("expectation-shape", f"unknown keys: {', '.join(unknown)}")
    if not isinstance(expectation.get("kwargs", {}), dict) or not isinstance(expectation.get("meta") or {}, dict):
        raise ExpectationProblem("expectation-shape", "'kwargs' and 'meta' must be objects")
    try:
        configuration = ExpectationConfiguration(**{"kwargs": {}, **expectation})
        configuration.to_domain_obj()  # raises where ExpectationSuite would log and drop
    except gx_exceptions.ExpectationNotFoundError:
        raise ExpectationProblem("unknown-type", f"unknown expectation type {expectation['type']!r}") from None
    except Exception as error:  # pydantic and GX configuration errors alike
        raise ExpectationProblem("bad-kwargs", f"invalid {expectation['type']}: {_kwargs_message(error)}") from None
    return configuration


def _kwargs_message(error: Exception) -> str:
    """Pydantic's errors as an owner reads them: a missing or unknown kwarg by name, else the kwarg and why."""
    details = error.errors() if callable(getattr(error, "errors", None)) else []
    messages: dict[str, str] = {}
    for detail in details:
        name = ".".join(str(part) for part in detail["loc"])
        if detail["type"] == "type_error.dict" and name != "__root__":
            continue  # the suite-parameter alternative every kwarg also accepts: noise
        if detail["type"] == "value_error.missing":
            messages.setdefault(name, f"missing required kwarg {name!r}")
        elif detail["type"] == "value_error.extra":
            messages.setdefault(name, f"unknown kwarg {name!r}")
        else:
            messages.setdefault(name, detail["msg"] if name == "__root__" else f"kwarg {name!r}: {detail['msg']}")
    return "; ".join(messages.values()) or " ".join(str(error).split())[:300]


def to_gx_suite(suite: dict[str, Any], source: str = "<suite>") -> gx.ExpectationSuite:
    """Build the GX suite, raising SuiteError where GX would log and silently drop an expectation."""
    if not isinstance(suite.get("name"), str) or not suite["name"]:
        raise SuiteError(source, "a suite needs a non-empty string 'name'")
    if not isinstance(suite.get("expectations"), list):
        raise SuiteError(source, "a suite needs an 'expectations' list")
    if unknown := sorted(set(suite) - SUITE_KEYS):
        raise SuiteError(source, f"unknown suite keys: {', '.join(unknown)}")
    built = []
    for index, expectation in enumerate(suite["expectations"]):
        try:
            built.append(build_expectation(expectation))
        except ExpectationProblem as problem:
            raise SuiteError(source, f"{expectation_label(index, expectation)}: {problem.message}") from None
    meta = suite.get("meta") or {}
    gx_suite = gx.ExpectationSuite(name=suite["name"], expectations=built, meta=dict(meta), notes=suite.get("notes"))
    if len(gx_suite.expectations) != len(built):
        raise SuiteError(source, f"GX kept {len(gx_suite.expectations)} of {len(built)} expectations")
    return gx_suite


@cache
def _batch_definition():
    """One ephemeral GX context, pandas data source and whole-dataframe batch definition per process."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("governance_frames").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole_frame")


def _columns_of(kwargs: dict[str, Any]) -> list[str]:
    columns = [kwargs[key] for key in ("column", "column_A", "column_B") if isinstance(kwargs.get(key), str)]
    return columns + list(kwargs.get("column_list") or [])


def _reported_column(kwargs: dict[str, Any]) -> str | None:
    if "column_B" in kwargs:  # pair rules: the column checked against the ID (column_A)
        return kwargs["column_B"]
    if kwargs.get("column_list"):
        return "+".join(kwargs["column_list"])
    return kwargs.get("column")


def _describe_header(result: dict[str, Any], header: list[str]) -> None:
    """Replace, in a result's observed value and details, every name of the file's header that is not a safe
    identifier by its description (``column 3 of 9 (name withheld: ...)``): GX reports the column-match rule's
    observed value as the file's own column names, which a headerless drop fills with a person's data."""
    unsafe = {name: describe_column(name, index + 1, len(header))
              for index, name in reversed(list(enumerate(header))) if not is_safe_name(name)}

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return unsafe.get(value, value)
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [walk(item) for item in value]
        return value

    if unsafe:
        for key in ("observed_value", "details"):
            if key in result:
                result[key] = walk(result[key])


def _table_detail(type_: str, result: dict[str, Any], header: list[str]) -> str:
    mismatched = (result.get("details") or {}).get("mismatched")
    if isinstance(mismatched, dict | list) and mismatched:
        if isinstance(mismatched, dict):
            parts = [f"{what} columns: {', '.join(map(str, names))}" for what, names in sorted(mismatched.items())
                     if names]
        else:  # the ordered-list rule: one entry per position that differs
            parts = [f"position {item.get('Expected Column Position', 0) + 1}: expected {item.get('Expected')}, "
                     f"found {item.get('Found')}" for item in mismatched[:10]]
        hint = [MISSING_HEADER_HINT] if looks_like_data_row(header) else []
        return "; ".join(parts + hint) or "column set mismatch"
    if type_.startswith(_SAFE_OBSERVED) and "observed_value" in result:
        return f"observed {result['observed_value']}"
    return "failed"


def _entry(
    type_: str, rule: str | None, kwargs: dict[str, Any], success: bool, unexpected_count: int | None, error: str | None
) -> dict[str, Any]:
    """One expectation's result: counts only, never values."""
    return {
        "type": type_,
        "rule": rule or f"{type_}:{_reported_column(kwargs)}",
        "column": _reported_column(kwargs),
        "success": success,
        "unexpected_count": unexpected_count,
        "error": error,
    }


def _exception_message(info: dict[str, Any] | None) -> str | None:
    """The kind of the first exception GX caught (its info is flat, or keyed by metric when a metric failed).

    GX's message is withheld: a metric that fails on a value quotes it (``could not convert string to float:
    '<a name>'``). The exception's type, with the rule and column it failed on, is what an owner acts on."""
    infos = [info or {}, *[value for value in (info or {}).values() if isinstance(value, dict)]]
    for item in infos:
        if item.get("raised_exception"):
            kind = _exception_kind(item.get("exception_traceback") or "", item.get("exception_message") or "")
            return f"{kind} raised while computing the rule (message withheld: it can quote a value)"
    return None


def _exception_kind(traceback: str, message: str) -> str:
    """The exception class from the last line of a traceback (``ValueError: ...``), else ``error``."""
    for line in reversed([*traceback.strip().splitlines(), message]):
        if found := re.match(r"\s*([A-Za-z_][\w.]*(?:Error|Exception|Warning)):", line):
            return found.group(1).rsplit(".", 1)[-1]
    return "an error"


def _empty_failures() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": pd.array([], dtype="int64"),
            "rule": pd.array([], dtype=object),
            "column": pd.array([], dtype=object),
            "reason": pd.array([], dtype=object),
        }
    )


def _numeric_cells(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Column -> positions of the rows whose cell there was a number (``_numeric_cells``; few rows or none)."""
    if NUMERIC_CELLS not in frame.columns:
        return {}
    marked = frame[NUMERIC_CELLS].reset_index(drop=True).dropna()
    if marked.empty:
        return {}
    cells = marked.astype(str).str.split(",").explode()
    return {str(column): np.sort(rows.index.to_numpy(dtype="int64")) for column, rows in cells.groupby(cells)}


def _numeric_cell_failures(numeric: dict[str, np.ndarray]) -> list[pd.DataFrame]:
    return [pd.DataFrame({"row": pd.array(rows, dtype="int64"), "rule": f"{column}.{NUMERIC_CELL_RULE}",
                          "column": column, "reason": NUMERIC_CELL}) for column, rows in numeric.items()]


def _not_numeric(rows: list[int], columns: list[str], numeric: dict[str, np.ndarray]) -> list[int]:
    """``rows`` without those whose cell in one of ``columns`` is a number cell (reported as ``numeric_cell``)."""
    flagged = [numeric[column] for column in columns if column in numeric]
    if not flagged:
        return rows
    positions = np.asarray(rows, dtype="int64")
    return positions[~np.isin(positions, np.concatenate(flagged))].tolist()


def _row_failures(data: pd.DataFrame, type_: str, rule: str, kwargs: dict[str, Any], rows: list[int]) -> pd.DataFrame:
    column = _reported_column(kwargs)
    if type_ in _IDENTIFIER_REASONS:
        values = data[kwargs["column"]].iloc[rows].reset_index(drop=True)
        reasons = _IDENTIFIER_REASONS[type_](values).fillna("invalid").astype(object).tolist()
    else:
        reasons = _REASONS.get(type_, f"failed {type_.removeprefix('expect_')}")
    return pd.DataFrame({"row": pd.array(rows, dtype="int64"), "rule": rule, "column": column, "reason": reasons})


def validate_frame(frame: pd.DataFrame, suite: dict[str, Any], *, dataset_key: str) -> ValidationOutcome:
    """Validate ``frame`` (text columns plus ``_``-prefixed bookkeeping, which is ignored) against ``suite``.

    Row numbers in the outcome are positions in ``frame``. Expectations on columns the frame lacks are not
    run: they are table failures, as is any table-level rule that fails and any expectation GX cannot run.
    Rows that fail a rule are listed even when the rule's ``mostly`` lets the expectation succeed.
    """
    to_gx_suite(suite, source=dataset_key)  # the whole suite must be valid, run or not
    data = frame[[c for c in frame.columns if not str(c).startswith("_")]].reset_index(drop=True)
    numeric = _numeric_cells(frame)
    present = set(data.columns)
    outcome = ValidationOutcome(dataset_key, suite.get("name", ""), len(data), _empty_failures())
    entries: dict[int, tuple[dict[str, Any], str | None]] = {}
    runnable, not_run = [], []
    for position, expectation in enumerate(suite.get("expectations", [])):
        kwargs = expectation.get("kwargs") or {}
        if missing := [c for c in _columns_of(kwargs) if c not in present]:
            entry = _entry(expectation["type"], rule_id(expectation), kwargs, False, None, "missing column")
            entries[position] = (entry, f"not run, missing column {', '.join(missing)}")
            not_run.append((build_expectation(expectation), f"missing column {', '.join(missing)}"))
        else:  # meta carries the suite position through GX, which orders results its own way
            runnable.append({**expectation, "meta": {**(expectation.get("meta") or {}), _POSITION: position}})
    gx_suite = to_gx_suite({**suite, "expectations": runnable}, source=dataset_key)
    # The validator ``Batch.validate`` builds, without first building a Batch of its own: one batch per
    # validation instead of two.
    validator = Validator(_batch_definition(), result_format=RESULT_FORMAT, batch_parameters={"dataframe": data})
    pieces = []
    validated = validator.validate_expectation_suite(gx_suite)
    header = [str(name) for name in data.columns]
    for result in validated.results:
        if result.result:
            _describe_header(result.result, header)
    outcome.docs_result = safe_result(validated, not_run)
    for result in validated.results:
        config = result.expectation_config
        details, kwargs = result.result or {}, dict(config.kwargs)
        entry = _entry(
            config.type,
            rule_id({"meta": config.meta}),
            kwargs,
            bool(result.success),
            details.get("unexpected_count"),
            _exception_message(result.exception_info),
        )
        table_failure = None
        if entry["error"]:
            table_failure = f"could not run ({entry['error']})"
        elif "unexpected_index_list" in details:
            rows = [int(row) for row in details["unexpected_index_list"]]
            if numeric and config.type not in UNIQUE_TYPES:  # a duplicate is a fact about both rows: kept
                rows = _not_numeric(rows, _columns_of(kwargs), numeric)
            if rows:
                pieces.append(_row_failures(data, config.type, entry["rule"], kwargs, rows))
        elif not result.success:
            table_failure = _table_detail(config.type, details, header)
        entries[int(config.meta[_POSITION])] = (entry, table_failure)
    for position in sorted(entries):
        entry, table_failure = entries[position]
        outcome.expectation_results.append(entry)
        if table_failure:
            outcome.table_failures.append(f"{entry['rule']}: {table_failure}")
    for column, rows in numeric.items():
        outcome.expectation_results.append(_entry(NUMERIC_CELL, f"{column}.{NUMERIC_CELL_RULE}", {"column": column},
                                                  False, len(rows), None))
    pieces += _numeric_cell_failures(numeric)
    if pieces:
        failures = pd.concat(pieces, ignore_index=True).sort_values(["row", "rule"], kind="stable")
        outcome.row_failures = failures.reset_index(drop=True)
    outcome.success = all(entry["success"] for entry in outcome.expectation_results)
    return outcome
