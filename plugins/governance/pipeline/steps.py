"""The five nightly steps for one dataset and one logical date.

Each step reads what the previous one left in the run's work area, writes its own output
there, and returns a small JSON summary (counts and names, never data) for XCom and logs.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path

import pandas as pd

from governance import masking, validation, warehouse
from governance.masking import checks as key_checks
from governance.masking import pseudonym_rotation
from governance.pipeline import quarantine
from governance.pipeline.verdict import CONFIRM_SHRINK_FILE, FAILED, HELD, Verdict, decide
from governance.pipeline.workarea import WorkArea
from governance.settings import Settings, get_settings
from governance.sources import SourceError, pull_dataset
from governance.sources.pull import landing_folder
from governance.standards.catalogue import Catalogue, load_usable_catalogue
from governance.standards.models import Dataset
from governance.standards.problems import StandardsError
from governance.standards.versions import dataset_versions
from governance.validation import data_docs, effective, names
from governance.validation.suites import SuiteError, read_suite_json
from governance.warehouse.grants import apply_grants
from governance.warehouse.records import close_resolved_quarantine, has_open_quarantine


class RunFailed(Exception):
    """The data broke the standard's verdict rules; retrying cannot help, so nothing is published."""


class RunHeld(RunFailed):
    """A shrinking snapshot waits for the department's confirmation; nothing is published meanwhile."""


# Failures of the data, the standards or the keys: retrying cannot help, so the task fails at once.
DATA_ERRORS: tuple[type[BaseException], ...] = (
    RunFailed, SourceError, StandardsError, SuiteError, masking.KeyringError, masking.LeakBlocked,
    masking.MaskingError, warehouse.SchemaDriftError, warehouse.PublishError)


# What a run, its Asset event and its record say about the standard and suite it was validated against.
VERSION_FIELDS = ("standard_version", "suite_version", "standards_commit")


@dataclass
class Run:
    """One dataset's run for one logical date: what every step needs to find its inputs."""

    dataset_key: str
    run_id: str
    logical_date: date
    settings: Settings
    confirm_shrink: int | None = None  # the DAG param: rows an operator confirmed for the department

    @classmethod
    def create(cls, dataset_key: str, run_id: str, logical_date: date, confirm_shrink: int | None = None) -> Run:
        return cls(dataset_key, run_id, logical_date, get_settings(), confirm_shrink)

    @cached_property
    def catalogue(self) -> Catalogue:
        return load_usable_catalogue(self.settings.standards_root)

    @cached_property
    def dataset(self) -> Dataset:
        return self.catalogue.dataset(self.dataset_key)

    @cached_property
    def area(self) -> WorkArea:
        return WorkArea.for_run(self.settings.work_root, self.dataset.dag_id, self.run_id)

    @cached_property
    def engine(self):
        return warehouse.warehouse_engine(self.settings.warehouse_url)


def pull(run: Run) -> dict:
    started = time.monotonic()
    normaliser = names.Normaliser(run.catalogue.columns(run.dataset))
    result = pull_dataset(run.dataset, landing_root=run.settings.landing_root, day=run.logical_date,
                          target=run.area.received, columns=run.catalogue.columns(run.dataset),
                          normalise=normaliser)
    summary = {"rows_received": result.rows, "files": result.files, "started_at": _now(),
               "seconds": round(time.monotonic() - started, 2), "delivered_at": result.delivered_at,
               "normalised": dict(normaliser.counts)}  # values made canonical, per column and kind: not defects
    run.area.write_step("pull", summary)
    return summary


def suite_file(run: Run) -> Path:
    return validation.suite_path(run.dataset, run.settings.expectations_root)


def run_suite(run: Run) -> dict:
    """The suite with the rules in force on the run's business date, so a rerun of an old night validates as
    that night did (``governance.validation.effective``)."""
    return effective.in_force(validation.load_suite(suite_file(run)), run.logical_date).suite


def standards_versions(run: Run) -> dict:
    """The versions of the standard and suite this run validates against (hashes and commit, never data), the
    business date its rules are taken as of, and the rules that date defers or runs in their earlier version."""
    versions = dataset_versions(run.catalogue, run.dataset, suite_file(run))
    rules = effective.in_force(read_suite_json(suite_file(run)), run.logical_date)
    versions["detail"].update(rules.summary())
    return versions


