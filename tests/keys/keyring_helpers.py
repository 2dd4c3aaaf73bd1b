"""Helpers and fixtures for the key-management tests (``conftest.py`` re-exports the fixtures): a keyring
served by Airflow's LocalFilesystemBackend from a private file (as in the demo), synthetic raw rows for the
datasets with keyed columns, and a helper that masks and publishes them with the real
``governance.warehouse.publish``."""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from governance.keys import keyring as keys
from governance.keys.keyring import VARIABLE, Keyring, generate_keyring, keyring_to_json, load_keyring
from governance.keys.pseudonym_rotation import record_map
from governance.masking.frame import mask_frame
from governance.warehouse import publish

BACKEND = "airflow.secrets.local_filesystem.LocalFilesystemBackend"
ALLOWANCE = "civil_affairs/subsistence_allowance"
RESIDENTS = "public_security/resident_population"
INSURANCE = "human_resources/social_insurance_enrollment"
ENTERPRISES = "market_regulation/enterprise_registration"
DAY = datetime.date(2026, 11, 27)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def secrets_of(*keyrings: Keyring) -> list[str]:
    """Every form a key could leak in: urlsafe and standard base64 (padded or not) and hex."""
    raw = [key for keyring in keyrings for key in (*keyring.pseudonym_keys.values(), *keyring.encryption_keys.values())]
    forms = []
    for key in raw:
        for encoded in (base64.urlsafe_b64encode(key).decode(), base64.b64encode(key).decode()):
            forms += [encoded, encoded.rstrip("=")]
        forms.append(key.hex())
    return forms


def assert_no_key_material(text: str, *keyrings: Keyring) -> None:
    for secret in secrets_of(*keyrings):
        assert secret not in text, "key material in output"


@dataclass
class KeyringFile:
    """The demo's variables file, configured as Airflow's secrets backend for this test."""

    path: Path

    @property
    def secrets_dir(self) -> Path:
        return self.path.parent

    def load(self) -> Keyring:
        return load_keyring()

    def write(self, keyring: Keyring | None) -> None:
        document = {} if keyring is None else {VARIABLE: keyring_to_json(keyring)}
        self.path.write_text(json.dumps(document))


@pytest.fixture
def keyring_file(tmp_path, monkeypatch) -> Iterator[KeyringFile]:
    from airflow.sdk.configuration import clear_secrets_backends_cache

    path = tmp_path / "secrets" / "variables.json"
    keys.write_local_keyring(path, generate_keyring(DAY))
    monkeypatch.delenv("AIRFLOW_VAR_GOVERNANCE_KEYRING", raising=False)
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", BACKEND)
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND_KWARGS", json.dumps({"variables_file_path": str(path)}))
    monkeypatch.setattr(keys, "_metastore_configured", lambda: False)
    clear_secrets_backends_cache()
    yield KeyringFile(path)
    clear_secrets_backends_cache()


def resident_id(n: int) -> str:
    """A valid GB 11643 number (region, birth date, sequence, check character), distinct per ``n``."""
    born = datetime.date(1950, 1, 1) + datetime.timedelta(days=97 * n)
    body = f"330106{born:%Y%m%d}{n % 1000:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _WEIGHTS, strict=True)) % 11]


def allowance_rows(people: range) -> list[dict]:
    return [{"id_number": resident_id(n), "name": "张三", "assistance_type": "01", "region_code": "330106",
             "benefit_amount": f"{800 + n}.50", "approved_on": "2025-01-02", "remarks": None,
             "updated_at": "2026-11-27 08:00:00"} for n in people]


def resident_rows(people: range) -> list[dict]:
    """Birth date and gender as the identifier says (GB 11643: digits 7-14; an odd 17th digit is male), as the
    suite checks: these rows pass validation."""
    ids = [resident_id(n) for n in people]
    return [{"id_number": id_, "name": "李四", "gender": "1" if int(id_[16]) % 2 else "2",
             "birth_date": f"{id_[6:10]}-{id_[10:12]}-{id_[12:14]}", "ethnicity": "01", "region_code": "330106",
             "address": "浙江省杭州市西湖区文三路1号", "mobile": "13800000000", "updated_at": "2026-11-27 08:00:00"}
            for id_ in ids]


def insurance_rows(people: range) -> list[dict]:
    return [{"id_number": resident_id(n), "name": "王五", "insurance_type": kind, "employer_credit_code": None,
             "contribution_base": "5200.00", "enrolled_on": "2020-01-01", "updated_at": "2026-11-27 08:00:00"}
            for n in people for kind in ("110", "310")]


def enterprise_rows(people: range) -> list[dict]:
    return [{"credit_code": f"91330100MA{n:08d}", "enterprise_name": "某某科技有限公司", "legal_representative": "赵六",
             "legal_rep_id_number": resident_id(n), "registered_capital": "100.00", "established_on": "2020-01-02",
             "region_code": "330106", "business_address": "杭州市西湖区文三路1号", "status": "1",
             "updated_at": "2026-11-27 08:00:00"} for n in people]


ROWS = {ALLOWANCE: allowance_rows, RESIDENTS: resident_rows, INSURANCE: insurance_rows, ENTERPRISES: enterprise_rows}


@pytest.fixture
def publish_raw(tmp_path, catalogue):
    """``publish_raw(engine, dataset_key, people, keyring, day=..., record=True)``: mask synthetic raw rows with
    ``keyring`` (mapping tokens while a pseudonym rotation is prepared, as the mask step does) and publish."""
    counter = iter(range(10_000))

    def run(engine: sa.Engine, key: str, people: range, keyring: Keyring, *, day: datetime.date = DAY,
            record: bool = True) -> pd.DataFrame:
        raw = pd.DataFrame(ROWS[key](people), dtype="string[pyarrow]")
        columns = catalogue.columns(catalogue.dataset(key))
        masked = mask_frame(raw, columns, keyring, dataset=key).frame
        if record:
            record_map(engine, columns, raw, keyring)
        path = tmp_path / f"masked_{next(counter)}.parquet"
        masked.to_parquet(path, index=False)
        publish(engine, catalogue, key, path, load_date=day, run_id=f"run-{path.stem}")
        return raw

    return run


def table_rows(engine: sa.Engine, table: str, *columns: str) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            sa.text(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {columns[0]}"))]
