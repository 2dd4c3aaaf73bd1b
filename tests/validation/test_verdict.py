"""The run verdict: a dataset's quality thresholds decide whether a run publishes, and say why not."""

import pytest

from governance.standards.models import Quality
from governance.validation.verdict import FAILED, FLAGGED, HELD, PASSED, decide

STANDARD = Quality(max_quarantine_share=0.2, max_shrink_share=0.5)


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
    strict = Quality(max_quarantine_share=0.0)
    assert decide(strict, received=1000, quarantined=1, table_failures=[], previous_received=None).status == FAILED
    lenient = Quality(max_quarantine_share=0.9)
    assert decide(lenient, received=10, quarantined=9, table_failures=[], previous_received=None).status == FLAGGED


@pytest.mark.parametrize(("received", "status"), [(50, PASSED), (49, HELD), (120, PASSED)])
def test_a_shrinking_snapshot_is_held_not_failed_and_not_published(received: int, status: str) -> None:
    verdict = decide(STANDARD, received=received, quarantined=0, table_failures=[], previous_received=100)
    assert verdict.status == status
    assert verdict.publishes is (status == PASSED)
    if status == HELD:
        (reason,) = verdict.reasons
        assert reason.startswith("数据量骤减，暂停发布，等待部门确认：本次收到 49 行，"
                                 "上次发布时收到 100 行，减少 51.0%")
        assert "CONFIRM_SHRINK" in reason and "resend the whole drop" in reason


def test_the_default_shrink_limit_suits_a_register() -> None:
    """The issue's night: 1,939 residents, then an upload cut to 70% (1,361) must not replace the register."""
    register = Quality()
    assert register.max_shrink_share == 0.02
    assert decide(register, received=1361, quarantined=0, table_failures=[], previous_received=1939).status == HELD
    assert decide(register, received=1901, quarantined=0, table_failures=[], previous_received=1939).status == PASSED
    assert decide(register, received=1900, quarantined=0, table_failures=[], previous_received=1939).status == HELD


def test_a_confirmation_releases_only_the_count_it_names() -> None:
    held = decide(Quality(), received=1361, quarantined=0, table_failures=[], previous_received=1939,
                  confirmed_rows=1360)
    assert held.status == HELD and "已收到的确认为 1360 行，与本次 1361 行不符" in held.reasons[0]
    released = decide(Quality(), received=1361, quarantined=0, table_failures=[], previous_received=1939,
                      confirmed_rows=1361)
    assert released.status == PASSED


def test_upsert_loads_are_not_held_for_a_small_delta() -> None:
    """An upsert drop carries the day's changes; its size says nothing about the table's."""
    assert decide(Quality(), received=10, quarantined=0, table_failures=[], previous_received=1000,
                  snapshot=False).status == PASSED


def test_a_failing_drop_is_failed_not_held() -> None:
    verdict = decide(STANDARD, received=10, quarantined=5, table_failures=[], previous_received=100)
    assert verdict.status == FAILED and len(verdict.reasons) == 1


def test_the_old_threshold_name_is_refused_with_its_replacement() -> None:
    with pytest.raises(ValueError, match="max_row_drop_share is replaced by max_shrink_share"):
        Quality.model_validate({"max_row_drop_share": 0.5})


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
    assert [reason.split(" ")[0] for reason in verdict.reasons] == ["table", "5"]
