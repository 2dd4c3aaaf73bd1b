"""Vectorised validity rules for Chinese identifiers: resident ID, unified social credit code, mobile number.

Departments send files of millions of rows, so every rule works on a whole column at once (Arrow-backed
pandas string ops plus numpy arithmetic on arrays of character codes for the check characters).
python-stdnum implements the same checks per value at about 100 µs each: it is the oracle in the tests,
far too slow for production. Each ``*_reasons`` function returns a string Series aligned with its input:
NA where the value is valid or null (nulls are the not-null rule's business), else a snake_case reason.
"""

from __future__ import annotations

import datetime
import re

import numpy as np
import pandas as pd
import pyarrow as pa

_STRING = pd.StringDtype("pyarrow")
_WHITESPACE = "[\\s\u00a0\u3000]"  # literal NBSP / ideographic space: Arrow's RE2 \s is ASCII-only

# GB 11643-1999: ISO 7064 MOD 11-2 weights and the check character for S mod 11 = 0..10.
_RIC_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_RIC_CHECK = np.array(list("10X98765432"))
# Province-level codes, plus 83 for Taiwan residence permits (81/82 serve Hong Kong/Macao and their permits).
_PROVINCES = np.r_[11:16, 21:24, 31:38, 41:47, 50:55, 61:66, 71, 81, 82, 83]

# GB 32100-2015: 31-symbol alphabet, weights 3^(i-1) mod 31.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)])
_USCC_CHARS = np.array(list(_USCC_ALPHABET))
_USCC_VALUE = np.full(128, -1)
_USCC_VALUE[[ord(c) for c in _USCC_ALPHABET]] = np.arange(31)
# Positions 3-8 of a credit code are the GB/T 2260 division code: digits only.
_USCC_REGION = slice(2, 8)
# GB 11714: digits keep their value, letters A=10 .. Z=35; check character for (sum mod 11) = 0..10.
_ORG_VALUE = np.full(128, -1)
_ORG_VALUE[[ord(c) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"]] = np.arange(36)
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2])
_ORG_CHECK = np.array(list("0X987654321"))


def _as_string(values: pd.Series) -> pd.Series:
    return values.astype(_STRING)


def _mask(result: pd.Series) -> np.ndarray:
    """A boolean string-op result as a numpy mask, NA (null input) counting as False."""
    return result.to_numpy(dtype=bool, na_value=False)


def _codes(values: pd.Series, width: int) -> np.ndarray:
    """Unicode code points of strings of exactly ``width`` characters, shape (len(values), width).

    The callers pass values already matched against an ASCII pattern, so the Arrow data buffer is read as
    is: ``width`` bytes a value, back to back. Anything else (a non-ASCII character) takes the general path.
    """
    array = pa.array(values.array, type=pa.string()) if len(values) else None
    if isinstance(array, pa.ChunkedArray):  # pandas keeps Arrow-backed text as chunks
        array = array.combine_chunks()
    if array is not None and array.null_count == 0:
        offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset:array.offset + len(array) + 1]
        if offsets[-1] - offsets[0] == width * len(array):
            data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
            return data.reshape(len(array), width).astype(np.int64)
    return values.to_numpy(dtype=f"U{width}").view(np.uint32).reshape(len(values), width).astype(np.int64)


def _first_reason(index: pd.Index, checks: list[tuple[str, np.ndarray]]) -> pd.Series:
    """For each row, the first reason (in priority order) whose mask is set; NA where none is."""
    out = np.full(len(index), None, dtype=object)
    for reason, mask in reversed(checks):
        out[mask] = reason
    return pd.Series(out, index=index, dtype="string")


def _ric_check(digits: np.ndarray) -> np.ndarray:
    """Check characters for an (n, 17) array of digit values."""
    return _RIC_CHECK[digits @ _RIC_WEIGHTS % 11]


