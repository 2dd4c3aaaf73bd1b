"""Airflow DAGs: one nightly DAG per dataset standard in standards/datasets/.

Each DAG is ``<department>__<dataset>``: pull -> validate -> mask -> publish -> record.
A broken standards file surfaces here as an import error naming the file and line.
"""

from governance.orchestration.dataset_dag import build_dataset_dags

globals().update(build_dataset_dags())
