"""Issue 15: the console's pages on two departments' history, on SQLite and on real PostgreSQL.

Who may see what is asked of an auth stand-in scoped like FAB's per-DAG permissions (``auth_stubs.ByDepartment``):
civil affairs' steward (its DAGs and raw rows), its engineer (DAGs, no raw rows), health's steward.
"""

from __future__ import annotations

import csv
import io
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from auth_stubs import ByDepartment, Steward
from console_seed import DAY, HOSTILE, HOSTILE_FILE, RAW_VALUE, A, B, run_id, seed
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from governance.pipeline import quarantine
from governance.warehouse import latest_runs, warehouse_engine, write_quarantine
from governance.warehouse.report_views import report_views
from governance.webapp import create_app

REPO_ROOT = Path(__file__).resolve().parents[2]
USERS = {"steward-a": Steward("civil_affairs"), "engineer-a": Steward("civil_affairs", raw_rows=False),
         "steward-b": Steward("health")}
HTML = {"Accept": "text/html"}


def login(request: Request) -> Steward:
    user = USERS.get(request.headers.get("Authorization", "").removeprefix("Bearer "))
    if user is None:
        raise HTTPException(status_code=401, detail="Not authenticated")
    return user


def as_user(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {name}", **HTML}


@pytest.fixture
def engine(warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> sa.Engine:
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", warehouse_url)
    engine = warehouse_engine(warehouse_url)
    seed(engine, tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture
def client(engine: sa.Engine) -> TestClient:
    return TestClient(create_app(require_user=login, auth_manager=ByDepartment))


def test_the_latest_attempt_keeps_the_last_good_publish_beside_it(engine: sa.Engine) -> None:
    """A failed rerun for a day with no data is the latest attempt; the run that published stays visible."""
    latest = {run["dataset_key"]: run for run in latest_runs(engine)}
    assert latest[A]["verdict"] == "failed" and latest[A]["rows_published"] == 0
    assert latest[A]["last_published"]["run_id"] == run_id(DAY)
    assert latest[A]["last_published"]["rows_published"] == 996
    assert latest[A]["last_published"]["quarantined_by_rule"] == {"id_number.resident_id": 3, "name.not_null": 1}


def test_the_runs_page_shows_history_filters_and_links_for_the_stewards_own_datasets(client: TestClient) -> None:
    page = client.get("/runs/page", headers=as_user("steward-a"))
    assert page.status_code == 200
    text = page.text
    assert "最低生活保障对象信息" in text and "医疗机构" not in text and "health" not in text
    latest = text[text.index('id="latest"'):text.index('id="history"')]
    assert "未通过" in latest and "2026-11-27" in latest and "发布 996 行" in latest  # beside the failed rerun
    dag, good = "civil_affairs__subsistence_allowance", run_id(DAY).replace(":", "%3A").replace("+", "%2B")
    assert f'href="/dags/{dag}/runs/{good}" target="_top"' in latest
    assert f'href="/dags/{dag}/runs/{good}/tasks/validate" target="_top"' in latest
    assert f"/reports/civil_affairs/subsistence_allowance/quarantine_{DAY}.html" in latest
    assert f"/docs/{dag}/" in latest
    assert f'href="/quarantine/{A}/page?since={DAY}&amp;until={DAY}">隔离审核</a>' in latest
    history = text[text.index('id="history"'):]
    assert history.count("<tr><td") == 6 and "共 6 次运行" in history
    failed = client.get("/runs/page?verdict=failed&since=2026-11-20&until=2026-11-30&department=civil_affairs",
                        headers=as_user("steward-a")).text
    assert failed[failed.index('id="history"'):].count("<tr><td") == 1 and "the drop holds no rows" in failed
    engineer = client.get("/runs/page", headers=as_user("engineer-a")).text
    assert "/reports/" not in engineer and "Data Docs" in engineer  # no raw-rows permission, no report link


def test_the_history_is_paged(client: TestClient, engine: sa.Engine) -> None:
    from datetime import timedelta

    from governance.warehouse import write_run_record

    for back in range(5, 60):  # 55 more nights of A: 61 runs in all, 50 a page
        day = DAY - timedelta(days=back)
        write_run_record(engine, {"dag_id": "civil_affairs__subsistence_allowance", "run_id": run_id(day),
                                  "dataset_key": A, "department": "civil_affairs", "logical_date": day,
                                  "verdict": "passed", "rows_received": 10, "rows_published": 10})
    first = client.get("/runs/page", headers=as_user("steward-a")).text
    assert "第 1 / 2 页 · 共 61 次运行" in first and 'href="?page=2">下一页' in first
    second = client.get("/runs/page?page=2", headers=as_user("steward-a")).text
    history = second[second.index('id="history"'):]
    assert history.count("<tr><td") == 11 and "上一页" in history and "2026-09-29" in history


def test_the_runs_json_keeps_its_shape_and_takes_the_same_filters(client: TestClient) -> None:
    JSON_B = {"Authorization": "Bearer steward-b"}
    latest = client.get("/runs", headers=JSON_B).json()
    assert [run["dataset_key"] for run in latest] == [B]
    assert latest[0]["verdict"] == "failed" and latest[0]["last_published"]["logical_date"] == DAY.isoformat()
    week = client.get(f"/runs?dataset={B}&since=2026-11-25&until={DAY}&verdict=passed_with_quarantine",
                      headers=JSON_B).json()
    assert [run["logical_date"] for run in week] == ["2026-11-27", "2026-11-26", "2026-11-25"]
    assert client.get(f"/runs?dataset={A}", headers=JSON_B).json() == []  # not theirs
    bad = client.get("/runs?since=27.11.2026", headers=JSON_B)
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.json()["detail"]


def test_the_quarantine_review_explains_each_rule_and_tracks_each_entry(client: TestClient) -> None:
    page = client.get(f"/quarantine/{A}/page", headers=as_user("steward-a"))
    assert page.status_code == 200
    text = page.text
    rule = text[text.index('id="rule-id_number.resident_id"'):text.index('id="rule-name.not_null"')]
    assert "公民身份号码 · 格式与校验码" in rule and "GB 11643" in rule and "11010519491231002X" in rule
    assert rule.count("待处理</span>") == 2 and rule.count("已重报仍未通过</span>") == 2  # heading + entry each
    assert 'class="cell-bad" data-bad="id_number"' in rule
    assert HOSTILE not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert HOSTILE_FILE not in text and "&lt;script&gt;alert(2)&lt;/<wbr>script&gt;.<wbr>csv" in text
    assert "原因: 必填项为空" in text  # the hostile-named file's entry: its reason found all the same
    assert "重新报送, 仍未通过" in rule and "重新报送已通过, 发布并关闭" in rule
    assert "原因: 校验码错误" in rule  # the entry's own reason, from the reasons column of the department's report
    assert RAW_VALUE not in text and "gAAAA" not in text  # masked rows only, never the ciphertext or raw values
    closed = client.get(f"/quarantine/{A}/page?status=closed", headers=as_user("steward-a")).text
    assert "tok-3c4d" in closed and "tok-1a2b" not in closed
    one_rule = client.get(f"/quarantine/{A}/page?rule=name.not_null", headers=as_user("steward-a")).text
    assert 'id="rule-id_number.resident_id"' not in one_rule and 'data-bad="name"' in one_rule and "(空)" in one_rule


def test_counts_only_without_the_raw_rows_permission_and_nothing_of_another_department(client: TestClient) -> None:
    engineer = client.get(f"/quarantine/{A}/page", headers=as_user("engineer-a"))
    assert engineer.status_code == 200 and 'id="counts-only"' in engineer.text
    assert "tok-1a2b" not in engineer.text and "下载 CSV" not in engineer.text
    assert 'id="total-open"' in engineer.text
    for path in (f"/quarantine/{A}/page", f"/datasets/{A}/page", f"/quarantine/{A}/download.csv"):
        refused = client.get(path, headers=as_user("steward-b"))
        assert refused.status_code == 403 and "无权访问" in refused.text and "tok-" not in refused.text
    assert client.get(f"/quarantine/{A}/download.xlsx", headers=as_user("engineer-a")).status_code == 403
    overview = client.get("/quarantine/page", headers=as_user("steward-b")).text
    assert B in overview and A not in overview


def test_downloads_are_the_filtered_masked_rows_and_every_request_is_logged(client: TestClient,
                                                                            engine: sa.Engine) -> None:
    response = client.get(f"/quarantine/{A}/download.csv?rule=id_number.resident_id", headers=as_user("steward-a"))
    assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:6] == ["业务日期", "来源文件", "行号", "状态", "规则", "说明"]
    assert sorted(row[3] for row in rows[1:]) == sorted(["待处理", "已关闭", "已重报仍未通过"])
    assert "'" + HOSTILE not in response.text and all("gAAAA" not in cell for row in rows for cell in row)
    book = client.get(f"/quarantine/{A}/download.xlsx?status=open", headers=as_user("steward-a"))
    sheet = load_workbook(io.BytesIO(book.content)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][3] == "状态" and [row[3] for row in values[1:]] == ["待处理", "待处理"]
    client.get(f"/quarantine/{A}/download.csv", headers=as_user("engineer-a"))
    logged = [(row["viewer"], row["report"], row["decision"]) for row in report_views(engine, datetime(2000, 1, 1))]
    assert ("steward-civil_affairs", "quarantine-review?rule=id_number.resident_id.csv", "allowed") in logged
    assert ("steward-civil_affairs", "quarantine-review?status=open.xlsx", "allowed") in logged
    assert ("engineer-civil_affairs", "quarantine-review.csv", "denied") in logged


def test_the_dataset_page_shows_standard_rules_quality_consumers_and_versions(client: TestClient) -> None:
    page = client.get(f"/datasets/{B}/page", headers=as_user("steward-b"))
    assert page.status_code == 200
    text = page.text
    assert "医疗机构执业登记信息" in text and "无条件共享" in text and "每周" in text
    assert "统一社会信用代码" in text and "91350100M000100Y43" in text  # a rule in plain Chinese, with an example
    chart = text[text.index("<svg"):text.index("</svg>")]
    assert chart.count("<polyline") == 2 and "业务日期" in chart and "11-27" in chart and "隔离行占比" in chart
    assert "国家税务总局省税务局" in text[text.index('id="consumers"'):]  # from the access log
    assert "std-v2" in text and "std-v1" in text
    assert "shared.<wbr>health_<wbr>_<wbr>medical_<wbr>institution" in text
    listing = client.get("/datasets/page", headers=as_user("steward-b")).text
    assert B in listing.replace("<wbr>", "") and A not in listing.replace("<wbr>", "")
    missing = client.get("/datasets/health/no_such/page", headers=as_user("steward-b"))
    assert missing.status_code == 404 and "没有数据集 health/no_such" in missing.text


def test_a_broken_standard_takes_only_its_own_dataset_off_the_pages(client: TestClient, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    standards = tmp_path / "standards"
    shutil.copytree(REPO_ROOT / "standards", standards)
    broken = standards / "datasets" / "health" / "medical_institution.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("element: credit_code}", "element: credit_cod}"),
                      encoding="utf-8")
    monkeypatch.setenv("GOVERNANCE_STANDARDS_ROOT", str(standards))
    runs = client.get("/runs/page", headers=as_user("steward-b"))
    assert runs.status_code == 200 and "datasets/health/medical_institution.yaml:" in runs.text
    assert "unknown element &#39;credit_cod&#39;" in runs.text
    gone = client.get(f"/datasets/{B}/page", headers=as_user("steward-b"))
    assert gone.status_code == 404 and "数据标准有误" in gone.text
    assert client.get(f"/datasets/{A}/page", headers=as_user("steward-a")).status_code == 200
    assert client.get(f"/quarantine/{A}/page", headers=as_user("steward-a")).status_code == 200


