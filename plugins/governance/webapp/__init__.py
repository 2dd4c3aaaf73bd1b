"""The web pages and JSON the Airflow plugin mounts at /governance (see governance_plugin.py)."""

from governance.webapp.app import create_app

__all__ = ["create_app"]
