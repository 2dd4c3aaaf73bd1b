"""Custom GX expectations: registered on import, vectorised checks right, and suites holding them survive
GX's own JSON round trip (in memory and through a file context read back by a fresh process)."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import great_expectations as gx
import pandas as pd
import pytest
from faker import Faker
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.registry import get_expectation_impl

from governance.identifiers import make_credit_code
from governance.settings import REPO_ROOT
from governance.validation import expectations as custom
from governance.validation.expectations import (
    CUSTOM_EXPECTATIONS,
    birth_date_matches,
    code_table_codes,
    fixed_width,
    gender_matches,
    number_pattern,
    parse_dates,
    valid_numbers,
)

PAIR = {"ignore_row_if": "either_value_is_missing"}
ALL_CUSTOM = [
    {"type": "expect_column_values_to_be_valid_resident_id", "kwargs": {"column": "id"}},
    {"type": "expect_column_values_to_be_valid_credit_code", "kwargs": {"column": "org"}},
    {"type": "expect_column_values_to_be_valid_mobile_number", "kwargs": {"column": "mobile"}},
    {"type": "expect_column_values_to_be_valid_date", "kwargs": {"column": "born", "strftime_format": "%Y-%m-%d"}},
    {
        "type": "expect_column_values_to_be_valid_date",
        "kwargs": {"column": "seen", "strftime_format": "%Y-%m-%d %H:%M:%S"},
    },
    {
        "type": "expect_column_values_to_be_valid_number",
        "kwargs": {"column": "amount", "number_type": "decimal", "precision": 10, "scale": 2},
    },
    {"type": "expect_column_values_to_be_valid_number", "kwargs": {"column": "beds", "number_type": "integer"}},
    {
        "type": "expect_column_pair_gender_to_match_resident_id",
        "kwargs": {"column_A": "id", "column_B": "gender", **PAIR},
    },
    {
        "type": "expect_column_pair_birth_date_to_match_resident_id",
        "kwargs": {"column_A": "id", "column_B": "born", "strftime_format": "%Y-%m-%d", **PAIR},
    },
    {"type": "expect_column_values_to_be_in_code_table", "kwargs": {"column": "region", "code_table": "division"}},
    {"type": "expect_column_values_to_be_valid_person_name", "kwargs": {"column": "name"}},
]
for _index, _expectation in enumerate(ALL_CUSTOM):
    _expectation["meta"] = {"generated": True, "rule": f"rule_{_index}"}


@pytest.fixture(scope="module")
def ids() -> list[str]:
    faker = Faker("zh_CN")
    faker.seed_instance(20250601)
    return [faker.ssn() for _ in range(6)]


@pytest.fixture(scope="module")
def batch_definition():
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context.data_sources.add_pandas("t").add_dataframe_asset("t").add_batch_definition_whole_dataframe("t")


def born(id_number: str) -> str:
    return f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"


def sex(id_number: str) -> str:
    return "1" if int(id_number[16]) % 2 else "2"


def test_all_custom_expectations_registered() -> None:
    assert len(CUSTOM_EXPECTATIONS) == 9
    for type_, cls in CUSTOM_EXPECTATIONS.items():
        assert get_expectation_impl(type_) is cls
    assert set(CUSTOM_EXPECTATIONS) == {e["type"] for e in ALL_CUSTOM}


def test_parameters_have_no_class_defaults() -> None:
    # A required parameter can never be saved as empty kwargs (GX drops values equal to defaults).
    with pytest.raises(Exception, match="strftime_format"):
        custom.ExpectColumnValuesToBeValidDate(column="x")
    with pytest.raises(Exception, match="number_type"):
        custom.ExpectColumnValuesToBeValidNumber(column="x")
    with pytest.raises(Exception, match="ignore_row_if"):
        custom.ExpectColumnPairGenderToMatchResidentId(column_A="a", column_B="b")


def test_dates_exact_width_and_real() -> None:
    values = pd.Series(["2024-01-05", "2024-1-5", "2024-02-30", "20240105", " 2024-01-05", "2024-02-29", None])
    assert parse_dates(values, "%Y-%m-%d").notna().tolist() == [True, False, False, False, False, True, False]
    times = pd.Series(["2024-01-05 10:00:00", "2024-01-05 1:2:3", "2024-01-05", "2024-01-05 24:00:00"])
    assert parse_dates(times, "%Y-%m-%d %H:%M:%S").notna().tolist() == [True, False, False, False]
    assert fixed_width("%Y-%m-%d %H:%M:%S") == 19
    assert fixed_width("%d %b %Y") is None


@pytest.mark.parametrize(
    ("number_type", "precision", "scale", "good", "bad"),
    [
        ("integer", None, None, ["0", "12", "-3", "+40", "123456789012345678901"], ["1.0", "1e3", "1,000", " 1", ""]),
        ("decimal", 10, 2, ["1", "12345678.12", "-0.5", "7.1"], ["123456789.1", "1.234", ".5", "1.", "NaN"]),
        ("decimal", None, None, ["1.23456", "99999999999999"], ["1.2.3", "abc"]),
    ],
)
def test_numbers(number_type: str, precision: int | None, scale: int | None, good: list[str], bad: list[str]) -> None:
    assert valid_numbers(pd.Series(good), number_type, precision, scale).all(), number_pattern(
        number_type, precision, scale
    )
    assert not valid_numbers(pd.Series(bad), number_type, precision, scale).any()


def test_cross_field_helpers(ids: list[str]) -> None:
    id_series = pd.Series([ids[0], ids[1], ids[2], "bad", ids[3]])
    genders = pd.Series([sex(ids[0]), "2" if sex(ids[1]) == "1" else "1", "9", "1", "7"])
    assert gender_matches(id_series, genders).tolist() == [True, False, True, True, True]
    dates = pd.Series([born(ids[0]), "1900-01-01", "not a date", "1990-01-01", born(ids[3])])
    assert birth_date_matches(id_series, dates, "%Y-%m-%d").tolist() == [True, False, True, True, True]


def test_custom_expectations_flag_the_right_rows(batch_definition, ids: list[str]) -> None:
    credit = make_credit_code("91110000", "MA01ABCD")
    bad_credit = credit[:17] + ("0" if credit[17] != "0" else "1")
    frame = pd.DataFrame(
        {
            "id": [ids[0], ids[1][:17] + ("0" if ids[1][17] != "0" else "1"), ids[2], None],
            "org": [credit, bad_credit, None, "x"],
            "mobile": ["13812345678", "+8613812345678", None, "12345678901"],
            "born": [born(ids[0]), born(ids[1]), "1900-01-01", "1999-13-01"],
            "seen": ["2025-01-01 00:00:00", "2025-01-01", None, "2025-01-01 12:30:59"],
            "amount": ["1.5", "1.555", None, "-2"],
            "beds": ["10", "10.0", None, "x"],
            "gender": [sex(ids[0]), sex(ids[1]), "2" if sex(ids[2]) == "1" else "1", "1"],
            "region": ["110101", "110103", "999999", None],  # 110103 崇文区 is retired, still legitimate
            "name": ["王𠀀", "阿依古丽·买买提", "王?", None],  # Extension B passes, a lost character fails
        },
        dtype="str",
    )
    suite = gx.ExpectationSuite(name="custom", expectations=ALL_CUSTOM)
    results = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(
        suite, result_format={"result_format": "COMPLETE", "exclude_unexpected_values": True}
    )
    flagged = {r.expectation_config.meta["rule"]: r.result["unexpected_index_list"] for r in results.results}
    assert flagged == {
        "rule_0": [1],  # bad check character; None is the not-null rule's business
        "rule_1": [1, 3],
        "rule_2": [1, 3],
        "rule_3": [3],
        "rule_4": [1],
        "rule_5": [1],
        "rule_6": [1, 3],
        "rule_7": [2],
        "rule_8": [2],
        "rule_9": [2],
        "rule_10": [2],
    }
    assert all("unexpected_list" not in r.result for r in results.results)


def test_suite_json_round_trip_in_memory() -> None:
    document = {"name": "public_security__round_trip", "expectations": ALL_CUSTOM, "meta": {"dataset": "x"}}
    suite = gx.ExpectationSuite(**json.loads(json.dumps(document)))
    assert len(suite.expectations) == len(ALL_CUSTOM)
    saved = json.loads(json.dumps(suite.to_json_dict()))
    assert [(e["type"], e["kwargs"], e["meta"]) for e in saved["expectations"]] == [
        (e["type"], e["kwargs"], e["meta"]) for e in ALL_CUSTOM
    ]
    reloaded = gx.ExpectationSuite(**saved)
    assert reloaded.expectations == suite.expectations


def test_suite_round_trip_through_file_context_in_fresh_process(tmp_path: Path) -> None:
    document = {"name": "public_security__file_round_trip", "expectations": ALL_CUSTOM}
    context = gx.get_context(mode="file", project_root_dir=str(tmp_path))
    context.suites.add(gx.ExpectationSuite(**json.loads(json.dumps(document))))
    [saved_file] = list(tmp_path.rglob("public_security__file_round_trip.json"))
    script = textwrap.dedent(f"""
        import json, logging
        logging.disable(logging.CRITICAL)
        import great_expectations as gx
        path = {str(saved_file)!r}
        # Without our classes registered GX logs and drops every custom expectation:
        bare = gx.ExpectationSuite(**json.load(open(path, encoding="utf-8")))
        from governance.validation.runner import load_suite
        document = load_suite(path)
        context = gx.get_context(mode="file", project_root_dir={str(tmp_path)!r})
        suite = context.suites.get("public_security__file_round_trip")
        print(json.dumps({{"bare": len(bare.expectations), "loaded": len(document["expectations"]),
                          "context": [[e.configuration.type, e.configuration.kwargs, e.meta]
                                      for e in suite.expectations]}}))
    """)
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=180)
    report = json.loads(output.stdout.strip().splitlines()[-1])
    assert report["bare"] == 0  # the hazard load_suite guards against
    assert report["loaded"] == len(ALL_CUSTOM)
    assert report["context"] == [[e["type"], e["kwargs"], e["meta"]] for e in ALL_CUSTOM]


def test_code_table_is_named_in_the_suite_and_read_from_the_settings_standards(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(Exception, match="unknown code table 'genders'"):
        custom.ExpectColumnValuesToBeInCodeTable(column="x", code_table="genders")
    assert code_table_codes("gender") == ["0", "1", "2", "9"]
    standards = tmp_path / "standards"
    shutil.copytree(REPO_ROOT / "standards", standards)
    gender = standards / "codes" / "gender.yaml"
    gender.write_text(gender.read_text(encoding="utf-8") + '  "5": 测试性别\n', encoding="utf-8")
    monkeypatch.setenv("GOVERNANCE_STANDARDS_ROOT", str(standards))
    assert code_table_codes("gender") == ["0", "1", "2", "5", "9"]
