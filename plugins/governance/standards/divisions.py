"""Build the GB/T 2260 division code table from python-stdnum's data, not by hand.

python-stdnum ships the county-level codes with the years each was in force (from the
Chinese Wikipedia lists of 行政区划代码), retired codes included: historical codes stay
legitimate in old records. ``governance standards build-divisions`` regenerates the CSV.
"""

from __future__ import annotations

import csv
import re
from importlib.resources import files
from pathlib import Path

_LINE = re.compile(r'^(?P<indent>\s*)(?P<digits>\d+) (?:province|county)="(?:\[(?P<span>[^\]]*)\])?(?P<name>[^"]*)"')
# Residence permits for Hong Kong, Macao and Taiwan residents use these province-level codes
# (居住证申领发放办法); 830000 is not a GB/T 2260 division, so stdnum does not list it.
_PERMIT_CODES = {"830000": "台湾居民居住证"}


def division_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    province = ""
    text = files("stdnum.cn").joinpath("loc.dat").read_text(encoding="utf-8")
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        if not match["indent"]:
            province = match["digits"]
            continue
        valid_from, _, valid_until = (match["span"] or "-").partition("-")
        rows.append({
            "code": province + match["digits"],
            "name": match["name"],
            "valid_from": valid_from,
            "valid_until": valid_until,
            "status": "retired" if valid_until else "current",
        })
    rows.extend({"code": code, "name": name, "valid_from": "2018", "valid_until": "", "status": "current"}
                for code, name in _PERMIT_CODES.items())
    return sorted(rows, key=lambda row: row["code"])


def write_divisions(target: Path) -> int:
    rows = division_rows()
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["code", "name", "valid_from", "valid_until", "status"])
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
