"""The nightly steps around validate and mask (pull, publish, record) and what a run is.

Validate and mask are ``governance.pipeline.chunked``, the one path (a run of one chunk is the whole run).
Each step reads what the previous one left in the run's work area, writes its own output there, and returns
its typed summary (``governance.pipeline.contracts``: counts and names, never data) for XCom and logs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from governance import keys, validation, warehouse
from governance.errors import ConfigurationError, DataError, GovernanceError
from governance.keys import checks as key_checks
from governance.pipeline import quarantine
from governance.pipeline.chunks import iter_parts
from governance.pipeline.contracts import (
    MaskSummary,
    PlanSummary,
    PublishSummary,
    PullSummary,
    RecordSummary,
    RunRecord,
    StandardsVersions,
    ValidateSummary,
    read,
    write,
)
from governance.pipeline.workarea import WorkArea
from governance.settings import Settings, get_settings
from governance.sharing.roles import sync_service_role
from governance.sources import pull_dataset
from governance.sources.pull import landing_folder
from governance.standards.catalogue import Catalogue, load_usable_catalogue
from governance.standards.models import Dataset
from governance.standards.versions import dataset_versions
from governance.validation import effective, names
from governance.validation.suites import read_suite_json
from governance.validation.verdict import CONFIRM_SHRINK_FILE, FAILED, HELD, Verdict, decide
from governance.warehouse.grants import apply_grants
from governance.warehouse.records import close_resolved_quarantine, has_open_quarantine


class RunFailed(DataError):
    """The data broke the standard's verdict rules; retrying cannot help, so nothing is published."""


class RunHeld(RunFailed):
    """A shrinking snapshot waits for the department's confirmation; nothing is published meanwhile."""


class IncompleteOutput(ConfigurationError):
    """The run's masked output does not add up to what validate passed; nothing was published. Publishing
    again cannot help: the run must be cleared from plan."""


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


def pull(run: Run) -> PullSummary:
    started, started_at = time.monotonic(), _now()
    normaliser = names.Normaliser(run.catalogue.columns(run.dataset))
    result = pull_dataset(run.dataset, landing_root=run.settings.landing_root, day=run.logical_date,
                          target=run.area.received, columns=run.catalogue.columns(run.dataset),
                          normalise=normaliser)
    summary = PullSummary(rows_received=result.rows, files=result.files, started_at=started_at,
                          seconds=round(time.monotonic() - started, 2), delivered_at=result.delivered_at,
                          normalised=dict(normaliser.counts))
    write(run.area, summary)
    return summary


def suite_file(run: Run) -> Path:
    return validation.suite_path(run.dataset, run.settings.expectations_root)


def run_suite(run: Run) -> dict:
    """The suite with the rules in force on the run's business date, so a rerun of an old night validates as
    that night did (``governance.validation.effective``)."""
    return effective.in_force(validation.load_suite(suite_file(run)), run.logical_date).suite


def standards_versions(run: Run) -> StandardsVersions:
    """The versions of the standard and suite this run validates against (hashes and commit, never data), the
    business date its rules are taken as of, and the rules that date defers or runs in their earlier version."""
    versions = dataset_versions(run.catalogue, run.dataset, suite_file(run))
    rules = effective.in_force(read_suite_json(suite_file(run)), run.logical_date)
    versions["detail"].update(rules.summary())
    return StandardsVersions.model_validate(versions)


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


def publish(run: Run) -> PublishSummary:
    """Publish the masked output, only if it is complete and masked under keys still current."""
    validated = check_complete(run)
    masked = read(run.area, MaskSummary)
    key_checks.check_keys_still_current(run.engine, masked.key_ids if masked else None)
    result = warehouse.publish(run.engine, run.catalogue, run.dataset, run.area.masked,
                               load_date=run.logical_date, run_id=run.run_id)
    # A new table (or column) is closed until granted: re-apply the sharing grants after every publish.
    grants = apply_grants(run.engine, run.catalogue)
    sync_service_role(run.engine, run.catalogue, create=False)  # the sharing service's role, if there is one
    versions = validated.standards
    summary = PublishSummary(table=result.table, rows_published=result.rows, load_mode=result.load_mode,
                             skipped_reason=result.skipped_reason, grants=grants.grants if grants.applied else None,
                             standard_version=versions.standard_version, suite_version=versions.suite_version,
                             standards_commit=versions.standards_commit)
    write(run.area, summary)
    return summary


