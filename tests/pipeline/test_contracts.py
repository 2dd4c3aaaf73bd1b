"""The step contracts: what one step writes is what the next reads, typed; a misspelt or unknown field fails
where it is written, not as a silent ``None`` three steps later; the Asset extra is built from the publish
summary the task returned."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from governance.pipeline.contracts import (
    AssetExtra,
    LeakFinding,
    MaskSummary,
    PublishSummary,
    StandardsVersions,
    ValidateSummary,
    read,
    write,
)
from governance.pipeline.workarea import WorkArea

VALIDATED = ValidateSummary(rows_received=10, rows_passed=8, rows_quarantined=2,
                            quarantined_by_rule={"id_number.resident_id": 2}, verdict="passed_with_quarantine",
                            verdict_reasons=[], reports=["quarantine_2026-11-27.csv"], chunks=2,
                            standards=StandardsVersions(standard_version="abc", suite_version="def"))


def test_a_summary_written_is_read_back_typed_and_a_missing_step_is_none(tmp_path: Path) -> None:
    area = WorkArea.for_run(tmp_path, "dag", "run")
    assert read(area, ValidateSummary) is None  # the step has not run
    write(area, VALIDATED)
    assert read(area, ValidateSummary) == VALIDATED
    assert area.read_step("validate")["standards"]["suite_version"] == "def"  # plain JSON on disk


def test_an_unknown_or_misspelt_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="rows_publised"):
        PublishSummary(table="shared.t", rows_published=3, load_mode="snapshot", rows_publised=3)
    with pytest.raises(ValidationError, match="action"):
        MaskSummary(masked_columns={}, dropped_columns={}, key_ids={},
                    leak_findings=[LeakFinding(column="remarks", rule="mobile", count=1, action="kept")])


def test_the_asset_extra_is_counts_names_and_versions_from_the_publish_and_validate_summaries() -> None:
    published = PublishSummary(table="shared.public_security__resident_population", rows_published=8,
                               load_mode="snapshot", standard_version="abc", suite_version="def")
    validated = ValidateSummary(rows_received=10, rows_passed=8, rows_quarantined=2,
                                quarantined_by_rule={"id_number.resident_id": 2}, verdict="passed_with_quarantine",
                                verdict_reasons=[], reports=[], standards=StandardsVersions())
    assert AssetExtra.of(published, validated, "scheduled__2026-11-27").to_json() == {
        "rows": 8, "run_id": "scheduled__2026-11-27", "load_mode": "snapshot",
        "table": "shared.public_security__resident_population", "verdict": "passed_with_quarantine",
        "rows_received": 10, "rows_quarantined": 2, "quarantined_by_rule": {"id_number.resident_id": 2},
        "standard_version": "abc", "suite_version": "def", "standards_commit": None}
