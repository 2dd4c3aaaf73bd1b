"""Realistic synthetic drops from the six departments, with a known share of real-world defects.

One synthetic province (Zhejiang by default) is generated once per seed: residents with GB 11643 IDs,
market entities with GB 32100 credit codes, public and private medical institutions. Every department's
file is cut from that same world, so a person in the allowance roll is a resident with the same ID and
name, an employer in the insurance workbook is a registered enterprise, a taxpayer is an enterprise.
The world depends on ``seed`` and ``rows`` only; what a given night changes (``updated_at``, which rows
carry defects, remarks) depends on ``day`` too, so successive nights look like successive exports.

Generation is vectorised (numpy, Arrow strings): Faker fills pools of a few thousand names and streets
that rows draw from, which keeps 5 million residents to a few minutes. Each dataset's columns are
produced per data element and then named after the standard, so a renamed or added column still gets
plausible values. Defects are injected per element (ID, credit code, mobile, code tables, required
columns), one per affected row, and counted by kind in the returned ``DemoDrop``.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from faker import Faker
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from governance.standards.catalogue import Catalogue, ResolvedColumn
from governance.standards.models import Dataset
from governance.validation.identifiers import (
    credit_code_check_character,
    resident_id_check_character,
    resident_id_reasons,
)

DEFAULT_PROVINCE = "33"
EXCEL_MAX_ROWS = 1_048_575  # data rows under the header row of one worksheet
_TEXT = "str"
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2])  # GB 11714, as in domain.md
_ORG_CHECK = np.array(list("0X987654321"))  # check character for (weighted sum mod 11) = 0..10
_RIC_CHECK = "10X98765432"
_FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
_MOBILE_PREFIXES = np.array([*range(130, 140), 145, 147, *range(150, 154), *range(155, 160), 166, 172, 173,
                             *range(175, 179), *range(180, 190), 191, 193, *range(195, 200)])
_ETHNICITY = {"01": 0.905, "08": 0.014, "03": 0.008, "05": 0.008, "11": 0.0075, "06": 0.0075, "07": 0.007,
              "15": 0.006, "04": 0.005, "02": 0.0045, "22": 0.004, "12": 0.002, "13": 0.002, "14": 0.0015,
              "10": 0.0013, "09": 0.0013, "16": 0.001, "17": 0.001, "19": 0.001}
_INDUSTRIES = ["贸易有限公司", "建材有限公司", "机械制造有限公司", "食品有限公司", "纺织有限公司", "物流有限公司",
               "餐饮管理有限公司", "建筑工程有限公司", "电子商务有限公司", "服饰有限公司", "家具有限公司",
               "农业开发有限公司", "汽车配件有限公司", "环保科技有限公司"]
_SHOPS = ["便利店", "小吃店", "五金店", "理发店", "水果店", "服装店", "副食品店", "汽车修理部", "餐馆", "烟酒商行"]
_CROPS = ["茶叶", "果蔬", "水产", "畜禽", "花卉", "中药材", "竹笋", "杨梅"]
_PRIVATE_MEDICAL = [("医院", ("1", "2", "9")), ("口腔门诊部", ("9",)), ("中医诊所", ("9",)),
                    ("眼科医院", ("1", "2")), ("综合门诊部", ("9",)), ("医疗美容诊所", ("9",))]
_REMARKS = ["家庭人均收入低于当地低保标准", "因病致贫, 已入户核查", "年度复核通过", "重度残疾, 单独施保",
            "独居老人, 社区定期走访", "子女在读, 按标准补差", "临时救助: 突发火灾", "动态管理, 季度复核"]
_DEFECTIVE_ID_KINDS = ("id_bad_check_character", "id_lowercase_x", "id_full_width_digits",
                       "id_surrounding_spaces", "id_scientific_notation", "id_legacy_15_digit", "id_17_characters")


@dataclass(frozen=True)
class DemoDrop:
    """One dataset's demo drop: where it went, how many rows, which defects (kind -> rows) were planted.

    ``leaks`` counts rows whose free text embeds a valid identifier (the leak guard's test case; those
    values are valid, so they are not defects). ``files`` lists every file when a workbook had to be
    split at Excel's row limit; ``path`` is the first (for the SQL source: the SQLite database).
    """

    dataset: str
    path: Path
    rows: int
    defects: dict[str, int] = field(default_factory=dict)
    leaks: dict[str, int] = field(default_factory=dict)
    files: tuple[Path, ...] = ()

    @property
    def defect_rows(self) -> int:
        return sum(self.defects.values())


def write_demo_data(catalogue: Catalogue, landing_root: Path, var_root: Path, day: date, rows: int = 2000,
                    defect_share: float = 0.03, seed: int = 20261128, *,
                    province: str = DEFAULT_PROVINCE) -> list[DemoDrop]:
    """Write one drop per dataset for the night of ``day``; return what was written.

    Files land in ``landing_root/<department>/<dataset>/<YYYY-MM-DD>/<dataset>_<YYYYMMDD>.<csv|xlsx>``;
    SQL sources become tables in ``var_root/departments/<department>.db`` (SQLite, replaced on each
    call) registered as Airflow connections in ``var_root/secrets/connections.json``. ``rows`` is the
    size of the resident population (50 .. 5,000,000); the other datasets are sized from it.
    """
    if not 0 <= defect_share < 0.5:
        raise ValueError(f"defect_share must be in [0, 0.5): defects are never the majority, got {defect_share}")
    if rows < 50:
        raise ValueError(f"rows must be at least 50, got {rows}")
    world = _World.build(catalogue, rows, seed, day, province)
    drops = []
    for dataset in catalogue.datasets.values():
        columns = catalogue.columns(dataset)
        stable = np.random.default_rng([seed, zlib.crc32(dataset.key.encode())])
        daily = np.random.default_rng([seed, day.toordinal(), zlib.crc32(dataset.key.encode())])
        builder = _BUILDERS.get(dataset.key, _generic)
        elements, leaks = builder(world, dataset, stable, daily)
        frame = _project(world, dataset, columns, elements, daily)
        frame, defects = _Defects(world, columns, daily).inject(frame, defect_share)
        paths = _write(frame, dataset, columns, landing_root, var_root, day)
        drops.append(DemoDrop(dataset.key, paths[0], len(frame), defects, leaks, tuple(paths)))
    return drops


# ----------------------------------------------------------------------------------- the world


@dataclass(frozen=True)
class _Divisions:
    home: np.ndarray  # current county-level codes in the home province
    other: np.ndarray  # current county-level codes elsewhere on the mainland
    place: dict[str, str]  # code -> 浙江省杭州市西湖区
    city: dict[str, str]  # code -> 杭州市 (prefecture, or the county itself when none)
    county: dict[str, str]  # code -> 西湖区
    known: frozenset[str]  # every code in the table, retired ones included

    @classmethod
    def from_catalogue(cls, catalogue: Catalogue, province: str) -> _Divisions:
        table = catalogue.code_tables["division"]
        current = {code: name for code, name in table.codes.items() if code not in table.retired}

        def label(code: str) -> str:
            name = current.get(code, "")
            return "" if name in ("市辖区", "县") or "直辖" in name or "," in name else name

        counties = sorted(code for code in current if code[4:] != "00" and int(code[:2]) < 71 and label(code))
        place, city, county = {}, {}, {}
        for code in counties:
            prefecture = label(code[:4] + "00")
            place[code] = label(code[:2] + "0000") + prefecture + current[code]
            city[code] = prefecture or label(code[:2] + "0000") or current[code]
            county[code] = current[code]
        home = np.array([code for code in counties if code.startswith(province)])
        if home.size == 0:
            raise ValueError(f"no current county-level division codes for province {province!r}")
        other = np.array([code for code in counties if not code.startswith(province)])
        return cls(home, other, place, city, county, frozenset(table.codes))

    def unknown_codes(self, rng: np.random.Generator, n: int) -> list[str]:
        """County-looking codes of the home province that are not (and never were) in GB/T 2260."""
        out: list[str] = []
        while len(out) < n:
            code = f"{self.home[0][:2]}{rng.integers(1, 100):02d}{rng.integers(1, 100):02d}"
            if code not in self.known:
                out.append(code)
        return out


@dataclass(frozen=True)
class _Pools:
    """A few thousand Faker values that rows draw from (Faker per row is far too slow at scale)."""

    male: np.ndarray
    female: np.ndarray
    surnames: np.ndarray
    streets: np.ndarray
    brands: np.ndarray
    industries: np.ndarray

    @classmethod
    def build(cls, seed: int) -> _Pools:
        fake = Faker("zh_CN")
        fake.seed_instance(seed)

        def pool(make: Callable[[], str], size: int) -> np.ndarray:
            values = dict.fromkeys(make() for _ in range(size))
            return np.array([value for value in values if _gbk(value)])

        brands = [*pool(fake.company_prefix, 200),
                  *pool(lambda: fake.first_name_male()[-1] + fake.first_name_female()[-1], 3000)]
        suffixes = list(dict.fromkeys(fake.company_suffix() for _ in range(100)))
        return cls(
            male=pool(fake.name_male, 4000),
            female=pool(fake.name_female, 4000),
            surnames=pool(fake.last_name, 500),
            streets=pool(fake.street_name, 3000),
            brands=np.array(list(dict.fromkeys(brands))),
            industries=np.array(suffixes + _INDUSTRIES),
        )


@dataclass(frozen=True)
class _World:
    catalogue: Catalogue
    day: date
    rows: int
    div: _Divisions
    pools: _Pools
    people: pd.DataFrame  # columns named by element key, plus _birth (datetime64[D])
    enterprises: pd.DataFrame  # plus _kind (91/92/93), _established (datetime64[D])
    institutions: pd.DataFrame  # plus _public (bool)

    @classmethod
    def build(cls, catalogue: Catalogue, rows: int, seed: int, day: date, province: str) -> _World:
        rng = np.random.default_rng([seed, 11643])
        div, pools = _Divisions.from_catalogue(catalogue, province), _Pools.build(seed)
        people = _people(rows, rng, div, pools)
        enterprises = _enterprises(max(10, rows // 4), rng, div, pools, people, day, catalogue)
        institutions, enterprises = _institutions(max(30, rows // 200), rng, div, pools, enterprises)
        return cls(catalogue, day, rows, div, pools, people, enterprises, institutions)

    def codes(self, table: str) -> list[str]:
        code_table = self.catalogue.code_tables[table]
        return [code for code in code_table.codes if code not in code_table.retired]

    def pick(self, table: str, rng: np.random.Generator, n: int, weights: dict[str, float]) -> np.ndarray:
        """Codes of ``table`` drawn with the given weights (codes not weighted share a small remainder)."""
        codes = self.codes(table)
        w = np.array([weights.get(code, 0.0) for code in codes])
        w = w + (1 - w.sum()) / len(codes) if w.sum() < 1 else w
        return rng.choice(np.array(codes), n, p=np.clip(w, 0, None) / np.clip(w, 0, None).sum())


def _people(n: int, rng: np.random.Generator, div: _Divisions, pools: _Pools) -> pd.DataFrame:
    male = rng.random(n) < 0.51
    start, span = np.datetime64("1940-01-01"), (np.datetime64("2010-12-31") - np.datetime64("1940-01-01"))
    birth = start + rng.triangular(0, span.astype(int) * 0.5, span.astype(int), n).astype(int)
    born_home = rng.random(n) < 0.85
    origin = np.where(born_home, rng.choice(div.home, n), rng.choice(div.other, n))
    residence = np.where(born_home & (rng.random(n) < 0.9), origin, rng.choice(div.home, n))
    ymd = _ymd(birth)
    parity = np.where(male, 1, 2)
    first17 = origin.astype(np.int64) * 10**11 + ymd * 1000 + 2 * rng.integers(0, 499, n) + parity
    while (clash := pd.Series(first17).duplicated().to_numpy()).any():
        first17[clash] = first17[clash] // 1000 * 1000 + 2 * rng.integers(0, 499, clash.sum()) + parity[clash]
    first17_text = pd.Series(first17.astype("U17"), dtype=_TEXT)
    mobile = _mobiles(rng, n)
    apartment = _join(rng.integers(1, 30, n), "幢", rng.integers(1, 6, n), "单元",
                      rng.integers(1, 33, n) * 100 + rng.integers(1, 5, n), "室")
    return pd.DataFrame({
        "resident_id_number": first17_text + resident_id_check_character(first17_text).astype(_TEXT),
        "person_name": np.where(male, rng.choice(pools.male, n), rng.choice(pools.female, n)),
        "gender": np.where(male, "1", "2"),
        "birth_date": np.datetime_as_string(birth, unit="D"),
        "ethnicity": rng.choice(np.array(list(_ETHNICITY)), n, p=np.array(list(_ETHNICITY.values())) /
                                sum(_ETHNICITY.values())),
        "division_code": residence,
        "address": _join(_lookup(residence, div.place), rng.choice(pools.streets, n), rng.integers(1, 400, n), "号",
                         apartment.where(rng.random(n) < 0.7, "")),
        "mobile_number": mobile.where(rng.random(n) < 0.88),
        "_birth": birth,
    }).astype({"person_name": _TEXT, "gender": _TEXT, "birth_date": _TEXT, "ethnicity": _TEXT,
               "division_code": _TEXT})


def _enterprises(n: int, rng: np.random.Generator, div: _Divisions, pools: _Pools, people: pd.DataFrame,
                 day: date, catalogue: Catalogue) -> pd.DataFrame:
    kind = rng.choice(np.array(["91", "92", "93"]), n, p=[0.72, 0.24, 0.04])
    region = rng.choice(div.home, n)
    adults = np.flatnonzero(_days(people["_birth"]) <= np.datetime64(day, "D") - 20 * 365)
    rep = rng.choice(adults, n, replace=n > len(adults) // 2)
    earliest = np.maximum(np.datetime64("1995-01-01"), _days(people["_birth"])[rep] + 18 * 366)
    established = np.maximum(np.datetime64(day, "D") - 1 - rng.exponential(2500, n).astype(int), earliest)
    city, county = _lookup(region, div.city), _lookup(region, div.county)
    brand = pd.Series(rng.choice(pools.brands, n), dtype=_TEXT)
    names = np.where(kind == "91", _join(city.str.removesuffix("市"), brand, rng.choice(pools.industries, n)),
                     np.where(kind == "92", _join(county, rng.choice(pools.surnames, n), "记", rng.choice(_SHOPS, n)),
                              _join(county, brand, rng.choice(_CROPS, n), "专业合作社")))
    capital = np.select([kind == "91", kind == "92"],
                        [rng.lognormal(np.log(200), 1.3, n).clip(3, 100_000), rng.lognormal(np.log(5), 0.8, n)],
                        rng.lognormal(np.log(50), 1.0, n).clip(1, 5000))
    status_table = catalogue.code_tables["enterprise_status"]
    codes = list(status_table.codes)
    weights = np.array([{"1": 0.70, "2": 0.15, "3": 0.05, "4": 0.08, "5": 0.02}.get(c, 0.01) for c in codes])
    modern = established >= np.datetime64("2015-10-01")  # organisation codes MA....... since the reform
    org = pd.Series(np.where(modern, _join("MA", _random_text(rng, n, 6, _USCC_ALPHABET)),
                             _random_text(rng, n, 8, "0123456789")), dtype=_TEXT)
    return pd.DataFrame({
        "credit_code": _credit_codes(rng, _join("9", pd.Series(kind, dtype=_TEXT).str.slice(1), region), org),
        "organization_name": pd.Series(names, dtype=_TEXT),
        "person_name": people["person_name"].to_numpy()[rep],
        "resident_id_number": people["resident_id_number"].to_numpy()[rep],
        "registered_capital": _decimal(capital),
        "event_date": np.datetime_as_string(established, unit="D"),
        "division_code": region,
        "business_address": _join(_lookup(region, div.place), rng.choice(pools.streets, n),
                                  rng.integers(1, 900, n), "号"),
        "enterprise_status": rng.choice(np.array(codes), n, p=weights / weights.sum()),
        "_kind": kind,
        "_established": established,
    }).astype({"person_name": _TEXT, "resident_id_number": _TEXT, "event_date": _TEXT, "division_code": _TEXT,
               "enterprise_status": _TEXT})


def _institutions(n: int, rng: np.random.Generator, div: _Divisions, pools: _Pools,
                  enterprises: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Public hospitals and health centres (事业单位, codes 12...) plus private ones that are enterprises:
    a private hospital's enterprise is renamed ``<name>有限公司`` in the market register."""
    active = np.flatnonzero((enterprises["_kind"] == "91").to_numpy() & enterprises["enterprise_status"]
                            .isin(["1", "2"]).to_numpy())
    private = rng.choice(active, min(len(active) // 3, round(n * 0.35)), replace=False)
    templates: list[tuple[str, str, str]] = []  # (region, name, level)
    stems = np.array(sorted({street[:-1] for street in pools.streets if len(street) > 2}) or list(pools.brands))
    for prefix in sorted({code[:4] for code in div.home}):
        seat = next(code for code in div.home if code.startswith(prefix))
        city = div.city[seat]
        templates += [(seat, f"{city}第一人民医院", "3"), (seat, f"{city}第二人民医院", "3"),
                      (seat, f"{city}中医院", "3"), (seat, f"{city}妇幼保健院", "2")]
    for code in div.home:
        name = div.county[code]
        templates += [(code, f"{name}人民医院", "2"), (code, f"{name}中医院", "2")]
        for stem in rng.choice(stems, 3, replace=False):
            centre = f"{stem}街道社区卫生服务中心" if name.endswith("区") else f"{stem}镇卫生院"
            templates.append((code, f"{name}{centre}", "1"))
    n_public = n - len(private)
    chosen = [templates[i] for i in rng.permutation(len(templates))[:n_public]]
    extra = n_public - len(chosen)
    region_extra = rng.choice(div.home, extra)
    chosen += [(code, f"{div.county[code]}{street}社区卫生服务站", "9")
               for code, street in zip(region_extra, rng.choice(pools.streets, extra), strict=True)]
    region = np.array([item[0] for item in chosen], dtype="U6")
    public_codes = _credit_codes(rng, _join("12", region), _join("4", _random_text(rng, n_public, 7, "0123456789")))

    kinds = rng.integers(0, len(_PRIVATE_MEDICAL), len(private))
    brand = rng.choice(pools.brands, len(private))
    city = _lookup(enterprises["division_code"].to_numpy()[private], div.city).str.removesuffix("市")
    practice = _join(city, brand, np.array([_PRIVATE_MEDICAL[k][0] for k in kinds]))
    enterprises = enterprises.copy()
    enterprises.loc[private, "organization_name"] = (practice + "有限公司").to_numpy()
    level = np.array([item[2] for item in chosen] + [rng.choice(_PRIVATE_MEDICAL[k][1]) for k in kinds])
    beds = np.select([level == "3", level == "2", level == "1"],
                     [rng.integers(800, 3000, n), rng.integers(150, 800, n), rng.integers(0, 100, n)],
                     rng.integers(0, 20, n))
    all_region = np.concatenate([region, enterprises["division_code"].to_numpy(dtype="U6")[private]])
    frame = pd.DataFrame({
        "credit_code": np.concatenate([public_codes.to_numpy(dtype=object),
                                       enterprises["credit_code"].to_numpy(dtype=object)[private]]),
        "organization_name": [item[1] for item in chosen] + practice.tolist(),
        "institution_level": level,
        "bed_count": beds.astype(str),
        "division_code": all_region,
        "business_address": np.concatenate([
            _join(_lookup(region, div.place), rng.choice(pools.streets, n_public),
                  rng.integers(1, 600, n_public), "号").to_numpy(dtype=object),
            enterprises["business_address"].to_numpy(dtype=object)[private]]),
        "_public": np.arange(n) < n_public,
    })
    order = rng.permutation(n)
    return frame.iloc[order].reset_index(drop=True).astype({c: _TEXT for c in frame.columns if c != "_public"}), \
        enterprises


# ------------------------------------------------------------------------- datasets of the world

Builder = Callable[["_World", Dataset, np.random.Generator, np.random.Generator],
                   tuple[pd.DataFrame, dict[str, int]]]


def _resident_population(world: _World, dataset: Dataset, stable: np.random.Generator,
                         daily: np.random.Generator) -> tuple[pd.DataFrame, dict[str, int]]:
    return world.people, {}


def _enterprise_registration(world: _World, dataset: Dataset, stable: np.random.Generator,
                             daily: np.random.Generator) -> tuple[pd.DataFrame, dict[str, int]]:
    return world.enterprises, {}


def _medical_institution(world: _World, dataset: Dataset, stable: np.random.Generator,
                         daily: np.random.Generator) -> tuple[pd.DataFrame, dict[str, int]]:
    return world.institutions, {}


def _taxpayer_credit_rating(world: _World, dataset: Dataset, stable: np.random.Generator,
                            daily: np.random.Generator) -> tuple[pd.DataFrame, dict[str, int]]:
    """Half the enterprises, active companies first; the yearly rating is published in April."""
    ent, day = world.enterprises, world.day
    year = day.year if day >= date(day.year, 5, 1) else day.year - 1
    rated = _days(ent["_established"]) < np.datetime64(f"{year}-01-01")  # the year evaluated is year - 1
    active = (ent["enterprise_status"].isin(["1", "2"]) & (ent["_kind"] == "91")).to_numpy()
    pool = np.concatenate([stable.permutation(np.flatnonzero(rated & active)),
                           stable.permutation(np.flatnonzero(rated & ~active))])
    frame = ent.iloc[np.sort(pool[: max(5, len(ent) // 2)])].reset_index(drop=True)
    n = len(frame)
    published = np.datetime64(f"{year}-04-01") + stable.integers(0, 28, n)
    corrected = np.datetime64(f"{year}-05-01") + (stable.random(n) * max(1, (np.datetime64(day, "D") - np.datetime64(
        f"{year}-05-01")).astype(int))).astype(int)
    evaluated = np.where(stable.random(n) < 0.9, published, np.minimum(corrected, np.datetime64(day, "D") - 1))
    rating = world.pick("tax_credit_rating", stable, n, {"A": 0.12, "B": 0.55, "M": 0.18, "C": 0.10, "D": 0.05})
    new = _days(frame["_established"]) >= np.datetime64(f"{year - 1}-01-01")
    frame["tax_credit_rating"] = np.where(new & np.isin("M", world.codes("tax_credit_rating")), "M", rating)
    frame["event_date"] = np.datetime_as_string(evaluated.astype("M8[D]"), unit="D")
    return frame, {}


def _social_insurance_enrollment(world: _World, dataset: Dataset, stable: np.random.Generator,
                                 daily: np.random.Generator) -> tuple[pd.DataFrame, dict[str, int]]:
    """Insured adults with one or two insurance types each (about rows / 2 rows in all)."""
    people, day = world.people, np.datetime64(world.day, "D")
    target = max(10, world.rows // 2)
    adults = np.flatnonzero(_days(people["_birth"]) <= day - 19 * 366)
    who = np.sort(stable.choice(adults, min(len(adults), -(-target * 2 // 3)), replace=False))
    m = len(who)
    category = stable.choice(np.array(["employee", "public", "resident"]), m, p=[0.7, 0.08, 0.22])
    first = np.select([category == "employee", category == "public"], ["110", "120"], "170")
    second = np.where((category != "resident") & (stable.random(m) < 0.65),
                      stable.choice(np.array(["310", "210", "410"]), m, p=[0.6, 0.25, 0.15]), "")
    ent, inst = world.enterprises, world.institutions
    companies = ent["credit_code"].to_numpy(dtype=object)[(ent["_kind"] == "91").to_numpy()]
    agencies = inst["credit_code"].to_numpy(dtype=object)[inst["_public"].to_numpy()]
    employer = np.where(category == "employee", stable.choice(companies, m),
                        np.where(category == "public", stable.choice(agencies, m), None))
    base = np.where(category == "public", stable.lognormal(np.log(10_000), 0.25, m),
                    stable.lognormal(np.log(7_000), 0.35, m)).clip(4462, 24930)
    base_text = _decimal(base).to_numpy(dtype=object)
    base_text[category == "resident"] = None  # residents' schemes have yearly grades, not a monthly base
    earliest = np.maximum(_days(people["_birth"])[who] + 18 * 366, np.datetime64("1995-01-01"))
    enrolled = earliest + (stable.random(m) * (day - earliest).astype(int)).astype(int)
    later = enrolled + (stable.random(m) * (day - enrolled).astype(int)).astype(int)
    has_second = second != ""
    person = np.concatenate([np.arange(m), np.flatnonzero(has_second)])
    order = np.argsort(person, kind="stable")[:target]
    person = person[order]
    types = np.concatenate([first, second[has_second]])[order]
    dates = np.concatenate([enrolled, later[has_second]])[order]
    known = world.codes("insurance_type")
    types = np.where(np.isin(types, known), types, stable.choice(np.array(known), len(types)))
    return pd.DataFrame({
        "resident_id_number": people["resident_id_number"].to_numpy()[who][person],
        "person_name": people["person_name"].to_numpy()[who][person],
        "insurance_type": types,
        "credit_code": employer[person],
        "monthly_income_base": base_text[person],
        "event_date": np.datetime_as_string(dates, unit="D"),
    }).astype(_TEXT), {}


def _subsistence_allowance(world: _World, dataset: Dataset, stable: np.random.Generator,
                           daily: np.random.Generator) -> tuple[pd.DataFrame, dict[str, int]]:
    """About one resident in twenty; a few remarks quote a phone number or a proxy's ID (leak guard case)."""
    people, day = world.people, np.datetime64(world.day, "D")
    n = max(5, world.rows // 20)
    who = np.sort(stable.choice(len(people), n, replace=False))
    kind = world.pick("assistance_type", stable, n, {"01": 0.45, "02": 0.40, "03": 0.10, "04": 0.05})
    low, high = (np.select([kind == code for code in ("01", "02", "03", "04")], bounds, default)
                 for bounds, default in (([300, 300, 1400, 500], 300), ([1200, 1100, 1800, 5000], 1200)))
    remarks = np.where(daily.random(n) < 0.4, daily.choice(_REMARKS, n), None).astype(object)
    leaks: dict[str, int] = {}
    if n >= 5:
        k = max(1, min(25, n // 200))
        rows = daily.choice(n, 2 * k, replace=False)
        phones = people["mobile_number"].dropna().to_numpy(dtype=object)
        for row in rows[:k]:
            remarks[row] = f"经核实, 联系电话{daily.choice(phones)}"
        for row in rows[k:]:
            remarks[row] = f"由家属代领, 代领人身份证号{people['resident_id_number'].iloc[daily.integers(len(people))]}"
        leaks = {"remarks_mobile": k, "remarks_resident_id": k}
    return pd.DataFrame({
        "resident_id_number": people["resident_id_number"].to_numpy()[who],
        "person_name": people["person_name"].to_numpy()[who],
        "assistance_type": kind,
        "division_code": people["division_code"].to_numpy()[who],
        "benefit_amount": _decimal(stable.uniform(low, high)),
        "event_date": np.datetime_as_string(day - stable.integers(30, 6 * 365, n), unit="D"),
        "remarks": remarks,
    }).astype(_TEXT), leaks


def _generic(world: _World, dataset: Dataset, stable: np.random.Generator,
             daily: np.random.Generator) -> tuple[pd.DataFrame, dict[str, int]]:
    """A dataset this module has no builder for: a sample of people or of enterprises."""
    keys = {column.element for column in dataset.columns}
    base = world.people if "resident_id_number" in keys or "credit_code" not in keys else world.enterprises
    n = min(len(base), max(10, world.rows // 10))
    return base.iloc[np.sort(stable.choice(len(base), n, replace=False))].reset_index(drop=True), {}


_BUILDERS: dict[str, Builder] = {
    "public_security/resident_population": _resident_population,
    "market_regulation/enterprise_registration": _enterprise_registration,
    "human_resources/social_insurance_enrollment": _social_insurance_enrollment,
    "civil_affairs/subsistence_allowance": _subsistence_allowance,
    "health/medical_institution": _medical_institution,
    "taxation/taxpayer_credit_rating": _taxpayer_credit_rating,
}


def _project(world: _World, dataset: Dataset, columns: list[ResolvedColumn], elements: pd.DataFrame,
             rng: np.random.Generator) -> pd.DataFrame:
    """The standard's columns, in order, from the builder's element-keyed frame; gaps filled per element."""
    n = len(elements)
    out = {}
    for column in columns:
        element = column.element
        if element.type == "datetime":
            out[column.name] = _updated_at(rng, n, world.day, dataset.update_cycle)
        elif element.key in elements:
            out[column.name] = elements[element.key].reset_index(drop=True)
        else:
            out[column.name] = _fill(world, column, rng, n)
    return pd.DataFrame(out).astype(_TEXT)


def _fill(world: _World, column: ResolvedColumn, rng: np.random.Generator, n: int) -> np.ndarray:
    element = column.element
    if element.domain.code_table == "division":
        return rng.choice(world.div.home, n)
    if element.domain.code_table:
        return rng.choice(np.array(world.codes(element.domain.code_table)), n)
    if element.domain.validator == "resident_id":
        return rng.choice(world.people["resident_id_number"].to_numpy(dtype=object), n)
    if element.domain.validator == "credit_code":
        return rng.choice(world.enterprises["credit_code"].to_numpy(dtype=object), n)
    if element.domain.validator == "mobile":
        return _mobiles(rng, n).to_numpy(dtype=object)
    if element.type == "date":
        return np.datetime_as_string(np.datetime64(world.day, "D") - rng.integers(1, 5 * 365, n), unit="D")
    if element.type == "decimal":
        return _decimal(rng.lognormal(7, 1, n)).to_numpy(dtype=object)
    if element.type == "integer":
        return rng.integers(0, 1000, n).astype(str)
    if element.free_text and not column.required:
        return np.full(n, None)
    labels = _join(element.name_zh, pd.Series(np.arange(1, n + 1)).astype(_TEXT).str.zfill(6))
    return labels.str.slice(0, element.max_length).to_numpy(dtype=object)


# ------------------------------------------------------------------------------------- defects


class _Defects:
    """Plant realistic defects (domain.md), one per affected row, spread over the kinds that apply."""

    def __init__(self, world: _World, columns: list[ResolvedColumn], rng: np.random.Generator):
        self.world, self.columns, self.rng = world, columns, rng

    def plan(self) -> list[tuple[str, str]]:
        """(kind, column) pairs; kinds that only fit some rows come first so others absorb shortfalls."""
        restricted: list[tuple[str, str]] = []
        open_: list[tuple[str, str]] = []
        has_id = any(c.element.domain.validator == "resident_id" for c in self.columns)
        for column in self.columns:
            domain, name = column.element.domain, column.name
            if domain.validator == "resident_id":
                restricted += [(kind, name) for kind in ("id_lowercase_x", "id_scientific_notation",
                                                         "id_legacy_15_digit")]
                open_ += [(kind, name) for kind in _DEFECTIVE_ID_KINDS if (kind, name) not in restricted]
            elif domain.validator == "credit_code":
                target = restricted if not column.required else open_
                target += [("credit_code_bad_check_character", name), ("credit_code_bad_organization_code", name)]
            elif domain.validator == "mobile":
                restricted += [("mobile_country_prefix", name), ("mobile_separators", name)]
            elif domain.code_table == "gender":
                open_.append(("gender_unknown_code", name))
                if has_id:
                    open_.append(("gender_id_mismatch", name))
            elif domain.code_table == "ethnicity":
                restricted.append(("ethnicity_unknown_code", name))
            elif domain.code_table == "division":
                open_.append(("region_code_unknown", name))
            elif column.element.key == "birth_date":
                open_.append(("birth_date_future", name))
        if any(c.required and not c.primary_key for c in self.columns):
            open_.append(("required_missing", ""))
        order = self.rng.permutation(len(restricted))
        return [restricted[i] for i in order] + [open_[i] for i in self.rng.permutation(len(open_))]

    def inject(self, frame: pd.DataFrame, share: float) -> tuple[pd.DataFrame, dict[str, int]]:
        n = len(frame)
        total = min(round(share * n), n // 2) if share > 0 else 0
        plan = self.plan()
        counts: dict[str, int] = {}
        used = np.zeros(n, dtype=bool)
        if total and plan:
            quotas = np.full(len(plan), total // len(plan))
            quotas[self.rng.choice(len(plan), total % len(plan), replace=False)] += 1
            carry, order = 0, self.rng.permutation(n)
            for (kind, name), quota in zip(plan, quotas, strict=True):
                want = int(quota) + carry
                eligible = ~used & (self._eligible(kind, frame[name]) if name else True)
                rows = order[eligible[order]][:want]
                carry = want - len(rows)
                if len(rows):
                    self._apply(frame, kind, name, rows)
                    used[rows] = True
                    counts[kind] = counts.get(kind, 0) + len(rows)
        if share > 0 and n >= 2:
            frame, duplicated = self._duplicate(frame, used)
            counts["duplicate_key"] = duplicated
        return frame, counts

    @staticmethod
    def _eligible(kind: str, values: pd.Series) -> np.ndarray:
        present = values.notna().to_numpy()
        if kind == "id_lowercase_x":
            return present & values.str.endswith("X").fillna(False).to_numpy(dtype=bool)
        if kind == "id_scientific_notation":
            return present & values.str.fullmatch(r"\d{18}").fillna(False).to_numpy(dtype=bool)
        if kind == "id_legacy_15_digit":  # 15-digit numbers were issued to people born in the 1900s
            return present & values.str.slice(6, 8).eq("19").fillna(False).to_numpy(dtype=bool)
        return present

    def _apply(self, frame: pd.DataFrame, kind: str, name: str, rows: np.ndarray) -> None:
        rng = self.rng
        if kind == "required_missing":
            required = [c.name for c in self.columns if c.required and not c.primary_key]
            for column, chunk in zip(required, np.array_split(rng.permutation(rows), len(required)), strict=True):
                frame.loc[chunk, column] = None
            return
        values = frame.loc[rows, name].to_numpy(dtype=object)
        if kind == "region_code_unknown":
            new = self.world.div.unknown_codes(rng, len(rows))
        elif kind == "birth_date_future":
            new = np.datetime_as_string(np.datetime64(self.world.day, "D") + rng.integers(1, 3650, len(rows)),
                                        unit="D")
        elif kind == "credit_code_bad_organization_code":
            first16 = pd.Series([v[:16] for v in values], dtype=_TEXT)
            wrong = [str(rng.choice([c for c in "0123456789X" if c != v[16]])) for v in values]
            first17 = first16 + pd.Series(wrong, dtype=_TEXT)
            new = (first17 + credit_code_check_character(first17).astype(_TEXT)).to_numpy(dtype=object)
        else:
            new = [_CHANGE[kind](str(value), rng) for value in values]
        frame.loc[rows, name] = list(new)

    def _duplicate(self, frame: pd.DataFrame, used: np.ndarray) -> tuple[pd.DataFrame, int]:
        """One or two clean rows exported twice (a resend appended to the night's file)."""
        clean = np.flatnonzero(~used)
        copies = self.rng.choice(clean, min(len(clean), 1 + int(self.rng.random() < 0.5)), replace=False)
        positions = np.sort(self.rng.integers(0, len(frame) + 1, len(copies)))
        index = np.insert(np.arange(len(frame)), positions, copies)
        return frame.iloc[index].reset_index(drop=True), len(copies)


def _wrong_id_check(value: str, rng: np.random.Generator) -> str:
    return value[:17] + _RIC_CHECK[(_RIC_CHECK.index(value[17]) + int(rng.integers(1, 11))) % 11]


def _wrong_credit_check(value: str, rng: np.random.Generator) -> str:
    return value[:17] + _USCC_ALPHABET[(_USCC_ALPHABET.index(value[17]) + int(rng.integers(1, 31))) % 31]


_CHANGE: dict[str, Callable[[str, np.random.Generator], str]] = {
    "id_bad_check_character": _wrong_id_check,
    "id_lowercase_x": lambda v, rng: v[:17] + "x",
    "id_full_width_digits": lambda v, rng: v.translate(_FULL_WIDTH),
    "id_surrounding_spaces": lambda v, rng: [f" {v}", f"{v} ", f"\t{v}", f" {v} "][rng.integers(4)],
    "id_scientific_notation": lambda v, rng: f"{float(v):.5E}",  # Excel's display: 3.30106E+17
    "id_legacy_15_digit": lambda v, rng: v[:6] + v[8:17],
    "id_17_characters": lambda v, rng: v[:17],
    "mobile_country_prefix": lambda v, rng: ["+86", "+86 ", "86"][rng.integers(3)] + v,
    "mobile_separators": lambda v, rng: (f"{v[:3]}-{v[3:7]}-{v[7:]}", f"{v[:3]} {v[3:7]} {v[7:]}")[rng.integers(2)],
    "gender_unknown_code": lambda v, rng: "3",
    "gender_id_mismatch": lambda v, rng: {"1": "2", "2": "1"}.get(v, "1"),
    "ethnicity_unknown_code": lambda v, rng: "99",
    "credit_code_bad_check_character": _wrong_credit_check,
}


# ------------------------------------------------------------------------------------- writers


def _write(frame: pd.DataFrame, dataset: Dataset, columns: list[ResolvedColumn], landing_root: Path,
           var_root: Path, day: date) -> list[Path]:
    source = dataset.source
    if source.kind == "sql":
        database = var_root / "departments" / f"{dataset.department}.db"
        match = re.search(r"\bFROM\s+([A-Za-z_][A-Za-z0-9_]*)", source.query or "", flags=re.IGNORECASE)
        _write_sqlite(frame, columns, database, match[1] if match else dataset.name)
        _register_connection(var_root / "secrets" / "connections.json", source.connection_id or dataset.name,
                             f"sqlite:///{database.resolve()}")
        return [database]
    folder = landing_root / dataset.department / dataset.name / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{dataset.name}_{day:%Y%m%d}"
    pattern = source.pattern
    if pattern.count("*") != 1 or any(c in pattern for c in "?[/"):
        pattern = "*.csv" if source.kind == "csv" else "*.xlsx"
    for stale in folder.glob(pattern.replace("*", f"{stem}*")):  # an earlier, larger run's extra parts
        stale.unlink()
    if source.kind == "csv":
        path = folder / pattern.replace("*", stem)
        encoding = {"utf-8": "utf-8", "gbk": "gbk", "auto": "utf-8-sig"}[source.encoding]
        with _atomic(path) as partial:
            frame.to_csv(partial, index=False, sep=source.delimiter, encoding=encoding,
                         lineterminator="\r\n" if source.encoding == "gbk" else "\n")
        return [path]
    sheet = source.sheet if isinstance(source.sheet, str) else "Sheet1"
    paths = []
    for part, start in enumerate(range(0, max(len(frame), 1), EXCEL_MAX_ROWS), start=1):
        path = folder / pattern.replace("*", stem if part == 1 else f"{stem}_{part}")
        with _atomic(path) as partial:
            _write_xlsx(frame.iloc[start:start + EXCEL_MAX_ROWS], columns, partial, sheet, day)
        paths.append(path)
    return paths


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Write to a hidden ``.part`` file beside ``path``, then rename it: a sensor never sees half a file."""
    partial = path.with_name(f".{path.name}.part")
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def _cell_values(frame: pd.DataFrame, columns: list[ResolvedColumn]) -> list[np.ndarray]:
    """Per column, values as a spreadsheet or database holds them: numbers as numbers, NA as None, and an
    ID that a spreadsheet turned into a number (the scientific-notation defect) as that number."""
    out = []
    for column in columns:
        values = frame[column.name].to_numpy(dtype=object, na_value=None)
        kind = column.element.type
        if kind in ("decimal", "integer"):
            cast = float if kind == "decimal" else int
            values = np.array([None if v is None else cast(v) for v in values], dtype=object)
        elif column.element.domain.validator == "resident_id":
            numeric = frame[column.name].str.fullmatch(r"\d\.\d+E\+\d+").fillna(False).to_numpy(dtype=bool)
            values[numeric] = [float(v) for v in values[numeric]]
        out.append(values)
    return out


def _write_xlsx(frame: pd.DataFrame, columns: list[ResolvedColumn], path: Path, sheet: str, day: date) -> None:
    workbook = Workbook(write_only=True)
    workbook.properties.created = workbook.properties.modified = pd.Timestamp(day).to_pydatetime()
    worksheet = workbook.create_sheet(title=sheet)
    worksheet.append([WriteOnlyCell(worksheet, value=column.name) for column in columns])
    for row in zip(*_cell_values(frame, columns), strict=True):
        worksheet.append(row)
    workbook.save(path)


def _write_sqlite(frame: pd.DataFrame, columns: list[ResolvedColumn], database: Path, table: str) -> None:
    database.parent.mkdir(parents=True, exist_ok=True)
    types = {"integer": "INTEGER", "decimal": "DECIMAL"}
    definitions = ", ".join(
        f'"{c.name}" ' + (f"DECIMAL({c.element.precision[0]},{c.element.precision[1]})"
                          if c.element.type == "decimal" and c.element.precision else types.get(c.element.type, "TEXT"))
        for c in columns)
    names = ", ".join(f'"{c.name}"' for c in columns)
    rows = list(zip(*_cell_values(frame, columns), strict=True))
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(f'DROP TABLE IF EXISTS "{table}"')
        connection.execute(f'CREATE TABLE "{table}" (record_no INTEGER PRIMARY KEY, {definitions})')
        connection.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})', rows)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()


def _register_connection(file: Path, connection_id: str, uri: str) -> None:
    """Add the connection to an Airflow ``LocalFilesystemBackend`` JSON file, keeping other entries."""
    entries: dict[str, object] = {}
    if file.exists() and file.read_text(encoding="utf-8").strip():
        entries = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(entries, dict):
            raise ValueError(f"{file} must hold a JSON object of connection id -> connection")
    entries[connection_id] = uri
    file.parent.mkdir(parents=True, exist_ok=True)
    with _atomic(file) as partial:
        partial.write_text(json.dumps(entries, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------- helpers


def _join(*parts: object) -> pd.Series:
    """Element-wise concatenation of text Series, arrays (text or numbers) and scalar strings."""
    out: pd.Series | None = None
    for part in parts:
        if isinstance(part, np.ndarray):
            part = pd.Series(part).astype(_TEXT)
        elif isinstance(part, pd.Series):
            part = part.reset_index(drop=True).astype(_TEXT)
        out = part if out is None else out + part
    assert isinstance(out, pd.Series), "at least one part must be a Series or an array"
    return out


def _lookup(codes: np.ndarray, mapping: dict[str, str]) -> pd.Series:
    unique, inverse = np.unique(codes, return_inverse=True)
    return pd.Series(np.array([mapping[code] for code in unique], dtype=object)[inverse], dtype=_TEXT)


def _days(values: pd.Series) -> np.ndarray:
    """A date column as numpy days (pandas keeps datetime64 columns in seconds)."""
    return values.to_numpy().astype("M8[D]")


def _ymd(days: np.ndarray) -> np.ndarray:
    years = days.astype("M8[Y]").astype(np.int64) + 1970
    months = days.astype("M8[M]").astype(np.int64) % 12 + 1
    return years * 10_000 + months * 100 + (days - days.astype("M8[M]")).astype(np.int64) + 1


def _mobiles(rng: np.random.Generator, n: int) -> pd.Series:
    numbers = rng.choice(_MOBILE_PREFIXES, n).astype(np.int64) * 10**8 + rng.integers(0, 10**8, n)
    return pd.Series(numbers.astype("U11"), dtype=_TEXT)


def _random_text(rng: np.random.Generator, n: int, width: int, alphabet: str) -> pd.Series:
    chars = np.array(list(alphabet))[rng.integers(0, len(alphabet), (n, width))]
    return pd.Series(np.ascontiguousarray(chars).view(f"U{width}").ravel(), dtype=_TEXT)


def _credit_codes(rng: np.random.Generator, prefix8: pd.Series, org8: pd.Series) -> pd.Series:
    """GB 32100 codes: positions 1-8, the GB 11714 organisation code with its check, the final check.

    Vectorised here because ``make_credit_code`` builds one code per call, too slow for a million. Codes
    are unique, and none reads as a valid resident ID (an all-digit 12... code could, by chance; the leak
    guard would then rightly block the unmasked credit-code column)."""
    org8 = org8.copy()
    while True:
        points = org8.to_numpy(dtype="U8").view(np.uint32).reshape(len(org8), 8).astype(np.int64)
        values = np.where(points < ord("A"), points - ord("0"), points - ord("A") + 10)
        first17 = prefix8 + org8 + pd.Series(_ORG_CHECK[values @ _ORG_WEIGHTS % 11], dtype=_TEXT)
        codes = first17 + credit_code_check_character(first17).astype(_TEXT)
        clash = codes.duplicated().to_numpy() | resident_id_reasons(codes).isna().to_numpy()
        if not clash.any():
            return codes
        org8[clash] = org8[clash].str.slice(0, 2) + _random_text(rng, int(clash.sum()), 6, "0123456789").to_numpy()


def _decimal(values: np.ndarray) -> pd.Series:
    return pd.Series(np.char.mod("%.2f", np.round(values, 2)), dtype=_TEXT)


def _updated_at(rng: np.random.Generator, n: int, day: date, cycle: str) -> pd.Series:
    """Times in the last few days (the update cycle's window) before midnight at the start of ``day``."""
    window = {"daily": 3, "weekly": 7, "monthly": 30}.get(cycle, 7) * 86_400
    moments = np.datetime64(day, "s") - rng.integers(1, window, n)
    return pd.Series(np.datetime_as_string(moments, unit="s"), dtype=_TEXT).str.replace("T", " ", regex=False)


def _gbk(value: str) -> bool:
    try:
        value.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True
