"""``governance suites impact`` without a dataset compares every suite that differs from git (what a standards
owner runs before merging, and CI with ``--demo``): only the changed suite is run, against its committed version."""

from __future__ import annotations

import json

from change_support import commit, make_repo

from governance import cli


def test_only_suites_changed_since_the_base_are_compared(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path)
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path / "var"))
    monkeypatch.setenv("GOVERNANCE_STANDARDS_ROOT", str(repo / "standards"))
    monkeypatch.setenv("GOVERNANCE_EXPECTATIONS_ROOT", str(repo / "expectations"))
    assert cli.main(["suites", "impact", "--demo", "--nights", "1"]) == 0
    assert "no suite differs from HEAD" in capsys.readouterr().out

    suite_file = repo / "expectations" / "health" / "medical_institution.json"
    suite = json.loads(suite_file.read_text(encoding="utf-8"))
    rules = [expectation["meta"]["rule"] for expectation in suite["expectations"]]
    dropped = next(rule for rule in rules if rule.endswith(".not_null"))
    suite["expectations"] = [e for e in suite["expectations"] if e["meta"]["rule"] != dropped]
    suite_file.write_text(json.dumps(suite, ensure_ascii=False, indent=2), encoding="utf-8")
    assert cli.main(["suites", "impact", "--demo", "--nights", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("health/medical_institution: proposed suite") and "medical_institution.json@HEAD" in out
    assert "public_security" not in out  # unchanged suites are not run
    base = commit(repo, "drop a rule")
    assert cli.main(["suites", "impact", "--demo", "--nights", "1", "--base", f"{base}~1"]) == 0
    assert "medical_institution.json@" in capsys.readouterr().out