def _number(digits: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The decimal number formed by digit columns ``start:stop``."""
    return digits[:, start:stop] @ 10 ** np.arange(stop - start - 1, -1, -1)


def _birth_dates(digits: np.ndarray) -> np.ndarray:
    """Birth dates (datetime64[D]) from digit positions 7-14; NaT unless a real calendar date.

    GB 11643 sets no earliest year (its own worked example, 440524188001010014, was born in 1880), so any
    date from year 1 on counts, as it does for python-stdnum; the future is the caller's separate rule.
    """
    year, month, day = _number(digits, 6, 10), _number(digits, 10, 12), _number(digits, 12, 14)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 1, 12) - 1]
    day_ok = (day >= 1) & (day <= month_days + (month == 2) * leap)
    real = (year >= 1) & (month >= 1) & (month <= 12) & day_ok
    month, day = np.where(real, month, 1), np.where(real, day, 1)
    dates = (year - 1970).astype("M8[Y]") + (month - 1).astype("m8[M]") + (day - 1).astype("m8[D]")
    return np.where(real, dates, np.datetime64("NaT", "D"))


def _ric_fields(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose fields are derivable (18-character form, or legacy 15-digit read as 19YYMMDD) and, for
    those rows, the first 17 digits of the 18-character form as an int array."""
    modern = _mask(s.str.fullmatch("[0-9]{17}[0-9Xx]"))
    legacy = _mask(s.str.fullmatch("[0-9]{15}"))
    derivable = modern | legacy
    first17 = s[derivable].str.slice(0, 17)
    if legacy.any():  # rare: only those rows are rebuilt
        old = legacy[derivable]
        first17[old] = (first17[old].str.slice(0, 6) + "19" + first17[old].str.slice(6)).to_numpy()
    return derivable, _codes(first17, 17) - ord("0")


def resident_id_check_character(first17: pd.Series) -> pd.Series:
    """GB 11643 check character for each 17-digit string; NA where the input is not 17 digits."""
    s = _as_string(first17)
    ok = _mask(s.str.fullmatch("[0-9]{17}"))
    out = np.full(len(s), None, dtype=object)
    out[ok] = _ric_check(_codes(s[ok], 17) - ord("0"))
    return pd.Series(out, index=first17.index, dtype="string")


def resident_id_reasons(values: pd.Series, today: datetime.date | None = None) -> pd.Series:
    """Reason each resident identity number (GB 11643-1999) is invalid, NA where valid or null."""
    s = _as_string(values)
    n = len(s)
    derivable, digits = _ric_fields(s)
    well = _mask(s.str.fullmatch("[0-9]{17}[0-9Xx]"))  # a subset of ``derivable``
    region_ok, check_ok = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    birth = np.full(n, np.datetime64("NaT"), dtype="M8[D]")
    region_ok[derivable] = np.isin(digits[:, 0] * 10 + digits[:, 1], _PROVINCES)
    birth[derivable] = _birth_dates(digits)
    check_ok[derivable] = _ric_check(digits) == s[derivable].str.slice(17).str.upper().to_numpy(dtype=str)
    lengths = s.str.len()
    return _first_reason(
        values.index,
        [
            ("whitespace", _mask(s.str.contains(_WHITESPACE))),
            ("full_width_digits", _mask(s.str.contains("[０-９Ｘｘ]"))),
            ("scientific_notation", _mask(s.str.fullmatch("[0-9]([.,][0-9]+)?[eE][+]?[0-9]+"))),
            ("legacy_15_digit", derivable & ~well),
            ("bad_length", _mask(lengths != 18)),
            ("bad_characters", _mask(lengths == 18) & ~well),
            ("bad_region_code", well & ~region_ok),
            ("bad_birth_date", well & np.isnat(birth)),
            ("future_birth_date", well & (birth > np.datetime64(today or datetime.date.today(), "D"))),
            ("bad_check_character", well & ~check_ok),
            ("lowercase_check_character", _mask(s.str.endswith("x"))),
        ],
    )


def birth_date_from_resident_id(values: pd.Series) -> pd.Series:
    """Birth date encoded in each ID (legacy 15-digit IDs read as 19YYMMDD); NaT where not derivable."""
    derivable, digits = _ric_fields(_as_string(values))
    out = np.full(len(values), np.datetime64("NaT"), dtype="M8[s]")
    out[derivable] = _birth_dates(digits)
    return pd.Series(out, index=values.index)


def gender_from_resident_id(values: pd.Series) -> pd.Series:
    """GB/T 2261.1 gender from the sequence parity: '1' odd (male), '2' even (female); NA if not derivable."""
    derivable, digits = _ric_fields(_as_string(values))
    out = np.full(len(values), None, dtype=object)
    out[derivable] = np.where(digits[:, 16] % 2 == 1, "1", "2")
    return pd.Series(out, index=values.index, dtype="string")


def _uscc_check(codes: np.ndarray) -> np.ndarray:
    """GB 32100 check characters for an (n, 17) array of code points from the USCC alphabet."""
    return _USCC_CHARS[(31 - _USCC_VALUE[codes] @ _USCC_WEIGHTS % 31) % 31]


def _org_check(codes: np.ndarray) -> np.ndarray:
    """GB 11714 check characters for an (n, 8) array of code points of digits / capital letters."""
    return _ORG_CHECK[_ORG_VALUE[codes] @ _ORG_WEIGHTS % 11]


def credit_code_check_character(first17: pd.Series) -> pd.Series:
    """GB 32100 check character for each 17-character string; NA where not 17 alphabet characters."""
    s = _as_string(first17)
    ok = _mask(s.str.fullmatch(f"[{_USCC_ALPHABET}]{{17}}"))
    out = np.full(len(s), None, dtype=object)
    out[ok] = _uscc_check(_codes(s[ok], 17))
    return pd.Series(out, index=first17.index, dtype="string")


def make_credit_code(prefix8: str, org8: str) -> str:
    """A valid credit code from positions 1-8 and the organisation-code stem (for data generators)."""
    if not re.fullmatch("[0-9A-Z]{8}", org8):
        raise ValueError(f"organisation code stem must be 8 digits / capital letters: {org8!r}")
    first17 = prefix8 + org8 + _org_check(np.array([[ord(c) for c in org8]]))[0]
    check = credit_code_check_character(pd.Series([first17])).iloc[0]
    if pd.isna(check):
        raise ValueError(f"not 17 characters of the credit-code alphabet: {first17!r}")
    return first17 + check


def credit_code_reasons(values: pd.Series) -> pd.Series:
    """Reason each unified social credit code (GB 32100-2015) is invalid, NA where valid or null."""
    s = _as_string(values)
    well = _mask(s.str.fullmatch(f"[{_USCC_ALPHABET}]{{18}}"))
    codes = _codes(s[well], 18)
    check_ok, org_ok = np.zeros(len(s), dtype=bool), np.zeros(len(s), dtype=bool)
    chars = codes.astype(np.uint32).view("U1")
    check_ok[well] = _uscc_check(codes[:, :17]) == chars[:, 17]
    org_ok[well] = _org_check(codes[:, 8:16]) == chars[:, 16]
    region_ok = np.zeros(len(s), dtype=bool)
    region_ok[well] = ((codes[:, _USCC_REGION] >= ord("0")) & (codes[:, _USCC_REGION] <= ord("9"))).all(axis=1)
    lengths = s.str.len()
    return _first_reason(
        values.index,
        [
            ("whitespace", _mask(s.str.contains(_WHITESPACE))),
            ("bad_length", _mask(lengths != 18)),
            ("bad_characters", _mask(lengths == 18) & ~well),
            ("bad_region_code", well & ~region_ok),
            ("bad_check_character", well & ~check_ok),
            ("bad_organization_code", well & ~org_ok),
        ],
    )


def mobile_reasons(values: pd.Series) -> pd.Series:
    """Reason each mainland mobile number is not ``^1[3-9]\\d{9}$``, NA where it is or is null."""
    s = _as_string(values)
    bare = s.str.replace(r"[\s\-]", "", regex=True)
    return _first_reason(
        values.index,
        [
            ("whitespace", _mask(s != s.str.strip())),
            ("has_country_prefix", _mask(bare.str.fullmatch(r"(\+|00)?861[3-9][0-9]{9}"))),
            ("has_separators", _mask(bare.str.fullmatch("1[3-9][0-9]{9}")) & _mask(bare != s)),
            ("bad_format", ~_mask(s.str.fullmatch("1[3-9][0-9]{9}")) & s.notna().to_numpy()),
        ],
    )
