"""Breaking changes between two versions of the standards, judged by who actually reads the data.

As datacontract-cli does for data contracts, every difference in what a dataset *publishes* becomes one
classified change with a rule id: ``breaking`` (a consumer's query or join stops working or silently changes),
``warning`` (worth telling, nothing stops working) or ``info``. Only published columns count: a column that is
``not_shared`` or suppressed is never in the warehouse, so changing it breaks no reader.

A change to a column is breaking only for the consumers who may read it under the agreements in force today:
every department for an unconditional (无条件共享) column, the departments whose approved, valid agreement
lists it for a conditional one. A change nobody can be reading is downgraded to ``info``.

A breaking change merges only under a :class:`~governance.standards.models.ChangeNotice` that covers it, was
already in the earlier version (the consumers were told), gives at least ``MIN_NOTICE_DAYS`` and whose
``effective_from`` has come (:func:`notice_problems`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from governance.standards.agreements import active_agreements
from governance.standards.catalogue import Catalogue, ResolvedColumn
from governance.standards.models import MIN_NOTICE_DAYS, ChangeNotice, Dataset

BREAKING, WARNING, INFO = "breaking", "warning", "info"
ALL_DEPARTMENTS = "*"  # an unconditional column: every department may read it
_CYCLE_DAYS = {"daily": 1, "weekly": 7, "monthly": 31}
_WIDER_TYPES = {("integer", "decimal"), ("integer", "string"), ("decimal", "string"), ("date", "string"),
                ("datetime", "string"), ("date", "datetime")}


@dataclass(frozen=True)
class Change:
    dataset: str
    column: str | None  # None: the dataset as a whole
    rule: str
    level: str
    message: str
    consumers: tuple[str, ...] = ()  # departments that read what changed ("*": all of them)

    def render(self) -> str:
        readers = ("全部部门 all departments" if ALL_DEPARTMENTS in self.consumers
                   else ", ".join(self.consumers) or "no consumer")
        where = f"{self.dataset}.{self.column}" if self.column else self.dataset
        return f"[{self.level}] {where}: {self.message} [{self.rule}] (read by: {readers})"


@dataclass
class Comparison:
    changes: list[Change] = field(default_factory=list)
    announced: list[tuple[str, ChangeNotice]] = field(default_factory=list)  # notices new in this version

    @property
    def breaking(self) -> list[Change]:
        return [change for change in self.changes if change.level == BREAKING]


def compare(old: Catalogue, new: Catalogue, today: date) -> Comparison:
    """Every published difference from ``old`` to ``new``, classified against ``old``'s agreements in force."""
    result = Comparison()
    for key, before in sorted(old.datasets.items()):
        after = new.datasets.get(key)
        readers = _readers(old, before, today)
        if after is None:
            everyone = tuple(sorted({reader for names in readers.values() for reader in names}))
            result.changes.append(_classified(key, None, "dataset-removed", BREAKING, "dataset removed", everyone))
            continue
        result.changes.extend(_dataset_changes(old, before, new, after, readers))
        known = {(notice.effective_from, notice.notice, notice.summary) for notice in before.changes}
        result.announced += [(key, notice) for notice in after.changes
                             if (notice.effective_from, notice.notice, notice.summary) not in known]
    for key in sorted(set(new.datasets) - set(old.datasets)):
        result.changes.append(Change(key, None, "dataset-added", INFO, "dataset added"))
        result.announced += [(key, notice) for notice in new.datasets[key].changes]
    return result


def _readers(catalogue: Catalogue, dataset: Dataset, today: date) -> dict[str, tuple[str, ...]]:
    """Published column -> who may read it today."""
    agreements = [agreement for agreement in active_agreements(catalogue, today) if agreement.dataset == dataset.key]
    readers = {}
    for column in catalogue.columns(dataset):
        if not column.published:
            continue
        if column.sharing == "unconditional":
            readers[column.name] = (ALL_DEPARTMENTS,)
        else:
            readers[column.name] = tuple(sorted({agreement.consumer for agreement in agreements
                                                 if column.name in agreement.columns}))
    return readers


def _classified(dataset: str, column: str | None, rule: str, level: str, message: str,
                consumers: tuple[str, ...]) -> Change:
    if level == BREAKING and not consumers:
        level, message = INFO, f"{message} (no agreement in force grants it)"
    return Change(dataset, column, rule, level, message, consumers)


