"""The department's quarantine report: Chinese first, summed by reason, the failing cells marked."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from governance.pipeline import quarantine
from governance.validation.reasons import explain


def rows() -> pd.DataFrame:
    return pd.DataFrame({
        "_source_file": ["drop.csv", "drop.csv", "drop.csv"], "_source_line": ["2", "5", "9"],
        "_rules": ["id_number.resident_id", "id_number.resident_id; name.not_null", "mobile.mobile"],
        "_reasons": ["bad_check_digit", "bad_check_digit; missing", "bad_length"],
        "id_number": ["11010519491231002Y", "110105194912310021", "110105194912310020"],
        "name": ["张三", "", "李四"], "mobile": ["13800000000", "13800000001", "1380000"]}, dtype="string")


def test_the_report_sums_rows_by_reason_with_chinese_headers_and_explanations(tmp_path: Path) -> None:
    csv_path, html_path = quarantine.write_reports(rows(), tmp_path, "quarantine_2026-11-27")
    page = html_path.read_text(encoding="utf-8")
    for label in ("隔离报告", "按原因汇总", "来源文件", "行号", "未通过的规则", "原因", "说明"):
        assert label in page
    assert "<th>source_file</th>" not in page and "border=" not in page
    summary = re.search(r'<table class="summary">(.*?)</table>', page, re.DOTALL).group(1)
    counts = dict(re.findall(r"<code>([a-z_]+)</code></td><td>[^<]*</td><td class=\"n\">(\d+)</td>", summary))
    assert counts == {"bad_check_digit": "2", "missing": "1", "bad_length": "1"}
    assert explain("bad_check_digit") in summary
    assert csv_path.read_text(encoding="utf-8-sig").splitlines()[0].startswith("source_file,source_line,rules")


def test_the_cells_of_the_columns_a_row_broke_are_marked(tmp_path: Path) -> None:
    _, html_path = quarantine.write_reports(rows(), tmp_path, "quarantine_2026-11-27")
    body = re.search(r'<table class="rows">.*?<tbody>(.*?)</tbody>', html_path.read_text(encoding="utf-8"),
                     re.DOTALL).group(1)
    marked = [re.findall(r'<td class="bad">([^<]*)</td>', row) for row in re.findall(r"<tr>(.*?)</tr>", body)]
    assert marked == [["11010519491231002Y"], ["110105194912310021", ""], ["1380000"]]
