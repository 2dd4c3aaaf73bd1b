"""A suite rule in the words of the standard, for people who fix the data rather than read suites.

A rule id is ``<column>.<kind>`` (``validation.suites``); the column's element gives its Chinese name, format,
code table and validator, from which each rule gets a plain explanation, what to do, and an example of a correct
value. The examples are synthetic: the check-digit examples printed in GB 11643 and GB 32100 themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from governance.standards.catalogue import Catalogue, ResolvedColumn
from governance.standards.formats import strftime_format
from governance.standards.models import Dataset
from governance.validation.reasons import EXPLANATIONS, NUMERIC_CELL, NUMERIC_CELL_RULE

_VALIDATOR_EXAMPLES = {"resident_id": "11010519491231002X", "credit_code": "91350100M000100Y43",
                       "mobile": "13800138000", "person_name": "张三、阿依古丽·买买提"}
_VALIDATOR_TEXT = {
    "resident_id": "须为 18 位公民身份号码 (GB 11643): 地址码、真实的出生日期、顺序码和正确的校验码, 末位 X 大写",
    "credit_code": "须为 18 位统一社会信用代码 (GB 32100): 不含 I、O、Z、S、V, 两处校验码均正确",
    "mobile": "须为 1 开头的 11 位手机号码, 不带 +86 前缀、空格或连字符",
    "person_name": "须为规范姓名: 汉字 (含生僻字), 少数民族姓名的间隔号用 “·” (U+00B7)",
}
_SAMPLE_MOMENT = datetime(2026, 11, 28, 9, 30, 0)


@dataclass(frozen=True)
class RuleText:
    rule: str
    column: str
    element: str  # the element's Chinese name (the column name when the rule is not about one column)
    title: str  # what the rule checks, in a few words
    explanation: str  # what it requires and how to fix a failing value
    example: str  # a correct value ('' where none applies)


def explain_rule(catalogue: Catalogue, dataset: Dataset, rule: str) -> RuleText:
    """The plain-Chinese text of ``rule`` for ``dataset``; an unknown rule is named as it is, never dropped."""
    subject, _, kind = rule.rpartition(".")
    columns = {column.name: column for column in catalogue.columns(dataset)}
    if kind == "unique":
        names = subject.split("+")
        label = "、".join(_name(columns.get(name), name) for name in names)
        return RuleText(rule, subject, label, "主键唯一",
                        f"{label} 是主键, 同一取值只能出现一行: 所有重复行都未发布, 请保留一条正确记录后重新报送。", "")
    if subject == "table" and kind == "columns":
        return RuleText(rule, "", "全表", "列与标准一致",
                        "文件的列名须与标准逐一一致 (不多不少): 请按标准的列清单导出, 不要增删或改名。", "")
    column = columns.get(subject)
    element_name = _name(column, subject)
    if column is None:
        return RuleText(rule, subject, element_name, kind, f"规则 {rule}", "")
    element = column.element
    example = _example(catalogue, column)
    if kind == "not_null":
        return RuleText(rule, subject, element_name, "必填", f"{element_name} 为必填项, 不能为空: 请补全后重新报送。",
                        example)
    if kind == NUMERIC_CELL_RULE:
        return RuleText(rule, subject, element_name, "文本格式单元格", EXPLANATIONS[NUMERIC_CELL], example)
    if kind in _VALIDATOR_TEXT:
        return RuleText(rule, subject, element_name, "格式与校验码", f"{element_name}{_VALIDATOR_TEXT[kind]}。",
                        example)
    if kind == "code_table":
        table = catalogue.code_tables.get(element.domain.code_table or "")
        source = f"《{table.name_zh}》({table.standard})" if table else "标准代码表"
        return RuleText(rule, subject, element_name, "代码表取值",
                        f"{element_name} 须取自 {source} 中的代码 (注意前导零, 如 01 不能写成 1)。", example)
    if kind == "max_length":
        return RuleText(rule, subject, element_name, "长度",
                        f"{element_name} 不超过 {element.max_length} 个字符 (按字计, 生僻字也算一个字)。", example)
    if kind == "pattern":
        return RuleText(rule, subject, element_name, "格式",
                        f"{element_name} 须符合标准规定的格式 {element.format or ''}。", example)
    if kind in ("date", "datetime"):
        layout = element.format or ("YYYY-MM-DD" if kind == "date" else "YYYY-MM-DD hh:mm:ss")
        return RuleText(rule, subject, element_name, "日期格式",
                        f"{element_name} 须为存在的日期, 格式 {layout}; Excel 中请设为日期或文本格式, 不要填纯数字。",
                        example)
    if kind in ("integer", "decimal"):
        digits = (f", 最多 {element.precision[0]} 位数字, 其中小数 {element.precision[1]} 位"
                  if element.precision else "")
        return RuleText(rule, subject, element_name, "数值", f"{element_name} 须为数字{digits}, 不带单位或千分位逗号。",
                        example)
    if kind.startswith("matches_"):
        with_column = kind.removeprefix("matches_")
        other = _name(columns.get(with_column), with_column)
        return RuleText(rule, subject, element_name, f"与{other}一致",
                        f"{element_name} 须与 {other} 中的信息一致 (性别看第 17 位奇偶, 出生日期看第 7-14 位)。", "")
    return RuleText(rule, subject, element_name, kind, f"规则 {rule}", example)


def _name(column: ResolvedColumn | None, fallback: str) -> str:
    return column.element.name_zh if column is not None else fallback


def _example(catalogue: Catalogue, column: ResolvedColumn) -> str:
    element = column.element
    if element.domain.validator:
        return _VALIDATOR_EXAMPLES[element.domain.validator]
    if element.domain.code_table:
        table = catalogue.code_tables.get(element.domain.code_table)
        if table and table.codes:
            code, label = next(iter(table.codes.items()))
            return f"{code} ({label})"
        return ""
    if element.type in ("date", "datetime"):
        return _SAMPLE_MOMENT.strftime(strftime_format(element.format, element.type))
    if element.type == "integer":
        return "120"
    if element.type == "decimal":
        scale = element.precision[1] if element.precision else 2
        return f"{8500:.{scale}f}"
    return ""
