"""Sharing agreements: the real ones load, and every broken agreement is reported with file, line, path, rule."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from standards_support import STANDARDS, edit, problems_of

from governance.cli import main
from governance.standards.agreements import active_agreements
from governance.standards.catalogue import load_catalogue

CIVIL = "agreements/civil_affairs_subsistence_identity_check.yaml"
TAX_CREDIT = "agreements/market_regulation_tax_credit_supervision.yaml"


def line_of(file: Path, text: str) -> int:
    """1-based line of the first line containing ``text`` (so tests survive comment edits)."""
    return next(number for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1)
                if text in line)


def test_real_agreements_load() -> None:
    catalogue = load_catalogue(STANDARDS)
    assert len(catalogue.agreements) >= 4
    civil = catalogue.agreements["civil_affairs_subsistence_identity_check"]
    assert (civil.consumer, civil.dataset, civil.status) == ("civil_affairs", "public_security/resident_population",
                                                              "approved")
    assert civil.columns == ["id_number", "name", "region_code"]
    assert civil.daily_row_quota == 200_000 and civil.valid_from == date(2026, 1, 1)
    active = {agreement.id for agreement in active_agreements(catalogue, date(2026, 11, 28))}
    assert "health_family_doctor_survey_2025" not in active  # expired on 2025-12-31
    assert "health_family_doctor_survey_2025" in {a.id for a in active_agreements(catalogue, date(2025, 6, 1))}
    assert {"civil_affairs_subsistence_identity_check", "taxation_enterprise_legal_representative"} <= active


def test_validity_is_inclusive_and_suspension_ends_it() -> None:
    agreement = load_catalogue(STANDARDS).agreements["civil_affairs_subsistence_identity_check"]
    assert agreement.active_on(date(2026, 1, 1)) and agreement.active_on(date(2027, 12, 31))
    assert not agreement.active_on(date(2025, 12, 31)) and not agreement.active_on(date(2028, 1, 1))
    assert not agreement.model_copy(update={"status": "suspended"}).active_on(date(2026, 6, 1))


def test_unknown_references_name_file_line_and_path(standards: Path) -> None:
    file = standards / CIVIL
    edit(file, "consumer: civil_affairs", "consumer: civil_affair")
    edit(file, "    - name\n", "    - full_name\n")
    assert problems_of(standards) == [
        f"{CIVIL}:{line_of(file, 'consumer:')} at agreement.consumer: "
        "unknown consumer department 'civil_affair' (not in departments.yaml) [unknown-department]",
        f"{CIVIL}:{line_of(file, '- full_name')} at agreement.columns[1]: "
        "dataset public_security/resident_population has no column 'full_name' [unknown-column]",
    ]
    edit(file, "dataset: public_security/resident_population", "dataset: public_security/residents")
    assert problems_of(standards)[1] == (f"{CIVIL}:{line_of(file, 'dataset:')} at agreement.dataset: "
                                         "unknown dataset 'public_security/residents' [unknown-dataset]")


def test_columns_that_are_never_published_cannot_be_agreed(standards: Path) -> None:
    dataset = standards / "datasets/public_security/resident_population.yaml"
    edit(dataset, "{name: mobile, element: mobile_number}", "{name: mobile, element: mobile_number, masking: suppress}")
    edit(dataset, "{name: address, element: address}", "{name: address, element: address, sharing: not_shared}")
    file = standards / CIVIL
    edit(file, "    - region_code\n", "    - region_code\n    - mobile\n    - address\n    - name\n")
    assert problems_of(standards) == [
        f"{CIVIL}:{line_of(file, '- mobile')} at agreement.columns[3]: "
        "column mobile of public_security/resident_population is suppressed and never published [not-published]",
        f"{CIVIL}:{line_of(file, '- address')} at agreement.columns[4]: "
        "column address of public_security/resident_population is not_shared and never published [not-published]",
        f"{CIVIL}:{line_of(file, '- name') + 4} at agreement.columns[5]: column 'name' is listed twice "
        "[duplicate-column]",
    ]


def test_a_not_shared_dataset_cannot_be_opened_by_an_agreement(standards: Path) -> None:
    edit(standards / "datasets/taxation/taxpayer_credit_rating.yaml", "  sharing: conditional",
         "  sharing: not_shared\n  sharing_basis: 《税收征收管理法》第八条 (纳税人涉税信息保密)")
    file = standards / TAX_CREDIT
    assert [p for p in problems_of(standards) if p.startswith("agreements/")] == [
        f"{TAX_CREDIT}:{line_of(file, 'dataset:')} at agreement.dataset: dataset taxation/taxpayer_credit_rating "
        "is not_shared (《税收征收管理法》第八条 (纳税人涉税信息保密)); no agreement can open it [not-shared]"]


def test_an_agreement_on_an_unconditional_dataset_is_allowed(standards: Path) -> None:
    """Unnecessary for its unconditional columns, but harmless; the register's conditional column needs it."""
    assert problems_of(standards) == []
    catalogue = load_catalogue(standards)
    agreement = catalogue.agreements["taxation_enterprise_legal_representative"]
    assert catalogue.dataset(agreement.dataset).sharing == "unconditional"


