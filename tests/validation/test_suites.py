"""Suites generated from the standards, regeneration that keeps owners' edits, and the committed suite files."""

import copy
import json
from pathlib import Path

import pytest

from governance.settings import REPO_ROOT
from governance.standards.catalogue import Catalogue, load_catalogue
from governance.standards.models import ValueDomain
from governance.validation.expectations import code_table_codes
from governance.validation.suites import (
    SuiteError,
    dumps_suite,
    generate_suite,
    read_suite_json,
    regenerate,
    regenerate_all,
    strftime_format,
    suite_path,
    write_suite,
)

EXPECTATIONS_ROOT = REPO_ROOT / "expectations"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(REPO_ROOT / "standards")


def by_rule(suite: dict) -> dict[str, dict]:
    return {e["meta"]["rule"]: e for e in suite["expectations"]}


def test_resident_population_rules(catalogue: Catalogue) -> None:
    dataset = catalogue.dataset("public_security/resident_population")
    suite = generate_suite(catalogue, dataset)
    rules = by_rule(suite)
    assert suite["name"] == "public_security__resident_population"
    assert len(rules) == len(suite["expectations"])  # rule ids are unique
    assert all(e["meta"]["generated"] is True for e in suite["expectations"])
    assert rules["table.columns"]["type"] == "expect_table_columns_to_match_set"
    assert rules["table.columns"]["kwargs"] == {"column_set": [c.name for c in dataset.columns], "exact_match": True}
    not_null = {r.removesuffix(".not_null") for r in rules if r.endswith(".not_null")}
    assert not_null == {"id_number", "name", "gender", "birth_date", "region_code", "updated_at"}  # pk + required
    assert rules["id_number.unique"]["type"] == "expect_column_values_to_be_unique"
    assert rules["id_number.resident_id"] == {
        "type": "expect_column_values_to_be_valid_resident_id",
        "kwargs": {"column": "id_number"},
        "meta": {"generated": True, "rule": "id_number.resident_id"},
    }
    assert rules["mobile.mobile"]["type"] == "expect_column_values_to_be_valid_mobile_number"
    assert rules["gender.code_table"] == {
        "type": "expect_column_values_to_be_in_code_table",
        "kwargs": {"column": "gender", "code_table": "gender"},
        "meta": {"generated": True, "rule": "gender.code_table"},
    }
    assert rules["region_code.code_table"]["kwargs"] == {"column": "region_code", "code_table": "division"}
    assert rules["name.max_length"]["kwargs"] == {"column": "name", "min_value": 0, "max_value": 50}
    assert rules["address.max_length"]["kwargs"]["max_value"] == 200
    assert "id_number.max_length" not in rules  # the validator covers the length
    assert rules["birth_date.date"]["kwargs"] == {"column": "birth_date", "strftime_format": "%Y-%m-%d"}
    assert rules["updated_at.datetime"]["kwargs"]["strftime_format"] == "%Y-%m-%d %H:%M:%S"
    assert rules["gender.matches_id_number"]["kwargs"] == {
        "column_A": "id_number",
        "column_B": "gender",
        "ignore_row_if": "either_value_is_missing",
    }
    assert rules["birth_date.matches_id_number"]["kwargs"]["strftime_format"] == "%Y-%m-%d"
    assert suite["meta"]["dataset"] == "public_security/resident_population"
    assert suite["meta"]["sensitive_columns"] == ["id_number", "name", "birth_date", "address", "mobile"]


def test_division_codes_include_retired(catalogue: Catalogue) -> None:
    suite = generate_suite(catalogue, catalogue.dataset("public_security/resident_population"))
    codes = set(code_table_codes(by_rule(suite)["region_code.code_table"]["kwargs"]["code_table"]))
    retired = catalogue.code_tables["division"].retired
    assert retired and retired <= codes
    assert {"110103", "110101"} <= codes  # 崇文区 (retired 2010), 东城区
    assert len(codes) == len(catalogue.code_tables["division"].codes)


