"""``make demo``: a fortnight of platform life, the last night through Airflow, and a summary.

With ``days`` > 1 the nights before the last are replayed first (:mod:`governance_demo.history`: every night
through its DAG's own tasks, consumers calling the sharing API, the story's beats); the last night's drops are
then written and every DAG due that night runs as a real Airflow run (``dag.test()`` on the SQLite metadata DB
under var/airflow), executing the same tasks the scheduler would. With ``days`` = 1 (``governance demo`` alone)
only that night runs, for every dataset, on drops written beforehand by ``governance demo-data``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pendulum
import sqlalchemy as sa

from governance.orchestration.oversight_dags import OVERSIGHT_DAG_IDS
from governance.pipeline.workarea import WorkArea
from governance.settings import REPO_ROOT, Settings, get_settings
from governance.standards.profiles import TABLE_PREFIX as PROFILE_PREFIX

DEMO_SEED = 20261128  # the synthetic province and every night's drops follow from it


def run_demo(day: date, only: Collection[str] | None = None, *, days: int | None = None, rows: int = 2000,
             seed: int = DEMO_SEED) -> bool:
    """Replay ``days - 1`` nights before ``day`` and write ``day``'s drops (without ``days``: the drops are
    there already, from ``governance demo-data``), then run each dataset DAG due on ``day``, then the
    cross-department profile DAGs that read their tables (as the scheduler would once their Assets update) and
    the oversight DAGs; print a summary; True when all of the last night's runs succeeded.

    ``only`` limits the last night to those DAG ids (tests use it to run a few DAGs).
    """
    migrating = _migrate_metadata()  # in the background, while the history replays
    settings = get_settings()
    try:
        history, due = _history_and_drops(day, days, rows, seed, settings) if days else (None, None)
    finally:
        if migrating.wait() != 0:
            raise subprocess.CalledProcessError(migrating.returncode, migrating.args)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    if bag.import_errors:
        for file, error in bag.import_errors.items():
            print(f"DAG import error in {file}:\n{error}", file=sys.stderr)
        return False
    logical_date = pendulum.datetime(day.year, day.month, day.day, tz=settings.timezone)
    chosen = sorted(dag_id for dag_id in bag.dag_ids if (only is None or dag_id in only) and (
        due is None or dag_id in due or dag_id.startswith(PROFILE_PREFIX) or dag_id in OVERSIGHT_DAG_IDS))
    profiles = [dag_id for dag_id in chosen if dag_id.startswith(PROFILE_PREFIX)]
    oversight = [dag_id for dag_id in chosen if dag_id in OVERSIGHT_DAG_IDS]
    outcomes = []
    with like_real_runs():
        for dag_id in [dag_id for dag_id in chosen if dag_id not in profiles and dag_id not in oversight]:
            dag_run = bag.get_dag(dag_id).test(logical_date=logical_date)
            outcomes.append((dag_id, str(dag_run.state), dag_run.run_id))
        print_summary(outcomes, settings.work_root)
        profile_outcomes = []
        for dag_id in profiles:  # after their inputs, as the Asset schedule orders them
            dag_run = bag.get_dag(dag_id).test(logical_date=logical_date)
            profile_outcomes.append((dag_id, str(dag_run.state), dag_run.run_id))
        print_profiles(profile_outcomes, settings.work_root)
        if oversight:  # last: freshness, quality and the bulletin over everything the runs above recorded
            from governance_demo.oversight import run_oversight

            profile_outcomes += run_oversight(bag, day, settings)
    if days:
        from governance_demo.summary import print_history_summary

        print_history_summary(history, day, days, settings)
    return all(state == "success" for _, state, _ in outcomes + profile_outcomes)


def _history_and_drops(day: date, days: int, rows: int, seed: int, settings: Settings) -> tuple[Any, set[str]]:
    """Replay the nights before ``day`` (unless the warehouse already holds runs) and write ``day``'s drops;
    returns the history (None when skipped) and the DAG ids due on ``day``."""
    from governance.standards.catalogue import load_catalogue
    from governance.warehouse import warehouse_engine
    from governance.warehouse.records import run_record
    from governance_demo.data import write_demo_data
    from governance_demo.history import replay_history
    from governance_demo.story import plan

    catalogue = load_catalogue(settings.standards_root)
    story = plan(day, days)
    engine = warehouse_engine(settings.warehouse_url)
    history = None
    try:
        with engine.connect() as connection:
            recorded = sa.inspect(connection).has_table(run_record.name, schema=run_record.schema) and \
                connection.execute(sa.select(sa.func.count()).select_from(run_record)).scalar()
        if recorded and story.history:
            print(f"the warehouse already holds {recorded} run record(s): the history is replayed only on a fresh "
                  "var/ (make clean-var); running the last night only", flush=True)
        elif story.history:
            print(f"replaying {days - 1} night(s), {story.nights[0]} .. {story.history[-1]}, then {day} through "
                  "Airflow", flush=True)
            history = replay_history(story, catalogue, settings, engine, rows, seed)
    finally:
        engine.dispose()
    keys = [key for key in catalogue.datasets if story.due(catalogue, key, day)]
    write_demo_data(catalogue, settings.landing_root, settings.var_root, day, rows=rows, seed=seed, datasets=keys)
    return history, {catalogue.datasets[key].dag_id for key in keys}


@contextmanager
def like_real_runs() -> Iterator[None]:
    """Make ``dag.test()`` runs look in the UI like the scheduler's.

    ``dag.test()`` starts its run at the logical date (last night's run showed a duration of 1d22h in the
    grid) and runs each task in this process, so its log reaches the console but not the file the UI reads.
    Here each run starts now, and each task's log records (the library's and the task runner's own, tracebacks
    included) are also written, as the JSON lines Airflow's file task handler reads, to that task's attempt
    file under ``[logging] base_log_folder``."""
    import structlog
    from airflow.configuration import conf
    from airflow.models import dagrun
    from airflow.sdk.definitions import dag as sdk_dag
    from airflow.utils.log.file_task_handler import FileTaskHandler

    create_run, run_task = dagrun.get_or_create_dagrun, sdk_dag._run_task
    folder = Path(conf.get("logging", "base_log_folder"))
    files = FileTaskHandler(str(folder))
    processors = structlog.get_config()["processors"]  # the list every structlog logger runs, cached ones too

    def started_now(**kwargs):
        return create_run(**kwargs | {"start_date": pendulum.now("UTC")})

    def logged(*, ti, task, run_triggerer: bool = False):
        path = folder / files._render_filename(ti, ti.try_number)
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(_JsonLines())
        root = logging.getLogger()

        def tee(logger: object, method: str, event: dict) -> dict:
            """The task runner logs through structlog, not the logging module: copy its lines too."""
            exc_info = sys.exc_info() if event.get("exc_info") is True else event.get("exc_info") or None
            extra = " ".join(f"{key}={value}" for key, value in event.items() if key not in _STRUCTLOG_KEYS)
            handler.handle(logging.makeLogRecord({
                "name": event.get("logger") or "task", "levelname": str(event.get("level", method)).upper(),
                "msg": f"{event.get('event')} {extra}".rstrip(),
                "exc_info": exc_info if exc_info and exc_info[0] else None}))
            return event

        root.addHandler(handler)
        processors.insert(len(processors) - 1, tee)  # before the console renderer, after level and message
        try:
            return run_task(ti=ti, task=task, run_triggerer=run_triggerer)
        finally:
            processors.remove(tee)
            root.removeHandler(handler)
            handler.close()

    dagrun.get_or_create_dagrun, sdk_dag._run_task = started_now, logged
    try:
        yield
    finally:
        dagrun.get_or_create_dagrun, sdk_dag._run_task = create_run, run_task


_STRUCTLOG_KEYS = {"event", "level", "logger", "logger_name", "timestamp", "exc_info", "loc", "filename",
                   "lineno", "func_name"}


class _JsonLines(logging.Formatter):
    """One JSON object a line (timestamp, level, logger, event): what the UI's log view parses."""

    def format(self, record: logging.LogRecord) -> str:
        event = record.getMessage() + (f"\n{self.formatException(record.exc_info)}" if record.exc_info else "")
        return json.dumps({"timestamp": pendulum.from_timestamp(record.created).isoformat(),
                           "level": record.levelname.lower(), "logger": record.name, "event": event},
                          ensure_ascii=False)


