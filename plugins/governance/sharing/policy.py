"""Who may read what: the sharing type of each dataset and column, and the agreements in the standards.

The rules (政务数据共享条例: 无条件 / 有条件 / 不予共享), applied per consumer department and calendar day:

* ``unconditional`` dataset: any authenticated department reads its unconditional columns; a column
  marked ``sharing: conditional`` is added only for a consumer with an active agreement listing it.
* ``conditional`` dataset: only a consumer with an active agreement (``status: approved`` and
  ``valid_from <= day <= expires``) for that dataset, and only the agreement's columns.
* ``not_shared`` dataset (or column): never.

Columns are always limited to what is published (not suppressed, not ``not_shared``). Several active
agreements for the same consumer and dataset add up: their columns are united and the largest quota
applies. A dataset the consumer may not read is reported as *not available*, the same answer as for a
dataset that does not exist, so a refusal reveals nothing about the catalogue beyond what the caller
may see (the access log keeps the precise reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from governance.standards.agreements import Agreement
from governance.standards.catalogue import Catalogue, ResolvedColumn
from governance.standards.models import Dataset


@dataclass(frozen=True)
class Grant:
    """What one consumer may read of one dataset today."""

    dataset: Dataset
    columns: tuple[ResolvedColumn, ...]  # in the standard's order
    agreements: tuple[str, ...]  # ids of the active agreements that grant anything
    daily_row_quota: int

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def reason(self) -> str:
        basis = "agreement:" + ",".join(self.agreements) if self.agreements else "unconditional"
        return basis[:200]

    @property
    def sensitive(self) -> bool:
        """A dataset with any published L3/L4 column: paging through it is watched as a possible scan."""
        return any(column.sensitive for column in self.columns)

    def column(self, name: str) -> ResolvedColumn | None:
        return next((column for column in self.columns if column.name == name), None)


@dataclass(frozen=True)
class Refusal:
    """Why a consumer may not read a dataset (for the access log only; callers see *not available*)."""

    reason: str  # unknown_dataset, not_shared, no_agreement, agreement_inactive, no_columns


def active_for(catalogue: Catalogue, consumer: str, dataset_key: str, day: date) -> list[Agreement]:
    return [agreement for _, agreement in sorted(catalogue.agreements.items())
            if agreement.consumer == consumer and agreement.dataset == dataset_key and agreement.active_on(day)]


def decide(catalogue: Catalogue, consumer: str, dataset_key: str, day: date, default_quota: int) -> Grant | Refusal:
    """The grant of ``dataset_key`` to ``consumer`` on ``day``, or why there is none."""
    dataset = catalogue.datasets.get(dataset_key)
    if dataset is None:
        return Refusal("unknown_dataset")
    if dataset.sharing == "not_shared":
        return Refusal("not_shared")
    agreements = active_for(catalogue, consumer, dataset.key, day)
    agreed = {name for agreement in agreements for name in agreement.columns}
    published = [column for column in catalogue.columns(dataset) if column.published]
    if dataset.sharing == "conditional":
        if not agreements:
            lapsed = any(agreement.consumer == consumer and agreement.dataset == dataset.key
                         for agreement in catalogue.agreements.values())
            return Refusal("agreement_inactive" if lapsed else "no_agreement")
        columns = [column for column in published if column.name in agreed]
    else:
        columns = [column for column in published
                   if column.sharing == "unconditional" or (column.sharing == "conditional" and column.name in agreed)]
    if not columns:
        return Refusal("no_columns")
    quota = max((agreement.daily_row_quota for agreement in agreements), default=default_quota)
    return Grant(dataset, tuple(columns), tuple(agreement.id for agreement in agreements), quota)


def visible_grants(catalogue: Catalogue, consumer: str, day: date, default_quota: int) -> list[Grant]:
    """Every dataset ``consumer`` may read on ``day``, by key: what ``GET /datasets`` lists."""
    grants = (decide(catalogue, consumer, key, day, default_quota) for key in sorted(catalogue.datasets))
    return [grant for grant in grants if isinstance(grant, Grant)]
