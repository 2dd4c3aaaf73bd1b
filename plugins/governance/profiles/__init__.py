"""Cross-department profiles: tables joined inside the warehouse from several departments' published data.

``definitions`` is plain data (read when DAGs are parsed); ``build`` holds the SQL (imported when a
task runs); ``dag`` turns each profile into an Asset-scheduled DAG.
"""
