"""Data Docs for every validate run: one page per run, built without a single value from the data.

Operators read them in the Airflow UI (the plugin serves ``<docs_root>/<dag_id>/<run>/``), and operators are
not entitled to a department's raw rows. The page (``docs_page``) is rendered from a copy of GX's validation
result that keeps only counts and percentages: the runner already asks GX for no unexpected values, and
``safe_result`` also drops observed values (an owner's ``expect_column_max_to_be_between`` would otherwise
print the maximum), row indexes, details and exception messages, except for table-level rules whose observed
value is a row count or the column names (which the runner has already made safe: a name that is not a safe
identifier is described by its position, never shown). Expectations the runner could not run (a missing
column) appear as failed, with the reason. The page shows the pipeline's verdict, which GX does not know.

This module is imported by the web app, which must not load GX: GX is imported inside the functions.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.files import safe_name, write_atomically
from governance.validation import docs_page

if TYPE_CHECKING:
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

logger = logging.getLogger(__name__)

_COUNTS = ("element_count", "missing_count", "missing_percent", "unexpected_count", "unexpected_percent",
           "unexpected_percent_total", "unexpected_percent_nonmissing")
# Table-level types whose observed value is structure (a count, the column names), never a cell.
_STRUCTURAL = ("expect_table_row_count", "expect_table_column_count", "expect_table_columns_to_match")
_RAISED = "the expectation raised an error (see the validate task's log)"


def run_docs_folder(docs_root: Path, dag_id: str, run_id: str) -> Path:
    """``<docs_root>/<dag_id>/<run>``: the run id made safe for a path exactly as the work area does, so two
    run ids never share a folder."""
    return docs_root / safe_name(dag_id) / safe_name(run_id)


def safe_result(result: ExpectationSuiteValidationResult,
                not_run: list[tuple[ExpectationConfiguration, str]]) -> ExpectationSuiteValidationResult:
    """A copy of ``result`` that holds counts only, plus a failed entry for each expectation not run."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )

    results = []
    for item in result.results:
        config = item.expectation_config
        details = {key: value for key, value in (item.result or {}).items() if key in _COUNTS}
        if not {"element_count", "unexpected_percent"} <= details.keys():
            details.pop("unexpected_count", None)  # an aggregate rule's count of something else; GX cannot render it
        if config.type.startswith(_STRUCTURAL):
            details |= {key: item.result[key] for key in ("observed_value", "details") if key in (item.result or {})}
        info = item.exception_info or {}  # flat, or keyed by metric when a metric failed
        parts = [info, *[value for value in info.values() if isinstance(value, dict)]]
        raised = any(part.get("raised_exception") for part in parts)
        results.append(ExpectationValidationResult(
            success=item.success, expectation_config=_clean(config), result=details,
            exception_info=_exception(_RAISED if raised else None)))
    results += [ExpectationValidationResult(success=False, expectation_config=_clean(config), result={},
                                            exception_info=_exception(f"not run: {reason}"))
                for config, reason in not_run]
    successful = sum(bool(item.success) for item in results)
    statistics = {"evaluated_expectations": len(results), "successful_expectations": successful,
                  "unsuccessful_expectations": len(results) - successful,
                  "success_percent": 100 * successful / len(results) if results else None}
    meta = {key: result.meta[key] for key in ("great_expectations_version", "active_batch_definition")
            if key in result.meta}
    return ExpectationSuiteValidationResult(success=successful == len(results), results=results,
                                            suite_name=result.suite_name, statistics=statistics, meta=meta)


def _clean(config: ExpectationConfiguration) -> ExpectationConfiguration:
    """The configuration as the owner wrote it: no batch id, no bookkeeping meta (``_``-prefixed keys)."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    kwargs = {key: value for key, value in config.kwargs.items() if key != "batch_id"}
    meta = {key: value for key, value in (config.meta or {}).items() if not key.startswith("_")}
    return ExpectationConfiguration(type=config.type, kwargs=kwargs, meta=meta)


def _exception(message: str | None) -> dict[str, Any]:
    """GX's exception info with the message only: a traceback can quote the data (GX renders it as text)."""
    return {"raised_exception": message is not None, "exception_message": message,
            "exception_traceback": "" if message else None}


def build_run_docs(result: ExpectationSuiteValidationResult, target: Path, run_name: str, *,
                   dataset: str | None = None, verdict: Mapping[str, Any] | None = None) -> Path:
    """The run's page (``index.html``) and its style sheet in ``target``, replacing an earlier build of the same
    run; returns the page. ``result`` must come from ``safe_result``; ``verdict`` is the validate summary."""
    building = target.with_name(f".{target.name}.partial")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    page = docs_page.render(result, dataset=dataset or result.suite_name, run_id=run_name, verdict=verdict,
                            built_at=datetime.now(UTC).isoformat(timespec="seconds"))
    write_atomically(building / "index.html", page.encode("utf-8"))
    write_atomically(building / docs_page.STYLE_FILE, docs_page.STYLE.encode("utf-8"))
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)  # the web app never serves a half-built page
    return target / "index.html"


def write_run_docs(result: ExpectationSuiteValidationResult | None, docs_root: Path, dag_id: str,
                   run_id: str, *, dataset: str | None = None, verdict: Mapping[str, Any] | None = None) -> Path | None:
    """Build the run's docs; None (and a warning) if that fails: docs must never fail a nightly run."""
    if result is None:
        return None
    try:
        return build_run_docs(result, run_docs_folder(docs_root, dag_id, run_id), run_id, dataset=dataset,
                              verdict=verdict)
    except Exception as error:  # the message is not logged: it could quote what the page was built from
        logger.warning("Data Docs for %s run %s were not built: %s", dag_id, run_id, type(error).__name__)
        return None
