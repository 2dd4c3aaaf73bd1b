"""Quarantine: failing rows set aside with the rules they broke, never silently dropped.

The department gets a per-run report (CSV and HTML) with its own raw values, in its own
restricted reports folder, to fix and resend. The shared warehouse only ever receives the
masked row, the raw row encrypted and a keyed token of the row's primary key: when a later
run publishes that key (the row came back fixed), the entry is closed.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from governance.columns import TEXT
from governance.files import replacing, write_atomically
from governance.fonts import REPORT_STYLE
from governance.keys import QUARANTINE_AAD, Keyring, encrypt_values, pseudonymize
from governance.masking import mask_column
from governance.sources import SOURCE_FILE, SOURCE_LINE
from governance.standards.catalogue import ResolvedColumn
from governance.validation.reasons import explain

_HTML_ROWS = 5000
_REPORT_LABELS = {SOURCE_FILE: "来源文件", SOURCE_LINE: "行号", "_rules": "未通过的规则", "_reasons": "原因"}
_REPORT = jinja2.Environment(loader=jinja2.PackageLoader("governance.pipeline"), autoescape=True,
                             undefined=jinja2.StrictUndefined).get_template("quarantine_report.html")
EXPLANATION = "说明"  # the report column explaining the reasons

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
KEY_SEPARATOR = "\x1f"  # ASCII unit separator: never part of a delivered value, so joined keys cannot collide


def split_rows(received: pd.DataFrame, row_failures: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Passing rows, and failing rows with ``_rules`` and ``_reasons`` (one entry per broken rule)."""
    if row_failures.empty:
        return received, received.iloc[0:0].assign(_rules=pd.Series(dtype="string"),
                                                   _reasons=pd.Series(dtype="string"))
    grouped = row_failures.groupby("row", sort=True).agg(
        _rules=("rule", lambda rules: "; ".join(dict.fromkeys(rules))),
        _reasons=("reason", lambda reasons: "; ".join(dict.fromkeys(str(r) for r in reasons))),
    )
    failing = received.index.isin(grouped.index)
    quarantined = received.loc[failing].join(grouped)
    return received.loc[~failing], quarantined


def rule_counts(row_failures: pd.DataFrame) -> dict[str, int]:
    """Rows quarantined per rule (a row that broke two rules counts under both)."""
    if row_failures.empty:
        return {}
    counts = row_failures.drop_duplicates(["row", "rule"])["rule"].value_counts()
    return {str(rule): int(count) for rule, count in counts.items()}


def key_columns(columns: list[ResolvedColumn]) -> list[str]:
    return [column.name for column in columns if column.primary_key]


def key_tokens(rows: pd.DataFrame, columns: list[ResolvedColumn], pseudonym_key: bytes) -> pd.Series:
    """The keyed pseudonym of each row's primary-key values joined: what a quarantine entry and a later
    published row are matched on without storing the key. Null where a key value is missing."""
    names = key_columns(columns)
    if not names or any(name not in rows.columns for name in names):
        return pd.Series(pd.NA, index=rows.index, dtype=TEXT)
    joined = rows[names[0]].astype(TEXT)
    for name in names[1:]:
        joined = joined + KEY_SEPARATOR + rows[name].astype(TEXT)  # a null part makes the whole key null
    return pseudonymize(joined, pseudonym_key)


