"""Cross-department profiles: tables joined inside the warehouse from several departments' published data.

What each profile joins is a standard (``standards/profiles/*.yaml``, :mod:`governance.standards.profiles`);
``build`` holds the SQL, run by the profile's Asset-scheduled DAG (:mod:`governance.orchestration.profile_dags`).
"""
