"""Cross-department profiles (跨部门画像) as standards: ``standards/profiles/<name>.yaml``.

A profile has one driving dataset (one row per key) and datasets left-joined on the same key, which must
be their whole primary key so the join never multiplies rows. Each column names the dataset and the
published column it is copied from: the warehouse types the column after it, and a role may read the
profile column only if it may read that source column (:mod:`governance.warehouse.grants`).

The structural pass is the pydantic model below; :func:`check_profile` is the second pass, run by the
catalogue loader with the same problem format (file, line, path, rule) as datasets and agreements.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import Field

from governance.standards.models import DatasetKey, Identifier, Masking, Strict
from governance.standards.positions import KeyPath

if TYPE_CHECKING:
    from governance.standards.catalogue import Catalogue

TABLE_PREFIX = "profile__"  # shared.profile__<name>, also the profile DAG's id
JOINABLE = ("none", "pseudonym")  # deterministic and one-to-one: equal keys publish equal values, and only they
_RULE_TEXT = {"encrypt": "encrypted", "partial": "partially masked", "generalize": "generalized"}
Report = Callable[[KeyPath, str, str], None]


class ProfileColumn(Strict):
    name: Identifier
    dataset: DatasetKey
    source: Identifier  # the published column of ``dataset`` it is copied from


class Profile(Strict):
    name: Identifier
    title_zh: str = Field(min_length=2)
    description: str = Field(min_length=2)
    base: DatasetKey  # the driving dataset: one profile row per row of it
    key: Identifier  # the join column, named the same in every input
    joins: list[DatasetKey] = Field(default_factory=list)  # left-joined on ``key``
    columns: list[ProfileColumn] = Field(min_length=1)

    @property
    def table(self) -> str:
        return f"{TABLE_PREFIX}{self.name}"

    @property
    def dag_id(self) -> str:
        return self.table

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.base, *self.joins)

    @property
    def sources(self) -> dict[str, tuple[str, str]]:
        """Profile column -> (dataset key, source column)."""
        return {column.name: (column.dataset, column.source) for column in self.columns}


class ProfileFile(Strict):
    profile: Profile


def check_profile(catalogue: Catalogue, profile: Profile, report: Report) -> None:
    """Second pass: inputs exist, each once, joins are on each input's whole key, published alike in every input,
    columns come from published columns, and the table is no dataset's."""
    here: KeyPath = ("profile",)
    clash = next((key for key, dataset in catalogue.datasets.items() if dataset.dag_id == profile.table), None)
    if clash:
        report((*here, "name"), "table-clash",
               f"the profile's table and DAG {profile.table} are also those of dataset {clash}")
    inputs: set[str] = set()
    keys: dict[str, tuple[str, Masking]] = {}  # input -> how it publishes the key column (element, masking)
    for at, key in [((*here, "base"), profile.base),
                    *(((*here, "joins", index), key) for index, key in enumerate(profile.joins))]:
        if key in inputs:
            report(at, "duplicate-join", f"{key} is already an input of the profile; each input is joined once")
            continue
        inputs.add(key)
        dataset = catalogue.datasets.get(key)
        if dataset is None:
            if not (catalogue.root / "datasets" / f"{key}.yaml").exists():  # else: already reported there
                report(at, "unknown-dataset", f"unknown dataset {key!r}")
        elif dataset.primary_key != [profile.key]:
            report(at, "join-not-on-key", f"{key} is keyed by ({', '.join(dataset.primary_key)}), not "
                                          f"({profile.key}); joining it would multiply rows")
        else:
            column = catalogue.resolve(dataset, profile.key)
            if column is None:
                continue  # reported with the dataset
            if not column.published:
                report(at, "key-not-published", f"{key} never publishes its key column {profile.key}, so it cannot "
                                                "be joined")
            else:
                keys[key] = (column.element.key, column.masking)
    base = keys.get(profile.base)
    if base is not None and base[1].rule not in JOINABLE:
        report((*here, "key"), "key-not-joinable",
               f"{profile.key} is published {_RULE_TEXT.get(base[1].rule, base[1].rule)}: equal keys would not "
               "give equal published values (or different keys would), so the join cannot be trusted")
    for index, key in enumerate(profile.joins):
        if base is not None and key in keys and keys[key] != base:
            report((*here, "joins", index), "key-mismatch",
                   f"{profile.key} of {key} is published as {_shown(keys[key])}, of the base as {_shown(base)}: "
                   "the join would compare unlike values")
    seen: set[str] = set()
    for index, column in enumerate(profile.columns):
        at = (*here, "columns", index)
        if column.name in seen:
            report((*at, "name"), "duplicate-column", f"column {column.name!r} is listed twice")
        seen.add(column.name)
        if column.dataset not in profile.inputs:
            report((*at, "dataset"), "not-an-input", f"column {column.name} comes from {column.dataset}, "
                                                     f"which is neither the base nor a join")
            continue
        dataset = catalogue.datasets.get(column.dataset)
        if dataset is None:
            continue  # reported above
        source = catalogue.resolve(dataset, column.source)
        if source is None:
            report((*at, "source"), "unknown-column", f"dataset {column.dataset} has no column {column.source!r}")
        elif not source.published:
            report((*at, "source"), "not-published",
                   f"column {column.source} of {column.dataset} is never published")


def _shown(published: tuple[str, Masking]) -> str:
    return f"{published[0]} ({published[1].rule})"