def protect_for_warehouse(quarantined: pd.DataFrame, columns: list[ResolvedColumn],
                          keyring: Keyring) -> list[dict[str, Any]]:
    """Entries for ``governance.quarantine``: each row masked by its column rules, the raw row encrypted,
    the primary key as a keyed token."""
    present = [column for column in columns if column.name in quarantined.columns]
    masked = pd.DataFrame({column.name: mask_column(quarantined[column.name], column, keyring)
                           for column in present if column.masking.rule != "suppress"}, index=quarantined.index)
    raw_json = pd.Series([json.dumps(row, ensure_ascii=False) for row in
                          quarantined[[c.name for c in present]].astype(object).where(
                              quarantined[[c.name for c in present]].notna(), None).to_dict("records")],
                         index=quarantined.index)
    ciphertexts = encrypt_values(raw_json, keyring.encryption_active, keyring.encryption_key, QUARANTINE_AAD)
    masked_rows = masked.astype(object).where(masked.notna(), None).to_dict("records")
    tokens = key_tokens(quarantined, columns, keyring.pseudonym_key).astype(object).where(lambda t: t.notna(), None)
    return [
        {"source_file": source_file, "source_line": int(source_line), "rules": rules,
         "masked_row": masked_row, "raw_row_encrypted": ciphertext, "key_token": token}
        for source_file, source_line, rules, masked_row, ciphertext, token in zip(
            quarantined[SOURCE_FILE], quarantined[SOURCE_LINE], quarantined["_rules"], masked_rows, ciphertexts,
            tokens, strict=True)
    ]


def write_reports(quarantined: pd.DataFrame, folder: Path, stem: str) -> list[Path]:
    """CSV (formula-safe for spreadsheets) and HTML reports for the providing department."""
    return write_report_frames([quarantined], report_columns(quarantined.columns), folder, stem)


def report_columns(names: Iterable[str]) -> list[str]:
    """Where the row came from and why it failed, then the row's own columns."""
    return [SOURCE_FILE, SOURCE_LINE, "_rules", "_reasons"] + [name for name in names if not name.startswith("_")]


def write_report_frames(frames: Iterable[pd.DataFrame], columns: list[str], folder: Path, stem: str) -> list[Path]:
    """The reports from ``frames`` taken in order, one in memory at a time (a chunked run passes its parts).

    Beside the reasons, ``说明`` explains them in Chinese (``validation.reasons``): what is wrong and how to fix it.
    The HTML page (a Jinja2 template, autoescaped: every value and column name is the department's) sums the rows
    by reason and marks the cells of the columns each row's rules name.
    """
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = folder / f"{stem}.csv", folder / f"{stem}.html"
    after = columns.index("_reasons") + 1
    header_names = [column.lstrip("_") for column in columns]
    header_names.insert(after, EXPLANATION)
    shown, total, by_reason = [], 0, Counter()
    with replacing(csv_path) as partial, partial.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header_names)
        for frame in frames:
            frame = frame[columns].astype("string").fillna("")
            reasons = frame["_reasons"]
            explained = {value: explain(value) for value in reasons.unique()}  # a few distinct values
            frame.insert(after, EXPLANATION, reasons.map(explained))
            writer.writerows([_formula_safe(value) for value in row] for row in frame.itertuples(index=False))
            if len(shown) < _HTML_ROWS:
                shown.extend(frame.head(_HTML_ROWS - len(shown)).itertuples(index=False))
            by_reason.update(reason for value in reasons for reason in value.split("; ") if reason)
            total += len(frame)
    headers = [_REPORT_LABELS.get(column, name) for column, name in zip([*columns[:after], EXPLANATION,
                                                                         *columns[after:]], header_names, strict=True)]
    summary = [(reason, explain(reason), count) for reason, count in by_reason.most_common()]
    rules_at = columns.index("_rules")
    write_atomically(html_path, _REPORT.render(stem=stem, total=total, summary=summary, headers=headers,
                                               shown=[_marked(row, rules_at, after, header_names) for row in shown],
                                               style=REPORT_STYLE).encode())
    return [csv_path, html_path]


def _marked(row: tuple[str, ...], rules_at: int, after: int, names: list[str]) -> list[tuple[str, bool]]:
    """The row's cells, each with whether a rule the row broke names its column (``column.rule``)."""
    broken = {rule.split(".", 1)[0] for rule in row[rules_at].split("; ")}
    return [(value, index > after and names[index] in broken) for index, value in enumerate(row)]


def _formula_safe(value: str) -> str:
    """A cell a spreadsheet would run as a formula is prefixed with a quote (OWASP CSV injection)."""
    return f"'{value}" if value.startswith(_FORMULA_PREFIXES) else value
