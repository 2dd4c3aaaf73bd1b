"""``governance suites preview``: a suite run on a sample file through the real readers, with failing rows per
rule, masked examples, totals and verdict, and clear errors instead of tracebacks."""

import json
from pathlib import Path

import pandas as pd
import pytest
from validation_support import other_check, residents

from governance.cli import main
from governance.settings import REPO_ROOT
from governance.standards.catalogue import Catalogue, load_catalogue
from governance.validation.preview import preview
from governance.validation.suites import generate_suite

RESIDENTS = "public_security/resident_population"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(REPO_ROOT / "standards")


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """Twenty residents as a department would send them (UTF-8 CSV), two of them broken."""
    frame = residents(20).drop(columns=["_source_file", "_source_line"])
    frame.loc[1, "id_number"] = other_check(frame.loc[1, "id_number"])
    frame.loc[3, "ethnicity"] = "99"
    path = tmp_path / "residents.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_failing_rows_per_rule_with_masked_examples(catalogue: Catalogue, sample) -> None:
    path, _ = sample
    result = preview(catalogue, RESIDENTS, path)
    by_rule = {rule.rule: rule for rule in result.rules}
    assert [rule.rule for rule in result.rules] == [
        e["meta"]["rule"] for e in generate_suite(catalogue, catalogue.dataset(RESIDENTS))["expectations"]]
    assert by_rule["id_number.resident_id"].failing_rows == 1
    assert by_rule["id_number.resident_id"].examples == ["line 3  bad_check_character  id_number=<pseudonym>"]
    assert by_rule["ethnicity.code_table"].examples == [
        "line 5  not_in_code_table  ethnicity=99, id_number=<pseudonym>"]
    assert all(rule.failing_rows == 0 and rule.table_failure is None
               for name, rule in by_rule.items() if name not in ("id_number.resident_id", "ethnicity.code_table"))
    assert (result.received, result.passed, result.quarantined, result.verdict.status) == (
        20, 18, 2, "passed_with_quarantine")
    text = result.render()
    assert "received 20, passed 18, quarantined 2 (10.0%)" in text
    assert "verdict: passed_with_quarantine" in text


def test_examples_show_masked_values_never_raw_ones(catalogue: Catalogue, tmp_path: Path) -> None:
    frame = residents(10).drop(columns=["_source_file", "_source_line"])
    frame["birth_date"] = frame["birth_date"].str.replace("-", "/")  # every row fails the date rules
    frame["mobile"] = "+86 " + frame["mobile"]
    path = tmp_path / "residents.csv"
    frame.to_csv(path, index=False)
    suite = generate_suite(catalogue, catalogue.dataset(RESIDENTS))
    suite["expectations"].append({"type": "expect_column_value_lengths_to_be_between",
                                  "kwargs": {"column": "address", "max_value": 5}, "meta": {"rule": "address.short"}})
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(suite, ensure_ascii=False), encoding="utf-8")

    result = preview(catalogue, RESIDENTS, path, suite_file=edited, examples=2)
    by_rule = {rule.rule: rule for rule in result.rules}
    assert by_rule["mobile.mobile"].failing_rows == 10 and len(by_rule["mobile.mobile"].examples) == 2
    assert by_rule["mobile.mobile"].examples[0] == (
        f"line 2  has_country_prefix  mobile=+86{'*' * 8}{frame.loc[0, 'mobile'][-4:]}, id_number=<pseudonym>")
    assert by_rule["birth_date.date"].examples[0] == "line 2  bad_date  birth_date=<masked>, id_number=<pseudonym>"
    assert by_rule["address.short"].failing_rows == 10
    assert result.verdict.status == "failed"
    text = result.render()
    for column in ("id_number", "name", "address", "mobile", "birth_date"):
        leaked = [value for value in frame[column] if value in text]
        assert leaked == [], f"raw {column} values in the preview"


