"""What the department and the operators get from a chunked validate: the same reports and Data Docs.

The quarantine report is streamed part by part (the CSV holds every quarantined row, the HTML the first
``quarantine._HTML_ROWS``), so a bad night with millions of quarantined rows never sits in memory; its bytes
are those of ``quarantine.write_reports``. The Data Docs are the chunks' count-only results added up.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from governance.pipeline import quarantine
from governance.pipeline.chunks import iter_parts, part_path
from governance.validation import data_docs

if TYPE_CHECKING:
    from governance.pipeline.contracts import PlanSummary, ValidateChunkSummary
    from governance.pipeline.steps import Run

log = logging.getLogger(__name__)
_SUMMED = ("element_count", "missing_count", "unexpected_count")


def part(folder: Path, chunk: int) -> Path:
    return part_path(folder, chunk)


def write_reports(parts: Path, folder: Path, stem: str) -> list[Path]:
    """``quarantine.write_reports`` over a directory of parts, one part in memory at a time."""
    files = iter_parts(parts)
    columns = quarantine.report_columns(pq.ParquetFile(files[0]).schema_arrow.names)
    frames = (pq.read_table(path, columns=columns).to_pandas() for path in files)
    return quarantine.write_report_frames(frames, columns, folder, stem)


def docs_entries(result: Any) -> list[dict[str, Any]]:
    """A chunk's count-only GX result (``data_docs.safe_result``) as JSON for the chunk summary."""
    if result is None:
        return []
    return [{"type": item.expectation_config.type, "kwargs": dict(item.expectation_config.kwargs),
             "meta": dict(item.expectation_config.meta or {}), "success": bool(item.success),
             "result": dict(item.result or {}), "exception_info": dict(item.exception_info or {})}
            for item in result.results]


def _merge(entries: list[dict[str, Any]]) -> dict[str, Any]:
    merged = {**entries[0], "success": all(entry["success"] for entry in entries)}
    result = dict(entries[0]["result"])
    for key in _SUMMED:
        if all(key in entry["result"] for entry in entries):
            result[key] = sum(entry["result"][key] for entry in entries)
    _percentages(result)
    merged["result"] = result
    return merged


def _percentages(result: dict[str, Any]) -> None:
    elements, missing = result.get("element_count"), result.get("missing_count") or 0
    if not elements:
        return
    if "missing_percent" in result:
        result["missing_percent"] = 100 * missing / elements
    unexpected = result.get("unexpected_count")
    if unexpected is not None and "unexpected_percent" in result:
        present = elements - missing
        share = 100 * unexpected / present if present else None
        result.update(unexpected_percent=share, unexpected_percent_nonmissing=share,
                      unexpected_percent_total=100 * unexpected / elements)


def write_docs(run: Run, parts: list[ValidateChunkSummary], plan: PlanSummary, *,
               verdict: dict[str, Any] | None = None) -> Path | None:
    """The run's Data Docs from the chunks' results summed, headed by the run's ``verdict`` (the validate
    summary); never fails the run (as ``write_run_docs``)."""
    try:
        from great_expectations.core.expectation_validation_result import (
            ExpectationSuiteValidationResult,
            ExpectationValidationResult,
        )
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        rows = [part.docs for part in parts]
        entries = [_merge([chunk[index] for chunk in rows]) for index in range(len(rows[0]))] if rows[0] else []
        entries += [_unique_entry(rule, plan) for rule in plan.unique_rules]
        results = [ExpectationValidationResult(
            success=entry["success"], result=entry["result"], exception_info=entry["exception_info"],
            expectation_config=ExpectationConfiguration(type=entry["type"], kwargs=entry["kwargs"],
                                                        meta=entry["meta"])) for entry in entries]
        successful = sum(bool(item.success) for item in results)
        statistics = {"evaluated_expectations": len(results), "successful_expectations": successful,
                      "unsuccessful_expectations": len(results) - successful,
                      "success_percent": 100 * successful / len(results) if results else None}
        merged = ExpectationSuiteValidationResult(success=successful == len(results), results=results,
                                                  suite_name=parts[0].suite_name or "suite",
                                                  statistics=statistics)
    except Exception as error:
        log.warning("Data Docs for %s were not merged: %s", run.dataset.key, type(error).__name__)
        return None
    return data_docs.write_run_docs(merged, run.settings.docs_root, run.dataset.dag_id, run.run_id,
                                    dataset=run.dataset.key, verdict=verdict)


def _unique_entry(rule: str | None, plan: PlanSummary) -> dict[str, Any]:
    """The uniqueness rule, checked over the whole run by ``keys``, as a docs entry (counts only)."""
    column = (rule or "key").removesuffix(".unique")
    kind = "expect_compound_columns_to_be_unique" if "+" in column else "expect_column_values_to_be_unique"
    kwargs = {"column_list": column.split("+")} if "+" in column else {"column": column}
    duplicated, rows = plan.unique_rows, plan.rows
    counts = {"element_count": rows, "missing_count": 0, "missing_percent": 0.0, "unexpected_count": duplicated,
              "unexpected_percent": 100 * duplicated / rows if rows else 0.0}
    _percentages(counts)
    return {"type": kind, "kwargs": kwargs, "meta": {"rule": rule}, "success": duplicated == 0,
            "result": counts,
            "exception_info": {"raised_exception": False, "exception_message": None, "exception_traceback": None}}
