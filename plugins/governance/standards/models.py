"""The shapes of the standards files, as pydantic models (the structural pass).

A data element follows GB/T 19488 / ISO/IEC 11179 (identifier, names, definition, type,
format, value domain, version, status) plus the platform's sensitivity grade and masking
rule. A dataset is a catalogue entry (政务信息资源目录): department, columns that reference
elements, primary key, update cycle, sharing type, source and load mode.
"""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=48)]
DatasetKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*/[a-z][a-z0-9_]*$", max_length=97)]  # department/dataset
DataType = Literal["string", "integer", "decimal", "date", "datetime"]
Sensitivity = Literal["L1", "L2", "L3", "L4"]
SharingType = Literal["unconditional", "conditional", "not_shared"]
Validator = Literal["resident_id", "credit_code", "mobile", "person_name"]
UpdateCycle = Literal["daily", "weekly", "monthly"]
LoadMode = Literal["snapshot", "upsert"]
SENSITIVE_GRADES = frozenset({"L3", "L4"})
MIN_NOTICE_DAYS = 30  # days between telling consumers of a breaking change and its effective date
# A run's verdict under its dataset's quality policy (governance.validation.verdict decides it; the run
# records and the oversight figures read it back).
PASSED = "passed"
FLAGGED = "passed_with_quarantine"
HELD = "held_for_confirmation"
FAILED = "failed"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Masking(Strict):
    """How a column is de-identified before publishing (GB/T 37964 techniques).

    ``partial`` keeps ``keep_first``/``keep_last`` characters (display masks); ``pseudonym`` is a
    keyed HMAC token, joinable across departments; ``encrypt`` is reversible with a managed key;
    ``generalize`` coarsens to ``to`` (year, month, range of ``step``, or division); ``suppress``
    drops the column; ``none`` publishes the value as it is.
    """

    rule: Literal["none", "partial", "pseudonym", "encrypt", "generalize", "suppress"]
    keep_first: int | None = Field(default=None, ge=0)
    keep_last: int | None = Field(default=None, ge=0)
    to: Literal["year", "month", "range", "division", "district"] | None = None
    step: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _parameters_fit_rule(self) -> Masking:
        if self.rule == "generalize" and self.to is None:
            raise ValueError("generalize needs 'to' (year, month, range, division or district)")
        if self.to == "range" and self.step is None:
            raise ValueError("generalize to range needs 'step'")
        if self.rule != "partial" and (self.keep_first is not None or self.keep_last is not None):
            raise ValueError("keep_first/keep_last only apply to the partial rule")
        return self


def _masking_shorthand(value: object) -> object:
    return {"rule": value} if isinstance(value, str) else value


class ValueDomain(Strict):
    """At most one of: a regular expression, a named identifier validator, a code table."""

    pattern: str | None = None
    validator: Validator | None = None
    code_table: Identifier | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ValueDomain:
        if sum(v is not None for v in (self.pattern, self.validator, self.code_table)) > 1:
            raise ValueError("a value domain has one of pattern, validator or code_table")
        return self


class Element(Strict):
    id: Annotated[str, Field(pattern=r"^DE\d{4}$")]
    key: Identifier
    name_zh: str
    name_en: str
    definition: str
    type: DataType
    format: str | None = None
    max_length: int | None = Field(default=None, gt=0)
    precision: tuple[int, int] | None = None
    domain: ValueDomain = ValueDomain()
    sensitivity: Sensitivity
    masking: Masking
    free_text: bool = False
    version: str = "1.0"
    status: Literal["draft", "approved", "retired"] = "approved"

    _masking = field_validator("masking", mode="before")(_masking_shorthand)


class CodeTableFile(Strict):
    id: Identifier
    name_zh: str
    standard: str
    codes: dict[str, str]

    @field_validator("codes", mode="before")
    @classmethod
    def _codes_are_strings(cls, value: object) -> object:
        if isinstance(value, dict):
            return {str(code): str(label) for code, label in value.items()}
        return value


class Department(Strict):
    key: Identifier
    name_zh: str
    name_en: str


class Source(Strict):
    kind: Literal["csv", "excel", "sql"]
    encoding: Literal["utf-8", "gbk", "gb18030", "auto"] = "auto"  # gbk and gb18030 both read as GB 18030-2022
    delimiter: str = ","
    file_pattern: str | None = None
    sheet: str | int = 0
    connection_id: str | None = None
    query: str | None = None
    # Seconds a statement of a sql source may run (or wait for a lock) before the pull fails; None: 600.
    timeout_s: int | None = Field(default=None, gt=0, le=86_400)

    @model_validator(mode="after")
    def _kind_fields(self) -> Source:
        if self.kind == "sql" and not (self.connection_id and self.query):
            raise ValueError("a sql source needs connection_id and query")
        if self.kind != "sql" and (self.connection_id or self.query or self.timeout_s is not None):
            raise ValueError(f"a {self.kind} source takes no connection_id, query or timeout_s")
        return self

    @property
    def pattern(self) -> str:
        return self.file_pattern or {"csv": "*.csv", "excel": "*.xlsx"}.get(self.kind, "")


