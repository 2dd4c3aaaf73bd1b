"""One function per masking rule (GB/T 37964 techniques), each working on a whole column at once.

Departments publish millions of rows, so rules are pandas string operations and numpy arithmetic on
Arrow-backed text. Keyed rules cannot be: HMAC and AES-GCM are per-value calls. Pseudonyms are computed
once per distinct value (``pd.factorize``) and mapped back; encryption runs once per non-null row in one
comprehension, because every ciphertext needs its own random nonce (encrypting distinct values once would
give equal plaintexts equal ciphertexts and leak which rows share a value). Nulls stay null everywhere.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from governance.columns import TEXT, as_text

# Two-character compound surnames (复姓): a name keeps its whole surname, 欧阳** rather than 欧***.
COMPOUND_SURNAMES = frozenset({"欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
                               "宇文", "司徒", "夏侯", "令狐"})
# Display-mask conventions by the element's validator, used when keep_first/keep_last are not given.
DEFAULT_KEEP = {"resident_id": (6, 4), "mobile": (3, 4), "credit_code": (8, 0)}
GENERIC_KEEP = (1, 1)
# County-level unit after an optional province and prefecture. Name parts exclude digits and the characters
# of street-level units, so a street, 小区 or house number never passes for a county: such addresses fall
# back to a short prefix, which hides more, never less.
_PROVINCE = "(?:[^省市区县旗0-9]{2,7}?(?:省|自治区|特别行政区)|(?:北京|天津|上海|重庆)市)"
_CITY = "(?:[^省市区县旗0-9]{1,9}?(?:市|自治州|地区|盟))"
_COUNTY = "[^省市区县旗0-9号路街巷弄村镇乡道小]{1,7}?(?:区|县|市|旗)"
DISTRICT = f"^(?P<county>{_PROVINCE}?{_CITY}?{_COUNTY})"
FALLBACK_CHARS = 6

def _mask(result: pd.Series) -> np.ndarray:
    return result.to_numpy(dtype=bool, na_value=False)


def none(values: pd.Series) -> pd.Series:
    """Publish as is (only the dtype is normalised to text)."""
    return as_text(values)


def partial(values: pd.Series, keep_first: int, keep_last: int, *, surname_aware: bool = False) -> pd.Series:
    """Keep ``keep_first``/``keep_last`` characters and star the rest, preserving the length.

    At least one character is always starred, so a value no longer than the visible ends is not published
    whole (the head wins over the tail). With ``surname_aware`` a name starting with a compound surname
    keeps one more leading character: 欧阳娜娜 -> 欧阳**.
    """
    s = as_text(values)
    length = s.str.len().to_numpy(dtype="int64", na_value=0)
    first = np.full(len(s), keep_first, dtype="int64")
    if surname_aware and keep_first >= 1:
        first += _mask(s.str.slice(0, 2).isin(COMPOUND_SURNAMES))
    head = np.minimum(first, np.maximum(length - 1, 0))
    tail = np.minimum(keep_last, np.maximum(length - head - 1, 0))
    stars = pd.Series(np.strings.multiply(np.array(["*"]), length - head - tail), index=s.index, dtype=TEXT)
    out = pd.Series(pd.NA, index=s.index, dtype=TEXT, name=s.name)
    present = s.notna().to_numpy()
    # Few distinct (head, tail) pairs exist (usually one or two), so slicing per pair stays vectorised.
    width = int(length.max(initial=0)) + 1
    for pair in np.unique(head[present] * width + tail[present]).tolist():
        h, t = divmod(pair, width)
        rows = present & (head == h) & (tail == t)
        ends = s[rows].str.slice(-t) if t else ""
        out[rows] = (s[rows].str.slice(0, h) + stars[rows] + ends).to_numpy()
    return out


def default_keep(validator: str | None) -> tuple[int, int]:
    """Display-mask ends for an element's validator: ID 6 + 4, mobile 3 + 4, otherwise first and last."""
    return DEFAULT_KEEP.get(validator or "", GENERIC_KEEP)