def check_complete(run: Run) -> ValidateSummary:
    """One masked part per planned chunk, as many rows as validate passed, or :class:`IncompleteOutput`.

    Keeps received = published + quarantined even if the work area changed under the run (a second process
    running the same run id from ``plan`` resets it and refills it chunk by chunk)."""
    plan, validated = read(run.area, PlanSummary), read(run.area, ValidateSummary)
    chunks, passed = len(plan.chunks) if plan else 0, validated.rows_passed if validated else None
    parts = iter_parts(run.area.masked)
    rows = sum(pq.ParquetFile(part).metadata.num_rows for part in parts)
    if validated is None or rows != passed or len(parts) != chunks:
        raise IncompleteOutput(
            f"{run.dataset.key} run {run.run_id}: the masked output holds {rows} row(s) in {len(parts)} part(s) "
            f"but validate passed {passed} row(s) in {chunks} chunk(s); nothing was published. The work area "
            f"changed under the run (is another process running it?): clear the run from plan")
    return validated


def record(run: Run, *, error: BaseException | None = None) -> RecordSummary:
    """Write the run record and the quarantine entries; called on success and on failure."""
    pulled, validated = read(run.area, PullSummary), read(run.area, ValidateSummary)
    masked, published = read(run.area, MaskSummary), read(run.area, PublishSummary)
    finished_at = _now()
    started_at = pulled.started_at if pulled else finished_at
    verdict = validated.verdict if validated else FAILED
    if error is not None and verdict != HELD:  # a held run stays held; any other error fails the run
        verdict = FAILED
    versions = validated.standards if validated else StandardsVersions()
    record = RunRecord(
        run_id=run.run_id, dag_id=run.dataset.dag_id, dataset_key=run.dataset.key,
        department=run.dataset.department, logical_date=run.logical_date,
        started_at=started_at, finished_at=finished_at, duration_s=(finished_at - started_at).total_seconds(),
        rows_received=validated.rows_received if validated else pulled.rows_received if pulled else None,
        rows_passed=validated.rows_passed if validated else None,
        rows_quarantined=validated.rows_quarantined if validated else None,
        rows_published=published.rows_published if published and error is None else 0,
        verdict=verdict,
        quarantined_by_rule=validated.quarantined_by_rule if validated else {},
        masked_columns=masked.masked_columns if masked else {},
        leak_findings=masked.leak_findings if masked else [],
        published_table=published.table if published else None,
        delivered_at=pulled.delivered_at if pulled else None,
        standard_version=versions.standard_version, suite_version=versions.suite_version,
        standards_commit=versions.standards_commit, standards_versions=versions.detail or None,
        message=_failure_message(error) or "; ".join(validated.verdict_reasons if validated else [])
        or (published.skipped_reason if published else None),
    )
    warehouse.write_run_record(run.engine, record.model_dump())
    if run.area.quarantined.exists():
        _record_quarantine(run)
    closed = _close_resolved_quarantine(run) if error is None and record.rows_published else 0
    summary = RecordSummary.of(record, reports=validated.reports if validated else [], quarantine_closed=closed,
                               normalised=pulled.normalised if pulled else {})
    write(run.area, summary)
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
    tokens = {token for key in keys.load_keyring().pseudonym_keys.values()
              for token in quarantine.key_tokens(published, columns, key).dropna()}
    return close_resolved_quarantine(run.engine, run.dataset.key, tokens, run.run_id)


def _failure_message(error: BaseException | None) -> str | None:
    """The error's class and message; under ``fail_fast``'s AirflowFailException, the governance error it
    wraps, so the record names what failed (``IncompleteOutput``, ``RunFailed``), not the wrapper."""
    if error is None:
        return None
    if isinstance(error.__cause__, GovernanceError):
        error = error.__cause__
    return f"{type(error).__name__}: {error}"[:2000]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