def test_expiry_before_start_and_structural_errors(standards: Path) -> None:
    file = standards / CIVIL
    edit(file, "expires: 2027-12-31", "expires: 2025-12-31")
    edit(file, "status: approved", "status: pending")
    edit(file, "daily_row_quota: 200000", "daily_row_quota: lots")
    edit(file, "  purpose:", "  colour: red\n  purpose:")
    problems = problems_of(standards)
    assert problems == [
        f"{CIVIL}:{line_of(file, 'colour')} at agreement.colour: unknown key (not part of the standards format) "
        "[schema]",
        f"{CIVIL}:{line_of(file, 'daily_row_quota')} at agreement.daily_row_quota: "
        "Input should be a valid integer, unable to parse string as an integer [schema]",
        f"{CIVIL}:{line_of(file, 'status:')} at agreement.status: Input should be 'approved' or 'suspended' [schema]",
    ]
    edit(file, "status: pending", "status: approved")
    edit(file, "daily_row_quota: lots", "daily_row_quota: 10")
    edit(file, "  colour: red\n", "")
    assert problems_of(standards) == [
        f"{CIVIL}:{line_of(file, 'expires:')} at agreement.expires: agreement civil_affairs_subsistence_identity_check "
        "expires (2025-12-31) before it is valid (2026-01-01) [agreement-dates]"]


def test_missing_keys_and_file_location(standards: Path) -> None:
    file = standards / CIVIL
    edit(file, "  approved_by:", "  approver:")
    moved = standards / "agreements/dibao.yaml"
    (standards / TAX_CREDIT).rename(moved)
    problems = problems_of(standards)
    assert f"{CIVIL}:3 at agreement.approved_by: required key is missing [schema]" in problems
    assert ("agreements/dibao.yaml:{} at agreement.id: agreement market_regulation_tax_credit_supervision must live in "
            "agreements/market_regulation_tax_credit_supervision.yaml [file-location]"
            .format(line_of(moved, "  id:"))) in problems


def test_duplicate_agreement_id(standards: Path) -> None:
    shutil.copy(standards / CIVIL, standards / "agreements/zz_copy.yaml")
    problems = problems_of(standards)
    assert "agreements/zz_copy.yaml:3 at agreement: 'civil_affairs_subsistence_identity_check' is defined twice " \
           "[duplicate]" in problems


def test_cli_checks_agreements(standards: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GOVERNANCE_STANDARDS_ROOT", str(standards))
    assert main(["standards", "check"]) == 0
    edit(standards / CIVIL, "consumer: civil_affairs", "consumer: nobody")
    assert main(["standards", "check"]) == 1
    assert "[unknown-department]" in capsys.readouterr().out
