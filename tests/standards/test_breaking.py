"""Breaking changes between two versions of the standards, classified against the agreements in force; a
breaking change merges only after a notice; consumers are told through the alert channel."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from change_support import commit, edit, make_repo
from standards_support import problems_of

from governance import cli
from governance.standards.breaking import BREAKING, INFO, WARNING, compare, notice_problems
from governance.standards.catalogue import Catalogue, check_catalogue, load_catalogue
from governance.standards.notices import consumer_notices

TODAY = date(2026, 12, 3)
RESIDENTS = "datasets/public_security/resident_population.yaml"
ENTERPRISES = "datasets/market_regulation/enterprise_registration.yaml"


@pytest.fixture
def changed(standards: Path, catalogue: Catalogue):
    """``changed(edits)``: the comparison of the real standards with a copy after ``(file, old, new)`` edits."""

    def apply(*edits: tuple[str, str, str]) -> list[tuple]:
        for file, old, new in edits:
            edit(standards / file, old, new)
        # check_catalogue: an agreement still listing a removed column is its own problem (unknown-column)
        comparison = compare(catalogue, check_catalogue(standards)[0], TODAY)
        return [(c.dataset, c.column, c.rule, c.level, c.consumers) for c in comparison.changes]

    return apply


def test_removed_renamed_narrowed_and_remasked_columns_break_their_readers(changed):
    found = changed(
        (RESIDENTS, "    - {name: region_code, element: division_code, required: true}\n", ""),
        (RESIDENTS, "{name: name, element: person_name, required: true}",
         "{name: full_name, element: person_name, required: true}"),
        (RESIDENTS, "{name: id_number, element: resident_id_number}",
         "{name: id_number, element: resident_id_number, masking: encrypt}"),
        ("elements/person.yaml", "max_length: 50", "max_length: 40"),
    )
    residents = "public_security/resident_population"
    assert (residents, "region_code", "column-removed", BREAKING, ("civil_affairs",)) in found
    assert (residents, "name", "column-renamed", BREAKING, ("civil_affairs",)) in found
    assert (residents, "id_number", "masking-changed", BREAKING, ("civil_affairs",)) in found
    # person_name is also the legal representative of an (unconditional) enterprise: every department reads it.
    assert ("market_regulation/enterprise_registration", "legal_representative", "length-narrowed", BREAKING,
            ("*",)) in found
    # A column no agreement in force grants: told as information, breaks nobody.
    assert (residents, "mobile", "column-removed", INFO, ()) not in found  # untouched
    assert not [c for c in found if c[1] == "address"]


def test_columns_nobody_reads_and_loosening_changes_are_not_breaking(changed):
    found = changed(
        (RESIDENTS, "    - {name: mobile, element: mobile_number}\n", ""),
        ("elements/common.yaml", "max_length: 500", "max_length: 800"),
        (ENTERPRISES, "sharing: unconditional", "sharing: conditional"),
        (ENTERPRISES, "load_mode: upsert", "load_mode: snapshot"),
    )
    levels = {(c[1], c[2]): (c[3], c[4]) for c in found}
    assert levels[("mobile", "column-removed")] == (INFO, ())  # conditional, no agreement lists it
    assert levels[("credit_code", "sharing-narrowed")] == (BREAKING, ("*",))
    assert levels[(None, "load-mode-changed")][0] == WARNING
    assert all(level != BREAKING for (column, _), (level, _) in levels.items() if column == "mobile")


NOTICE = """  changes:
    - effective_from: {effective}
      notice: {notice}
      summary: {summary}
      columns: [{column}]
