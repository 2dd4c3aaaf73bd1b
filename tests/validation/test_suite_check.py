"""``governance suites check``: broken suites, missing or stray files, and baseline rules removed or loosened
without a waiver are all reported at once; tightening and waived changes are not problems."""

import json
from pathlib import Path

import pytest

from governance.cli import main
from governance.settings import REPO_ROOT
from governance.standards.catalogue import Catalogue, load_catalogue
from governance.validation.baseline import loosenings
from governance.validation.lint import check_suites
from governance.validation.suites import regenerate_all, write_suite

RESIDENTS = "public_security/resident_population.json"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(REPO_ROOT / "standards")


@pytest.fixture
def root(catalogue: Catalogue, tmp_path: Path) -> Path:
    """Freshly generated suites for every dataset, in a private expectations folder."""
    folder = tmp_path / "expectations"
    regenerate_all(catalogue, folder)
    return folder


def edit(path: Path, change) -> None:
    suite = json.loads(path.read_text(encoding="utf-8"))
    change(suite, {e["meta"]["rule"]: e for e in suite["expectations"] if "rule" in e.get("meta", {})})
    write_suite(path, suite)


def labels(path: Path) -> tuple[dict[str, str], int]:
    """rule id -> ``expectations[i] (rule)`` for the file as it is now, and how many expectations it has."""
    expectations = json.loads(path.read_text(encoding="utf-8"))["expectations"]
    named = {e["meta"]["rule"]: f"expectations[{i}] ({e['meta']['rule']})" for i, e in enumerate(expectations)
             if "rule" in e.get("meta", {})}
    return named, len(expectations)


def owned(expectation: dict, **meta) -> dict:
    expectation["meta"] = {**expectation["meta"], "generated": False, **meta}
    return expectation


def found(root: Path, catalogue: Catalogue) -> set[tuple[str, str, str]]:
    return {(p.file, p.expectation, p.check) for p in check_suites(catalogue, root).problems}


def test_the_repositorys_suites_pass(catalogue: Catalogue) -> None:
    report = check_suites(catalogue, REPO_ROOT / "expectations")
    assert report.problems == []
    assert report.suites == 6 and report.expectations > 60


def test_every_problem_is_reported_with_file_expectation_and_check(root: Path, catalogue: Catalogue) -> None:
    def break_residents(suite: dict, rules: dict) -> None:
        owned(rules["name.max_length"])["kwargs"]["max_value"] = 80
        owned(rules["ethnicity.code_table"])["kwargs"]["mostly"] = 0.9
        gender = owned(rules["gender.code_table"])
        gender["type"], gender["kwargs"] = "expect_column_values_to_be_in_set", {"column": "gender",
                                                                                 "value_set": ["1", "2", "3"]}
        owned(rules["table.columns"])["kwargs"]["column_set"].remove("mobile")
        rules["mobile.mobile"]["kwargs"]["row_condition"] = 'name!=""'  # still marked generated
        suite["expectations"].remove(rules["name.not_null"])
        suite["expectations"] += [
            {"type": "expect_column_values_to_be_vaild_date", "kwargs": {"column": "born"}, "meta": {"rule": "x"}},
            {"type": "expect_column_values_to_be_valid_date", "kwargs": {"column": "birth_date", "fmt": "%Y"}},
            {"type": "expect_column_values_to_be_in_code_table", "kwargs": {"column": "gender", "code_table": "sex"}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "name"}, "meta": {"rule": "x"}},
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "mobile"},
             "meta": {"generated": True, "rule": "mobile.unique"}},
        ]

    edit(root / RESIDENTS, break_residents)
    (root / "taxation" / "taxpayer_credit_rating.json").write_text('{\n  "name": "x",\n  "expectations": [,]\n}\n')
    (root / "health" / "medical_institution.json").unlink()
    (root / "fake").mkdir()
    (root / "fake" / "dataset.json").write_text('{"name": "fake__dataset", "expectations": []}')
    (root / "README.txt").write_text("notes")

    report = check_suites(catalogue, root)
    residents = f"expectations/{RESIDENTS}"
    at, count = labels(root / RESIDENTS)
    typo, fmt, table, duplicate = (f"expectations[{count - n}]" for n in (5, 4, 3, 2))
    assert {(p.file, p.expectation, p.check) for p in report.problems} == {
        ("expectations/README.txt", "", "stray-file"),
        ("expectations/fake/dataset.json", "", "unknown-dataset"),
        ("expectations/health/medical_institution.json", "", "missing-suite"),
        ("expectations/taxation/taxpayer_credit_rating.json", "", "invalid-json"),
        (residents, f"{typo} (x)", "unknown-type"),
        (residents, f"{typo} (x)", "unknown-column"),
        (residents, fmt, "bad-kwargs"),
        (residents, table, "bad-kwargs"),
        (residents, f"{duplicate} (x)", "duplicate-rule"),
        (residents, "rule name.not_null", "removed-rule"),
        (residents, at["table.columns"], "loosened-rule"),
        (residents, at["name.max_length"], "loosened-rule"),
        (residents, at["gender.code_table"], "loosened-rule"),
        (residents, at["ethnicity.code_table"], "loosened-rule"),
        (residents, at["mobile.mobile"], "stale-rule"),
        (residents, at["mobile.unique"], "stale-rule"),  # no longer generated: regeneration drops it
    }
    reasons = {(p.expectation, p.check): p.reason for p in report.problems if p.file == residents}
    assert "missing required kwarg 'strftime_format'" in reasons[fmt, "bad-kwargs"]
    assert "unknown kwarg 'fmt'" in reasons[fmt, "bad-kwargs"]
    assert "unknown code table 'sex'" in reasons[table, "bad-kwargs"]
    assert "column 'born' is not in the standard" in reasons[f"{typo} (x)", "unknown-column"]
    assert "allows length 80 (the standard: at most 50)" in reasons[at["name.max_length"], "loosened-rule"]
    assert "outside code table gender: ['3']" in reasons[at["gender.code_table"], "loosened-rule"]
    assert "mostly 0.9" in reasons[at["ethnicity.code_table"], "loosened-rule"]
    assert "drops column(s) mobile" in reasons[at["table.columns"], "loosened-rule"]
    assert "meta.waivers['name.not_null']" in reasons["rule name.not_null", "removed-rule"]
    taxation = next(p for p in report.problems if p.check == "invalid-json")
    assert (taxation.line, taxation.column) == (3, 20)
    assert str(taxation) == ("expectations/taxation/taxpayer_credit_rating.json:3:20: invalid JSON: Expecting value "
                             "[invalid-json]")


