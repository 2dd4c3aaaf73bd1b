"""The nightly DAGs' Deadline Alert: every dataset run must finish by a local time (default 06:00).

Airflow 3 has no SLA any more; a DAG-run Deadline Alert is ``reference + interval``. The
reference is the run's logical date, which for the nightly ``CronDataIntervalTimetable`` is the
*start* of the day processed (02:00 the day before the run starts). The interval is therefore
"from the logical date to the first deadline time after the run is due": 28 hours for the default
02:00 schedule and 06:00 deadline. Anchoring on the logical date, not on when the run was queued,
keeps the deadline at 06:00 even when the scheduler queued the run late.

On a miss the executor instantiates :class:`~governance.alerts.GovernanceNotifier` with
the kwargs below and calls it with the deadline's context (``dag_run`` and ``deadline``).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import DAG, DeadlineAlert, DeadlineReference, SyncCallback
from croniter import croniter

from governance.alerts import GovernanceNotifier
from governance.settings import Settings

DISABLED = frozenset({"", "off", "none"})


def parse_local_time(value: str) -> time:
    """``HH:MM`` as a time; anything else is a configuration error raised at DAG parse."""
    try:
        hours, minutes = (int(part) for part in value.strip().split(":"))
        return time(hours, minutes)
    except ValueError:
        raise ValueError(f"GOVERNANCE_NIGHTLY_DEADLINE must be HH:MM (local time), not {value!r}") from None


def nightly_deadline_interval(cron: str, timezone: str, deadline: str) -> timedelta:
    """From a nightly run's logical date to the first ``deadline`` (local) after the run is due.

    Computed on a sample night; exact for time zones without daylight saving (Asia/Shanghai), and
    off by the DST shift on the nights a zone changes its clocks.
    """
    zone, due_by = ZoneInfo(timezone), parse_local_time(deadline)
    logical = croniter(cron, datetime(2026, 1, 5, 12, tzinfo=zone)).get_next(datetime)
    scheduled = croniter(cron, logical).get_next(datetime)
    due = scheduled.replace(hour=due_by.hour, minute=due_by.minute, second=0, microsecond=0)
    if due <= scheduled:
        due += timedelta(days=1)
    return due - logical


def nightly_deadline(dag_id: str, settings: Settings) -> DeadlineAlert | None:
    """The Deadline Alert for dataset DAG ``dag_id``: log and notify when a run is not done in time.

    ``GOVERNANCE_NIGHTLY_DEADLINE=off`` attaches none.
    """
    if settings.nightly_deadline.strip().lower() in DISABLED:
        return None
    deadline = parse_local_time(settings.nightly_deadline).strftime("%H:%M")
    subject = f"[夜间运行超时] {dag_id} not finished by {deadline} ({settings.timezone})"
    message = (f"The nightly run {{{{ dag_run.run_id }}}} of {dag_id} was still not finished at its deadline "
               f"{{{{ deadline.deadline_time }}}} (UTC); state {{{{ dag_run.state }}}}. "
               f"Published data for this dataset is older than promised until the run finishes.")
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=nightly_deadline_interval(settings.nightly_cron, settings.timezone, settings.nightly_deadline),
        callback=SyncCallback(GovernanceNotifier, kwargs={"subject": subject, "message": message}),
        name=f"finish by {deadline} {settings.timezone}",
    )


class DeadlineDAG(DAG):
    """A DAG whose ``test()`` (``airflow dags test``, ``make demo``) runs without its Deadline Alert.

    Airflow 3.3.2's ``dag.test()`` builds its scheduler DAG without the database step that turns deadline
    definitions into row ids, then looks the definitions up as ids after a successful run and fails with
    ``'dict' object has no attribute 'hex'`` (apache/airflow#73428). A test run is watched by the person
    who started it, so it needs no deadline; scheduled runs keep theirs.
    """

    def test(self, *args: Any, **kwargs: Any) -> Any:
        deadline, self.deadline = self.deadline, None
        try:
            return super().test(*args, **kwargs)
        finally:
            self.deadline = deadline
