"""The oversight DAGs: parsed without touching the warehouse, and run for real through ``airflow dags test``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from airflow.dag_processing.dagbag import DagBag
from oversight_support import RESIDENT, publish_rows, record_run

from governance.oversight.history import freshness_history
from governance.standards.catalogue import Catalogue
from governance.warehouse import warehouse_engine

REPO_ROOT = Path(__file__).resolve().parents[2]
GOVERNANCE = str(Path(sys.executable).with_name("governance"))


def test_the_oversight_dags_parse_without_touching_the_warehouse(monkeypatch) -> None:
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/nowhere")
    monkeypatch.setenv("GOVERNANCE_STANDARDS_ROOT", "/nonexistent/standards")
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "oversight.py"))
    assert bag.import_errors == {}
    bulletin_bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "weekly_bulletin.py"))
    assert bulletin_bag.import_errors == {}
    check = bag.dags["governance__oversight"]
    bulletin = bulletin_bag.dags["governance__weekly_bulletin"]
    assert [task.task_id for task in check.tasks] == ["check_freshness"]
    assert [task.task_id for task in bulletin.tasks] == ["write_bulletin"]
    assert check.timetable.expression == "0 * * * *"
    assert bulletin.timetable.expression == "0 8 * * 1"
    assert str(bulletin.timetable.timezone) in ("Asia/Shanghai", "Timezone('Asia/Shanghai')")
    assert check.catchup is False and bulletin.catchup is False


def governance(var_root: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    environment |= {"GOVERNANCE_VAR_ROOT": str(var_root), "GOVERNANCE_WAREHOUSE_URL": url}
    return subprocess.run([GOVERNANCE, *args], env=environment, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_dags_run_through_airflow(tmp_path: Path, catalogue: Catalogue) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse' / 'warehouse.db'}"
    engine = warehouse_engine(url)
    now = datetime.now(UTC)
    record_run(engine, RESIDENT, (now - timedelta(days=1)).date(), finished=now - timedelta(hours=2))
    publish_rows(engine, catalogue, RESIDENT, [now - timedelta(hours=3)])

    for args in (["airflow", "--", "db", "migrate"],
                 ["airflow", "--", "dags", "test", "governance__oversight"],
                 ["airflow", "--", "dags", "test", "governance__weekly_bulletin", "-c",
                  json.dumps({"week_ending": "2026-11-22"})]):
        done = governance(tmp_path, url, *args)
        assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        assert "state=failed" not in done.stdout + done.stderr, done.stdout[-3000:]

    with engine.connect() as connection:
        rows = connection.execute(sa.select(freshness_history.c.dataset_key, freshness_history.c.status)).all()
    assert dict(rows) == {key: "fresh" if key == RESIDENT else "never-loaded" for key in catalogue.datasets}
    assert (tmp_path / "bulletins" / "bulletin_2026-11-22.html").is_file()
    assert (tmp_path / "bulletins" / "bulletin_2026-11-22.csv").is_file()
    engine.dispose()
