"""Scorecard arithmetic over plain records: the figures departments are judged by, to the decimal.

Departments are judged on their own data: platform failures and reruns are counted apart (``judge``), here on
plain records and, at the end, on a synthetic history in a real warehouse (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from oversight_support import (
    ENTERPRISE,
    INSURANCE,
    KEY_MISMATCH,
    MEDICAL,
    RESIDENT,
    SCHEMA_DRIFT,
    SHANGHAI,
    SUITE_TYPO,
    TIMEOUT,
    WAREHOUSE_DOWN,
    no_drop,
    seed_history,
    verdict_failure,
)

from governance.oversight.figures import collect
from governance.oversight.scorecards import (
    DATA,
    HELD,
    NO_DATA,
    PLATFORM,
    PUBLISHED,
    RERUN,
    classify,
    combined_volume_change,
    daily_trend,
    freshness_sla,
    incidents,
    judge,
    pass_rate,
    quarantine_rate,
    scorecards,
    volume_change,
)
from governance.standards.catalogue import Catalogue


def run(key: str, day: int, verdict: str = "passed", received: int | None = 100, quarantined: int = 0,
        started: int = 3, message: str | None = None, run_id: str | None = None) -> dict:
    if verdict == "failed" and message is None:
        message = verdict_failure(key, received or 0, quarantined)
    return {"dataset_key": key, "logical_date": date(2026, 11, day), "started_at": datetime(2026, 11, day + 1, started),
            "run_id": run_id or f"scheduled__{key}-{day}-{started}", "verdict": verdict, "rows_received": received,
            "rows_quarantined": quarantined, "message": message}


def test_pass_rate_counts_every_verdict_but_a_data_failure() -> None:
    runs = [run("a/x", 1), run("a/x", 2, "passed_with_quarantine"), run("a/x", 3, "failed"), run("a/x", 4)]
    assert pass_rate(runs) == 0.75
    assert pass_rate([]) is None


def test_quarantine_rate_is_rows_quarantined_over_rows_received() -> None:
    runs = [run("a/x", 1, received=1000, quarantined=10), run("a/x", 2, received=3000, quarantined=30),
            run("a/x", 3, received=None), run("a/x", 4, received=0)]
    assert quarantine_rate(runs) == pytest.approx(40 / 4000)
    assert quarantine_rate([run("a/x", 1, received=None)]) is None


def test_freshness_sla_is_the_share_of_hourly_checks_that_were_fresh() -> None:
    checks = [{"status": "fresh"}] * 21 + [{"status": "warn"}] * 2 + [{"status": "stale"}]
    assert freshness_sla(checks) == pytest.approx(21 / 24)
    assert freshness_sla([{"status": "skewed"}]) == 0
    assert freshness_sla([]) is None


def test_volume_change_compares_the_latest_run_with_the_one_before() -> None:
    assert volume_change([run("a/x", 2, received=900), run("a/x", 1, received=1000)]) == pytest.approx(-10)
    # a rerun of the same day counts as the later run
    assert volume_change([run("a/x", 1, received=1000), run("a/x", 1, received=1100, started=9)]) == \
        pytest.approx(10)
    assert volume_change([run("a/x", 1, received=None), run("a/x", 2, received=50)]) is None
    assert volume_change([run("a/x", 1, received=0), run("a/x", 2, received=50)]) is None
    assert volume_change([run("a/x", 1)]) is None


def test_a_department_volume_sums_its_datasets() -> None:
    runs = {"a/x": [run("a/x", 1, received=100), run("a/x", 2, received=150)],
            "a/y": [run("a/y", 1, received=300), run("a/y", 2, received=250)],
            "a/z": [run("a/z", 2, received=999)]}  # no previous run: left out on both sides
    assert combined_volume_change(runs) == pytest.approx((400 - 400) / 400 * 100)
    assert combined_volume_change({"a/z": runs["a/z"]}) is None


def test_scorecards_per_dataset_and_per_department() -> None:
    datasets = {"health/a": "health", "health/b": "health", "tax/c": "tax"}
    runs = [run("health/a", 1, received=100, quarantined=5), run("health/a", 2, "failed", received=200, quarantined=80),
            run("health/b", 1, received=100), run("retired/d", 1, "failed")]
    checks = [{"dataset_key": "health/a", "status": "fresh"}, {"dataset_key": "health/a", "status": "stale"},
              {"dataset_key": "health/b", "status": "fresh"}]
    cards = {card.scope: card for card in scorecards(datasets, runs, checks)}

    a = cards["health/a"]
    assert (a.kind, a.runs, a.failed, a.pass_rate, a.last_verdict) == ("dataset", 2, 1, 0.5, "failed")
    assert a.quarantine_rate == pytest.approx(85 / 300)
    assert a.freshness_sla == 0.5
    assert a.volume_change_pct == pytest.approx(100)
    health = cards["health"]
    assert (health.kind, health.runs, health.failed) == ("department", 3, 1)
    assert health.pass_rate == pytest.approx(2 / 3)
    assert health.quarantine_rate == pytest.approx(85 / 400)
    assert health.freshness_sla == pytest.approx(2 / 3)
    c = cards["tax/c"]
    assert (c.runs, c.pass_rate, c.quarantine_rate, c.freshness_sla, c.volume_change_pct) == (0, None, None, None, None)
    assert "retired/d" not in cards
    assert [card.scope for card in scorecards(datasets, runs, checks)] == \
        ["health/a", "health/b", "tax/c", "health", "tax"]


def test_daily_trend_per_department() -> None:
    runs = [run("health/a", 1), run("health/b", 1, "failed"), run("health/a", 2, received=10, quarantined=1),
            run("tax/c", 2)]
    trend = daily_trend(runs, lambda row: row["dataset_key"].split("/")[0])
    assert trend["health"] == [
        {"day": "2026-11-01", "runs": 2, "pass_rate": 0.5, "quarantine_rate": 0.0},
        {"day": "2026-11-02", "runs": 1, "pass_rate": 1.0, "quarantine_rate": 0.1},
    ]
    assert list(trend) == ["health", "tax"]


@pytest.mark.parametrize(("message", "outcome", "cause"), [
    (verdict_failure(RESIDENT, 100, 40), DATA, "超过标准的隔离上限或表级规则未通过"),
    ("AirflowFailException: x failed its standard's verdict, nothing is published: table rule failed: row count",
     DATA, "超过标准的隔离上限或表级规则未通过"),
    (SCHEMA_DRIFT, DATA, "报送数据的表结构与标准不符"),
    ("AirflowFailException: /srv/landing/a/b/2026-11-20/x.csv: line 7, column 姓名: 字节序列不是有效的 GB18030 编码",
     DATA, "报送文件无法读取"),
    ("AirflowFailException: /srv/landing/a/b/2026-11-20: 交付清单无法读取 the manifest is not readable (json)",
     DATA, "报送文件无法读取"),
    (no_drop(INSURANCE), NO_DATA, "未按时报送(没有当日数据)"),
    (SUITE_TYPO, PLATFORM, "校验套件错误"),
    ("AirflowFailException: 1 problem(s) in the standards:\n  standards/datasets/health/x.yaml:12: unknown element",
     PLATFORM, "数据标准错误"),
    (KEY_MISMATCH, PLATFORM, "密钥问题"),
    (WAREHOUSE_DOWN, PLATFORM, "数据仓库故障"),
    ("AirflowFailException: table shared.a__b has drifted from its standard: x: TEXT -> DATE", PLATFORM,
     "数据仓库故障"),
    ("StorageFull: no space left on /var/work (validate)", PLATFORM, "存储空间不足"),
    (TIMEOUT, PLATFORM, "Airflow 故障"),
    ("AirflowFailException: Airflow connection 'hr_db' is not defined (AirflowNotFoundException)", PLATFORM,
     "Airflow 故障"),
    ("KeyError: 'rows'", PLATFORM, "其他平台错误"),  # a bug: never the department's
    (None, PLATFORM, "原因未记录"),
])
def test_a_failure_is_the_departments_only_when_its_message_shows_a_cause_in_the_delivery(
        message: str | None, outcome: str, cause: str) -> None:
    assert classify({"verdict": "failed", "message": message}) == (outcome, cause)


def test_published_and_held_runs_need_no_message() -> None:
    assert classify({"verdict": "passed"})[0] == PUBLISHED
    assert classify({"verdict": "passed_with_quarantine"})[0] == PUBLISHED
    assert classify({"verdict": "held_for_confirmation", "message": "数据量骤减"})[0] == HELD


def test_only_the_first_attempt_that_is_not_a_platform_failure_counts_for_a_date() -> None:
    runs = [
        run("a/x", 1, "failed", message=SUITE_TYPO),  # platform: the suite had a typo
        run("a/x", 1, started=9, run_id="manual__1"),  # the rerun after the fix published: counts
        run("a/x", 1, "failed", received=None, message=no_drop("a/x"), started=12, run_id="manual__2"),  # rerun
        run("a/x", 2, "failed", received=500, quarantined=200),  # data failure
        run("a/x", 2, started=15, run_id="manual__3"),  # the department resent: a rerun, the date stays failed
        run("a/x", 3, "failed", received=None, message=no_drop("a/x")),  # the scheduled run found no delivery
        run("a/x", 4, "failed", received=None, message=no_drop("a/x"), run_id="manual__4"),  # a rerun, no data
        run("a/x", 5, "held_for_confirmation", message="数据量骤减"),
    ]
    outcomes = [(item.run["logical_date"].day, item.outcome, item.counted) for item in judge(runs)]
    assert outcomes == [(1, PLATFORM, False), (1, PUBLISHED, True), (1, RERUN, False), (2, DATA, True),
                        (2, RERUN, False), (3, NO_DATA, True), (4, RERUN, False), (5, HELD, True)]
    assert pass_rate(runs) == pytest.approx(2 / 4)  # dates 1 and 5 of the four counted (1, 2, 3, 5)
    card = scorecards({"a/x": "a"}, runs, [])[0]
    assert (card.runs, card.days, card.failed, card.held, card.platform_failures, card.reruns) == (8, 4, 2, 1, 1, 3)
    assert card.failure_causes == {"未按时报送(没有当日数据)": 1, "超过标准的隔离上限或表级规则未通过": 1}
    assert card.quarantine_rate == pytest.approx(200 / 700)  # counted runs only: not the resent drop of date 2
    listed = incidents(runs)
    assert [(row["day"], row["outcome"]) for row in listed] == [
        ("2026-11-04", RERUN), ("2026-11-02", RERUN), ("2026-11-01", RERUN), ("2026-11-01", PLATFORM)]
    assert listed[-1]["cause"] == "校验套件错误" and "expectation #4" in listed[-1]["message"]


def test_the_issue_s_public_security_week_is_no_longer_a_60_percent_failure() -> None:
    """Three good nights, a suite typo (platform) and a rerun for a date with no data: the data was published and
    fresh, so the department's pass rate is 100% and the two failures show as a platform incident and a rerun."""
    runs = [run(RESIDENT, 1), run(RESIDENT, 2), run(RESIDENT, 3), run(RESIDENT, 4, "failed", message=SUITE_TYPO),
            run(RESIDENT, 3, "failed", received=None, message=no_drop(RESIDENT), started=11, run_id="manual__x")]
    cards = {card.scope: card for card in scorecards({RESIDENT: "public_security"}, runs, [])}
    department = cards["public_security"]
    assert (department.pass_rate, department.failed, department.platform_failures, department.reruns) == \
        (1.0, 0, 1, 1)
    assert cards[RESIDENT].runs == 5 and cards[RESIDENT].days == 3


