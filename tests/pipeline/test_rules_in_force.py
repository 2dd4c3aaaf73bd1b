"""A rerun of an old night after a rule was tightened validates with the rules in force that night, through the
chunked pipeline, and reproduces the night exactly: published rows, quarantine, counts. The run records the
versions of its standard and suite and which rules its business date deferred or ran in their older version."""

from __future__ import annotations

import datetime
import json
import shutil
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import sqlalchemy as sa
from governance_demo import write_demo_data

from governance.keys import generate_keyring, keyring_to_json
from governance.pipeline import chunked, steps
from governance.settings import get_settings

RESIDENTS = "public_security/resident_population"
NIGHT, TIGHTENED_FROM, LATER = datetime.date(2026, 11, 20), "2026-11-25", datetime.date(2026, 11, 26)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def landing(tmp_path: Path, monkeypatch, catalogue) -> Path:
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse.db'}")
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_KEYRING", keyring_to_json(generate_keyring()))
    expectations = Path(shutil.copytree(REPO / "expectations", tmp_path / "expectations"))
    monkeypatch.setenv("GOVERNANCE_EXPECTATIONS_ROOT", str(expectations))
    settings = get_settings()
    for day in (NIGHT, LATER):
        write_demo_data(catalogue, settings.landing_root, settings.var_root, day, rows=600, defect_share=0.05,
                        seed=day.toordinal())
    return expectations / "public_security" / "resident_population.json"


def publish_task(run: steps.Run) -> dict:
    """The DAG's own publish task (as Airflow calls it): publishes and sets the Asset event's extra."""
    import pendulum

    from governance.orchestration.dataset_dag import build_dataset_dag

    dag = build_dataset_dag(run.catalogue, run.dataset, run.settings)
    events: defaultdict = defaultdict(SimpleNamespace)
    day = run.logical_date
    dag.get_task("publish").python_callable(
        run_id=run.run_id, params={"business_date": day.isoformat()}, outlet_events=events,
        logical_date=pendulum.datetime(day.year, day.month, day.day, tz="Asia/Shanghai"))
    [event] = events.values()
    return event.extra


def night(day: datetime.date, run_id: str) -> steps.Run:
    """One night through the DAG's chunked path: pull, plan, validate chunks, mask chunks, publish, record."""
    run = steps.Run.create(RESIDENTS, run_id, day)
    steps.pull(run)
    chunked.validate_and_mask(run, 157)
    run.asset_extra = publish_task(run)
    steps.record(run)
    return run


def published(run: steps.Run) -> pd.DataFrame:
    with run.engine.connect() as connection:
        frame = pd.read_sql(sa.text(f"SELECT * FROM {run.area.read_step('publish')['table']}"), connection)
    return frame.drop(columns=["_run_id", "_loaded_at"]).sort_values("id_number").reset_index(drop=True)


def quarantine(run: steps.Run) -> list[tuple]:
    with run.engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT source_file, source_line, rules, masked_row, key_token FROM governance.quarantine "
            "WHERE run_id = :run ORDER BY source_line"), {"run": run.run_id})
        return [tuple(row) for row in rows]


def record_of(run: steps.Run) -> dict:
    with run.engine.connect() as connection:
        return dict(connection.execute(sa.text("SELECT * FROM governance.run_record WHERE run_id = :run"),
                                       {"run": run.run_id}).one()._mapping)


def tighten(suite_file: Path) -> None:
    """The standards office merges: addresses at most 28 characters from 2026-11-25 (was 200), and a new rule
    (mobile numbers required) from the same date."""
    suite = json.loads(suite_file.read_text(encoding="utf-8"))
    for expectation in suite["expectations"]:
        if expectation["meta"]["rule"] == "address.max_length":
            expectation["meta"].update(generated=False, effective_from=TIGHTENED_FROM,
                                       replaces=dict(expectation["kwargs"]))
            expectation["kwargs"]["max_value"] = 28
    suite["expectations"].append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "mobile"},
                                  "meta": {"rule": "mobile.required", "effective_from": TIGHTENED_FROM}})
    suite_file.write_text(json.dumps(suite, ensure_ascii=False, indent=2), encoding="utf-8")


def test_rerun_of_an_old_night_after_a_tightened_rule_reproduces_it(landing):
    first = night(NIGHT, "scheduled__2026-11-20")
    rows, entries, before = published(first), quarantine(first), record_of(first)
    assert 0 < before["rows_quarantined"] < before["rows_received"] and entries

    tighten(landing)
    rerun = night(NIGHT, "manual__rerun-2026-11-20")
    again = record_of(rerun)
    pd.testing.assert_frame_equal(published(rerun), rows)
    assert quarantine(rerun) == entries
    counts = ("rows_received", "rows_passed", "rows_quarantined", "rows_published", "verdict", "quarantined_by_rule")
    assert {key: again[key] for key in counts} == {key: before[key] for key in counts}
    # The run says what it was validated against: same standard, a newer suite, the older rule and no new one.
    assert again["standard_version"] == before["standard_version"]
    assert again["suite_version"] != before["suite_version"] and len(again["suite_version"]) == 16
    detail = json.loads(again["standards_versions"])
    assert detail["rules_as_of"] == "2026-11-20"
    assert (detail["rules_replaced"], detail["rules_deferred"]) == (["address.max_length"], ["mobile.required"])
    assert rerun.area.read_step("validate")["standards"]["suite_version"] == again["suite_version"]  # Data Docs
    assert rerun.asset_extra["suite_version"] == again["suite_version"]  # the Asset event's extra
    assert rerun.asset_extra["standard_version"] == again["standard_version"]

    later = night(LATER, "scheduled__2026-11-26")  # after the date, the tightened rule applies
    by_rule = json.loads(record_of(later)["quarantined_by_rule"])
    assert by_rule.get("address.max_length", 0) > 0
    assert json.loads(record_of(later)["standards_versions"])["rules_replaced"] == []
