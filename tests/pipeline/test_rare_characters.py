"""Issue 21: a drop declared GBK that holds GB 18030 bytes for rare-character names (生僻字) is published, through
the real pull, chunked validate, mask and publish, on SQLite and PostgreSQL; minority names' separator dots are
normalised (counted, not quarantined); the quarantine report and the warehouse keep such characters intact."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from governance.identifiers import make_credit_code, resident_id_check_character
from governance.keys import decrypt_values, generate_keyring, keyring_to_json
from governance.pipeline import chunked, steps
from governance.settings import get_settings
from governance.sources.delivery import write_manifest
from governance.sources.pull import landing_folder

DAY = datetime.date(2026, 11, 27)
REGISTER = "market_regulation/enterprise_registration"  # CSV declared gbk
HEADER = ("credit_code,enterprise_name,legal_representative,legal_rep_id_number,registered_capital,established_on,"
          "region_code,business_address,status,updated_at")
# (legal representative, enterprise name): Extension A (two GB 18030 bytes), U+9FB4 (a two-byte code GB 18030-2022
# remapped from private use), Extensions B to G (four bytes), and minority names with each separator dot variant.
ROWS = [("刘䶮", "杭州䶮记茶叶有限公司"), ("郑龴", "西湖区龴记小吃店"), ("王𠀀", "𠀀记五金店"), ("张𪜀", "𪜀记理发店"),
        ("赵𫝀", "𫝀记水果店"), ("孙𫠠", "𫠠记服装店"), ("周𬺰", "𬺰记副食品店"), ("吴𰀀", "吴𰀀餐馆"),
        ("阿依古丽·买买提", "阿依古丽商行"), ("买买提•吐尔逊", "吐尔逊干果店"), ("帕尔哈提・艾力", "艾力烤馕店"),
        ("古丽娜尔.阿不都", "古丽娜尔花店"), ("扎西．次仁", "次仁茶行"), ("努尔兰‧哈山", "哈山牧业合作社"),
        ("买买提 • 艾山", "艾山汽车修理部"), ("李四", "李四便利店")]
VARIANT_ROWS = 6  # •, ・, ., ．, ‧ and a spaced •: each becomes U+00B7
BAD_ID_ROW = 7  # 吴𰀀's ID gets a wrong check character: quarantined, with the name kept intact in the report


def id_number(index: int, *, wrong: bool = False) -> str:
    first17 = f"33010619800101{index:03d}"
    check = resident_id_check_character(pd.Series([first17])).iloc[0]
    return first17 + ("0" if check != "0" else "1") if wrong else first17 + check


def drop_rows() -> list[str]:
    return [f"{make_credit_code('91330106', f'MA{index:06d}')},{company},{name},"
            f"{id_number(index, wrong=index == BAD_ID_ROW)},100,2020-01-01,330106,浙江省杭州市西湖区文三路{index}号,1,"
            "2026-11-27 08:00:00" for index, (name, company) in enumerate(ROWS)]


@pytest.fixture
def night(tmp_path: Path, monkeypatch, catalogue, warehouse_url):
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", warehouse_url)
    keyring = generate_keyring()
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_KEYRING", keyring_to_json(keyring))
    folder = landing_folder(get_settings().landing_root, catalogue.dataset(REGISTER), DAY)
    folder.mkdir(parents=True)
    # What a system that says GBK writes: GB 18030 bytes (Python's gb18030 codec, the 2005 mapping, writes U+9FB4
    # as four bytes; the two-byte FE59 of GB 18030-2022 is written by hand below).
    data = ("\r\n".join([HEADER, *drop_rows()]) + "\r\n").encode("gb18030")
    assert "龴".encode("gb18030") in data
    data = data.replace("龴".encode("gb18030"), b"\xfe\x59", 1)  # the company name: the 2022 two-byte code
    with pytest.raises(UnicodeDecodeError):
        data.decode("gbk")
    (folder / "register.csv").write_bytes(data)
    write_manifest(folder, catalogue.dataset(REGISTER), DAY, "test export")
    return keyring


def run_chunked(chunk_rows: int) -> steps.Run:
    run = steps.Run.create(REGISTER, "manual__rare_names", DAY)
    steps.pull(run)
    assert chunked.validate_and_mask(run, chunk_rows).chunks > 1
    steps.publish(run)
    steps.record(run)
    return run


def test_gbk_declared_drop_with_gb18030_names_is_published(night) -> None:
    keyring = night
    run = run_chunked(chunk_rows=5)
    pull, validate = run.area.read_step("pull"), run.area.read_step("validate")
    assert pull["rows_received"] == len(ROWS)
    assert pull["normalised"] == {"legal_representative.separator_dot": VARIANT_ROWS}  # a normalisation ...
    assert validate["quarantined_by_rule"] == {"legal_rep_id_number.resident_id": 1}  # ... not a defect
    assert run.area.read_step("publish")["rows_published"] == len(ROWS) - 1
    assert run.area.read_step("record")["normalised"] == pull["normalised"]

    with run.engine.connect() as connection:
        table = pd.read_sql(sa.text(f"SELECT * FROM {run.area.read_step('publish')['table']}"), connection)
    published = dict(zip(table["enterprise_name"], table["legal_representative"], strict=True))
    expected = {company: name for index, (name, company) in enumerate(ROWS) if index != BAD_ID_ROW}
    expected["西湖区龴记小吃店"] = "郑龴"  # read from FE59 as U+9FB4, not a private-use stand-in
    assert set(published) == set(expected)  # every company name, four-byte characters included, intact
    # Masked by character: 王𠀀 keeps 王 and masks one character (not two UTF-16 units, not four bytes).
    assert published["𠀀记五金店"] == "王*" and published["𫝀记水果店"] == "赵*"
    assert published["杭州䶮记茶叶有限公司"] == "刘*"
    for name, company in ROWS[8:15]:
        length = len(name.replace(" ", "")) if "•" in name else len(name)
        assert published[company] == name[0] + "*" * (length - 1), company  # the dot normalised first: one char

    received = pd.read_parquet(run.area.received)
    names = set(received["legal_representative"])
    assert {"阿依古丽·买买提", "买买提·吐尔逊", "帕尔哈提·艾力", "古丽娜尔·阿不都", "扎西·次仁", "努尔兰·哈山",
            "买买提·艾山", "王𠀀", "吴𰀀", "郑龴"} <= names

    report_csv, report_html = (Path(path) for path in validate["reports"])
    raw = report_csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel opens it as UTF-8
    assert "吴𰀀" in raw.decode("utf-8-sig") and "吴𰀀餐馆" in raw.decode("utf-8-sig")
    assert "吴𰀀" in report_html.read_text(encoding="utf-8")

    with run.engine.connect() as connection:
        sealed = connection.execute(sa.text("SELECT raw_row_encrypted, masked_row FROM governance.quarantine"
                                            " WHERE run_id = :run"), {"run": run.run_id}).all()
    assert len(sealed) == 1 and json.loads(sealed[0][1])["legal_representative"] == "吴*"
    raw_row = decrypt_values(pd.Series([sealed[0][0]], dtype="string"), keyring, "governance.quarantine",
                             purpose="test", actor="test", audit=lambda event: None).iloc[0]
    assert json.loads(raw_row)["legal_representative"] == "吴𰀀"


RESIDENTS = "public_security/resident_population"  # CSV declared utf-8
EXTENSION_NAMES = ["王𠀀", "陈𪚥", "张𪜀", "赵𫝀", "孙𫠠", "周𬺰", "吴𰀀", "𠀀𪜀𫝀𫠠𬺰𰀀", "努尔兰‧哈山", "扎西．次仁"]


def test_utf8_drop_with_extension_b_to_g_names_is_published(tmp_path: Path, monkeypatch, catalogue,
                                                            warehouse_url) -> None:
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_KEYRING", keyring_to_json(generate_keyring()))
    folder = landing_folder(get_settings().landing_root, catalogue.dataset(RESIDENTS), DAY)
    folder.mkdir(parents=True)
    lines = ["id_number,name,gender,birth_date,ethnicity,region_code,address,mobile,updated_at"]
    lines += [f"{id_number(index)},{name},{2 - index % 2},1980-01-01,01,330106,浙江省杭州市西湖区文三路{index}号,"
              f"1380000{index:04d},2026-11-27 08:00:00" for index, name in enumerate(EXTENSION_NAMES)]
    (folder / "residents.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_manifest(folder, catalogue.dataset(RESIDENTS), DAY, "test export")

    run = steps.Run.create(RESIDENTS, "manual__extension_names", DAY)
    steps.pull(run)
    validate = chunked.validate_and_mask(run, 3)
    steps.publish(run)

    assert run.area.read_step("pull")["normalised"] == {"name.separator_dot": 2}
    assert validate.rows_quarantined == 0 and validate.rows_passed == len(EXTENSION_NAMES)
    assert pd.read_parquet(run.area.received)["name"].tolist()[:8] == EXTENSION_NAMES[:8]
    with run.engine.connect() as connection:
        names = pd.read_sql(sa.text(f"SELECT name FROM {run.area.read_step('publish')['table']}"), connection)
    assert sorted(names["name"]) == sorted(["王*", "陈*", "张*", "赵*", "孙*", "周*", "吴*", "𠀀*****", "努*****",
                                            "扎****"])
