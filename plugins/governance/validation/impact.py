"""``governance suites impact``: a proposed suite against the current one on what departments really delivered.

``suites preview`` tries a suite on one sample; a standards owner about to merge a tightened rule needs its
effect on the last nights' drops. Each of the last N landed drops (``<landing>/<department>/<dataset>/<date>/``)
is read by the nightly pull (same readers, encodings, line numbers) into a private temporary folder, validated
with both suites (every rule as written: what the suites do once in force), and compared row by row:

* *newly quarantined*: rows the current suite publishes and the proposed one quarantines, per rule that
  catches them;
* *newly released*: rows the current suite quarantines and the proposed one publishes, per rule that let go.

Examples are masked exactly as ``suites preview`` masks them; raw rows never leave this process (the drop is
read where the command runs, the worker that can read the landing folder). SQL sources have no landed drops.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from governance.errors import ConfigurationError
from governance.sources import pull_dataset
from governance.sources.pull import landing_folder
from governance.standards.catalogue import Catalogue
from governance.standards.models import Dataset
from governance.validation.effective import in_force
from governance.validation.preview import FIRST_DATA_LINE, masked_rows
from governance.validation.runner import to_gx_suite, validate_frame
from governance.validation.verdict import decide


class ImpactError(ConfigurationError):
    """The comparison cannot start: no landed drops, a SQL source, or a suite that is missing."""


@dataclass
class RuleImpact:
    rule: str
    newly_quarantined: int = 0
    newly_released: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class NightImpact:
    day: date
    received: int
    quarantined_current: int
    quarantined_proposed: int
    verdict_current: str
    verdict_proposed: str
    rules: list[RuleImpact]
    newly_quarantined: int = 0
    newly_released: int = 0

    def render(self) -> list[str]:
        lines = [f"{self.day}  received {self.received}, quarantined {self.quarantined_current} -> "
                 f"{self.quarantined_proposed} (+{self.newly_quarantined} newly quarantined, "
                 f"-{self.newly_released} newly released), verdict {self.verdict_current} -> {self.verdict_proposed}"]
        for rule in self.rules:
            lines.append(f"    {rule.rule}: +{rule.newly_quarantined} quarantined, -{rule.newly_released} released")
            lines.extend(f"        {example}" for example in rule.examples)
        return lines


@dataclass
class Impact:
    dataset_key: str
    current: str
    proposed: str
    nights: list[NightImpact]

    def render(self) -> str:
        lines = [f"{self.dataset_key}: proposed suite {self.proposed} against {self.current}, "
                 f"{len(self.nights)} landed night(s); 新增隔离 newly quarantined / 新增放行 newly released"]
        for night in self.nights:
            lines.extend(night.render())
        if not any(night.rules for night in self.nights):
            lines.append("no row changes its fate on these nights")
        return "\n".join(lines)


def landed_nights(landing_root: Path, dataset: Dataset, nights: int) -> list[date]:
    """The dates of the last ``nights`` drops in the landing folder, newest first."""
    if dataset.source.kind == "sql":
        raise ImpactError(f"{dataset.key} is pulled from a database ({dataset.source.connection_id}): it has no "
                          "landed drops to compare on; use suites preview on an export")
    folder = landing_folder(landing_root, dataset, date(2000, 1, 1)).parent
    days = []
    for child in folder.iterdir() if folder.is_dir() else []:
        try:
            day = date.fromisoformat(child.name)
        except ValueError:
            continue
        if child.is_dir() and any(child.glob(dataset.source.pattern)):
            days.append(day)
    if not days:
        raise ImpactError(f"no landed drops of {dataset.key} under {folder}")
    return sorted(days, reverse=True)[:nights]


def impact(catalogue: Catalogue, dataset: Dataset, landing_root: Path, *, current: dict[str, Any],
           proposed: dict[str, Any], nights: int = 7, examples: int = 3,
           labels: tuple[str, str] = ("current", "proposed")) -> Impact:
    """Run both suites over the last ``nights`` landed drops of ``dataset`` and compare them row by row."""
    current, proposed = in_force(current, None).suite, in_force(proposed, None).suite
    to_gx_suite(current, source=labels[0])
    to_gx_suite(proposed, source=labels[1])  # a broken proposal fails here, before any drop is read
    results = []
    with tempfile.TemporaryDirectory(prefix="suite-impact-") as work:
        for day in landed_nights(landing_root, dataset, nights):
            target = Path(work) / f"{day}.parquet"
            pull_dataset(dataset, landing_root=landing_root, day=day, target=target)
            frame = pd.read_parquet(target).reset_index(drop=True)
            target.unlink()
            results.append(_night(catalogue, dataset, day, frame, current, proposed, examples))
    return Impact(dataset.key, labels[0], labels[1], results)


def _failing(outcome: Any) -> dict[str, set[int]]:
    by_rule: dict[str, set[int]] = defaultdict(set)
    for row, rule in zip(outcome.row_failures["row"], outcome.row_failures["rule"], strict=True):
        by_rule[str(rule)].add(int(row))
    return by_rule


def _night(catalogue: Catalogue, dataset: Dataset, day: date, frame: pd.DataFrame, current: dict[str, Any],
           proposed: dict[str, Any], examples: int) -> NightImpact:
    before = validate_frame(frame, current, dataset_key=dataset.key)
    after = validate_frame(frame, proposed, dataset_key=dataset.key)
    failing_before, failing_after = _failing(before), _failing(after)
    quarantined_before, quarantined_after = set(before.failed_rows), set(after.failed_rows)
    rules = []
    shown: dict[str, list[tuple[int, str]]] = {}
    for rule in dict.fromkeys([*failing_after, *failing_before]):
        caught = sorted(failing_after.get(rule, set()) - quarantined_before)
        released = sorted(failing_before.get(rule, set()) - quarantined_after)
        if caught or released:
            rules.append(RuleImpact(rule, len(caught), len(released)))
            shown[rule] = ([(row, "newly quarantined") for row in caught[:examples]]
                           + [(row, "newly released") for row in released[:examples]])
    rows = sorted({row for picked in shown.values() for row, _ in picked})
    masked = masked_rows(frame.iloc[rows], catalogue.columns(dataset)) if rows else pd.DataFrame()
    reasons = {(int(row), str(rule)): str(reason) for outcome in (before, after) for row, rule, reason in
               outcome.row_failures[["row", "rule", "reason"]].itertuples(index=False)}
    key = list(dataset.primary_key)
    for rule in rules:
        for row, what in shown[rule.rule]:
            line = frame["_source_line"].iloc[row] if "_source_line" in frame.columns else row + FIRST_DATA_LINE
            values = ", ".join(f"{name}={_shown(masked, row, name)}"
                               for name in dict.fromkeys([*_rule_columns(rule.rule, masked), *key]))
            rule.examples.append(f"line {line}  {what}  {reasons.get((row, rule.rule), '')}  {values}")
    verdicts = [decide(dataset.quality, received=len(frame), quarantined=len(quarantined), table_failures=failures,
                       previous_received=None).status
                for quarantined, failures in ((quarantined_before, before.table_failures),
                                              (quarantined_after, after.table_failures))]
    return NightImpact(day, len(frame), len(quarantined_before), len(quarantined_after), verdicts[0], verdicts[1],
                       rules, len(quarantined_after - quarantined_before), len(quarantined_before - quarantined_after))


def _rule_columns(rule: str, masked: pd.DataFrame) -> list[str]:
    head = rule.split(".", 1)[0]
    return [name for name in head.split("+") if name in masked.columns]


def _shown(masked: pd.DataFrame, row: int, name: str) -> str:
    if name not in masked.columns:
        return "<not in the standard>"
    value = masked.at[row, name]
    return "<empty>" if pd.isna(value) else str(value)
