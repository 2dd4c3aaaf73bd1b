"""Masking rules: output formats, keyed tokens across datasets, the audited decryption path, and
properties of display masks and pseudonyms."""

import base64
import hashlib
import hmac
import re

import pandas as pd
import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.keys import DecryptionError, Keyring, decrypt_values, encrypt_values, generate_keyring, pseudonymize
from governance.masking import (
    generalize_date,
    generalize_district,
    generalize_division,
    generalize_range,
    mask_column,
    mask_frame,
    partial,
)
from governance.masking.rules import DISTRICT, FALLBACK_CHARS
from governance.standards.catalogue import ResolvedColumn
from governance.standards.models import Column, Masking

TOKEN = re.compile(r"[a-z2-7]{52}")
CIPHERTEXT = re.compile(r"enc-\d{8}-[0-9a-f]{4}:[A-Za-z0-9_-]+=*")


@pytest.fixture(scope="module")
def ids():
    fake = Faker("zh_CN")
    fake.seed_instance(11643)
    return [fake.ssn() for _ in range(20)]


def resolved(catalogue, dataset, name):
    return next(c for c in catalogue.columns(catalogue.dataset(dataset)) if c.name == name)


def override(catalogue, element, masking):
    """A column of ``element`` with a dataset-level masking override."""
    return ResolvedColumn(Column(name="c", element=element, masking=masking), catalogue.elements[element],
                          "conditional", False)


# ---------------------------------------------------------------- display masks


def test_resident_id_and_mobile_display_masks(catalogue):
    id_column = override(catalogue, "resident_id_number", Masking(rule="partial"))  # validator default 6 + 4
    assert mask_column(pd.Series(["110101199003071234", None]), id_column, None).tolist() == [
        "110101********1234", pd.NA]
    mobile = resolved(catalogue, "public_security/resident_population", "mobile")  # element: keep 3 + 4
    assert mask_column(pd.Series(["13812345678"]), mobile, None).tolist() == ["138****5678"]
    default_mobile = override(catalogue, "mobile_number", Masking(rule="partial"))
    assert mask_column(pd.Series(["13812345678"]), default_mobile, None).tolist() == ["138****5678"]


def test_names_keep_the_whole_surname(catalogue):
    name = resolved(catalogue, "public_security/resident_population", "name")
    values = pd.Series(["张三", "欧阳娜娜", "李小龙", "司马光", None, "王"])
    assert mask_column(values, name, None).tolist() == ["张*", "欧阳**", "李**", "司马*", pd.NA, "*"]


def test_names_with_rare_characters_are_masked_by_character(catalogue):
    """王𠀀 is two characters (𠀀, Extension B, is four bytes and two UTF-16 units): 王 kept, one character masked."""
    name = resolved(catalogue, "public_security/resident_population", "name")
    values = pd.Series(["王𠀀", "刘䶮", "吴𰀀𰀁", "𠀀𠀁", "阿依古丽·买买提", "欧阳𫠠"], dtype="string")
    assert mask_column(values, name, None).tolist() == ["王*", "刘*", "吴**", "𠀀*", "阿*******", "欧阳*"]
    assert partial(values, 1, 1).tolist() == ["王*", "刘*", "吴*𰀁", "𠀀*", "阿******提", "欧*𫠠"]


def test_partial_without_compound_surnames_for_other_elements():
    assert partial(pd.Series(["欧阳娜娜"]), 1, 0).tolist() == ["欧***"]


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=30), st.integers(0, 8), st.integers(0, 8))
def test_partial_keeps_length_and_visible_ends(value, keep_first, keep_last):
    out = partial(pd.Series([value], dtype=object), keep_first, keep_last).iloc[0]
    assert len(out) == len(value)
    if len(value) > keep_first + keep_last:
        middle = out[keep_first:len(value) - keep_last]
        assert out[:keep_first] == value[:keep_first]
        assert out[len(value) - keep_last:] == value[len(value) - keep_last:]
        assert middle and set(middle) == {"*"}
    elif value:  # too short for both ends: at least the last hidden position is starred
        head = min(keep_first, len(value) - 1)
        assert out[:head] == value[:head] and out[head] == "*"


# ---------------------------------------------------------------- pseudonyms


def test_pseudonyms_join_across_datasets_and_change_with_the_key(catalogue, keyring, ids):
    person = ids[0]
    population = pd.DataFrame({"id_number": [person, ids[1]], "name": ["张三", "李四"]})
    allowance = pd.DataFrame({"id_number": [ids[2], person], "name": ["王五", "张三"]})
    a = mask_frame(population, catalogue.columns(catalogue.dataset("public_security/resident_population")), keyring)
    b = mask_frame(allowance, catalogue.columns(catalogue.dataset("civil_affairs/subsistence_allowance")), keyring)
    assert a.masked_columns["id_number"] == "pseudonym"
    assert a.frame["id_number"].iloc[0] == b.frame["id_number"].iloc[1]
    assert TOKEN.fullmatch(a.frame["id_number"].iloc[0])
    assert a.frame["id_number"].iloc[1] != b.frame["id_number"].iloc[0]
    other = mask_frame(population, catalogue.columns(catalogue.dataset("public_security/resident_population")),
                       generate_keyring())
    assert other.frame["id_number"].iloc[0] != a.frame["id_number"].iloc[0]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=20), unique=True, max_size=40))
