"""Scorecard arithmetic over plain records: the figures departments are judged by, to the decimal."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from governance.oversight.scorecards import (
    combined_volume_change,
    daily_trend,
    freshness_sla,
    pass_rate,
    quarantine_rate,
    scorecards,
    volume_change,
)


def run(key: str, day: int, verdict: str = "passed", received: int | None = 100, quarantined: int = 0,
        started: int = 3) -> dict:
    return {"dataset_key": key, "logical_date": date(2026, 11, day), "started_at": datetime(2026, 11, day + 1, started),
            "run_id": f"{key}-{day}-{started}", "verdict": verdict, "rows_received": received,
            "rows_quarantined": quarantined}


def test_pass_rate_counts_every_verdict_but_failed() -> None:
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
