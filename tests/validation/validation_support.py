"""Synthetic resident rows shared by the validation tests (a helper module, not a test file)."""

from __future__ import annotations

import pandas as pd
from faker import Faker


def other_check(id_number: str) -> str:
    return id_number[:17] + ("0" if id_number[17] != "0" else "1")


def residents(count: int, seed: int = 11) -> pd.DataFrame:
    faker = Faker("zh_CN")
    faker.seed_instance(seed)
    rows = []
    for line in range(count):
        id_number = faker.ssn()
        rows.append(
            {
                "id_number": id_number,
                "name": faker.name(),
                "gender": "1" if int(id_number[16]) % 2 else "2",
                "birth_date": f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}",
                "ethnicity": "01",
                "region_code": "110101",
                "address": faker.address(),
                "mobile": faker.phone_number(),
                "updated_at": "2025-05-31 23:59:59",
                "_source_file": "residents.csv",
                "_source_line": str(line + 2),
            }
        )
    frame = pd.DataFrame(rows, dtype="str")
    frame["mobile"] = "139" + frame["_source_line"].str.zfill(8)  # Faker's prefixes are limited
    return frame