def _dataset_changes(old: Catalogue, before: Dataset, new: Catalogue, after: Dataset,
                     readers: dict[str, tuple[str, ...]]) -> list[Change]:
    key = before.key
    everyone = tuple(sorted({reader for names in readers.values() for reader in names}))
    old_columns = {column.name: column for column in old.columns(before)}
    new_columns = {column.name: column for column in new.columns(after)}
    changes = []
    added = [name for name in new_columns if name not in old_columns]
    for name, was in old_columns.items():
        if not was.published:
            continue
        now = new_columns.get(name)
        if now is None:
            renamed = next((other for other in added if new_columns[other].element.key == was.element.key), None)
            if renamed:
                changes.append(_classified(key, name, "column-renamed", BREAKING, f"column renamed to {renamed}",
                                           readers[name]))
            else:
                changes.append(_classified(key, name, "column-removed", BREAKING, "column removed", readers[name]))
            continue
        changes.extend(_classified(key, name, rule, level, message, readers[name])
                       for rule, level, message in _column_changes(was, now))
    for name in added:
        if new_columns[name].published:
            changes.append(Change(key, name, "column-added", INFO, "column added"))
    if list(before.primary_key) != list(after.primary_key):
        changes.append(_classified(key, None, "key-changed", BREAKING,
                                   f"primary key {before.primary_key} -> {after.primary_key}", everyone))
    if before.load_mode != after.load_mode:
        changes.append(_classified(key, None, "load-mode-changed", WARNING,
                                   f"load mode {before.load_mode} -> {after.load_mode}", everyone))
    if _CYCLE_DAYS[after.update_cycle] > _CYCLE_DAYS[before.update_cycle]:
        changes.append(_classified(key, None, "update-cycle-slower", WARNING,
                                   f"update cycle {before.update_cycle} -> {after.update_cycle}", everyone))
    return changes


def _column_changes(was: ResolvedColumn, now: ResolvedColumn) -> list[tuple[str, str, str]]:
    """(rule, level, message) for one published column present in both versions."""
    if not now.published:
        why = "no longer shared" if now.sharing == "not_shared" else "now suppressed"
        return [("column-withdrawn", BREAKING, f"column {why}: it leaves the published table")]
    found = []
    old_type, new_type = was.published_type, now.published_type
    if old_type != new_type:
        level = WARNING if (old_type, new_type) in _WIDER_TYPES else BREAKING
        found.append(("type-changed", level, f"type {old_type} -> {new_type}"))
    old_length, new_length = was.element.max_length, now.element.max_length
    if old_length != new_length and now.masking.rule in ("none", "partial"):  # these keep the length
        narrowed = new_length is not None and (old_length is None or new_length < old_length)
        found.append(("length-narrowed" if narrowed else "length-widened", BREAKING if narrowed else INFO,
                      f"max length {old_length or 'none'} -> {new_length or 'none'}"))
    if was.element.precision != now.element.precision and now.masking.rule == "none":
        narrowed = bool(was.element.precision and now.element.precision
                        and any(n < o for n, o in zip(now.element.precision, was.element.precision, strict=True)))
        found.append(("precision-changed", BREAKING if narrowed else WARNING,
                      f"precision {was.element.precision} -> {now.element.precision}"))
    if was.masking != now.masking:
        found.append(("masking-changed", BREAKING,
                      f"masking {_masking(was)} -> {_masking(now)}: published values change form"))
    if was.sharing != now.sharing:
        narrowed = was.sharing == "unconditional"
        found.append(("sharing-narrowed" if narrowed else "sharing-widened", BREAKING if narrowed else INFO,
                      f"sharing {was.sharing} -> {now.sharing}"))
    if was.element.domain != now.element.domain:
        found.append(("domain-changed", WARNING, "value domain changed (pattern, validator or code table)"))
    return found


def _masking(column: ResolvedColumn) -> str:
    return " ".join(f"{key}={value}" for key, value in column.masking.model_dump(exclude_none=True).items())


def covering_notice(dataset: Dataset | None, change: Change) -> ChangeNotice | None:
    """The dataset's latest notice that covers ``change`` (its columns include the column, or it names none)."""
    if dataset is None:
        return None
    notices = [notice for notice in dataset.changes
               if not notice.columns or (change.column is not None and change.column in notice.columns)]
    return max(notices, key=lambda notice: notice.effective_from, default=None)


def notice_problems(old: Catalogue, new: Catalogue, comparison: Comparison, today: date) -> list[str]:
    """Why each breaking change may not merge yet; empty when every one was announced in time."""
    problems = []
    for change in comparison.breaking:
        where = f"{change.dataset}.{change.column}" if change.column else change.dataset
        dataset = new.datasets.get(change.dataset) or old.datasets.get(change.dataset)
        notice = covering_notice(dataset, change)
        announced = old.datasets.get(change.dataset)
        if notice is None:
            problems.append(f"{where}: {change.message} is breaking for {_who(change)} and has no notice: announce "
                            "it first (dataset.changes: effective_from, notice, summary, columns) "
                            "[breaking-without-notice]")
        elif announced is None or notice not in announced.changes:
            problems.append(f"{where}: the notice for {notice.effective_from} is new in this version: consumers must "
                            f"be told before the change merges; merge the notice alone first [not-announced]")
        elif (notice.effective_from - notice.notice).days < MIN_NOTICE_DAYS:
            problems.append(f"{where}: notice period {(notice.effective_from - notice.notice).days} days, at least "
                            f"{MIN_NOTICE_DAYS} are needed [notice-period]")
        elif notice.effective_from > today:
            problems.append(f"{where}: announced for {notice.effective_from}: merge the change on or after that "
                            f"date [not-yet-effective]")
    return problems


def _who(change: Change) -> str:
    return "all departments" if ALL_DEPARTMENTS in change.consumers else ", ".join(change.consumers)
