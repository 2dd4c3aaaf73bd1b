"""Vectorised identifier rules checked against independent oracles: python-stdnum, Faker and a
per-value pure-Python reference written from domain.md."""

import datetime
import random
import re

import numpy as np
import pandas as pd
import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import exceptions as stdnum_exceptions
from stdnum.cn import ric, uscc
from stdnum.iso7064 import mod_11_2

from governance.identifiers import (
    birth_date_from_resident_id,
    credit_code_check_character,
    credit_code_reasons,
    gender_from_resident_id,
    make_credit_code,
    mobile_reasons,
    resident_id_check_character,
    resident_id_reasons,
)

TODAY = datetime.date(2025, 6, 1)
PROVINCES = [11, 12, 13, 14, 15, 21, 22, 23, *range(31, 38), *range(41, 47), *range(50, 55), *range(61, 66)]
PROVINCES += [71, 81, 82, 83]
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


# ---------------------------------------------------------------- per-value references (independent)


def ref_resident_reason(value: object, today: datetime.date = TODAY) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    v = str(value)
    if re.search(r"\s", v):
        return "whitespace"
    if re.search("[０-９Ｘｘ]", v):
        return "full_width_digits"
    if re.fullmatch(r"[0-9]([.,][0-9]+)?[eE]\+?[0-9]+", v):
        return "scientific_notation"
    if re.fullmatch("[0-9]{15}", v):
        return "legacy_15_digit"
    if len(v) != 18:
        return "bad_length"
    if not re.fullmatch("[0-9]{17}[0-9Xx]", v):
        return "bad_characters"
    if int(v[:2]) not in PROVINCES:
        return "bad_region_code"
    try:
        born = datetime.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return "bad_birth_date"
    if born > today:
        return "future_birth_date"
    if mod_11_2.calc_check_digit(v[:17]) != v[17].upper():
        return "bad_check_character"
    return "lowercase_check_character" if v[17] == "x" else None


def ref_org_check(org8: str) -> str:
    total = sum(int(c, 36) * w for c, w in zip(org8, [3, 7, 9, 10, 5, 8, 4, 2], strict=True))
    c9 = 11 - total % 11
    return {10: "X", 11: "0"}.get(c9, str(c9))


def reasons_list(result: pd.Series) -> list[str | None]:
    return [None if pd.isna(r) else r for r in result]


@pytest.fixture(scope="module")
def faker_ids() -> list[str]:
    fake = Faker("zh_CN")
    fake.seed_instance(20250601)
    return [fake.ssn() for _ in range(3000)]


def random_id(rng: random.Random, today: datetime.date = TODAY) -> str:
    start = datetime.date(1850, 1, 1)  # GB 11643 has no earliest year: 1850-1899 must pass too
    born = start + datetime.timedelta(days=rng.randrange((today - start).days))
    first17 = f"{rng.choice(PROVINCES)}{rng.randrange(10_000):04d}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + mod_11_2.calc_check_digit(first17)


# ---------------------------------------------------------------- resident identity number


def test_faker_ids_are_valid(faker_ids: list[str]) -> None:
    assert all(mod_11_2.is_valid(v) for v in faker_ids)
    assert resident_id_reasons(pd.Series(faker_ids)).isna().all()


