"""The validate and mask steps cut into chunks: bounded memory per task, chunks in parallel across workers.

``plan`` (after pull) fixes the chunks and checks the whole-run rules (key uniqueness, ``keys``); each
``validate_chunk`` / ``mask_chunk`` handles one chunk and can run on any worker (Airflow dynamic task mapping);
``finish_validate`` / ``finish_mask`` add the chunks up into the same step summaries the one-piece steps write,
so the verdict (quarantine share, shrinkage) is over the whole run and ``record`` and ``publish`` are unchanged.
The tests prove that any chunk size gives exactly the output of one chunk.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from governance import masking, validation
from governance.masking import checks as key_checks
from governance.masking import pseudonym_rotation
from governance.pipeline import chunk_reports, quarantine, steps
from governance.pipeline.chunks import (
    chunk_bounds,
    chunk_count,
    chunk_rows_setting,
    chunks_folder,
    read_chunk_summaries,
    read_rows,
    received_rows,
    reset_outputs,
    split_suite,
    write_chunk_summary,
    write_part,
)
from governance.pipeline.keys import duplicate_positions, unique_columns
from governance.pipeline.steps import Run, enforce, judge
from governance.validation import runner
from governance.validation.suites import rule_id


def _suite(run: Run) -> dict[str, Any]:
    return steps.run_suite(run)


def plan(run: Run, chunk_rows: int | None = None) -> dict:
    """Fix the run's chunks and find the rows that break a uniqueness rule anywhere in the run."""
    rows = received_rows(run.area)
    columns = pq.ParquetFile(run.area.received).schema_arrow.names
    split = split_suite(_suite(run), columns)
    chunk_rows = chunk_rows or chunk_rows_setting()
    if not split.chunkable:
        chunk_rows = max(rows, 1)  # an aggregate rule needs every row in one frame
    reset_outputs(run.area, chunks_folder(run.area), run.area.passed, run.area.quarantined, run.area.masked)
    pieces = []
    for expectation in split.unique:
        kwargs = expectation.get("kwargs") or {}
        positions = duplicate_positions(run.area.received, unique_columns(expectation))
        rule = rule_id(expectation) or f"{expectation['type']}:{runner._reported_column(kwargs)}"
        pieces.append(pd.DataFrame({"row": pd.array(positions, dtype="int64"), "rule": rule,
                                    "column": runner._reported_column(kwargs),
                                    "reason": runner._REASONS[expectation["type"]]}))
    unique = pd.concat(pieces, ignore_index=True) if pieces else runner._empty_failures()
    unique.astype({"rule": "string", "column": "string", "reason": "string"}).to_parquet(
        chunks_folder(run.area) / "unique.parquet", index=False)
    summary = {"rows": rows, "chunk_rows": chunk_rows, "chunks": list(range(chunk_count(rows, chunk_rows))),
               "standards": steps.standards_versions(run),
               "unique_rules": [rule_id(expectation) for expectation in split.unique],
               "unique_rows": int(unique["row"].nunique()) if len(unique) else 0}
    run.area.write_step("plan", summary)
    return summary


def validate_chunk(run: Run, chunk: int) -> dict:
    plan_summary = run.area.read_step("plan")
    start, stop = chunk_bounds(plan_summary["rows"], plan_summary["chunk_rows"], chunk)
    received = read_rows(run.area.received, start, stop)
    split = split_suite(_suite(run), list(received.columns))
    outcome = validation.validate_frame(received, split.per_chunk, dataset_key=run.dataset.key)
    unique = pd.read_parquet(chunks_folder(run.area) / "unique.parquet",
                             filters=[("row", ">=", start), ("row", "<", stop)])
    failures = outcome.row_failures
    if len(unique):
        unique = unique.assign(row=unique["row"] - start).astype({col: object for col in ("rule", "column", "reason")})
        failures = pd.concat([failures, unique], ignore_index=True).sort_values(["row", "rule"], kind="stable")
    passed, quarantined = quarantine.split_rows(received, failures.reset_index(drop=True))
    if len(passed) + len(quarantined) != len(received):
        raise AssertionError(f"row accounting broke for {run.dataset.key} chunk {chunk}: {len(received)} received, "
                             f"{len(passed)} passed, {len(quarantined)} quarantined")
    write_part(passed, run.area.passed, chunk)
    write_part(quarantined, run.area.quarantined, chunk, text_columns=("_rules", "_reasons"))
    summary = {"rows_received": len(received), "rows_passed": len(passed), "rows_quarantined": len(quarantined),
               "quarantined_by_rule": quarantine.rule_counts(failures), "table_failures": outcome.table_failures,
               "docs": chunk_reports.docs_entries(outcome.docs_result), "suite_name": outcome.suite_name}
    write_chunk_summary(run.area, "validate", chunk, summary)
    return {key: summary[key] for key in ("rows_received", "rows_passed", "rows_quarantined")}


