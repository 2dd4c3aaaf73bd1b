"""One dataset's night run the way an Airflow worker runs it, for the demo's past nights.

The demo's fortnight cannot be scheduled by Airflow (the nights are in the past and a scheduler run takes a
minute each), so each past night calls the task callables of the DAG the factory builds, in the DAG's order,
with the context keys they read: the delivery sensor, pull, plan, every mapped chunk, publish and record, and
on a failure the DAG's own failure callback (which records the failed run), as Airflow does once a task has no
retry left. Nothing here decides anything the DAG does not: it is the same code on the same inputs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from types import SimpleNamespace
from typing import Any

import pendulum
from airflow.sdk.bases.operator import ExecutorSafeguard
from airflow.sdk.exceptions import AirflowSkipException

from governance.settings import Settings
from governance.standards.catalogue import Catalogue
from governance.standards.models import Dataset

ORDER = ("delivery", "pull", "plan", "validate_chunk", "validate", "mask_chunk", "mask", "publish", "record")


@dataclass(frozen=True)
class NightOutcome:
    """How a night ended: ``success``, ``failed`` (``failed_task`` and the error's first line) or ``skipped``."""

    dataset_key: str
    run_id: str
    state: str
    failed_task: str | None = None
    message: str = ""


class DatasetNight:
    """The tasks of one dataset's DAG, called in order for one run."""

    def __init__(self, catalogue: Catalogue, dataset: Dataset, settings: Settings) -> None:
        from governance.orchestration.dataset_dag import build_dataset_dag

        self.dataset = dataset
        self.dag = build_dataset_dag(catalogue, dataset, settings)

    def context(self, run_id: str, day: date) -> dict[str, Any]:
        return {"run_id": run_id, "params": {"business_date": day.isoformat()},
                "logical_date": pendulum.datetime(day.year, day.month, day.day, tz="Asia/Shanghai"),
                "outlet_events": defaultdict(SimpleNamespace)}

    def run(self, run_id: str, day: date) -> NightOutcome:
        """Every task of the run; stops at the first failure or skip, as the DAG's run does."""
        chunks: list[int] = [0]
        for task_id in ORDER:
            if task_id not in self.dag.task_dict:
                continue  # a database source has no delivery to wait for
            task = self.dag.get_task(task_id)
            for arguments in ([{"chunk": chunk} for chunk in chunks] if task_id.endswith("_chunk") else [{}]):
                try:
                    result = self._call(task, run_id, day, **arguments)
                except AirflowSkipException as skipped:
                    return NightOutcome(self.dataset.key, run_id, "skipped", task_id, str(skipped))
                except Exception as error:
                    self._fail(run_id, day, error)
                    return NightOutcome(self.dataset.key, run_id, "failed", task_id,
                                        str(error).strip().splitlines()[0][:300] if str(error).strip() else
                                        type(error).__name__)
                if task_id == "plan":
                    chunks = list(result)
        return NightOutcome(self.dataset.key, run_id, "success")

    def _call(self, task: Any, run_id: str, day: date, **arguments: Any) -> Any:
        context = self.context(run_id, day)
        if task.task_id == "delivery":  # the sensor: complete now, or the window's deadline decides
            # with the sentinel the task runner passes, so Airflow's guard knows execute() is called as a task
            return task.execute(context, **{f"{type(task).__name__}__sentinel": ExecutorSafeguard.sentinel_value})
        function = getattr(task, "python_callable", None) or task.partial_kwargs["python_callable"]
        return function(**arguments, **context)

    def _fail(self, run_id: str, day: date, error: BaseException) -> None:
        """What Airflow does when a task fails without retry: the DAG's failure callback records the run."""
        self.dag.default_args["on_failure_callback"](self.context(run_id, day) | {"exception": error})