def test_check_character_matches_stdnum(faker_ids: list[str]) -> None:
    rng = random.Random(1)
    first17 = [v[:17] for v in faker_ids] + ["".join(rng.choices("0123456789", k=17)) for _ in range(3000)]
    ours = resident_id_check_character(pd.Series(first17))
    assert list(ours) == [mod_11_2.calc_check_digit(f) for f in first17]
    # weights are 2^(17-i) mod 11, the MOD 11-2 definition, not just a copied table
    assert [pow(2, 17 - i, 11) for i in range(17)] == [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def test_check_character_not_17_digits_is_na() -> None:
    result = resident_id_check_character(
        pd.Series(["1101051949123100", "1101051949123100a", None, "11010519491231002"])
    )
    assert reasons_list(result) == [None, None, None, "X"]


def test_single_digit_corruptions_agree_with_stdnum(faker_ids: list[str]) -> None:
    rng = random.Random(2)
    corrupted = []
    for v in faker_ids:
        pos = rng.randrange(18)
        new = rng.choice([c for c in "0123456789" if c != v[pos]])
        corrupted.append(v[:pos] + new + v[pos + 1 :])
    reasons = reasons_list(resident_id_reasons(pd.Series(corrupted), today=TODAY))
    for value, reason in zip(corrupted, reasons, strict=True):
        with pytest.raises(stdnum_exceptions.InvalidChecksum):
            ric.validate(value)  # stdnum checks the checksum before birth date and county
        assert reason == ref_resident_reason(value)
        assert reason in {"bad_check_character", "bad_region_code", "bad_birth_date", "future_birth_date"}
    assert reasons.count("bad_check_character") > 0.6 * len(corrupted)  # a third of positions are date


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("11010519491231002X", None),
        ("11010519491231002x", "lowercase_check_character"),
        ("11010519491231003x", "bad_check_character"),  # lowercase and wrong: the check wins
        ("１１０１０５１９４９１２３１００２Ｘ", "full_width_digits"),
        ("11010519491231002ｘ", "full_width_digits"),
        (" 11010519491231002X", "whitespace"),
        ("11010519491231002X\t", "whitespace"),
        ("110105 19491231002X", "whitespace"),
        ("110105\u300019491231002X", "whitespace"),
        ("1.10101E+17", "scientific_notation"),
        ("1.10101e17", "scientific_notation"),
        ("1.10105194912310E+17", "scientific_notation"),
        ("110105194912310000", "bad_check_character"),  # spreadsheet zeroed the last three digits
        ("110105194912310002", "bad_check_character"),
        ("11010519491231002", "bad_length"),
        ("11010519491231002X1", "bad_length"),
        ("110105491231002", "legacy_15_digit"),
        ("11010519491231002A", "bad_characters"),
        ("X10105194912310021", "bad_characters"),
        ("010105194912310026", "bad_region_code"),
        ("900105194912310020", "bad_region_code"),
        ("110105199902301235", "bad_birth_date"),  # 30 February 1999
        ("440524188001010014", None),  # GB 11643's own worked example, born 1880
        ("110105189912310015", None),  # no earliest year in the standard
        ("110105000001010011", "bad_birth_date"),  # year 0 is no calendar year
        ("110105199913010011", "bad_birth_date"),
        ("110105203001010012", "future_birth_date"),
        ("830000199001011234", None),  # Taiwan residence permit
        ("810000200002290011", None),  # leap day
        ("", "bad_length"),
        (None, None),
        (np.nan, None),
    ],
)
def test_real_world_defects(value: object, reason: str | None) -> None:
    assert reasons_list(resident_id_reasons(pd.Series([value], dtype=object), today=TODAY)) == [reason]
    assert ref_resident_reason(value) == reason


def test_zeroed_digits_fixture_is_really_wrong() -> None:
    # The zeroed fixtures above would be valid with their original digits.
    assert mod_11_2.is_valid("11010519491231002X")
    assert not mod_11_2.is_valid("110105194912310000")


def test_future_birth_date_defaults_to_today() -> None:
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    first17 = f"110105{tomorrow:%Y%m%d}001"
    value = first17 + mod_11_2.calc_check_digit(first17)
    assert reasons_list(resident_id_reasons(pd.Series([value]))) == ["future_birth_date"]
    assert reasons_list(resident_id_reasons(pd.Series([value]), today=tomorrow)) == [None]


def test_numeric_inputs_index_and_dtypes() -> None:
    index = pd.Index([10, 20, 30, 40])
    values = [110105194912310029, 1.10105194912310e17, None, "11010519491231002X"]
    expected = [ref_resident_reason(str(110105194912310029)), "scientific_notation", None, None]
    result = resident_id_reasons(pd.Series(values, index=index, dtype=object), today=TODAY)
    assert result.index.equals(index)
    assert reasons_list(result) == expected
    for dtype in ["str", "string", object]:
        text = pd.Series(["11010519491231002x", None], index=[5, 6], dtype=dtype)
        assert reasons_list(resident_id_reasons(text, today=TODAY)) == ["lowercase_check_character", None]
    assert resident_id_reasons(pd.Series([], dtype=object)).empty


def test_birth_date_and_gender_match_stdnum(faker_ids: list[str]) -> None:
    births = birth_date_from_resident_id(pd.Series(faker_ids))
    genders = gender_from_resident_id(pd.Series(faker_ids))
    assert [b.date() for b in births] == [ric.get_birth_date(v) for v in faker_ids]
    assert list(genders) == ["1" if int(v[16]) % 2 else "2" for v in faker_ids]


def test_birth_date_and_gender_not_derivable() -> None:
    values = pd.Series(
        ["11010519491231002x", "110105491231003", "110105199902301234", " 11010519491231002X", None, "abc"],
        index=list("abcdef"),
    )
    births = birth_date_from_resident_id(values)
    assert births.index.equals(values.index)
    assert list(births.iloc[:2]) == [pd.Timestamp("1949-12-31"), pd.Timestamp("1949-12-31")]
    assert births.iloc[2:].isna().all()
    assert reasons_list(gender_from_resident_id(values)) == ["2", "1", "1", None, None, None]


