"""GX Data Docs per validate run: built from a result stripped to counts, so no value of the frame reaches the
HTML, and served by the plugin web app behind the login with the reports' path-traversal guard."""

import html
import json
import re
import shutil
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
from auth_stubs import AllowsEverything, Reader
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient
from validation_support import other_check, residents

from governance.files import safe_name
from governance.settings import REPO_ROOT, get_settings
from governance.standards.catalogue import Catalogue, load_catalogue
from governance.validation.data_docs import build_run_docs, run_docs_folder, write_run_docs
from governance.validation.runner import validate_frame
from governance.validation.suites import generate_suite
from governance.warehouse import warehouse_engine, write_run_record
from governance.webapp import create_app

RESIDENTS = "public_security/resident_population"
DAG_ID, RUN_ID = "public_security__resident_population", "scheduled__2026-11-27T18:00:00+00:00"
PERSONAL = ("id_number", "name", "birth_date", "address", "mobile", "updated_at")


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(REPO_ROOT / "standards")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    frame = residents(15, seed=27)
    frame.loc[1, "id_number"] = other_check(frame.loc[1, "id_number"])
    frame.loc[2, "name"] = None
    frame.loc[3, "ethnicity"] = "99"
    frame.loc[4, "birth_date"] = "1990-02-30"
    return frame.drop(columns=["mobile"])  # a missing column: its rule cannot run


@pytest.fixture(scope="module")
def site(catalogue: Catalogue, frame: pd.DataFrame, tmp_path_factory) -> Path:
    suite = generate_suite(catalogue, catalogue.dataset(RESIDENTS))
    suite["expectations"] += [  # owner rules whose raw GX results carry values (the maximum, the distinct names)
        {"type": "expect_column_max_to_be_between", "kwargs": {"column": "birth_date", "max_value": "1900-01-01"},
         "meta": {"rule": "birth_date.max"}},
        {"type": "expect_column_distinct_values_to_be_in_set", "kwargs": {"column": "name", "value_set": ["某"]},
         "meta": {"rule": "name.distinct"}},
    ]
    outcome = validate_frame(frame, suite, dataset_key=RESIDENTS)
    index = build_run_docs(outcome.docs_result, tmp_path_factory.mktemp("docs") / "run", RUN_ID,
                           verdict={"verdict": "failed", "verdict_reasons": ["table rule failed"]})
    assert index.name == "index.html" and index.is_file()
    return index.parent


def pages(site: Path) -> str:
    return "\n".join(page.read_text(encoding="utf-8") for page in sorted(site.rglob("*.html")))


def test_no_value_of_the_frame_reaches_the_html(site: Path, frame: pd.DataFrame) -> None:
    text = pages(site)
    values = {value for column in PERSONAL if column in frame for value in frame[column].dropna()}
    assert len(values) > 50
    forms = {form for value in values
             for form in (value, html.escape(value), json.dumps(value)[1:-1], quote(value))}
    leaked = sorted(form for form in forms if form in text)
    assert leaked == []


XSS = "<img src=x onerror=alert(document.domain)>"


def test_the_page_has_every_rule_the_verdict_and_nothing_from_outside(site: Path) -> None:
    assert sorted(path.relative_to(site).as_posix() for path in site.rglob("*") if path.is_file()) == [
        "docs.css", "index.html"]
    page = (site / "index.html").read_text(encoding="utf-8")
    assert "expect_column_values_to_be_valid_resident_id" in page and "有效公民身份号码" in page
    assert "not run: missing column mobile" in page
    assert RUN_ID in page and 'data-verdict="failed"' in page  # built with the validate summary's verdict
    assert "<script" not in page.lower() and " on" + "error=" not in page.lower()
    assert re.findall(r"(?:https?:)?//", page) == []  # no CDN, no external host: works on a closed intranet
    assert re.findall(r"""(?:src|href)=["']([^"']+)""", page) == ["docs.css"]


