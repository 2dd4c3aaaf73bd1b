"""Two departments' history for the console's tests: nightly runs, a failed rerun, quarantine, consumers.

Civil affairs (A) and health (B) each ran five nights (``DAY`` minus 4 to ``DAY``) with quarantined rows, then a
manual rerun for the next day, when nothing was delivered, failed: the latest attempt is a failure and the last
publish is ``DAY``'s. A's quarantine: key k1 failed on DAY-2 and again on DAY-1 (resubmitted), key k2 failed on
DAY-2 and was published on DAY (closed), a row without a key failed on DAY-1. One masked value is hostile markup.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from governance.pipeline import quarantine
from governance.sharing.tables import access_log, ensure_sharing_tables
from governance.validation.data_docs import run_docs_folder
from governance.warehouse import write_quarantine, write_run_record
from governance.warehouse.records import close_resolved_quarantine

A, B = "civil_affairs/subsistence_allowance", "health/medical_institution"
DAG = {A: "civil_affairs__subsistence_allowance", B: "health__medical_institution"}
DAY = datetime(2026, 11, 27).date()
HOSTILE = "<script>alert(1)</script>"
HOSTILE_FILE = "<script>alert(2)</script>.csv"  # a file name the department chose
RAW_VALUE = "110101194903070011"  # only in A's raw report file, never on a console page
RULES = {A: {"id_number.resident_id": 3, "name.not_null": 1}, B: {"credit_code.credit_code": 2, "level.code_table": 1}}


def run_id(day, manual: bool = False) -> str:
    return f"{'manual' if manual else 'scheduled'}__{day.isoformat()}T16:00:00+00:00"


def seed(engine: sa.Engine, var_root: Path) -> None:
    for key in (A, B):
        department = key.split("/")[0]
        for back in range(4, -1, -1):
            day = DAY - timedelta(days=back)
            started = datetime(day.year, day.month, day.day, 18, 0) + timedelta(days=1)
            quarantined = sum(RULES[key].values()) + back
            write_run_record(engine, {
                "dag_id": DAG[key], "run_id": run_id(day), "dataset_key": key, "department": department,
                "logical_date": day, "started_at": started, "finished_at": started + timedelta(seconds=95),
                "verdict": "passed_with_quarantine", "rows_received": 1000, "rows_passed": 1000 - quarantined,
                "rows_quarantined": quarantined, "rows_published": 1000 - quarantined,
                "quarantined_by_rule": {rule: count + back for rule, count in RULES[key].items()},
                "published_table": f"shared.{DAG[key]}", "masked_columns": ["id_number"],
                "standard_version": "std-v1" if back > 2 else "std-v2", "suite_version": "suite-v1"})
        rerun = DAY + timedelta(days=1)
        started = datetime(rerun.year, rerun.month, rerun.day, 20, 0) + timedelta(days=1)
        write_run_record(engine, {
            "dag_id": DAG[key], "run_id": run_id(rerun, manual=True), "dataset_key": key, "department": department,
            "logical_date": rerun, "started_at": started, "finished_at": started + timedelta(seconds=5),
            "verdict": "failed", "rows_received": 0, "rows_passed": 0, "rows_quarantined": 0, "rows_published": 0,
            "message": "the drop holds no rows"})
        docs = run_docs_folder(var_root / "data_docs", DAG[key], run_id(DAY))
        docs.mkdir(parents=True, exist_ok=True)
        (docs / "index.html").write_text(f"<h1>Data Docs {key}</h1>", encoding="utf-8")
        report = var_root / "reports" / key / f"quarantine_{DAY.isoformat()}.html"
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(f"<table><tr><td>{RAW_VALUE}</td></tr></table>", encoding="utf-8")
    source = f"civil_affairs/subsistence_allowance/{DAY - timedelta(days=2)}/allowance.csv"
    write_quarantine(engine, run_id(DAY - timedelta(days=2)), A, [
        {"source_file": source, "source_line": 7, "rules": "id_number.resident_id", "key_token": "k1",
         "masked_row": {"id_number": "tok-1a2b", "name": "张*", "assistance_type": "01", "remarks": HOSTILE},
         "raw_row_encrypted": "gAAAA-ciphertext-1"},
        {"source_file": source, "source_line": 9, "rules": "name.not_null; id_number.resident_id", "key_token": "k2",
         "masked_row": {"id_number": "tok-3c4d", "name": None, "assistance_type": "02"},
         "raw_row_encrypted": "gAAAA-ciphertext-2"}])
    write_quarantine(engine, run_id(DAY - timedelta(days=1)), A, [
        {"source_file": source.replace(str(DAY - timedelta(days=2)), str(DAY - timedelta(days=1))), "source_line": 7,
         "rules": "id_number.resident_id", "key_token": "k1",
         "masked_row": {"id_number": "tok-1a2b", "name": "张*", "assistance_type": "01"},
         "raw_row_encrypted": "gAAAA-ciphertext-3"},
        {"source_file": HOSTILE_FILE, "source_line": 3, "rules": "id_number.not_null", "key_token": None,
         "masked_row": {"id_number": None, "name": "李*"}, "raw_row_encrypted": "gAAAA-ciphertext-4"}])
    assert close_resolved_quarantine(engine, A, ["k2"], run_id(DAY)) == 1
    resent = source.replace(str(DAY - timedelta(days=2)), str(DAY - timedelta(days=1)))
    quarantine.write_reports(pd.DataFrame({  # the department's own report of DAY-1, by the pipeline's writer
        "_source_file": [resent, HOSTILE_FILE], "_source_line": [7, 3],
        "_rules": ["id_number.resident_id", "id_number.not_null"], "_reasons": ["bad_check_character", "missing"],
        "id_number": [RAW_VALUE, None], "name": ["张三", "李四"]}),
        var_root / "reports" / A, f"quarantine_{DAY - timedelta(days=1)}")
    write_quarantine(engine, run_id(DAY), B, [
        {"source_file": "health/medical_institution/register.csv", "source_line": 4, "rules": "credit_code.credit_code",
         "key_token": "h1", "masked_row": {"credit_code": "91350100M000100Y4X", "institution_name": "第一医院"},
         "raw_row_encrypted": "gAAAA-ciphertext-5"}])
    ensure_sharing_tables(engine)
    with engine.begin() as connection:
        calls = (("taxation", B, "allowed", 500, 3), ("taxation", B, "allowed", 20, 2),
                 ("market_regulation", A, "allowed", 40, 5), ("market_regulation", A, "denied", 0, 1))
        for consumer, key, decision, rows, hours in calls:
            connection.execute(sa.insert(access_log).values(
                at=datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=hours),
                request_id=f"r{hours}{consumer[:3]}", consumer=consumer, method="GET",
                endpoint="/datasets/{department}/{dataset}/rows", dataset_key=key,
                rows_returned=rows, decision=decision, status_code=200 if decision == "allowed" else 403))