ID_BODIES = st.builds(
    lambda province, county, born, seq: f"{province}{county:04d}{born:%Y%m%d}{seq:03d}",
    st.sampled_from(PROVINCES),
    st.integers(0, 9999),
    st.dates(datetime.date(1800, 1, 1), TODAY),
    st.integers(0, 999),
)


@settings(max_examples=300, deadline=None)
@given(ID_BODIES)
def test_property_completed_id_valid_and_every_single_change_detected(first17: str) -> None:
    value = first17 + resident_id_check_character(pd.Series([first17])).iloc[0]
    variants = [value[:i] + c + value[i + 1 :] for i in range(18) for c in "0123456789X" if c != value[i]]
    variants = [v for v in variants if v[:17].isdigit()]
    assert len(variants) == 17 * 9 + 10
    reasons = resident_id_reasons(pd.Series([value, *variants]), today=TODAY)
    assert pd.isna(reasons.iloc[0])
    assert reasons.iloc[1:].notna().all()


def test_vectorised_matches_per_value_reference_on_200k() -> None:
    rng = random.Random(3)
    defects = [
        lambda v: v,
        lambda v: v,
        lambda v: v[:17] + "x",
        lambda v: v[:17] + rng.choice("0123456789X"),
        lambda v: v[: (i := rng.randrange(18))] + rng.choice("0123456789") + v[i + 1 :],
        lambda v: " " + v,
        lambda v: v[:6] + "\t" + v[6:],
        lambda v: v.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")),
        lambda v: f"{int(v[:17]):.5E}".replace("E+16", "E+17"),
        lambda v: v[:15] + "000",
        lambda v: v[:6] + v[8:17],
        lambda v: v[:17],
        lambda v: v + "1",
        lambda v: "99" + v[2:],
        lambda v: v[:6] + "19990230" + v[14:],
        lambda v: v[:6] + "2199" + v[10:],
        lambda v: v[:17] + "?",
        lambda v: None,
    ]
    values = [rng.choice(defects)(random_id(rng)) for _ in range(200_000)]
    series = pd.Series(values, dtype=object)
    reasons = reasons_list(resident_id_reasons(series, today=TODAY))
    births = birth_date_from_resident_id(series)
    genders = gender_from_resident_id(series)
    assert len(reasons) == len(values)
    assert len(set(reasons) - {None}) == 11  # every reason code occurs
    for i in rng.sample(range(len(values)), 5000):
        v = values[i]
        assert reasons[i] == ref_resident_reason(v), v
        if v is not None and re.fullmatch("[0-9]{17}[0-9Xx]", v) and reasons[i] != "bad_birth_date":
            assert births.iloc[i] == pd.Timestamp(v[6:14])
            assert genders.iloc[i] == ("1" if int(v[16]) % 2 else "2")


# ---------------------------------------------------------------- unified social credit code


def random_credit_code(rng: random.Random) -> str:
    prefix8 = "".join(rng.choices("0123456789", k=8))  # stdnum rejects letters in positions 1-8
    org8 = "".join(rng.choices(USCC_ALPHABET, k=8))
    return make_credit_code(prefix8, org8)


def test_make_credit_code_real_example() -> None:
    assert make_credit_code("91110000", "60003734") == "91110000600037341L"


def test_made_credit_codes_valid_for_stdnum_and_org_reference() -> None:
    rng = random.Random(4)
    codes = [random_credit_code(rng) for _ in range(3000)]
    assert all(uscc.is_valid(c) for c in codes)
    assert all(ref_org_check(c[8:16]) == c[16] for c in codes)
    assert credit_code_reasons(pd.Series(codes)).isna().all()


def test_credit_code_check_character_matches_stdnum() -> None:
    rng = random.Random(5)
    first17 = ["".join(rng.choices(USCC_ALPHABET, k=17)) for _ in range(3000)]
    expected = [uscc.calc_check_digit(f) for f in first17]
    assert list(credit_code_check_character(pd.Series(first17))) == expected
    not_codes = pd.Series(["9111000060003734I", "9111", None])
    assert reasons_list(credit_code_check_character(not_codes)) == [None] * 3


