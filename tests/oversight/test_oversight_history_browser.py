"""The oversight page on a fortnight's synthetic history, as a reader sees it in headless chromium.

The page is rendered from a real (SQLite) warehouse holding platform failures and reruns, saved as the file the
bulletin mails, and opened in Debian's chromium at the Airflow UI's width and at a laptop's half screen. It must
read in Chinese, fit the viewport (nothing wider than it, except inside a table's own scroll box), ask the network
for nothing, and draw every department distinguishably. Screenshots: ``var/test-artifacts/oversight-history*.png``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from browser_support import CHROMIUM_ARGS, chromium_path
from oversight_support import (
    ENTERPRISE,
    MEDICAL,
    RESIDENT,
    ensure_access_tables,
    log_calls,
    publish_rows,
    seed_history,
)

from governance.oversight.clocks import freshness_board
from governance.oversight.figures import collect
from governance.oversight.history import record_checks
from governance.oversight.page import render_page
from governance.standards.catalogue import Catalogue
from governance.warehouse import warehouse_engine

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
LABELS = ("数据治理监管", "核心指标", "数据时效看板", "数据质量趋势", "质量评分卡", "平台故障与重跑", "数据调用量",
          "拒绝与拦截的请求", "跨部门数据共享率", "业务日期", "通过率 (%)", "隔离率 (%)", "调用次数 (次)",
          "省公安厅", "省市场监督管理局", "常住人口基本信息", "校验套件错误", "重跑时没有当日数据")
# Every element's right edge, except those inside a scroll box (a wide table scrolls inside the page).
OVERFLOWING = """() => [...document.querySelectorAll('body *')]
  .filter(element => !element.closest('.scroll') || element.classList.contains('scroll'))
  .filter(element => element.getBoundingClientRect().right > window.innerWidth + 0.5)
  .map(element => element.tagName + '.' + element.className + ': ' + (element.textContent || '').slice(0, 40))"""


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory, catalogue: Catalogue) -> Path:
    folder = tmp_path_factory.mktemp("oversight-history")
    engine = warehouse_engine(f"sqlite:///{folder / 'warehouse.db'}")
    now = datetime.now(UTC)
    seed_history(engine, now.date())
    publish_rows(engine, catalogue, RESIDENT, [now - timedelta(hours=3)])
    publish_rows(engine, catalogue, ENTERPRISE, [now - timedelta(hours=60)])
    for hours in (3, 2, 1):
        record_checks(engine, freshness_board(engine, catalogue, now - timedelta(hours=hours)))
    ensure_access_tables(engine)
    log_calls(engine, [(now - timedelta(hours=hours), consumer, key, decision, rows)
                       for hours, consumer, key, decision, rows in (
                           (30, "civil_affairs", RESIDENT, "allowed", 120), (5, "health", RESIDENT, "allowed", 40),
                           (4, "taxation", RESIDENT, "blocked", 0), (50, "taxation", ENTERPRISE, "denied", 0),
                           (2, "taxation", ENTERPRISE, "allowed", 15), (1, "health", MEDICAL, "allowed", 9))])
    page = folder / "oversight.html"
    page.write_text(render_page(collect(engine, catalogue, now - timedelta(days=30), now)), encoding="utf-8")
    engine.dispose()
    return page


@pytest.mark.parametrize(("width", "name"), [(1280, "oversight-history.png"), (760, "oversight-history-narrow.png")])
def test_the_page_reads_in_chinese_fits_the_viewport_and_loads_nothing(page_file: Path, width: int,
                                                                      name: str) -> None:
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 1000})
            page.on("request", lambda request: requests.append(request.url))
            page.goto(page_file.as_uri())
            text = page.locator("body").text_content()  # the SVG charts' text included
            assert [label for label in LABELS if label not in text] == []
            assert page.evaluate(OVERFLOWING) == []
            assert page.evaluate("document.documentElement.scrollWidth") <= width

            panels = page.locator("#pass-rate-panels figure")  # one pass-rate panel per department with runs
            assert panels.count() == 4
            quarantine = page.locator("svg#quarantine-rate")
            legend = quarantine.locator("g.legend-entry")
            assert legend.count() == 4
            looks = {(entry.locator("line").get_attribute("stroke"), entry.locator("line").get_attribute(
                "stroke-dasharray"), entry.locator("path").get_attribute("d").count("L"))
                for entry in legend.all()}
            assert len(looks) == 4  # every department: its own colour, dash pattern and marker shape
            assert len(quarantine.locator(".x-title").inner_html()) and len(quarantine.locator("text").all()) > 8
            for chart in page.locator("svg.chart").all():  # every chart names itself for screen readers
                assert chart.locator("title").first.text_content().strip()
            x_labels = quarantine.locator("text[text-anchor='middle']").all_text_contents()
            assert sum(1 for label in x_labels if label[:2].isdigit()) >= 4  # dates along the axis, not only ends

            cards = page.locator("#department-cards .card")
            security = cards.filter(has_text="省公安厅")
            assert security.locator(".pass-rate").inner_text() == "100.0%"
            assert security.locator(".platform-failures").inner_text() == "1"
            assert security.locator(".reruns").inner_text() == "1"
            assert page.locator("#incidents tr[data-outcome='platform']").count() == 4
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / name), full_page=True)
        finally:
            browser.close()
    assert requests == [page_file.as_uri()]  # the document itself, nothing from any network
