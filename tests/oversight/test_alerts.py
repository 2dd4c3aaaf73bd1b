"""Hourly check: history rows, one alert per transition (and recovery), retries of undelivered alerts,
and the notifier's channels (log always; webhook and e-mail against real local servers)."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import threading
import warnings
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from oversight_support import NOW, RESIDENT, publish_rows, record_run

from governance.alerts import GovernanceNotifier, NotificationFailed
from governance.oversight import FRESH, NEVER_LOADED, STALE, WARN, assess
from governance.oversight.check import run_freshness_check
from governance.oversight.history import freshness_history, transitions
from governance.standards.catalogue import Catalogue


class Recorder:
    """Stands in for the notifier class: records every alert; fails for the datasets in ``failing``."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.failing: set[str] = set()

    def __call__(self, subject: str, message: str, level: str) -> Any:
        def send(context: dict) -> None:
            if any(key in subject for key in self.failing):
                raise NotificationFailed("webhook: 503")
            self.sent.append(subject)
        return send

    def take(self) -> list[str]:
        sent, self.sent = self.sent, []
        return sent


def test_transitions_are_changes_into_a_problem_or_back_to_fresh(catalogue: Catalogue) -> None:
    dataset = catalogue.dataset(RESIDENT)

    def item(status: str):
        ages = {FRESH: 1, WARN: 35, STALE: 60}
        return assess(dataset, NOW - timedelta(hours=ages[status]), None, NOW) if status in ages else \
            assess(dataset, None, None, NOW)

    def change(before: str | None, after: str) -> list[tuple]:
        found = transitions([item(after)], {RESIDENT: before} if before else {})
        return [(t.before, t.after, t.recovery) for t in found]

    assert change(None, FRESH) == []  # first sight, fine: no news
    assert change(None, NEVER_LOADED) == [(None, NEVER_LOADED, False)]
    assert change(FRESH, FRESH) == []
    assert change(FRESH, WARN) == [(FRESH, WARN, False)]
    assert change(WARN, WARN) == []
    assert change(WARN, STALE) == [(WARN, STALE, False)]
    assert change(STALE, FRESH) == [(STALE, FRESH, True)]


def test_each_transition_is_announced_once_and_undelivered_ones_again(warehouse: sa.Engine,
                                                                     catalogue: Catalogue) -> None:
    recorder = Recorder()

    def check(hours_later: float = 0) -> None:
        run_freshness_check(warehouse, catalogue, now=NOW + timedelta(hours=hours_later), notifier=recorder)

    check()
    first = recorder.take()
    assert len(first) == len(catalogue.datasets)
    assert all("unchecked -> never-loaded (从未入库)" in subject for subject in first)
    check(1)
    assert recorder.take() == []  # still never loaded: no repeat

    record_run(warehouse, RESIDENT, date(2026, 11, 26), finished=NOW + timedelta(hours=1))
    publish_rows(warehouse, catalogue, RESIDENT, [NOW])
    recorder.failing = {RESIDENT}
    result = run_freshness_check(warehouse, catalogue, now=NOW + timedelta(hours=2), notifier=recorder)
    assert result.undelivered == [RESIDENT] and recorder.take() == []
    recorder.failing = set()
    check(3)
    (recovered,) = recorder.take()  # delivery failed last hour, so it goes out now
    assert RESIDENT in recovered and "never-loaded -> fresh" in recovered
    check(4)
    assert recorder.take() == []
    check(40)  # 39 h after the publish: daily datasets warn after 30 h
    (warned,) = recorder.take()
    assert "fresh -> warn (预警)" in warned

    with warehouse.connect() as connection:
        rows = connection.execute(sa.select(freshness_history).order_by(freshness_history.c.id)).mappings().all()
    assert len(rows) == 6 * len(catalogue.datasets)
    resident = [row for row in rows if row["dataset_key"] == RESIDENT]
    assert [row["status"] for row in resident] == [NEVER_LOADED, NEVER_LOADED, FRESH, FRESH, FRESH, WARN]
    assert [row["notified"] for row in resident] == [True, True, False, True, True, True]
    assert resident[-1]["pipeline_age_h"] == pytest.approx(39)


