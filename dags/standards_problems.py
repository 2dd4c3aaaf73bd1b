"""Airflow import error for dataset standards with problems (their DAGs are left out of departmental_datasets).

Airflow marks every DAG of a file that raised as failed to import, so the problems are raised here, in a file
with no DAG of its own: the UI's import errors name each broken standards file and line, and the other
datasets' DAGs in departmental_datasets.py keep running.
"""

from governance.orchestration.dataset_dag import raise_standards_problems

raise_standards_problems()