def test_every_code_table_column_names_its_table(catalogue: Catalogue) -> None:
    for dataset in catalogue.datasets.values():
        rules = by_rule(generate_suite(catalogue, dataset))
        for column in catalogue.columns(dataset):
            table = column.element.domain.code_table
            if table:
                assert rules[f"{column.name}.code_table"]["kwargs"] == {"column": column.name, "code_table": table}
        assert "expect_column_values_to_be_in_set" not in {e["type"] for e in rules.values()}


def test_committed_suites_stay_readable() -> None:
    for path in EXPECTATIONS_ROOT.glob("*/*.json"):
        assert len(path.read_text(encoding="utf-8").splitlines()) < 400, f"{path} inlines a code table again"


def test_compound_key_numbers_and_credit_codes(catalogue: Catalogue) -> None:
    enrollment = by_rule(generate_suite(catalogue, catalogue.dataset("human_resources__social_insurance_enrollment")))
    key = enrollment["id_number+insurance_type.unique"]
    assert key["type"] == "expect_compound_columns_to_be_unique"
    assert key["kwargs"] == {"column_list": ["id_number", "insurance_type"], "ignore_row_if": "any_value_is_missing"}
    assert {"id_number.not_null", "insurance_type.not_null"} <= set(enrollment)
    assert enrollment["contribution_base.decimal"]["kwargs"] == {
        "column": "contribution_base",
        "number_type": "decimal",
        "precision": 12,
        "scale": 2,
    }
    assert enrollment["employer_credit_code.credit_code"]["type"] == "expect_column_values_to_be_valid_credit_code"
    assert not [r for r in enrollment if ".matches_" in r]  # no gender / birth date columns

    enterprise = by_rule(generate_suite(catalogue, catalogue.dataset("market_regulation/enterprise_registration")))
    assert "legal_rep_id_number.resident_id" in enterprise
    assert "credit_code.unique" in enterprise and "credit_code.credit_code" in enterprise
    assert enterprise["status.code_table"]["type"] == "expect_column_values_to_be_in_code_table"
    medical = by_rule(generate_suite(catalogue, catalogue.dataset("health/medical_institution")))
    assert medical["bed_count.integer"]["kwargs"] == {"column": "bed_count", "number_type": "integer"}


def test_pattern_domain_becomes_anchored_regex(catalogue: Catalogue) -> None:
    elements = dict(catalogue.elements)
    elements["person_name"] = elements["person_name"].model_copy(update={"domain": ValueDomain(pattern=r"\S+")})
    patched = Catalogue(catalogue.root, catalogue.departments, elements, catalogue.code_tables, catalogue.datasets)
    rules = by_rule(generate_suite(patched, patched.dataset("public_security/resident_population")))
    assert rules["name.pattern"]["kwargs"] == {"column": "name", "regex": r"^(?:\S+)$"}
    assert rules["name.pattern"]["type"] == "expect_column_values_to_match_regex"


def test_strftime_format() -> None:
    assert strftime_format("YYYY-MM-DD", "date") == "%Y-%m-%d"
    assert strftime_format("YYYY-MM-DD hh:mm:ss", "datetime") == "%Y-%m-%d %H:%M:%S"
    assert strftime_format(None, "datetime") == "%Y-%m-%d %H:%M:%S"
    assert strftime_format("YYYYMMDD", "date") == "%Y%m%d"