def _migrate_metadata() -> subprocess.Popen:
    """``airflow db migrate``, started now; the caller waits for it before the first Airflow run."""
    airflow = Path(sys.executable).with_name("airflow")
    return subprocess.Popen([str(airflow), "db", "migrate"], stdout=subprocess.DEVNULL)


def print_summary(outcomes: list[tuple[str, str, str]], work_root: Path) -> None:
    header = f"{'dataset':48} {'state':8} {'received':>8} {'passed':>7} {'quarant.':>8} {'published':>9} {'secs':>5}"
    print("\n" + header + "\n" + "-" * len(header))
    details = []
    for dag_id, state, run_id in outcomes:
        record = WorkArea.for_run(work_root, dag_id, run_id).read_step("record")
        print(f"{dag_id:48} {state:8} {_n(record.get('rows_received')):>8} {_n(record.get('rows_passed')):>7} "
              f"{_n(record.get('rows_quarantined')):>8} {_n(record.get('rows_published')):>9} "
              f"{record.get('duration_s', 0):>5.0f}")
        details.append((dag_id, record))
    print()
    for dag_id, record in details:
        print(f"{dag_id}: table {record.get('published_table') or '-'}; verdict {record.get('verdict', '-')}")
        masked = record.get("masked_columns") or {}
        if masked:
            print("  masked: " + ", ".join(f"{column} ({rule})" for column, rule in masked.items()))
        for rule, count in sorted((record.get("quarantined_by_rule") or {}).items(), key=lambda item: -item[1]):
            print(f"  quarantined {count:>5} x {rule}")
        for report in record.get("reports") or []:
            if report.endswith(".html"):
                print(f"  department report: {report}")
        if record.get("message"):
            print(f"  note: {record['message']}")


def print_profiles(outcomes: list[tuple[str, str, str]], work_root: Path) -> None:
    if not outcomes:
        return
    print("\ncross-department profiles (Asset-scheduled on the tables above)")
    for dag_id, state, run_id in outcomes:
        build = WorkArea.for_run(work_root, dag_id, run_id).read_step("build")
        missing = build.get("missing_inputs") or []
        print(f"{dag_id:48} {state:8} {_n(build.get('rows')):>8} rows in {build.get('table') or '-'}"
              + (f" (not yet published: {', '.join(missing)})" if missing else ""))


def _n(value: object) -> str:
    return "-" if value is None else str(value)
