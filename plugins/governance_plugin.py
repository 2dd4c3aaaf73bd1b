"""The Airflow plugin: wires the governance library into Airflow, nothing more.

It mounts the library's web app at /governance (behind Airflow's login and auth manager), the sharing API at
/sharing (behind its own department tokens) and adds a "Data governance" entry to the Airflow
UI's navigation.
"""

from typing import Any, ClassVar

from airflow.api_fastapi.core_api.security import get_user
from airflow.plugins_manager import AirflowPlugin

from governance.sharing import create_sharing_app
from governance.webapp import create_app


class GovernancePlugin(AirflowPlugin):
    name = "governance"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": create_app(require_user=get_user), "url_prefix": "/governance", "name": "Data governance"},
        # Consumer departments' API: authenticated by its own department tokens (Airflow gives a mounted
        # app none), docs off here; connects to the warehouse on the first call, not at import.
        {"app": create_sharing_app(docs=False), "url_prefix": "/sharing", "name": "Data sharing API"},
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {"name": "Nightly runs", "href": "/governance/runs/page", "url_route": "governance-runs",
         "destination": "nav", "category": "Data governance"},
        {"name": "Oversight", "href": "/governance/oversight/page", "url_route": "governance-oversight",
         "destination": "nav", "category": "Data governance"},
        # The security officer's log of raw-report requests; the page itself refuses everyone else (403).
        {"name": "Raw report views", "href": "/governance/audit/report-views/page",
         "url_route": "governance-report-views", "destination": "nav", "category": "Data governance"},
        # The standards owner's view of `governance suites impact` on real deliveries (datasets they may read).
        {"name": "Suite impact", "href": "/governance/impact/page", "url_route": "governance-suite-impact",
         "destination": "nav", "category": "Data governance"},
    ]
