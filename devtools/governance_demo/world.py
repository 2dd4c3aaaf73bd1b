"""The synthetic province every department's demo drop is cut from: residents, enterprises, institutions.

Residents carry GB 11643 IDs, market entities GB 32100 credit codes, public and private medical
institutions either; a private hospital is also a registered enterprise, a legal representative is a
resident. The world depends on ``seed`` and ``rows`` only, so successive nights share it.

Generation is vectorised (numpy, Arrow strings): Faker fills pools of a few thousand names and streets
that rows draw from, which keeps 5 million residents to a few minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cache

import numpy as np
import pandas as pd
from faker import Faker

from governance.identifiers import (
    credit_code_check_character,
    resident_id_check_character,
    resident_id_reasons,
)
from governance.standards.catalogue import Catalogue
from governance_demo.names import SPECIAL_NAMES, name_people, special_people

TEXT = "str"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2])  # GB 11714, as in domain.md
_ORG_CHECK = np.array(list("0X987654321"))  # check character for (weighted sum mod 11) = 0..10
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


@cache
def _pools(seed: int) -> _Pools:
    """Faker's pools for ``seed``, built once per process: a history writes many nights from one seed, and the
    pools (read-only arrays the rows draw from) are most of the cost of building a world."""
    return _Pools.build(seed)


@dataclass(frozen=True)
class World:
    """One seed's province, and the catalogue whose code tables its values come from."""

    catalogue: Catalogue
    day: date
    rows: int
    div: _Divisions
    people: pd.DataFrame  # columns named by element key, plus _birth (datetime64[D])
    enterprises: pd.DataFrame  # plus _kind (91/92/93), _established (datetime64[D])
    institutions: pd.DataFrame  # plus _public (bool)
    special: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))  # people with ``names``

    @classmethod
    def build(cls, catalogue: Catalogue, rows: int, seed: int, day: date, province: str) -> World:
        rng = np.random.default_rng([seed, 11643])
        div, pools = _Divisions.from_catalogue(catalogue, province), _pools(seed)
        people = _people(rows, rng, div, pools)
        special = special_people(to_days(people["_birth"]), np.datetime64(day, "D"), len(SPECIAL_NAMES))
        people["person_name"] = name_people(people["person_name"], special)
        enterprises = _enterprises(max(10, rows // 4), rng, div, pools, people, day, catalogue, special)
        institutions, enterprises = _institutions(max(30, rows // 200), rng, div, pools, enterprises)
        return cls(catalogue, day, rows, div, people, enterprises, institutions, special)

    def codes(self, table: str) -> list[str]:
        code_table = self.catalogue.code_tables[table]
        return [code for code in code_table.codes if code not in code_table.retired]

    def pick(self, table: str, rng: np.random.Generator, n: int, weights: dict[str, float]) -> np.ndarray:
        """Codes of ``table`` drawn with the given weights (codes not weighted share a small remainder)."""
        codes = self.codes(table)
        w = np.array([weights.get(code, 0.0) for code in codes])
        w = w + (1 - w.sum()) / len(codes) if w.sum() < 1 else w
        return rng.choice(np.array(codes), n, p=np.clip(w, 0, None) / np.clip(w, 0, None).sum())


def active_companies(enterprises: pd.DataFrame) -> np.ndarray:
    """Mask of companies (credit code 91...) still trading (status 存续 or 在业): the ones that get a tax
    rating first and that can be the enterprise behind a private hospital."""
    return (enterprises["_kind"] == "91").to_numpy() & enterprises["enterprise_status"].isin(["1", "2"]).to_numpy()


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
    first17_text = pd.Series(first17.astype("U17"), dtype=TEXT)
    mobile = mobile_numbers(rng, n)
    apartment = join_text(rng.integers(1, 30, n), "幢", rng.integers(1, 6, n), "单元",
                          rng.integers(1, 33, n) * 100 + rng.integers(1, 5, n), "室")
    return pd.DataFrame({
        "resident_id_number": first17_text + resident_id_check_character(first17_text).astype(TEXT),
        "person_name": np.where(male, rng.choice(pools.male, n), rng.choice(pools.female, n)),
        "gender": np.where(male, "1", "2"),
        "birth_date": np.datetime_as_string(birth, unit="D"),
        "ethnicity": rng.choice(np.array(list(_ETHNICITY)), n, p=np.array(list(_ETHNICITY.values())) /
                                sum(_ETHNICITY.values())),
        "division_code": residence,
        "address": join_text(_street_address(rng, div, pools, residence, 400),
                             apartment.where(rng.random(n) < 0.7, "")),
        "mobile_number": mobile.where(rng.random(n) < 0.88),
        "_birth": birth,
    }).astype({"person_name": TEXT, "gender": TEXT, "birth_date": TEXT, "ethnicity": TEXT,
               "division_code": TEXT})


def _enterprises(n: int, rng: np.random.Generator, div: _Divisions, pools: _Pools, people: pd.DataFrame,
                 day: date, catalogue: Catalogue, special: np.ndarray) -> pd.DataFrame:
    kind = rng.choice(np.array(["91", "92", "93"]), n, p=[0.72, 0.24, 0.04])
    region = rng.choice(div.home, n)
    adults = np.flatnonzero(to_days(people["_birth"]) <= np.datetime64(day, "D") - 20 * 365)
    rep = rng.choice(adults, n, replace=n > len(adults) // 2)
    rep[: min(len(special), n // 2)] = special[: n // 2]  # rare-character and minority names among the representatives
    earliest = np.maximum(np.datetime64("1995-01-01"), to_days(people["_birth"])[rep] + 18 * 366)
    established = np.maximum(np.datetime64(day, "D") - 1 - rng.exponential(2500, n).astype(int), earliest)
    city, county = _lookup(region, div.city), _lookup(region, div.county)
    brand = pd.Series(rng.choice(pools.brands, n), dtype=TEXT)
    names = np.where(kind == "91", join_text(city.str.removesuffix("市"), brand, rng.choice(pools.industries, n)),
                     np.where(kind == "92", join_text(county, rng.choice(pools.surnames, n), "记",
                                                      rng.choice(_SHOPS, n)),
                              join_text(county, brand, rng.choice(_CROPS, n), "专业合作社")))
    capital = np.select([kind == "91", kind == "92"],
                        [rng.lognormal(np.log(200), 1.3, n).clip(3, 100_000), rng.lognormal(np.log(5), 0.8, n)],
                        rng.lognormal(np.log(50), 1.0, n).clip(1, 5000))
    status_table = catalogue.code_tables["enterprise_status"]
    codes = list(status_table.codes)
    weights = np.array([{"1": 0.70, "2": 0.15, "3": 0.05, "4": 0.08, "5": 0.02}.get(c, 0.01) for c in codes])
    modern = established >= np.datetime64("2015-10-01")  # organisation codes MA....... since the reform
    org = pd.Series(np.where(modern, join_text("MA", _random_text(rng, n, 6, USCC_ALPHABET)),
                             _random_text(rng, n, 8, "0123456789")), dtype=TEXT)
    return pd.DataFrame({
        "credit_code": _credit_codes(rng, join_text("9", pd.Series(kind, dtype=TEXT).str.slice(1), region), org),
        "organization_name": pd.Series(names, dtype=TEXT),
        "person_name": people["person_name"].to_numpy()[rep],
        "resident_id_number": people["resident_id_number"].to_numpy()[rep],
        "registered_capital": decimal_text(capital),
        "event_date": np.datetime_as_string(established, unit="D"),
        "division_code": region,
        "business_address": _street_address(rng, div, pools, region, 900),
        "enterprise_status": rng.choice(np.array(codes), n, p=weights / weights.sum()),
        "_kind": kind,
        "_established": established,
    }).astype({"person_name": TEXT, "resident_id_number": TEXT, "event_date": TEXT, "division_code": TEXT,
               "enterprise_status": TEXT})


def _institutions(n: int, rng: np.random.Generator, div: _Divisions, pools: _Pools,
                  enterprises: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Public hospitals and health centres (事业单位, codes 12...) plus private ones that are enterprises:
    a private hospital's enterprise is renamed ``<name>有限公司`` in the market register."""
    active = np.flatnonzero(active_companies(enterprises))
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
    public_codes = _credit_codes(rng, join_text("12", region),
                                 join_text("4", _random_text(rng, n_public, 7, "0123456789")))

    kinds = rng.integers(0, len(_PRIVATE_MEDICAL), len(private))
    brand = rng.choice(pools.brands, len(private))
    city = _lookup(enterprises["division_code"].to_numpy()[private], div.city).str.removesuffix("市")
    practice = join_text(city, brand, np.array([_PRIVATE_MEDICAL[k][0] for k in kinds]))
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
        "business_address": np.concatenate([_street_address(rng, div, pools, region, 600).to_numpy(dtype=object),
                                            enterprises["business_address"].to_numpy(dtype=object)[private]]),
        "_public": np.arange(n) < n_public,
    })
    order = rng.permutation(n)
    return frame.iloc[order].reset_index(drop=True).astype({c: TEXT for c in frame.columns if c != "_public"}), \
        enterprises


def _street_address(rng: np.random.Generator, div: _Divisions, pools: _Pools, region: np.ndarray,
                    highest: int) -> pd.Series:
    """``<province><city><county><street><number>号`` for each county code, house numbers below ``highest``."""
    return join_text(_lookup(region, div.place), rng.choice(pools.streets, len(region)),
                     rng.integers(1, highest, len(region)), "号")


def _credit_codes(rng: np.random.Generator, prefix8: pd.Series, org8: pd.Series) -> pd.Series:
    """GB 32100 codes: positions 1-8, the GB 11714 organisation code with its check, the final check.

    Vectorised here because ``make_credit_code`` builds one code per call, too slow for a million. Codes
    are unique, and none reads as a valid resident ID (an all-digit 12... code could, by chance; the leak
    guard would then rightly block the unmasked credit-code column)."""
    org8 = org8.copy()
    while True:
        points = org8.to_numpy(dtype="U8").view(np.uint32).reshape(len(org8), 8).astype(np.int64)
        values = np.where(points < ord("A"), points - ord("0"), points - ord("A") + 10)
        first17 = prefix8 + org8 + pd.Series(_ORG_CHECK[values @ _ORG_WEIGHTS % 11], dtype=TEXT)
        codes = first17 + credit_code_check_character(first17).astype(TEXT)
        clash = codes.duplicated().to_numpy() | resident_id_reasons(codes).isna().to_numpy()
        if not clash.any():
            return codes
        org8[clash] = org8[clash].str.slice(0, 2) + _random_text(rng, int(clash.sum()), 6, "0123456789").to_numpy()


# -------------------------------------------------------------------------- vectorised values


def join_text(*parts: object) -> pd.Series:
    """Element-wise concatenation of text Series, arrays (text or numbers) and scalar strings."""
    out: pd.Series | None = None
    for part in parts:
        if isinstance(part, np.ndarray):
            part = pd.Series(part).astype(TEXT)
        elif isinstance(part, pd.Series):
            part = part.reset_index(drop=True).astype(TEXT)
        out = part if out is None else out + part
    assert isinstance(out, pd.Series), "at least one part must be a Series or an array"
    return out


def to_days(values: pd.Series) -> np.ndarray:
    """A date column as numpy days (pandas keeps datetime64 columns in seconds)."""
    return values.to_numpy().astype("M8[D]")


def mobile_numbers(rng: np.random.Generator, n: int) -> pd.Series:
    numbers = rng.choice(_MOBILE_PREFIXES, n).astype(np.int64) * 10**8 + rng.integers(0, 10**8, n)
    return pd.Series(numbers.astype("U11"), dtype=TEXT)


def decimal_text(values: np.ndarray) -> pd.Series:
    return pd.Series(np.char.mod("%.2f", np.round(values, 2)), dtype=TEXT)


def _lookup(codes: np.ndarray, mapping: dict[str, str]) -> pd.Series:
    unique, inverse = np.unique(codes, return_inverse=True)
    return pd.Series(np.array([mapping[code] for code in unique], dtype=object)[inverse], dtype=TEXT)


def _ymd(days: np.ndarray) -> np.ndarray:
    years = days.astype("M8[Y]").astype(np.int64) + 1970
    months = days.astype("M8[M]").astype(np.int64) % 12 + 1
    return years * 10_000 + months * 100 + (days - days.astype("M8[M]")).astype(np.int64) + 1


def _random_text(rng: np.random.Generator, n: int, width: int, alphabet: str) -> pd.Series:
    chars = np.array(list(alphabet))[rng.integers(0, len(alphabet), (n, width))]
    return pd.Series(np.ascontiguousarray(chars).view(f"U{width}").ravel(), dtype=TEXT)


def _gbk(value: str) -> bool:
    try:
        value.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True
