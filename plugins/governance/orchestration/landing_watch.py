"""Publishing minutes after a drop lands: the event-driven path beside the 02:00 schedule (issue 19).

Each file dataset has a *landing* Asset, ``landing.<department>__<dataset>``, watched by an ``AssetWatcher`` whose
:class:`LandingWatchTrigger` (a ``BaseEventTrigger``, run by the triggerer for as long as the DAG exists) polls
the dataset's landing folders of the last few business dates. When a delivery there becomes complete by the
standard's protocol (manifest verified or quiet period passed) and no run has published it yet, the trigger
fires an event ``{"business_date", "delivered_at"}``; the dataset's DAG is scheduled on its cron *or* that Asset
(``AssetOrTimeSchedule``), so the event starts the dataset's run for that business date at once.

Announcements are remembered in the trigger (one event per delivery; a redelivery, i.e. a newer manifest,
is announced again); after a triggerer restart the warehouse's run records say what is already published.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import Asset, AssetWatcher
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from governance.settings import Settings
from governance.standards.models import Dataset

POLL_SECONDS = 60.0
LOOKBACK_DAYS = 3  # business dates watched: today's and the two before (a drop for yesterday lands today)


def landing_asset(dataset: Dataset, settings: Settings) -> Asset:
    """The dataset's landing area as an Asset; its watcher's events start the dataset's run."""
    trigger = LandingWatchTrigger(dataset_key=dataset.key, standards_root=str(settings.standards_root),
                                  landing_root=str(settings.landing_root), timezone=settings.timezone)
    return Asset(name=f"landing.{dataset.dag_id}", uri=f"landing://{dataset.department}/{dataset.name}",
                 group="landing", extra={"department": dataset.department},
                 watchers=[AssetWatcher(name=f"{dataset.dag_id}__delivery", trigger=trigger)])


def event_business_date(context: dict[str, Any]) -> date | None:
    """The business date of the delivery that started this run (None for a scheduled or manual run)."""
    for events in (context.get("triggering_asset_events") or {}).values():
        for event in events:
            payload = (getattr(event, "extra", None) or {}).get("payload") or {}
            if payload.get("business_date"):
                return date.fromisoformat(payload["business_date"])
    return None


def _complete_deliveries(dataset_key: str, standards_root: str, landing_root: str, timezone: str,
                         now: float) -> list[tuple[str, float]]:
    """``(business date, delivered at)`` of the complete deliveries among the watched dates not yet published."""
    from governance.sources.delivery import delivered_at, delivery_status
    from governance.standards.catalogue import load_usable_catalogue

    dataset = load_usable_catalogue(Path(standards_root)).dataset(dataset_key)
    today = datetime.fromtimestamp(now, ZoneInfo(timezone)).date()
    found = []
    for back in range(LOOKBACK_DAYS):
        day = today - timedelta(days=back)
        folder = Path(landing_root) / dataset.department / dataset.name / day.isoformat()
        complete, _ = delivery_status(dataset, Path(landing_root), day, now=now)
        if complete:
            found.append((day.isoformat(), delivered_at(dataset, folder)))
    return [(day, moment) for day, moment in found if not _published_since(dataset_key, day, moment)]


def _published_since(dataset_key: str, day: str, moment: float) -> bool:
    """Whether a run for ``day`` published after the delivery completed (so it published this delivery)."""
    import sqlalchemy as sa

    from governance.settings import get_settings
    from governance.warehouse import warehouse_engine
    from governance.warehouse.records import run_record

    engine = warehouse_engine(get_settings().warehouse_url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(run_record.name, schema=run_record.schema):
                return False
            latest = connection.execute(
                sa.select(sa.func.max(run_record.c.finished_at))
                .where(run_record.c.dataset_key == dataset_key, run_record.c.logical_date == date.fromisoformat(day),
                       run_record.c.rows_published > 0)).scalar()
    finally:
        engine.dispose()
    return latest is not None and latest.replace(tzinfo=UTC).timestamp() >= moment


class LandingWatchTrigger(BaseEventTrigger):
    """Fires one event per complete, unpublished delivery of the dataset (see the module's docstring).

    ``clock`` and ``sleep`` are attributes so tests can run :meth:`run` on a fake clock.
    """

    clock = staticmethod(time.time)
    sleep = staticmethod(asyncio.sleep)

    def __init__(self, *, dataset_key: str, standards_root: str, landing_root: str, timezone: str,
                 poll_seconds: float = POLL_SECONDS) -> None:
        super().__init__()
        self.dataset_key, self.standards_root, self.landing_root = dataset_key, standards_root, landing_root
        self.timezone, self.poll_seconds = timezone, poll_seconds
        self.announced: dict[str, float] = {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"dataset_key": self.dataset_key, "standards_root": self.standards_root,
                 "landing_root": self.landing_root, "timezone": self.timezone, "poll_seconds": self.poll_seconds})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            found = await asyncio.to_thread(_complete_deliveries, self.dataset_key, self.standards_root,
                                            self.landing_root, self.timezone, self.clock())
            for day, moment in found:
                if self.announced.get(day) != moment:
                    self.announced[day] = moment
                    yield TriggerEvent({"dataset": self.dataset_key, "business_date": day,
                                        "delivered_at": datetime.fromtimestamp(moment, UTC).isoformat()})
            await self.sleep(self.poll_seconds)
