"""Airflow DAGs: one cross-department profile per definition in governance.profiles.definitions.

Each DAG is ``profile__<name>``, scheduled on the Assets of the datasets it joins.
"""

from governance.profiles.dag import build_profile_dags

globals().update(build_profile_dags())
