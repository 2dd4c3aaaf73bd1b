"""Airflow DAG ``governance__weekly_bulletin``: Mondays 08:00 (Asia/Shanghai), last week's 每周进度通报 as
HTML and a formula-safe CSV in ``GOVERNANCE_BULLETIN_ROOT`` (default ``var/bulletins``).
"""

from governance.orchestration.oversight_dags import build_bulletin_dag

weekly_bulletin = build_bulletin_dag()
