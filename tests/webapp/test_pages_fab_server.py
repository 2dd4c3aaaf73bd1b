"""Issue 14: who may see what, on a real api-server with the FAB auth manager, over HTTP and in Chromium.

Department A (civil_affairs) and B (health) each have a run with a quarantined row, a raw report and Data
Docs. A's steward reads A's and is refused B's (the console's pages too, in Chromium), and Airflow's own DAG
list shows it only A's DAGs; the oversight office reads the figures and no raw row; the security officer reads
both departments' reports and, in the audit, every request for one (allowed or refused). Screenshots:
``var/test-artifacts/pages-*.png``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser_support import CHROMIUM_ARGS, chromium_path
from fab_server import RAW, A, B, FabServer, docs_path, report_path, start, stop

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "var" / "test-artifacts"
DAG_A, DAG_B = "civil_affairs__subsistence_allowance", "health__medical_institution"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def fab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FabServer]:
    server, api = start(tmp_path_factory.mktemp("fab-api"), free_port())
    try:
        yield api
    finally:
        stop(server)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "pages-fab-timings.json").write_text(json.dumps(api.timings, indent=2, ensure_ascii=False))


@pytest.fixture(scope="module")
def tokens(fab: FabServer) -> dict[str, str]:
    return {user: fab.token(user) for user in fab.passwords}


def get(fab: FabServer, path: str, token: str, *, cookie: bool = False) -> httpx.Response:
    if cookie:
        return httpx.get(fab.base + path, cookies={"_token": token}, timeout=60)
    return httpx.get(fab.base + path, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def dag_ids(fab: FabServer, token: str) -> set[str]:
    response = get(fab, "/api/v2/dags?limit=100", token)
    assert response.status_code == 200, response.text
    return {dag["dag_id"] for dag in response.json()["dags"]}


def test_a_steward_reads_its_own_department_and_nothing_of_another(fab: FabServer, tokens: dict[str, str]) -> None:
    token = tokens["steward_a"]
    own = get(fab, report_path(A), token)
    assert own.status_code == 200 and RAW[A] in own.text
    assert get(fab, docs_path(A), token).status_code == 200
    for cookie in (False, True):
        for path in (report_path(B), docs_path(B), report_path(B).replace(".csv", ".html")):
            refused = get(fab, path, token, cookie=cookie)
            assert refused.status_code == 403, (path, cookie)
            assert RAW[B] not in refused.text
    assert [run["dataset_key"] for run in get(fab, "/governance/runs", token).json()] == [A]
    page = get(fab, "/governance/runs/page", token).text
    assert A in page and B not in page and "health" not in page
    assert dag_ids(fab, token) == {DAG_A}
    for path in ("/governance/oversight/page", "/governance/audit/report-views"):
        assert get(fab, path, token).status_code == 403


def test_the_roles_sync_is_idempotent_and_takes_back_a_hand_made_grant(fab: FabServer,
                                                                       tokens: dict[str, str]) -> None:
    first, again = fab.timings["roles_sync_output"], fab.timings["roles_resync_output"]
    assert "created Security officer, Oversight office, Steward civil_affairs" in str(first)
    assert "created 无" in str(again) and "granted 0" in str(again) and "revoked 1 " in str(again)
    assert get(fab, "/api/v2/variables", tokens["steward_a"]).status_code == 403


def test_an_engineer_sees_only_its_departments_dags_and_no_raw_row(fab: FabServer, tokens: dict[str, str]) -> None:
    token = tokens["engineer_a"]
    assert dag_ids(fab, token) == {DAG_A}
    assert get(fab, report_path(A), token).status_code == 403
    assert get(fab, docs_path(A), token).status_code == 200
    assert get(fab, f"/api/v2/dags/{DAG_B}", token).status_code == 403


def test_the_oversight_office_sees_figures_and_never_a_raw_row(fab: FabServer, tokens: dict[str, str]) -> None:
    token = tokens["oversight"]
    board = get(fab, "/governance/oversight/freshness", token)
    assert board.status_code == 200 and {item["dataset_key"] for item in board.json()} >= {A, B}
    assert get(fab, "/governance/oversight/scorecards", token).status_code == 200
    for path in (report_path(A), report_path(B), docs_path(A), "/governance/audit/report-views"):
        response = get(fab, path, token)
        assert response.status_code == 403, path
        assert RAW[A] not in response.text and RAW[B] not in response.text
    assert get(fab, "/governance/runs", token).json() == []
    assert get(fab, "/api/v2/dags", token).status_code == 403  # no DAG permission at all


def test_the_security_officer_reads_every_report_and_every_request_for_one(fab: FabServer,
                                                                          tokens: dict[str, str]) -> None:
    get(fab, report_path(A), tokens["steward_a"])
    get(fab, report_path(B), tokens["steward_a"])
    get(fab, report_path(B), tokens["oversight"])
    token = tokens["security"]
    assert RAW[A] in get(fab, report_path(A), token).text and RAW[B] in get(fab, report_path(B), token).text
    assert {DAG_A, DAG_B} <= dag_ids(fab, token)
    audit = get(fab, "/governance/audit/report-views", token)
    assert audit.status_code == 200
    seen = {(row["viewer"], row["dataset_key"], row["decision"]) for row in audit.json()}
    assert {("steward_a", A, "allowed"), ("steward_a", B, "denied"), ("oversight", B, "denied"),
            ("security", A, "allowed"), ("security", B, "allowed")} <= seen


def test_the_pages_in_chromium(fab: FabServer, tokens: dict[str, str]) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            steward = _page(browser, fab, tokens["steward_a"])
            steward.goto(f"{fab.base}/governance/runs/page")
            steward.wait_for_selector("table tr td")
            assert A in steward.content() and B not in steward.content()
            steward.screenshot(path=str(ARTIFACTS / "pages-steward-runs.png"), full_page=True)
            refused = steward.goto(f"{fab.base}{report_path(B)}")
            assert refused.status == 403 and RAW[B] not in steward.content()
            steward.screenshot(path=str(ARTIFACTS / "pages-steward-refused.png"), full_page=True)

            oversight = _page(browser, fab, tokens["oversight"])
            oversight.goto(f"{fab.base}/governance/oversight/page")
            oversight.wait_for_selector("#freshness-board [data-dataset]", timeout=60_000)
            assert RAW[A] not in oversight.content() and RAW[B] not in oversight.content()
            oversight.screenshot(path=str(ARTIFACTS / "pages-oversight.png"), full_page=True)
            assert oversight.goto(f"{fab.base}{report_path(A)}").status == 403

            for user, own, other in (("steward_a", A, B), ("steward_b", B, A)):  # the console, logged in by FAB
                console = _page(browser, fab, tokens[user])
                for name, path, label in (("runs", "/governance/runs/page", "各数据集最新情况"),
                                          ("review", f"/governance/quarantine/{own}/page", "待处理"),
                                          ("dataset", f"/governance/datasets/{own}/page", "数据项与数据元")):
                    response = console.goto(f"{fab.base}{path}")
                    assert response.status == 200 and label in console.inner_text("body"), (user, name)
                    assert other not in console.content() and RAW[other] not in console.content()
                    console.screenshot(path=str(ARTIFACTS / f"pages-{user}-{name}.png"), full_page=True)
                refused = console.goto(f"{fab.base}/governance/datasets/{other}/page")
                assert refused.status == 403 and "无权访问" in console.inner_text("body")
                # Inside Airflow's own UI: the top-level 数据治理 entry opens the console in its frame.
                console.goto(f"{fab.base}/plugin/governance")
                console.get_by_role("link", name="数据治理").first.wait_for(timeout=60_000)
                frame = console.frame_locator("iframe").first
                frame.locator("h1").first.wait_for(timeout=60_000)
                assert "运行记录" in frame.locator("h1").first.inner_text()
                console.screenshot(path=str(ARTIFACTS / f"pages-{user}-in-airflow.png"), full_page=True)

            security = _page(browser, fab, tokens["security"])
            security.goto(f"{fab.base}/governance/audit/report-views/page")
            security.wait_for_selector("#report-views td")
            text = security.locator("#report-views").inner_text()
            assert "steward_a" in text and "denied" in text and "health/medical_institution" in text
            security.screenshot(path=str(ARTIFACTS / "pages-security-audit.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "pages-security-audit.png").stat().st_size > 5_000


def _page(browser, fab: FabServer, token: str):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_cookies([{"name": "_token", "value": token, "url": fab.base}])
    return context.new_page()
