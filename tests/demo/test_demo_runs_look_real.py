"""`make demo`'s runs look in the Airflow UI like the scheduler's (issue 15): each run starts when it really
starts (not at its logical date, which showed last night's run lasting 1d22h) and every task has its log in
the file the UI reads, the validate summary included."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

DAY = "2026-11-27"
DAG_ID = "taxation__taxpayer_credit_rating"
SCRIPT = """
import os, sys
from datetime import date
from governance.settings import airflow_environment
os.environ.update(airflow_environment())
from governance_demo.run import run_demo
sys.exit(0 if run_demo(date.fromisoformat(sys.argv[1]), only={sys.argv[2]}) else 1)
"""


@pytest.mark.slow
def test_a_demo_run_starts_now_and_its_task_logs_are_where_the_ui_reads_them(tmp_path: Path) -> None:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    environment |= {"GOVERNANCE_VAR_ROOT": str(tmp_path), "GOVERNANCE_TASK_RETRIES": "0",
                    "GOVERNANCE_WAREHOUSE_URL": f"sqlite:///{tmp_path / 'warehouse' / 'warehouse.db'}"}
    governance = str(Path(sys.executable).with_name("governance"))
    for args in (["keys", "init"], ["demo-data", "--date", DAY, "--rows", "200"]):
        done = subprocess.run([governance, *args], env=environment, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-c", SCRIPT, DAY, DAG_ID], env=environment, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with sqlite3.connect(tmp_path / "airflow" / "airflow.db") as db:
        (run_id, start, end, logical), = db.execute(
            "SELECT run_id, start_date, end_date, logical_date FROM dag_run WHERE dag_id = ?", (DAG_ID,))
    started, ended = datetime.fromisoformat(start), datetime.fromisoformat(end)
    assert 0 < (ended - started).total_seconds() < 600  # minutes, not the day and a half since the logical date
    assert logical.startswith("2026-11-26 16:00")  # the business date 2026-11-27 in Asia/Shanghai, as before
    run_logs = tmp_path / "airflow" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
    files = {path.relative_to(run_logs).parts[0] for path in run_logs.rglob("attempt=1.log")}
    assert files == {f"task_id={task}" for task in ("delivery", "pull", "plan", "validate_chunk", "validate",
                                                    "mask_chunk", "mask", "publish", "record")}
    events = [json.loads(line) for line in (run_logs / "task_id=validate" / "attempt=1.log").read_text(
        encoding="utf-8").splitlines()]
    assert all({"timestamp", "level", "event"} <= set(event) for event in events)
    assert sum(event["event"].startswith("校验结果 / verdict: ") for event in events) == 1  # once, not copied twice
    assert any(event["event"] == "Done. Returned value not shown" for event in events)  # the task runner's own
    report = "    /governance/reports/taxation/taxpayer_credit_rating/"
    assert any(event["event"].startswith(report) for event in events)