def generalize_date(values: pd.Series, to: Literal["year", "month"]) -> pd.Series:
    """``1990-05-17`` (or a datetime) -> ``1990`` / ``1990-05``. Unparseable values become null, never raw."""
    parts = _extract(as_text(values), "^(?P<year>[0-9]{4})-?(?P<month>[0-9]{2})")
    year = pc.struct_field(parts, "year")  # a non-matching value's struct is null, and so is its field
    text = year if to == "year" else pc.binary_join_element_wise(year, pc.struct_field(parts, "month"), "-")
    return pd.Series(pd.arrays.ArrowStringArray(text), index=values.index, name=values.name)


def _extract(values: pd.Series, pattern: str) -> pa.StructArray:
    """The named groups of ``pattern`` per value (null where it does not match), by Arrow's RE2 in C++:
    pandas runs ``str.extract`` value by value in Python. The patterns used here (anchored, no look-around,
    no back-references) match the same under RE2 as under ``re``; the masking tests hold them together."""
    return pc.extract_regex(pa.array(values.array, type=pa.string()), pattern)


def generalize_range(values: pd.Series, step: float) -> pd.Series:
    """Numbers to left-closed bands of width ``step``: 3500 with step 1000 -> ``3000-4000``; 4000 -> ``4000-5000``.

    The quotient is rounded to 9 decimals before flooring, so binary rounding (0.3 / 0.1 = 2.999...) cannot
    push a value on a boundary into the band below. Non-numeric values become null.
    """
    number = pd.to_numeric(as_text(values).astype(object), errors="coerce").to_numpy(dtype="float64")
    decimals = max(0, -int(Decimal(repr(float(step))).normalize().as_tuple().exponent))
    present = ~np.isnan(number)
    band = np.floor(np.round(number[present] / step, 9))
    # Bounds in units of 10**-decimals as integers, so formatting is integer-to-text, not per-value printf.
    unit = round(step * 10**decimals)
    low = (band * unit).astype("int64")
    text = pd.Series(_fixed(low, decimals) + "-" + _fixed(low + unit, decimals), dtype=TEXT)
    out = pd.Series(pd.NA, index=values.index, dtype=TEXT, name=values.name)
    out[present] = text.to_numpy()
    return out


def _fixed(units: np.ndarray, decimals: int) -> pd.Series:
    """Integers counted in 10**-decimals as fixed-point text: (12345, 2) -> ``123.45``, (-5, 1) -> ``-0.5``."""
    magnitude = np.abs(units)
    whole = pd.Series(magnitude // 10**decimals, dtype="int64").astype(TEXT)
    if decimals:
        fraction = pd.Series(magnitude % 10**decimals, dtype="int64").astype(TEXT).str.pad(decimals, fillchar="0")
        whole = whole + "." + fraction
    return pd.Series(np.where(units < 0, "-", ""), dtype=TEXT) + whole


def generalize_district(values: pd.Series) -> pd.Series:
    """An address down to its county-level unit: 浙江省杭州市西湖区文三路90号 -> 浙江省杭州市西湖区.

    Where no county-level unit is recognised, the first six characters and ``…`` are kept (roughly a
    province and city), but never more than half of a short value, since publishing too little is the
    safe failure.
    """
    s = as_text(values)
    county = pc.struct_field(_extract(s, DISTRICT), "county")
    out = pd.Series(pd.arrays.ArrowStringArray(county), index=s.index, name=s.name)
    unmatched = s.notna().to_numpy() & out.isna().to_numpy()
    keep = np.minimum(FALLBACK_CHARS, s.str.len().to_numpy(dtype="int64", na_value=0) // 2)
    for n in np.unique(keep[unmatched]):  # at most FALLBACK_CHARS + 1 distinct prefix lengths
        rows = unmatched & (keep == n)
        out[rows] = (s[rows].str.slice(0, int(n)) + "…").to_numpy()
    return out


def generalize_division(values: pd.Series) -> pd.Series:
    """A 6-digit GB/T 2260 county code to its prefecture: ``330106`` -> ``330100``; other values to null."""
    s = as_text(values)
    return (s.str.slice(0, 4) + "00").where(_mask(s.str.fullmatch("[0-9]{6}")), pd.NA).astype(TEXT)
