"""Each department's rows, cut from the shared world and laid out as its standard's columns.

A person in the allowance roll is a resident with the same ID and name, an employer in the insurance
workbook is a registered enterprise, a taxpayer is an enterprise. Builders produce a frame keyed by data
element; ``dataset_frame`` then names the columns after the standard and fills any element the builder
did not supply, so a renamed or added column still gets plausible values.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pandas as pd

from governance.standards.catalogue import ResolvedColumn
from governance.standards.models import Dataset
from governance_demo.names import write_dots
from governance_demo.world import TEXT, World, active_companies, decimal_text, join_text, mobile_numbers, to_days

_REMARKS = ["家庭人均收入低于当地低保标准", "因病致贫, 已入户核查", "年度复核通过", "重度残疾, 单独施保",
            "独居老人, 社区定期走访", "子女在读, 按标准补差", "临时救助: 突发火灾", "动态管理, 季度复核"]

Builder = Callable[[World, Dataset, np.random.Generator, np.random.Generator], tuple[pd.DataFrame, dict[str, int]]]


def dataset_frame(world: World, dataset: Dataset, columns: list[ResolvedColumn], stable: np.random.Generator,
                  daily: np.random.Generator) -> tuple[pd.DataFrame, dict[str, int]]:
    """The dataset's rows as its standard's columns, in order, plus the leak counts (kind -> rows).

    ``stable`` draws what a department's register keeps from night to night (who is in it, amounts);
    ``daily`` what a night's export changes (``updated_at``, remarks)."""
    elements, leaks = _BUILDERS.get(dataset.key, _generic)(world, dataset, stable, daily)
    frame = _project(world, dataset, columns, elements, daily)
    for column in columns:  # each department writes the minority names' separator dot its own way
        if column.element.domain.validator == "person_name":
            frame[column.name] = write_dots(frame[column.name], dataset.key)
    return frame, leaks


def _whole(register: str) -> Builder:
    """A dataset that is one of the world's own registers, exported in full."""

    def build(world: World, dataset: Dataset, stable: np.random.Generator,
              daily: np.random.Generator) -> tuple[pd.DataFrame, dict[str, int]]:
        return getattr(world, register), {}

    return build