"""


def notice_text(effective, told, column: str = "region_code",
                summary: str = "停止共享户籍区划代码 region_code, 改由区划服务提供") -> str:
    return NOTICE.format(effective=effective, notice=told, column=column, summary=summary)


def test_a_breaking_change_needs_a_notice_announced_earlier_and_in_force(standards, catalogue):
    drop_region = (RESIDENTS, "    - {name: region_code, element: division_code, required: true}\n", "")

    def problems(base: Catalogue, *, notice: tuple[date, date] | None = None) -> list[str]:
        target = standards.parent / f"new-{len(list(standards.parent.iterdir()))}"
        shutil.copytree(base.root, target)
        edit(target / drop_region[0], drop_region[1], drop_region[2])
        if notice is not None:
            edit(target / RESIDENTS, "  columns:\n", notice_text(notice[0], notice[1])
                 + "  columns:\n")
        new = check_catalogue(target)[0]
        return notice_problems(base, new, compare(base, new, TODAY), TODAY)

    [refused] = problems(catalogue)
    assert refused.endswith("[breaking-without-notice]") and "civil_affairs" in refused
    [same_merge] = problems(catalogue, notice=(TODAY, TODAY - timedelta(days=40)))
    assert same_merge.endswith("[not-announced]")

    def announced(effective: date, told: date) -> Catalogue:
        edit(standards / RESIDENTS, "  columns:\n", notice_text(effective, told) + "  columns:\n")
        return load_catalogue(standards)

    early = announced(TODAY + timedelta(days=20), TODAY - timedelta(days=10))
    [too_early] = problems(early)
    assert too_early.endswith("[not-yet-effective]")
    shutil.rmtree(standards)
    shutil.copytree(catalogue.root, standards)
    assert problems(announced(TODAY, TODAY - timedelta(days=30))) == []


def test_standards_check_refuses_a_notice_period_under_thirty_days(standards):
    edit(standards / RESIDENTS, "  columns:\n", notice_text("2027-01-10", "2026-12-20")
         + "  columns:\n")
    [problem] = problems_of(standards)
    assert "gives consumers 21 days; at least 30" in problem and problem.endswith("[notice-period]")


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_announce_then_merge_then_tell_the_consumers(tmp_path, monkeypatch, capsys, webhook):
    url, received = webhook
    repo = make_repo(tmp_path)
    monkeypatch.setenv("GOVERNANCE_STANDARDS_ROOT", str(repo / "standards"))
    monkeypatch.setenv("GOVERNANCE_EXPECTATIONS_ROOT", str(repo / "expectations"))
    monkeypatch.setenv("GOVERNANCE_ALERT_WEBHOOK_URL", url)
    monkeypatch.setenv("GOVERNANCE_ALERT_EMAIL_TO", "")
    standard = repo / "standards" / RESIDENTS
    today = date.today()

    encrypt = ("{name: id_number, element: resident_id_number}",
               "{name: id_number, element: resident_id_number, masking: encrypt}")
    edit(standard, *encrypt)
    assert cli.main(["standards", "check"]) == 1  # against HEAD: breaking, no notice
    assert "[breaking-without-notice]" in capsys.readouterr().out
    edit(standard, encrypt[1], encrypt[0])  # put it back; announce first
    edit(standard, "  columns:\n", notice_text(today, today - timedelta(days=31), "id_number",
                                               "身份号码改为加密发布, 假名停止提供") + "  columns:\n")
    assert cli.main(["standards", "check"]) == 0
    capsys.readouterr()
    announcement = commit(repo, "变更预告: id_number 改为加密")
    assert cli.main(["standards", "notify", "--base", "HEAD~1"]) == 0
    [told] = received
    assert "民政" in told["subject"] and "civil_affairs" in told["subject"]
    assert "变更预告" in told["message"] and "id_number" in told["message"]

    edit(standard, *encrypt)
    assert cli.main(["standards", "check", "--base", announcement]) == 0
    assert "1 breaking" in capsys.readouterr().out
    commit(repo, "id_number 改为加密 (已预告)")
    assert cli.main(["standards", "notify", "--base", announcement, "--dry-run"]) == 0
    assert len(received) == 1 and "已生效" in capsys.readouterr().out
    assert cli.main(["standards", "notify", "--base", announcement]) == 0
    assert "masking" in received[-1]["message"] and "civil_affairs" in received[-1]["subject"]


def test_consumer_notices_name_each_reader_once(standards, catalogue):
    edit(standards / ENTERPRISES, "sharing: unconditional", "sharing: conditional")
    edit(standards / RESIDENTS, "{name: id_number, element: resident_id_number}",
         "{name: id_number, element: resident_id_number, masking: encrypt}")
    notices = consumer_notices(catalogue, load_catalogue(standards), TODAY)
    assert [notice.consumer for notice in notices] == ["*", "civil_affairs"]
    assert "全部部门" in notices[0].subject and "credit_code" in notices[0].message
