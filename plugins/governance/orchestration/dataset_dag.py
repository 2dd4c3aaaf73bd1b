"""The DAG factory: one nightly DAG per dataset standard, ``<department>__<dataset>``.

Parsing reads only the standards files (configuration, small and local); no data source,
warehouse or key is touched until a task runs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, Param, task
from airflow.sdk.bases.timetable import BaseTimetable
from airflow.sdk.definitions.timetables.interval import CronDataIntervalTimetable
from airflow.sdk.exceptions import AirflowSkipException

from governance.alerts import run_failed
from governance.files import storage_full
from governance.orchestration.arrival import DeliverySensor
from governance.orchestration.docs import dataset_doc_md
from governance.orchestration.failures import fail_fast
from governance.orchestration.landing_watch import event_business_date, landing_asset
from governance.orchestration.links import DataDocsLink, DatasetPageLink, QuarantineReportLink
from governance.orchestration.suite_files import suite_file_problem
from governance.oversight.deadline import DeadlineDAG, nightly_deadline
from governance.pipeline import contracts  # small: pydantic models, which parsing the standards loads anyway
from governance.roles.model import dag_access_control
from governance.settings import Settings, get_settings
from governance.standards.catalogue import Catalogue, load_usable_catalogue
from governance.standards.models import Dataset
from governance.standards.problems import StandardsError

if TYPE_CHECKING:
    from governance.pipeline.steps import Run

START_DATE = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")


def dataset_asset(dataset: Dataset) -> Asset:
    """The published table as an Airflow Asset; downstream DAGs schedule on it."""
    return Asset(name=f"shared.{dataset.dag_id}", uri=f"warehouse://shared/{dataset.dag_id}",
                 group="shared-warehouse", extra={"department": dataset.department})


def build_dataset_dags(settings: Settings | None = None) -> dict[str, DAG]:
    """A DAG per dataset whose standard and suite file are sound; one with problems is left out
    (``raise_standards_problems`` reports it), so a typo in one dataset's files stops that dataset only."""
    settings = settings or get_settings()
    catalogue = load_usable_catalogue(settings.standards_root)
    return {dataset.dag_id: build_dataset_dag(catalogue, dataset, settings)
            for dataset in catalogue.datasets.values()
            if suite_file_problem(dataset, settings.expectations_root) is None}


def raise_standards_problems(settings: Settings | None = None) -> None:
    """Raise the problems of the dataset (and agreement) files left out of ``build_dataset_dags``.

    Called from a DAG file of its own (dags/standards_problems.py): Airflow records an import error per DAG
    file and marks every DAG of that file as failed to import, so the problems must not be raised from the
    file that builds the other datasets' DAGs."""
    settings = settings or get_settings()
    catalogue = load_usable_catalogue(settings.standards_root)
    problems = [problem for problems in catalogue.broken.values() for problem in problems]
    problems += [problem for dataset in catalogue.datasets.values()
                 if (problem := suite_file_problem(dataset, settings.expectations_root)) is not None]
    if problems:
        error = StandardsError(problems)
        error.add_note(f"标准或校验规则文件有错误 (目录 {settings.standards_root}, {settings.expectations_root}): "
                       f"上列数据集的 DAG 已停用, 其他数据集照常运行。修正后 `governance standards check` 与 "
                       f"`governance suites check` 通过, DAG 即恢复。\n"
                       f"The DAGs of the datasets above are disabled until their files pass `governance standards "
                       f"check` and `governance suites check`; every other dataset runs as usual.")
        raise error


