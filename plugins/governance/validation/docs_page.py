"""The run's validation page (our Data Docs), rendered with Jinja2 from a count-only GX validation result.

GX's own site builder was replaced for three reasons a provincial intranet cannot live with: its pages load
about sixteen files from public CDNs (bootstrap, jquery, fontawesome, vega: nothing renders offline), they
render the column-match rule's observed value (the file's own column names) as HTML, so a header named
``<img onerror=...>`` ran as script, and they headline GX's "Failed" for a run the pipeline passed with
quarantine. This page is one HTML file and one small style sheet beside it: no script, no external URL, every
string escaped by Jinja2's autoescape, Chinese labels first, and the pipeline's verdict at the top.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

STYLE_FILE = "docs.css"
VERDICTS = {
    "passed": ("通过", "passed", "ok"),
    "passed_with_quarantine": ("通过, 部分行已隔离", "passed with quarantine", "flagged"),
    "failed": ("未通过, 未发布", "failed, nothing published", "failed"),
}
LABELS = {
    "expect_table_columns_to_match_set": "列与标准一致",
    "expect_table_columns_to_match_ordered_list": "列及顺序与标准一致",
    "expect_table_column_count_to_equal": "列数",
    "expect_table_row_count_to_be_between": "行数范围",
    "expect_column_to_exist": "列存在",
    "expect_column_values_to_not_be_null": "不得为空",
    "expect_column_values_to_be_unique": "取值唯一",
    "expect_compound_columns_to_be_unique": "组合主键唯一",
    "expect_column_values_to_be_in_set": "取值在代码集内",
    "expect_column_values_to_be_in_code_table": "取值在代码表内",
    "expect_column_value_lengths_to_be_between": "长度范围",
    "expect_column_values_to_match_regex": "格式",
    "expect_column_values_to_be_valid_date": "有效日期",
    "expect_column_values_to_be_valid_number": "有效数值",
    "expect_column_values_to_be_valid_resident_id": "有效公民身份号码 (GB 11643)",
    "expect_column_values_to_be_valid_credit_code": "有效统一社会信用代码 (GB 32100)",
    "expect_column_values_to_be_valid_mobile_number": "有效手机号码",
    "expect_column_pair_gender_to_match_resident_id": "性别与身份号码一致",
    "expect_column_pair_birth_date_to_match_resident_id": "出生日期与身份号码一致",
    "expect_column_values_to_be_between": "取值范围",
}
_COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list", "batch_id")
_LONG_LIST = 12  # a code table's value set is shown by its size
_OBSERVED = 64  # a header is shown whole (its names already made safe by the runner)
_MISMATCH = {"unexpected": "多出的列 unexpected columns", "missing": "缺少的列 missing columns"}

STYLE = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:16px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:20px}
.verdict{display:inline-block;padding:6px 14px;border-radius:6px;color:#fff;font-size:16px}
.verdict.ok{background:#2ca02c}.verdict.flagged{background:#e08a00}.verdict.failed{background:#d62728}
.verdict.unknown{background:#7f7f7f}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{color:#666}dd{margin:0}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right}tr.fail td{background:#fdecea}
.note{color:#666;font-size:12px}code{font-size:12px}
"""

_TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>数据质量校验 {{ dataset }} · {{ run_id }}</title>
<link rel="stylesheet" href="{{ style }}"></head>
<body>
<h1>数据质量校验报告 Validation report</h1>
<p><span class="verdict {{ verdict.css }}" id="verdict" data-verdict="{{ verdict.status }}">
运行结论 {{ verdict.zh }} · {{ verdict.en }}</span></p>
{% if verdict.reasons %}<ul id="verdict-reasons">{% for reason in verdict.reasons %}<li>{{ reason }}</li>
{% endfor %}</ul>{% endif %}
<dl>
<dt>数据集 Dataset</dt><dd>{{ dataset }}</dd>
<dt>规则集 Suite</dt><dd>{{ suite }}</dd>
{% for label, value in versions %}<dt>{{ label }}</dt><dd><code>{{ value }}</code></dd>
{% endfor %}<dt>运行 Run</dt><dd>{{ run_id }}</dd>
<dt>生成时间 Built</dt><dd>{{ built_at }}</dd>
{% for label, value in counts %}<dt>{{ label }}</dt><dd>{{ value }}</dd>
{% endfor %}
<dt>规则 Rules</dt><dd>{{ statistics.passed }} / {{ statistics.total }} 条通过 passed</dd>
</dl>
<p class="note">规则未通过不等于运行失败: 不符合规则的行被隔离 (quarantined) 并退回提供部门, 其余行照常发布;
运行结论由数据集标准的判定规则决定。本页只含计数与规则, 不含任何数据取值。
A failed row rule quarantines its rows; the run's verdict follows the standard's rules. Counts only, no values.</p>
<h2>规则结果 Rule results</h2>
<table id="rules"><tr><th>#</th><th>规则 Rule</th><th>检查 Check</th><th>列 Column</th><th>参数 Parameters</th>
<th>结果 Result</th><th>不符合行数 Unexpected</th><th>不符合比例 %</th><th>说明 Notes</th></tr>
{% for rule in rules %}<tr class="{{ 'ok' if rule.success else 'fail' }}" data-rule="{{ rule.rule }}">
<td class="num">{{ loop.index }}</td><td><code>{{ rule.rule }}</code></td>
<td>{{ rule.label }}<br><code>{{ rule.type }}</code></td><td>{{ rule.column }}</td>
<td>{% for name, value in rule.parameters %}<code>{{ name }}</code>: {{ value }}<br>{% endfor %}</td>
<td>{{ '通过 passed' if rule.success else '未通过 failed' }}</td>
<td class="num">{{ rule.unexpected }}</td><td class="num">{{ rule.percent }}</td>
<td>{{ rule.notes }}</td></tr>
{% endfor %}</table>
</body></html>
"""

_ENVIRONMENT = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_PAGE = _ENVIRONMENT.from_string(_TEMPLATE)


def render(result: Any, *, dataset: str, run_id: str, built_at: str,
           verdict: Mapping[str, Any] | None = None) -> str:
    """The page for one count-only result (``data_docs.safe_result``); ``verdict`` is the validate step's
    summary (``verdict``, ``verdict_reasons``, row counts, the ``standards`` versions validated against) when the
    pipeline decided one."""
    verdict = verdict or {}
    status = str(verdict.get("verdict") or "")
    zh, en, css = VERDICTS.get(status, ("未判定", "not decided", "unknown"))
    counts = [(label, f"{verdict[key]:,}") for key, label in (
        ("rows_received", "接收行数 Received"), ("rows_passed", "通过行数 Passed"),
        ("rows_quarantined", "隔离行数 Quarantined")) if isinstance(verdict.get(key), int)]
    rules = [_rule(item) for item in result.results]
    standards = verdict.get("standards") or {}
    versions = [(label, standards[key]) for key, label in (
        ("standard_version", "标准版本 Standard version"), ("suite_version", "规则集版本 Suite version"),
        ("standards_commit", "标准提交 Standards commit")) if standards.get(key)]
    return _PAGE.render(
        style=STYLE_FILE, dataset=dataset, run_id=run_id, suite=result.suite_name, built_at=built_at,
        verdict={"status": status or "unknown", "zh": zh, "en": en, "css": css,
                 "reasons": [str(reason) for reason in verdict.get("verdict_reasons") or []]},
        counts=counts, rules=rules, versions=versions,
        statistics={"passed": sum(rule["success"] for rule in rules), "total": len(rules)})


def _rule(item: Any) -> dict[str, Any]:
    config, result = item.expectation_config, item.result or {}
    kwargs = dict(config.kwargs)
    columns = [kwargs[key] for key in ("column_A", "column_B", "column") if isinstance(kwargs.get(key), str)]
    columns += [str(name) for name in kwargs.get("column_list") or []]
    unexpected, percent = result.get("unexpected_count"), result.get("unexpected_percent")
    notes = []
    if "observed_value" in result:
        notes.append(f"实际 observed: {_value(result['observed_value'], _OBSERVED)}")
    mismatched = (result.get("details") or {}).get("mismatched")
    if isinstance(mismatched, dict):
        notes += [f"{_MISMATCH.get(what, what)}: {_value(names, _OBSERVED)}"
                  for what, names in sorted(mismatched.items()) if names]
    if exception := (item.exception_info or {}).get("exception_message"):
        notes.append(str(exception))
    return {
        "rule": (config.meta or {}).get("rule") or config.type, "type": config.type,
        "label": LABELS.get(config.type, config.type.removeprefix("expect_").replace("_", " ")),
        "column": " + ".join(map(str, columns)), "success": bool(item.success),
        "parameters": [(name, _value(value)) for name, value in kwargs.items() if name not in _COLUMN_KWARGS],
        "unexpected": f"{unexpected:,}" if isinstance(unexpected, int) else "",
        "percent": f"{percent:.2f}" if isinstance(percent, int | float) else "",
        "notes": "; ".join(notes),
    }


def _value(value: Any, limit: int = _LONG_LIST) -> str:
    if isinstance(value, list | tuple | set):
        items = list(value)
        if len(items) > limit:
            return f"{len(items)} 项 items"
        return ", ".join(map(str, items))
    return str(value)