def test_regenerate_keeps_owner_expectations_and_updates_generated(catalogue: Catalogue) -> None:
    generated = generate_suite(catalogue, catalogue.dataset("public_security/resident_population"))
    existing = copy.deepcopy(generated)
    rules = by_rule(existing)
    rules["gender.code_table"]["kwargs"]["code_table"] = "ethnicity"  # stale generated rule: must be regenerated
    tightened = rules["name.max_length"]
    tightened["kwargs"]["max_value"] = 20
    tightened["meta"]["generated"] = False  # owner tightened it
    rules["address.max_length"]["kwargs"]["max_value"] = 100
    del rules["address.max_length"]["meta"]["generated"]  # owner edited, generated key removed
    existing["expectations"].append(
        {
            "type": "expect_column_values_to_not_match_regex",
            "kwargs": {"column": "name", "regex": "[0-9]"},
            "meta": {"rule": "name.no_digits", "owner": "户籍科"},
        }
    )
    existing["expectations"].append(
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}
    )  # owner rule without a rule id
    existing["expectations"].append(
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "old"},
            "meta": {"generated": True, "rule": "old.not_null"},
        }
    )  # column left standards
    existing["meta"]["steward"] = "张*"

    merged = regenerate(existing, generated)
    result = by_rule({"expectations": [e for e in merged["expectations"] if e.get("meta", {}).get("rule")]})
    ids = [e.get("meta", {}).get("rule") for e in merged["expectations"]]
    assert len([i for i in ids if i]) == len(set(i for i in ids if i))  # no rule twice
    assert result["gender.code_table"]["kwargs"] == {"column": "gender", "code_table": "gender"}
    assert result["name.max_length"]["kwargs"]["max_value"] == 20
    assert result["name.max_length"]["meta"]["generated"] is False
    assert result["address.max_length"]["kwargs"]["max_value"] == 100
    assert result["name.no_digits"]["meta"]["owner"] == "户籍科"
    assert "old.not_null" not in result
    assert {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}} in merged["expectations"]
    assert len(merged["expectations"]) == len(generated["expectations"]) + 2
    # tightened rules keep the generated rule's place; owner additions follow the generated ones
    assert ids.index("name.max_length") == [e["meta"]["rule"] for e in generated["expectations"]].index(
        "name.max_length"
    )
    assert ids[-2:] == ["name.no_digits", None]
    assert merged["meta"]["steward"] == "张*" and merged["meta"]["dataset"] == generated["meta"]["dataset"]
    assert regenerate(merged, generated) == merged  # idempotent


def test_regenerate_without_existing_and_duplicate_owner_rules(catalogue: Catalogue) -> None:
    generated = generate_suite(catalogue, catalogue.dataset("taxation/taxpayer_credit_rating"))
    assert regenerate(None, generated) == generated
    owner = {
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {"column": "rating"},
        "meta": {"rule": "rating.custom"},
    }
    with pytest.raises(ValueError, match=r"rating\.custom"):
        regenerate({**generated, "expectations": [owner, copy.deepcopy(owner)]}, generated)


def test_write_suite_is_pretty_stable_and_readable(catalogue: Catalogue, tmp_path: Path) -> None:
    suite = generate_suite(catalogue, catalogue.dataset("taxation/taxpayer_credit_rating"))
    path = tmp_path / "taxation" / "taxpayer_credit_rating.json"
    write_suite(path, suite)
    first = path.read_bytes()
    write_suite(path, json.loads(first))
    assert path.read_bytes() == first
    text = first.decode("utf-8")
    assert "纳税信用等级评价结果" in text and "\\u" not in text
    assert text.startswith('{\n  "expectations": [')
    assert read_suite_json(path) == suite


def test_read_suite_json_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "name": "x",\n  "expectations": [,]\n}\n', encoding="utf-8")
    with pytest.raises(SuiteError) as error:
        read_suite_json(broken)
    assert (error.value.line, error.value.column) == (3, 20)
    assert str(error.value).startswith(f"{broken}:3:20: invalid JSON")


def test_regenerate_all_layout(catalogue: Catalogue, tmp_path: Path) -> None:
    written = regenerate_all(catalogue, tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(
        f"{d.department}/{d.name}.json" for d in catalogue.datasets.values()
    )
    assert len(written) == 6


def test_committed_suites_are_current(catalogue: Catalogue) -> None:
    for dataset in catalogue.datasets.values():
        path = suite_path(dataset, EXPECTATIONS_ROOT)
        existing = read_suite_json(path)
        assert regenerate(existing, generate_suite(catalogue, dataset)) == existing, f"{path} is stale"
        assert path.read_text(encoding="utf-8") == dumps_suite(existing)
