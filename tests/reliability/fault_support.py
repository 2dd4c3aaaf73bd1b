"""Shared by the fault and soak tests: demo nights, and a dataset DAG's own tasks run outside a scheduler.

``DagTasks`` calls the Python callables of the DAG the factory builds, in the DAG's order, with the context
keys they read: the same code an Airflow worker runs for each task (locks, disk-full handling, data-error
handling, the failure callback), without a scheduler, so two processes can be made to run one task at the
same moment. Also runnable as a script (``python fault_support.py disk-full <json>``): the disk-full test runs
it inside a private mount namespace whose work and reports areas are small tmpfs filesystems.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def night_environment(var_root: Path, warehouse_url: str, days: list[date], rows: int, **extra: str) -> dict[str, str]:
    """A private var root as ``governance keys init`` and ``demo-data`` leave it (a keyring in the local secrets
    backend, demo drops for ``days`` from the demo data facade), and the environment a pipeline process needs."""
    from governance_demo import write_demo_data

    from governance.keys import write_local_keyring
    from governance.standards.catalogue import load_catalogue

    secrets = var_root / "secrets"
    write_local_keyring(secrets / "variables.json")
    catalogue = load_catalogue(REPO_ROOT / "standards")
    for day in days:
        write_demo_data(catalogue, var_root / "landing", var_root, day, rows=rows)
    backend = {"variables_file_path": str(secrets / "variables.json"),
               "connections_file_path": str(secrets / "connections.json")}
    # The same Variable and connections as environment variables too: a process that configured Airflow's
    # secrets backend before (the test process itself) still finds them.
    variables = json.loads((secrets / "variables.json").read_text())
    connections = json.loads((secrets / "connections.json").read_text())
    return {"GOVERNANCE_VAR_ROOT": str(var_root), "GOVERNANCE_WAREHOUSE_URL": warehouse_url,
            "GOVERNANCE_TASK_RETRIES": "0", "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(backend),
            **{f"AIRFLOW_VAR_{name.upper()}": value for name, value in variables.items()},
            **{f"AIRFLOW_CONN_{name.upper()}": uri if isinstance(uri, str) else json.dumps(uri)
               for name, uri in connections.items()}, **extra}


@dataclass
class Outcome:
    """What happened to each task of one run: ``ok`` or the exception's type and text."""

    run_id: str
    tasks: list[tuple[str, str]] = field(default_factory=list)
    callback_errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[tuple[str, str]]:
        return [(task, result) for task, result in self.tasks if result != "ok"]


class DagTasks:
    """One dataset DAG's tasks, called as an Airflow worker calls them."""

    def __init__(self, dataset_key: str) -> None:
        from governance.orchestration.dataset_dag import build_dataset_dag
        from governance.settings import get_settings
        from governance.standards.catalogue import load_catalogue

        settings = get_settings()
        catalogue = load_catalogue(settings.standards_root)
        self.dag = build_dataset_dag(catalogue, catalogue.dataset(dataset_key), settings)

    def context(self, run_id: str, day: date) -> dict[str, Any]:
        import pendulum

        return {"run_id": run_id, "params": {"business_date": day.isoformat()},
                "logical_date": pendulum.datetime(day.year, day.month, day.day, tz="Asia/Shanghai"),
                "outlet_events": defaultdict(SimpleNamespace)}

    def call(self, task_id: str, run_id: str, day: date, **arguments: Any) -> Any:
        task = self.dag.get_task(task_id)
        function = getattr(task, "python_callable", None) or task.partial_kwargs["python_callable"]
        return function(**arguments, **self.context(run_id, day))

    def fail(self, outcome: Outcome, run_id: str, day: date, error: BaseException) -> None:
        """What Airflow does once a task has no retry left: the DAG's failure callback records the run."""
        try:
            self.dag.default_args["on_failure_callback"](self.context(run_id, day) | {"exception": error})
        except Exception as callback_error:  # Airflow logs a failing callback and carries on
            outcome.callback_errors.append(f"{type(callback_error).__name__}: {callback_error}")

    def run(self, run_id: str, day: date, *, before: Callable[[str], None] | None = None,
            start: str = "pull", until: str | None = None, chunks: list[int] | None = None) -> Outcome:
        """The tasks from ``start`` (a cleared run restarts at a task) up to, not including, ``until``;
        ``before(task)`` is called ahead of each. Stops at the first failure, as the DAG's run would."""
        order = ["pull", "plan", "validate_chunk", "validate", "mask_chunk", "mask", "publish", "record"]
        outcome = Outcome(run_id)
        for task_id in order[order.index(start):order.index(until) if until else None]:
            calls = [{}] if not task_id.endswith("_chunk") else [{"chunk": chunk} for chunk in chunks or [0]]
            for arguments in calls:
                label = task_id + (f"[{arguments['chunk']}]" if arguments else "")
                if before:
                    before(label)
                try:
                    result = self.call(task_id, run_id, day, **arguments)
                except Exception as error:
                    outcome.tasks.append((label, f"{type(error).__name__}: {error}"))
                    self.fail(outcome, run_id, day, error)
                    return outcome
                outcome.tasks.append((label, "ok"))
                if task_id == "plan":
                    chunks = list(result)
        return outcome


