"""validate_frame on frames with injected defects: right rows, rules and reasons; table failures; no raw values."""

import json
from pathlib import Path

import pandas as pd
import pytest
from faker import Faker
from validation_support import other_check, residents

from governance.identifiers import make_credit_code
from governance.settings import REPO_ROOT
from governance.standards.catalogue import Catalogue, load_catalogue
from governance.validation.runner import ROW_FAILURE_COLUMNS, SuiteError, load_suite, validate_frame
from governance.validation.suites import generate_suite

RESIDENTS = "public_security/resident_population"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(REPO_ROOT / "standards")


@pytest.fixture(scope="module")
def resident_suite(catalogue: Catalogue) -> dict:
    return generate_suite(catalogue, catalogue.dataset(RESIDENTS))


@pytest.fixture(scope="module")
def defective() -> pd.DataFrame:
    frame = residents(12)
    frame.loc[1, "id_number"] = other_check(frame.loc[1, "id_number"])
    legacy = frame.loc[2, "id_number"]
    frame.loc[2, "id_number"] = legacy[:6] + legacy[8:17]  # 15-digit form, read as born 19YY-MM-DD
    frame.loc[2, "birth_date"] = f"19{legacy[8:10]}-{legacy[10:12]}-{legacy[12:14]}"
    frame.loc[4, "id_number"] = frame.loc[3, "id_number"]  # duplicate key (row 3's gender and birth date)
    frame.loc[4, ["gender", "birth_date"]] = frame.loc[3, ["gender", "birth_date"]]
    frame.loc[5, "gender"] = "2" if frame.loc[5, "gender"] == "1" else "1"
    frame.loc[6, "ethnicity"] = "99"
    frame.loc[7, "birth_date"] = "1990-02-30"
    frame.loc[8, "name"] = None
    frame.loc[9, "region_code"] = "110103"  # retired 崇文区: still legitimate
    frame.loc[10, "updated_at"] = "2025/05/31 23:59:59"
    frame.loc[11, "mobile"] = "+86 13912345678"
    frame.index = [f"r{i}" for i in range(len(frame))]  # positions, not labels, come back
    return frame


@pytest.fixture(scope="module")
def outcome(defective: pd.DataFrame, resident_suite: dict):
    return validate_frame(defective, resident_suite, dataset_key=RESIDENTS)


def test_injected_defects_give_the_right_rows_rules_and_reasons(outcome) -> None:
    assert list(outcome.row_failures.columns) == ROW_FAILURE_COLUMNS
    found = set(outcome.row_failures.itertuples(index=False, name=None))
    assert found == {
        (1, "id_number.resident_id", "id_number", "bad_check_character"),
        (2, "id_number.resident_id", "id_number", "legacy_15_digit"),
        (3, "id_number.unique", "id_number", "duplicate_key"),
        (4, "id_number.unique", "id_number", "duplicate_key"),
        (5, "gender.matches_id_number", "gender", "gender_mismatch"),
        (6, "ethnicity.code_table", "ethnicity", "not_in_code_table"),
        (7, "birth_date.date", "birth_date", "bad_date"),
        (8, "name.not_null", "name", "missing"),
        (10, "updated_at.datetime", "updated_at", "bad_date"),
        (11, "mobile.mobile", "mobile", "has_country_prefix"),
    }
    assert outcome.failed_rows == [1, 2, 3, 4, 5, 6, 7, 8, 10, 11]
    assert outcome.row_failures["row"].dtype == "int64"
    assert outcome.table_failures == []
    assert outcome.success is False
    assert outcome.row_count == 12


def test_expectation_results_summarise_counts_in_suite_order(outcome, resident_suite: dict) -> None:
    results = outcome.expectation_results
    assert [r["rule"] for r in results] == [e["meta"]["rule"] for e in resident_suite["expectations"]]
    by_rule = {r["rule"]: r for r in results}
    assert by_rule["id_number.unique"] == {
        "type": "expect_column_values_to_be_unique",
        "rule": "id_number.unique",
        "column": "id_number",
        "success": False,
        "unexpected_count": 2,
        "error": None,
    }
    assert by_rule["region_code.code_table"]["success"] is True
    assert by_rule["table.columns"]["success"] is True  # _source_* bookkeeping columns are ignored
    assert set(by_rule["mobile.mobile"]) == {"type", "rule", "column", "success", "unexpected_count", "error"}


def test_nothing_returned_holds_a_raw_value(outcome, defective: pd.DataFrame) -> None:
    returned = json.dumps(
        {
            "rows": outcome.row_failures.astype(str).values.tolist(),
            "table": outcome.table_failures,
            "results": outcome.expectation_results,
        },
        ensure_ascii=False,
    )
    personal = ["id_number", "name", "birth_date", "address", "mobile", "updated_at"]
    raw = {value for column in personal for value in defective[column].dropna()}
    raw |= {defective.loc["r6", "ethnicity"], "1990-02-30"}
    leaked = [value for value in raw if value in returned]
    assert leaked == []


def test_clean_frame_succeeds(resident_suite: dict) -> None:
    result = validate_frame(residents(20, seed=3), resident_suite, dataset_key=RESIDENTS)
    assert result.success, result.row_failures
    assert result.row_failures.empty and list(result.row_failures.columns) == ROW_FAILURE_COLUMNS


def test_missing_column_is_a_table_failure(resident_suite: dict) -> None:
    frame = residents(5).drop(columns=["mobile"]).assign(nickname="x")
    result = validate_frame(frame, resident_suite, dataset_key=RESIDENTS)
    assert result.success is False
    assert result.table_failures == [
        "table.columns: missing columns: mobile; unexpected columns: nickname",
        "mobile.mobile: not run, missing column mobile",
    ]
    assert result.row_failures.empty
    assert {r["rule"]: r["error"] for r in result.expectation_results}["mobile.mobile"] == "missing column"


