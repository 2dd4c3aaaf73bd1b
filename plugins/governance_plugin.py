"""The Airflow plugin: wires the governance library into Airflow, nothing more.

It mounts the library's web app at /governance (behind Airflow's login and auth manager), the sharing API at
/sharing (behind its own department tokens) and adds the console to the Airflow UI's navigation.

Airflow 3.3's UI (checked in its sources: ``nav_top_level`` and ``category`` of ``external_views``) puts an
entry with ``nav_top_level`` in the sidebar by itself, ignoring its category; entries without it go under
"Plugins", grouped by ``category`` into submenus. So "数据治理" is one top-level entry opening the console
(its own navigation bar lists every page), and each page also has its own entry under Plugins › 数据治理, so a
page keeps its own address in the UI (``/plugin/<url_route>``).
"""

from typing import Any, ClassVar

from airflow.api_fastapi.core_api.security import get_user
from airflow.plugins_manager import AirflowPlugin

from governance.sharing.app import create_sharing_app
from governance.webapp import create_app
from governance.webapp.templating import NAV

CATEGORY = "数据治理"


class GovernancePlugin(AirflowPlugin):
    name = "governance"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": create_app(require_user=get_user), "url_prefix": "/governance", "name": "Data governance"},
        # Consumer departments' API: authenticated by its own department tokens (Airflow gives a mounted
        # app none), docs off here; connects to the warehouse on the first call, not at import.
        {"app": create_sharing_app(docs=False), "url_prefix": "/sharing", "name": "Data sharing API"},
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {"name": CATEGORY, "href": "/governance/runs/page", "url_route": "governance", "destination": "nav",
         "nav_top_level": True, "icon": "/governance/static/icon.svg"},
        # The console's own navigation, in its order: /plugin/governance-runs, /plugin/governance-quarantine, ...
        *({"name": label, "href": f"/governance{path}", "url_route": f"governance-{key}", "destination": "nav",
           "category": CATEGORY} for key, label, path in NAV),
    ]