def validate(run: Run) -> dict:
    received = pd.read_parquet(run.area.received)
    versions = standards_versions(run)
    suite = run_suite(run)
    outcome = validation.validate_frame(received, suite, dataset_key=run.dataset.key)
    passed, quarantined = quarantine.split_rows(received, outcome.row_failures)
    if len(passed) + len(quarantined) != len(received):
        raise AssertionError(f"row accounting broke for {run.dataset.key}: {len(received)} received, "
                             f"{len(passed)} passed, {len(quarantined)} quarantined")
    passed.to_parquet(run.area.passed, index=False)
    quarantined.to_parquet(run.area.quarantined, index=False)
    verdict = judge(run, received=len(received), quarantined=len(quarantined), table_failures=outcome.table_failures)
    reports = quarantine.write_reports(
        quarantined, run.settings.reports_root / run.dataset.department / run.dataset.name,
        f"quarantine_{run.logical_date.isoformat()}") if len(quarantined) else []
    summary = {
        "rows_received": len(received), "rows_passed": len(passed), "rows_quarantined": len(quarantined),
        "quarantined_by_rule": quarantine.rule_counts(outcome.row_failures),
        "verdict": verdict.status, "verdict_reasons": list(verdict.reasons),
        "reports": [str(path) for path in reports],
        "standards": versions,
    }
    docs = data_docs.write_run_docs(outcome.docs_result, run.settings.docs_root, run.dataset.dag_id, run.run_id,
                                    dataset=run.dataset.key, verdict=summary)
    summary["data_docs"] = str(docs) if docs else None
    run.area.write_step("validate", summary)
    enforce(run, verdict)
    return summary


def judge(run: Run, *, received: int, quarantined: int, table_failures: list[str]) -> Verdict:
    """The standard's verdict on the whole run, against the last published load and any confirmation."""
    return decide(run.dataset.quality, received=received, quarantined=quarantined, table_failures=table_failures,
                  previous_received=warehouse.previous_rows_received(run.engine, run.dataset.key, run.run_id),
                  snapshot=run.dataset.load_mode == "snapshot", confirmed_rows=confirmed_rows(run))


def enforce(run: Run, verdict: Verdict) -> None:
    """A failed or held verdict stops the run before masking: nothing is published."""
    if verdict.status == HELD:
        raise RunHeld(f"{run.dataset.key}: " + "; ".join(verdict.reasons))
    if verdict.status == FAILED:
        raise RunFailed(f"{run.dataset.key} failed its standard's verdict, nothing is published: "
                        + "; ".join(verdict.reasons))


