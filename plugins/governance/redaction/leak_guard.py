"""The last check before publishing: no unmasked resident ID or mobile number leaves the platform.

Masking follows the standard, and the standard can be wrong: an identifier typed into 备注, a mobile
number in an address, an ID in a column graded L1. Every outgoing column is scanned after masking. In a
free-text column a hit is redacted in place (the column is meant to hold prose, and prose attracts
identifiers). In any other column a hit means the column was graded wrongly, so publishing is blocked
until the standard is fixed. Findings and errors carry column, rule and count, never a value.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from governance.columns import TEXT, as_text
from governance.errors import DataError
from governance.identifiers import resident_id_reasons
from governance.standards.catalogue import ResolvedColumn

RESIDENT_ID = r"(?<![0-9])([0-9]{17}[0-9Xx])(?![0-9])"
MOBILE = r"(?<![0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9])"
TOKEN_RULES = frozenset({"pseudonym", "encrypt"})  # hex / base64 tokens: digit runs there are not identifiers


@dataclass(frozen=True)
class LeakFinding:
    column: str
    rule: Literal["resident_id", "mobile"]
    count: int
    action: Literal["redacted", "blocked"]


class LeakBlocked(DataError):
    """Unmasked identifiers in columns not graded to hold them; nothing may be published."""

    def __init__(self, findings: list[LeakFinding], dataset: str = ""):
        self.findings = findings
        blocked = "; ".join(f"{f.column}: {f.count} {f.rule.replace('_', ' ')} value(s)"
                            for f in findings if f.action == "blocked")
        where = f" of {dataset}" if dataset else ""
        super().__init__(f"publish blocked: unmasked personal identifiers in column(s){where} whose standard "
                         f"does not mask them ({blocked}). Grade and mask these columns in the standard, "
                         "or mark them free_text if they hold prose.")


def _valid_ids(candidates: pd.Series) -> np.ndarray:
    """Which 18-character candidates are real IDs: check character, province and a real, past birth date
    (the validation rules, uppercased so a lowercase ``x`` still counts). The extra conditions keep
    18-digit business numbers, such as all-digit credit codes, from blocking a publish by chance."""
    if candidates.empty:
        return np.zeros(0, dtype=bool)
    return resident_id_reasons(candidates.str.upper()).isna().to_numpy()


def _id_hits(s: pd.Series) -> pd.Series:
    """The valid IDs found in each row, as an extractall-style Series indexed by (row, match)."""
    candidates = s.str.extractall(RESIDENT_ID)[0].astype(TEXT)
    return candidates[_valid_ids(candidates)]


def _mobile_hits(s: pd.Series) -> pd.Series:
    return s.str.extractall(MOBILE)[0]


def _redact_ids(s: pd.Series, hits: pd.Series) -> pd.Series:
    """Replace the valid IDs (only those: an 18-digit order number is left alone) by their display mask.
    The per-match callback runs only on rows that hold a hit, which are few."""
    found = set(hits.to_numpy(dtype=object))
    pattern = re.compile(RESIDENT_ID)

    def mask(match: re.Match[str]) -> str:
        value = match.group(0)
        return value[:6] + "********" + value[-4:] if value in found else value

    rows = s.index.isin(hits.index.get_level_values(0))
    out = s.copy()
    out[rows] = [pattern.sub(mask, value) for value in s[rows].to_numpy(dtype=object)]
    return out


def _redact_mobiles(s: pd.Series) -> pd.Series:
    return s.str.replace(MOBILE, r"\1****\2", regex=True)


def identifier_counts(values: pd.Series) -> dict[str, int]:
    """How many valid resident IDs and mobile numbers ``values`` hold in clear (rule -> count, hits only)."""
    text = as_text(values)
    s = text[text.str.contains("[0-9]{11}").to_numpy(dtype=bool, na_value=False)]
    counts = {"resident_id": len(_id_hits(s)), "mobile": len(_mobile_hits(s))}
    return {rule: count for rule, count in counts.items() if count}


def scan_and_redact(frame: pd.DataFrame, columns: Sequence[ResolvedColumn], *,
                    dataset: str = "") -> tuple[pd.DataFrame, list[LeakFinding]]:
    """Scan every column of ``frame`` (as masked for publishing), redact hits in free-text columns and
    raise LeakBlocked for hits anywhere else. Columns the standard does not describe (``_source_file``
    and the like) count as not free text. Returns the redacted frame and the findings."""
    by_name = {column.name: column for column in columns}
    out = frame.copy()
    findings: list[LeakFinding] = []
    for name in frame.columns:
        column = by_name.get(name)
        if column is not None and column.masking.rule in TOKEN_RULES:
            continue
        free_text = column is not None and column.element.free_text
        text = as_text(frame[name])
        # Only rows with a run of 11+ digits can hold either identifier. That test runs in Arrow (RE2); the
        # boundary look-arounds RE2 lacks then only run on those rows, usually few.
        digits = text.str.contains("[0-9]{11}").to_numpy(dtype=bool, na_value=False)
        s = text[digits]
        ids = _id_hits(s)
        if len(ids):
            findings.append(LeakFinding(str(name), "resident_id", len(ids), "redacted" if free_text else "blocked"))
            if free_text:
                s = _redact_ids(s, ids)
        mobiles = _mobile_hits(s)
        if len(mobiles):
            findings.append(LeakFinding(str(name), "mobile", len(mobiles), "redacted" if free_text else "blocked"))
            if free_text:
                s = _redact_mobiles(s)
        if free_text and (len(ids) or len(mobiles)):
            text = text.copy()
            text[digits] = s.array
            out[name] = text.array  # positional: the index may repeat labels
    if any(finding.action == "blocked" for finding in findings):
        raise LeakBlocked(findings, dataset)
    return out, findings


# ----------------------------------------------------------------------------------------------------------------
# Messages: the same rules over every text the pipeline writes about a run
# ----------------------------------------------------------------------------------------------------------------

# A run of 15 or more digits (a legacy 15-digit ID, an ID that fails its check, a bank card) is never a count,
# a date or a size in a message; valid IDs and mobiles are found by the rules above.
_LONG_DIGITS = re.compile(r"(?<![0-9])[0-9]{15,}[0-9Xx]?(?![0-9])")
_WITHHELD = {"resident_id": "[身份证号已隐去 ID withheld]", "mobile": "[手机号已隐去 mobile withheld]",
             "digits": "[长数字已隐去 digits withheld]"}


def redact_text(text: str) -> str:
    """``text`` with every resident ID, mobile number and long digit run replaced by a placeholder.

    The last line of defence for messages (run records, step summaries, XCom, exception messages that reach a
    task log): what the pipeline writes about a department's file is built to hold no value of it
    (``governance.redaction.untrusted``), and this catches what a library put in an error message anyway."""
    if not re.search("[0-9]{11}", text):
        return text

    def resident_id(match: re.Match[str]) -> str:
        valid = _valid_ids(pd.Series([match.group(1).upper()], dtype=TEXT))[0]
        return _WITHHELD["resident_id"] if valid else match.group(0)

    text = re.sub(RESIDENT_ID, resident_id, text)
    text = re.sub(MOBILE, _WITHHELD["mobile"], text)
    return _LONG_DIGITS.sub(_WITHHELD["digits"], text)


def redact_json(value: object) -> object:
    """``redact_text`` over every string (keys included) of a JSON-like value: summaries, records, XCom."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {redact_json(key) if isinstance(key, str) else key: redact_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_json(item) for item in value)
    return value


def redact_exception(error: BaseException) -> BaseException:
    """Redact the text arguments of ``error`` and of every exception it was raised from or during, in place,
    so the message Airflow logs (traceback and chained causes included) carries no identifier; returns it."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if any(isinstance(arg, str) for arg in current.args):
            with contextlib.suppress(AttributeError, TypeError):  # a type whose args cannot be replaced
                current.args = tuple(redact_text(arg) if isinstance(arg, str) else arg for arg in current.args)
        current = current.__cause__ or current.__context__
    return error
