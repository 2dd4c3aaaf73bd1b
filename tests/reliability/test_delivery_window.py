"""Waiting, not failing (issue 19): the nightly run's ``delivery`` task waits for a complete delivery inside the
standard's window without holding a worker slot (it defers to ``DeliveryTrigger``), alerts when the delivery is
overdue and when the window closes, and a delivery completing inside the window is published the same day.

The DAG's own tasks run as a worker runs them (``fault_support.DagTasks``); the trigger's ``run()`` is driven on a
fake clock (its ``sleep`` advances the clock), so six hours of waiting take no time.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from delivery_support import DAY, RESIDENTS, demo_nights, resident_file, settings_dataset
from fault_support import DagTasks, Outcome, run_record_of, table_state

from governance.sources.delivery import MANIFEST_NAME, write_manifest

SHANGHAI = ZoneInfo("Asia/Shanghai")
MORNING = DAY + timedelta(days=1)


@pytest.fixture
def nights(tmp_path, monkeypatch, catalogue):
    return demo_nights(tmp_path, monkeypatch, catalogue)


def at(hour: int, minute: int = 0) -> float:
    return datetime(MORNING.year, MORNING.month, MORNING.day, hour, minute, tzinfo=SHANGHAI).timestamp()


class Clock:
    """A fake clock; ``sleep`` advances it and calls ``events`` due by then (what the department does meanwhile)."""

    def __init__(self, now: float, events: dict[float, object] | None = None) -> None:
        self.now, self.events, self.sleeps = now, dict(events or {}), 0

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds
        for moment in sorted(self.events):
            if moment <= self.now:
                self.events.pop(moment)()


def deferred(tasks: DagTasks, clock: Clock, call) -> TaskDeferred:
    sensor = tasks.dag.get_task("delivery")
    sensor.clock = clock.time
    with pytest.raises(TaskDeferred) as deferral:
        call(sensor)
    return deferral.value


def fire(deferral: TaskDeferred, clock: Clock) -> dict:
    """Run the trigger as the triggerer would: rebuilt from its serialized form, its first event returned."""
    classpath, kwargs = deferral.trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    trigger = getattr(importlib.import_module(module), name)(**kwargs)
    trigger.clock, trigger.sleep = clock.time, clock.sleep

    async def first() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first())


def start_uploading(settings) -> tuple[bytes, object]:
    """At the run's start the department's upload is a third done and it has written no manifest yet."""
    path = resident_file(settings, DAY)
    whole = path.read_bytes()
    (path.parent / MANIFEST_NAME).unlink()
    path.write_bytes(whole[:len(whole) // 3])

    def finish() -> None:
        path.write_bytes(whole)
        write_manifest(path.parent, settings_dataset(RESIDENTS), DAY, "人口管理系统")
    return whole, finish


def test_a_late_delivery_inside_the_window_is_published_the_same_day(nights, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="governance.alerts")
    tasks = DagTasks(RESIDENTS)
    _, finish = start_uploading(nights)
    clock = Clock(at(2, 0), {at(3, 40): finish})  # the nightly run at 02:00; the upload completes at 03:40
    context = tasks.context("scheduled__late", DAY)

    deferral = deferred(tasks, clock, lambda sensor: sensor.execute(context))  # no worker slot while waiting
    assert deferral.method_name == "resume"
    assert deferral.trigger.until == datetime.fromtimestamp(at(6, 0), SHANGHAI).isoformat()
    assert "[交付迟到] public_security/resident_population 2026-11-27: 已过预计时间 01:30" in caplog.text

    event = fire(deferral, clock)
    assert event["status"] == "complete" and at(3, 40) <= event["at"] < at(3, 42)
    summary = tasks.dag.get_task("delivery").resume(context, event)
    assert summary["complete"] is True and summary["completeness"] == "manifest"

    outcome = tasks.run("scheduled__late", DAY)  # pull .. record, the same morning
    assert outcome.failed == [], outcome.tasks
    assert table_state(RESIDENTS) == {"scheduled__late": run_record_of("scheduled__late")["rows_published"]}
    assert "[交付逾期]" not in caplog.text


def test_a_run_before_the_expected_time_waits_quietly_then_warns(nights, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="governance.alerts")
    tasks = DagTasks(RESIDENTS)
    start_uploading(nights)
    clock = Clock(at(1, 0))
    context = tasks.context("scheduled__early", DAY)
    first = deferred(tasks, clock, lambda sensor: sensor.execute(context))
    assert first.trigger.until == datetime.fromtimestamp(at(1, 30), SHANGHAI).isoformat()
    assert caplog.text == ""  # not overdue yet: no alert
    event = fire(first, clock)
    assert event["status"] == "timeout" and "未收到交付清单" in event["reason"]
    second = deferred(tasks, clock, lambda sensor: sensor.resume(context, event))
    assert second.trigger.until == datetime.fromtimestamp(at(6, 0), SHANGHAI).isoformat()
    assert "已过预计时间 01:30" in caplog.text and "未收到交付清单" in caplog.text


def test_a_delivery_after_the_window_publishes_nothing_and_says_why(nights, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="governance.alerts")
    tasks = DagTasks(RESIDENTS)
    _, finish = start_uploading(nights)
    clock = Clock(at(2, 0), {at(7, 15): finish})  # completes at 07:15, after wait_until 06:00
    context = tasks.context("scheduled__missed", DAY)
    event = fire(deferred(tasks, clock, lambda sensor: sensor.execute(context)), clock)
    assert event["status"] == "timeout" and clock.now == pytest.approx(at(6, 0))
    assert clock.sleeps <= 4 * 60 + 1  # one poll a minute, not a busy loop

    sensor = tasks.dag.get_task("delivery")
    with pytest.raises(AirflowFailException) as closed:
        sensor.resume(context, event)
    message = str(closed.value)
    assert "截至 06:00 仍未收到完整交付，本次不发布" in message and "未收到交付清单 MANIFEST.json" in message
    assert "[交付逾期] public_security/resident_population 2026-11-27" in caplog.text
    outcome = Outcome("scheduled__missed")
    tasks.fail(outcome, "scheduled__missed", DAY, closed.value)  # Airflow's failure callback records the run
    assert outcome.callback_errors == []
    record = run_record_of("scheduled__missed")
    assert record["verdict"] == "failed" and record["rows_published"] == 0
    assert "截至 06:00 仍未收到完整交付" in record["message"]
    assert table_state(RESIDENTS) == {}
