"""The nightly DAGs' Deadline Alert: when it falls, that it survives serialization, and what a miss does."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import structlog
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import DeadlineReference

from governance.alerts import GovernanceNotifier
from governance.oversight.deadline import nightly_deadline_interval, parse_local_time

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("cron", "deadline", "interval"), [
    ("0 2 * * *", "06:00", timedelta(hours=28)),  # logical 02:00 D, run 02:00 D+1, due 06:00 D+1
    ("0 23 * * *", "06:00", timedelta(hours=31)),  # run at 23:00 D+1: due the next morning
    ("30 1 * * *", "01:00", timedelta(hours=47, minutes=30)),  # 01:00 has passed when the run starts
    ("0 2 * * *", "02:00", timedelta(hours=48)),  # due exactly at the start means the next day
])
def test_the_interval_runs_from_the_logical_date_to_the_first_deadline_after_the_run_is_due(
        cron: str, deadline: str, interval: timedelta) -> None:
    assert nightly_deadline_interval(cron, "Asia/Shanghai", deadline) == interval


@pytest.mark.parametrize("value", ["6", "6h", "25:00", "06:61", ""])
def test_a_bad_deadline_setting_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ValueError, match="GOVERNANCE_NIGHTLY_DEADLINE must be HH:MM"):
        parse_local_time(value)


@pytest.fixture(scope="module")
def bag() -> DagBag:
    return DagBag(dag_folder=str(REPO_ROOT / "dags"))


def test_every_dataset_dag_must_finish_by_the_deadline(bag: DagBag, catalogue) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    for dataset in catalogue.datasets.values():
        (alert,) = bag.dags[dataset.dag_id].deadline
        assert alert.reference == DeadlineReference.DAGRUN_LOGICAL_DATE
        assert alert.interval == timedelta(hours=28)
        assert alert.callback.path == "governance.alerts.GovernanceNotifier"
        assert alert.callback.kwargs["subject"] == \
            f"[夜间运行超时] {dataset.dag_id} not finished by 06:00 (Asia/Shanghai)"
    serialized = json.dumps(DagSerialization.to_dict(bag.dags["health__medical_institution"]), default=str)
    assert "governance.alerts.GovernanceNotifier" in serialized
    assert "DagRunLogicalDateDeadline" in serialized


def test_a_failed_run_alerts_once_through_the_same_notifier(bag: DagBag, catalogue, caplog) -> None:
    for dataset in catalogue.datasets.values():
        callback = bag.dags[dataset.dag_id].on_failure_callback
        callback = callback[0] if isinstance(callback, list) and len(callback) == 1 else callback
        assert isinstance(callback, GovernanceNotifier)
    callback.webhook_url, callback.email_to = "", []
    with caplog.at_level(logging.WARNING, logger="governance.alerts"):
        callback({"dag_run": {"dag_id": dataset.dag_id, "run_id": "scheduled__2026-06-14"}})
    assert f"[夜间运行失败] {dataset.dag_id}: run failed" in caplog.text
    assert f"{dataset.dag_id} 的运行 scheduled__2026-06-14 失败" in caplog.text


def test_the_deadline_follows_its_setting(monkeypatch) -> None:
    monkeypatch.setenv("GOVERNANCE_NIGHTLY_DEADLINE", "07:30")
    dags = DagBag(dag_folder=str(REPO_ROOT / "dags" / "departmental_datasets.py"))
    (alert,) = dags.dags["public_security__resident_population"].deadline
    assert alert.interval == timedelta(hours=29, minutes=30)
    assert "not finished by 07:30" in alert.callback.kwargs["subject"]


def test_the_deadline_can_be_switched_off(monkeypatch) -> None:
    monkeypatch.setenv("GOVERNANCE_NIGHTLY_DEADLINE", "off")
    dags = DagBag(dag_folder=str(REPO_ROOT / "dags" / "departmental_datasets.py"))
    assert dags.import_errors == {}
    assert not dags.dags["public_security__resident_population"].deadline


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", received
    server.shutdown()
    server.server_close()


def test_a_missed_deadline_runs_the_callback_as_the_executor_does(bag: DagBag, hook, monkeypatch, caplog) -> None:
    """Airflow's own callback runner: import the path, build the notifier with the kwargs, call it."""
    from airflow.sdk.execution_time.callback_supervisor import execute_callback

    url, received = hook
    monkeypatch.setenv("GOVERNANCE_ALERT_WEBHOOK_URL", url)
    (alert,) = bag.dags["health__medical_institution"].deadline
    context = {"dag_run": {"dag_id": "health__medical_institution", "run_id": "scheduled__2026-11-26T18:00:00+00:00",
                           "state": "running"},
               "deadline": {"id": "d1", "deadline_time": "2026-11-27T22:00:00+00:00"}}
    with caplog.at_level(logging.WARNING, logger="governance.alerts"):
        ok, error = execute_callback(alert.callback.path, {**alert.callback.kwargs, "context": context},
                                     dag_rel_path=None, bundle_path=None, log=structlog.get_logger())
    assert (ok, error) == (True, None)
    (posted,) = received
    assert posted["subject"] == "[夜间运行超时] health__medical_institution not finished by 06:00 (Asia/Shanghai)"
    assert "The nightly run scheduled__2026-11-26T18:00:00+00:00 of health__medical_institution" in posted["message"]
    assert "2026-11-27T22:00:00+00:00 (UTC); state running" in posted["message"]
    assert "[夜间运行超时] health__medical_institution" in caplog.text