class Column(Strict):
    """A dataset column: an element reference plus the overrides this dataset needs."""

    name: Identifier
    element: Identifier
    required: bool = False
    masking: Masking | None = None
    sharing: SharingType | None = None
    description: str | None = None

    _masking = field_validator("masking", mode="before")(_masking_shorthand)


class Quality(Strict):
    """Verdict thresholds. Above ``max_quarantine_share`` the run fails; a snapshot whose row count falls by
    more than ``max_shrink_share`` against the last published load is held for the department's confirmation.
    Both publish nothing. The shrink default suits registers, which change by far less than 2% a night."""

    max_quarantine_share: float = Field(default=0.2, ge=0, le=1)
    max_shrink_share: float = Field(default=0.02, ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, value: object) -> object:
        if isinstance(value, dict) and "max_row_drop_share" in value:
            raise ValueError("max_row_drop_share is replaced by max_shrink_share (a shrinking snapshot is held "
                             "for the department's confirmation, default 0.02)")
        return value


class FreshnessPolicy(Strict):
    """Overrides of the update cycle's freshness thresholds, in hours (dbt-style warn/error after).

    A dataset refreshed on an irregular rhythm (a register updated whenever a ruling is made) can
    set either or both; an omitted one keeps the cycle's default (see ``governance.oversight``).
    """

    warn_after_hours: float | None = Field(default=None, gt=0)
    error_after_hours: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _error_after_warn(self) -> FreshnessPolicy:
        warn, error = self.warn_after_hours, self.error_after_hours
        if warn is None and error is None:
            raise ValueError("freshness needs warn_after_hours, error_after_hours or both")
        if warn is not None and error is not None and error < warn:
            raise ValueError("error_after_hours must not be less than warn_after_hours")
        return self


class Delivery(Strict):
    """How the platform knows a file drop is complete, and when it is due (docs/operations.md, 交付规范).

    ``manifest`` (the default): the department writes ``MANIFEST.json`` last, naming every file with its size,
    rows and SHA-256; ``quiet_period``: for a department that cannot write one, the drop is complete once the
    folder has not changed for ``quiet_minutes``. One of the two always applies: a drop is never read on luck.
    ``expected_by`` / ``wait_until`` are local times (Asia/Shanghai) on the morning after the business date:
    the nightly run waits for a complete delivery until ``wait_until`` and alerts once ``expected_by`` passed.
    """

    completeness: Literal["manifest", "quiet_period"] = "manifest"
    quiet_minutes: int | None = Field(default=None, gt=0, le=1440)
    expected_by: time = time(1, 30)
    wait_until: time = time(6, 0)

    @field_validator("expected_by", "wait_until", mode="before")
    @classmethod
    def _quoted_time(cls, value: object) -> object:
        if isinstance(value, int):  # YAML 1.1 reads an unquoted 01:30 as the number 90 (base 60)
            raise ValueError('write the time quoted, as "HH:MM" (unquoted, YAML reads 01:30 as a number)')
        return value

    @model_validator(mode="after")
    def _one_way_to_complete(self) -> Delivery:
        if self.completeness == "quiet_period" and self.quiet_minutes is None:
            raise ValueError("a quiet_period delivery needs quiet_minutes (how long the folder must stay unchanged)")
        if self.completeness == "manifest" and self.quiet_minutes is not None:
            raise ValueError("quiet_minutes only applies to completeness: quiet_period")
        if self.wait_until < self.expected_by:
            raise ValueError("wait_until must not be earlier than expected_by")
        return self


class ChangeNotice(Strict):
    """A change announced to the dataset's consumers (governance.standards.breaking): ``notice`` is the day they
    were told, ``effective_from`` the first day the change may apply; ``columns`` (empty: the whole dataset)
    are the columns it concerns. A breaking change merges only under a notice announced in an earlier version,
    on or after its ``effective_from``."""

    effective_from: date
    notice: date
    summary: str = Field(min_length=2)
    columns: list[Identifier] = []


class Dataset(Strict):
    department: Identifier
    name: Identifier
    title_zh: str
    description: str
    update_cycle: UpdateCycle
    sharing: SharingType
    sharing_basis: str | None = None
    primary_key: list[Identifier] = Field(min_length=1)
    load_mode: LoadMode
    freshness_column: Identifier | None = None
    freshness: FreshnessPolicy | None = None
    source: Source
    delivery: Delivery = Delivery()
    quality: Quality = Quality()
    columns: list[Column] = Field(min_length=1)
    changes: list[ChangeNotice] = []  # announced changes (变更公告), oldest first

    @model_validator(mode="after")
    def _delivery_fits_source(self) -> Dataset:
        if self.source.kind == "sql" and "completeness" in self.delivery.model_fields_set:
            raise ValueError("a sql source is read in one statement: its delivery takes no completeness rule")
        return self

    @property
    def key(self) -> str:
        """``department/dataset``, how people name a dataset."""
        return f"{self.department}/{self.name}"

    @property
    def dag_id(self) -> str:
        return f"{self.department}__{self.name}"

    def column(self, name: str) -> Column | None:
        return next((column for column in self.columns if column.name == name), None)


class DatasetFile(Strict):
    dataset: Dataset