def build_dataset_dag(catalogue: Catalogue, dataset: Dataset, settings: Settings) -> DAG:
    asset = dataset_asset(dataset)
    with warnings.catch_warnings():
        # Airflow 3.3 warns on any access_control that airflow.security.permissions is deprecated; FAB 3.10's
        # per-DAG permissions are still set this way, so the warning says nothing about this DAG.
        warnings.filterwarnings("ignore", message="The airflow.security.permissions module is deprecated")
        dag = DeadlineDAG(
            dag_id=dataset.dag_id,
            dag_display_name=display_name(catalogue, dataset),
            description=f"{dataset.title_zh}: pull, validate, mask and publish nightly",
            # Files: 02:00 or as soon as a delivery completes (landing_watch); a query: 02:00.
            schedule=_nightly(settings) if dataset.source.kind == "sql" else AssetOrTimeSchedule(
                timetable=_nightly(settings), assets=landing_asset(dataset, settings)),
            start_date=START_DATE,
            catchup=False,
            max_active_runs=1,
            tags=[dataset.department, f"cycle:{dataset.update_cycle}", f"sharing:{dataset.sharing}"],
            doc_md=dataset_doc_md(catalogue, dataset),
            params={"business_date": Param(None, type=["null", "string"], format="date",
                                           description="Drop date to process (YYYY-MM-DD); default: logical date"),
                    "confirm_shrink": Param(None, type=["null", "integer"], minimum=0,
                                            description="Rows the department confirmed for a snapshot held as "
                                                        "shrinking (数据量骤减确认的行数)")},
            default_args={"retries": settings.task_retries, "retry_delay": timedelta(minutes=2),
                          "on_failure_callback": _record_failure(dataset.key)},
            deadline=nightly_deadline(dataset.dag_id, settings),  # done by GOVERNANCE_NIGHTLY_DEADLINE, or alert
            on_failure_callback=run_failed(dataset.dag_id),  # the platform's alert path (governance.alerts)
            # Under the FAB auth manager only the department's own roles (and global readers) see this DAG;
            # the roles exist once `governance roles sync` ran (governance.roles).
            access_control=dag_access_control(dataset.department),
        )
    with dag:
        key = dataset.key

        @task(task_id="pull")
        @_step
        def pull(**context: Any) -> dict:
            from governance.sources import NoDrop

            try:
                return _execute(_run(key, context), "pull", _steps().pull)
            except NoDrop as missing:
                if dataset.update_cycle == "daily":
                    raise
                raise AirflowSkipException(str(missing)) from None

        # Validate and mask run per chunk of rows (GOVERNANCE_CHUNK_ROWS) as mapped tasks, so memory per task
        # is bounded and more worker slots mean more throughput; "validate" and "mask" add the chunks up.
        @task(task_id="plan")
        @_step
        def plan(**context: Any) -> list[int]:
            return _execute(_run(key, context), "plan", _chunked().plan)["chunks"]

        @task(task_id="validate_chunk")
        @_step
        def validate_chunk(chunk: int, **context: Any) -> dict:
            return _execute(_run(key, context), f"validate_chunk-{chunk}", _chunked().validate_chunk, chunk)

        # The log gets a short Chinese summary with links (governance.orchestration.task_log), not the dict.
        @task(task_id="validate", show_return_value_in_logs=False)
        @_step
        def validate(**context: Any) -> dict:
            run = _run(key, context)
            try:
                return _execute(run, "validate", _chunked().finish_validate)
            finally:  # a failed verdict too: its summary is written before the verdict is enforced
                if summary := run.area.read_step("validate"):
                    _task_log().log_validate_summary(dataset.dag_id, summary)

        @task(task_id="mask_chunk")
        @_step
        def mask_chunk(chunk: int, **context: Any) -> dict:
            return _execute(_run(key, context), f"mask_chunk-{chunk}", _chunked().mask_chunk, chunk)

        @task(task_id="mask")
        @_step
        def mask(**context: Any) -> dict:
            return _execute(_run(key, context), "mask", _chunked().finish_mask)

        @task(task_id="publish", outlets=[asset])
        @_step
        def publish(**context: Any) -> dict:
            run = _run(key, context)
            summary = _execute(run, "publish", _steps().publish)
            # counts, names and versions for consumers scheduled on the Asset (contracts.AssetExtra), never values
            context["outlet_events"][asset].extra = contracts.asset_extra(summary, run.area, context["run_id"])
            return summary

        @task(task_id="record")
        @_step
        def record(**context: Any) -> dict:
            return _execute(_run(key, context), "record", _steps().record)

        chunks = plan()
        pulled = pull()
        if dataset.source.kind != "sql":  # a query is its own delivery; files wait for a complete one
            DeliverySensor(task_id="delivery", dataset_key=key) >> pulled
        pulled >> chunks
        validated, masked, published = validate(), mask(), publish()
        validated.operator.operator_extra_links = [QuarantineReportLink(), DataDocsLink()]
        published.operator.operator_extra_links = [DatasetPageLink()]
        validate_chunk.expand(chunk=chunks) >> validated >> mask_chunk.expand(chunk=chunks) >> masked
        masked >> published >> record()
    return dag