def test_an_unreachable_warehouse_is_a_chinese_page_that_says_a_retry_may_help(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    client = TestClient(create_app(require_user=login, auth_manager=ByDepartment), raise_server_exceptions=False)
    for path in ("/runs/page", f"/quarantine/{A}/page", f"/datasets/{A}/page", "/datasets/page"):
        page = client.get(path, headers=as_user("steward-a"))
        assert page.status_code == 503, path
        assert "数据仓库暂时无法访问" in page.text and "稍后重试可能成功" in page.text
        assert "127.0.0.1" not in page.text and "psycopg" not in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
    as_json = client.get("/runs", headers={"Authorization": "Bearer steward-a"})
    assert as_json.status_code == 503 and as_json.json()["retry"] is True


def test_every_page_is_a_template_with_the_consoles_navigation_and_style(client: TestClient) -> None:
    for path in ("/runs/page", "/quarantine/page", f"/quarantine/{A}/page", "/datasets/page", f"/datasets/{A}/page",
                 "/impact/page"):
        page = client.get(path, headers=as_user("steward-a")).text
        assert '<link rel="stylesheet" href="/static/console.css">' in page, path
        assert page.count('aria-current="page"') == 1 and "隔离审核" in page and "<script" not in page
        nav = page[page.index("<nav"):page.index("</nav>")]
        assert "原始报告查看日志" not in nav and "监督考核" not in nav  # entries a steward cannot open are not shown
    home = client.get("/", headers=as_user("steward-a"), follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/runs/page"
    style = client.get("/static/console.css", headers=as_user("steward-a"))
    assert style.headers["content-type"].startswith("text/css") and "WenQuanYi Zen Hei" in style.text
    assert client.get("/static/app.js", headers=as_user("steward-a")).status_code == 404
    assert client.get("/static/console.css").status_code == 401


def test_the_plugin_puts_a_top_level_menu_and_every_page_under_it() -> None:
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    from governance_plugin import GovernancePlugin

    views = GovernancePlugin.external_views
    assert all(ExternalViewResponse.model_validate(view).destination == "nav" for view in views)
    top = [view for view in views if view.get("nav_top_level")]
    assert [(view["name"], view["href"]) for view in top] == [("数据治理", "/governance/runs/page")]
    assert [view["name"] for view in views if view.get("category") == "数据治理"] == [
        "运行记录", "隔离审核", "数据集", "监督考核", "标准变更影响", "原始报告查看日志"]
    assert len({view["url_route"] for view in views}) == len(views)


# Adversarial review: another department's steward, hostile department strings, malformed parameters.
def test_another_departments_refused_download_is_logged(client: TestClient, engine: sa.Engine) -> None:
    """A refusal because the user may not even read the DAG is a refused raw-rows request all the same."""
    refused = client.get(f"/quarantine/{A}/download.csv", headers=as_user("steward-b"))
    assert refused.status_code == 403
    logged = [(row["viewer"], row["department"], row["decision"]) for row in report_views(engine, datetime(2000, 1, 1))]
    assert ("steward-health", "civil_affairs", "denied") in logged


def test_control_characters_in_a_department_value_do_not_break_the_xlsx_download(client: TestClient,
                                                                                 engine: sa.Engine) -> None:
    """Excel exports carry vertical tabs and other control characters, which XLSX cannot hold."""
    write_quarantine(engine, run_id(DAY), A, [
        {"source_file": "bad\x01name.csv", "source_line": 2, "rules": "name.not_null", "key_token": None,
         "masked_row": {"id_number": "tok-9", "name": "王\x0b*", "remarks": "=1+1\x07"},
         "raw_row_encrypted": "gAAAA-ciphertext-9"}])
    response = client.get(f"/quarantine/{A}/download.xlsx", headers=as_user("steward-a"))
    assert response.status_code == 200
    values = [cell.value for row in load_workbook(io.BytesIO(response.content)).active.iter_rows() for cell in row]
    assert "王\ufffd*" in values and "bad\ufffdname.csv" in values


@pytest.mark.parametrize("path", [f"/quarantine/{A}/page?rule=id_number.resident_id&page=", "/runs/page?page=",
                                  "/runs?size=500&page="])
def test_a_page_number_past_any_database_integer_is_refused_as_bad_input(client: TestClient, path: str) -> None:
    """An offset past a 64-bit integer was a 500 (SQLite) or a "retry may help" 503 (PostgreSQL)."""
    page = client.get(path + str(10**18), headers=as_user("steward-a"))
    assert page.status_code == 400 and "参数 page 的取值无效" in page.text
    data = client.get(path + str(10**18), headers={"Authorization": "Bearer steward-a"})
    assert data.status_code == 422 and data.json()["detail"][0]["loc"] == ["query", "page"]


def test_a_huge_cell_in_the_departments_report_leaves_the_review_page_working(client: TestClient,
                                                                             tmp_path: Path) -> None:
    """The review reads each entry's reasons from the department's report: one huge field must not stop it."""
    day = DAY - timedelta(days=1)
    quarantine.write_reports(pd.DataFrame({
        "_source_file": ["big.csv"], "_source_line": [1], "_rules": ["name.not_null"], "_reasons": ["missing"],
        "id_number": ["x" * 200_000], "name": [None]}), tmp_path / "reports" / A, f"quarantine_{day}")
    response = client.get(f"/quarantine/{A}/page", headers=as_user("steward-a"))
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/runs/page?department=%00", "/runs?dataset=%00x", f"/quarantine/{A}/page?rule=a%00",
                                  f"/quarantine/{A}/download.csv?rule=a%00"])
