"""The weekly bulletin: which week, what the CSV holds (formula-safe), and the two commands."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from oversight_support import (
    ENTERPRISE,
    RESIDENT,
    SHANGHAI,
    SUITE_TYPO,
    ensure_access_tables,
    log_calls,
    publish_rows,
    record_run,
)

from governance.oversight.bulletin import last_week_ending, safe_cell, week_sunday, week_window, write_bulletin
from governance.oversight.clocks import freshness_board
from governance.oversight.history import record_checks
from governance.standards.catalogue import Catalogue
from governance.warehouse import warehouse_engine

GOVERNANCE = str(Path(sys.executable).with_name("governance"))
WEEK_ENDING = date(2026, 11, 22)  # a Sunday


@pytest.mark.parametrize(("today", "expected"), [
    (date(2026, 11, 23), date(2026, 11, 22)),  # Monday: yesterday
    (date(2026, 11, 28), date(2026, 11, 22)),  # Saturday: last Sunday
    (date(2026, 11, 29), date(2026, 11, 22)),  # Sunday: that week is not over yet
])
def test_the_default_week_is_the_last_complete_one(today: date, expected: date) -> None:
    assert last_week_ending(today) == expected


def test_a_week_runs_from_monday_midnight_to_the_next_monday_midnight_local() -> None:
    since, until = week_window(WEEK_ENDING, "Asia/Shanghai")
    assert since == datetime(2026, 11, 16, tzinfo=SHANGHAI)
    assert until == datetime(2026, 11, 23, tzinfo=SHANGHAI)


@pytest.mark.parametrize("day", [date(2026, 11, 16), date(2026, 11, 19), date(2026, 11, 22)])
def test_any_day_names_the_iso_week_holding_it_never_thursday_to_wednesday(day: date) -> None:
    """The demo passes its business date (a Wednesday, say): the bulletin is that Monday-to-Sunday week."""
    assert week_sunday(day) == WEEK_ENDING
    assert week_window(day, "Asia/Shanghai") == week_window(WEEK_ENDING, "Asia/Shanghai")


def test_the_monday_run_reports_the_previous_complete_iso_week() -> None:
    monday = date(2026, 11, 23)
    assert week_window(last_week_ending(monday), "Asia/Shanghai") == (datetime(2026, 11, 16, tzinfo=SHANGHAI),
                                                                     datetime(2026, 11, 23, tzinfo=SHANGHAI))


@pytest.mark.parametrize(("value", "safe"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1", "'+1"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("医疗机构", "医疗机构"), (-12.5, -12.5), (3, 3), (None, "")])
def test_text_that_a_spreadsheet_would_execute_is_neutralised(value: object, safe: object) -> None:
    assert safe_cell(value) == safe


def seed_week(engine: sa.Engine, catalogue: Catalogue) -> None:
    for day in range(16, 23):
        record_run(engine, RESIDENT, date(2026, 11, day), received=1000 + day, quarantined=10)
    record_run(engine, ENTERPRISE, date(2026, 11, 21), verdict="failed")
    record_run(engine, RESIDENT, date(2026, 11, 18), verdict="failed", received=None, message=SUITE_TYPO, attempt=9,
               finished=datetime(2026, 11, 19, 2, tzinfo=SHANGHAI))  # a platform failure before the good run
    record_run(engine, RESIDENT, date(2026, 11, 9))  # the week before: not counted
    record_run(engine, RESIDENT, date(2026, 11, 15), received=5, quarantined=5)  # the Sunday before: not counted
    record_run(engine, RESIDENT, date(2026, 11, 23), verdict="failed")  # the Monday after: not counted
    publish_rows(engine, catalogue, RESIDENT, [datetime(2026, 11, 22, 23, tzinfo=SHANGHAI)])
    ensure_access_tables(engine)
    log_calls(engine, [(datetime(2026, 11, 18, 10, tzinfo=SHANGHAI), "=cmd|'/c calc'!A1", RESIDENT, "denied", 0),
                       (datetime(2026, 11, 18, 11, tzinfo=SHANGHAI), "civil_affairs", RESIDENT, "allowed", 30)])
    for hour in range(3):  # three hourly checks inside the week
        moment = datetime(2026, 11, 20, 9 + hour, tzinfo=SHANGHAI)
        record_checks(engine, freshness_board(engine, catalogue, moment))


def test_the_bulletin_holds_the_weeks_figures(warehouse: sa.Engine, catalogue: Catalogue, tmp_path: Path) -> None:
    seed_week(warehouse, catalogue)
    now = datetime(2026, 11, 23, 8, tzinfo=SHANGHAI)
    bulletin = write_bulletin(warehouse, catalogue, WEEK_ENDING, now=now, root=tmp_path / "out")

    assert bulletin.html == tmp_path / "out" / "bulletin_2026-11-22.html"
    page = bulletin.html.read_text(encoding="utf-8")
    assert "数据共享与治理每周进度通报 2026-11-16 至 2026-11-22" in page
    assert page.count("data-dataset=") >= len(catalogue.datasets)
    assert 'href="freshness"' not in page  # no links to the live JSON in a file that travels
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "质量评分卡" in page and "平台故障与重跑" in page and 'id="pass-rate-panels"' in page
    assert "2026-11-16" in page and "11-22" in page  # the charts' date axis covers Monday to Sunday
    quality = page.split('id="sec-quality"')[1].split('id="sec-access"')[0]
    assert "11-23" not in quality and "11-15" not in quality  # neither the Sunday before nor the Monday after

    raw = bulletin.csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read the Chinese as UTF-8
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    figures = {(row["section"], row["scope"], row["metric"]): row["value"] for row in rows}
    assert {row["week_ending"] for row in rows} == {"2026-11-22"}
    assert figures[("quality_dataset", RESIDENT, "runs")] == "8"
    assert figures[("quality_dataset", RESIDENT, "days_counted")] == "7"
    assert figures[("quality_dataset", RESIDENT, "platform_failures")] == "1"
    assert figures[("quality_dataset", RESIDENT, "pass_rate")] == "1.0"  # the suite's typo is not the department's
    assert figures[("incident", RESIDENT, "2026-11-18 platform")] == "校验套件错误"
    assert figures[("quality_department", "market_regulation", "failed: 超过标准的隔离上限或表级规则未通过")] == "1"
    assert float(figures[("quality_dataset", RESIDENT, "quarantine_rate")]) == pytest.approx(70 / 7133, abs=1e-4)
    assert float(figures[("quality_dataset", RESIDENT, "volume_change_pct")]) == pytest.approx(100 / 1021, abs=1e-4)
    assert figures[("quality_department", "market_regulation", "pass_rate")] == "0.0"
    assert figures[("quality_dataset", RESIDENT, "freshness_sla")] == "0.0"  # skewed then: data from the 22nd
    assert figures[("access", RESIDENT, "calls")] == "2" and figures[("access", RESIDENT, "rows_served")] == "30"
    assert figures[("access", ENTERPRISE, "never_used")] == "1"
    assert figures[("headline", "platform", "datasets")] == "6"
    assert figures[("freshness", RESIDENT, "title_zh")] == "常住人口基本信息"
    # a hostile consumer name never reaches the CSV (only counts do), and text cells are neutralised
    assert "calc" not in raw.decode("utf-8-sig")
    assert all(not value.startswith(("=", "+", "@")) for row in rows for value in row.values())


def cli(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    environment |= {"GOVERNANCE_VAR_ROOT": str(tmp_path), "GOVERNANCE_WAREHOUSE_URL": url}
    return subprocess.run([GOVERNANCE, *args], env=environment, capture_output=True, text=True, timeout=120)


def test_the_commands_print_freshness_and_write_the_bulletin(tmp_path: Path, catalogue: Catalogue) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse' / 'warehouse.db'}"
    engine = warehouse_engine(url)
    record_run(engine, RESIDENT, date.today() - timedelta(days=1), finished=datetime.now(SHANGHAI))
    engine.dispose()

    done = cli(tmp_path, url, "freshness")
    assert done.returncode == 0, done.stderr
    assert RESIDENT in done.stdout and "never-loaded" in done.stdout and "1 of 6 datasets fresh" in done.stdout
    assert cli(tmp_path, url, "freshness", "--check").returncode == 1  # five were never loaded
    assert '"dataset_key": "public_security/resident_population"' in cli(tmp_path, url, "freshness", "--json").stdout

    done = cli(tmp_path, url, "bulletin", "--week-ending", "2026-11-22")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "bulletins" / "bulletin_2026-11-22.html").is_file()
    assert (tmp_path / "bulletins" / "bulletin_2026-11-22.csv").is_file()
    assert str(tmp_path / "bulletins" / "bulletin_2026-11-22.html") in done.stdout
