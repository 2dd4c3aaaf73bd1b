"""Data and helpers for the sharing tests (imported by conftest and the test modules)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from governance.keys import generate_keyring, pseudonymize
from governance.standards.agreements import Agreement

SHANGHAI = ZoneInfo("Asia/Shanghai")
RESIDENT = "public_security/resident_population"
ENTERPRISE = "market_regulation/enterprise_registration"
MEDICAL = "health/medical_institution"
TAX = "taxation/taxpayer_credit_rating"
RESIDENTS = 30
RARE_ENTERPRISE = "杭州𠀀记吴𰀀䶮科技有限公司"  # CJK Extensions B, G and A (issue 21): kept intact end to end
KEYRING = generate_keyring()


def raw_id(i: int) -> str:
    """Synthetic 18-character resident IDs (the service does not validate them, it pseudonymizes them)."""
    return f"33010219900101{i:03d}X"


def token_of(raw: str) -> str:
    return str(pseudonymize(pd.Series([raw]), KEYRING.pseudonym_key).iloc[0])


class Clock:
    """A settable clock: ``clock.set(2026, 6, 15, 10)`` in Asia/Shanghai wall time."""

    def __init__(self) -> None:
        self.now = datetime(2026, 6, 15, 10, 0, tzinfo=SHANGHAI)

    def set(self, *args: int) -> None:
        self.now = datetime(*args, tzinfo=SHANGHAI)

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC)


def _parquet(path: Path, rows: list[dict[str, str | None]]) -> Path:
    pq.write_table(pa.table({name: pa.array([row[name] for row in rows], pa.string()) for name in rows[0]}), path)
    return path


def residents() -> list[dict[str, str | None]]:
    return [{"id_number": token_of(raw_id(i)), "name": "张*", "gender": str(1 + i % 2), "birth_date": "1990",
             "ethnicity": "01", "region_code": "330102", "address": "浙江省杭州市上城区", "mobile": "138****0001",
             "updated_at": f"2026-06-{1 + i % 10:02d} 08:00:00"} for i in range(RESIDENTS)]


def enterprises() -> list[dict[str, str | None]]:
    return [{"credit_code": f"91330100MA{i:08d}",
             "enterprise_name": RARE_ENTERPRISE if i == 3 else f"某某科技有限公司{i}",
             "legal_representative": "王*", "legal_rep_id_number": token_of(raw_id(i)),
             "registered_capital": "1000000.50", "established_on": "2020-01-02", "region_code": "330102",
             "business_address": "杭州市西湖区文三路1号", "status": "1", "updated_at": "2026-06-01 08:00:00"}
            for i in range(10)]


def institutions() -> list[dict[str, str | None]]:
    return [{"credit_code": f"12330000MB{i:08d}", "institution_name": f"第{i}人民医院", "level": "3",
             "bed_count": str(100 + i), "region_code": "330102", "address": "杭州市上城区解放路1号",
             "updated_at": "2026-06-01 08:00:00"} for i in range(5)]


def agreement(id: str, consumer: str, dataset: str, columns: list[str], *, quota: int = 100_000,
              valid_from: str = "2026-01-01", expires: str = "2027-12-31", status: str = "approved") -> Agreement:
    return Agreement(id=id, consumer=consumer, dataset=dataset, columns=columns, purpose="测试用途",
                     approved_by="测试审批", valid_from=date.fromisoformat(valid_from),
                     expires=date.fromisoformat(expires), daily_row_quota=quota, status=status)


# The tests' own agreements (like the samples in standards/agreements, but fixed here so that editing a
# sample does not change what these tests mean).
AGREEMENTS = {a.id: a for a in [
    agreement("civil_affairs_subsistence_identity_check", "civil_affairs", RESIDENT,
              ["id_number", "name", "region_code"], quota=200_000),
    agreement("health_family_doctor_survey_2025", "health", RESIDENT,
              ["id_number", "gender", "birth_date", "region_code"], valid_from="2025-03-01", expires="2025-12-31"),
    agreement("market_regulation_tax_credit_supervision", "market_regulation", TAX,
              ["credit_code", "rating", "evaluated_on"]),
    agreement("taxation_enterprise_legal_representative", "taxation", ENTERPRISE,
              ["credit_code", "legal_rep_id_number"]),
]}