def test_a_nul_in_a_text_filter_is_bad_input_not_a_warehouse_failure(client: TestClient, path: str) -> None:
    """PostgreSQL refuses NUL in text: that was a 503 saying a retry may help."""
    response = client.get(path, headers=as_user("steward-a"))
    assert response.status_code == 400 and "含有控制字符" in response.text


def test_every_page_of_quarantined_rows_and_every_refused_review_is_logged(client: TestClient,
                                                                          engine: sa.Engine) -> None:
    """The review's entries are the downloads' rows a page at a time: paging through them leaves a trace too."""
    assert client.get(f"/quarantine/{A}/page?status=open", headers=as_user("steward-a")).status_code == 200
    assert client.get(f"/quarantine/{A}/page", headers=as_user("engineer-a")).status_code == 200  # counts only
    assert client.get(f"/quarantine/{A}/page", headers=as_user("steward-b")).status_code == 403
    logged = [(row["viewer"], row["report"], row["decision"]) for row in report_views(engine, datetime(2000, 1, 1))]
    assert ("steward-civil_affairs", "quarantine-review-page?status=open&page=1", "allowed") in logged
    assert ("steward-health", "quarantine-review-page?page=1", "denied") in logged
    assert not [row for row in logged if row[0] == "engineer-civil_affairs"]