def test_pseudonyms_are_deterministic_and_injective(values):
    key = b"k" * 32
    first = pseudonymize(pd.Series(values, dtype=object), key)
    again = pseudonymize(pd.Series(list(reversed(values)), dtype=object), key)
    assert first.tolist() == list(reversed(again.tolist()))
    assert first.nunique() == len(values)


def test_pseudonym_keeps_nulls():
    assert pseudonymize(pd.Series([None, pd.NA], dtype=object), b"k" * 32).isna().all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=30)), max_size=50), st.binary(min_size=1, max_size=100))
def test_vectorised_pseudonyms_equal_the_standard_library_hmac(values, key):
    """The fast path (copied keyed hash states, numpy base32) against ``hmac`` + ``base64`` per value, for
    keys shorter and longer than SHA-256's block."""
    expected = [None if value is None else
                base64.b32encode(hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest())
                .decode("ascii").rstrip("=").lower() for value in values]
    tokens = pseudonymize(pd.Series(values, dtype=object), key)
    assert [None if pd.isna(token) else token for token in tokens] == expected


# ---------------------------------------------------------------- encryption


def test_encrypt_format_and_round_trip(catalogue, keyring):
    column = resolved(catalogue, "civil_affairs/subsistence_allowance", "benefit_amount")
    values = pd.Series(["800.00", "800.00", None, "1234.50"], name="benefit_amount")
    tokens = mask_column(values, column, keyring)
    assert tokens[0] != tokens[1]  # a fresh nonce per value: equal amounts are not recognisable
    assert pd.isna(tokens[2])
    for token in tokens.dropna():
        assert CIPHERTEXT.fullmatch(token) and token.startswith(keyring.encryption_active + ":")
        assert len(base64.urlsafe_b64decode(token.split(":", 1)[1])) in (12 + 6 + 16, 12 + 7 + 16)
    events = []
    plain = decrypt_values(tokens, keyring, "benefit_amount", purpose="appeal review", actor="auditor",
                           audit=events.append)
    assert plain.tolist() == ["800.00", "800.00", pd.NA, "1234.50"]
    [event] = events
    assert event["outcome"] == "decrypted" and event["rows"] == 3 and event["column"] == "benefit_amount"
    assert event["key_ids"] == [keyring.encryption_active]
    assert (event["purpose"], event["actor"], event["element"]) == ("appeal review", "auditor", "benefit_amount")
    assert not any(value in repr(event) for value in ["800.00", "1234.50", *tokens.dropna()])


def test_old_key_still_decrypts_after_rotation(keyring):
    old = encrypt_values(pd.Series(["42"]), keyring.encryption_active, keyring.encryption_key, "benefit_amount")
    fresh = generate_keyring()
    rotated = Keyring(dict(keyring.pseudonym_keys), keyring.pseudonym_active,
                      {**keyring.encryption_keys, **fresh.encryption_keys}, fresh.encryption_active)
    new = encrypt_values(pd.Series(["43"]), rotated.encryption_active, rotated.encryption_key, "benefit_amount")
    both = pd.concat([old, new], ignore_index=True)
    events = []
    assert decrypt_values(both, rotated, "benefit_amount", purpose="p", actor="a", audit=events.append).tolist() \
        == ["42", "43"]
    assert events[0]["key_ids"] == sorted([keyring.encryption_active, fresh.encryption_active])
    with pytest.raises(DecryptionError, match="not in the keyring"):
        decrypt_values(new, keyring, "benefit_amount", purpose="p", actor="a", audit=events.append)


def test_ciphertext_cannot_move_to_another_element(keyring):
    token = encrypt_values(pd.Series(["800.00"]), keyring.encryption_active, keyring.encryption_key,
                           "benefit_amount")
    events = []
    with pytest.raises(DecryptionError, match="associated data") as error:
        decrypt_values(token, keyring, "monthly_income_base", purpose="p", actor="a", audit=events.append)
    assert "800.00" not in str(error.value)
    assert [e["outcome"] for e in events] == ["failed"]


@pytest.mark.parametrize(("purpose", "actor"), [("", "auditor"), ("review", ""), ("  ", "auditor"), (None, "x")])
def test_decrypt_requires_purpose_and_actor(keyring, purpose, actor):
    token = encrypt_values(pd.Series(["1"]), keyring.encryption_active, keyring.encryption_key, "benefit_amount")
    events = []
    with pytest.raises(ValueError, match="purpose and actor"):
        decrypt_values(token, keyring, "benefit_amount", purpose=purpose, actor=actor, audit=events.append)
    assert events == []