def display_name(catalogue: Catalogue, dataset: Dataset) -> str:
    """The DAG's name in the UI: the standard's Chinese title and the providing department's Chinese name."""
    department = catalogue.departments.get(dataset.department)
    return f"{dataset.title_zh} ({department.name_zh if department else dataset.department})"


def _nightly(settings: Settings) -> BaseTimetable:
    """Each run's logical date is the day whose drop it processes (the interval's start)."""
    return CronDataIntervalTimetable(settings.nightly_cron, timezone=settings.timezone)


def _steps() -> ModuleType:
    """The steps module, imported when a task runs: it pulls in GX and pandas, which parsing must not pay for."""
    from governance.pipeline import steps

    return steps


def _task_log() -> ModuleType:
    """The validate summary for the task log, imported when a task runs (as ``_steps``)."""
    from governance.orchestration import task_log

    return task_log


def _chunked() -> ModuleType:
    """The chunked validate and mask steps, imported when a task runs (as ``_steps``)."""
    from governance.pipeline import chunked

    return chunked


def _run(dataset_key: str, context: dict[str, Any]) -> Run:
    confirm = (context.get("params") or {}).get("confirm_shrink")
    return _steps().Run.create(dataset_key, context["run_id"], business_date(context),
                               confirm_shrink=None if confirm is None else int(confirm))


def business_date(context: dict[str, Any]) -> date:
    override = (context.get("params") or {}).get("business_date")
    if override:
        return date.fromisoformat(override)
    delivered = event_business_date(context)  # a run started by its delivery's landing event
    if delivered:
        return delivered
    moment = context.get("logical_date") or context["dag_run"].run_after
    return pendulum.instance(moment).in_timezone(get_settings().timezone).date()


def _execute(run: Run, step: str, function: Callable[..., Any], *args: Any) -> Any:
    """Run one step of ``run`` the way every task does.

    * Alone: a second process running the same step of the same run (two workers picking up one task)
      waits for the first, then redoes the step over its finished output (``WorkArea.step_lock``).
    * A full disk fails the step with :class:`StorageFull` naming where space ran out; it is not a data
      error, so Airflow retries it (and a rerun completes once space is freed). Partial files are never
      renamed into place, so nothing half-written is taken for a step's output.
    * Through the leak guard's message rules: what the step returns (its summary as JSON, for XCom and the
      task log's "Returned value") and the message of what it raises (the task log, the run record) hold no
      identifier in clear.
    """
    from governance.redaction.leak_guard import redact_exception, redact_json

    try:
        with run.area.step_lock(step):
            return redact_json(contracts.as_json(function(run, *args)))
    except Exception as error:
        full = storage_full(error, step, (run.area.root, run.settings.reports_root, run.settings.docs_root))
        if full is None:
            redact_exception(error)  # in place: the same exception goes on, with its message redacted
            raise
        raise full from error


_step = fail_fast  # every task fails or retries by the one rule (governance.orchestration.failures)


def _record_failure(dataset_key: str) -> Callable[[dict[str, Any]], None]:
    """Failed runs are recorded too: the oversight figures must count them."""
    def callback(context: dict[str, Any]) -> None:
        error = context.get("exception") or RuntimeError("task failed")
        _execute(_run(dataset_key, context), "record", partial(_steps().record, error=error))
    return callback
