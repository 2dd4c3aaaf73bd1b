"""`make demo DAYS=3`: a short history whose warehouse shows what the demo promises a visitor.

Runs the commands ``make demo`` runs (``keys init``, then ``demo --days 3``) in a private var/ folder: two nights
replayed through the DAGs' own tasks with consumer traffic through the sharing API, the last night through
Airflow. The checks read the warehouse the console reads, not the demo's printout.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from governance.warehouse import warehouse_engine

GOVERNANCE = str(Path(sys.executable).with_name("governance"))
LAST_NIGHT = "2026-11-25"  # a Wednesday: only the daily datasets are due on the night Airflow runs
DAYS = 3

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[sa.Engine, str]:
    var_root = tmp_path_factory.mktemp("demo-history")
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("AIRFLOW", "GOVERNANCE_"))} | {"GOVERNANCE_VAR_ROOT": str(var_root)}
    output = ""
    for args in (["keys", "init"], ["demo", "--date", LAST_NIGHT, "--days", str(DAYS)]):
        done = subprocess.run([GOVERNANCE, *args], env=environment, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"governance {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        output = done.stdout
    engine = warehouse_engine(f"sqlite:///{var_root / 'warehouse' / 'warehouse.db'}")
    yield engine, output
    engine.dispose()


def scalar(engine: sa.Engine, query: str) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.text(query)).scalar() or 0


def test_every_night_is_a_business_date_in_the_run_records(demo) -> None:
    engine, _ = demo
    assert scalar(engine, "SELECT count(DISTINCT logical_date) FROM governance.run_record") >= DAYS


def test_consumers_of_three_departments_called_the_sharing_api(demo) -> None:
    engine, _ = demo
    assert scalar(engine, "SELECT count(DISTINCT consumer) FROM governance.access_log "
                          "WHERE consumer NOT IN ('anonymous', 'unknown')") >= 3


def test_a_call_without_an_agreement_was_denied(demo) -> None:
    engine, _ = demo
    assert scalar(engine, "SELECT count(*) FROM governance.access_log WHERE decision = 'denied'") >= 1


def test_the_bulk_download_was_intercepted(demo) -> None:
    engine, output = demo
    assert scalar(engine, "SELECT count(*) FROM governance.security_event WHERE kind = 'scan_pattern'") >= 1
    assert scalar(engine, "SELECT count(*) FROM governance.access_log WHERE decision = 'blocked'") >= 1
    assert "password" in output and "/governance/oversight/page" in output  # the summary says where to look


def test_the_summary_names_the_bulletin_the_demo_wrote_and_every_console_page(demo) -> None:
    _, output = demo
    bulletin = re.search(r"weekly bulletin: (\S+\.html)", output)
    assert bulletin and Path(bulletin.group(1)).is_file()
    for page in ("/governance/runs/page", "/governance/quarantine/page", "/governance/datasets/page"):
        assert page in output


def test_a_quarantine_entry_was_closed_by_a_later_publish(demo) -> None:
    engine, _ = demo
    assert scalar(engine, "SELECT count(*) FROM governance.quarantine WHERE status = 'closed' "
                          "AND closed_by_run IS NOT NULL") >= 1
