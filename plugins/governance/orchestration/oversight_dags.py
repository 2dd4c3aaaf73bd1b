"""The oversight DAGs: the hourly freshness check and the weekly bulletin.

``governance__oversight`` runs every hour (``GOVERNANCE_OVERSIGHT_CRON``): it judges every
dataset's freshness, appends ``governance.freshness_history`` and alerts on transitions.
``governance__weekly_bulletin`` runs on Mondays at 08:00 local (``GOVERNANCE_BULLETIN_CRON``) and
writes last week's bulletin; its ``week_ending`` parameter rewrites any earlier week.

Parsing touches nothing but settings; the warehouse and the standards are read when a task runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import DAG, Param, task
from airflow.sdk.definitions.timetables.trigger import CronTriggerTimetable
from airflow.sdk.exceptions import AirflowException

from governance.orchestration.failures import fail_fast
from governance.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from governance.standards.catalogue import Catalogue

START_DATE = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")
OVERSIGHT_DAG_ID = "governance__oversight"
BULLETIN_DAG_ID = "governance__weekly_bulletin"
OVERSIGHT_DAG_IDS = (OVERSIGHT_DAG_ID, BULLETIN_DAG_ID)
# Both DAGs: one run at a time, never backfilled (a missed hour or week is judged by the next run).
OVERSIGHT_DAG_ARGS: dict[str, Any] = {"start_date": START_DATE, "catchup": False, "max_active_runs": 1,
                                      "tags": ["oversight"], "doc_md": __doc__}


def build_oversight_dag(settings: Settings | None = None) -> DAG:
    settings = settings or get_settings()
    with DAG(
        dag_id=OVERSIGHT_DAG_ID,
        description="Hourly: freshness of every catalogue dataset, history, alerts on transitions",
        schedule=CronTriggerTimetable(settings.oversight_cron, timezone=settings.timezone),
        **OVERSIGHT_DAG_ARGS,
        default_args={"retries": 0},  # the next hour is the retry; an undelivered alert is retried then
    ) as dag:

        @task(task_id="check_freshness")
        @fail_fast
        def check_freshness(**context: Any) -> dict:
            from governance.oversight.check import run_freshness_check

            with warehouse_and_standards() as (current, engine, catalogue):
                result = run_freshness_check(engine, catalogue, settings=current, context=dict(context))
            if result.undelivered:
                raise AirflowException(f"freshness alerts not delivered for {', '.join(result.undelivered)} "
                                       f"(recorded; the next check sends them again)")
            return result.summary()

        check_freshness()
    return dag


def build_bulletin_dag(settings: Settings | None = None) -> DAG:
    settings = settings or get_settings()
    with DAG(
        dag_id=BULLETIN_DAG_ID,
        description="Mondays: last week's bulletin (每周进度通报) as HTML and CSV",
        schedule=CronTriggerTimetable(settings.bulletin_cron, timezone=settings.timezone),
        **OVERSIGHT_DAG_ARGS,
        params={"week_ending": Param(None, type=["null", "string"], format="date",
                                     description="A day of the ISO week (Monday to Sunday) to report; default: the "
                                                 "last complete week")},
        default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
    ) as dag:

        @task(task_id="write_bulletin")
        @fail_fast
        def write(**context: Any) -> dict:
            from governance.oversight.bulletin import write_bulletin

            with warehouse_and_standards() as (current, engine, catalogue):
                bulletin = write_bulletin(engine, catalogue, bulletin_week(context, current.timezone), settings=current)
            return {"week_ending": bulletin.week_ending.isoformat(), "html": str(bulletin.html),
                    "csv": str(bulletin.csv)}

        write()
    return dag


@contextmanager
def warehouse_and_standards() -> Iterator[tuple[Settings, Engine, Catalogue]]:
    """What an oversight task reads, as the task runs: today's settings, the warehouse (disposed after) and the
    usable standards (a broken dataset's left out)."""
    from governance.standards.catalogue import load_usable_catalogue
    from governance.warehouse import warehouse_engine

    current = get_settings()
    engine = warehouse_engine(current.warehouse_url)
    try:
        yield current, engine, load_usable_catalogue(current.standards_root)
    finally:
        engine.dispose()


def bulletin_week(context: dict[str, Any], timezone: str) -> date:
    """The ``week_ending`` parameter, or the last complete week before the run's (local) date."""
    from governance.oversight.bulletin import last_week_ending

    override = (context.get("params") or {}).get("week_ending")
    if override:
        return date.fromisoformat(override)
    moment = context.get("logical_date") or getattr(context.get("dag_run"), "run_after", None) or datetime.now(UTC)
    return last_week_ending(pendulum.instance(moment).in_timezone(timezone).date())
