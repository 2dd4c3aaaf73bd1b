"""``governance suites preview``: what a suite (or an edited copy) would do to a sample drop, before a merge.

A standards owner tightening a rule wants to see which rows it would quarantine. The sample is read by the
pipeline's own readers (so encoding, header and text handling are the nightly ones), validated by the
runner, and reported per rule: failing rows, a few examples and the totals and verdict the standard's
quality thresholds give. Examples are printed to a terminal, so they are masked like published data:
display masks and generalisation apply, keyed rules show ``<pseudonym>``/``<encrypted>`` (no keys needed),
and the leak guard redacts identifiers in free text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from governance.columns import TEXT
from governance.errors import ConfigurationError
from governance.masking import mask_column
from governance.redaction.leak_guard import LeakBlocked, scan_and_redact
from governance.sources import SourceError
from governance.sources.files import read_csv, read_excel
from governance.standards.catalogue import Catalogue, ResolvedColumn
from governance.standards.models import Dataset
from governance.validation import names
from governance.validation.runner import load_suite, validate_frame
from governance.validation.suites import suite_path
from governance.validation.verdict import Verdict, decide

FIRST_DATA_LINE = 2  # line 1 of a CSV file or sheet is the header
_PLACEHOLDERS = {"pseudonym": "<pseudonym>", "encrypt": "<encrypted>", "suppress": "<suppressed>"}
_WITHHELD = "<withheld: holds identifiers>"
_MASKED = "<masked>"


class PreviewError(ConfigurationError):
    """The preview cannot start: unknown dataset, or a sample file that is missing or unreadable."""


@dataclass
class RuleResult:
    rule: str
    failing_rows: int
    table_failure: str | None = None
    examples: list[str] = field(default_factory=list)


@dataclass
class Preview:
    dataset_key: str
    suite_file: Path
    sample: Path
    received: int
    quarantined: int
    verdict: Verdict
    rules: list[RuleResult]

    @property
    def passed(self) -> int:
        return self.received - self.quarantined

    def render(self) -> str:
        width = max((len(rule.rule) for rule in self.rules), default=0)
        lines = [f"{self.dataset_key}: suite {self.suite_file} on {self.sample}"]
        for number, rule in enumerate(self.rules, start=1):
            state = (f"FAILED: {rule.table_failure}" if rule.table_failure
                     else f"{rule.failing_rows} failing row(s)" if rule.failing_rows else "ok")
            lines.append(f"{number:>3}. {rule.rule:<{width}}  {state}")
            lines.extend(f"       {example}" for example in rule.examples)
        share = f" ({self.quarantined / self.received:.1%})" if self.received else ""
        lines.append(f"received {self.received}, passed {self.passed}, quarantined {self.quarantined}{share}")
        lines.append(f"verdict: {self.verdict.status}" + "".join(f"\n  - {reason}" for reason in self.verdict.reasons)
                     + "\n(a preview does not compare the volume with the last run)")
        return "\n".join(lines)


def read_sample(dataset: Dataset, sample: Path, columns: list[ResolvedColumn]) -> pd.DataFrame:
    """The sample as the nightly pull reads it: the dataset's encoding, delimiter and sheet where they apply,
    number cells in a workbook's text columns marked."""
    if not sample.is_file():
        raise PreviewError(f"{sample}: no such file")
    source, suffix = dataset.source, sample.suffix.lower()
    try:
        if suffix == ".csv":
            same = source.kind == "csv"
            return read_csv(sample, encoding=source.encoding if same else "auto",
                            delimiter=source.delimiter if same else ",")
        if suffix in (".xlsx", ".xlsm"):
            return read_excel(sample, sheet=source.sheet if source.kind == "excel" else 0, columns=columns)
    except SourceError as error:
        raise PreviewError(str(error)) from None
    raise PreviewError(f"{sample}: a preview reads .csv and .xlsx files")


def preview(catalogue: Catalogue, dataset_key: str, sample: Path, *, suite_file: Path | None = None,
            examples: int = 3) -> Preview:
    """Validate ``sample`` with the dataset's suite (or ``suite_file``); SuiteError if the suite is broken."""
    try:
        dataset = catalogue.dataset(dataset_key)
    except KeyError as error:
        raise PreviewError(error.args[0]) from None
    # Normalised as the nightly pull does, so a name's look-alike separator dot is no failure here either.
    columns = catalogue.columns(dataset)
    frame = names.Normaliser(columns)(read_sample(dataset, sample, columns).reset_index(drop=True))
    suite_file = suite_file or suite_path(dataset)
    if not suite_file.is_file():
        raise PreviewError(f"{suite_file}: no such suite file")
    outcome = validate_frame(frame, load_suite(suite_file), dataset_key=dataset.key)
    failures = outcome.row_failures
    shown = failures.drop_duplicates(["rule", "row"]).groupby("rule", sort=False).head(max(examples, 0))
    masked = masked_rows(frame.iloc[sorted(set(shown["row"]))], catalogue.columns(dataset))
    table_failures = dict(failure.split(": ", 1) for failure in outcome.table_failures)
    key = list(dataset.primary_key)
    rules = []
    for result in outcome.expectation_results:
        rule = result["rule"]
        mine = shown[shown["rule"] == rule]
        checked = str(result["column"]).split("+") if result["column"] else []
        columns = list(dict.fromkeys([*checked, *key]))
        rules.append(RuleResult(
            rule, int(failures.loc[failures["rule"] == rule, "row"].nunique()), table_failures.get(rule),
            [_example(masked, row, reason, columns) for row, reason in zip(mine["row"], mine["reason"], strict=True)]))
    verdict = decide(dataset.quality, received=outcome.row_count, quarantined=len(outcome.failed_rows),
                     table_failures=outcome.table_failures, previous_received=None)
    return Preview(dataset.key, suite_file, sample, outcome.row_count, len(outcome.failed_rows), verdict, rules)


def masked_rows(rows: pd.DataFrame, columns: list[ResolvedColumn]) -> pd.DataFrame:
    """``rows`` with every standard column masked by its rule, keyed rules as placeholders, free text
    redacted by the leak guard; a column the guard would block is withheld. Other columns are left out."""
    if rows.empty:  # no examples asked for (masking.rules.partial cannot take an empty column)
        return pd.DataFrame(index=rows.index)
    out = {}
    for column in columns:
        if column.name not in rows.columns:
            continue
        values = rows[column.name]
        placeholder = _PLACEHOLDERS.get(column.masking.rule)
        shown = (pd.Series(placeholder, index=rows.index, dtype=TEXT) if placeholder
                 else mask_column(values, column, keyring=None))
        # A value its rule cannot mask (a date generalisation of unreadable text) is hidden, not shown as empty.
        out[column.name] = shown.fillna(_MASKED).where(values.notna())
    masked = pd.DataFrame(out, index=rows.index)
    try:
        return scan_and_redact(masked, columns)[0]
    except LeakBlocked as blocked:
        for finding in blocked.findings:
            if finding.action == "blocked":
                masked[finding.column] = pd.Series(_WITHHELD, index=rows.index, dtype=TEXT)
        return scan_and_redact(masked, columns)[0]


def _example(masked: pd.DataFrame, row: int, reason: str, columns: list[str]) -> str:
    values = []
    for name in columns:
        value = masked.at[row, name] if name in masked.columns else "<not in the standard>"
        values.append(f"{name}={'<empty>' if pd.isna(value) else value}")
    return f"line {row + FIRST_DATA_LINE}  {reason}  " + ", ".join(values)
