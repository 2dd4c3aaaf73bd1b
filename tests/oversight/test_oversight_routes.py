"""The oversight routes in the plugin's web app: login required, JSON shapes, the page's board, and a Chinese
message instead of a bare 500 when the standards or the warehouse cannot be read."""

from __future__ import annotations

import os
import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient
from oversight_support import (
    MEDICAL,
    RESIDENT,
    SUITE_TYPO,
    ensure_access_tables,
    log_calls,
    publish_rows,
    record_run,
)

from governance.standards.catalogue import Catalogue
from governance.warehouse import warehouse_engine
from governance.webapp import create_app

ROUTES = ["/oversight/freshness", "/oversight/scorecards", "/oversight/access", "/oversight/page"]
AUTH = {"Authorization": "Bearer valid"}


def airflow_login(request: Request) -> SimpleAuthManagerUser:
    """Stands in for Airflow's get_user: a token or nothing (the simple auth manager's admin)."""
    if request.headers.get("Authorization") != "Bearer valid":
        raise HTTPException(status_code=401, detail="Not authenticated")
    return SimpleAuthManagerUser(username="admin", role="admin")


@pytest.fixture
def client(tmp_path: Path, monkeypatch, catalogue: Catalogue) -> TestClient:
    url = f"sqlite:///{tmp_path / 'warehouse' / 'warehouse.db'}"
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", url)
    engine = warehouse_engine(url)
    now = datetime.now(UTC)
    record_run(engine, RESIDENT, (now - timedelta(days=2)).date(), finished=now - timedelta(hours=30))
    record_run(engine, RESIDENT, (now - timedelta(days=1)).date(), finished=now - timedelta(hours=6),
               received=120, quarantined=12)
    publish_rows(engine, catalogue, RESIDENT, [now - timedelta(hours=8)])
    record_run(engine, MEDICAL, date.today() - timedelta(days=3), verdict="failed")
    record_run(engine, MEDICAL, date.today() - timedelta(days=2), verdict="failed", message=SUITE_TYPO)
    ensure_access_tables(engine)
    log_calls(engine, [(now - timedelta(hours=1), "civil_affairs", RESIDENT, "allowed", 25),
                       (now - timedelta(hours=1), "taxation", RESIDENT, "blocked", 0)])
    engine.dispose()
    return TestClient(create_app(require_user=airflow_login, auth_manager=SimpleAuthManager))


