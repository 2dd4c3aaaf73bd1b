"""Issue 21, reading: a file declared ``gbk`` is read as GB 18030 (every valid GBK file reads the same), ``gb18030``
can be declared, ``auto`` detects GB 18030 as well as UTF-8 with or without BOM, and bytes invalid in GB 18030 too
stop the file with line and column; streaming in blocks splits no four-byte character."""

from __future__ import annotations

import codecs
import datetime
from pathlib import Path

import pandas as pd
import pytest

from governance.sources import SourceError, files, pull_dataset
from governance.sources.delivery import write_manifest
from governance.sources.encodings import GB18030, detect
from governance.sources.pull import landing_folder

DAY = datetime.date(2026, 11, 27)
RARE = ["刘䶮", "郑龴", "王𠀀", "张𪜀", "赵𫝀", "孙𫠠", "周𬺰", "吴𰀀"]


def csv_bytes(names: list[str], encoding: str) -> bytes:
    return ("id|name\n" + "".join(f"{index}|{name}\n" for index, name in enumerate(names))).encode(encoding)


def test_every_gbk_character_reads_the_same_as_gbk(tmp_path: Path) -> None:
    repertoire = "".join(chr(code) for code in range(0x80, 0x10000) if _in_gbk(chr(code)))
    assert len(repertoire) > 21000
    data = repertoire.encode("gbk")
    assert codecs.decode(data, GB18030) == data.decode("gbk") == repertoire


def _in_gbk(char: str) -> bool:
    try:
        char.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.parametrize("declared", ["gbk", "gb18030", "auto"])
def test_gb18030_names_read_under_gbk_gb18030_and_auto(tmp_path: Path, declared: str) -> None:
    path = tmp_path / "drop.csv"
    path.write_bytes(csv_bytes(RARE, "gb18030").replace("龴".encode("gb18030"), b"\xfe\x59"))
    assert files.read_csv(path, encoding=declared, delimiter="|")["name"].tolist() == RARE


def test_gb18030_2022_two_byte_codes_are_standard_characters() -> None:
    """The 24 two-byte codes whose 2005 mapping is private use read as glibc's GB18030 and GB 18030-2022 do."""
    assert codecs.decode(b"\xfe\x59\xfe\x51\xa6\xd9\xfe\x9f", GB18030) == "\u9fb4\U00020087\ufe10\u4dae"
    assert codecs.encode("\u9fb4\U00020087", GB18030) == b"\xfe\x59\xfe\x51"


@pytest.mark.parametrize(("content", "expected"), [
    (csv_bytes(RARE, "utf-8"), "utf-8"),
    (codecs.BOM_UTF8 + csv_bytes(RARE, "utf-8"), "utf-8-sig"),
    (csv_bytes(RARE, "gb18030"), GB18030),
    ("\ufeff".encode("gb18030") + csv_bytes(RARE, "gb18030"), GB18030),
    (csv_bytes(["张三"], "gbk"), GB18030),
])
def test_auto_detects_utf8_with_or_without_bom_and_gb18030(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "drop.csv"
    path.write_bytes(content)
    assert detect(path) == expected
    frame = files.read_csv(path, encoding="auto", delimiter="|")
    assert list(frame.columns) == ["id", "name"] and frame["name"].iloc[0] in (RARE[0], "张三")


def test_streamed_blocks_never_split_a_four_byte_character(tmp_path: Path) -> None:
    names = [RARE[index % len(RARE)] + "𠀀" * (index % 5) for index in range(4000)]
    path = tmp_path / "drop.csv"
    path.write_bytes(csv_bytes(names, "gb18030"))
    streamed = pd.concat(list(files.iter_csv(path, encoding="gbk", delimiter="|", block_bytes=4099)))
    assert streamed["name"].tolist() == names


def test_bytes_invalid_in_gb18030_stop_the_file_with_line_and_column(tmp_path: Path, catalogue) -> None:
    dataset = catalogue.dataset("market_regulation/enterprise_registration")
    folder = landing_folder(tmp_path / "landing", dataset, DAY)
    folder.mkdir(parents=True)
    header = (b"credit_code,enterprise_name,legal_representative,legal_rep_id_number,registered_capital,"
              b"established_on,region_code,business_address,status,updated_at\n")
    good = "91330106MA0000010X,杭州𠀀记茶叶有限公司,王𠀀,,100,2020-01-01,330106,,1,2026-11-27 08:00:00\n"
    # 0x81 0x30 starts a four-byte sequence; 0x81 0x30 0x41 is not one (the third byte must be 0x81..0xFE).
    bad = b"91330106MA0000020X,\xd5\xc5\xc8\xfd\xb5\xea,\xc0\xee\x81\x30\x41,,100,2020-01-01,330106,,1,2026-11-27\n"
    (folder / "register.csv").write_bytes(header + good.encode("gb18030") * 3 + bad + good.encode("gb18030"))
    write_manifest(folder, dataset, DAY, "test export", rows={"register.csv": 5})  # counts as the exporter's
    target = tmp_path / "work" / "received.parquet"
    with pytest.raises(SourceError) as error:
        pull_dataset(dataset, landing_root=tmp_path / "landing", day=DAY, target=target)
    message = str(error.value)
    assert "register.csv: line 5, column 'legal_representative'" in message, message
    assert "not valid GB 18030, declared gbk" in message and "\u674e" not in message  # no value quoted (李)
    assert not target.exists()


def test_a_utf8_file_declared_gbk_is_refused_not_read_as_mojibake(tmp_path: Path) -> None:
    """Almost any byte pairs are valid GB 18030: UTF-8 read as GB 18030 would pass, every character wrong."""
    path = tmp_path / "drop.csv"
    path.write_bytes(b"id|name\n1|Li\n" + csv_bytes(RARE, "utf-8"))
    with pytest.raises(SourceError, match=r"line 4: .*the file is UTF-8, not gbk"):
        files.read_csv(path, encoding="gbk", delimiter="|")
