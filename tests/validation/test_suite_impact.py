"""``governance suites impact``: a proposed suite against the current one on the last landed drops, per rule and
night, rows newly quarantined and newly released, with masked examples only. ``--demo`` (what CI runs) needs no
landing data."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from governance_demo import write_demo_data

from governance import cli
from governance.settings import REPO_ROOT
from governance.sources import pull_dataset
from governance.validation.impact import ImpactError, impact, landed_nights
from governance.validation.runner import validate_frame

RESIDENTS = "public_security/resident_population"
SUITE = REPO_ROOT / "expectations" / "public_security" / "resident_population.json"
NIGHTS = [date(2026, 11, 24), date(2026, 11, 25)]


def proposal() -> dict:
    """Addresses at most 28 characters (tightened); the mobile-number rule dropped (loosened)."""
    suite = json.loads(SUITE.read_text(encoding="utf-8"))
    suite["expectations"] = [e for e in suite["expectations"] if e["meta"]["rule"] != "mobile.mobile"]
    for expectation in suite["expectations"]:
        if expectation["meta"]["rule"] == "address.max_length":
            expectation["kwargs"]["max_value"] = 28
            expectation["meta"].update(generated=False, effective_from="2026-12-15",
                                       replaces={"column": "address", "min_value": 0, "max_value": 200})
    return suite


def test_each_night_reports_rows_newly_quarantined_and_released_per_rule(tmp_path, catalogue):
    landing = tmp_path / "landing"
    for day in NIGHTS:
        write_demo_data(catalogue, landing, tmp_path / "var", day, rows=400, defect_share=0.08, seed=day.toordinal())
    dataset = catalogue.dataset(RESIDENTS)
    current = json.loads(SUITE.read_text(encoding="utf-8"))
    report = impact(catalogue, dataset, landing, current=current, proposed=proposal(), nights=5, examples=2)
    assert [night.day for night in report.nights] == NIGHTS[::-1]  # newest first; only the landed ones

    for night in report.nights:
        frame = _pulled(dataset, landing, night.day, tmp_path)
        outcome = validate_frame(frame, current, dataset_key=RESIDENTS)
        failed = set(outcome.failed_rows)
        long_addresses = set(frame.index[frame["address"].str.len() > 28])
        failures = outcome.row_failures
        mobile_only = {row for row in failed if set(failures.loc[failures["row"] == row, "rule"]) == {"mobile.mobile"}}
        rules = {rule.rule: rule for rule in night.rules}
        assert rules["address.max_length"].newly_quarantined == len(long_addresses - failed) > 0
        assert rules["mobile.mobile"].newly_released == len(mobile_only) > 0
        assert night.quarantined_current == len(failed)
        assert night.quarantined_proposed == len(failed) + night.newly_quarantined - night.newly_released
        assert night.newly_quarantined == len(long_addresses - failed)
        text = "\n".join(night.render())
        raw = [value for column in ("id_number", "name", "mobile") for value in frame[column].dropna()]
        assert not [value for value in raw if len(str(value)) > 3 and str(value) in text]  # masked examples only
        assert re.search(r"line \d+  newly quarantined  bad_length  address=", text)
        assert "<pseudonym>" in text


def _pulled(dataset, landing: Path, day: date, folder: Path) -> pd.DataFrame:
    target = folder / f"{day}.parquet"
    pull_dataset(dataset, landing_root=landing, day=day, target=target)
    return pd.read_parquet(target).reset_index(drop=True)


def test_no_landed_drops_or_a_database_source_is_a_clear_error(tmp_path, catalogue):
    with pytest.raises(ImpactError, match="no landed drops of public_security/resident_population"):
        landed_nights(tmp_path, catalogue.dataset(RESIDENTS), 7)
    with pytest.raises(ImpactError, match="pulled from a database"):
        landed_nights(tmp_path, catalogue.dataset("civil_affairs/subsistence_allowance"), 7)


def test_the_command_runs_on_generated_drops_without_landing_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path / "empty"))
    proposed = tmp_path / "proposed.json"
    proposed.write_text(json.dumps(proposal(), ensure_ascii=False), encoding="utf-8")
    assert cli.main(["suites", "impact", RESIDENTS, "--suite", str(proposed), "--demo", "--nights", "1"]) == 0
    out = capsys.readouterr().out
    yesterday_or_so = {str(date.today() - timedelta(days=back)) for back in range(0, 3)}
    assert "address.max_length: +" in out and "mobile.mobile: +0 quarantined, -" in out
    assert any(day in out for day in yesterday_or_so)
    assert not (tmp_path / "empty" / "landing").exists()  # nothing written to the landing folder
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**proposal(), "expectations": [{"type": "expect_nothing", "kwargs": {}}]}))
    assert cli.main(["suites", "impact", RESIDENTS, "--suite", str(broken), "--demo", "--nights", "1"]) == 1
