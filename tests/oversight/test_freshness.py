"""Freshness: thresholds per update cycle and per dataset, both clocks, skew, and the warehouse read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from oversight_support import ENTERPRISE, MEDICAL, NOW, RESIDENT, SHANGHAI, TAX, publish_rows, record_run
from pydantic import ValidationError

from governance.oversight import FRESH, NEVER_LOADED, SKEWED, STALE, WARN, assess, thresholds_for
from governance.oversight.clocks import freshness_board, to_moment
from governance.standards.catalogue import Catalogue
from governance.standards.models import FreshnessPolicy


def hours_ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


@pytest.mark.parametrize(("key", "warn", "error"), [
    (RESIDENT, 30, 48), (MEDICAL, 8 * 24, 14 * 24), (TAX, 32 * 24, 62 * 24)])
def test_thresholds_follow_the_update_cycle(catalogue: Catalogue, key: str, warn: float, error: float) -> None:
    thresholds = thresholds_for(catalogue.dataset(key))
    assert (thresholds.warn_after_h, thresholds.error_after_h) == (warn, error)


@pytest.mark.parametrize(("policy", "expected"), [
    ({"warn_after_hours": 6, "error_after_hours": 12}, (6, 12)),
    ({"warn_after_hours": 60}, (60, 60)),  # warn beyond the daily error: error moves with it
    ({"warn_after_hours": 20}, (20, 48)),
    ({"error_after_hours": 24}, (24, 24)),  # error before the daily warn: warn moves with it
    ({"error_after_hours": 72}, (30, 72)),
])
def test_a_standard_overrides_its_thresholds(catalogue: Catalogue, policy: dict, expected: tuple) -> None:
    dataset = catalogue.dataset(RESIDENT).model_copy(update={"freshness": FreshnessPolicy(**policy)})
    thresholds = thresholds_for(dataset)
    assert (thresholds.warn_after_h, thresholds.error_after_h) == expected


def test_the_override_is_checked_by_the_standards_model() -> None:
    with pytest.raises(ValidationError, match="error_after_hours must not be less than warn_after_hours"):
        FreshnessPolicy(warn_after_hours=10, error_after_hours=5)
    with pytest.raises(ValidationError, match="needs warn_after_hours, error_after_hours or both"):
        FreshnessPolicy()
    with pytest.raises(ValidationError):
        FreshnessPolicy(warn_after_hours=0)


@pytest.mark.parametrize(("pipeline_h", "data_h", "status"), [
    (2, 20, FRESH),
    (2, 30, FRESH),  # exactly warn_after is still fresh, as in dbt
    (2, 30.1, WARN),
    (31, 2, WARN),  # the pipeline clock alone can warn
    (2, 48.5, STALE),
    (50, 10, STALE),
    (2, None, FRESH),  # no data clock: the pipeline decides
    (None, 1, NEVER_LOADED),  # never published, whatever the table holds
])
def test_status_is_the_worse_of_the_two_clocks(catalogue: Catalogue, pipeline_h, data_h, status) -> None:
    item = assess(catalogue.dataset(RESIDENT), None if pipeline_h is None else hours_ago(pipeline_h),
                  None if data_h is None else hours_ago(data_h), NOW)
    assert item.status == status
    assert item.pipeline_age_h == (None if pipeline_h is None else pytest.approx(pipeline_h))
    assert item.data_age_h == (None if data_h is None else pytest.approx(data_h))


def test_future_data_beyond_the_tolerance_is_skewed_and_not_fresh(catalogue: Catalogue) -> None:
    dataset = catalogue.dataset(RESIDENT)
    within = assess(dataset, hours_ago(1), NOW + timedelta(minutes=10), NOW)
    assert within.status == FRESH and within.data_status == FRESH
    skewed = assess(dataset, hours_ago(1), NOW + timedelta(hours=9), NOW)
    assert (skewed.status, skewed.data_status, skewed.counts_as_fresh) == (SKEWED, SKEWED, False)
    assert skewed.data_age_h == pytest.approx(-9)
    assert "updated_at 的最新值比现在晚 9.0 小时" in skewed.note
    stale_and_skewed = assess(dataset, hours_ago(60), NOW + timedelta(days=1), NOW)
    assert stale_and_skewed.status == STALE  # the worse problem is shown


def test_naive_datetimes_are_refused(catalogue: Catalogue) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        assess(catalogue.dataset(RESIDENT), datetime(2026, 11, 27), None, NOW)


def test_column_values_become_local_moments() -> None:
    assert to_moment(datetime(2026, 11, 27, 8), "Asia/Shanghai") == datetime(2026, 11, 27, 8, tzinfo=SHANGHAI)
    assert to_moment("2026-11-27 08:00:00", "Asia/Shanghai") == datetime(2026, 11, 27, 8, tzinfo=SHANGHAI)
    assert to_moment(date(2026, 11, 27), "Asia/Shanghai") == datetime(2026, 11, 27, tzinfo=SHANGHAI)
    assert to_moment(datetime(2026, 11, 27, tzinfo=UTC), "Asia/Shanghai") == datetime(2026, 11, 27, tzinfo=UTC)
    assert to_moment("2026-11", "Asia/Shanghai") is None  # generalised to a month: not a timestamp
    assert to_moment(None, "Asia/Shanghai") is None


def test_board_reads_both_clocks_from_the_warehouse(warehouse: sa.Engine, catalogue: Catalogue) -> None:
    # resident: published 7 h ago (failed run since, which does not count), data 20 h old -> fresh
    record_run(warehouse, RESIDENT, date(2026, 11, 25), finished=hours_ago(7))
    record_run(warehouse, RESIDENT, date(2026, 11, 26), verdict="failed", finished=hours_ago(1))
    publish_rows(warehouse, catalogue, RESIDENT, [hours_ago(40), hours_ago(20)])
    # enterprise: last publish 7 h ago, but the newest data is 3 days old -> stale on the data clock
    record_run(warehouse, ENTERPRISE, date(2026, 11, 26), finished=hours_ago(7))
    publish_rows(warehouse, catalogue, ENTERPRISE, [hours_ago(72)])
    # medical: published, data one day in the future -> skewed
    record_run(warehouse, MEDICAL, date(2026, 11, 26), finished=hours_ago(7))
    publish_rows(warehouse, catalogue, MEDICAL, [hours_ago(-24)])
    # tax: a run that received rows but published none (all quarantined) -> never loaded
    record_run(warehouse, TAX, date(2026, 11, 26), received=10, quarantined=10, finished=hours_ago(7))

    board = {item.dataset_key: item for item in freshness_board(warehouse, catalogue, NOW)}

    assert set(board) == set(catalogue.datasets)
    assert board[RESIDENT].status == FRESH
    assert board[RESIDENT].pipeline_age_h == pytest.approx(7)
    assert board[RESIDENT].data_age_h == pytest.approx(20)
    assert (board[ENTERPRISE].status, board[ENTERPRISE].pipeline_status, board[ENTERPRISE].data_status) == \
        (STALE, FRESH, STALE)
    assert board[MEDICAL].status == SKEWED
    assert board[TAX].status == NEVER_LOADED
    assert board["civil_affairs/subsistence_allowance"].note == "尚未发布"


def test_board_on_an_empty_warehouse_lists_every_dataset_never_loaded(warehouse: sa.Engine,
                                                                      catalogue: Catalogue) -> None:
    board = freshness_board(warehouse, catalogue, NOW)
    assert [item.dataset_key for item in board] == sorted(catalogue.datasets)
    assert {item.status for item in board} == {NEVER_LOADED}


def test_a_freshness_column_published_as_text_is_read_or_explained(warehouse: sa.Engine,
                                                                   catalogue: Catalogue) -> None:
    """A table that holds the column as text (masked, generalised, or loaded by hand) still works."""
    shared = sa.MetaData(schema="shared")
    table = sa.Table("taxation__taxpayer_credit_rating", shared, sa.Column("updated_at", sa.Text()))
    with warehouse.begin() as connection:
        shared.create_all(connection)
        connection.execute(sa.insert(table), [{"updated_at": "2026-11-27 05:00:00"}])
    record_run(warehouse, TAX, date(2026, 11, 26), finished=hours_ago(2))

    def tax() -> object:
        return next(item for item in freshness_board(warehouse, catalogue, NOW) if item.dataset_key == TAX)

    assert tax().data_age_h == pytest.approx(5)
    with warehouse.begin() as connection:
        connection.execute(sa.insert(table), [{"updated_at": "2026-12"}])  # max() is now the month
    assert (tax().data_age_h, tax().note) == (None, "时效字段 updated_at 的值不是时间 (已脱敏或泛化?)")
