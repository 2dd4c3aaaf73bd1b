"""Publishing minutes after a drop lands (issue 19): the landing watcher's event starts the dataset's run for the
delivered business date, long before 02:00, and the oversight figures show delivery-to-publish latency.

The watcher trigger's ``run()`` is driven on a fake clock; the run it starts is the dataset DAG's own tasks
(``fault_support.DagTasks``) given the context an asset-triggered run has (no logical date, the triggering event).
"""

from __future__ import annotations

import asyncio
import importlib
import os
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from airflow.sdk.definitions.timetables.assets import AssetOrTimeSchedule
from delivery_support import DAY, DAY_BEFORE, RESIDENTS, demo_nights, resident_file, settings_dataset
from fault_support import DagTasks, run_record_of, table_state

from governance.oversight.page import scorecard_table
from governance.oversight.scorecards import dataset_scorecard, delivery_to_publish_minutes
from governance.sources.delivery import MANIFEST_NAME, write_manifest

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def nights(tmp_path, monkeypatch, catalogue):
    return demo_nights(tmp_path, monkeypatch, catalogue)


class Stop(Exception):
    """Ends a watcher's endless poll in a test."""


def watch(trigger, clock: dict, events_at: dict, polls: int) -> list[dict]:
    """Run the landing watcher for ``polls`` polls on a fake clock; ``events_at`` happen as time passes."""
    trigger.clock = lambda: clock["now"]

    async def sleep(seconds: float) -> None:
        clock["polls"] = clock.get("polls", 0) + 1
        if clock["polls"] >= polls:
            raise Stop
        clock["now"] += seconds
        for moment in sorted(events_at):
            if moment <= clock["now"]:
                events_at.pop(moment)()
    trigger.sleep = sleep
    fired: list[dict] = []

    async def collect() -> None:
        async for event in trigger.run():
            fired.append(event.payload | {"_at": clock["now"]})

    with pytest.raises(Stop):
        asyncio.run(collect())
    return fired


def watcher_of(tasks: DagTasks):
    """The landing Asset's watcher trigger, rebuilt from its serialized form as the triggerer does."""
    timetable = tasks.dag.timetable
    assert isinstance(timetable, AssetOrTimeSchedule)  # 02:00, or the landing asset's event
    (watcher,) = timetable.asset_condition.watchers
    classpath, kwargs = watcher.trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    return timetable.asset_condition, getattr(importlib.import_module(module), name)(**kwargs)


def test_a_complete_delivery_starts_its_run_at_once_and_is_published(nights, monkeypatch) -> None:
    tasks = DagTasks(RESIDENTS)
    path = resident_file(nights, DAY)
    whole = path.read_bytes()
    (path.parent / MANIFEST_NAME).unlink()
    path.write_bytes(whole[:len(whole) // 2])  # uploading since 17:55 on the business day

    def finish() -> None:
        path.write_bytes(whole)
        write_manifest(path.parent, settings_dataset(RESIDENTS), DAY, "人口管理系统")

    evening = datetime(DAY.year, DAY.month, DAY.day, 18, 0, tzinfo=SHANGHAI).timestamp()
    asset, trigger = watcher_of(tasks)
    fired = watch(trigger, {"now": evening}, {evening + 5 * 60: finish}, polls=12)
    # The night before's complete, unpublished demo drop is announced at the first poll; tonight's once, at
    # completion, however many polls see it complete.
    assert (fired[0]["business_date"], fired[0]["_at"]) == (DAY_BEFORE.isoformat(), evening)
    (event,) = [e for e in fired if e["business_date"] == DAY.isoformat()]
    assert event["business_date"] == DAY.isoformat() and event["dataset"] == RESIDENTS
    assert evening + 5 * 60 <= event["_at"] <= evening + 7 * 60  # within a poll of completion, at ~18:06

    # The run the event starts: asset-triggered, no logical date; its business date comes from the event.
    run_id = "asset_triggered__2026-11-27T10:06:00+00:00"
    context = {"run_id": run_id, "params": {}, "logical_date": None,
               "dag_run": SimpleNamespace(run_after=datetime.fromtimestamp(event["_at"], SHANGHAI)),
               "triggering_asset_events": {asset: [SimpleNamespace(extra={"from_trigger": True, "payload": event})]},
               "outlet_events": tasks.context(run_id, DAY)["outlet_events"]}
    monkeypatch.setattr(tasks, "context", lambda run_id, day: context)
    assert tasks.dag.get_task("delivery").execute(context)["complete"] is True
    outcome = tasks.run(run_id, DAY)
    assert outcome.failed == [], outcome.tasks
    record = run_record_of(run_id)
    assert record["logical_date"] == DAY and table_state(RESIDENTS) == {run_id: record["rows_published"]}
    assert record["delivered_at"] is not None

    # A restarted watcher does not announce the published delivery again; a redelivery it does.
    _, restarted = watcher_of(tasks)
    assert [e["business_date"] for e in watch(restarted, {"now": evening + 3600}, {}, polls=2)] == [
        DAY_BEFORE.isoformat()]  # still unpublished
    write_manifest(path.parent, settings_dataset(RESIDENTS), DAY, "人口管理系统")
    later = record["finished_at"].timestamp() + 7200
    os.utime(path.parent / MANIFEST_NAME, (later, later))
    assert [e["business_date"] for e in watch(restarted, {"now": evening + 3 * 3600}, {}, polls=2)] == [
        DAY.isoformat()]  # the redelivery; the night before was announced already


def test_delivery_to_publish_latency_per_dataset() -> None:
    runs = [{"dataset_key": RESIDENTS, "logical_date": DAY, "verdict": "passed", "rows_published": 10,
             "delivered_at": datetime(2026, 11, 27, 10, 0), "finished_at": datetime(2026, 11, 27, 10, 6)},
            {"dataset_key": RESIDENTS, "logical_date": DAY, "verdict": "passed", "rows_published": 10,
             "delivered_at": datetime(2026, 11, 26, 10, 0), "finished_at": datetime(2026, 11, 26, 18, 0)},
            {"dataset_key": RESIDENTS, "logical_date": DAY, "verdict": "failed", "rows_published": 0,
             "delivered_at": datetime(2026, 11, 25, 10, 0), "finished_at": datetime(2026, 11, 25, 10, 1)},
            {"dataset_key": RESIDENTS, "logical_date": DAY, "verdict": "passed", "rows_published": 10,
             "delivered_at": None, "finished_at": datetime(2026, 11, 24, 18, 0)}]
    assert delivery_to_publish_minutes(runs) == (6 + 480) / 2  # median of the published, timed runs
    assert delivery_to_publish_minutes(runs[2:]) is None
    card = dataset_scorecard(RESIDENTS, "public_security", runs, [])
    assert card.delivery_to_publish_min == 243
    assert "交付→发布" in scorecard_table([card]) and "4.0 小时" in scorecard_table([card])