def _taxpayer_credit_rating(world: World, dataset: Dataset, stable: np.random.Generator,
                            daily: np.random.Generator) -> tuple[pd.DataFrame, dict[str, int]]:
    """Half the enterprises, active companies first; the yearly rating is published in April."""
    ent, day = world.enterprises, world.day
    year = day.year if day >= date(day.year, 5, 1) else day.year - 1
    rated = to_days(ent["_established"]) < np.datetime64(f"{year}-01-01")  # the year evaluated is year - 1
    active = active_companies(ent)
    pool = np.concatenate([stable.permutation(np.flatnonzero(rated & active)),
                           stable.permutation(np.flatnonzero(rated & ~active))])
    frame = ent.iloc[np.sort(pool[: max(5, len(ent) // 2)])].reset_index(drop=True)
    n = len(frame)
    published = np.datetime64(f"{year}-04-01") + stable.integers(0, 28, n)
    corrected = np.datetime64(f"{year}-05-01") + (stable.random(n) * max(1, (np.datetime64(day, "D") - np.datetime64(
        f"{year}-05-01")).astype(int))).astype(int)
    evaluated = np.where(stable.random(n) < 0.9, published, np.minimum(corrected, np.datetime64(day, "D") - 1))
    rating = world.pick("tax_credit_rating", stable, n, {"A": 0.12, "B": 0.55, "M": 0.18, "C": 0.10, "D": 0.05})
    new = to_days(frame["_established"]) >= np.datetime64(f"{year - 1}-01-01")
    frame["tax_credit_rating"] = np.where(new & np.isin("M", world.codes("tax_credit_rating")), "M", rating)
    frame["event_date"] = np.datetime_as_string(evaluated.astype("M8[D]"), unit="D")
    return frame, {}


def _social_insurance_enrollment(world: World, dataset: Dataset, stable: np.random.Generator,
                                 daily: np.random.Generator) -> tuple[pd.DataFrame, dict[str, int]]:
    """Insured adults with one or two insurance types each (about rows / 2 rows in all)."""
    people, day = world.people, np.datetime64(world.day, "D")
    target = max(10, world.rows // 2)
    adults = np.flatnonzero(to_days(people["_birth"]) <= day - 19 * 366)
    who = np.union1d(stable.choice(adults, min(len(adults), -(-target * 2 // 3)), replace=False), world.special)
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
    base_text = decimal_text(base).to_numpy(dtype=object)
    base_text[category == "resident"] = None  # residents' schemes have yearly grades, not a monthly base
    earliest = np.maximum(to_days(people["_birth"])[who] + 18 * 366, np.datetime64("1995-01-01"))
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
    }).astype(TEXT), {}


def _subsistence_allowance(world: World, dataset: Dataset, stable: np.random.Generator,
                           daily: np.random.Generator) -> tuple[pd.DataFrame, dict[str, int]]:
    """About one resident in twenty; a few remarks quote a phone number or a proxy's ID (leak guard case)."""
    people, day = world.people, np.datetime64(world.day, "D")
    who = np.union1d(stable.choice(len(people), max(5, world.rows // 20), replace=False), world.special)
    n = len(who)
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
        "benefit_amount": decimal_text(stable.uniform(low, high)),
        "event_date": np.datetime_as_string(day - stable.integers(30, 6 * 365, n), unit="D"),
        "remarks": remarks,
    }).astype(TEXT), leaks


def _generic(world: World, dataset: Dataset, stable: np.random.Generator,
             daily: np.random.Generator) -> tuple[pd.DataFrame, dict[str, int]]:
    """A dataset this module has no builder for: a sample of people or of enterprises."""
    keys = {column.element for column in dataset.columns}
    base = world.people if "resident_id_number" in keys or "credit_code" not in keys else world.enterprises
    n = min(len(base), max(10, world.rows // 10))
    return base.iloc[np.sort(stable.choice(len(base), n, replace=False))].reset_index(drop=True), {}


_BUILDERS: dict[str, Builder] = {
    "public_security/resident_population": _whole("people"),
    "market_regulation/enterprise_registration": _whole("enterprises"),
    "human_resources/social_insurance_enrollment": _social_insurance_enrollment,
    "civil_affairs/subsistence_allowance": _subsistence_allowance,
    "health/medical_institution": _whole("institutions"),
    "taxation/taxpayer_credit_rating": _taxpayer_credit_rating,
}


def _project(world: World, dataset: Dataset, columns: list[ResolvedColumn], elements: pd.DataFrame,
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
    return pd.DataFrame(out).astype(TEXT)


def _fill(world: World, column: ResolvedColumn, rng: np.random.Generator, n: int) -> np.ndarray:
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
        return mobile_numbers(rng, n).to_numpy(dtype=object)
    if element.type == "date":
        return np.datetime_as_string(np.datetime64(world.day, "D") - rng.integers(1, 5 * 365, n), unit="D")
    if element.type == "decimal":
        return decimal_text(rng.lognormal(7, 1, n)).to_numpy(dtype=object)
    if element.type == "integer":
        return rng.integers(0, 1000, n).astype(str)
    if element.free_text and not column.required:
        return np.full(n, None)
    labels = join_text(element.name_zh, pd.Series(np.arange(1, n + 1)).astype(TEXT).str.zfill(6))
    return labels.str.slice(0, element.max_length).to_numpy(dtype=object)


def _updated_at(rng: np.random.Generator, n: int, day: date, cycle: str) -> pd.Series:
    """Times in the update cycle's window up to the end of ``day``: the drop for a day is that day's nightly
    export, so its newest records are from that day (what the data freshness clock reads)."""
    window = {"daily": 3, "weekly": 7, "monthly": 30}.get(cycle, 7) * 86_400
    moments = np.datetime64(day + timedelta(days=1), "s") - rng.integers(1, window, n)
    return pd.Series(np.datetime_as_string(moments, unit="s"), dtype=TEXT).str.replace("T", " ", regex=False)
