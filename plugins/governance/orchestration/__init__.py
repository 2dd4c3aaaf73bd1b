"""Airflow wiring: DAGs generated from the standards. Logic stays in the library's steps."""
