"""The validate task's log, for a person: counts, verdict, the rules that quarantined most rows with what
they mean in Chinese, and the links to the report and Data Docs, one short line each; and a failed step's
message, wrapped line by line.

Only counts, rule ids and fixed texts are logged (never a value), and every line passes the leak guard's
message rules as well; long lines (a verdict reason, a path) are wrapped so the log view does not cut them.
"""

from __future__ import annotations

import logging
import textwrap
from typing import Any

from governance.orchestration.links import data_docs_url, quarantine_report_url
from governance.validation.reasons import EXPLANATIONS

log = logging.getLogger(__name__)
WIDTH = 100
TOP_RULES = 5
VERDICTS = {"passed": "通过", "passed_with_quarantine": "通过 (部分行已隔离)", "failed": "不通过",
            "held": "暂停发布 (数据量骤减, 待部门确认)"}
# What each kind of generated rule (``<column>.<kind>``) checks, in the reason codes of validation/reasons.py
_RULE_REASONS = {"not_null": "missing", "unique": "duplicate_key", "code_table": "not_in_code_table",
                 "max_length": "bad_length", "pattern": "pattern_mismatch", "date": "bad_date",
                 "datetime": "bad_date", "integer": "bad_number", "decimal": "bad_number", "number": "bad_number",
                 "text_cell": "numeric_cell"}
_RULE_TEXTS = {"resident_id": "身份证号不符合 GB 11643 (长度、出生日期、校验码等), 请核对原始证件",
               "credit_code": "统一社会信用代码不符合 GB 32100, 请核对",
               "mobile": "手机号格式不符 (应为 1 开头的 11 位数字)",
               "person_name": "姓名含有不允许的字符或格式不符",
               "matches_id_number": "与身份证号中的性别或出生日期不一致"}


def rule_meaning(rule: str) -> str:
    """``id_number.unique`` → what the rule checks, in Chinese; an unknown (hand-written) rule keeps its id."""
    kind = rule.rsplit(".", 1)[-1]
    if kind in _RULE_TEXTS:
        return _RULE_TEXTS[kind]
    return EXPLANATIONS.get(_RULE_REASONS.get(kind, ""), "自定义规则 (见校验报告)")


def validate_summary_lines(dag_id: str, summary: dict[str, Any]) -> list[str]:
    received, passed = summary.get("rows_received", 0), summary.get("rows_passed", 0)
    quarantined = summary.get("rows_quarantined", 0)
    verdict = str(summary.get("verdict", ""))
    lines = [f"校验结果 / verdict: {VERDICTS.get(verdict, verdict)} ({verdict})",
             f"接收 {received} 行, 通过 {passed} 行, 隔离 {quarantined} 行 "
             f"(received {received}, passed {passed}, quarantined {quarantined})"]
    for reason in summary.get("verdict_reasons") or []:
        lines += textwrap.wrap(f"不通过原因 / reason: {reason}", WIDTH, subsequent_indent="    ")
    by_rule = sorted((summary.get("quarantined_by_rule") or {}).items(), key=lambda item: (-item[1], item[0]))
    if by_rule:
        lines.append(f"隔离最多的规则 (前 {min(TOP_RULES, len(by_rule))} 条, 共 {len(by_rule)} 条):")
    for rule, count in by_rule[:TOP_RULES]:
        lines += textwrap.wrap(f"{count:>7} 行  {rule}: {rule_meaning(rule)}", WIDTH, subsequent_indent=" " * 11)
    report = quarantine_report_url(dag_id, summary.get("reports") or [])
    docs = data_docs_url(dag_id, summary.get("data_docs"))
    if report:  # a link on a line of its own, never wrapped, so it can be copied whole
        lines += ["隔离报告 (本部门可见) / quarantine report:", f"    {report}"]
    if docs:
        lines += ["校验报告 / Data Docs:", f"    {docs}"]
    return lines


def log_validate_summary(dag_id: str, summary: dict[str, Any]) -> None:
    from governance.redaction.leak_guard import redact_text

    for line in validate_summary_lines(dag_id, summary):
        log.info("%s", redact_text(line))


def failure_lines(message: str) -> list[str]:
    """A failure's message as lines of at most WIDTH characters: its own lines kept, long ones wrapped at spaces
    (a path or a word longer than a line stays whole)."""
    lines = ["任务失败, 重试无效 (数据、标准或密钥错误) / failed, a retry cannot help:"]
    for line in message.splitlines():
        lines += textwrap.wrap(line, WIDTH, initial_indent="  ", subsequent_indent="    ",
                               break_long_words=False, break_on_hyphens=False) or [""]
    return lines


def log_failure(message: str) -> None:
    from governance.redaction.leak_guard import redact_text

    for line in failure_lines(message):
        log.error("%s", redact_text(line))
