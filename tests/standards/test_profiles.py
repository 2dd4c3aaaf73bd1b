"""Cross-department profiles as standards: the real one loads, a broken one is reported with file, line, path
and rule, and leaving it out (or a dataset it reads) leaves everything else usable."""

from __future__ import annotations

from pathlib import Path

import pytest
from standards_support import STANDARDS, edit, problems_of

from governance.standards.catalogue import load_catalogue, load_usable_catalogue
from governance.standards.problems import StandardsError

ENTERPRISE = "profiles/enterprise.yaml"


def line_of(file: Path, text: str) -> int:
    return next(number for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1)
                if text in line)


def test_the_enterprise_profile_loads_with_its_sources() -> None:
    profile = load_catalogue(STANDARDS).profile("enterprise")
    assert (profile.table, profile.dag_id, profile.key) == ("profile__enterprise", "profile__enterprise", "credit_code")
    assert profile.inputs == ("market_regulation/enterprise_registration", "taxation/taxpayer_credit_rating",
                              "health/medical_institution")
    assert profile.sources["tax_credit_rating"] == ("taxation/taxpayer_credit_rating", "rating")
    assert profile.sources["enterprise_status"] == ("market_regulation/enterprise_registration", "status")


def test_a_join_not_on_the_whole_key_an_unknown_dataset_and_a_missing_column_are_named(standards: Path) -> None:
    file = standards / ENTERPRISE
    edit(file, "  key: credit_code", "  key: enterprise_name")
    edit(file, "source: bed_count}", "source: beds}")
    problems = problems_of(standards)
    joins = [p for p in problems if "[join-not-on-key]" in p]
    assert joins[0] == (f"{ENTERPRISE}:{line_of(file, 'base:')} at profile.base: market_regulation/"
                        "enterprise_registration is keyed by (credit_code), not (enterprise_name); joining it "
                        "would multiply rows [join-not-on-key]")
    assert len(joins) == 3  # the base and both joins
    assert (f"{ENTERPRISE}:{line_of(file, 'source: beds}')} at profile.columns.medical_bed_count.source: dataset "
            "health/medical_institution has no column 'beds' [unknown-column]") in problems

    edit(file, "  key: enterprise_name", "  key: credit_code")
    edit(file, "    - health/medical_institution", "    - health/medical_institutions")
    assert (f"{ENTERPRISE}:{line_of(file, '- health/medical_institutions')} at profile.joins[1]: unknown dataset "
            "'health/medical_institutions' [unknown-dataset]") in problems_of(standards)


def test_structure_file_location_and_columns_from_outside_the_inputs(standards: Path) -> None:
    file = standards / ENTERPRISE
    edit(file, "  name: enterprise\n", "  name: enterprises\n")
    edit(file, "dataset: taxation/taxpayer_credit_rating, source: rating}",
         "dataset: civil_affairs/subsistence_allowance, source: rating}")
    problems = problems_of(standards)
    assert (f"{ENTERPRISE}:{line_of(file, 'name: enterprises')} at profile.name: profile enterprises must live in "
            "profiles/enterprises.yaml [file-location]") in problems
    assert any("profile.columns.tax_credit_rating.dataset: column tax_credit_rating comes from "
               "civil_affairs/subsistence_allowance, which is neither the base nor a join [not-an-input]" in p
               for p in problems)
    edit(file, "  title_zh:", "  title:")
    assert any(p.startswith(f"{ENTERPRISE}:") and "[schema]" in p for p in problems_of(standards))


def test_a_never_published_source_column_is_named(standards: Path) -> None:
    """The ratings made not_shared: the profile could join and copy nothing of them (the agreement on them is
    named too)."""
    edit(standards / "datasets/taxation/taxpayer_credit_rating.yaml", "  sharing: conditional",
         "  sharing: not_shared\n  sharing_basis: 《税收征收管理法》第八条")
    file = standards / ENTERPRISE
    assert [p for p in problems_of(standards) if p.startswith("profiles/")] == [
        f"{ENTERPRISE}:{line_of(file, '- taxation/taxpayer_credit_rating')} at profile.joins[0]: "
        "taxation/taxpayer_credit_rating never publishes its key column credit_code, so it cannot be joined "
        "[key-not-published]",
        f"{ENTERPRISE}:{line_of(file, 'source: rating}')} at profile.columns.tax_credit_rating.source: column rating "
        "of taxation/taxpayer_credit_rating is never published [not-published]",
        f"{ENTERPRISE}:{line_of(file, 'source: evaluated_on}')} at profile.columns.tax_rated_on.source: column "
        "evaluated_on of taxation/taxpayer_credit_rating is never published [not-published]"]


