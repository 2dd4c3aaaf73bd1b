"""Department strings are untrusted: what the pipeline writes about a name, and the leak guard over messages.

The end-to-end proof (real Airflow runs of a headerless drop and a hostile header) is
``tests/reliability/test_untrusted_strings.py``; these are the rules it relies on, one by one.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from governance.orchestration.dataset_dag import _execute
from governance.pipeline import quarantine
from governance.pipeline.workarea import WorkArea
from governance.redaction.leak_guard import identifier_counts, redact_exception, redact_json, redact_text
from governance.redaction.untrusted import (
    describe_column,
    describe_columns,
    describe_sheet,
    is_safe_name,
    looks_like_data_row,
)
from governance.sources import SourceError
from governance.sources.files import read_csv

ID, MOBILE = "11010519491231002X", "13912345678"  # a valid check character; a mainland mobile
XSS = "<img src=x onerror=alert(document.domain)>"
ROW = [ID, "王秀英", "2", "1949-12-31", "01", "110105", "北京市朝阳区某街道1号", MOBILE, "2026-11-27 08:00:00"]


@pytest.mark.parametrize("name", ["id_number", "_source_line", "Name2", "a" * 64])
def test_safe_identifiers_are_shown_as_they_are(name: str) -> None:
    assert is_safe_name(name) and describe_column(name, 3, 9) == name


@pytest.mark.parametrize(("name", "shown"), [
    (ID, "column 1 of 9 (name withheld: 18 characters, digits and letters)"),
    (MOBILE, "column 1 of 9 (name withheld: 11 characters, digits)"),
    ("王秀英", "column 1 of 9 (name withheld: 3 characters, Chinese characters)"),
    (XSS, "column 1 of 9 (name withheld: 42 characters, letters and other characters)"),
    ("", "column 1 of 9 (name withheld: empty)"),
    ("a" * 65, "column 1 of 9 (name withheld: 65 characters, letters)"),
])
def test_a_name_that_could_be_data_is_described_never_shown(name: str, shown: str) -> None:
    assert describe_column(name, 1, 9) == shown
    assert name not in shown.replace("name withheld", "") or not name


def test_positions_come_from_the_header_and_a_data_row_is_recognised() -> None:
    header = ["id_number", "name", XSS]
    assert describe_columns([XSS, "name"], header) == ["column 3 of 3 (name withheld: 42 characters, letters and "
                                                       "other characters)", "name"]
    assert looks_like_data_row(ROW) and not looks_like_data_row(["id_number", "name", XSS])
    assert describe_sheet("参保信息", 2, known="参保信息") == "'参保信息'"
    assert describe_sheet("王秀英的表", 2, known="参保信息") == "number 2 (name withheld)"


def test_the_leak_guard_redacts_identifiers_in_messages_and_keeps_the_rest() -> None:
    message = f"unexpected columns: {ID}, {MOBILE}, 110101199003070000123; 484 rows on 2026-11-27 (p-20261127)"
    redacted = redact_text(message)
    assert identifier_counts(pd.Series([redacted])) == {} and ID not in redacted and MOBILE not in redacted
    assert "110101199003070000123" not in redacted  # a long digit run, whatever its check character
    assert redacted.endswith("484 rows on 2026-11-27 (p-20261127)")
    assert redact_json({"message": message, MOBILE: [message], "rows": 3}) == {
        "message": redacted, "[手机号已隐去 mobile withheld]": [redacted], "rows": 3}


def test_a_task_returns_and_raises_through_the_leak_guard(tmp_path: Path) -> None:
    """``_execute`` is every task's way into a step: its return value is XCom and its exception is the task log."""
    run = SimpleNamespace(area=WorkArea.for_run(tmp_path, "dag", "run"),
                          settings=SimpleNamespace(reports_root=tmp_path, docs_root=tmp_path))
    returned = _execute(run, "step", lambda _: {"note": f"found {MOBILE}"})
    assert returned == {"note": "found [手机号已隐去 mobile withheld]"}

    def fails(_: object) -> dict:
        try:
            raise KeyError(ID)
        except KeyError as cause:
            raise SourceError(f"drop.csv: bad header {ID}") from cause

    with pytest.raises(SourceError) as raised:
        _execute(run, "step", fails)
    assert ID not in str(raised.value) and ID not in str(raised.value.__cause__)
    run.area.write_step("validate", {"verdict_reasons": [f"unexpected columns: {MOBILE}"]})
    assert MOBILE not in (run.area.root / "validate.json").read_text(encoding="utf-8")
    assert redact_exception(ValueError(1, MOBILE)).args == (1, "[手机号已隐去 mobile withheld]")


def test_a_headerless_or_hostile_header_is_refused_without_its_names(tmp_path: Path) -> None:
    """Duplicate names in a header line that is really a data row (two fields alike): the error describes them."""
    drop = tmp_path / "drop.csv"
    drop.write_text(",".join([*ROW, "2"]) + "\n" + ",".join([*ROW, "2"]) + "\n", encoding="utf-8")
    with pytest.raises(SourceError) as raised:
        read_csv(drop, encoding="utf-8", delimiter=",")
    message = str(raised.value)
    assert "duplicate column(s) in the header: a name withheld (1 character, digits) at columns 3 and 10 of 10" \
           in message
    assert "is the header line missing?" in message
    assert not any(value in message for value in ROW[:2] + ROW[6:8])


def test_every_cell_and_column_name_of_the_html_report_is_escaped(tmp_path: Path) -> None:
    frame = pd.DataFrame({"_source_file": ["drop.csv"], "_source_line": ["2"], "_rules": ["name.not_null"],
                          "_reasons": ["missing"], XSS: ["<script>alert(1)</script>"], "name": ["\"'><b>x</b>"]},
                         dtype="string")
    _, page = quarantine.write_reports(frame, tmp_path, "quarantine_<i>2026-11-27")
    text = page.read_text(encoding="utf-8")
    for raw in (XSS, "<script>", "<b>x</b>", "<i>"):
        assert raw not in text
    assert html.escape(XSS) in text and html.escape("<script>alert(1)</script>") in text
    assert json.dumps(text)  # one document, nothing else


def test_the_reports_own_style_is_allowed_by_the_pages_content_security_policy(tmp_path: Path) -> None:
    """The report's font list (rare characters need it) is an inline style: the CSP must allow exactly it."""
    from governance.webapp.headers import CONTENT_SECURITY_POLICY, style_hash

    frame = pd.DataFrame({"_source_file": ["drop.csv"], "_source_line": ["2"], "_rules": ["name.not_null"],
                          "_reasons": ["missing"], "name": ["王𠀀"]}, dtype="string")
    _, page = quarantine.write_reports(frame, tmp_path, "quarantine_2026-11-27")
    styles = re.findall(r"<style>(.*?)</style>", page.read_text(encoding="utf-8"), re.DOTALL)
    assert styles and all(style_hash(style) in CONTENT_SECURITY_POLICY for style in styles)
