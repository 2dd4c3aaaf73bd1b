"""The standards loader: the real standards load, and broken files get file, line, path and rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from standards_support import STANDARDS, edit, problems_of

from governance.cli import main
from governance.standards.catalogue import load_catalogue
from governance.standards.problems import StandardsError


def test_real_standards_load_with_the_reference_dataset() -> None:
    catalogue = load_catalogue(STANDARDS)
    assert len(catalogue.departments) >= 5
    reference = catalogue.dataset("public_security/resident_population")
    assert [c.name for c in reference.columns] == [
        "id_number", "name", "gender", "birth_date", "ethnicity", "region_code", "address", "mobile", "updated_at"]
    assert reference.primary_key == ["id_number"]
    assert (reference.update_cycle, reference.sharing) == ("daily", "conditional")
    sensitive = {c.name for c in catalogue.columns(reference) if c.sensitive}
    assert sensitive == {"id_number", "name", "address", "mobile", "birth_date"}


def test_division_codes_come_from_stdnum_with_retired_codes() -> None:
    divisions = load_catalogue(STANDARDS).code_tables["division"]
    assert len(divisions.codes) > 6000
    assert divisions.codes["110103"] == "崇文区" and "110103" in divisions.retired  # merged into 东城区 in 2010
    assert "330106" in divisions.codes and "330106" not in divisions.retired  # 西湖区


def test_unknown_element_names_file_line_and_column(standards: Path) -> None:
    edit(standards / "datasets/public_security/resident_population.yaml",
         "{name: mobile, element: mobile_number}", "{name: mobile, element: mobile_phone}")
    assert problems_of(standards) == [
        "datasets/public_security/resident_population.yaml:26 at dataset.columns.mobile.element: "
        "unknown element 'mobile_phone' [unknown-element]"]


def test_structural_errors_are_all_reported_together(standards: Path) -> None:
    edit(standards / "datasets/health/medical_institution.yaml", "update_cycle: weekly", "update_cycle: hourly")
    edit(standards / "datasets/health/medical_institution.yaml", "load_mode: snapshot",
         "load_mode: snapshot\n  colour: red")
    edit(standards / "elements/person.yaml", "    sensitivity: L2\n    masking: none\n  - id: DE0004",
         "    sensitivity: L9\n    masking: none\n  - id: DE0004")
    problems = problems_of(standards)
    assert problems == [
        "datasets/health/medical_institution.yaml:7 at dataset.update_cycle: "
        "Input should be 'daily', 'weekly' or 'monthly' [schema]",
        "datasets/health/medical_institution.yaml:11 at dataset.colour: "
        "unknown key (not part of the standards format) [schema]",
        "elements/person.yaml:35 at elements.gender.sensitivity: "
        "Input should be 'L1', 'L2', 'L3' or 'L4' [schema]",
    ]


def test_yaml_syntax_error_gives_the_line(standards: Path) -> None:
    edit(standards / "datasets/taxation/taxpayer_credit_rating.yaml", "  sharing: conditional", "  sharing: [oops")
    (problem,) = problems_of(standards)
    assert problem.startswith("datasets/taxation/taxpayer_credit_rating.yaml:")
    assert problem.endswith("[yaml-syntax]")


def test_semantic_rules(standards: Path) -> None:
    dataset = standards / "datasets/public_security/resident_population.yaml"
    edit(dataset, "primary_key: [id_number]", "primary_key: [id_no]")
    edit(dataset, "{name: mobile, element: mobile_number}",
         "{name: mobile, element: mobile_number, masking: none}")
    edit(dataset, "freshness_column: updated_at", "freshness_column: name")
    assert problems_of(standards) == [
        "datasets/public_security/resident_population.yaml:9 at dataset.primary_key[0]: "
        "primary key 'id_no' is not a column [unknown-column]",
        "datasets/public_security/resident_population.yaml:11 at dataset.freshness_column: "
        "freshness column name must be a date or datetime, not string [freshness-type]",
        "datasets/public_security/resident_population.yaml:26 at dataset.columns.mobile.masking: "
        "column mobile holds mobile_number (L3) and must be masked [sensitive-unmasked]",
    ]


def test_dataset_must_live_where_its_name_says(standards: Path) -> None:
    moved = standards / "datasets/health/clinics.yaml"
    (standards / "datasets/health/medical_institution.yaml").rename(moved)
    assert problems_of(standards) == [
        "datasets/health/clinics.yaml:4 at dataset.name: dataset health/medical_institution must live in "
        "datasets/health/medical_institution.yaml [file-location]"]


def test_load_raises_with_every_problem(standards: Path) -> None:
    edit(standards / "datasets/civil_affairs/subsistence_allowance.yaml", "department: civil_affairs",
         "department: civil_affair")
    with pytest.raises(StandardsError) as raised:
        load_catalogue(standards)
    message = str(raised.value)
    assert "unknown department 'civil_affair' (not in departments.yaml) [unknown-department]" in message
    assert "must live in datasets/civil_affair/subsistence_allowance.yaml [file-location]" in message


def test_cli_prints_problems_and_exits_1(standards: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GOVERNANCE_STANDARDS_ROOT", str(standards))
    assert main(["standards", "check"]) == 0
    edit(standards / "elements/common.yaml", "domain: {code_table: division}", "domain: {code_table: divisions}")
    assert main(["standards", "check"]) == 1
    out = capsys.readouterr().out
    assert "1. elements/common.yaml:11 at elements.division_code.domain.code_table: " \
           "unknown code table 'divisions' [unknown-code-table]" in out
    assert out.rstrip().endswith(f"1 problem(s) in {standards}")
