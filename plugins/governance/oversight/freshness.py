"""Freshness of a dataset: two clocks judged against thresholds that follow its update cycle.

*Pipeline freshness* is the age of the last successful publish (the platform did its job);
*data freshness* is the age of the newest value in the dataset's ``freshness_column`` (the
department's data itself moves). A pipeline that publishes the same stale extract every night is
green on the first clock and red on the second, which is why both are kept.

Thresholds work like dbt source freshness: older than ``warn_after`` is *warn*, older than
``error_after`` is *stale*. A dataset never published is *never-loaded*. Values in the future
beyond a tolerance mean a clock is wrong somewhere (a source system on the wrong time zone, a
typo'd year); such data is flagged *skewed* and never counted as fresh.

Everything here is pure: the warehouse is read in :mod:`governance.oversight.clocks`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from governance.standards.freshness import freshness_hours
from governance.standards.models import Dataset

FRESH, WARN, SKEWED, STALE, NEVER_LOADED = "fresh", "warn", "skewed", "stale", "never-loaded"
SEVERITY = {FRESH: 0, WARN: 1, SKEWED: 2, STALE: 3, NEVER_LOADED: 4}
STATUSES = tuple(SEVERITY)
ALERTING = frozenset({WARN, SKEWED, STALE, NEVER_LOADED})
LABELS_ZH = {FRESH: "及时", WARN: "预警", SKEWED: "时钟异常", STALE: "超期", NEVER_LOADED: "从未入库"}

@dataclass(frozen=True)
class Thresholds:
    warn_after_h: float
    error_after_h: float

    def status(self, age_h: float) -> str:
        """``stale`` beyond error_after, ``warn`` beyond warn_after, else ``fresh`` (boundaries are fresh)."""
        if age_h > self.error_after_h:
            return STALE
        if age_h > self.warn_after_h:
            return WARN
        return FRESH


def thresholds_for(dataset: Dataset) -> Thresholds:
    """The cycle's defaults with the standard's ``freshness`` overrides applied (``freshness_hours``)."""
    return Thresholds(*freshness_hours(dataset))


@dataclass(frozen=True)
class Freshness:
    """One dataset's freshness at ``checked_at`` (aware datetimes; ages in hours)."""

    dataset_key: str
    department: str
    title_zh: str
    update_cycle: str
    status: str
    pipeline_status: str
    data_status: str | None
    pipeline_age_h: float | None
    data_age_h: float | None
    last_publish: datetime | None
    data_max: datetime | None
    warn_after_h: float
    error_after_h: float
    checked_at: datetime
    note: str = ""

    @property
    def counts_as_fresh(self) -> bool:
        return self.status == FRESH

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        for name in ("last_publish", "data_max", "checked_at"):
            row[name] = row[name].isoformat() if row[name] else None
        for name in ("pipeline_age_h", "data_age_h"):
            row[name] = round(row[name], 2) if row[name] is not None else None
        row["status_zh"] = LABELS_ZH[self.status]
        return row


def worst(*statuses: str | None) -> str:
    return max((status for status in statuses if status), key=SEVERITY.__getitem__)


def assess(dataset: Dataset, last_publish: datetime | None, data_max: datetime | None, now: datetime, *,
           skew_tolerance: timedelta = timedelta(minutes=15), note: str = "") -> Freshness:
    """Judge both clocks of ``dataset`` at ``now``; all datetimes must be timezone-aware.

    The overall status is the worse of the two clocks; a dataset never published is never-loaded
    whatever its table holds (a table filled by hand is not a pipeline). No data clock (no
    freshness column, an empty table) leaves the pipeline clock to decide alone.
    """
    for moment in (last_publish, data_max, now):
        if moment is not None and moment.tzinfo is None:
            raise ValueError("assess() needs timezone-aware datetimes")
    thresholds = thresholds_for(dataset)
    pipeline_age = _hours(now - last_publish) if last_publish else None
    pipeline_status = thresholds.status(pipeline_age) if pipeline_age is not None else NEVER_LOADED
    data_age = _hours(now - data_max) if data_max else None
    data_status = None
    if data_max is not None:
        skewed = data_max - now > skew_tolerance
        data_status = SKEWED if skewed else thresholds.status(max(data_age or 0.0, 0.0))
        if skewed:
            note = note or (f"时效字段 {dataset.freshness_column} 的最新值比现在晚 {-data_age:.1f} 小时"
                            " (时钟或时区错误?)")
    status = NEVER_LOADED if pipeline_status == NEVER_LOADED else worst(pipeline_status, data_status)
    return Freshness(
        dataset_key=dataset.key, department=dataset.department, title_zh=dataset.title_zh,
        update_cycle=dataset.update_cycle, status=status, pipeline_status=pipeline_status,
        data_status=data_status, pipeline_age_h=pipeline_age, data_age_h=data_age, last_publish=last_publish,
        data_max=data_max, warn_after_h=thresholds.warn_after_h, error_after_h=thresholds.error_after_h,
        checked_at=now, note=note)


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600