def test_docs_are_per_run_and_a_failure_to_build_never_fails_the_run(catalogue: Catalogue, tmp_path: Path) -> None:
    suite = generate_suite(catalogue, catalogue.dataset(RESIDENTS))
    outcome = validate_frame(residents(3), suite, dataset_key=RESIDENTS)
    index = write_run_docs(outcome.docs_result, tmp_path, DAG_ID, RUN_ID)
    assert index == run_docs_folder(tmp_path, DAG_ID, RUN_ID) / "index.html"
    assert index.parent == tmp_path / DAG_ID / safe_name(RUN_ID)  # named like the run's work area
    assert index.parent.name.startswith("scheduled__2026-11-27T18_00_00_00_00~")
    (index.parent / "stale.html").write_text("from an earlier build")
    again = write_run_docs(outcome.docs_result, tmp_path, DAG_ID, RUN_ID)  # a rerun replaces its site
    assert again == index and not (index.parent / "stale.html").exists()
    (tmp_path / "blocked").write_text("a file where the run's folder should go")
    assert write_run_docs(outcome.docs_result, tmp_path, "blocked", RUN_ID) is None
    assert write_run_docs(None, tmp_path, DAG_ID, "other") is None


@pytest.mark.parametrize(("verdict", "shown", "css"), [
    ("passed", "运行结论 通过 · passed", "ok"),
    ("passed_with_quarantine", "运行结论 通过, 部分行已隔离 · passed with quarantine", "flagged"),
    ("failed", "运行结论 未通过, 未发布 · failed, nothing published", "failed"),
])
def test_the_page_headlines_the_pipelines_verdict_not_gx_s(catalogue: Catalogue, tmp_path: Path, verdict: str,
                                                           shown: str, css: str) -> None:
    """A run with quarantined rows fails some GX rules, yet the pipeline passed it: the page says so."""
    frame = residents(10, seed=5)
    frame.loc[3, "ethnicity"] = "99"
    outcome = validate_frame(frame, generate_suite(catalogue, catalogue.dataset(RESIDENTS)), dataset_key=RESIDENTS)
    assert not outcome.docs_result.success  # GX alone would call this run "Failed"
    summary = {"verdict": verdict, "verdict_reasons": ["1 of 10 rows <b>quarantined</b>"] if verdict == "failed"
               else [], "rows_received": 10, "rows_passed": 9, "rows_quarantined": 1}
    page = write_run_docs(outcome.docs_result, tmp_path, DAG_ID, RUN_ID, dataset=RESIDENTS,
                          verdict=summary).read_text(encoding="utf-8")
    assert shown in page and f'class="verdict {css}"' in page
    assert "隔离行数 Quarantined</dt><dd>1</dd>" in page
    assert "Failed" not in page
    if verdict == "failed":
        assert "1 of 10 rows &lt;b&gt;quarantined&lt;/b&gt;" in page  # escaped like every string


def test_a_hostile_column_name_never_reaches_the_page(catalogue: Catalogue, tmp_path: Path) -> None:
    """Finding 2: a header naming a column ``<img src=x onerror=...>``. GX showed the column-match rule's observed
    value (the file's own names) as HTML; now a name that is not a safe identifier is described, never shown."""
    frame = residents(5).assign(**{XSS: "1"})
    outcome = validate_frame(frame, generate_suite(catalogue, catalogue.dataset(RESIDENTS)), dataset_key=RESIDENTS)
    page = write_run_docs(outcome.docs_result, tmp_path, DAG_ID, RUN_ID).read_text(encoding="utf-8")
    assert XSS not in page and html.escape(XSS) not in page and "onerror" not in page
    assert "column 10 of 10 (name withheld: 42 characters" in page  # where to look in the department's file
    assert outcome.table_failures[0].startswith("table.columns: unexpected columns: column 10 of 10 (name withheld")
    assert XSS not in json.dumps(outcome.table_failures + [str(entry) for entry in outcome.expectation_results])