def test_credit_code_corruptions() -> None:
    rng = random.Random(6)
    codes = [random_credit_code(rng) for _ in range(2000)]
    wrong_check = [c[:17] + rng.choice([a for a in USCC_ALPHABET if a != c[17]]) for c in codes]
    # change one digit of the org code (digit changes are always caught mod 11), then fix position 18
    wrong_org = []
    for c in codes:
        i = rng.randrange(8, 17)
        new = rng.choice([d for d in "0123456789" if d != c[i]])
        body = c[:i] + new + c[i + 1 : 17]
        if ref_org_check(body[8:16]) == body[16]:
            continue  # a letter replaced by a digit 11 or 22 values away keeps the org check valid
        wrong_org.append(body + uscc.calc_check_digit(body))
    assert not any(uscc.is_valid(c) for c in wrong_check)
    assert all(uscc.is_valid(c) for c in wrong_org)  # stdnum does not check GB 11714: ours must
    assert set(credit_code_reasons(pd.Series(wrong_check))) == {"bad_check_character"}
    assert set(credit_code_reasons(pd.Series(wrong_org))) == {"bad_organization_code"}
    assert len(wrong_org) > 1900


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("91110000600037341L", None),
        ("91350100M000100Y43", None),  # the worked example of GB 32100-2015
        ("911A0000600037341R", "bad_region_code"),  # positions 3-8 are a GB/T 2260 code: digits only
        ("91110000600037341l", "bad_characters"),
        ("91110000600037342L", "bad_check_character"),  # both wrong: position 18 reported first
        ("91110000600037342" + uscc.calc_check_digit("91110000600037342"), "bad_organization_code"),
        ("91110000600037341l", "bad_characters"),
        ("9111000060003734IL", "bad_characters"),
        ("91110000600037341O", "bad_characters"),
        ("91110000600037341", "bad_length"),
        ("91110000600037341L0", "bad_length"),
        (" 91110000600037341L", "whitespace"),
        ("911100006 0037341L", "whitespace"),
        (None, None),
        (np.nan, None),
    ],
)
def test_credit_code_cases(value: object, reason: str | None) -> None:
    assert reasons_list(credit_code_reasons(pd.Series([value], dtype=object))) == [reason]


def test_make_credit_code_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="organisation code stem"):
        make_credit_code("91110000", "6000373")
    with pytest.raises(ValueError, match="alphabet"):
        make_credit_code("9111000I", "60003734")


# ---------------------------------------------------------------- mobile


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("13812345678", None),
        ("19912345678", None),
        (" 13812345678", "whitespace"),
        ("13812345678\t", "whitespace"),
        ("+8613812345678", "has_country_prefix"),
        ("8613812345678", "has_country_prefix"),
        ("008613812345678", "has_country_prefix"),
        ("+86 138-1234-5678", "has_country_prefix"),
        ("138-1234-5678", "has_separators"),
        ("138 1234 5678", "has_separators"),
        ("12812345678", "bad_format"),
        ("1381234567", "bad_format"),
        ("138123456789", "bad_format"),
        ("010-12345678", "bad_format"),
        ("+8612812345678", "bad_format"),
        ("", "bad_format"),
        (None, None),
        (np.nan, None),
    ],
)
def test_mobile_cases(value: object, reason: str | None) -> None:
    assert reasons_list(mobile_reasons(pd.Series([value], dtype=object))) == [reason]


# ---------------------------------------------------------------- worked examples and old birth dates


def test_birth_dates_before_1900_agree_with_stdnum() -> None:
    """python-stdnum reads any real calendar date (its place check aside): so must we, 1880 included."""
    rng = random.Random(7)
    ids = [random_id(rng) for _ in range(2000)]
    old = [v for v in ids if v[6:10] < "1900"]
    assert len(old) > 200
    assert resident_id_reasons(pd.Series(old), today=TODAY).isna().all()
    births = birth_date_from_resident_id(pd.Series(old))
    assert [b.date() for b in births] == [ric.get_birth_date(v) for v in old]


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 7), st.sampled_from("ABCDEFGHJKLMNPQRTUWXY"), st.randoms(use_true_random=False))
def test_property_letter_in_division_code_refused_like_stdnum(position: int, letter: str, rng: random.Random) -> None:
    """A letter anywhere in positions 3-8 is refused even with both check characters right."""
    code = random_credit_code(rng)
    body = code[:position] + letter + code[position + 1 : 17]
    forged = body + uscc.calc_check_digit(body)
    assert credit_code_check_character(pd.Series([body])).iloc[0] == forged[17]
    assert reasons_list(credit_code_reasons(pd.Series([forged]))) == ["bad_region_code"]
    with pytest.raises(stdnum_exceptions.InvalidFormat):
        uscc.validate(forged)
