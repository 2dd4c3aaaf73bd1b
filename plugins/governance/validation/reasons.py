"""What each quarantine reason means, in the words the providing department needs to fix its file.

Reasons are snake_case codes (``runner`` for rules, ``identifiers`` for the identifier checks); the
department's quarantine report shows each row's codes with these explanations beside them.
"""

from __future__ import annotations

NUMERIC_CELL = "numeric_cell"
NUMERIC_CELL_RULE = "text_cell"  # the rule id is ``<column>.text_cell``

EXPLANATIONS: dict[str, str] = {
    NUMERIC_CELL: ("该单元格在 Excel 中是数值 (或日期) 格式, 不是文本: 数值格式会丢掉前导零, "
                   "超过 15 位的号码 (如身份证号) 保存时后几位已被改变, 因此无论显示什么数字都不能采用。"
                   "请把该列设为“文本”格式 (或在号码前加英文单引号 '), 重新录入这些号码后重新报送"),
    "missing": "必填项为空, 请补全后重新报送",
    "duplicate_key": "主键重复: 同一主键出现多次, 所有重复行都未发布; 请保留一条正确记录后重新报送",
    "not_in_code_table": "代码不在标准代码表中 (注意前导零, 如民族 01 不能写成 1), 请按代码表填写",
    "bad_length": "长度不符合标准",
    "pattern_mismatch": "格式不符合标准",
    "bad_date": "日期格式不符 (标准格式如 2026-11-28) 或日期不存在; Excel 中请把该列设为日期格式, 不要填纯数字",
    "bad_number": "不是合规的数字, 或位数 / 小数位超出标准",
    "gender_mismatch": "性别与身份证号第 17 位 (奇数为男, 偶数为女) 不一致",
    "birth_date_mismatch": "出生日期与身份证号中的出生日期不一致",
    "whitespace": "含有空格、制表符或全角空格, 请删除",
    "full_width_digits": "含全角数字或字母 (如 １２３), 请改为半角",
    "scientific_notation": ("号码已变成科学计数法 (如 3.30106E+17), 后几位已丢失: "
                            "请把该列设为“文本”格式, 重新录入后报送"),
    "legacy_15_digit": "15 位旧身份证号, 请换成 18 位号码",
    "bad_characters": "含有不允许的字符",
    "bad_region_code": "身份证号前两位不是有效的省级代码",
    "bad_birth_date": "身份证号中的出生日期不存在",
    "future_birth_date": "身份证号中的出生日期晚于今天",
    "bad_check_character": "校验码错误: 号码中至少有一位录入错误, 请核对原始证件",
    "lowercase_check_character": "校验码 x 应为大写 X",
    "bad_organization_code": "统一社会信用代码第 9-17 位 (组织机构代码) 的校验码错误, 请核对",
    "has_country_prefix": "手机号带有 +86 / 86 前缀, 请只填 11 位号码",
    "has_separators": "手机号含有空格或连字符, 请只填 11 位数字",
    "bad_format": "格式不符合标准 (手机号应为 1 开头的 11 位数字)",
}


def explain(reasons: str) -> str:
    """The explanations of a row's reasons (``"a; b"``, as in the quarantine), in the same order."""
    return "; ".join(EXPLANATIONS.get(reason, reason) for reason in reasons.split("; ") if reason)