def test_audit_failure_returns_no_plaintext(keyring):
    token = encrypt_values(pd.Series(["1"]), keyring.encryption_active, keyring.encryption_key, "benefit_amount")

    def broken_audit(event):
        raise OSError("audit log unavailable")

    with pytest.raises(OSError):
        decrypt_values(token, keyring, "benefit_amount", purpose="p", actor="a", audit=broken_audit)


# ---------------------------------------------------------------- generalisation and suppression


def test_dates_to_year_and_month():
    values = pd.Series(["1990-05-17", "2024-12-31 23:59:59", None])
    assert generalize_date(values, "year").tolist() == ["1990", "2024", pd.NA]
    assert generalize_date(values, "month").tolist() == ["1990-05", "2024-12", pd.NA]


def test_numbers_to_left_closed_ranges():
    values = pd.Series(["3500.00", "4000", "3999.99", "0", None, "12000.5"])
    assert generalize_range(values, 1000).tolist() == [
        "3000-4000", "4000-5000", "3000-4000", "0-1000", pd.NA, "12000-13000"]
    assert generalize_range(pd.Series(["0.3", "0.25"]), 0.1).tolist() == ["0.3-0.4", "0.2-0.3"]


def test_addresses_to_district():
    values = pd.Series(["浙江省杭州市西湖区文三路90号", "北京市朝阳区建国路88号", "上海市浦东新区张江路1号",
                        "内蒙古自治区呼和浩特市新城区中山路2号", "广东省东莞市南城街道鸿福路3号",
                        "无法识别的一段地址文字12号", None])
    assert generalize_district(values).tolist() == [
        "浙江省杭州市西湖区", "北京市朝阳区", "上海市浦东新区", "内蒙古自治区呼和浩特市新城区", "广东省东莞市",
        "无法识别的一…", pd.NA]


def test_faker_addresses_lose_street_and_house_number():
    fake = Faker("zh_CN")
    fake.seed_instance(2260)
    addresses = pd.Series([fake.address() for _ in range(200)])
    out = generalize_district(addresses)
    assert not out.str.contains("[0-9]|座|路|街").any()
    assert (out.str.len() < addresses.str.len()).all()


ADDRESS_CHARACTERS = "0123456789-浙江省杭州市西湖区朝阳县旗盟州路号街道小 ab"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=ADDRESS_CHARACTERS, max_size=24)), max_size=20))
def test_arrow_generalisation_matches_python_re(values):
    """Arrow's RE2 extraction gives what ``re`` gives for the district and date patterns, on arbitrary text."""
    district = re.compile(DISTRICT)

    def by_re(value: str) -> str:
        if match := district.search(value):
            return match.group(1)
        return value[:min(FALLBACK_CHARS, len(value) // 2)] + "…"

    def date_by_re(value: str, to: str) -> str | None:
        if match := re.search(r"^([0-9]{4})-?([0-9]{2})", value):
            return match.group(1) if to == "year" else f"{match.group(1)}-{match.group(2)}"
        return None

    series = pd.Series(values, dtype=object)
    assert [None if pd.isna(v) else v for v in generalize_district(series)] == [
        None if value is None else by_re(value) for value in values]
    for to in ("year", "month"):
        assert [None if pd.isna(v) else v for v in generalize_date(series, to)] == [
            None if value is None else date_by_re(value, to) for value in values]


def test_division_to_prefecture():
    assert generalize_division(pd.Series(["330106", "110101", None])).tolist() == ["330100", "110100", pd.NA]


def test_suppressed_and_not_shared_columns_are_dropped(catalogue, keyring):
    columns = catalogue.columns(catalogue.dataset("public_security/resident_population"))
    suppressed = [
        ResolvedColumn(Column(name=c.name, element=c.column.element, masking=Masking(rule="suppress")),
                       c.element, c.sharing, c.primary_key) if c.name == "mobile" else c
        for c in columns
    ]
    suppressed = [ResolvedColumn(c.column, c.element, "not_shared", c.primary_key) if c.name == "gender" else c
                  for c in suppressed]
    frame = pd.DataFrame({"id_number": ["110101199003071234"], "mobile": ["13812345678"], "birth_date": ["1990-03-07"],
                          "gender": ["1"], "_source_line": ["7"], "unexpected": ["x"]})
    result = mask_frame(frame, suppressed, keyring)
    assert list(result.frame.columns) == [c.name for c in columns if c.name not in ("mobile", "gender")] + [
        "_source_line"]
    assert result.frame["birth_date"].tolist() == ["1990"]
    assert result.frame["_source_line"].tolist() == ["7"]
    assert result.dropped_columns == {"mobile": "suppress", "gender": "not_shared", "unexpected": "not_in_standard"}
    assert result.masked_columns["birth_date"] == "generalize"
    assert all(str(result.frame[c].dtype) == "string" for c in result.frame.columns if not c.startswith("_"))