def test_owner_table_rule_and_rule_less_expectation(resident_suite: dict) -> None:
    suite = {
        **resident_suite,
        "expectations": [
            *resident_suite["expectations"],
            {
                "type": "expect_table_row_count_to_be_between",
                "kwargs": {"min_value": 10},
                "meta": {"rule": "table.min_rows"},
            },
            {"type": "expect_column_values_to_not_match_regex", "kwargs": {"column": "name", "regex": "[A-Za-z]"}},
        ],
    }
    frame = residents(4)
    frame.loc[2, "name"] = "王Li"  # Latin letters pass the standard's name rule, not this owner's rule
    result = validate_frame(frame, suite, dataset_key=RESIDENTS)
    assert result.table_failures == ["table.min_rows: observed 4"]
    assert result.row_failures.values.tolist() == [
        [2, "expect_column_values_to_not_match_regex:name", "name", "failed column_values_to_not_match_regex"]
    ]


def test_compound_key_credit_code_and_decimal(catalogue: Catalogue) -> None:
    suite = generate_suite(catalogue, catalogue.dataset("human_resources/social_insurance_enrollment"))
    faker = Faker("zh_CN")
    faker.seed_instance(5)
    ids = [faker.ssn() for _ in range(2)]
    employer = make_credit_code("91110105", "MA01XY7Q")
    frame = pd.DataFrame(
        {
            "id_number": [ids[0], ids[0], ids[0], ids[1], ids[1]],
            "name": ["张三", "张三", "张三", "李四", "王五"],
            "insurance_type": ["110", "110", "310", None, None],
            "employer_credit_code": [employer, employer, employer, other_check(employer), employer],
            "contribution_base": ["8000.00", "8000.00", "8000.005", "12000", "1e4"],
            "enrolled_on": ["2020-01-01"] * 5,
            "updated_at": ["2025-05-31 08:00:00"] * 5,
        },
        dtype="str",
    )
    result = validate_frame(frame, suite, dataset_key="human_resources/social_insurance_enrollment")
    assert set(result.row_failures.itertuples(index=False, name=None)) == {
        (0, "id_number+insurance_type.unique", "id_number+insurance_type", "duplicate_key"),
        (1, "id_number+insurance_type.unique", "id_number+insurance_type", "duplicate_key"),
        (2, "contribution_base.decimal", "contribution_base", "bad_number"),
        (3, "employer_credit_code.credit_code", "employer_credit_code", "bad_check_character"),
        (3, "insurance_type.not_null", "insurance_type", "missing"),
        (4, "insurance_type.not_null", "insurance_type", "missing"),
        (4, "contribution_base.decimal", "contribution_base", "bad_number"),
    }  # rows 3 and 4 share a key with nulls: the not-null rule's business, not duplicates
    assert result.table_failures == []


def test_committed_suites_load() -> None:
    files = sorted((REPO_ROOT / "expectations").glob("*/*.json"))
    assert len(files) == 6
    for path in files:
        suite = load_suite(path)
        assert suite["name"] == f"{path.parent.name}__{path.stem}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"name": "x", "expectations": [}', r"bad\.json:1:32: invalid JSON"),
        ("[1]", "one JSON object"),
        ('{"expectations": []}', "non-empty string 'name'"),
        ('{"name": "x", "expectations": [], "extra": 1}', "unknown suite keys: extra"),
        (
            '{"name": "x", "expectations": [{"type": "expect_column_values_to_be_vaild_date",'
            ' "kwargs": {"column": "a"}, "meta": {"rule": "a.date"}}]}',
            r"expectations\[0\] \(a.date\): unknown expectation type",
        ),
        (
            '{"name": "x", "expectations": [{"type": "expect_column_values_to_be_valid_date",'
            ' "kwargs": {"column": "a"}}]}',
            r"expectations\[0\]: invalid expect_column_values_to_be_valid_date: .*strftime_format",
        ),
        (
            '{"name": "x", "expectations": [{"type": "expect_column_values_to_not_be_null", "kwarg": {}}]}',
            "unknown keys: kwarg",
        ),
        (
            '{"name": "x", "expectations": [{"type": "expect_column_values_to_be_in_code_table",'
            ' "kwargs": {"column": "a", "code_table": "genders"}}]}',
            r"expectations\[0\]: invalid expect_column_values_to_be_in_code_table: .*unknown code table 'genders'",
        ),
    ],
)
def test_load_suite_rejects_clearly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SuiteError, match=message) as error:
        load_suite(path)
    assert str(path) in str(error.value)


def test_a_rule_gx_cannot_compute_is_reported_by_exception_type_without_gx_s_message(resident_suite: dict) -> None:
    """GX's message for a metric that fails on the data quotes the values (pandas: ``Could not convert string
    '张淑华公凯...' to numeric``); the table failure and the Data Docs entry keep the exception's type only."""
    frame = residents(5)
    suite = {**resident_suite, "expectations": [*resident_suite["expectations"], {
        "type": "expect_column_mean_to_be_between", "kwargs": {"column": "name", "min_value": 0},
        "meta": {"rule": "name.mean"}}]}
    result = validate_frame(frame, suite, dataset_key=RESIDENTS)
    [failure] = result.table_failures
    assert failure.startswith("name.mean: could not run (MetricResolutionError raised while computing the rule")
    [docs] = [item for item in result.docs_result.results if item.expectation_config.meta.get("rule") == "name.mean"]
    assert docs.exception_info["raised_exception"] and not docs.success
    shown = failure + json.dumps(result.expectation_results, ensure_ascii=False) + str(docs.exception_info)
    assert not [name for name in frame["name"] if name in shown]
