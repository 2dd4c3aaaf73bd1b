"""The standards owner's page: what a proposed suite would do to the last nights' real deliveries.

``governance suites impact`` (run where the landing folder is readable) keeps its latest report per dataset
(``validation.impact_reports``); this page shows the reports of the datasets the user may read (read access
to the dataset's DAG, as for its runs). Examples in a report are masked as ``suites preview`` masks them.
"""

from __future__ import annotations

from typing import Any

import jinja2
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from governance.settings import get_settings
from governance.validation.impact_reports import impact_folder, saved_reports
from governance.webapp.authz import Access, current_access

router = APIRouter(prefix="/impact", tags=["standards"])
AccessDep = Depends(current_access)

_TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>规则变更影响 Suite impact</title></head>
<body>
<h1>规则变更影响 / Impact of suite changes on real deliveries</h1>
<p>由 <code>governance suites impact &lt;数据集&gt; --nights N</code> 生成, 每个数据集保留最近一次结果;
示例均已脱敏。 Written by <code>governance suites impact</code>; the latest report per dataset, examples masked.</p>
{% if not reports %}<p id="none">暂无可查看的影响分析。 No impact report you may read yet.</p>{% endif %}
{% for dag_id, report in reports %}
<section id="{{ dag_id }}">
<h2>{{ report.dataset_key }}</h2>
<p>拟用规则集 proposed <code>{{ report.proposed }}</code> · 现行规则集 current <code>{{ report.current }}</code>
· 生成于 computed {{ report.computed_at }}</p>
<table border="1" cellpadding="4">
<tr><th>业务日期 Date</th><th>接收行数 Received</th><th>隔离 现行→拟用 Quarantined</th>
<th>新增隔离 Newly quarantined</th><th>新增放行 Newly released</th><th>结论 现行→拟用 Verdict</th></tr>
{% for night in report.nights %}<tr>
<td>{{ night.day }}</td><td>{{ night.received }}</td>
<td>{{ night.quarantined_current }} → {{ night.quarantined_proposed }}</td>
<td>{{ night.newly_quarantined }}</td><td>{{ night.newly_released }}</td>
<td>{{ night.verdict_current }} → {{ night.verdict_proposed }}</td></tr>
{% for rule in night.rules %}<tr class="rule"><td></td><td colspan="2"><code>{{ rule.rule }}</code></td>
<td>{{ rule.newly_quarantined }}</td><td>{{ rule.newly_released }}</td>
<td>{% for example in rule.examples %}<code>{{ example }}</code><br>{% endfor %}</td></tr>
{% endfor %}{% endfor %}
</table>
{% if not report.nights|selectattr("rules")|list %}<p>这些日期没有任何行的结果改变。 No row changes its fate on
these nights.</p>{% endif %}
</section>
{% endfor %}
</body></html>
"""
_PAGE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(_TEMPLATE)


@router.get("")
def impact_reports(access: Access = AccessDep) -> dict[str, Any]:
    """The latest impact report of every dataset the user may read, by DAG id."""
    return _readable(access)


@router.get("/page", response_class=HTMLResponse)
def impact_page(access: Access = AccessDep) -> str:
    return _PAGE.render(reports=sorted(_readable(access).items()))


def _readable(access: Access) -> dict[str, Any]:
    return {dag_id: report for dag_id, report in saved_reports(impact_folder(get_settings())).items()
            if access.dataset(dag_id)}