# ------------------------------------------------------------------------------- channels


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict], dict]]:
    """A local webhook receiver: (url, received JSON bodies, {"status": code to answer})."""
    received: list[dict] = []
    answer = {"status": 204}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(answer["status"])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received, answer
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_server(monkeypatch) -> Iterator[list[dict]]:
    """A local SMTP server (stdlib smtpd, fine for a test on 3.11) and the Airflow connection to it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import asyncore
        import smtpd

    messages: list[dict] = []

    class Capture(smtpd.SMTPServer):
        def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
            messages.append({"from": mailfrom, "to": rcpttos, "data": data})

    server = Capture(("127.0.0.1", 0), None, decode_data=False)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(target=asyncore.loop, kwargs={"timeout": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("AIRFLOW_CONN_GOVERNANCE_TEST_SMTP", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": port,
        "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 0, "timeout": 5}}))
    monkeypatch.setenv("GOVERNANCE_ALERT_SMTP_CONN_ID", "governance_test_smtp")
    yield messages
    server.close()
    thread.join(timeout=2)


def test_the_notifier_logs_and_posts_to_the_webhook(webhook, caplog) -> None:
    url, received, _ = webhook
    notifier = GovernanceNotifier(subject="[数据时效] a/b: fresh -> stale", message="line one\nline two",
                                  webhook_url=url, email_to="")
    assert notifier.channels == ["log", "webhook"]
    with caplog.at_level(logging.WARNING, logger="governance.alerts"):
        notifier({})
    assert received == [{"source": "governance", "subject": "[数据时效] a/b: fresh -> stale",
                         "message": "line one\nline two", "details": {}}]
    assert "[数据时效] a/b: fresh -> stale" in caplog.text


def test_the_notifier_mails_through_the_smtp_provider(smtp_server, monkeypatch) -> None:
    monkeypatch.setenv("GOVERNANCE_ALERT_EMAIL_TO", "oncall@example.gov.cn, lead@example.gov.cn")
    monkeypatch.setenv("GOVERNANCE_ALERT_EMAIL_FROM", "governance@example.gov.cn")
    notifier = GovernanceNotifier(subject="[数据时效] a/b: warn", message="<b>not markup</b>", webhook_url="")
    assert notifier.channels == ["log", "email"]
    notifier({})
    (mail,) = smtp_server
    assert mail["from"] == "governance@example.gov.cn"
    assert sorted(mail["to"]) == ["lead@example.gov.cn", "oncall@example.gov.cn"]
    message = email.message_from_bytes(mail["data"], policy=email.policy.default)
    assert str(message["Subject"]) == "[数据时效] a/b: warn"
    (body,) = [part.get_content() for part in message.walk() if part.get_content_type() == "text/html"]
    assert "&lt;b&gt;not markup&lt;/b&gt;" in body  # the message is text, escaped into the HTML mail


def test_a_failing_channel_still_logs_tries_the_others_and_raises(webhook, caplog) -> None:
    url, received, answer = webhook
    answer["status"] = 503
    notifier = GovernanceNotifier(subject="s", message="m", webhook_url=url, email_to="")
    with caplog.at_level(logging.WARNING, logger="governance.alerts"), \
            pytest.raises(NotificationFailed, match="webhook: HTTP 503"):
        notifier({})
    assert len(received) == 1
    assert "alert not delivered (s): webhook: HTTP 503" in caplog.text
    assert url not in caplog.text  # a webhook's address may carry its token: never logged


def test_templates_render_against_the_deadline_context() -> None:
    notifier = GovernanceNotifier(subject="late: {{ dag_run.dag_id }}", message="run {{ dag_run.run_id }}",
                                  webhook_url="", email_to="")
    notifier({"dag_run": {"dag_id": "health__medical_institution", "run_id": "scheduled__x"}})
    assert (notifier.subject, notifier.message) == ("late: health__medical_institution", "run scheduled__x")