def confirmed_rows(run: Run) -> int | None:
    """The row count the department confirmed for a shrinking snapshot: the run's ``confirm_shrink`` param,
    else the ``CONFIRM_SHRINK`` file in the night's landing folder (its content: the count)."""
    if run.confirm_shrink is not None:
        return run.confirm_shrink
    confirmation = landing_folder(run.settings.landing_root, run.dataset, run.logical_date) / CONFIRM_SHRINK_FILE
    try:
        return int(confirmation.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def mask(run: Run) -> dict:
    # The keyring is loaded and checked against the key registry here, the last step before publishing:
    # a missing, wrong or stale key fails this task (KeyringError) and nothing is published.
    keyring = key_checks.keyring_for_masking(run.engine, run.catalogue)
    passed = pd.read_parquet(run.area.passed)
    result = masking.mask_frame(passed, run.catalogue.columns(run.dataset), keyring, dataset=run.dataset.key)
    # Only while a pseudonym rotation is prepared: map this run's current tokens to next-key tokens.
    pseudonym_rotation.record_map(run.engine, run.catalogue.columns(run.dataset), passed, keyring)
    result.frame.to_parquet(run.area.masked, index=False)
    summary = {"masked_columns": {column: rule for column, rule in result.masked_columns.items() if rule != "none"},
               "dropped_columns": result.dropped_columns,
               "leak_findings": [dataclasses.asdict(finding) for finding in result.findings],
               "key_ids": key_checks.key_ids(keyring)}
    run.area.write_step("mask", summary)
    return summary


def publish(run: Run) -> dict:
    key_checks.check_keys_still_current(run.engine, run.area.read_step("mask").get("key_ids"))
    result = warehouse.publish(run.engine, run.catalogue, run.dataset, run.area.masked,
                               load_date=run.logical_date, run_id=run.run_id)
    # A new table (or column) is closed until granted: re-apply the sharing grants after every publish.
    grants = apply_grants(run.engine, run.catalogue)
    from governance.sharing.roles import sync_service_role  # deferred: the sharing package imports FastAPI

    sync_service_role(run.engine, run.catalogue, create=False)  # the sharing service's role, if there is one
    versions = run.area.read_step("validate").get("standards") or {}
    summary = {"table": result.table, "rows_published": result.rows, "load_mode": result.load_mode,
               "skipped_reason": result.skipped_reason, "grants": grants.grants if grants.applied else None,
               **{key: versions.get(key) for key in VERSION_FIELDS}}
    run.area.write_step("publish", summary)
    return summary


def record(run: Run, *, error: BaseException | None = None) -> dict:
    """Write the run record and the quarantine entries; called on success and on failure."""
    steps = {step: run.area.read_step(step) for step in ("pull", "validate", "mask", "publish")}
    started_at = steps["pull"].get("started_at") or _now()
    finished_at = _now()
    validate_summary, publish_summary = steps["validate"], steps["publish"]
    verdict = validate_summary.get("verdict", FAILED)
    if error is not None and verdict != HELD:  # a held run stays held; any other error fails the run
        verdict = FAILED
    record = {
        "run_id": run.run_id, "dag_id": run.dataset.dag_id, "dataset_key": run.dataset.key,
        "department": run.dataset.department, "logical_date": run.logical_date,
        "started_at": datetime.fromisoformat(started_at), "finished_at": datetime.fromisoformat(finished_at),
        "duration_s": (datetime.fromisoformat(finished_at) - datetime.fromisoformat(started_at)).total_seconds(),
        "rows_received": validate_summary.get("rows_received", steps["pull"].get("rows_received")),
        "rows_passed": validate_summary.get("rows_passed"),
        "rows_quarantined": validate_summary.get("rows_quarantined"),
        "rows_published": publish_summary.get("rows_published", 0) if error is None else 0,
        "verdict": verdict,
        "quarantined_by_rule": validate_summary.get("quarantined_by_rule", {}),
        "masked_columns": steps["mask"].get("masked_columns", {}),
        "leak_findings": steps["mask"].get("leak_findings", []),
        "published_table": publish_summary.get("table"),
        "delivered_at": datetime.fromisoformat(steps["pull"]["delivered_at"])
        if steps["pull"].get("delivered_at") else None,
        **{key: (validate_summary.get("standards") or {}).get(key) for key in VERSION_FIELDS},
        "standards_versions": (validate_summary.get("standards") or {}).get("detail"),
        "message": _failure_message(error) or "; ".join(validate_summary.get("verdict_reasons", []))
        or publish_summary.get("skipped_reason"),
    }
    warehouse.write_run_record(run.engine, record)
    if run.area.quarantined.exists():
        _record_quarantine(run)
    closed = _close_resolved_quarantine(run) if error is None and record["rows_published"] else 0
    summary = {key: value for key, value in record.items() if key not in ("started_at", "finished_at")} | {
        "duration_s": round(record["duration_s"], 1), "reports": validate_summary.get("reports", []),
        "quarantine_closed": closed, "normalised": steps["pull"].get("normalised", {})}
    run.area.write_step("record", summary)
    return summary


def _record_quarantine(run: Run) -> None:
    """Masked rows plus the raw row encrypted: the warehouse never holds quarantined values in clear."""
    rows = pd.read_parquet(run.area.quarantined)
    if rows.empty:
        warehouse.write_quarantine(run.engine, run.run_id, run.dataset.key, [])
        return
    # The checked keyring, as in the mask step: a wrong key must not seal quarantined rows either.
    keyring = key_checks.keyring_for_masking(run.engine, run.catalogue)
    entries = quarantine.protect_for_warehouse(rows, run.catalogue.columns(run.dataset), keyring)
    warehouse.write_quarantine(run.engine, run.run_id, run.dataset.key, entries)


def _close_resolved_quarantine(run: Run) -> int:
    """The rows this run published close the dataset's open quarantine entries with the same primary key
    (the department fixed and resent them). Tokens are made under every pseudonym key in the keyring, so
    entries written before a pseudonym key rotation still match until the old key is removed."""
    if not has_open_quarantine(run.engine, run.dataset.key, excluding_run=run.run_id):
        return 0  # nothing to close: skip tokenising every published key
    columns = run.catalogue.columns(run.dataset)
    published = pd.read_parquet(run.area.passed, columns=quarantine.key_columns(columns))
    tokens = {token for key in masking.load_keyring().pseudonym_keys.values()
              for token in quarantine.key_tokens(published, columns, key).dropna()}
    return close_resolved_quarantine(run.engine, run.dataset.key, tokens, run.run_id)


def _failure_message(error: BaseException | None) -> str | None:
    if error is None:
        return None
    return f"{type(error).__name__}: {error}"[:2000]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
