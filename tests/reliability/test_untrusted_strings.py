"""Department files are untrusted input: two hostile nights of the resident register, run through Airflow.

* A drop without its header line (the demo generator's drop, header removed): the first data row becomes the
  column names, so a person's ID, mobile, name and address are what GX, the verdict and the logs would call
  "unexpected columns" (issue 14, finding 3).
* A header with an extra column named ``<img src=x onerror=alert(document.domain)>`` (finding 2): GX's Data
  Docs showed the column-match rule's observed value, the file's own column names, as HTML.

Both nights fail (the column set is not the standard's). Then every place the runs wrote is read: the Data
Docs, the run record, the ``/governance/runs`` JSON and page, the step and chunk summaries, the task logs and
every table of the Airflow metadata DB (XCom). None may hold the person's values (the leak guard's identifier
rules as in ``test_no_secrets_anywhere``, plus the row's name and address verbatim) or the hostile markup; every
``/governance`` response carries the Content-Security-Policy; the Data Docs reference no external host.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import uvicorn
from auth_stubs import AllowsEverything, Reader
from browser_support import CHROMIUM_ARGS, chromium_path
from fastapi.testclient import TestClient
from governance_bench.sharing_api import free_port
from test_no_secrets_anywhere import files_under, governance, identifiers_in, sqlite_columns

from governance.warehouse import warehouse_engine
from governance.webapp import create_app

HEADERLESS, HOSTILE = date(2026, 11, 27), date(2026, 11, 28)
RESIDENTS = "public_security__resident_population"
XSS = "<img src=x onerror=alert(document.domain)>"
PERSONAL = ("id_number", "mobile", "name", "address")


RUN_NIGHTS = """
import os, sys
from datetime import date
from governance.settings import airflow_environment
os.environ.update(airflow_environment())
from governance_demo.run import run_demo
for day in sys.argv[1:]:
    print("RUN_OK", run_demo(date.fromisoformat(day), only={"public_security__resident_population"}))
"""

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@dataclass(frozen=True)
class Nights:
    var_root: Path
    environment: dict[str, str]
    logs: str
    person: dict[str, str]  # the first data row of the headerless drop: what must be nowhere


def drop_of(var_root: Path, day: date) -> Path:
    return next((var_root / "landing" / "public_security" / "resident_population" / day.isoformat()).glob("*.csv"))


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> Nights:
    var_root = tmp_path_factory.mktemp("untrusted")
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")} | {
        "GOVERNANCE_VAR_ROOT": str(var_root),
        "GOVERNANCE_WAREHOUSE_URL": f"sqlite:///{var_root / 'warehouse' / 'warehouse.db'}",
        "GOVERNANCE_TASK_RETRIES": "0", "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}
    governance(environment, "keys", "init")
    governance(environment, "demo-data", "--date", HEADERLESS.isoformat(), "--rows", "100")
    headerless = drop_of(var_root, HEADERLESS)
    (var_root / "landing" / "public_security" / "resident_population" / HOSTILE.isoformat()).mkdir()
    shutil.copy(headerless, drop_of(var_root, HEADERLESS).parent.parent / HOSTILE.isoformat() / headerless.name)

    lines = headerless.read_text(encoding="utf-8").splitlines()
    header, first = next(csv.reader(io.StringIO(lines[0]))), next(csv.reader(io.StringIO(lines[1])))
    person = dict(zip(header, first, strict=True))
    assert all(person[column] for column in PERSONAL), person  # a full row: each value is worth finding
    headerless.write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")

    hostile = drop_of(var_root, HOSTILE)
    lines = hostile.read_text(encoding="utf-8").splitlines()
    hostile.write_text("\n".join([f'{lines[0]},"{XSS}"', *(f"{line},1" for line in lines[1:])]) + "\n",
                       encoding="utf-8")
    for drop in (headerless, hostile):  # the department's manifest, written last, as the protocol asks
        governance(environment, "delivery", "manifest", str(drop.parent), "--system", "人口管理系统")

    # Both nights in one process (one metadata migration): each run_demo prints RUN_OK False, as both fail.
    done = subprocess.run([sys.executable, "-c", RUN_NIGHTS, HEADERLESS.isoformat(), HOSTILE.isoformat()],
                          env=environment, capture_output=True, text=True, timeout=1500)
    logs = done.stdout + done.stderr
    assert done.stdout.count("RUN_OK False") == 2, logs[-3000:]
    return Nights(var_root, environment, logs, person)


def person_in(text: str, nights: Nights) -> list[str]:
    """The person's values found in ``text`` (as written, HTML-escaped or JSON-escaped), and any valid ID or
    mobile number by the leak guard's rules."""
    found = [column for column in PERSONAL for value in {nights.person[column]}
             if value in text or html.escape(value) in text or json.dumps(value)[1:-1] in text]
    return found + [f"identifier: {rule}" for rule in identifiers_in(text)]


