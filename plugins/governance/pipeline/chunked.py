"""The validate and mask steps, in chunks: bounded memory per task, chunks in parallel across workers.

This is the only validate and mask path; a run of one chunk is the whole run at once. ``plan`` (after pull)
fixes the chunks and checks the whole-run rules (key uniqueness, ``keys``); each ``validate_chunk`` /
``mask_chunk`` handles one chunk and can run on any worker (Airflow dynamic task mapping); ``finish_validate``
/ ``finish_mask`` add the chunks up into the run's validate and mask summaries, so the verdict (quarantine
share, shrinkage) is over the whole run. ``validate_and_mask`` runs them in the DAG's order in one process
(tests, the bench). The tests prove that any chunk size gives exactly the output of one chunk.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from governance import keys, masking, validation
from governance.keys import checks as key_checks
from governance.keys import pseudonym_rotation
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
from governance.pipeline.contracts import (
    LeakFinding,
    MaskChunkSummary,
    MaskSummary,
    PlanSummary,
    ValidateChunkSummary,
    ValidateSummary,
    require,
    write,
)
from governance.pipeline.steps import Run, enforce, judge
from governance.validation import runner
from governance.validation.suites import rule_id
from governance.validation.uniqueness import duplicate_positions, unique_columns


def _suite(run: Run) -> dict[str, Any]:
    return steps.run_suite(run)


def plan(run: Run, chunk_rows: int | None = None) -> PlanSummary:
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
    summary = PlanSummary(rows=rows, chunk_rows=chunk_rows, chunks=list(range(chunk_count(rows, chunk_rows))),
                          standards=steps.standards_versions(run),
                          unique_rules=[rule_id(expectation) for expectation in split.unique],
                          unique_rows=int(unique["row"].nunique()) if len(unique) else 0)
    write(run.area, summary)
    return summary


def validate_chunk(run: Run, chunk: int) -> dict:
    planned = require(run.area, PlanSummary)
    start, stop = chunk_bounds(planned.rows, planned.chunk_rows, chunk)
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
    summary = ValidateChunkSummary(
        rows_received=len(received), rows_passed=len(passed), rows_quarantined=len(quarantined),
        quarantined_by_rule=quarantine.rule_counts(failures), table_failures=outcome.table_failures,
        docs=chunk_reports.docs_entries(outcome.docs_result), suite_name=outcome.suite_name)
    write_chunk_summary(run.area, "validate", chunk, summary.to_json())
    return summary.model_dump(include={"rows_received", "rows_passed", "rows_quarantined"})


def finish_validate(run: Run) -> ValidateSummary:
    """The run's validate summary and verdict from all chunks."""
    planned = require(run.area, PlanSummary)
    parts = [ValidateChunkSummary.model_validate(part)
             for part in read_chunk_summaries(run.area, "validate", len(planned.chunks))]
    received = sum(part.rows_received for part in parts)
    passed = sum(part.rows_passed for part in parts)
    quarantined = sum(part.rows_quarantined for part in parts)
    if received != planned.rows or passed + quarantined != received:
        raise AssertionError(f"row accounting broke for {run.dataset.key}: {planned.rows} pulled, "
                             f"{received} validated, {passed} passed, {quarantined} quarantined")
    by_rule: Counter[str] = Counter()
    for part in parts:
        by_rule.update(part.quarantined_by_rule)
    table_failures = list(dict.fromkeys(failure for part in parts for failure in part.table_failures))
    verdict = judge(run, received=received, quarantined=quarantined, table_failures=table_failures)
    reports = chunk_reports.write_reports(
        run.area.quarantined, run.settings.reports_root / run.dataset.department / run.dataset.name,
        f"quarantine_{run.logical_date.isoformat()}") if quarantined else []
    summary = ValidateSummary(
        rows_received=received, rows_passed=passed, rows_quarantined=quarantined,
        quarantined_by_rule=dict(by_rule), verdict=verdict.status, verdict_reasons=list(verdict.reasons),
        reports=[str(path) for path in reports], standards=planned.standards, chunks=len(parts))
    docs = chunk_reports.write_docs(run, parts, planned, verdict=summary.to_json())
    summary.data_docs = str(docs) if docs else None
    write(run.area, summary)
    enforce(run, verdict)
    return summary


def mask_chunk(run: Run, chunk: int) -> dict:
    # The keyring is loaded and checked against the key registry in each chunk, the last step before publishing:
    # a missing, wrong or stale key fails the task (KeyringError) and nothing is published. finish_mask then
    # refuses a run whose chunks were masked under different keys (a rotation in between).
    keyring = key_checks.keyring_for_masking(run.engine, run.catalogue)
    passed = pd.read_parquet(chunk_reports.part(run.area.passed, chunk))
    columns = run.catalogue.columns(run.dataset)
    result = masking.mask_frame(passed, columns, keyring, dataset=run.dataset.key)
    pseudonym_rotation.record_map(run.engine, columns, passed, keyring)
    write_part(result.frame, run.area.masked, chunk)
    summary = MaskChunkSummary(
        masked_columns=result.masked_columns, dropped_columns=result.dropped_columns,
        leak_findings=[LeakFinding.model_validate(finding, from_attributes=True) for finding in result.findings],
        key_ids=key_checks.key_ids(keyring), rows=len(result.frame),
        columns=[str(name) for name in result.frame.columns])
    write_chunk_summary(run.area, "mask", chunk, summary.to_json())
    return {"rows": summary.rows}


def finish_mask(run: Run) -> MaskSummary:
    parts = [MaskChunkSummary.model_validate(part) for part in read_chunk_summaries(
        run.area, "mask", len(require(run.area, PlanSummary).chunks))]
    key_ids = {tuple(sorted(part.key_ids.items())) for part in parts}
    if len(key_ids) > 1:
        raise keys.KeyringError(f"{run.dataset.key}: chunks were masked under different keys "
                                   f"({sorted(key_ids)}); rerun the mask tasks")
    first = parts[0]
    summary = MaskSummary(
        masked_columns={column: rule for column, rule in first.masked_columns.items() if rule != "none"},
        dropped_columns=first.dropped_columns, leak_findings=_merge_findings(parts, first.columns),
        key_ids=first.key_ids)
    write(run.area, summary)
    return summary


def validate_and_mask(run: Run, chunk_rows: int | None = None) -> ValidateSummary:
    """plan -> validate_chunk[i] -> validate -> mask_chunk[i] -> mask, in the DAG's order, in this process.

    The same functions the DAG's tasks call, for callers without a scheduler (tests, the bench); raises what
    the tasks raise (a failed verdict stops before masking). Returns the validate summary."""
    chunks = plan(run, chunk_rows).chunks
    for chunk in chunks:
        validate_chunk(run, chunk)
    validated = finish_validate(run)
    for chunk in chunks:
        mask_chunk(run, chunk)
    finish_mask(run)
    return validated


def _merge_findings(parts: list[MaskChunkSummary], columns: list[str]) -> list[LeakFinding]:
    """Findings summed over chunks, in the leak guard's order (column order, then rule)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for part in parts:
        for finding in part.leak_findings:
            counts[(finding.column, finding.rule, finding.action)] += finding.count
    rules = ("resident_id", "mobile")
    order = sorted(counts, key=lambda item: (columns.index(item[0]) if item[0] in columns else len(columns),
                                             rules.index(item[1]) if item[1] in rules else len(rules)))
    return [LeakFinding(column=column, rule=rule, count=counts[(column, rule, action)], action=action)
            for column, rule, action in order]