def test_tightened_rules_are_not_problems(root: Path, catalogue: Catalogue) -> None:
    def tighten(suite: dict, rules: dict) -> None:
        owned(rules["name.max_length"])["kwargs"].update(min_value=2, max_value=20)
        gender = owned(rules["gender.code_table"])
        gender["type"], gender["kwargs"] = "expect_column_values_to_be_in_set", {"column": "gender",
                                                                                 "value_set": ["1", "2"]}
        owned(rules["region_code.code_table"])["kwargs"]["code_table"] = "division"
        owned(rules["gender.matches_id_number"])["kwargs"]["ignore_row_if"] = "neither"
        owned(rules["birth_date.date"])  # an owner copy identical to the generated rule
        suite["expectations"].append({"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1},
                                      "meta": {"rule": "table.min_rows"}})

    edit(root / RESIDENTS, tighten)
    edit(root / "human_resources" / "social_insurance_enrollment.json", lambda suite, rules: owned(
        rules["contribution_base.decimal"])["kwargs"].update(precision=10, scale=2))
    assert found(root, catalogue) == set()


def test_waivers_allow_a_loosened_or_removed_rule_and_unused_ones_are_reported(root: Path,
                                                                               catalogue: Catalogue) -> None:
    def waive(suite: dict, rules: dict) -> None:
        address = owned(rules["address.max_length"], waiver="村组地址超过 200 字, 见 2026-11 标准修订单")
        address["kwargs"]["max_value"] = 300
        suite["expectations"].remove(rules["birth_date.not_null"])
        suite["meta"]["waivers"] = {"birth_date.not_null": "历史档案缺出生日期", "name.not_null": "not removed",
                                    "nickname.not_null": "no such rule"}

    edit(root / RESIDENTS, waive)
    assert found(root, catalogue) == {
        (f"expectations/{RESIDENTS}", labels(root / RESIDENTS)[0]["name.not_null"], "unused-waiver"),
        (f"expectations/{RESIDENTS}", "", "unused-waiver"),
    }

    edit(root / RESIDENTS, lambda suite, rules: suite["meta"].update(waivers={"birth_date.not_null": " "}))
    assert (f"expectations/{RESIDENTS}", "", "suite-shape") in found(root, catalogue)  # a blank reason waives nothing