def test_a_headerless_frame_leaves_no_value_in_the_page(catalogue: Catalogue, tmp_path: Path) -> None:
    """Finding 3: without its header line, the first data row becomes the column names."""
    people = residents(6, seed=9)
    first = people.iloc[0]
    data = [c for c in people.columns if not c.startswith("_")]
    headerless = people.iloc[1:].rename(columns={column: str(first[column]) for column in data})
    outcome = validate_frame(headerless, generate_suite(catalogue, catalogue.dataset(RESIDENTS)),
                             dataset_key=RESIDENTS)
    page = write_run_docs(outcome.docs_result, tmp_path, DAG_ID, RUN_ID).read_text(encoding="utf-8")
    messages = json.dumps(outcome.table_failures + [str(entry) for entry in outcome.expectation_results],
                          ensure_ascii=False)
    for column in ("id_number", "name", "address", "mobile", "birth_date"):
        value = str(first[column])
        assert value not in page and html.escape(value) not in page, column
        assert value not in messages, column
    assert "is the header line missing?" in messages
    assert "column 1 of 9 (name withheld: 18 characters, digits" in page


def airflow_login(request: Request) -> Reader:
    if request.headers.get("Authorization") != "Bearer valid":
        raise HTTPException(status_code=401, detail="Not authenticated")
    return Reader()


def test_the_web_app_serves_docs_behind_the_login_and_links_them(site: Path, tmp_path: Path,
                                                                  monkeypatch) -> None:
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    folder = run_docs_folder(get_settings().docs_root, DAG_ID, RUN_ID)
    shutil.copytree(site, folder)
    (tmp_path / "secret.html").write_text("outside")
    client = TestClient(create_app(require_user=airflow_login, auth_manager=AllowsEverything))
    auth = {"Authorization": "Bearer valid"}
    base = f"/docs/{DAG_ID}/{folder.name}"

    assert client.get(f"{base}/index.html").status_code == 401
    index = client.get(f"{base}/index.html", headers=auth)
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert client.get(f"{base}/", headers=auth).text == index.text
    assert "not run: missing column mobile" in index.text
    assert client.get(f"{base}/docs.css", headers=auth).status_code == 200
    for escape in (f"{base}/..%2F..%2F..%2Fsecret.html", "/docs/..%2F..%2F/x/secret.html", f"{base}/nothing.html"):
        assert client.get(escape, headers=auth).status_code == 404, escape

    assert ">Data Docs</a>" not in client.get("/runs/page", headers=auth).text
    engine = warehouse_engine(get_settings().warehouse_url)
    write_run_record(engine, {"dag_id": DAG_ID, "run_id": RUN_ID, "dataset_key": RESIDENTS,
                              "logical_date": pd.Timestamp("2026-11-27").date(), "rows_received": 15})
    engine.dispose()
    page = client.get("/runs/page", headers=auth).text
    assert f'<a href="{base}/index.html">Data Docs</a>' in page


def test_the_page_shows_the_versions_of_the_standard_and_suite_validated_against(catalogue: Catalogue,
                                                                                 tmp_path: Path) -> None:
    """Issue 16: the run's Data Docs say which standard and suite it was validated against."""
    from governance.standards.versions import dataset_versions
    from governance.validation.suites import suite_path

    dataset = catalogue.dataset(RESIDENTS)
    versions = dataset_versions(catalogue, dataset, suite_path(dataset, REPO_ROOT / "expectations"))
    outcome = validate_frame(residents(3), generate_suite(catalogue, dataset), dataset_key=RESIDENTS)
    page = write_run_docs(outcome.docs_result, tmp_path, DAG_ID, RUN_ID, dataset=RESIDENTS,
                          verdict={"verdict": "passed", "standards": versions}).read_text(encoding="utf-8")
    assert f"标准版本 Standard version</dt><dd><code>{versions['standard_version']}</code>" in page
    assert f"规则集版本 Suite version</dt><dd><code>{versions['suite_version']}</code>" in page
    if versions["standards_commit"]:
        assert versions["standards_commit"] in page
