"""The console's pages: Jinja2 templates (autoescape on) under ``webapp/templates``, one style sheet.

Every page extends ``base.html`` (top bar, the console's navigation, the user's name) and links the style sheet
``/governance/static/console.css``, served by the app itself (the CSP allows styles from 'self'; no script, no
CDN). Links are built from the app's mount point (``root_path``), so they hold at ``/governance`` in Airflow and
at ``/`` in tests. Labels are Chinese first, English after.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from governance.oversight.freshness import FRESH, LABELS_ZH, NEVER_LOADED, SKEWED, STALE, WARN
from governance.settings import get_settings
from governance.webapp.headers import HEADERS

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
# (key, label, path under the app): the console's navigation, and the Airflow menu's entries under Plugins ›
# 数据治理 (``/plugin/governance-<key>``), in this order.
NAV = (
    ("runs", "运行记录", "/runs/page"),
    ("quarantine", "隔离审核", "/quarantine/page"),
    ("datasets", "数据集", "/datasets/page"),
    ("oversight", "监督考核", "/oversight/page"),
    ("impact", "标准变更影响", "/impact/page"),
    ("audit", "原始报告查看日志", "/audit/report-views/page"),
)
VERDICTS = {  # verdict: (Chinese, English, badge style)
    "passed": ("通过", "passed", "ok"),
    "passed_with_quarantine": ("通过, 部分隔离", "passed with quarantine", "warn"),
    "held_for_confirmation": ("暂停, 待部门确认", "held for confirmation", "hold"),
    "failed": ("未通过", "failed", "bad"),
}
STATUSES = {"open": ("待处理", "open", "warn"), "resubmitted": ("已重报仍未通过", "resubmitted", "bad"),
            "closed": ("已关闭", "closed", "ok")}
SHARING = {"unconditional": "无条件共享", "conditional": "有条件共享", "not_shared": "不予共享"}
CYCLES = {"daily": "每日", "weekly": "每周", "monthly": "每月"}
MASKING = {"none": "不脱敏", "partial": "部分遮盖", "pseudonym": "假名化 (带密钥哈希)", "encrypt": "加密",
           "generalize": "泛化", "suppress": "不发布"}
FRESHNESS = {status: (LABELS_ZH[status], css) for status, css in
             ((FRESH, "ok"), (WARN, "warn"), (STALE, "bad"), (NEVER_LOADED, "hold"), (SKEWED, "warn"))}


def _local(value: datetime | date | None) -> str:
    """A stored timestamp (naive UTC) in the platform's time zone, to the minute; a date as it is."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))
        return aware.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _number(value: Any) -> str:
    return "" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def _breakable(value: Any) -> Markup:
    """The text escaped, with a line-break opportunity after each ``/``, ``_`` and ``.``: a dataset key, path or
    table name wraps between its words, never inside one."""
    return Markup("<wbr>").join(escape(part) for part in re.split(r"(?<=[/_.])", "" if value is None else str(value)))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} 分 {rest} 秒" if minutes else f"{rest} 秒"


ENVIRONMENT = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                 undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
ENVIRONMENT.filters.update(local=_local, number=_number, duration=_duration, wbr=_breakable)
ENVIRONMENT.globals.update(VERDICTS=VERDICTS, STATUSES=STATUSES, SHARING=SHARING, CYCLES=CYCLES,
                           MASKING=MASKING, FRESHNESS=FRESHNESS)


def base_path(request: Request) -> str:
    """Where the app is mounted (``/governance`` in Airflow), for links between its pages."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def render(request: Request, template: str, *, active: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A console page: ``template`` with the layout's context (mount point, current entry, user name)."""
    access = getattr(request.state, "governance_access", None)
    user = access.name if access is not None else ""
    html = ENVIRONMENT.get_template(template).render(base=base_path(request), active=active, user=user,
                                                     nav=navigation(access), **context)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def navigation(access: Any) -> list[tuple[str, str, str]]:
    """The console's entries this user may open: the oversight page and the audit need their own permission."""
    if access is None:
        return []
    needs = {"oversight": access.oversight, "audit": access.report_views}
    return [entry for entry in NAV if entry[0] not in needs or needs[entry[0]]()]


def message_page(request: Request, status_code: int, title: str, detail: str, *, retry: bool) -> HTMLResponse:
    """A refusal or a failure as a page in the console's layout: what happened and whether a retry can help."""
    return render(request, "message.html", active="", status_code=status_code, title=title, detail=detail,
                  retry=retry, failure=status_code >= 500)