def test_the_synthetic_history_in_a_real_warehouse(warehouse: sa.Engine, catalogue: Catalogue) -> None:
    """Platform failures and reruns stored as the record step stores them, read back through ``collect``."""
    today = date(2026, 11, 27)
    seed_history(warehouse, today)
    until = datetime(2026, 11, 27, tzinfo=SHANGHAI)
    oversight = collect(warehouse, catalogue, until - timedelta(days=14), until, now=until.astimezone(UTC))
    cards = {card.scope: card for card in oversight.cards}

    security = cards["public_security"]  # every date published despite a suite typo and a rerun without data
    assert (security.days, security.pass_rate, security.failed, security.platform_failures, security.reruns) == \
        (14, 1.0, 0, 1, 1)
    market = cards["market_regulation"]  # two dates over the quarantine limit, one delivery missing a column
    assert (market.days, market.failed, market.platform_failures, market.reruns) == (14, 3, 0, 1)
    assert market.pass_rate == pytest.approx(11 / 14)
    assert market.failure_causes == {"报送数据的表结构与标准不符": 1, "超过标准的隔离上限或表级规则未通过": 2}
    hr = cards["human_resources"]  # a late delivery is the department's; a timeout and a key mismatch are not
    assert (hr.days, hr.failed, hr.platform_failures, hr.reruns) == (12, 1, 2, 0)
    assert hr.pass_rate == pytest.approx(11 / 12)
    assert cards["health"].platform_failures == 1 and cards["health"].failed == 0  # the warehouse was down
    assert cards[MEDICAL].days == 1 and cards[ENTERPRISE].quarantine_rate < 0.05

    outcomes = {(row["dataset_key"], row["outcome"], row["cause"]) for row in oversight.incidents}
    assert outcomes == {(RESIDENT, PLATFORM, "校验套件错误"), (RESIDENT, RERUN, "重跑时没有当日数据"),
                        (ENTERPRISE, RERUN, "重跑并发布"), (MEDICAL, PLATFORM, "数据仓库故障"),
                        (INSURANCE, PLATFORM, "Airflow 故障"), (INSURANCE, PLATFORM, "密钥问题")}
    trend = {day["day"]: day for day in oversight.trend["public_security"]}
    assert len(trend) == 14 and all(day["pass_rate"] == 1.0 for day in trend.values())