def finish_validate(run: Run) -> dict:
    """The run's validate summary from all chunks: the same shape, counts and verdict as the one-piece step."""
    plan_summary = run.area.read_step("plan")
    parts = read_chunk_summaries(run.area, "validate", len(plan_summary["chunks"]))
    received = sum(part["rows_received"] for part in parts)
    passed = sum(part["rows_passed"] for part in parts)
    quarantined = sum(part["rows_quarantined"] for part in parts)
    if received != plan_summary["rows"] or passed + quarantined != received:
        raise AssertionError(f"row accounting broke for {run.dataset.key}: {plan_summary['rows']} pulled, "
                             f"{received} validated, {passed} passed, {quarantined} quarantined")
    by_rule: Counter[str] = Counter()
    for part in parts:
        by_rule.update(part["quarantined_by_rule"])
    table_failures = list(dict.fromkeys(failure for part in parts for failure in part["table_failures"]))
    verdict = judge(run, received=received, quarantined=quarantined, table_failures=table_failures)
    reports = chunk_reports.write_reports(
        run.area.quarantined, run.settings.reports_root / run.dataset.department / run.dataset.name,
        f"quarantine_{run.logical_date.isoformat()}") if quarantined else []
    summary = {
        "rows_received": received, "rows_passed": passed, "rows_quarantined": quarantined,
        "quarantined_by_rule": dict(by_rule), "verdict": verdict.status, "verdict_reasons": list(verdict.reasons),
        "reports": [str(path) for path in reports],
        "standards": plan_summary.get("standards"),
    }
    docs = chunk_reports.write_docs(run, parts, plan_summary, verdict=summary)
    summary |= {"data_docs": str(docs) if docs else None, "chunks": len(parts)}
    run.area.write_step("validate", summary)
    enforce(run, verdict)
    return summary


def mask_chunk(run: Run, chunk: int) -> dict:
    # Each chunk checks the keyring against the registry, as the one-piece mask step does; finish_mask then
    # refuses a run whose chunks were masked under different keys (a rotation in between).
    keyring = key_checks.keyring_for_masking(run.engine, run.catalogue)
    passed = pd.read_parquet(chunk_reports.part(run.area.passed, chunk))
    columns = run.catalogue.columns(run.dataset)
    result = masking.mask_frame(passed, columns, keyring, dataset=run.dataset.key)
    pseudonym_rotation.record_map(run.engine, columns, passed, keyring)
    write_part(result.frame, run.area.masked, chunk)
    summary = {"masked_columns": result.masked_columns, "dropped_columns": result.dropped_columns,
               "leak_findings": [dataclasses.asdict(finding) for finding in result.findings],
               "key_ids": key_checks.key_ids(keyring), "rows": len(result.frame),
               "columns": [str(name) for name in result.frame.columns]}
    write_chunk_summary(run.area, "mask", chunk, summary)
    return {"rows": len(result.frame)}


def finish_mask(run: Run) -> dict:
    parts = read_chunk_summaries(run.area, "mask", len(run.area.read_step("plan")["chunks"]))
    key_ids = {tuple(sorted(part["key_ids"].items())) for part in parts}
    if len(key_ids) > 1:
        raise masking.KeyringError(f"{run.dataset.key}: chunks were masked under different keys "
                                   f"({sorted(key_ids)}); rerun the mask tasks")
    first = parts[0]
    summary = {"masked_columns": {column: rule for column, rule in first["masked_columns"].items() if rule != "none"},
               "dropped_columns": first["dropped_columns"],
               "leak_findings": _merge_findings(parts, first["columns"]),
               "key_ids": first["key_ids"]}
    run.area.write_step("mask", summary)
    return summary


def _merge_findings(parts: list[dict[str, Any]], columns: list[str]) -> list[dict[str, Any]]:
    """Findings summed over chunks, in the leak guard's order (column order, then rule)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for part in parts:
        for finding in part["leak_findings"]:
            counts[(finding["column"], finding["rule"], finding["action"])] += finding["count"]
    rules = ("resident_id", "mobile")
    order = sorted(counts, key=lambda item: (columns.index(item[0]) if item[0] in columns else len(columns),
                                             rules.index(item[1]) if item[1] in rules else len(rules)))
    return [{"column": column, "rule": rule, "count": counts[(column, rule, action)], "action": action}
            for column, rule, action in order]
