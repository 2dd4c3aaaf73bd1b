"""Rules carry the business date they apply from (``meta.effective_from``, optionally ``meta.replaces`` the
earlier kwargs): which version runs on which date, and what ``suites check`` says about malformed dates."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from governance.settings import REPO_ROOT
from governance.standards.catalogue import Catalogue, load_catalogue
from governance.validation.effective import in_force
from governance.validation.lint import check_suites
from governance.validation.suites import regenerate_all, write_suite

TIGHTENED = {"type": "expect_column_value_lengths_to_be_between",
             "kwargs": {"column": "address", "min_value": 0, "max_value": 100},
             "meta": {"rule": "address.max_length", "effective_from": "2026-12-01",
                      "replaces": {"column": "address", "min_value": 0, "max_value": 200}}}
NEW = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "mobile"},
       "meta": {"rule": "mobile.required", "effective_from": "2026-12-01"}}
ALWAYS = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "name"}, "meta": {"rule": "name.x"}}
SUITE = {"name": "s", "expectations": [ALWAYS, TIGHTENED, NEW]}


def test_before_the_date_the_older_version_runs_and_new_rules_wait():
    rules = in_force(SUITE, date(2026, 11, 30))
    assert [e["meta"]["rule"] for e in rules.suite["expectations"]] == ["name.x", "address.max_length"]
    assert rules.suite["expectations"][1]["kwargs"]["max_value"] == 200
    assert (rules.replaced, rules.deferred) == (["address.max_length"], ["mobile.required"])
    assert rules.summary() == {"rules_as_of": "2026-11-30", "rules_deferred": ["mobile.required"],
                               "rules_replaced": ["address.max_length"]}
    assert SUITE["expectations"][1]["kwargs"]["max_value"] == 100  # the suite itself is not changed


@pytest.mark.parametrize("day", [date(2026, 12, 1), date(2027, 3, 1), None])
def test_from_the_date_on_and_without_a_date_every_rule_runs_as_written(day):
    rules = in_force(SUITE, day)
    assert rules.suite["expectations"] == SUITE["expectations"]
    assert rules.replaced == rules.deferred == []


def test_a_malformed_date_stops_the_run():
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        in_force({"name": "s", "expectations": [{**NEW, "meta": {"effective_from": "2026/12/01"}}]}, date(2026, 1, 1))


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(REPO_ROOT / "standards")


def test_suites_check_validates_effective_dates(catalogue: Catalogue, tmp_path: Path):
    root = tmp_path / "expectations"
    regenerate_all(catalogue, root)
    path = root / "public_security" / "resident_population.json"
    suite = json.loads(path.read_text(encoding="utf-8"))
    by_rule = {e["meta"]["rule"]: e for e in suite["expectations"]}
    good = by_rule["address.max_length"]
    good["kwargs"]["max_value"] = 150
    good["meta"].update(generated=False, effective_from="2026-12-01",
                        replaces={"column": "address", "min_value": 0, "max_value": 200})
    suite["expectations"].append(NEW)
    write_suite(path, suite)
    assert check_suites(catalogue, root).problems == []  # a well-formed tightening with a date is fine

    by_rule["name.max_length"]["meta"].update(generated=False, effective_from="1 December 2026")
    by_rule["mobile.mobile"]["meta"].update(generated=False, replaces={"column": "mobile"})
    by_rule["birth_date.date"]["meta"].update(generated=False, effective_from="2026-12-01",
                                              replaces={"column": "birth_date", "strftime_fromat": "%Y"})
    by_rule["updated_at.datetime"]["meta"].update(generated=False, effective_from="2026-12-01",
                                                  replaces={"column": "modified_at", "strftime_format": "%Y"})
    write_suite(path, suite)
    problems = {(p.expectation.split(" ")[-1], p.check): p.reason for p in check_suites(catalogue, root).problems
                if p.check == "effective-date"}
    assert "YYYY-MM-DD" in problems[("(name.max_length)", "effective-date")]
    assert "needs meta.effective_from" in problems[("(mobile.mobile)", "effective-date")]
    assert "strftime_fromat" in problems[("(birth_date.date)", "effective-date")]
    assert "'modified_at' is not in the standard" in problems[("(updated_at.datetime)", "effective-date")]
