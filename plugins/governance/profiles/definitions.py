"""What each cross-department profile joins, and where each of its columns comes from.

Plain data with no warehouse imports, because the DAG file reads it at parse time. A profile has
one driving dataset (one row per key) and datasets left-joined on the same key, which must be their
whole primary key so the join never multiplies rows. The per-column provenance (``sources``) is
what :mod:`governance.warehouse.grants` uses to let a role read a profile column only if it may read
the column it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

# The warehouse's lineage columns (governance.warehouse.schema.LINEAGE_COLUMNS), repeated here so
# parsing does not import the warehouse; a test keeps the two equal.
LINEAGE = ("_load_date", "_run_id", "_loaded_at")
PREFIX = "profile__"


@dataclass(frozen=True)
class Profile:
    name: str
    title_zh: str
    description: str
    base: str  # dataset key (department/dataset) of the driving table
    key: str  # join column, named the same in every input
    joins: tuple[str, ...]  # dataset keys left-joined on ``key``
    columns: tuple[tuple[str, str, str], ...]  # (profile column, dataset key, source column)

    @property
    def table(self) -> str:
        return f"{PREFIX}{self.name}"

    @property
    def dag_id(self) -> str:
        return self.table

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.base, *self.joins)

    @property
    def sources(self) -> dict[str, tuple[str, str]]:
        return {column: (dataset, source) for column, dataset, source in self.columns}

    @property
    def lineage(self) -> tuple[str, ...]:
        return LINEAGE


ENTERPRISE_REGISTRATION = "market_regulation/enterprise_registration"
TAXPAYER_CREDIT_RATING = "taxation/taxpayer_credit_rating"
MEDICAL_INSTITUTION = "health/medical_institution"

ENTERPRISE = Profile(
    name="enterprise",
    title_zh="企业综合画像(跨部门)",
    description="每个登记市场主体一行: 登记信息, 纳税信用等级(如有), 作为医疗机构的执业登记(如有), "
                "按统一社会信用代码关联。",
    base=ENTERPRISE_REGISTRATION,
    key="credit_code",
    joins=(TAXPAYER_CREDIT_RATING, MEDICAL_INSTITUTION),
    columns=(
        ("credit_code", ENTERPRISE_REGISTRATION, "credit_code"),
        ("enterprise_name", ENTERPRISE_REGISTRATION, "enterprise_name"),
        ("legal_rep_id_number", ENTERPRISE_REGISTRATION, "legal_rep_id_number"),
        ("registered_capital", ENTERPRISE_REGISTRATION, "registered_capital"),
        ("established_on", ENTERPRISE_REGISTRATION, "established_on"),
        ("region_code", ENTERPRISE_REGISTRATION, "region_code"),
        ("enterprise_status", ENTERPRISE_REGISTRATION, "status"),
        ("tax_credit_rating", TAXPAYER_CREDIT_RATING, "rating"),
        ("tax_rated_on", TAXPAYER_CREDIT_RATING, "evaluated_on"),
        ("medical_institution_name", MEDICAL_INSTITUTION, "institution_name"),
        ("medical_institution_level", MEDICAL_INSTITUTION, "level"),
        ("medical_bed_count", MEDICAL_INSTITUTION, "bed_count"),
    ),
)

PROFILES: dict[str, Profile] = {profile.name: profile for profile in (ENTERPRISE,)}
