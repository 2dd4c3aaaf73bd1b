"""The leak guard: identifiers hidden in free text are redacted, identifiers in columns the standard
does not mask block the publish, and neither findings nor errors ever carry a value."""

import pandas as pd
import pytest
from faker import Faker

from governance.identifiers import resident_id_check_character
from governance.masking import mask_frame
from governance.redaction.leak_guard import LeakBlocked, scan_and_redact


@pytest.fixture(scope="module")
def fake():
    faker = Faker("zh_CN")
    faker.seed_instance(35273)
    return faker


def columns(catalogue, key):
    return catalogue.columns(catalogue.dataset(key))


def id_ending_in_x(fake) -> str:
    while not (value := fake.ssn()).endswith("X"):
        pass
    return value


def no_values(findings, *values):
    text = repr(findings)
    return not any(value in text for value in values)


def test_ids_and_mobiles_in_remarks_are_redacted(catalogue, keyring, fake):
    person, lower, phone = fake.ssn(), id_ending_in_x(fake).lower(), "13812345678"
    frame = pd.DataFrame({
        "id_number": [person, fake.ssn(), fake.ssn()],
        "remarks": [f"申请人身份证{person}，电话{phone}。", f"代办人{lower}", None],
    }, index=[7, 7, 8])  # repeated labels: redaction must be positional
    result = mask_frame(frame, columns(catalogue, "civil_affairs/subsistence_allowance"), keyring)
    remarks = result.frame["remarks"].tolist()
    assert remarks[0] == f"申请人身份证{person[:6]}********{person[-4:]}，电话138****5678。"
    assert remarks[1] == f"代办人{lower[:6]}********{lower[-4:]}"
    assert pd.isna(remarks[2])
    found = {(f.column, f.rule): (f.count, f.action) for f in result.findings}
    assert found == {("remarks", "resident_id"): (2, "redacted"), ("remarks", "mobile"): (1, "redacted")}
    assert no_values(result.findings, person, lower, phone, person[:6] + "*")


def test_identifiers_in_a_free_text_address_are_redacted(catalogue, keyring, fake):
    person = fake.ssn()
    frame = pd.DataFrame({"credit_code": ["91330106MA27XYZ12A"], "institution_name": ["杭州市西湖区人民医院"],
                          "address": [f"浙江省杭州市西湖区文三路90号 联系人身份证{person} 手机 15912345678"]})
    result = mask_frame(frame, columns(catalogue, "health/medical_institution"), keyring)
    assert result.frame["address"].iloc[0] == (
        f"浙江省杭州市西湖区文三路90号 联系人身份证{person[:6]}********{person[-4:]} 手机 159****5678")
    assert {f.rule for f in result.findings} == {"resident_id", "mobile"}
    assert {f.action for f in result.findings} == {"redacted"}


def test_scan_redacts_the_address_element_directly(catalogue, fake):
    person = fake.ssn()
    frame = pd.DataFrame({"address": [f"住址备注 {person}", "13912345678", "普通地址"]})
    out, findings = scan_and_redact(frame, columns(catalogue, "public_security/resident_population"))
    assert out["address"].tolist() == [f"住址备注 {person[:6]}********{person[-4:]}", "139****5678", "普通地址"]
    assert sorted((f.rule, f.count) for f in findings) == [("mobile", 1), ("resident_id", 1)]


def test_id_in_a_column_graded_not_sensitive_blocks_publish(catalogue, keyring, fake):
    person = fake.ssn()
    frame = pd.DataFrame({"credit_code": ["91330106MA27XYZ12A", "91330106MA27XYZ13B"],
                          "enterprise_name": [f"个体户{person}", "杭州某某科技有限公司"],
                          "legal_representative": ["张三", "李四"], "region_code": ["330106", "330106"]})
    with pytest.raises(LeakBlocked) as error:
        mask_frame(frame, columns(catalogue, "market_regulation/enterprise_registration"), keyring,
                   dataset="market_regulation/enterprise_registration")
    message = str(error.value)
    assert "enterprise_name" in message and "resident id" in message and "1 " in message
    assert "market_regulation/enterprise_registration" in message
    assert person not in message and person[:6] not in message
    assert error.value.findings == [error.value.findings[0]]
    [finding] = error.value.findings
    assert (finding.column, finding.rule, finding.count, finding.action) == ("enterprise_name", "resident_id", 1,
                                                                             "blocked")
    assert no_values(error.value.findings, person)


def test_mobile_in_bookkeeping_column_blocks(catalogue):
    frame = pd.DataFrame({"taxpayer_name": ["某公司"], "_source_file": ["export_13812345678.csv"]})
    with pytest.raises(LeakBlocked, match="_source_file: 1 mobile") as error:
        scan_and_redact(frame, columns(catalogue, "taxation/taxpayer_credit_rating"))
    assert "13812345678" not in str(error.value)


def test_free_text_is_redacted_even_when_another_column_blocks(catalogue, fake):
    person = fake.ssn()
    frame = pd.DataFrame({"enterprise_name": [person], "business_address": [f"电话13812345678 {person}"]})
    with pytest.raises(LeakBlocked) as error:
        scan_and_redact(frame, columns(catalogue, "market_regulation/enterprise_registration"))
    actions = {(f.column, f.rule): f.action for f in error.value.findings}
    assert actions == {("enterprise_name", "resident_id"): "blocked", ("business_address", "resident_id"): "redacted",
                       ("business_address", "mobile"): "redacted"}


def test_lookalikes_are_not_identifiers(catalogue, fake):
    person = fake.ssn()
    wrong_check = person[:17] + ("0" if person[17] != "0" else "1")
    first17 = "11010120991231001"  # born in 2099
    future = first17 + resident_id_check_character(pd.Series([first17])).iloc[0]
    frame = pd.DataFrame({
        "remarks": [f"单号{wrong_check}", f"{future}", "电话12812345678 或 138123456789 或 0571-88888888",
                    f"{person}1", "流水号 2024010112345678901"],
    })
    out, findings = scan_and_redact(frame, columns(catalogue, "civil_affairs/subsistence_allowance"))
    assert findings == []
    assert out["remarks"].tolist() == frame["remarks"].tolist()


def test_token_columns_are_not_scanned(catalogue, keyring, fake):
    frame = pd.DataFrame({"id_number": ["ab13812345678cd" + "0" * 49], "benefit_amount": ["enc-1:13812345678"]})
    out, findings = scan_and_redact(frame, columns(catalogue, "civil_affairs/subsistence_allowance"))
    assert findings == [] and out.equals(frame)
    masked = mask_frame(pd.DataFrame({"id_number": [fake.ssn() for _ in range(50)],
                                      "benefit_amount": ["13812345678"] * 50}),
                        columns(catalogue, "civil_affairs/subsistence_allowance"), keyring)
    assert masked.findings == []
