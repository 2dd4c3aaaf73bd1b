"""Waiting for a department's delivery without holding a worker slot (issue 19).

The nightly run starts at 02:00; a drop may land at 02:05 or 05:30. The ``delivery`` task (first in every file
dataset's DAG) checks once; while the drop is incomplete it *defers* to :class:`DeliveryTrigger`, which polls the
landing folder in the triggerer (asyncio, no worker slot) until the delivery is complete by the standard's
protocol (manifest verified, or the quiet period passed) or until a deadline of the standard's window:

* ``expected_by`` passed and still incomplete: an alert says the delivery is overdue, and the wait goes on;
* ``wait_until`` passed: an alert, and the run fails without retry (daily datasets) naming what is missing, so
  nothing is published from a partial drop. A weekly or monthly dataset with nothing delivered skips instead.

A delivery completing inside the window is picked up at once, the same day.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from governance.settings import get_settings
from governance.standards.models import Dataset

POLL_SECONDS = 60.0


def delivery_window(dataset: Dataset, day: date, timezone: str) -> tuple[datetime, datetime]:
    """``expected_by`` and ``wait_until`` as moments: local times on the morning after the business date."""
    morning, zone = day + timedelta(days=1), ZoneInfo(timezone)
    return (datetime.combine(morning, dataset.delivery.expected_by, zone),
            datetime.combine(morning, dataset.delivery.wait_until, zone))


def _status(dataset_key: str, standards_root: str, landing_root: str, day: str, now: float) -> tuple[bool, str]:
    """Imported and run in a thread: the check reads the standards and hashes files."""
    from governance.sources.delivery import delivery_status
    from governance.standards.catalogue import load_usable_catalogue

    dataset = load_usable_catalogue(Path(standards_root)).dataset(dataset_key)
    return delivery_status(dataset, Path(landing_root), date.fromisoformat(day), now=now)


class DeliveryTrigger(BaseTrigger):
    """Polls one night's landing folder until its delivery is complete or ``until`` (ISO moment) passes.

    Fires one event: ``{"status": "complete"}`` or ``{"status": "timeout", "reason": <why still incomplete>}``.
    ``clock`` and ``sleep`` are attributes so tests can run :meth:`run` on a fake clock.
    """

    clock = staticmethod(time.time)
    sleep = staticmethod(asyncio.sleep)

    def __init__(self, *, dataset_key: str, day: str, until: str, standards_root: str, landing_root: str,
                 poll_seconds: float = POLL_SECONDS) -> None:
        super().__init__()
        self.dataset_key, self.day, self.until = dataset_key, day, until
        self.standards_root, self.landing_root, self.poll_seconds = standards_root, landing_root, poll_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"dataset_key": self.dataset_key, "day": self.day, "until": self.until,
                 "standards_root": self.standards_root, "landing_root": self.landing_root,
                 "poll_seconds": self.poll_seconds})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = datetime.fromisoformat(self.until).timestamp()
        while True:
            now = self.clock()
            complete, reason = await asyncio.to_thread(
                _status, self.dataset_key, self.standards_root, self.landing_root, self.day, now)
            if complete:
                yield TriggerEvent({"status": "complete", "at": now})
                return
            if now >= deadline:
                yield TriggerEvent({"status": "timeout", "reason": reason, "at": now})
                return
            await self.sleep(min(self.poll_seconds, max(deadline - now, 0.0)))


class DeliverySensor(BaseSensorOperator):
    """The ``delivery`` task: done once the night's drop is complete; deferred (no worker slot) until then."""

    clock = staticmethod(time.time)

    def __init__(self, *, dataset_key: str, poll_seconds: float = POLL_SECONDS, **kwargs: Any) -> None:
        super().__init__(poke_interval=poll_seconds, **kwargs)
        self.dataset_key = dataset_key

    def poke(self, context: Any) -> bool:
        return self._check(context)[0]

    def execute(self, context: Any) -> dict:
        complete, reason = self._check(context)
        return self._done(context) if complete else self._wait(context, reason)

    def resume(self, context: Any, event: dict[str, Any]) -> dict:
        """Where the trigger hands back: complete, or a deadline of the window reached."""
        if event.get("status") == "complete":
            return self._done(context)
        return self._wait(context, str(event.get("reason", "")))

    def _check(self, context: Any) -> tuple[bool, str]:
        settings = get_settings()
        return _status(self.dataset_key, str(settings.standards_root), str(settings.landing_root),
                       self._day(context).isoformat(), self.clock())

    def _wait(self, context: Any, reason: str) -> dict:
        settings = get_settings()
        dataset, day = self._dataset(), self._day(context)
        expected_by, wait_until = delivery_window(dataset, day, settings.timezone)
        now = datetime.fromtimestamp(self.clock(), ZoneInfo(settings.timezone))
        if now >= wait_until:
            if dataset.update_cycle != "daily" and not self._anything_delivered(dataset, day):
                raise AirflowSkipException(f"{dataset.key}: 本周期无交付 no delivery for {day} (cycle "
                                           f"{dataset.update_cycle})")
            message = (f"{dataset.key} {day}: 截至 {wait_until:%H:%M} 仍未收到完整交付，本次不发布，请部门报送后由运维"
                       f"清除重跑。 / No complete delivery by {wait_until:%H:%M} (window closed); nothing is "
                       f"published. Details: {reason}")
            _alert(context, f"[交付逾期] {dataset.key} {day}: 交付窗口已关闭 delivery window closed", message)
            raise AirflowFailException(message)
        until = expected_by if now < expected_by else wait_until
        if until == wait_until:
            _alert(context, f"[交付迟到] {dataset.key} {day}: 已过预计时间 {expected_by:%H:%M} overdue",
                   f"{dataset.key} {day}: 已过预计交付时间 {expected_by:%H:%M}，继续等待至 {wait_until:%H:%M}。 / "
                   f"Overdue since {expected_by:%H:%M}; waiting until {wait_until:%H:%M}. {reason}")
        self.defer(trigger=DeliveryTrigger(dataset_key=dataset.key, day=day.isoformat(), until=until.isoformat(),
                                           standards_root=str(settings.standards_root),
                                           landing_root=str(settings.landing_root),
                                           poll_seconds=self.poke_interval),
                   method_name="resume")

    def _done(self, context: Any) -> dict:
        from governance.sources.delivery import delivered_at

        dataset, day = self._dataset(), self._day(context)
        moment = delivered_at(dataset, _folder(dataset, day))
        return {"complete": True, "completeness": dataset.delivery.completeness,
                "delivered_at": datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")}

    @staticmethod
    def _anything_delivered(dataset: Dataset, day: date) -> bool:
        from governance.sources.delivery import drop_files

        folder = _folder(dataset, day)
        return folder.is_dir() and bool(drop_files(folder, dataset))

    def _dataset(self) -> Dataset:
        from governance.standards.catalogue import load_usable_catalogue

        return load_usable_catalogue(get_settings().standards_root).dataset(self.dataset_key)

    @staticmethod
    def _day(context: Any) -> date:
        from governance.orchestration.dataset_dag import business_date

        return business_date(context)


def _folder(dataset: Dataset, day: date) -> Path:
    return get_settings().landing_root / dataset.department / dataset.name / day.isoformat()


def _alert(context: Any, subject: str, message: str) -> None:
    """Through the project's alert path (log, then e-mail / webhook when configured); a channel that fails is
    logged by the notifier and must not hide the delivery problem itself."""
    from governance.alerts import GovernanceNotifier, NotificationFailed

    with contextlib.suppress(NotificationFailed):
        GovernanceNotifier(subject, message).notify(context)
