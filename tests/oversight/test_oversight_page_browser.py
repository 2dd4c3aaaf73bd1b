"""The oversight page in a real browser, inside the real Airflow UI, behind Airflow's real login.

Needs Debian's chromium (``apt-get install -y chromium``; ``.ci/run`` installs it). Without it the
browser test is skipped with the reason, except under ``CI=true``, where it fails: CI must run it.
The screenshot goes to ``var/test-artifacts/oversight.png`` (var/ is not committed).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser_support import CHROMIUM_ARGS, chromium_path
from oversight_support import EXPECTED_STATUS

from governance.oversight.page import COLOURS
from governance.standards.catalogue import Catalogue

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "var" / "test-artifacts"
ROUTES = ["/governance/oversight/page", "/governance/oversight/freshness", "/governance/oversight/scorecards",
          "/governance/oversight/access"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def expected_board(catalogue: Catalogue) -> dict[str, str]:
    return {key: EXPECTED_STATUS.get(key, "never-loaded") for key in catalogue.datasets}


@pytest.mark.parametrize("path", ROUTES)
def test_the_real_api_server_refuses_anonymous_and_forged_requests(airflow_api, path: str) -> None:
    anonymous = httpx.get(airflow_api.base + path, timeout=30)
    assert anonymous.status_code == 401
    forged = httpx.get(airflow_api.base + path, headers={"Authorization": "Bearer not-a-token"}, timeout=30)
    assert forged.status_code == 403
    cookie = httpx.get(airflow_api.base + path, cookies={"_token": "forged"}, timeout=30)
    assert cookie.status_code == 403
    assert "data-dataset" not in anonymous.text + forged.text + cookie.text


def test_a_logged_in_user_gets_the_json(airflow_api, catalogue: Catalogue) -> None:
    auth = {"Authorization": f"Bearer {airflow_api.token}"}
    board = httpx.get(f"{airflow_api.base}/governance/oversight/freshness", headers=auth, timeout=60)
    assert board.status_code == 200
    assert {item["dataset_key"]: item["status"] for item in board.json()} == expected_board(catalogue)


def test_the_oversight_page_in_the_airflow_ui(airflow_api, browser, catalogue: Catalogue) -> None:
    timings = dict(airflow_api.timings)
    context = browser.new_context(viewport={"width": 1500, "height": 1900})
    context.add_cookies([{"name": "_token", "value": airflow_api.token, "url": airflow_api.base}])
    page = context.new_page()
    try:
        started = time.monotonic()
        page.goto(f"{airflow_api.base}/governance/oversight/page")
        page.wait_for_selector("#freshness-board [data-dataset]", timeout=60_000)
        timings["direct_page_s"] = round(time.monotonic() - started, 2)
        direct = _board(page.locator("#freshness-board [data-dataset]"))
        assert direct == expected_board(catalogue)
        assert page.locator("svg.chart").count() >= 4
        assert "跨部门数据共享率" in page.locator("#headline").inner_text()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "oversight-direct.png"), full_page=True)

        started = time.monotonic()
        page.goto(f"{airflow_api.base}/plugin/governance-oversight")
        frame = page.frame_locator("iframe")
        frame.locator("#freshness-board [data-dataset]").first.wait_for(timeout=90_000)
        timings["airflow_ui_page_s"] = round(time.monotonic() - started, 2)
        in_ui = _board(frame.locator("#freshness-board [data-dataset]"))
        assert in_ui == expected_board(catalogue)
        for key, status in in_ui.items():  # the colour follows the status
            tile = frame.locator(f"#freshness-board [data-dataset='{key}']")
            assert f"status-{status}" in tile.get_attribute("class")
            # ... and is painted: the page's style block is allowed by its hash under the Content-Security-Policy
            assert tile.evaluate("element => getComputedStyle(element).borderLeftColor") == _rgb(COLOURS[status])
        page.screenshot(path=str(ARTIFACTS / "oversight.png"), full_page=True)
    finally:
        context.close()
    (ARTIFACTS / "oversight-timings.json").write_text(json.dumps(timings, indent=2))
    print(f"oversight browser test timings: {timings}")
    assert (ARTIFACTS / "oversight.png").stat().st_size > 10_000


def _rgb(colour: str) -> str:
    red, green, blue = (int(colour[index:index + 2], 16) for index in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def _board(tiles) -> dict[str, str]:
    return {tiles.nth(index).get_attribute("data-dataset"): tiles.nth(index).get_attribute("data-status")
            for index in range(tiles.count())}