def records(nights: Nights) -> pd.DataFrame:
    engine = warehouse_engine(nights.environment["GOVERNANCE_WAREHOUSE_URL"])
    try:
        frame = pd.read_sql("SELECT * FROM governance.run_record", engine)
    finally:
        engine.dispose()
    frame["logical_date"] = frame["logical_date"].astype(str)
    return frame.set_index("logical_date")


@pytest.fixture()
def client(nights: Nights, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    for name in ("GOVERNANCE_VAR_ROOT", "GOVERNANCE_WAREHOUSE_URL"):
        monkeypatch.setenv(name, nights.environment[name])
    return TestClient(create_app(require_user=lambda: Reader("admin"), auth_manager=AllowsEverything))


def served_pages(client: TestClient, nights: Nights) -> dict[str, str]:
    """Every page the web app serves for these runs: runs (JSON and page), each run's Data Docs, the reports."""
    urls = ["/runs", "/runs/page"]
    urls += [f"/docs/{path.relative_to(nights.var_root / 'data_docs').as_posix()}"
             for path in files_under(nights.var_root / "data_docs")]
    urls += [f"/reports/{path.relative_to(nights.var_root / 'reports').as_posix()}"
             for path in files_under(nights.var_root / "reports")]
    pages = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        pages[url] = response.text
    return pages


def test_both_nights_fail_and_the_record_says_where_without_the_names(nights: Nights) -> None:
    found = records(nights)
    headerless, hostile = found.loc[HEADERLESS.isoformat()], found.loc[HOSTILE.isoformat()]
    assert headerless["verdict"] == hostile["verdict"] == "failed"
    assert "column 1 of 9 (name withheld: 18 characters, digits" in headerless["message"]
    assert "is the header line missing?" in headerless["message"]
    assert "unexpected columns: column 10 of 10 (name withheld: 42 characters" in hostile["message"]
    assert person_in(found.to_json(force_ascii=False), nights) == []
    assert XSS not in found.to_json(force_ascii=False)


def test_no_value_of_the_row_in_docs_summaries_logs_or_xcom(nights: Nights) -> None:
    docs = files_under(nights.var_root / "data_docs")
    summaries = [path for path in files_under(nights.var_root / "work") if path.suffix == ".json"]
    assert len(docs) == 4 and any("/chunks/" in path.as_posix() for path in summaries)  # both nights' docs
    for path in docs + summaries:
        text = path.read_text(encoding="utf-8")
        assert person_in(text, nights) == [], path
        assert XSS not in text and "onerror" not in text, path
    logs = nights.logs + "".join(path.read_text(encoding="utf-8", errors="replace")
                                 for path in files_under(nights.var_root / "airflow" / "logs"))
    assert "name withheld" in logs  # the failures were logged, described
    assert person_in(logs, nights) == []
    scanned = 0
    for table, column, values in sqlite_columns(nights.var_root / "airflow" / "airflow.db"):
        text = "\n".join(str(value) for value in values if value is not None)
        assert person_in(text, nights) == [], f"{table}.{column}"
        assert XSS not in text, f"{table}.{column}"
        scanned += table == "xcom"
    assert scanned


def test_no_served_page_holds_the_row_or_the_markup_unescaped(client: TestClient, nights: Nights) -> None:
    pages = served_pages(client, nights)
    reports = [url for url in pages if url.startswith("/reports/")]
    for url, text in pages.items():
        if url.endswith(".csv"):  # the department's data as it sent it: served as data, never rendered
            response = client.get(url)
            assert response.headers["content-type"].startswith("text/csv"), url
            assert response.headers["x-content-type-options"] == "nosniff", url
            continue
        assert XSS not in text, url
        if url not in reports:  # the department's own report shows its own rows, to fix them
            assert person_in(text, nights) == [], url
    for url in (url for url in reports if url.endswith(".html")):  # its own column names: escaped
        assert html.escape(XSS) in pages[url], url


def test_data_docs_work_offline_and_show_the_pipelines_verdict(client: TestClient, nights: Nights) -> None:
    pages = served_pages(client, nights)
    docs = {url: text for url, text in pages.items() if url.startswith("/docs/")}
    assert len(docs) == 4
    for url, text in docs.items():
        assert re.findall(r"(?:https?:)?//[^\s'\"<>]+", text) == [], url  # no CDN, no external host
    for url in (url for url in docs if url.endswith(".html")):
        assert 'data-verdict="failed"' in docs[url] and "运行结论 未通过" in docs[url]


def test_every_governance_response_carries_the_security_headers(client: TestClient, nights: Nights) -> None:
    urls = [*served_pages(client, nights), "/docs/x/y/missing.html", "/reports/../../etc/passwd"]
    refusing = TestClient(create_app(require_user=_refuse, auth_manager=AllowsEverything))
    for response in [client.get(url) for url in urls] + [refusing.get("/runs")]:
        policy = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy and "script-src 'none'" in policy, response.url
        assert "object-src 'none'" in policy and "frame-ancestors 'self'" in policy, response.url
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"


def _refuse() -> str:
    from fastapi import HTTPException

    raise HTTPException(status_code=401, detail="Not authenticated")


# ----------------------------------------------------------------------------------------------------------------
# In a real browser (Debian's chromium, as tests/oversight/test_oversight_page_browser.py drives it)
# ----------------------------------------------------------------------------------------------------------------

@pytest.fixture()
def served(nights: Nights, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The web app over real HTTP (uvicorn in a thread), as the browser reaches it under Airflow."""
    for name in ("GOVERNANCE_VAR_ROOT", "GOVERNANCE_WAREHOUSE_URL"):
        monkeypatch.setenv(name, nights.environment[name])
    port = free_port()
    app = create_app(require_user=lambda: Reader("admin"), auth_manager=AllowsEverything)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_no_page_runs_a_script_in_chromium(served: str, nights: Nights, client: TestClient) -> None:
    """Each served page of the two nights opened in headless Chromium: no dialog opens, no script runs. A page
    planted in a run's docs folder with an inline script (what a future escaping bug would produce) is held by
    the Content-Security-Policy: the same markup without the policy does open its dialog."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    folder = next(path for path in (nights.var_root / "data_docs").rglob("index.html")).parent
    planted = "<!doctype html><p id='planted'>planted</p><script>alert('planted')</script><img src=x onerror=alert(2)>"
    (folder / "planted.html").write_text(planted, encoding="utf-8")
    urls = [url for url in served_pages(client, nights) if url.endswith(("/page", ".html"))]
    urls.append(f"/docs/{folder.relative_to(nights.var_root / 'data_docs').as_posix()}/planted.html")
    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("dialog", lambda dialog: (dialogs.append(f"{page.url}: {dialog.message}"), dialog.dismiss()))
            for url in urls:
                response = page.goto(served + url)
                assert response is not None and response.status == 200, url
                page.wait_for_load_state("load")
                page.wait_for_timeout(200)
            assert page.locator("#planted").count() == 1  # the planted page did load; only its scripts did not run
            assert dialogs == []
            control = browser.new_page()
            control.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            control.set_content(planted)
            control.wait_for_timeout(500)
            assert "planted" in dialogs  # without the policy, the same page runs its script
        finally:
            browser.close()
    assert len(urls) >= 5
