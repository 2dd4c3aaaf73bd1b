"""Every run can say which standard and suite it was validated against; `standards history` lists the versions."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from change_support import commit, edit, git, make_repo

from governance import cli
from governance.standards.catalogue import load_catalogue
from governance.standards.history import dataset_history
from governance.standards.versions import dataset_versions
from governance.warehouse import warehouse_engine
from governance.warehouse.records import latest_runs, write_run_record

RESIDENTS = "public_security/resident_population"


def versions_of(repo: Path, key: str = RESIDENTS) -> dict:
    catalogue = load_catalogue(repo / "standards")
    dataset = catalogue.dataset(key)
    return dataset_versions(catalogue, dataset, repo / "expectations" / dataset.department / f"{dataset.name}.json")


def test_versions_follow_the_content_the_dataset_uses(tmp_path):
    repo = make_repo(tmp_path)
    first = versions_of(repo)
    assert first["standards_commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert first["detail"]["dirty"] is False
    assert "gender" in first["detail"]["code_table_ids"] and "division" in first["detail"]["code_table_ids"]
    # An element no column of this dataset uses: its version does not move.
    edit(repo / "standards/elements/organization.yaml", "name_zh: 统一社会信用代码", "name_zh: 统一社会信用代码(法人)")
    assert versions_of(repo)["standard_version"] == first["standard_version"]
    # An element it uses, a code table it uses, the standard file, the suite: each moves its hash.
    edit(repo / "standards/elements/person.yaml", "max_length: 50", "max_length: 40")
    second = versions_of(repo)
    assert second["standard_version"] != first["standard_version"]
    assert second["detail"]["elements"] != first["detail"]["elements"]
    assert second["detail"]["standard"] == first["detail"]["standard"]
    assert second["detail"]["dirty"] is True
    edit(repo / "standards/codes/gender.yaml", '"9":', '"8": 测试\n  "9":')
    assert versions_of(repo)["detail"]["code_tables"] != second["detail"]["code_tables"]
    suite = repo / "expectations/public_security/resident_population.json"
    suite.write_text(suite.read_text(encoding="utf-8").replace('"max_value": 200', '"max_value": 150'),
                     encoding="utf-8")
    third = versions_of(repo)
    assert third["suite_version"] != first["suite_version"]
    assert len(third["suite_version"]) == 16 and len(third["standard_version"]) == 16


def test_without_git_the_hashes_stay_and_there_is_no_commit(tmp_path, monkeypatch):
    repo = make_repo(tmp_path)
    with_git = versions_of(repo)
    monkeypatch.setenv("PATH", str(tmp_path / "no-binaries"))  # a deployment image without git
    without = versions_of(repo)
    assert without["standards_commit"] is None and "dirty" not in without["detail"]
    assert (without["standard_version"], without["suite_version"]) == (with_git["standard_version"],
                                                                       with_git["suite_version"])


def test_history_lists_versions_with_what_changed(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path)
    standard = repo / "standards/datasets/public_security/resident_population.yaml"
    edit(standard, "    - {name: mobile, element: mobile_number}\n", "")
    edit(standard, "{name: ethnicity, element: ethnicity}", "{name: ethnicity, element: ethnicity, required: true}")
    suite = repo / "expectations/public_security/resident_population.json"
    data = json.loads(suite.read_text(encoding="utf-8"))
    data["expectations"] = [e for e in data["expectations"] if e["meta"]["rule"] != "mobile.mobile"]
    for expectation in data["expectations"]:
        if expectation["meta"]["rule"] == "address.max_length":
            expectation["kwargs"]["max_value"] = 150
            expectation["meta"].update(generated=False, effective_from="2026-12-01")
    suite.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    changed = commit(repo, "删除 mobile 列, 地址限长 150")
    edit(standard, "description: 全省", "description: 全省(修订)")  # uncommitted

    catalogue = load_catalogue(repo / "standards")
    versions = dataset_history(catalogue, catalogue.dataset(RESIDENTS), suite)
    assert [(v.kind, v.commit[:7]) for v in versions][:1] == [("standard", "(workin")]
    by_commit = {(v.kind, v.commit): v for v in versions}
    standard_change = by_commit[("standard", changed)]
    assert "column removed: mobile" in standard_change.changes
    assert 'column ethnicity: required - -> true' in standard_change.changes
    suite_change = by_commit[("suite", changed)]
    assert "rule removed: mobile.mobile" in suite_change.changes
    assert "rule address.max_length: max_value 200 -> 150 (in force from 2026-12-01)" in suite_change.changes
    assert suite_change.content_hash == versions_of(repo)["detail"]["suite"]  # the hash a run records
    assert [v.subject for v in versions if v.kind == "suite"] == ["删除 mobile 列, 地址限长 150", "baseline"]

    monkeypatch.setenv("GOVERNANCE_STANDARDS_ROOT", str(repo / "standards"))
    monkeypatch.setenv("GOVERNANCE_EXPECTATIONS_ROOT", str(repo / "expectations"))
    assert cli.main(["standards", "history", RESIDENTS]) == 0
    out = capsys.readouterr().out
    assert "5 version(s)" in out and "column removed: mobile" in out and "(working tree)" in out
    assert cli.main(["standards", "history", "nobody/nothing"]) == 2


def test_an_older_run_record_table_gets_the_version_columns(tmp_path):
    engine = warehouse_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as connection:  # the table as deployed before runs recorded versions
        connection.execute(sa.text("CREATE TABLE governance.run_record (dag_id VARCHAR(250), run_id VARCHAR(250), "
                                   "dataset_key VARCHAR(200), department VARCHAR(100), logical_date DATE, "
                                   "started_at DATETIME, finished_at DATETIME, duration_s FLOAT, rows_received "
                                   "BIGINT, rows_passed BIGINT, rows_quarantined BIGINT, rows_published BIGINT, "
                                   "verdict VARCHAR(32), masked_columns TEXT, leak_findings TEXT, quarantined_by_rule "
                                   "TEXT, published_table VARCHAR(250), message TEXT, PRIMARY KEY (dag_id, run_id))"))
        connection.execute(sa.text("INSERT INTO governance.run_record (dag_id, run_id, dataset_key, verdict) "
                                   "VALUES ('a__b', 'old', 'a/b', 'passed')"))
    write_run_record(engine, {"dag_id": "a__b", "run_id": "new", "dataset_key": "a/b", "verdict": "passed",
                              "started_at": datetime(2026, 12, 1, 2, 0),
                              "standard_version": "0123456789abcdef", "suite_version": "fedcba9876543210",
                              "standards_commit": None, "standards_versions": {"suite": "f" * 64}})
    with engine.connect() as connection:
        rows = {row.run_id: row for row in connection.execute(sa.text("SELECT * FROM governance.run_record"))}
    assert rows["old"].standard_version is None
    assert rows["new"].suite_version == "fedcba9876543210"
    [latest] = latest_runs(engine)  # what /governance/runs serves
    assert (latest["run_id"], latest["standards_versions"]) == ("new", {"suite": "f" * 64})
