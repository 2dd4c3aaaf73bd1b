"""What the nightly steps hand each other: typed, small (counts, names, hashes and paths; never a value).

Each step writes its summary to the run's work area (``<step>.json``) and returns it; the next step reads
it back typed (``read``), the record step turns them into the ``RunRecord``, and the publish task's Asset
event carries an ``AssetExtra``. Unknown fields are refused, so a misspelt field fails where it is written.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from governance.pipeline.workarea import WorkArea


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_json(self) -> dict[str, Any]:
        """The JSON form, as written to the work area and returned to XCom."""
        return self.model_dump(mode="json")


class StepSummary(Contract):
    step: ClassVar[str]


S = TypeVar("S", bound=StepSummary)


def as_json(value: Any) -> Any:
    """A step's result as it goes to XCom: a contract as its JSON form, anything else as it is."""
    return value.to_json() if isinstance(value, Contract) else value


def write(area: WorkArea, summary: StepSummary) -> None:
    area.write_step(summary.step, summary.to_json())


def read(area: WorkArea, kind: type[S]) -> S | None:
    """The step's summary, or None when the step has not finished in this run."""
    raw = area.read_step(kind.step)
    return kind.model_validate(raw) if raw else None


def require(area: WorkArea, kind: type[S]) -> S:
    """The summary of a step that must have finished before this one (an Airflow dependency)."""
    summary = read(area, kind)
    if summary is None:
        raise FileNotFoundError(f"{area.root}: no {kind.step} summary; run the {kind.step} task first")
    return summary


class StandardsVersions(Contract):
    """The standard and suite a run was validated against (``governance.standards.versions``)."""

    standard_version: str | None = None
    suite_version: str | None = None
    standards_commit: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)  # hashes, the rules' business date, rules deferred


class PullSummary(StepSummary):
    step = "pull"
    rows_received: int
    files: list[str]
    started_at: datetime
    seconds: float
    delivered_at: datetime | None = None
    normalised: dict[str, int] = Field(default_factory=dict)  # values made canonical per column.kind: not defects


class PlanSummary(StepSummary):
    step = "plan"
    rows: int
    chunk_rows: int
    chunks: list[int]
    standards: StandardsVersions
    unique_rules: list[str | None]
    unique_rows: int


class ValidateChunkSummary(Contract):
    rows_received: int
    rows_passed: int
    rows_quarantined: int
    quarantined_by_rule: dict[str, int]
    table_failures: list[str]
    docs: list[dict[str, Any]]  # count-only GX results (``chunk_reports.docs_entries``)
    suite_name: str | None = None


class ValidateSummary(StepSummary):
    step = "validate"
    rows_received: int
    rows_passed: int
    rows_quarantined: int
    quarantined_by_rule: dict[str, int]
    verdict: str
    verdict_reasons: list[str]
    reports: list[str]
    standards: StandardsVersions
    data_docs: str | None = None
    chunks: int = 1


class LeakFinding(Contract):
    column: str
    rule: str
    count: int
    action: Literal["redacted", "blocked"]


class MaskChunkSummary(Contract):
    masked_columns: dict[str, str]
    dropped_columns: dict[str, str]
    leak_findings: list[LeakFinding]
    key_ids: dict[str, str]
    rows: int
    columns: list[str]


class MaskSummary(StepSummary):
    step = "mask"
    masked_columns: dict[str, str]  # published column -> rule, columns published as delivered left out
    dropped_columns: dict[str, str]
    leak_findings: list[LeakFinding]
    key_ids: dict[str, str]


class PublishSummary(StepSummary):
    step = "publish"
    table: str
    rows_published: int
    load_mode: str
    skipped_reason: str | None = None
    grants: int | None = None
    standard_version: str | None = None
    suite_version: str | None = None
    standards_commit: str | None = None


class AssetExtra(Contract):
    """The published table's Asset event: what a downstream DAG may check before reading (counts, names,
    versions; never a value)."""

    rows: int
    run_id: str
    load_mode: str
    table: str
    verdict: str
    rows_received: int
    rows_quarantined: int
    quarantined_by_rule: dict[str, int]
    standard_version: str | None = None
    suite_version: str | None = None
    standards_commit: str | None = None

    @classmethod
    def of(cls, summary: PublishSummary, validated: ValidateSummary, run_id: str) -> AssetExtra:
        return cls(rows=summary.rows_published, run_id=run_id, load_mode=summary.load_mode, table=summary.table,
                   verdict=validated.verdict, rows_received=validated.rows_received,
                   rows_quarantined=validated.rows_quarantined, quarantined_by_rule=validated.quarantined_by_rule,
                   standard_version=summary.standard_version, suite_version=summary.suite_version,
                   standards_commit=summary.standards_commit)


def asset_extra(publish: dict[str, Any], area: WorkArea, run_id: str) -> dict[str, Any]:
    """The publish task's Asset event extra, from the publish summary as the task returned it and the run's
    validate summary."""
    return AssetExtra.of(PublishSummary.model_validate(publish), require(area, ValidateSummary), run_id).to_json()


class RunRecord(Contract):
    """One row of ``governance.run_record`` (``warehouse.records``): written on success and on failure."""

    run_id: str
    dag_id: str
    dataset_key: str
    department: str
    logical_date: date
    started_at: datetime
    finished_at: datetime
    duration_s: float
    rows_received: int | None = None
    rows_passed: int | None = None
    rows_quarantined: int | None = None
    rows_published: int = 0
    verdict: str
    quarantined_by_rule: dict[str, int] = Field(default_factory=dict)
    masked_columns: dict[str, str] = Field(default_factory=dict)
    leak_findings: list[LeakFinding] = Field(default_factory=list)
    published_table: str | None = None
    delivered_at: datetime | None = None
    standard_version: str | None = None
    suite_version: str | None = None
    standards_commit: str | None = None
    standards_versions: dict[str, Any] | None = None
    message: str | None = None


class RecordSummary(RunRecord, StepSummary):
    """The run record as the record task returns it, with the reports and what the run closed."""

    step = "record"
    reports: list[str] = Field(default_factory=list)
    quarantine_closed: int = 0
    normalised: dict[str, int] = Field(default_factory=dict)

    @classmethod
    def of(cls, record: RunRecord, **extra: Any) -> RecordSummary:
        return cls(**record.model_dump() | {"duration_s": round(record.duration_s, 1)} | extra)
