"""Airflow DAGs: one per cross-department profile in standards/profiles/.

Each DAG is ``profile__<name>``, scheduled on the Assets of the datasets it joins.
"""

from governance.orchestration.profile_dags import build_profile_dags

globals().update(build_profile_dags())