@pytest.mark.parametrize(
    ("generated", "edited", "reason"),
    [
        ({"column": "a", "min_value": 0, "max_value": 50}, {"column": "a", "max_value": 50}, None),
        ({"column": "a", "min_value": 0, "max_value": 50}, {"column": "a", "min_value": 0, "max_value": 51,
                                                            "strict_max": True}, None),
        ({"column": "a", "min_value": 0, "max_value": 50}, {"column": "a", "min_value": 0}, "without limit"),
        ({"column": "a", "min_value": 0, "max_value": 50}, {"column": "b", "min_value": 0, "max_value": 5},
         "checks column 'b' instead of 'a'"),
        ({"column": "a", "min_value": 0, "max_value": 50}, {"column": "a", "min_value": 0, "max_value": 50,
                                                            "row_condition": "b>1"}, "changes row_condition"),
        ({"column": "a", "min_value": 0, "max_value": 50}, {"column": "a", "min_value": 0, "max_value": 50,
                                                            "mostly": 1.0}, None),
    ],
)
def test_length_comparisons(generated: dict, edited: dict, reason: str | None) -> None:
    type_ = "expect_column_value_lengths_to_be_between"
    found_reasons = loosenings({"type": type_, "kwargs": generated}, {"type": type_, "kwargs": edited}, lambda _: None)
    assert (reason in " ".join(found_reasons)) if reason else found_reasons == []


def test_other_comparisons() -> None:
    def compare(type_: str, generated: dict, edited: dict, edited_type: str | None = None) -> list[str]:
        codes = {"gender": {"0", "1", "2", "9"}, "division": {"110101", "110103"}}.get
        return loosenings({"type": type_, "kwargs": generated}, {"type": edited_type or type_, "kwargs": edited},
                          codes)

    numbers = "expect_column_values_to_be_valid_number"
    assert compare(numbers, {"column": "n", "number_type": "integer"}, {"column": "n", "number_type": "decimal"})
    assert compare(numbers, {"column": "n", "number_type": "decimal", "precision": 12, "scale": 2},
                   {"column": "n", "number_type": "decimal", "precision": 14, "scale": 2})
    assert not compare(numbers, {"column": "n", "number_type": "decimal"},
                       {"column": "n", "number_type": "integer", "precision": 4})
    table = "expect_compound_columns_to_be_unique"
    key = {"column_list": ["a", "b"], "ignore_row_if": "any_value_is_missing"}
    assert not compare(table, key, {**key, "ignore_row_if": "never"})
    assert not compare(table, key, {"column_list": ["a", "b"]})  # GX's default, all_values_are_missing, is stricter
    assert compare(table, {**key, "ignore_row_if": "never"}, key)
    code_table = "expect_column_values_to_be_in_code_table"
    assert compare(code_table, {"column": "g", "code_table": "gender"}, {"column": "g", "code_table": "division"})
    assert compare(code_table, {"column": "g", "code_table": "gender"}, {"column": "g", "value_set": ["1", "x"]},
                   "expect_column_values_to_be_in_set") == ["allows 1 value(s) outside code table gender: ['x']"]
    assert compare("expect_column_values_to_match_regex", {"column": "a", "regex": "^x$"},
                   {"column": "a", "regex": "^y$"}) == ["changes regex from '^x$' to '^y$', which the checker "
                                                        "cannot compare"]
    assert compare("expect_column_values_to_not_be_null", {"column": "a"}, {"column": "a"},
                   "expect_column_values_to_be_unique") == [
        "replaces expect_column_values_to_not_be_null by expect_column_values_to_be_unique, which the checker "
        "cannot compare"]
    assert compare("expect_table_columns_to_match_set", {"column_set": ["a"], "exact_match": True},
                   {"column_set": ["a"], "exact_match": False}) == [
        "no longer requires exactly these columns (exact_match)"]


def test_cli_exit_codes_and_listing(root: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GOVERNANCE_EXPECTATIONS_ROOT", str(root))
    assert main(["suites", "check"]) == 0
    assert capsys.readouterr().out.startswith("suites OK: 6 suites, ")
    edit(root / RESIDENTS, lambda suite, rules: suite["expectations"].remove(rules["name.not_null"]))
    (root / "stray.yaml").write_text("x: 1")
    assert main(["suites", "check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"1. expectations/{RESIDENTS} rule name.not_null: the standard's rule name.not_null")
    assert lines[0].endswith("[removed-rule]")
    assert lines[1] == "2. expectations/stray.yaml: not a suite: suites are expectations/<department>/<dataset>.json " \
                       "[stray-file]"
    assert lines[2] == f"2 problem(s) in {root}"