@pytest.mark.parametrize("path", ROUTES)
def test_every_oversight_route_requires_a_login(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer forged"}).status_code == 401


def test_freshness_json(client: TestClient, catalogue: Catalogue) -> None:
    board = {item["dataset_key"]: item for item in client.get("/oversight/freshness", headers=AUTH).json()}
    assert set(board) == set(catalogue.datasets)
    assert board[RESIDENT]["status"] == "fresh" and board[RESIDENT]["status_zh"] == "及时"
    assert board[RESIDENT]["pipeline_age_h"] == pytest.approx(6, abs=0.1)
    assert board[MEDICAL]["status"] == "never-loaded"


def test_scorecards_json(client: TestClient) -> None:
    body = client.get("/oversight/scorecards?days=7", headers=AUTH).json()
    cards = {card["scope"]: card for card in body["scorecards"]}
    assert cards[RESIDENT]["runs"] == 2 and cards[RESIDENT]["pass_rate"] == 1.0
    assert cards[RESIDENT]["quarantine_rate"] == pytest.approx(12 / 220, abs=1e-4)
    assert cards[RESIDENT]["volume_change_pct"] == pytest.approx(20)
    assert cards["health"]["pass_rate"] == 0.0  # its own data failed once; the suite typo is not counted
    assert (cards["health"]["failed"], cards["health"]["platform_failures"]) == (1, 1)
    assert [(row["dataset_key"], row["outcome"], row["cause"]) for row in body["incidents"]] == \
        [(MEDICAL, "platform", "校验套件错误")]
    assert body["headline"]["datasets"] == 6 and body["headline"]["published"] == 1
    assert set(body["trend"]) == {"public_security", "health"}
    assert client.get("/oversight/scorecards?days=0", headers=AUTH).status_code == 422


def test_access_json(client: TestClient) -> None:
    body = client.get("/oversight/access", headers=AUTH).json()
    resident = next(row for row in body["datasets"] if row["dataset_key"] == RESIDENT)
    assert (resident["calls"], resident["blocked"], resident["rows_served"], resident["consumers"]) == (2, 1, 25, 1)
    assert RESIDENT not in body["never_used"] and MEDICAL in body["never_used"]


def test_the_page_shows_every_dataset_on_the_board_with_its_status(client: TestClient, catalogue: Catalogue) -> None:
    response = client.get("/oversight/page", headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    tiles = dict(re.findall(r'data-dataset="([^"]+)" data-status="([^"]+)"', page))
    assert set(tiles) >= set(catalogue.datasets)
    assert tiles[RESIDENT] == "fresh" and tiles[MEDICAL] == "never-loaded"
    for heading in ("核心指标", "数据时效看板", "数据质量趋势", "质量评分卡", "平台故障与重跑", "数据调用量",
                    "拒绝与拦截的请求", "跨部门数据共享率", "数据时效达标率", "本月数据调用量"):
        assert heading in page
    for english in ("Headline figures", "Freshness board", "pass rate", "datasets fresh", "Never used"):
        assert english not in page
    assert "常住人口基本信息" in page and "省公安厅" in page  # names from the standards, not keys only
    assert page.count("<svg") >= 4
    assert "<script" not in page and "http://" not in page and "https://" not in page  # closed network


def test_the_page_carries_the_consoles_navigation_and_the_bulletin_does_not(client: TestClient,
                                                                            catalogue: Catalogue) -> None:
    from governance.oversight.figures import collect, window
    from governance.oversight.page import render_page

    page = client.get("/oversight/page", headers=AUTH).text
    console = re.search(r'<nav class="console"[^>]*>(.*?)</nav>', page, re.DOTALL)
    assert console, "the console's navigation bar"
    links = dict((label, href) for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', console.group(1)))
    assert links["运行记录"] == "/runs/page" and links["隔离审核"] == "/quarantine/page"  # the app's mount point
    assert 'class="current" aria-current="page">监督考核<' in console.group(1)
    engine = warehouse_engine(os.environ["GOVERNANCE_WAREHOUSE_URL"])  # the client fixture's warehouse
    bulletin = render_page(collect(engine, catalogue, *window(7)), json_links=False)  # as bulletin.py renders it
    engine.dispose()
    assert 'class="console"' not in bulletin  # a bulletin is a file: no console around it


def test_the_plugin_adds_the_oversight_view() -> None:
    from governance_plugin import GovernancePlugin

    views = {view["url_route"]: view for view in GovernancePlugin.external_views}
    assert views["governance-oversight"]["href"] == "/governance/oversight/page"
    assert views["governance-oversight"]["name"] == "监督考核"


def test_a_broken_standard_gives_a_chinese_message_not_a_500(client: TestClient, tmp_path: Path, monkeypatch) -> None:
    """A shared file (departments) concerns every dataset; one dataset's file leaves out only that dataset
    (tests/oversight/test_oversight_broken_standard.py)."""
    standards = tmp_path / "standards"
    shutil.copytree(Path(__file__).resolve().parents[2] / "standards", standards)
    broken = standards / "departments.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("name_zh:", "name_cn:", 1), encoding="utf-8")
    monkeypatch.setenv("GOVERNANCE_STANDARDS_ROOT", str(standards))

    page = client.get("/oversight/page", headers=AUTH)
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "数据标准无法读取" in page.text and "departments.yaml" in page.text and "重试无济于事" in page.text
    assert "<script" not in page.text
    for path in ("/oversight/freshness", "/oversight/scorecards", "/oversight/access"):
        answer = client.get(path, headers=AUTH)
        assert answer.status_code == 503
        body = answer.json()
        assert "数据标准无法读取" in body["error"] and body["retry"] is False
        assert any("departments.yaml" in detail for detail in body["details"])


def test_an_unreachable_warehouse_gives_a_chinese_message_not_a_500(client: TestClient, monkeypatch) -> None:
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", "postgresql+psycopg://governance:secret@127.0.0.1:9/none")
    page = client.get("/oversight/page", headers=AUTH)
    assert page.status_code == 503
    assert "数据仓库暂时无法访问" in page.text and "稍后刷新重试" in page.text
    assert "secret" not in page.text and "127.0.0.1" not in page.text  # no connection detail reaches the reader
    body = client.get("/oversight/scorecards", headers=AUTH).json()
    assert "数据仓库暂时无法访问" in body["error"] and body["retry"] is True
    assert "secret" not in str(body)


def test_the_pages_style_is_allowed_by_its_hash_and_hostile_text_is_escaped(client: TestClient) -> None:
    """Names a department chose reach the page through a platform incident's message: escaped, never markup."""
    from governance.webapp.headers import style_hash

    engine = warehouse_engine(os.environ["GOVERNANCE_WAREHOUSE_URL"])  # the client fixture's warehouse
    hostile = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
    record_run(engine, RESIDENT, date.today() - timedelta(days=4), verdict="failed", received=None,
               message=f"AirflowFailException: expectations/a/b.json: expectation #2: unknown column {hostile}")
    engine.dispose()
    response = client.get("/oversight/page", headers=AUTH)
    page = response.text
    assert hostile not in page and "<img" not in page and "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/" in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    styles = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
    assert len(styles) == 1 and style_hash(styles[0]) in response.headers["content-security-policy"]

