"""Custom GX Core 1.x expectations for Chinese identifiers, text-encoded dates and numbers, code tables of the
shared standards, and cross-field consistency with the resident ID number. Importing this module registers
them with GX.

Every check is vectorised: the metric receives a whole column (GX has already dropped nulls; null handling
is the not-null rule's business) and returns a boolean Series. The identifier rules delegate to
``governance.identifiers`` so the expectation and the quarantine reason agree by construction.

Suite JSON must name every parameter these expectations take: the parameters have no class-level defaults
(``strftime_format``, ``number_type``, ``ignore_row_if`` are required), so GX never saves one of them with
empty kwargs, and ``governance.validation.runner.load_suite`` imports this module before parsing a suite.

A code-table rule names the table (``code_table: division``) instead of listing its codes: the codes live once,
in ``standards/codes/``, and are read from the standards catalogue when a suite is built, so a suite stays
readable and follows the standard when a table changes (GB/T 2260 alone has thousands of division codes).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from great_expectations.compatibility import pydantic
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation, ColumnPairMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    ColumnPairMapMetricProvider,
    column_condition_partial,
    column_pair_condition_partial,
)

from governance.identifiers import (
    birth_date_from_resident_id,
    credit_code_reasons,
    gender_from_resident_id,
    mobile_reasons,
    resident_id_reasons,
)
from governance.settings import get_settings
from governance.standards.catalogue import load_usable_catalogue
from governance.validation.names import person_name_reasons

_STRING = pd.StringDtype("pyarrow")
# Directives of fixed width: a format made only of these and literal characters fixes the text's length,
# which rejects the unpadded forms (``2024-1-5``) that strptime would otherwise accept.
_DIRECTIVE_WIDTHS = {"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2, "%": 1}
_PAIR_IGNORE = Literal["both_values_are_missing", "either_value_is_missing", "neither"]


def _mask(result: pd.Series) -> np.ndarray:
    return result.to_numpy(dtype=bool, na_value=False)


def fixed_width(strftime_format: str) -> int | None:
    """Length of any text written in ``strftime_format``, or None if a directive has variable width."""
    width, pieces = 0, re.split(r"(%.)", strftime_format)
    for piece in pieces:
        if piece.startswith("%") and len(piece) == 2:
            if piece[1] not in _DIRECTIVE_WIDTHS:
                return None
            width += _DIRECTIVE_WIDTHS[piece[1]]
        else:
            width += len(piece)
    return width


def parse_dates(values: pd.Series, strftime_format: str) -> pd.Series:
    """Timestamps for text in ``strftime_format`` (exact width where the format fixes it); NaT otherwise."""
    s = values.astype(_STRING)
    parsed = pd.to_datetime(s, format=strftime_format, errors="coerce")
    width = fixed_width(strftime_format)
    if width is not None:
        parsed = parsed.where(_mask(s.str.len() == width))
    return parsed


def number_pattern(number_type: str, precision: int | None, scale: int | None) -> str:
    """RE2 pattern for integer/decimal text: at most ``precision`` digits, ``scale`` of them after the point."""
    fraction = 0 if number_type == "integer" else scale
    whole = "+" if precision is None else f"{{1,{max(precision - (fraction or 0), 1)}}}"
    if fraction == 0:
        return f"[+-]?[0-9]{whole}"
    places = "+" if fraction is None else f"{{1,{fraction}}}"
    return f"[+-]?[0-9]{whole}([.][0-9]{places})?"


def valid_numbers(values: pd.Series, number_type: str, precision: int | None, scale: int | None) -> np.ndarray:
    return _mask(values.astype(_STRING).str.fullmatch(number_pattern(number_type, precision, scale)))


@cache
def _code_tables(standards_root: Path) -> dict[str, list[str]]:
    """Every code of every table (retired division codes included), loaded once per process and root."""
    tables = load_usable_catalogue(standards_root).code_tables
    return {table_id: sorted(table.codes) for table_id, table in tables.items()}


def code_table_codes(code_table: str) -> list[str]:
    """The codes of ``code_table`` in the standards catalogue the settings point at; KeyError if unknown."""
    root = get_settings().standards_root
    tables = _code_tables(root)
    if code_table not in tables:
        raise KeyError(f"unknown code table {code_table!r}; {root / 'codes'} has {', '.join(sorted(tables))}")
    return tables[code_table]


# ------------------------------------------------------------------------------------------ metrics


class ColumnValuesValidResidentId(ColumnMapMetricProvider):
    condition_metric_name = "column_values.governance_valid_resident_id"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs) -> pd.Series:
        return resident_id_reasons(column).isna()


class ColumnValuesValidCreditCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.governance_valid_credit_code"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs) -> pd.Series:
        return credit_code_reasons(column).isna()


class ColumnValuesValidMobileNumber(ColumnMapMetricProvider):
    condition_metric_name = "column_values.governance_valid_mobile_number"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs) -> pd.Series:
        return mobile_reasons(column).isna()


class ColumnValuesValidPersonName(ColumnMapMetricProvider):
    condition_metric_name = "column_values.governance_valid_person_name"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs) -> pd.Series:
        return person_name_reasons(column).isna()


class ColumnValuesValidDate(ColumnMapMetricProvider):
    condition_metric_name = "column_values.governance_valid_date"
    condition_value_keys = ("strftime_format",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, strftime_format: str, **kwargs) -> pd.Series:
        return parse_dates(column, strftime_format).notna()


class ColumnValuesValidNumber(ColumnMapMetricProvider):
    condition_metric_name = "column_values.governance_valid_number"
    condition_value_keys = ("number_type", "precision", "scale")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(
        cls, column: pd.Series, number_type: str, precision: int | None = None, scale: int | None = None, **kwargs
    ) -> pd.Series:
        return pd.Series(valid_numbers(column, number_type, precision, scale), index=column.index)


class ColumnValuesInCodeTable(ColumnMapMetricProvider):
    condition_metric_name = "column_values.governance_in_code_table"
    condition_value_keys = ("code_table",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, code_table: str, **kwargs) -> pd.Series:
        return column.astype(_STRING).isin(code_table_codes(code_table))


def gender_matches(id_numbers: pd.Series, genders: pd.Series) -> np.ndarray:
    """True unless the ID's sequence parity contradicts a stated gender ('1'/'2'); '0', '9', codes outside the
    table and IDs whose gender cannot be derived are left to the code-table and identifier rules."""
    derived = gender_from_resident_id(id_numbers)
    stated = genders.astype(_STRING)
    comparable = _mask(stated.isin(["1", "2"])) & derived.notna().to_numpy()
    return ~comparable | _mask(derived == stated)


def birth_date_matches(id_numbers: pd.Series, birth_dates: pd.Series, strftime_format: str) -> np.ndarray:
    """True unless both dates are readable and differ (unreadable ones are the date and ID rules' business)."""
    derived = birth_date_from_resident_id(id_numbers).to_numpy(dtype="M8[D]")
    stated = parse_dates(birth_dates, strftime_format).to_numpy(dtype="M8[D]")
    comparable = ~np.isnat(derived) & ~np.isnat(stated)
    return ~comparable | (derived == stated)


class ColumnPairGenderMatchesResidentId(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.governance_gender_matches_resident_id"

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, **kwargs) -> pd.Series:
        return pd.Series(gender_matches(column_A, column_B), index=column_A.index)


class ColumnPairBirthDateMatchesResidentId(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.governance_birth_date_matches_resident_id"
    condition_value_keys = ("strftime_format",)

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, strftime_format: str, **kwargs) -> pd.Series:
        return pd.Series(birth_date_matches(column_A, column_B, strftime_format), index=column_A.index)


# ------------------------------------------------------------------------------------- expectations


class ExpectColumnValuesToBeValidResidentId(ColumnMapExpectation):
    """Values are GB 11643-1999 resident identity numbers (18 characters, real birth date, MOD 11-2 check)."""

    map_metric = "column_values.governance_valid_resident_id"
    success_keys = ("mostly",)
    args_keys = ("column",)


class ExpectColumnValuesToBeValidCreditCode(ColumnMapExpectation):
    """Values are GB 32100-2015 unified social credit codes (alphabet, both check characters)."""

    map_metric = "column_values.governance_valid_credit_code"
    success_keys = ("mostly",)
    args_keys = ("column",)


class ExpectColumnValuesToBeValidMobileNumber(ColumnMapExpectation):
    """Values are bare mainland mobile numbers, ``^1[3-9][0-9]{9}$`` (no prefix, no separators)."""

    map_metric = "column_values.governance_valid_mobile_number"
    success_keys = ("mostly",)
    args_keys = ("column",)


class ExpectColumnValuesToBeValidPersonName(ColumnMapExpectation):
    """Values are names in the characters a name may hold: ideographs of every CJK block (Extensions A to I), the
    separator dot U+00B7, Latin letters (``governance.validation.names``)."""

    map_metric = "column_values.governance_valid_person_name"
    success_keys = ("mostly",)
    args_keys = ("column",)


class ExpectColumnValuesToBeValidDate(ColumnMapExpectation):
    """Values are text dates/datetimes in ``strftime_format`` (e.g. ``%Y-%m-%d``), real calendar values."""

    strftime_format: str
    map_metric = "column_values.governance_valid_date"
    success_keys = ("strftime_format", "mostly")
    args_keys = ("column", "strftime_format")


class ExpectColumnValuesToBeValidNumber(ColumnMapExpectation):
    """Values are integer or decimal text with an optional sign; ``precision``/``scale`` bound the digits as in
    SQL ``DECIMAL(p, s)`` (None: unbounded)."""

    number_type: Literal["integer", "decimal"]
    precision: int | None = None
    scale: int | None = None
    map_metric = "column_values.governance_valid_number"
    success_keys = ("number_type", "precision", "scale", "mostly")
    args_keys = ("column", "number_type")


class ExpectColumnValuesToBeInCodeTable(ColumnMapExpectation):
    """Values are codes of the standards' code table ``code_table`` (``standards/codes/<id>.yaml``, or
    ``division``: GB/T 2260 including retired codes, which stay legitimate in historical records)."""

    code_table: str
    map_metric = "column_values.governance_in_code_table"
    success_keys = ("code_table", "mostly")
    args_keys = ("column", "code_table")

    @pydantic.validator("code_table")
    def _known_code_table(cls, code_table: str) -> str:
        """A suite naming a table the standards lack is broken when loaded, not when a night's data arrives."""
        try:
            code_table_codes(code_table)
        except KeyError as error:
            raise ValueError(error.args[0]) from None
        return code_table


class ExpectColumnPairGenderToMatchResidentId(ColumnPairMapExpectation):
    """A stated gender (column_B, GB/T 2261.1 '1'/'2') agrees with the parity of the ID number's 17th digit
    (column_A)."""

    ignore_row_if: _PAIR_IGNORE
    map_metric = "column_pair_values.governance_gender_matches_resident_id"
    success_keys = ("column_A", "column_B", "ignore_row_if", "mostly")
    args_keys = ("column_A", "column_B")


class ExpectColumnPairBirthDateToMatchResidentId(ColumnPairMapExpectation):
    """A birth date (column_B, text in ``strftime_format``) equals the date encoded in the ID number (column_A)."""

    ignore_row_if: _PAIR_IGNORE
    strftime_format: str
    map_metric = "column_pair_values.governance_birth_date_matches_resident_id"
    success_keys = ("column_A", "column_B", "ignore_row_if", "strftime_format", "mostly")
    args_keys = ("column_A", "column_B", "strftime_format")


CUSTOM_EXPECTATIONS = {
    cls.expectation_type: cls
    for cls in (
        ExpectColumnValuesToBeValidResidentId,
        ExpectColumnValuesToBeValidCreditCode,
        ExpectColumnValuesToBeValidMobileNumber,
        ExpectColumnValuesToBeValidPersonName,
        ExpectColumnValuesToBeValidDate,
        ExpectColumnValuesToBeValidNumber,
        ExpectColumnValuesToBeInCodeTable,
        ExpectColumnPairGenderToMatchResidentId,
        ExpectColumnPairBirthDateToMatchResidentId,
    )
}
