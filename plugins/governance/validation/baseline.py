"""Is an owner's edit of a generated rule still at least as strict as the standard's baseline?

Owners may tighten a generated rule (``meta.generated: false``) but not loosen it silently: a loosened rule
lets rows through that the shared standard rejects. ``loosenings`` compares the owner's expectation with the
one ``suites.generate_suite`` derives and returns, in words, every way the edit checks less. Where it cannot
prove an edit is not looser (a changed regex or date format, a new ``row_condition``), it says so too: the
owner then records the reason in ``meta.waiver`` and a reviewer reads it. Plain dicts; GX is not needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CodeLookup = Callable[[str], set[str] | None]  # code table id -> its codes (None: no such table)

_TARGETS = ("column", "column_A", "column_B", "column_list")
# ignore_row_if, from the setting that checks the most rows to the one that skips the most. Left out, GX's
# default applies (both_values_are_missing for pairs, all_values_are_missing for compounds): rank 1 either way.
_IGNORE_DEFAULT_RANK = 1
_IGNORE_RANK = {
    "neither": 0, "both_values_are_missing": 1, "either_value_is_missing": 2,  # column pairs
    "never": 0, "all_values_are_missing": 1, "any_value_is_missing": 2,  # compound columns
}
_SHOWN = 60  # characters of a kwarg value quoted in a message


def loosenings(generated: dict[str, Any], owned: dict[str, Any], codes: CodeLookup) -> list[str]:
    """Reasons ``owned`` checks less than ``generated`` (same rule id); empty when it is at least as strict."""
    base = generated.get("kwargs") or {}
    edit = owned["kwargs"] if isinstance(owned.get("kwargs"), dict) else {}
    moved = [f"checks {key} {_show(edit.get(key))} instead of {_show(base[key])}"
             for key in _TARGETS if key in base and edit.get(key) != base[key]]
    if moved:
        return moved
    reasons = _mostly(base, edit)
    base_type, edit_type = generated["type"], owned.get("type")
    handled: tuple[str, ...]
    if edit_type == "expect_column_values_to_be_in_set" and base_type == "expect_column_values_to_be_in_code_table":
        # A code table narrowed to listed codes: fine while every listed code is in the table.
        table, handled = base["code_table"], ("code_table", "value_set")
        reasons += _set_within(edit.get("value_set"), codes(table), f"code table {table}")
    elif edit_type != base_type:
        return [*reasons, f"replaces {base_type} by {edit_type}, which the checker cannot compare"]
    elif base_type in _COMPARISONS:
        compare, handled = _COMPARISONS[base_type]
        reasons += compare(base, edit, codes)
    else:
        handled = ()
    for key in sorted((set(base) | set(edit)) - {*_TARGETS, "mostly", *handled}):
        if base.get(key) != edit.get(key):
            reasons.append(f"changes {key} from {_show(base.get(key))} to {_show(edit.get(key))}, "
                           "which the checker cannot compare")
    return reasons


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _mostly(base: dict[str, Any], edit: dict[str, Any]) -> list[str]:
    required, allowed = base.get("mostly", 1), edit.get("mostly", 1)
    if not _number(allowed):
        return [f"sets mostly to {_show(allowed)}, which the checker cannot compare"]
    if allowed < required:
        return [f"mostly {allowed} lets {1 - allowed:.0%} of rows fail (the standard: "
                + ("every row)" if required == 1 else f"mostly {required})")]
    return []


def _set_within(value_set: Any, allowed: set[str] | None, what: str) -> list[str]:
    if not isinstance(value_set, list) or allowed is None:
        return [f"sets value_set to {_show(value_set)}, which the checker cannot compare with {what}"]
    added = sorted({str(value) for value in value_set} - allowed)
    return [f"allows {len(added)} value(s) outside {what}: {_show(added)}"] if added else []


def _lengths(base: dict[str, Any], edit: dict[str, Any], codes: CodeLookup) -> list[str]:
    """Lengths are whole numbers, so a strict bound is the plain bound one step in; no minimum is 0."""
    def bounds(kwargs: dict[str, Any]) -> tuple[Any, Any]:
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        low = 0 if low is None else low + 1 if _number(low) and kwargs.get("strict_min") else low
        high = high - 1 if _number(high) and kwargs.get("strict_max") else high
        return low, high

    (base_low, base_high), (low, high) = bounds(base), bounds(edit)
    if not (_number(low) and (high is None or _number(high))):
        return ["sets length bounds the checker cannot compare"]
    reasons = []
    if base_high is not None and (high is None or high > base_high):
        reasons.append(f"allows length {'without limit' if high is None else high} (the standard: at most {base_high})")
    if low < base_low:
        reasons.append(f"allows length {low} (the standard: at least {base_low})")
    return reasons


def _in_set(base: dict[str, Any], edit: dict[str, Any], codes: CodeLookup) -> list[str]:
    allowed = {str(value) for value in base["value_set"]} if isinstance(base.get("value_set"), list) else None
    return _set_within(edit.get("value_set"), allowed, "the standard's set")


def _code_table(base: dict[str, Any], edit: dict[str, Any], codes: CodeLookup) -> list[str]:
    if edit.get("code_table") == base["code_table"]:
        return []
    extra, allowed = codes(str(edit.get("code_table"))), codes(base["code_table"])
    if extra is None or allowed is None:
        return [f"uses code table {_show(edit.get('code_table'))}, which the checker cannot compare"]
    added = sorted(extra - allowed)
    return [f"code table {edit['code_table']} allows {len(added)} code(s) outside {base['code_table']}: "
            f"{_show(added)}"] if added else []


def _column_set(base: dict[str, Any], edit: dict[str, Any], codes: CodeLookup) -> list[str]:
    reasons = []
    if not isinstance(edit.get("column_set"), list):
        return [f"sets column_set to {_show(edit.get('column_set'))}, which the checker cannot compare"]
    if dropped := [column for column in base["column_set"] if column not in edit["column_set"]]:
        reasons.append(f"drops column(s) {', '.join(dropped)} from the column set")
    if base.get("exact_match", True) is True and edit.get("exact_match", True) is not True:
        reasons.append("no longer requires exactly these columns (exact_match)")
    return reasons


def _numbers(base: dict[str, Any], edit: dict[str, Any], codes: CodeLookup) -> list[str]:
    reasons = []
    if base.get("number_type") == "integer" and edit.get("number_type") != "integer":
        reasons.append(f"accepts {_show(edit.get('number_type'))} numbers (the standard: integer)")
    for key in ("precision", "scale"):
        limit, value = base.get(key), edit.get(key)
        if limit is not None and not (_number(value) and value <= limit):
            reasons.append(f"allows {key} {_show(value)} (the standard: {limit})")
    return reasons


def _ignore_row_if(base: dict[str, Any], edit: dict[str, Any], codes: CodeLookup) -> list[str]:
    rank = _IGNORE_RANK.get(edit["ignore_row_if"]) if "ignore_row_if" in edit else _IGNORE_DEFAULT_RANK
    limit = _IGNORE_RANK[base["ignore_row_if"]]
    if rank is None or rank > limit:
        return [f"ignore_row_if {_show(edit.get('ignore_row_if'))} skips rows the standard checks "
                f"({base['ignore_row_if']})"]
    return []


_Compare = Callable[[dict[str, Any], dict[str, Any], CodeLookup], list[str]]
_COMPARISONS: dict[str, tuple[_Compare, tuple[str, ...]]] = {
    "expect_column_value_lengths_to_be_between": (_lengths, ("min_value", "max_value", "strict_min", "strict_max")),
    "expect_column_values_to_be_in_set": (_in_set, ("value_set",)),
    "expect_column_values_to_be_in_code_table": (_code_table, ("code_table",)),
    "expect_table_columns_to_match_set": (_column_set, ("column_set", "exact_match")),
    "expect_column_values_to_be_valid_number": (_numbers, ("number_type", "precision", "scale")),
    "expect_compound_columns_to_be_unique": (_ignore_row_if, ("ignore_row_if",)),
    "expect_column_pair_gender_to_match_resident_id": (_ignore_row_if, ("ignore_row_if",)),
    "expect_column_pair_birth_date_to_match_resident_id": (_ignore_row_if, ("ignore_row_if",)),
}
