"""One Asset-scheduled DAG per cross-department profile, ``profile__<name>``.

The DAG runs when any of its inputs' Assets (``shared.<department>__<dataset>``, emitted by the
dataset DAGs' publish tasks) gets an event: inputs update on different cycles (enterprise
registrations daily, tax ratings monthly), and waiting for all of them would leave the profile a month
stale. The build task emits the profile's own Asset with the row count.

Profiles are standards (``standards/profiles/*.yaml``), loaded with the usable catalogue as the dataset
DAGs load it: a profile file with problems, or one reading a dataset left out for its problems, is left out
alone (``governance standards check`` names it) and the other profiles keep their DAGs.
"""

from __future__ import annotations

import functools
import operator
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Asset, task

from governance.orchestration.dataset_dag import START_DATE, business_date
from governance.orchestration.failures import fail_fast
from governance.settings import Settings, get_settings
from governance.standards.catalogue import load_usable_catalogue
from governance.standards.profiles import Profile


def profile_asset(profile: Profile) -> Asset:
    return Asset(name=f"shared.{profile.table}", uri=f"warehouse://shared/{profile.table}",
                 group="shared-warehouse", extra={"profile": profile.name})


def input_asset(dataset_key: str) -> Asset:
    """The Asset the dataset's DAG emits (``dataset_dag.dataset_asset``), from its key alone; a test keeps
    the two equal."""
    department, name = dataset_key.split("/")
    return Asset(name=f"shared.{department}__{name}", uri=f"warehouse://shared/{department}__{name}",
                 group="shared-warehouse", extra={"department": department})


def build_profile_dags(settings: Settings | None = None) -> dict[str, DAG]:
    settings = settings or get_settings()
    profiles = load_usable_catalogue(settings.standards_root).profiles
    return {profile.dag_id: build_profile_dag(profile, settings) for profile in profiles.values()}


def build_profile_dag(profile: Profile, settings: Settings) -> DAG:
    inputs = [input_asset(key) for key in profile.inputs]
    asset = profile_asset(profile)
    with DAG(
        dag_id=profile.dag_id,
        description=f"{profile.title_zh}: rebuilt in the warehouse when an input is published",
        schedule=functools.reduce(operator.or_, inputs),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["cross-department", "profile"],
        doc_md=_doc(profile),
        default_args={"retries": settings.task_retries, "retry_delay": timedelta(minutes=2)},
    ) as dag:
        name = profile.name

        @task(task_id="build", outlets=[asset])
        @fail_fast
        def build(**context: Any) -> dict:
            from governance.profiles.build import run_profile

            summary = run_profile(name, context["run_id"], business_date(context))
            context["outlet_events"][asset].extra = {"rows": summary["rows"], "run_id": context["run_id"],
                                                     "table": summary["table"], "load_mode": "snapshot"}
            return summary

        build()
    return dag


def _doc(profile: Profile) -> str:
    lines = [f"# {profile.title_zh} (`shared.{profile.table}`)", "", profile.description, "",
             f"Joined on `{profile.key}`: " + ", ".join(f"`{key}`" for key in profile.inputs), "",
             "| column | from |", "|---|---|"]
    lines += [f"| {column.name} | `{column.dataset}.{column.source}` |" for column in profile.columns]
    lines += ["", "A role reads a column here only if it may read the column it comes from."]
    return "\n".join(lines)
