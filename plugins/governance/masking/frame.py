"""Mask a validated frame for publishing: apply each column's rule, drop what is not shared, guard leaks.

The output holds exactly what may leave the platform: the published standard columns in standard order,
each as text, plus the pipeline's own ``_``-prefixed bookkeeping columns. Anything else in the input (a
column the source sent but the standard does not describe) is dropped, because an undescribed column has
no grade and so no masking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from governance.columns import TEXT
from governance.errors import ConfigurationError
from governance.keys import crypto
from governance.keys.keyring import Keyring
from governance.masking import rules
from governance.redaction.leak_guard import LeakFinding, scan_and_redact
from governance.redaction.untrusted import describe_column
from governance.standards.catalogue import ResolvedColumn


class MaskingError(ConfigurationError):
    """A column's rule cannot be applied (for example a keyed rule without a keyring)."""


@dataclass
class MaskResult:
    frame: pd.DataFrame
    masked_columns: dict[str, str]  # published column -> rule applied (every published standard column)
    findings: list[LeakFinding] = field(default_factory=list)
    dropped_columns: dict[str, str] = field(default_factory=dict)  # column -> "suppress" | "not_shared" | ...


def mask_column(values: pd.Series, column: ResolvedColumn, keyring: Keyring | None) -> pd.Series:
    """One column through its rule (``suppress`` is the caller's business: the column is dropped)."""
    masking, element = column.masking, column.element
    rule = masking.rule
    if rule == "none":
        return rules.none(values)
    if rule == "partial":
        first, last = rules.default_keep(element.domain.validator)
        if masking.keep_first is not None or masking.keep_last is not None:
            first, last = masking.keep_first or 0, masking.keep_last or 0
        return rules.partial(values, first, last, surname_aware="person_name" in element.key)
    if rule in ("pseudonym", "encrypt"):
        if keyring is None:
            raise MaskingError(f"column {column.name} is masked by {rule} and needs the keyring")
        if rule == "pseudonym":
            return crypto.pseudonymize(values, keyring.pseudonym_key)
        return crypto.encrypt_values(values, keyring.encryption_active, keyring.encryption_key, element.key)
    if rule == "generalize":
        return _generalize(values, column)
    raise MaskingError(f"column {column.name}: rule {rule} does not produce a column")


def _generalize(values: pd.Series, column: ResolvedColumn) -> pd.Series:
    masking = column.masking
    if masking.to in ("year", "month"):
        return rules.generalize_date(values, masking.to)
    if masking.to == "range" and masking.step is not None:
        return rules.generalize_range(values, masking.step)
    if masking.to == "district":
        return rules.generalize_district(values)
    if masking.to == "division":
        return rules.generalize_division(values)
    raise MaskingError(f"column {column.name}: cannot generalize to {masking.to!r}")


def mask_frame(frame: pd.DataFrame, columns: Sequence[ResolvedColumn], keyring: Keyring | None, *,
               dataset: str = "") -> MaskResult:
    """The publishable form of ``frame`` under the standard's ``columns``.

    Published columns missing from the input come out all null (validation owns completeness; a null
    column leaks nothing and keeps the published schema stable). Raises LeakBlocked (from the leak guard)
    when a column the standard does not mask holds identifiers.
    """
    out: dict[str, pd.Series] = {}
    masked: dict[str, str] = {}
    dropped: dict[str, str] = {}
    for column in columns:
        if not column.published:
            dropped[column.name] = "suppress" if column.masking.rule == "suppress" else column.sharing
            continue
        values = frame[column.name] if column.name in frame.columns else pd.Series(
            pd.NA, index=frame.index, dtype=TEXT)
        out[column.name] = mask_column(values, column, keyring)
        masked[column.name] = column.masking.rule
    known = {column.name for column in columns}
    for position, name in enumerate(frame.columns):
        if name in known:
            continue
        if isinstance(name, str) and name.startswith("_"):
            out[name] = frame[name]
        else:
            dropped[describe_column(name, position + 1, len(frame.columns))] = "not_in_standard"
    published = pd.DataFrame(out, index=frame.index)
    published, findings = scan_and_redact(published, columns, dataset=dataset)
    return MaskResult(published, masked, findings, dropped)