def test_an_address_that_matches_no_page_is_a_chinese_404_page(client: TestClient) -> None:
    """Starlette's own 404 (no route, e.g. a path trick with an encoded slash) was English JSON for a browser."""
    response = client.get("/quarantine/civil_affairs/..%2F..%2Fhealth/page", headers=as_user("steward-a"))
    assert response.status_code == 404 and "未找到 (404)" in response.text and "请检查地址" in response.text
    assert client.get("/nothing-here", headers={"Authorization": "Bearer steward-a"}).json() == {"detail": "Not Found"}


@pytest.mark.parametrize("path", ["/reports/civil%00affairs/x/quarantine_2026-11-27.html",
                                  "/quarantine/health%00/medical_institution/page",
                                  "/quarantine/health/medical%00institution/download.csv"])
def test_a_nul_in_a_logged_path_is_still_logged_and_refused(client: TestClient, engine: sa.Engine, path: str) -> None:
    """The request is written to governance.report_view before anything is checked; PostgreSQL refuses NUL in
    text, which made such a probe a 503 and left no trace."""
    response = client.get(path, headers=as_user("steward-a"))
    assert response.status_code in (403, 404)
    assert [row for row in report_views(engine, datetime(2000, 1, 1)) if "\ufffd" in row["dataset_key"]]


@pytest.mark.parametrize("path", ["/docs/civil_affairs__subsistence_allowance/x/a%00.html",
                                  "/docs/civil_affairs__subsistence_allowance/" + "a" * 300 + "/index.html",
                                  "/reports/civil_affairs/subsistence_allowance/a%00.html",
                                  "/reports/civil_affairs/subsistence_allowance/" + "a" * 300 + ".html"])
def test_a_nul_or_an_over_long_name_in_a_file_address_is_no_such_file(client: TestClient, path: str) -> None:
    """These were a 500 (ValueError: embedded null byte) and a 'retry may help' 503 (file name too long)."""
    response = client.get(path, headers=as_user("steward-a"))
    assert response.status_code == 404 and "未找到 (404)" in response.text