def test_free_text_is_redacted_and_keyed_rules_are_placeholders(catalogue: Catalogue, tmp_path: Path) -> None:
    people = residents(4)
    frame = pd.DataFrame({
        "id_number": people["id_number"], "name": people["name"], "assistance_type": "10", "region_code": "110101",
        "benefit_amount": ["800.00", "800.005", "650.50", "700"], "approved_on": "2026-01-05",
        "remarks": [None, f"核对身份证 {people.loc[1, 'id_number']} 电话 13912345678", "无", "无"],
        "updated_at": "2026-11-27 08:00:00"})
    path = tmp_path / "allowance.csv"
    frame.to_csv(path, index=False)
    suite = generate_suite(catalogue, catalogue.dataset("civil_affairs/subsistence_allowance"))
    suite["expectations"].append({"type": "expect_column_values_to_not_match_regex",
                                  "kwargs": {"column": "remarks", "regex": "[0-9]{11}"},
                                  "meta": {"rule": "remarks.no_identifiers"}})
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(suite, ensure_ascii=False), encoding="utf-8")

    by_rule = {rule.rule: rule for rule in preview(catalogue, "civil_affairs/subsistence_allowance", path,
                                                   suite_file=edited).rules}
    assert by_rule["benefit_amount.decimal"].examples == [
        "line 3  bad_number  benefit_amount=<encrypted>, id_number=<pseudonym>"]
    masked_id = people.loc[1, "id_number"][:6] + "********" + people.loc[1, "id_number"][-4:]
    assert by_rule["remarks.no_identifiers"].examples == [
        f"line 3  failed column_values_to_not_match_regex  remarks=核对身份证 {masked_id} 电话 139****5678, "
        "id_number=<pseudonym>"]


def test_excel_sample_is_read_from_the_standards_sheet(catalogue: Catalogue, tmp_path: Path) -> None:
    people = residents(3)
    frame = pd.DataFrame({
        "id_number": people["id_number"], "name": people["name"], "insurance_type": ["110", "110", "999"],
        "employer_credit_code": None, "contribution_base": ["8000.00", "8000", "1e4"],
        "enrolled_on": "2020-01-01", "updated_at": "2026-11-27 08:00:00"})
    path = tmp_path / "enrollment.xlsx"
    with pd.ExcelWriter(path) as workbook:
        pd.DataFrame({"说明": ["封面"]}).to_excel(workbook, sheet_name="封面", index=False)
        frame.to_excel(workbook, sheet_name="参保信息", index=False)
    result = preview(catalogue, "human_resources/social_insurance_enrollment", path)
    by_rule = {rule.rule: rule for rule in result.rules}
    assert by_rule["table.columns"].table_failure is None
    assert by_rule["insurance_type.code_table"].examples == [
        "line 4  not_in_code_table  insurance_type=999, id_number=<pseudonym>"]
    assert by_rule["contribution_base.decimal"].examples == [
        "line 4  bad_number  contribution_base=10000-11000, id_number=<pseudonym>, insurance_type=999"]
    assert result.quarantined == 1


def test_cli_exit_codes_and_clear_errors(sample, tmp_path: Path, capsys) -> None:
    path, _ = sample
    assert main(["suites", "preview", RESIDENTS, str(path), "--examples", "0"]) == 0
    output = capsys.readouterr().out
    assert "id_number.resident_id" in output and "line 3" not in output

    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x",\n "expectations": [,]}', encoding="utf-8")
    cases = [
        (["suites", "preview", RESIDENTS, str(tmp_path / "missing.csv")], 2, "missing.csv: no such file"),
        (["suites", "preview", "public_security/residents", str(path)], 2, "no dataset 'public_security/residents'"),
        (["suites", "preview", RESIDENTS, str(path), "--suite", str(broken)], 1, "broken suite: "
         f"{broken}:2:19: invalid JSON"),
        (["suites", "preview", RESIDENTS, str(path), "--suite", str(tmp_path / "none.json")], 2, "no such suite file"),
        (["suites", "preview", RESIDENTS, str(broken)], 2, "a preview reads .csv and .xlsx files"),
    ]
    for argv, code, message in cases:
        assert main(argv) == code, argv
        error = capsys.readouterr().err
        assert message in error and "Traceback" not in error, error

    failing = tmp_path / "failing.csv"
    failing.write_text(path.read_text(encoding="utf-8").replace(",01,", ",99,"), encoding="utf-8")
    assert main(["suites", "preview", RESIDENTS, str(failing)]) == 1  # the verdict fails: exit 1
    assert "verdict: failed" in capsys.readouterr().out
