"""The run verdict: a dataset's quality thresholds decide whether a run publishes, and say why not."""

import pytest

from governance.pipeline.verdict import FAILED, FLAGGED, PASSED, decide
from governance.standards.models import Quality

STANDARD = Quality(max_quarantine_share=0.2, max_row_drop_share=0.5)


def test_clean_run_passes_and_publishes() -> None:
    verdict = decide(STANDARD, received=100, quarantined=0, table_failures=[], previous_received=100)
    assert (verdict.status, verdict.reasons, verdict.publishes) == (PASSED, (), True)


@pytest.mark.parametrize(("quarantined", "status"), [(1, FLAGGED), (19, FLAGGED), (20, FLAGGED), (21, FAILED)])
def test_quarantine_share_against_the_limit(quarantined: int, status: str) -> None:
    verdict = decide(STANDARD, received=100, quarantined=quarantined, table_failures=[], previous_received=None)
    assert verdict.status == status
    assert verdict.publishes is (status != FAILED)
    if status == FAILED:
        assert verdict.reasons == ("21 of 100 rows quarantined (21.0%), above the standard's limit of 20%",)
    else:
        assert verdict.reasons == ()  # at the limit is still within it


def test_the_limit_is_the_datasets_own() -> None:
    strict = Quality(max_quarantine_share=0.0, max_row_drop_share=0.5)
    assert decide(strict, received=1000, quarantined=1, table_failures=[], previous_received=None).status == FAILED
    lenient = Quality(max_quarantine_share=0.9, max_row_drop_share=0.5)
    assert decide(lenient, received=10, quarantined=9, table_failures=[], previous_received=None).status == FLAGGED


@pytest.mark.parametrize(("received", "status"), [(50, PASSED), (49, FAILED), (120, PASSED)])
def test_row_drop_against_the_previous_run(received: int, status: str) -> None:
    verdict = decide(STANDARD, received=received, quarantined=0, table_failures=[], previous_received=100)
    assert verdict.status == status
    if status == FAILED:
        assert verdict.reasons == ("49 rows received against 100 last run, a drop of more than 50%",)


@pytest.mark.parametrize("previous", [None, 0])
def test_no_previous_run_means_no_drop_check(previous: int | None) -> None:
    verdict = decide(STANDARD, received=1, quarantined=0, table_failures=[], previous_received=previous)
    assert verdict.status == PASSED


def test_table_failures_fail_the_run_whatever_the_rows() -> None:
    failures = ["table.columns: missing columns: mobile", "mobile.mobile: not run, missing column mobile"]
    verdict = decide(STANDARD, received=100, quarantined=0, table_failures=failures, previous_received=100)
    assert verdict.status == FAILED and not verdict.publishes
    assert verdict.reasons == (
        "table rule failed: table.columns: missing columns: mobile",
        "table rule failed: mobile.mobile: not run, missing column mobile",
    )


def test_empty_drop_fails() -> None:
    verdict = decide(STANDARD, received=0, quarantined=0, table_failures=[], previous_received=None)
    assert verdict.status == FAILED
    assert verdict.reasons == ("the drop holds no rows",)


def test_every_reason_is_reported_together() -> None:
    verdict = decide(STANDARD, received=10, quarantined=5, table_failures=["table.min_rows: observed 10"],
                     previous_received=100)
    assert verdict.status == FAILED
    assert [reason.split(" ")[0] for reason in verdict.reasons] == ["table", "5", "10"]