def test_a_broken_profile_is_left_out_alone(standards: Path) -> None:
    edit(standards / ENTERPRISE, "source: bed_count}", "source: beds}")
    with pytest.raises(StandardsError, match="beds"):
        load_catalogue(standards)
    usable = load_usable_catalogue(standards)
    assert usable.profiles == {} and ENTERPRISE in usable.broken
    assert "health/medical_institution" in usable.datasets  # the datasets it reads are untouched
    with pytest.raises(StandardsError, match="beds"):
        usable.profile("enterprise")


def test_a_profile_reading_a_left_out_dataset_is_left_out_too(standards: Path) -> None:
    edit(standards / "datasets/health/medical_institution.yaml", "element: credit_code", "element: credit_cod")
    usable = load_usable_catalogue(standards)
    assert "health/medical_institution" not in usable.datasets and usable.profiles == {}
    [problem] = usable.broken[ENTERPRISE]
    assert (problem.rule, problem.path) == ("dataset-left-out", "profile.base")
    assert "health/medical_institution has problems and was left out" in problem.message
    assert "market_regulation/enterprise_registration" in usable.datasets


def test_a_join_listed_twice_or_equal_to_the_base_is_named(standards: Path) -> None:
    """Either would join one table twice: the build fails, and so does every key command reading the profile."""
    file = standards / ENTERPRISE
    edit(file, "    - health/medical_institution\n",
         "    - health/medical_institution\n    - health/medical_institution\n"
         "    - market_regulation/enterprise_registration\n")
    problems = [p for p in problems_of(standards) if "[duplicate-join]" in p]
    assert problems == [
        f"{ENTERPRISE}:{line_of(file, 'health/medical_institution') + 1} at profile.joins[2]: "
        "health/medical_institution is already an input of the profile; each input is joined once [duplicate-join]",
        f"{ENTERPRISE}:{line_of(file, '    - market_regulation/enterprise_registration')} at profile.joins[3]: "
        "market_regulation/enterprise_registration is already an input of the profile; each input is joined once "
        "[duplicate-join]"]
    assert load_usable_catalogue(standards).profiles == {}


def test_a_key_column_the_join_cannot_match_is_named(standards: Path) -> None:
    """Not published (the build would fail), or published differently from the base's (no row would match)."""
    hospitals = standards / "datasets/health/medical_institution.yaml"
    edit(hospitals, "{name: credit_code, element: credit_code}",
         "{name: credit_code, element: credit_code, sharing: not_shared}")
    file = standards / ENTERPRISE
    assert [p for p in problems_of(standards) if p.startswith("profiles/")] == [
        f"{ENTERPRISE}:{line_of(file, '- health/medical_institution')} at profile.joins[1]: health/medical_institution "
        "never publishes its key column credit_code, so it cannot be joined [key-not-published]"]
    edit(hospitals, "sharing: not_shared}", "masking: {rule: pseudonym}}")
    assert [p for p in problems_of(standards) if p.startswith("profiles/")] == [
        f"{ENTERPRISE}:{line_of(file, '- health/medical_institution')} at profile.joins[1]: credit_code of "
        "health/medical_institution is published as credit_code (pseudonym), of the base as credit_code (none): the "
        "join would compare unlike values [key-mismatch]"]


def test_a_key_masked_by_a_rule_that_cannot_be_joined_on_is_named(standards: Path) -> None:
    """Ciphertexts differ for equal values (random nonces); partial masks and generalizations merge keys."""
    for key in ("market_regulation/enterprise_registration", "taxation/taxpayer_credit_rating",
                "health/medical_institution"):
        edit(standards / "datasets" / f"{key}.yaml", "{name: credit_code, element: credit_code}",
             "{name: credit_code, element: credit_code, masking: {rule: encrypt}}")
    problems = [p for p in problems_of(standards) if p.startswith("profiles/")]
    assert len(problems) == 1 and "at profile.key: credit_code is published encrypted" in problems[0]
    assert problems[0].endswith("[key-not-joinable]")


def test_a_profile_table_named_like_a_dataset_table_is_named(standards: Path) -> None:
    """Department ``profile``, dataset ``enterprise``: both would be shared.profile__enterprise (and one DAG id)."""
    edit(standards / "departments.yaml", "departments:\n",
         "departments:\n  - {key: profile, name_zh: 画像测试部门, name_en: Profile test department}\n")
    (standards / "datasets/profile").mkdir()
    hospitals = (standards / "datasets/health/medical_institution.yaml").read_text(encoding="utf-8")
    (standards / "datasets/profile/enterprise.yaml").write_text(
        hospitals.replace("department: health", "department: profile").replace("name: medical_institution",
                                                                                "name: enterprise"), encoding="utf-8")
    file = standards / ENTERPRISE
    assert [p for p in problems_of(standards) if p.startswith("profiles/")] == [
        f"{ENTERPRISE}:{line_of(file, 'name: enterprise')} at profile.name: the profile's table and DAG "
        "profile__enterprise are also those of dataset profile/enterprise [table-clash]"]
