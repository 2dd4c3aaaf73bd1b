"""The demo's past nights and days, replayed in order at their own hours (``governance demo --days N``).

Each calendar day of the history: the departments' drops land after midnight, each due dataset's night runs at
02:00 through its DAG's own tasks (:mod:`governance_demo.nights`), the hourly freshness check runs every six
hours, consumers call the sharing API in office hours (:mod:`governance_demo.traffic`), and the story's beats
happen when a platform office would see them (:mod:`governance_demo.story`). The wall clock is moved to each
moment with ``time_machine`` (ticking from there), so run records, loads, key changes, checks and the access log
carry the moment they stand for, and every figure derived from them (freshness, delivery-to-publish, calls per
day) is as it would be had the fortnight been lived.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa
import time_machine

from governance.pipeline.workarea import WorkArea
from governance.settings import Settings
from governance.standards.catalogue import Catalogue
from governance.validation.verdict import CONFIRM_SHRINK_FILE
from governance.warehouse.engine import SHARED_SCHEMA
from governance_demo import story as beats
from governance_demo.nights import DatasetNight, NightOutcome
from governance_demo.story import Story

HAND_MADE_COLUMN = "remark_adhoc"  # what a DBA adds by hand for a one-off report
CHECK_HOURS = (3, 9, 15, 21)  # the hourly check, sampled: enough to see warn, stale and recovery
ALERT_LOGGERS = ("governance.alerts",)  # the one alert path (governance.alerts), sharing blocks included


@dataclass
class History:
    """What the replay leaves for the summary: the alerts it raised and what the consumers saw."""

    alerts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Alerts(logging.Handler):
    """Keeps the subject line of each alert the replay raises, for the summary instead of the console."""

    def __init__(self, into: list[str], clock: Callable[[], str]) -> None:
        super().__init__(logging.INFO)
        self.into, self.clock = into, clock

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(f"{self.clock()} {record.getMessage().splitlines()[0][:160]}")


class Replay:
    def __init__(self, story: Story, catalogue: Catalogue, settings: Settings, engine: sa.Engine, rows: int,
                 seed: int) -> None:
        self.story, self.catalogue, self.settings, self.engine = story, catalogue, settings, engine
        self.rows, self.seed = rows, seed
        self.zone = ZoneInfo(settings.timezone)
        self.rng = np.random.default_rng([seed, 14])
        self.nights = {key: DatasetNight(catalogue, dataset, settings) for key, dataset in catalogue.datasets.items()}
        self.delivered: dict[str, date] = {}
        self.history = History()
        self.moment = ""

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.zone)

    @contextmanager
    def travel(self, moment: datetime) -> Iterator[None]:
        self.moment = moment.strftime("%m-%d %H:%M")
        with time_machine.travel(moment, tick=True):
            yield

    def say(self, text: str) -> None:
        """One line of the story as it happens, stamped with its (replayed) local time."""
        print(f"{self.moment}  {text}", flush=True)

    # ---- deliveries and runs -------------------------------------------------------------------------------

    def deliver(self, night: date, keys: list[str], moment: datetime,
                shares: dict[str, float] | None = None) -> dict[str, int]:
        """Write the drops of ``keys`` for ``night`` as delivered at ``moment`` (files and manifest times);
        returns the rows of each drop."""
        from governance_demo.data import write_demo_data

        if not keys:
            return {}
        drops = write_demo_data(self.catalogue, self.settings.landing_root, self.settings.var_root, night,
                                rows=self.rows, seed=self.seed, datasets=keys, defect_shares=shares)
        for drop in drops:
            self.delivered[drop.dataset] = night
            folder = drop.path.parent
            if self.catalogue.datasets[drop.dataset].source.kind == "sql":
                continue
            stamp = moment.timestamp()
            for path in [*folder.iterdir(), folder]:
                os.utime(path, (stamp, stamp))
        return {drop.dataset: drop.rows for drop in drops}

    def run(self, key: str, night: date, run_id: str) -> NightOutcome:
        outcome = self.nights[key].run(run_id, night)
        record = WorkArea.for_run(self.settings.work_root, self.catalogue.datasets[key].dag_id, run_id).read_step(
            "record")
        if outcome.state == "success":
            closed = record.get("quarantine_closed") or 0
            self.say(f"{key} {night}: 发布 {record.get('rows_published')} published, 隔离 "
                     f"{record.get('rows_quarantined')} quarantined"
                     + (f", 关闭此前隔离 {closed} earlier quarantine entries closed" if closed else ""))
        else:
            self.say(f"{key} {night}: 失败 {outcome.state} at {outcome.failed_task}: {outcome.message[:150]}")
        return outcome

    def check(self, moment: datetime) -> None:
        from governance.oversight.check import run_freshness_check

        with self.travel(moment):
            run_freshness_check(self.engine, self.catalogue, now=moment, settings=self.settings)

    # ---- the days --------------------------------------------------------------------------------------------

    def replay(self, traffic: Any) -> History:
        story = self.story
        for night in story.history:
            day = night + timedelta(days=1)
            due = [key for key in self.catalogue.datasets if story.due(self.catalogue, key, night)]
            on_time = [key for key in due if not (key == beats.LATE and night in story.late)]
            shares = {key: share for key in on_time if (share := story.defect_share(key, night)) is not None}
            self.deliver(night, on_time, self.at(day, 0, 20 + int(self.rng.integers(0, 40))), shares)
            if story.drift == night:
                with self.travel(self.at(day, 1, 0)):
                    self._hand_made_column(add=True)
                    self.say(f"数据库管理员手工加列 a DBA adds column {HAND_MADE_COLUMN} to "
                             f"shared.{_table(beats.DRIFT)} by hand (for a one-off report)")
            for number, key in enumerate(due):
                late = key == beats.LATE and night in story.late
                with self.travel(self.at(day, 6 if late else 2, number * 2)):  # late: the window closes at 06:00
                    self.run(key, night, f"demo__{night.isoformat()}")
            self.day(day, traffic)
        return self.history

    def day(self, day: date, traffic: Any) -> None:
        """The calendar day after a night: checks, office hours, the story's beats, in time order."""
        story = self.story
        events: list[tuple[datetime, Callable[[], None]]] = [
            (self.at(day, hour, 5), lambda hour=hour: self.check(self.at(day, hour, 5))) for hour in CHECK_HOURS]
        if traffic is not None:
            events.append((self.at(day, 8, 30), lambda: traffic.office_day(day, dict(self.delivered))))
            if day == story.days[-1]:
                events.append((self.at(day, 14, 30), lambda: traffic.runaway(day)))
                events.append((self.at(day, 21, 40), lambda: traffic.bulk_scan(day)))
        if day == story.rotation:
            events.append((self.at(day, 10, 0), self._rotate))
        if story.catch_up == day:
            events.append((self.at(day, 10, 30), self._catch_up))
        if story.drift is not None and day == story.drift + timedelta(days=1):
            events.append((self.at(day, 9, 30), self._fix_drift))
        if day == story.resubmit + timedelta(days=1):
            events.append((self.at(day, 11, 0), self._resubmit))
        for _, event in sorted(events, key=lambda item: item[0]):
            event()

    # ---- the beats -------------------------------------------------------------------------------------------

    def _rotate(self) -> None:
        from governance.keys import load_keyring
        from governance.keys.rotation import rotate_encryption

        moment = self.at(self.story.rotation, 10, 0)
        with self.travel(moment):
            result = rotate_encryption(self.engine, self.catalogue, load_keyring(),
                                       secrets_dir=self.settings.var_root / "secrets", actor="platform-office")
            moved = sum(result.tables.values())
            self.say(f"密钥轮换 governance keys rotate: new encryption key {result.active}, {moved} published value(s) "
                     f"re-encrypted, retired {', '.join(result.retired) or 'none'}")

    def _catch_up(self) -> None:
        story = self.story
        moment = self.at(story.catch_up, 10, 30)
        with self.travel(moment):
            self.say(f"{beats.LATE}: 部门补报 the department delivers the {len(story.late)} missed nights; "
                     "the platform runs them again")
        for night in story.late:
            self.deliver(night, [beats.LATE], moment)
        for number, night in enumerate(story.late):
            run_at = self.at(story.catch_up, 10, 40 + 5 * number)
            with self.travel(run_at):
                self.run(beats.LATE, night, f"demo_manual__{run_at.isoformat()}")

    def _fix_drift(self) -> None:
        if not self._hand_made_column(add=False):
            return
        night = self.story.drift
        assert night is not None
        run_at = self.at(night + timedelta(days=1), 9, 40)
        with self.travel(run_at):
            self.say(f"删除手工列后重跑 the DBA removes {HAND_MADE_COLUMN}; the platform runs {beats.DRIFT} "
                     f"{night} again")
            self.run(beats.DRIFT, night, f"demo_manual__{run_at.isoformat()}")

    def _hand_made_column(self, *, add: bool) -> bool:
        """Add the hand-made column, or drop it if it is there; True when the table changed."""
        table = f"{SHARED_SCHEMA}.{_table(beats.DRIFT)}"
        with self.engine.begin() as connection:
            columns = {column["name"] for column in sa.inspect(connection).get_columns(
                _table(beats.DRIFT), schema=SHARED_SCHEMA)}
            if add == (HAND_MADE_COLUMN in columns):
                return False
            statement = (f"ALTER TABLE {table} ADD COLUMN {HAND_MADE_COLUMN} VARCHAR(200)" if add
                         else f"ALTER TABLE {table} DROP COLUMN {HAND_MADE_COLUMN}")
            connection.exec_driver_sql(statement)
        return True

    def _resubmit(self) -> None:
        night = self.story.resubmit
        assert night is not None
        moment = self.at(night + timedelta(days=1), 11, 0)
        with self.travel(moment):
            self.say(f"{beats.RESUBMIT}: 部门更正后重报 the department corrects the rows quarantined for "
                     f"{night} (its quarantine report) and resubmits the drop")
        rows = self.deliver(night, [beats.RESUBMIT], moment, {beats.RESUBMIT: 0.0})
        # Duplicates removed, the snapshot is smaller than the one published: the standard holds such a load
        # until the department confirms the count, so the department confirms it with the resubmission.
        department, name = beats.RESUBMIT.split("/")
        confirmation = self.settings.landing_root / department / name / night.isoformat() / CONFIRM_SHRINK_FILE
        confirmation.write_text(f"{rows[beats.RESUBMIT]}\n", encoding="utf-8")
        run_at = self.at(night + timedelta(days=1), 11, 10)
        with self.travel(run_at):
            self.run(beats.RESUBMIT, night, f"demo_manual__{run_at.isoformat()}")


def replay_history(story: Story, catalogue: Catalogue, settings: Settings, engine: sa.Engine, rows: int,
                   seed: int, *, traffic: bool = True) -> History:
    """Replay every night of ``story`` but the last, with the consumers' traffic; returns what happened."""
    from governance_demo.traffic import Consumers

    replay = Replay(story, catalogue, settings, engine, rows, seed)
    handler = _Alerts(replay.history.alerts, lambda: replay.moment)
    loggers = [logging.getLogger(name) for name in ALERT_LOGGERS]
    saved = [(logger.propagate, logger.level) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False  # alerts go to the summary, not between the progress lines
        logger.setLevel(logging.INFO)
    consumers = None
    try:
        if traffic:
            with replay.travel(replay.at(story.days[0], 8, 0)):
                consumers = Consumers(engine, replay.travel, settings.landing_root, seed)
        replay.replay(consumers)
    finally:
        if consumers is not None:
            consumers.close()
            replay.history.notes = consumers.notes
        for logger, (propagate, level) in zip(loggers, saved, strict=True):
            logger.removeHandler(handler)
            logger.propagate, logger.level = propagate, level
    return replay.history


def _table(key: str) -> str:
    return key.replace("/", "__")
