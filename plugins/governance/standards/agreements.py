"""Sharing agreements (共享协议) as code: who may read which conditional columns, why, and until when.

A conditional dataset (有条件共享) is only readable by departments with an approved request; each
approval is one file ``standards/agreements/<id>.yaml``. The warehouse grants
(:mod:`governance.warehouse.grants`) follow these files, so an agreement that lapses or is suspended
stops granting on the next apply without anyone editing a database by hand.

The structural pass is the pydantic model below; :func:`check_agreement` is the second pass, run
by the catalogue loader with the same problem format (file, line, path, rule).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from governance.standards.models import DatasetKey, Identifier, Strict
from governance.standards.positions import KeyPath

if TYPE_CHECKING:
    from governance.standards.catalogue import Catalogue

AgreementStatus = Literal["approved", "suspended"]
Report = Callable[[KeyPath, str, str], None]


class Agreement(Strict):
    """One approved (or suspended) sharing request: consumer, dataset, columns, purpose and validity."""

    id: Identifier
    consumer: Identifier
    dataset: DatasetKey
    columns: list[Identifier] = Field(min_length=1)
    purpose: str = Field(min_length=2)
    approved_by: str = Field(min_length=2)
    valid_from: date
    expires: date
    daily_row_quota: int = Field(gt=0)
    status: AgreementStatus

    def active_on(self, day: date) -> bool:
        """Approved and ``valid_from <= day <= expires`` (the expiry date is the last valid day)."""
        return self.status == "approved" and self.valid_from <= day <= self.expires


class AgreementFile(Strict):
    agreement: Agreement


def active_agreements(catalogue: Catalogue, day: date) -> list[Agreement]:
    """The agreements that grant anything on ``day``, in id order."""
    return [agreement for _, agreement in sorted(catalogue.agreements.items()) if agreement.active_on(day)]


def check_agreement(catalogue: Catalogue, agreement: Agreement, report: Report) -> None:
    """Second pass: references resolve, columns are published, the dataset may be shared at all."""
    here: KeyPath = ("agreement",)
    if agreement.consumer not in catalogue.departments:
        report((*here, "consumer"), "unknown-department",
               f"unknown consumer department {agreement.consumer!r} (not in departments.yaml)")
    if agreement.expires < agreement.valid_from:
        report((*here, "expires"), "agreement-dates",
               f"agreement {agreement.id} expires ({agreement.expires}) before it is valid ({agreement.valid_from})")
    dataset = catalogue.datasets.get(agreement.dataset)
    if dataset is None:
        if not (catalogue.root / "datasets" / f"{agreement.dataset}.yaml").exists():  # else: already reported
            report((*here, "dataset"), "unknown-dataset", f"unknown dataset {agreement.dataset!r}")
        return
    if dataset.sharing == "not_shared":
        report((*here, "dataset"), "not-shared",
               f"dataset {dataset.key} is not_shared ({dataset.sharing_basis or 'no basis given'}); "
               f"no agreement can open it")
        return
    seen: set[str] = set()
    for index, name in enumerate(agreement.columns):
        at = (*here, "columns", index)
        if name in seen:
            report(at, "duplicate-column", f"column {name!r} is listed twice")
            continue
        seen.add(name)
        column = dataset.column(name)
        if column is None:
            report(at, "unknown-column", f"dataset {dataset.key} has no column {name!r}")
            continue
        element = catalogue.elements.get(column.element)
        masking = column.masking or (element.masking if element else None)
        if (column.sharing or dataset.sharing) == "not_shared":
            report(at, "not-published", f"column {name} of {dataset.key} is not_shared and never published")
        elif masking is not None and masking.rule == "suppress":
            report(at, "not-published", f"column {name} of {dataset.key} is suppressed and never published")