# ----------------------------------------------------------------------------------------------------------------
# Disk full: run inside ``unshare -rm``, with the work and reports roots on small tmpfs mounts
# ----------------------------------------------------------------------------------------------------------------

def fill(folder: Path) -> int:
    """Fill the filesystem holding ``folder`` (a ballast file of zeros) until it refuses; returns bytes written."""
    written, block = 0, b"\0" * 65536
    with open(folder / "ballast", "wb", buffering=0) as handle:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    written += handle.write(block[:size])
            except OSError:
                continue
    return written


def free_space(folder: Path) -> None:
    (folder / "ballast").unlink()


def listing(root: Path) -> dict[str, int]:
    """Every file under ``root`` (relative path -> size), partial and lock files included."""
    if not root.exists():
        return {}
    return {str(path.relative_to(root)): path.stat().st_size for path in sorted(root.rglob("*")) if path.is_file()}


def table_state(dataset_key: str) -> dict[str, int]:
    """The published table's rows per ``_run_id`` (which load each row came from)."""
    import sqlalchemy as sa

    from governance.settings import get_settings
    from governance.standards.catalogue import load_catalogue
    from governance.warehouse import dataset_table, warehouse_engine

    settings = get_settings()
    catalogue = load_catalogue(settings.standards_root)
    table = dataset_table(catalogue, catalogue.dataset(dataset_key))
    engine = warehouse_engine(settings.warehouse_url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(table.name, schema=table.schema):
                return {}
            query = sa.select(table.c._run_id, sa.func.count()).group_by(table.c._run_id)
            return {run_id: count for run_id, count in connection.execute(query)}
    finally:
        engine.dispose()


def run_record_of(run_id: str) -> dict[str, Any] | None:
    """The run's record in ``governance.run_record`` (None before the first record)."""
    import sqlalchemy as sa

    from governance.settings import get_settings
    from governance.warehouse import warehouse_engine
    from governance.warehouse.records import run_record

    engine = warehouse_engine(get_settings().warehouse_url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(run_record.name, schema=run_record.schema):
                return None
            row = connection.execute(sa.select(run_record).where(run_record.c.run_id == run_id)).mappings().first()
            return dict(row) if row else None
    finally:
        engine.dispose()


def disk_full_scenario(arguments: dict[str, Any]) -> dict[str, Any]:
    """Yesterday's load is published with space to spare; today's run then meets a full disk at pull, at the
    quarantine reports, at a mask chunk and at publish, the run is failed (callback) each time, space is
    freed and the run is cleared from the failed task, until it completes. Returns what was observed."""
    from governance.pipeline.steps import Run
    from governance.settings import get_settings

    key, old_day, day = arguments["dataset"], date.fromisoformat(arguments["old_day"]), date.fromisoformat(
        arguments["day"])
    work, reports = Path(arguments["work"]), Path(arguments["reports"])
    tasks = DagTasks(key)
    run_id = arguments["run_id"]
    area = Run.create(key, run_id, day).area
    settings = get_settings()
    observed: dict[str, Any] = {"work_fs_bytes": os.statvfs(work).f_blocks * os.statvfs(work).f_frsize,
                                "old": tasks.run(arguments["old_run_id"], old_day).__dict__}
    observed["old_table"] = table_state(key)
    steps: list[dict[str, Any]] = []

    def attempt(name: str, full: Path | None, start: str, until: str | None = None,
                chunks: list[int] | None = None) -> list[int]:
        """Fill ``full`` (if given), run from ``start``; record the outcome and what the areas hold."""
        ballast = fill(full) if full else 0
        outcome = tasks.run(run_id, day, start=start, until=until, chunks=chunks)
        steps.append({"name": name, "ballast_bytes": ballast, "outcome": outcome.__dict__,
                      "work": listing(area.root), "reports": listing(reports), "table": table_state(key),
                      "run_record": run_record_of(run_id)})
        if full:
            free_space(full)
        return area.read_step("plan").get("chunks", [])

    # 1. Full work area at pull: the drop cannot be landed.
    attempt("pull", work, "pull")
    # 2. Space back: pull and plan; then the reports area is full when validate writes the quarantine report.
    chunks = attempt("to_validate", None, "pull", until="validate_chunk")
    attempt("reports", reports, "validate_chunk", until="mask_chunk", chunks=chunks)
    # 3. Reports fixed: validate again; then the work area is full when mask chunks write their parts.
    attempt("to_mask", None, "validate", until="mask_chunk", chunks=chunks)
    attempt("mask", work, "mask_chunk", chunks=chunks)
    # 4. Masking done with space; the work area is full again when publish writes its summary.
    attempt("to_publish", None, "mask_chunk", until="publish", chunks=chunks)
    attempt("publish", work, "publish")
    # 5. Space freed: the run is cleared from publish and completes.
    attempt("rerun", None, "publish")
    observed["steps"] = steps
    observed["area"] = str(area.root)
    observed["reports_root"] = str(settings.reports_root)
    observed["record"] = area.read_step("record")
    return observed


def main(argv: list[str]) -> int:
    if argv[:1] != ["disk-full"]:
        print("usage: fault_support.py disk-full <json arguments>", file=sys.stderr)
        return 2
    arguments = json.loads(argv[1])
    try:
        observed = disk_full_scenario(arguments)
    except Exception:
        observed = {"crashed": traceback.format_exc()}
    Path(arguments["output"]).write_text(json.dumps(observed, default=str, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


# ----------------------------------------------------------------------------------------------------------------
# The same run twice at once: processes that start every task together
# ----------------------------------------------------------------------------------------------------------------

def lockstep_worker(name: str, environment: dict[str, str], datasets: list[str], run_id: str, day: date,
                    barrier: Any, results: Any) -> None:
    """Run each dataset's night, waiting at ``barrier`` before every task so both processes start it together.

    A failure aborts the barrier, so the other process stops too instead of waiting for its timeout."""
    os.environ.update(environment)
    outcomes: list[dict[str, Any]] = []
    try:
        for key in datasets:
            outcome = DagTasks(key).run(run_id, day, before=lambda _label: barrier.wait(timeout=600))
            outcomes.append({"dataset": key, **outcome.__dict__})
            if outcome.failed:
                barrier.abort()
                break
    except Exception:
        barrier.abort()
        outcomes.append({"dataset": None, "run_id": run_id, "tasks": [("worker", traceback.format_exc())],
                         "callback_errors": []})
    results.put((name, outcomes))
