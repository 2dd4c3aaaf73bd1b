"""Issue 15: every console page, in Chromium, for two departments' stewards, as they look inside Airflow.

The app is mounted at ``/governance`` of a local server, as the plugin mounts it; the login is the auth
stand-in of ``tests/auth_stubs.py`` (a ``_token`` cookie naming the user, department-scoped permissions), since
who may see what is proven against Airflow's real auth managers in ``test_authorization`` and
``test_pages_fab_server``. Each page must show its Chinese labels and real content, load nothing from any host
but the loopback one, answer no 5xx, and have no element wider than the viewport (the iframe Airflow gives it).
Screenshots: ``var/test-artifacts/console-<user>-<page>.png``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from auth_stubs import ByDepartment, Steward
from browser_support import CHROMIUM_ARGS, chromium_path
from console_seed import HOSTILE, RAW_VALUE, seed
from fastapi import FastAPI, HTTPException, Request
from test_pages_fab_server import ARTIFACTS

from governance.warehouse import warehouse_engine
from governance.webapp import create_app

pytestmark = pytest.mark.slow
USERS = {"steward-a": Steward("civil_affairs"), "steward-b": Steward("health")}
VIEWPORT = {"width": 1180, "height": 900}  # Airflow's window of 1280 less its sidebar
# (page name, path, labels that must be there): per department, {own} is its dataset key.
PAGES = (
    ("runs", "/governance/runs/page", ("运行记录", "各数据集最新情况", "最近一次成功发布", "历史运行", "Airflow 运行")),
    ("runs-failed", "/governance/runs/page?verdict=failed", ("未通过", "the drop holds no rows")),
    ("quarantine", "/governance/quarantine/page", ("隔离审核", "待处理", "可查看行内容")),
    ("review", "/governance/quarantine/{own}/page", ("正确示例", "下载 Excel", "行内容 (已脱敏")),
    ("datasets", "/governance/datasets/page", ("数据集", "更新周期", "共享类型")),
    ("dataset", "/governance/datasets/{own}/page",
     ("目录信息", "数据项与数据元", "校验规则", "各规则隔离占比", "使用情况", "版本")),
    ("impact", "/governance/impact/page", ("标准变更影响",)),
    ("audit-refused", "/governance/audit/report-views/page", ("无权访问",)),
)
OWN = {"steward-a": "civil_affairs/subsistence_allowance", "steward-b": "health/medical_institution"}


def login(request: Request) -> Steward:
    user = USERS.get(request.cookies.get("_token", ""))
    if user is None:
        raise HTTPException(status_code=401, detail="Not authenticated")
    return user


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    var_root = tmp_path_factory.mktemp("console")
    patch = pytest.MonkeyPatch()
    url = f"sqlite:///{var_root / 'warehouse.db'}"
    patch.setenv("GOVERNANCE_VAR_ROOT", str(var_root))
    patch.setenv("GOVERNANCE_WAREHOUSE_URL", url)
    engine = warehouse_engine(url)
    seed(engine, var_root)
    engine.dispose()
    root = FastAPI()
    root.mount("/governance", create_app(require_user=login, auth_manager=ByDepartment))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    running = uvicorn.Server(uvicorn.Config(root, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.1)
    assert httpx.get(f"{base}/governance/runs").status_code == 401
    try:
        yield base
    finally:
        running.should_exit = True
        thread.join(timeout=10)
        patch.undo()


WIDER_THAN_VIEWPORT = """() => {
  const limit = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > limit + 1);
  return wide.slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
}"""


@pytest.mark.parametrize("user", sorted(USERS))
def test_every_console_page_in_chromium(server: str, user: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
            context.add_cookies([{"name": "_token", "value": user, "url": server}])
            page = context.new_page()
            page.on("request", lambda request: requested.append(request.url))
            errors: list[str] = []  # a CSP violation (a blocked style or script) is reported on the console
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            for name, path, labels in PAGES:
                response = page.goto(server + path.format(own=OWN[user]))
                assert response is not None and response.status < 500, (name, response and response.status)
                page.wait_for_selector("header.topbar nav a")
                text = page.inner_text("body")
                for label in labels:
                    assert label in text, (user, name, label)
                assert RAW_VALUE not in page.content() and "<script>" not in page.content().replace(
                    "&lt;script&gt;", "")
                assert page.evaluate(WIDER_THAN_VIEWPORT) == [], (user, name)
                assert [error for error in errors if "403" not in error] == [], (user, name)
                # the style sheet applied: Airflow's light background on the page, cards in white
                assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(244, 244, 245)"
                shot = ARTIFACTS / f"console-{user}-{name}.png"
                page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
        finally:
            browser.close()
    hosts = {urlsplit(url).hostname for url in requested}
    assert hosts == {"127.0.0.1"}, hosts


def test_a_steward_sees_its_own_rows_and_only_counts_of_nothing_else(server: str) -> None:
    """Steward B asks for A's review and dataset pages: a Chinese refusal, no row, no title of A's."""
    cookies = {"_token": "steward-b"}
    for path in ("/governance/quarantine/civil_affairs/subsistence_allowance/page",
                 "/governance/datasets/civil_affairs/subsistence_allowance/page"):
        refused = httpx.get(server + path, cookies=cookies, headers={"Accept": "text/html"})
        assert refused.status_code == 403 and "无权访问" in refused.text
        assert "tok-1a2b" not in refused.text and "最低生活保障" not in refused.text
    own = httpx.get(server + "/governance/quarantine/civil_affairs/subsistence_allowance/page",
                    cookies={"_token": "steward-a"}).text
    assert "tok-1a2b" in own and HOSTILE not in own and "&lt;script&gt;" in own

