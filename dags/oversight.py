"""Airflow DAG ``governance__oversight``: every hour, the freshness of every catalogue dataset, its history,
and an alert (log, e-mail and/or webhook) when a dataset turns warn, skewed, stale or never-loaded, or recovers.
"""

from governance.orchestration.oversight_dags import build_oversight_dag

oversight = build_oversight_dag()
