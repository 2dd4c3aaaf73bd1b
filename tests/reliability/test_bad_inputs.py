"""Bad departmental inputs through the real pull step (and the validate step where the data, not the file, is
wrong): each gives a ``SourceError`` naming the file and the problem without quoting a cell, or a quarantine
entry, and nothing is published. The catalogue is the repository's; drops are written into a tmp landing area."""

from __future__ import annotations

import contextlib
import csv
import datetime
import html
import shutil
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa
from governance_demo import write_demo_data

from governance.keys import generate_keyring, keyring_to_json, load_keyring
from governance.masking import mask_frame
from governance.pipeline import chunked, steps
from governance.pipeline.chunks import iter_parts
from governance.settings import get_settings
from governance.sources import SourceError, files, pull_dataset
from governance.sources.database import read_query
from governance.sources.delivery import count_rows, drop_files, write_manifest
from governance.sources.pull import landing_folder
from governance.standards.catalogue import check_catalogue, load_catalogue
from governance.standards.models import Source

DAY = datetime.date(2026, 11, 27)
RESIDENTS = "public_security/resident_population"  # CSV declared utf-8
RATINGS = "taxation/taxpayer_credit_rating"  # CSV declared gbk
ENROLMENT = "human_resources/social_insurance_enrollment"  # Excel, sheet 参保信息
ALLOWANCE = "civil_affairs/subsistence_allowance"  # SQL
REPO_ROOT = Path(__file__).resolve().parents[2]
RESIDENT_TABLE = "public_security__resident_population"
SECRET = "机密样本值"  # a cell value: it must never appear in an error message
HEADER = "id_number,name,gender,birth_date,ethnicity,region_code,address,mobile,updated_at"
ROW = f"110101199003074514,张三,1,1990-03-07,01,110101,{SECRET},13900000001,2026-11-27 08:00:00"
FORMULA = "=cmd|' /C calc'!A0"
STRAY = ROW.replace(SECRET, SECRET[:2] + '"' + SECRET[2:])  # a quote inside the unquoted address
STRAY_LAST = ROW.replace("08:00:00", '08":00:00')  # a quote inside the unquoted last field
UNCLOSED = ROW.replace(",2026", ',"2026')  # the last field opens a quote it never closes
TRAILING = ROW.replace(",张三,", ',"张三"丰,')  # text after the closing quote (pyarrow would read 张三丰)


# ------------------------------------------------------------------------------------------------
# Pull-level: the file cannot be read; SourceError names the file and the problem; nothing is landed.
# ------------------------------------------------------------------------------------------------

def drop(tmp_path: Path, dataset, contents: dict[str, bytes]) -> Path:
    folder = landing_folder(tmp_path / "landing", dataset, DAY)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    return tmp_path / "landing"


def delivered(landing_root: Path, dataset) -> None:
    """The department's manifest, written last (the pull reads nothing without it). A file its reader refuses
    counts 0 rows: the reader's error comes before the count is compared."""
    folder = landing_folder(landing_root, dataset, DAY)
    if not folder.is_dir() or not drop_files(folder, dataset):
        return
    rows = {}
    for path in drop_files(folder, dataset):
        try:
            rows[path.name] = count_rows(path, dataset)
        except SourceError:
            rows[path.name] = 0
    write_manifest(folder, dataset, DAY, "test export", rows)


def redeliver(path: Path) -> None:
    """After editing a demo drop: the manifest its department would write for the edited files."""
    catalogue = load_catalogue(get_settings().standards_root)
    delivered(path.parents[3], catalogue.dataset(f"{path.parents[2].name}/{path.parents[1].name}"))


def refused(tmp_path: Path, dataset, landing_root: Path, *problem: str) -> str:
    target = tmp_path / "work" / "received.parquet"
    delivered(landing_root, dataset)
    with pytest.raises(SourceError) as error:
        pull_dataset(dataset, landing_root=landing_root, day=DAY, target=target)
    message = str(error.value)
    for part in problem:
        assert part in message, message
    assert SECRET not in message and "13900000001" not in message and "110101199003074514" not in message
    assert not target.exists()
    assert not target.parent.exists() or not list(target.parent.iterdir())  # no partial file left
    return message


CSV_CASES = {
    "empty file": (RESIDENTS, {"drop.csv": b""}, ["drop.csv", "not a readable CSV file", "Empty CSV file"]),
    "GBK file declared utf-8": (RESIDENTS, {"drop.csv": f"{HEADER}\n{ROW}\n".encode("gbk")},
                                ["drop.csv", "line 2, column 'name'", "not valid UTF-8"]),
    "UTF-8 file declared gbk": (
        RATINGS, {"drop.csv": f"credit_code,taxpayer_name,rating,evaluated_on,updated_at\n"
                              f"91110000100000000X,{SECRET}有限公司,A,2026-11-01,2026-11-27 08:00:00\n".encode()},
        ["drop.csv", "line 2: 文件是 UTF-8 编码", "not gbk as its dataset standard declares"]),
    "unbalanced quotes": (RESIDENTS, {"drop.csv": f'{HEADER}\n{ROW}\n"{ROW}\n{ROW}\n'.encode()},
                          ["drop.csv", "line 3, column 'id_number'", "unbalanced double quotes", "not closed"]),
    # Both quote counts are even: pyarrow read these silently, the rows after the unclosed quote vanishing into it.
    "a stray quote in an unquoted field, then an unclosed quote (even count)": (
        RESIDENTS, {"drop.csv": f"{HEADER}\n{ROW}\n{STRAY}\n{ROW}\n{UNCLOSED}\n{ROW}\n{ROW}\n".encode()},
        ["drop.csv", "line 3, column 'address'", "a double quote inside an unquoted field"]),
    "an unclosed quote, then a stray quote further down (even count)": (
        RESIDENTS, {"drop.csv": f"{HEADER}\n{ROW}\n{UNCLOSED}\n{ROW}\n{STRAY_LAST}\n{ROW}\n".encode()},
        ["drop.csv", "line 3, column 'updated_at'", "a quoted field is followed by more text before the next "
                                                     "delimiter"]),
    "text after a closing quote": (RESIDENTS, {"drop.csv": f"{HEADER}\n{ROW}\n{TRAILING}\n{ROW}\n".encode()},
                                   ["drop.csv", "line 3, column 'name'", "followed by more text"]),
    "a row with too many fields": (RESIDENTS, {"drop.csv": f"{HEADER}\n{ROW}\n{ROW},{SECRET}\n{ROW}\n".encode()},
                                   ["drop.csv", "1 malformed row(s)", "row 3 has 10 fields, the header has 9"]),
    "duplicate column names": (RESIDENTS, {"drop.csv": f"{HEADER},name\n{ROW},{SECRET}\n".encode()},
                               ["drop.csv", "duplicate column(s) in the header: name"]),
    "two files of one drop, columns in another order": (
        RESIDENTS, {"a.csv": f"{HEADER}\n{ROW}\n".encode(),
                    "b.csv": (HEADER.replace("name,gender", "gender,name") + "\n"
                              + ROW.replace("张三,1", "1,张三") + "\n").encode()},
        ["b.csv", "columns differ from a.csv's"]),
}


@pytest.mark.parametrize("case", list(CSV_CASES))
def test_unreadable_csv_is_refused_naming_file_and_problem(tmp_path: Path, catalogue, case: str) -> None:
    key, contents, problem = CSV_CASES[case]
    dataset = catalogue.dataset(key)
    refused(tmp_path, dataset, drop(tmp_path, dataset, contents), *problem)


def test_symlink_out_of_the_landing_folder_is_refused(tmp_path: Path, catalogue) -> None:
    dataset = catalogue.dataset(RESIDENTS)
    outside = tmp_path / "elsewhere" / "secret.csv"
    outside.parent.mkdir()
    outside.write_text(f"{HEADER}\n{ROW}\n", encoding="utf-8")
    landing_root = drop(tmp_path, dataset, {})
    (landing_folder(landing_root, dataset, DAY) / "drop.csv").symlink_to(outside)
    refused(tmp_path, dataset, landing_root, "drop.csv", "links outside the landing folder", "refusing to read it")


def test_path_traversal_in_the_file_pattern_is_refused(tmp_path: Path, catalogue, edit_dataset) -> None:
    dataset = catalogue.dataset(RESIDENTS)
    edited = edit_dataset(RESIDENTS, source=dataset.source.model_copy(update={"file_pattern": "../*.csv"}))
    dataset = edited.dataset(RESIDENTS)
    landing_root = drop(tmp_path, dataset, {"inside.csv": f"{HEADER}\n{ROW}\n".encode()})
    (landing_folder(landing_root, dataset, DAY).parent / "sibling.csv").write_text(f"{HEADER}\n{ROW}\n")
    refused(tmp_path, dataset, landing_root, "sibling.csv", "links outside the landing folder")


def test_bom_and_mixed_line_endings_read_exactly(tmp_path: Path, catalogue) -> None:
    """A UTF-8 BOM under a declared utf-8 and \\r\\n mixed with \\n: same columns and values, no stray \\r,
    and the first column stays text exactly as sent (the BOM once left it untyped: leading zeros were lost)."""
    dataset = catalogue.dataset(RESIDENTS)
    body = "\r\n".join([HEADER, ROW.replace("110101199003074514", "010101199003074514")]) + "\n" + ROW + "\r\n"
    landing_root = drop(tmp_path, dataset, {"drop.csv": b"\xef\xbb\xbf" + body.encode()})
    delivered(landing_root, dataset)
    target = tmp_path / "received.parquet"
    result = pull_dataset(dataset, landing_root=landing_root, day=DAY, target=target)
    frame = pd.read_parquet(target)
    assert result.rows == 2 and result.columns == HEADER.split(",")
    assert frame["id_number"].tolist() == ["010101199003074514", "110101199003074514"]
    assert frame["updated_at"].tolist() == ["2026-11-27 08:00:00"] * 2
    assert frame["_source_line"].tolist() == [2, 3]


def test_quoted_fields_with_line_ends_delimiters_and_doubled_quotes_read_exactly(tmp_path: Path, catalogue) -> None:
    """Quoting as RFC 4180 and spreadsheet exports write it (every field quoted, the header too): line ends, commas
    and doubled quotes inside quotes are text. The quoted header once missed the all-text typing, so pyarrow read
    the IDs as numbers and ``0101...`` lost its leading zero."""
    dataset = catalogue.dataset(RESIDENTS)
    address = '北京市东城区, "某某"小区\r\n1号楼'
    rows = [HEADER.split(","), ROW.replace("110101199003074514", "010101199003074514").split(","), ROW.split(",")]
    rows[1][6] = address
    body = "".join(",".join('"' + value.replace('"', '""') + '"' for value in row) + "\r\n" for row in rows)
    landing_root = drop(tmp_path, dataset, {"drop.csv": body.encode()})
    delivered(landing_root, dataset)
    target = tmp_path / "received.parquet"
    assert pull_dataset(dataset, landing_root=landing_root, day=DAY, target=target).rows == 2
    frame = pd.read_parquet(target)
    assert frame["id_number"].tolist() == ["010101199003074514", "110101199003074514"]
    assert frame["address"].tolist() == [address, SECRET]
    assert frame["updated_at"].tolist() == ["2026-11-27 08:00:00"] * 2


def test_gbk_trail_bytes_equal_to_the_delimiter_do_not_hide_a_stray_quote(tmp_path: Path) -> None:
    """In GBK the second byte of 亅 is ``|``: a scan of raw bytes would take it for a delimiter and a quote after it
    for the start of a quoted field. The file is scanned as the text pyarrow parses, so it reads right, and a stray
    quote after such a character is still refused."""
    assert "亅".encode("gbk")[1:] == b"|"
    path = tmp_path / "drop.csv"
    path.write_bytes("id|name|note\n1|亅亅|x\n2|亅|y\n".encode("gbk"))
    frame = pd.concat(list(files.iter_csv(path, encoding="gbk", delimiter="|")))
    assert frame["name"].tolist() == ["亅亅", "亅"] and frame["note"].tolist() == ["x", "y"]
    path.write_bytes('id|name|note\n1|亅"亅|x\n2|亅"|y\n'.encode("gbk"))
    with pytest.raises(SourceError, match=r"line 2, column 'name': a double quote inside an unquoted field"):
        list(files.iter_csv(path, encoding="gbk", delimiter="|"))


# ------------------------------------------------------------------------------------------------
# Huge fields: refused at the pull in bounded memory (CSV beyond 1 MiB, Excel beyond Excel's own cell limit);
# a long value under those limits is read and quarantined by its column's length rule.
# ------------------------------------------------------------------------------------------------

HUGE_MB = 200
ENROLMENT_HEADER = ["id_number", "name", "insurance_type", "employer_credit_code", "contribution_base",
                    "enrolled_on", "updated_at"]
ENROLMENT_ROW = ["110101199003074514", "张三", "110", "91110000100000000X", "5000.00", "2020-01-01",
                 "2026-11-27 08:00:00"]


def huge_text(quoted: bool) -> Iterator[str]:
    """~200 MB of cell text a megabyte at a time (with delimiters and line ends when it is quoted)."""
    piece = f"{SECRET},\n" if quoted else SECRET
    block = piece * ((1 << 20) // len(piece.encode()) + 1)
    for _ in range(HUGE_MB):
        yield block


@contextlib.contextmanager
def bounded(limit_mb: int, seconds: float) -> Iterator[None]:
    """The block must stay under ``limit_mb`` of Python (and numpy) allocations and finish within ``seconds``."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        yield
        elapsed, peak = time.monotonic() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit_mb << 20, f"peak {peak >> 20} MiB"
    assert elapsed < seconds, f"{elapsed:.1f} s"


@pytest.mark.parametrize("quoted", [False, True], ids=["unquoted", "quoted, holding delimiters and line ends"])
def test_a_200_mb_csv_field_is_refused_at_its_line_and_column_in_bounded_memory(tmp_path: Path, catalogue,
                                                                                 quoted: bool) -> None:
    """pyarrow alone fails such a file with a bare "straddling object" error (the field is longer than its read
    block). The pull now stops a megabyte into the field, naming line and column, having held no more than that."""
    dataset = catalogue.dataset(RESIDENTS)
    landing_root = drop(tmp_path, dataset, {})
    path = landing_folder(landing_root, dataset, DAY) / "drop.csv"
    before, after = ROW.split(SECRET)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(f"{HEADER}\n{ROW}\n{before}" + ('"' if quoted else ""))
        handle.writelines(huge_text(quoted))
        handle.write(('"' if quoted else "") + f"{after}\n{ROW}\n")
    try:
        assert path.stat().st_size > HUGE_MB << 20
        with bounded(limit_mb=24, seconds=10):
            refused(tmp_path, dataset, landing_root, "drop.csv", "line 3, column 'address'",
                    "a field longer than 1 MiB")
    finally:
        path.unlink()


def test_a_row_longer_than_the_read_block_is_refused_naming_its_line(tmp_path: Path) -> None:
    """pyarrow cannot parse a row longer than its block ("straddling object"), and fields under the field limit
    can add up to one. A row just under the block still reads."""
    path = tmp_path / "drop.csv"
    header = ",".join(f"c{i}" for i in range(64))
    path.write_text(f"{header}\n{','.join(['a' * 1000] * 64)}\n", encoding="utf-8")  # 64,063 bytes
    assert len(pd.concat(files.iter_csv(path, encoding="utf-8", delimiter=",", block_bytes=65_536))) == 1
    path.write_text(f"{header}\n{','.join(['a'] * 64)}\n{','.join(['b' * 1100] * 64)}\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"drop.csv: line 3: a row longer than 65536 bytes"):
        list(files.iter_csv(path, encoding="utf-8", delimiter=",", block_bytes=65_536))


def write_xlsx(path: Path, rows: list[list[str]], *, shared: bool, huge: tuple[int, int] | None = None) -> None:
    """A minimal workbook, sheet 参保信息, its cells as Excel writes them (``shared``: in xl/sharedStrings.xml) or as
    openpyxl does (inline); the cell at ``huge`` (row, column) holds ~200 MB, streamed into the zip. openpyxl
    itself cuts every cell to 32,767 characters on writing, so it cannot make these files."""
    main = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    relations = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    kinds = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    texts: list[tuple[tuple[int, int], str]] = []

    def text(out, at: tuple[int, int], value: str) -> None:
        for piece in huge_text(False) if at == huge else [html.escape(value, quote=False)]:
            out.write(piece.encode())

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{kinds}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{kinds}.worksheet+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{kinds}.sharedStrings+xml"/></Types>'))
        archive.writestr("_rels/.rels", f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
                                        f'Type="{relations}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        archive.writestr("xl/workbook.xml", f'<workbook {main} xmlns:r="{relations}"><sheets>'
                                            '<sheet name="参保信息" sheetId="1" r:id="rId1"/></sheets></workbook>')
        archive.writestr("xl/_rels/workbook.xml.rels", (
            f'<Relationships xmlns="{package}">'
            f'<Relationship Id="rId1" Type="{relations}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{relations}/sharedStrings" Target="sharedStrings.xml"/></Relationships>'))
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out:
            out.write(f"<worksheet {main}><sheetData>".encode())
            for r, row in enumerate(rows, start=1):
                out.write(f'<row r="{r}">'.encode())
                for c, value in enumerate(row):
                    reference = f"{chr(ord('A') + c)}{r}"
                    if shared:
                        texts.append(((r, c), value))
                        out.write(f'<c r="{reference}" t="s"><v>{len(texts) - 1}</v></c>'.encode())
                    else:
                        out.write(f'<c r="{reference}" t="inlineStr"><is><t>'.encode())
                        text(out, (r, c), value)
                        out.write(b"</t></is></c>")
                out.write(b"</row>")
            out.write(b"</sheetData></worksheet>")
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as out:
            out.write(f'<sst {main} count="{len(texts)}" uniqueCount="{len(texts)}">'.encode())
            for at, value in texts:
                out.write(b"<si><t>")
                text(out, at, value)
                out.write(b"</t></si>")
            out.write(b"</sst>")


@pytest.mark.parametrize("shared", [False, True], ids=["inline text", "shared strings"])
def test_a_200_mb_xlsx_cell_is_refused_unparsed_in_bounded_memory(tmp_path: Path, catalogue, shared: bool) -> None:
    """A workbook is a zip: this 200 MB cell is a file of ~200 KB, and openpyxl would hold the cell whole (and
    pandas copy it). The pull refuses it from the compressed stream, naming sheet and cell, before any parser
    sees it."""
    dataset = catalogue.dataset(ENROLMENT)
    landing_root = drop(tmp_path, dataset, {})
    path = landing_folder(landing_root, dataset, DAY) / "drop.xlsx"
    write_xlsx(path, [ENROLMENT_HEADER, ENROLMENT_ROW, ENROLMENT_ROW], shared=shared, huge=(3, 1))
    assert path.stat().st_size < 1 << 20
    with bounded(limit_mb=24, seconds=10):
        refused(tmp_path, dataset, landing_root, "drop.xlsx", "sheet '参保信息', cell B3",
                "a cell of more than 32,767 characters, Excel's own limit")


def test_an_xlsx_cell_over_excels_limit_is_refused_naming_row_and_column(tmp_path: Path, catalogue) -> None:
    """40,000 characters: small enough to read, yet no Excel wrote it (the limit is 32,767). A cell of exactly
    32,767 ``&`` (its XML five times as long) is still read."""
    dataset = catalogue.dataset(ENROLMENT)
    landing_root = drop(tmp_path, dataset, {})
    path = landing_folder(landing_root, dataset, DAY) / "drop.xlsx"
    at_limit = [*ENROLMENT_ROW[:1], "&" * 32_767, *ENROLMENT_ROW[2:]]
    write_xlsx(path, [ENROLMENT_HEADER, at_limit, at_limit], shared=True)
    frame = files.read_excel(path, sheet="参保信息")
    assert frame["name"].str.len().tolist() == [32_767, 32_767]
    write_xlsx(path, [ENROLMENT_HEADER, at_limit, [*ENROLMENT_ROW[:1], SECRET * 8_000, *ENROLMENT_ROW[2:]]],
               shared=True)
    refused(tmp_path, dataset, landing_root, "drop.xlsx", "sheet '参保信息', row 3, column 'name'",
            "more than 32,767 characters")


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_long_value_under_the_limits_is_quarantined_by_its_length_rule(night, kind: str) -> None:
    """Between the column's max_length and the refusal limits, the value is data: read, quarantined by
    ``<column>.max_length`` with its line, the other rows published."""
    if kind == "csv":
        key, column, path = RESIDENTS, "address", resident_drop(night)
        rewrite(path, lambda rows: [rows[0], [*rows[1][:6], "某" * 100_000, *rows[1][7:]], *rows[2:]])
    else:
        key, column = ENROLMENT, "name"
        path = next((night.landing_root / "human_resources" / "social_insurance_enrollment" / DAY.isoformat())
                    .glob("*.xlsx"))
        workbook = openpyxl.load_workbook(path)
        sheet = workbook["参保信息"]
        sheet.cell(row=2, column=ENROLMENT_HEADER.index("name") + 1).value = "某" * 30_000
        workbook.save(path)
        redeliver(path)
    run = steps.Run.create(key, f"long_{kind}", DAY)
    received = steps.pull(run).rows_received
    summary = chunked.validate_and_mask(run)
    assert summary.quarantined_by_rule.get(f"{column}.max_length") == 1
    quarantined = pd.read_parquet(run.area.quarantined)
    assert quarantined.loc[quarantined["_rules"].str.contains(f"{column}.max_length"), "_source_line"].tolist() == [2]
    assert steps.publish(run).rows_published == received - summary.rows_quarantined > 0


@pytest.fixture
def department_db(postgres_admin: sa.Engine, monkeypatch) -> str:
    """An Airflow connection (as the secrets backend serves it) to the local PostgreSQL: a departmental database."""
    url = postgres_admin.url
    monkeypatch.setenv("AIRFLOW_CONN_RELIABILITY_SLOW_DB",
                       f"postgres://{url.username}@{url.host}:{url.port or 5432}/{url.database}")
    return "reliability_slow_db"


def sql_dataset(edit_dataset, connection_id: str, query: str, **source: object):
    """The catalogue's SQL-sourced dataset, reading ``query`` on ``connection_id``."""
    source = {"kind": "sql", "connection_id": connection_id, "query": query, **source}
    return edit_dataset(ALLOWANCE, source=Source.model_validate(source)).dataset(ALLOWANCE)


def test_sql_source_that_times_out_fails_with_a_source_error(department_db: str) -> None:
    started = time.monotonic()
    with pytest.raises(SourceError) as error:
        list(read_query(department_db, f"SELECT pg_sleep(30), '{SECRET}' AS v", timeout_s=1))
    assert time.monotonic() - started < 15
    message = str(error.value)
    assert "'reliability_slow_db' failed: QueryCanceled" in message and "statement timeout" in message
    assert SECRET not in message


def test_the_standards_sql_timeout_bounds_pull_dataset(tmp_path: Path, department_db: str, edit_dataset) -> None:
    """``source.timeout_s`` of the dataset standard reaches the database: a 1.5 s query is cancelled by the server
    under ``timeout_s: 1`` (nothing is landed) and completes under ``timeout_s: 5``."""
    query = f"SELECT pg_sleep(1.5) AS slept, '{SECRET}' AS v"
    quick = sql_dataset(edit_dataset, department_db, query, timeout_s=1)
    refused(tmp_path, quick, tmp_path / "landing", "'reliability_slow_db' failed", "QueryCanceled",
            "statement timeout")
    patient = sql_dataset(edit_dataset, department_db, query, timeout_s=5)
    target = tmp_path / "received.parquet"
    assert pull_dataset(patient, landing_root=tmp_path / "landing", day=DAY, target=target).rows == 1
    assert pd.read_parquet(target)["v"].tolist() == [SECRET]


@pytest.mark.parametrize(("query", "problem"), [
    ("SELECT CAST(v AS integer) FROM (VALUES ('110101199003074514')) AS t(v)",
     'NumericValueOutOfRange (value "…" is out of range for type integer)'),
    (f"SELECT CAST(v AS date) FROM (VALUES ('{SECRET}')) AS t(v)",
     'InvalidDatetimeFormat (invalid input syntax for type date: "…")'),
    ("SELECT v FROM no_such_register", 'UndefinedTable (relation "no_such_register" does not exist)'),
], ids=["an ID out of range", "a name that is no date", "a missing table"])
def test_database_errors_never_quote_the_value_they_failed_on(tmp_path: Path, department_db: str, edit_dataset,
                                                               query: str, problem: str) -> None:
    """PostgreSQL quotes the value a cast failed on; that message went into the task log and the run record in
    the warehouse. Quoted values are now cut; quoted names of tables and columns stay."""
    refused(tmp_path, sql_dataset(edit_dataset, department_db, query), tmp_path / "landing", problem)


def test_sql_timeout_is_checked_as_part_of_the_standard(tmp_path: Path) -> None:
    """``timeout_s`` is a positive number of seconds (at most a day), on sql sources only; the checker names the
    file and line of a bad one."""
    standards = Path(shutil.copytree(REPO_ROOT / "standards", tmp_path / "standards"))
    allowance = standards / "datasets" / "civil_affairs" / "subsistence_allowance.yaml"
    original = allowance.read_text(encoding="utf-8")
    line = "    connection_id: civil_affairs_db\n"  # line 14; timeout_s goes on line 15
    allowance.write_text(original.replace(line, f"{line}    timeout_s: 120\n"), encoding="utf-8")
    catalogue, problems = check_catalogue(standards)
    assert problems == [] and catalogue.dataset(ALLOWANCE).source.timeout_s == 120
    allowance.write_text(original.replace(line, f"{line}    timeout_s: 0\n"), encoding="utf-8")
    assert [str(problem) for problem in check_catalogue(standards)[1]] == [
        "datasets/civil_affairs/subsistence_allowance.yaml:15 at dataset.source.timeout_s: "
        "Input should be greater than 0 [schema]"]
    with pytest.raises(ValueError, match="a csv source takes no connection_id, query or timeout_s"):
        Source(kind="csv", timeout_s=60)
    with pytest.raises(ValueError, match="less than or equal to 86400"):
        Source(kind="sql", connection_id="db", query="SELECT 1", timeout_s=86_401)


def test_sqlite_source_locked_past_the_timeout_fails_with_a_source_error(tmp_path: Path, monkeypatch) -> None:
    database = tmp_path / "department.db"
    monkeypatch.setenv("AIRFLOW_CONN_RELIABILITY_LOCKED_DB", f"sqlite:///{database}")
    holder = sa.create_engine(f"sqlite:///{database}")
    with holder.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE t (v TEXT)")
        connection.exec_driver_sql(f"INSERT INTO t VALUES ('{SECRET}')")
        connection.commit()
        connection.exec_driver_sql("BEGIN EXCLUSIVE")  # the department's system holds the file
        started = time.monotonic()
        with pytest.raises(SourceError) as error:
            list(read_query("reliability_locked_db", "SELECT v FROM t", timeout_s=1))
        assert 0.5 < time.monotonic() - started < 10
        connection.rollback()
    holder.dispose()
    assert "'reliability_locked_db' failed: OperationalError (database is locked)" in str(error.value)
    assert SECRET not in str(error.value)


# ------------------------------------------------------------------------------------------------
# Steps-level: the real pull and validate steps on a demo night (SQLite warehouse, tmp var root).
# ------------------------------------------------------------------------------------------------

@pytest.fixture
def night(tmp_path: Path, monkeypatch, catalogue):
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse' / 'warehouse.db'}")
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_KEYRING", keyring_to_json(generate_keyring()))
    settings = get_settings()
    write_demo_data(catalogue, settings.landing_root, settings.var_root, DAY, rows=60, defect_share=0.0)
    return settings


def resident_drop(settings) -> Path:
    return next((settings.landing_root / "public_security" / "resident_population" / DAY.isoformat()).glob("*.csv"))


def rewrite(path: Path, edit) -> None:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    rows = edit(rows)
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    redeliver(path)


def shared_tables(run: steps.Run) -> list[str]:
    return sa.inspect(run.engine).get_table_names(schema="shared")


def failed_run(run: steps.Run, *reasons: str) -> None:
    steps.pull(run)
    with pytest.raises(steps.RunFailed) as error:
        chunked.validate_and_mask(run)
    for reason in reasons:
        assert reason in str(error.value), str(error.value)
    assert RESIDENT_TABLE not in shared_tables(run) and not iter_parts(run.area.masked)  # stopped before masking


def test_header_only_fails_the_verdict_and_publishes_nothing(night) -> None:
    rewrite(resident_drop(night), lambda rows: rows[:1])
    failed_run(steps.Run.create(RESIDENTS, "header_only", DAY), "the drop holds no rows")


def test_missing_column_fails_the_table_columns_rule_and_publishes_nothing(night) -> None:
    rewrite(resident_drop(night), lambda rows: [row[:7] + row[8:] for row in rows])  # no mobile column
    failed_run(steps.Run.create(RESIDENTS, "missing_column", DAY), "table rule failed: table.columns")


def test_columns_in_another_order_are_published_by_name(night) -> None:
    """``table.columns`` is a set rule, so another order passes, and publish maps columns by name."""
    order = [8, 7, 6, 5, 4, 3, 2, 1, 0]
    rewrite(resident_drop(night), lambda rows: [[row[i] for i in order] for row in rows])
    run = steps.Run.create(RESIDENTS, "reordered", DAY)
    received = steps.pull(run).rows_received
    assert chunked.validate_and_mask(run).verdict == "passed"
    assert steps.publish(run).rows_published == received
    with run.engine.connect() as connection:
        regions = connection.execute(sa.text(f"SELECT region_code FROM shared.{RESIDENT_TABLE}")).scalars().all()
    assert len(regions) == received and all(str(region).isdigit() for region in regions)


def test_duplicate_primary_keys_are_quarantined_and_never_published(night) -> None:
    rewrite(resident_drop(night), lambda rows: [*rows, rows[1], rows[1]])
    run = steps.Run.create(RESIDENTS, "duplicates", DAY)
    received = steps.pull(run).rows_received
    summary = chunked.validate_and_mask(run)
    assert summary.verdict == "passed_with_quarantine"
    assert summary.quarantined_by_rule == {"id_number.unique": 3}  # every occurrence, none kept
    quarantined = pd.read_parquet(run.area.quarantined)
    assert quarantined["_source_line"].tolist() == [2, received, received + 1]
    assert steps.publish(run).rows_published == received - 3


def test_duplicate_keys_across_two_files_of_one_drop_are_all_quarantined(night) -> None:
    """Two files of one night sharing a key (a batch exported twice). The uniqueness pass runs over the whole
    landed drop, so across files and across chunks (run here as the DAG runs it, in two chunks): both occurrences
    are quarantined, each with its own file and line, and neither is published."""
    path = resident_drop(night)
    with path.open(encoding="utf-8", newline="") as handle:
        header, *body = list(csv.reader(handle))
    halves = {"a.csv": body[: len(body) // 2], "b.csv": [*body[len(body) // 2:], body[0]]}
    path.unlink()
    for name, rows in halves.items():
        with (path.parent / name).open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerows([header, *rows])
    redeliver(path)
    run = steps.Run.create(RESIDENTS, "two_files", DAY)
    pulled = steps.pull(run)
    assert [Path(name).name for name in pulled.files] == ["a.csv", "b.csv"]
    summary = chunked.validate_and_mask(run, chunk_rows=len(body) // 2 + 1)
    plan = run.area.read_step("plan")
    assert len(plan["chunks"]) == summary.chunks == 2 and plan["unique_rows"] == 2
    assert summary.quarantined_by_rule == {"id_number.unique": 2}
    occurrences = [("a.csv", 2), ("b.csv", len(halves["b.csv"]) + 1)]  # (header on line 1)
    quarantined = pd.read_parquet(run.area.quarantined)
    assert [(Path(name).name, line) for name, line in zip(quarantined["_source_file"], quarantined["_source_line"],
                                                           strict=True)] == occurrences
    assert steps.publish(run).rows_published == pulled.rows_received - 2 == len(body) - 1
    steps.record(run)
    keyring = load_keyring()
    duplicate = pd.DataFrame([dict(zip(header, body[0], strict=True))], dtype="string")
    published_id = mask_frame(duplicate, run.catalogue.columns(run.dataset), keyring).frame["id_number"].iloc[0]
    with run.engine.connect() as connection:
        ids = connection.execute(sa.text(f"SELECT id_number FROM shared.{RESIDENT_TABLE}")).scalars().all()
        entries = connection.execute(sa.text("SELECT source_file, source_line FROM governance.quarantine "
                                             "WHERE run_id = 'two_files' ORDER BY source_line")).all()
    assert published_id not in ids and len(set(ids)) == len(ids) == len(body) - 1
    assert sorted((Path(name).name, line) for name, line in entries) == occurrences


def test_formula_cells_are_escaped_in_the_quarantine_report(night) -> None:
    def poison(rows):
        name, gender, address = (rows[0].index(column) for column in ("name", "gender", "address"))
        rows[1][name], rows[1][gender] = FORMULA, "X"  # gender X is not in the code table: quarantined
        rows[2][address], rows[2][gender] = "@SUM(A1)", "X"
        return rows

    rewrite(resident_drop(night), poison)
    run = steps.Run.create(RESIDENTS, "formula", DAY)
    steps.pull(run)
    summary = chunked.validate_and_mask(run)
    assert summary.rows_quarantined == 2
    report_csv = next(Path(path) for path in summary.reports if path.endswith(".csv"))
    with report_csv.open(encoding="utf-8-sig", newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert "'" + FORMULA in cells and "'@SUM(A1)" in cells
    assert not any(cell.startswith(("=", "@", "+")) for cell in cells)


def test_xlsx_reads_the_declared_sheet_and_flags_merged_cells(night) -> None:
    """Another sheet first, and merged name cells: only 参保信息 is read, the merged-away cell is empty (never
    copied from its neighbour) and its row is quarantined by ``name.not_null``."""
    path = next((night.landing_root / "human_resources" / "social_insurance_enrollment" / DAY.isoformat())
                .glob("*.xlsx"))
    workbook = openpyxl.load_workbook(path)
    notes = workbook.create_sheet("说明", 0)
    notes.append(["填报说明", SECRET])
    sheet = workbook["参保信息"]
    header = [cell.value for cell in sheet[1]]
    name_col = header.index("name") + 1
    kept = sheet.cell(row=2, column=name_col).value
    sheet.merge_cells(start_row=2, start_column=name_col, end_row=3, end_column=name_col)
    workbook.save(path)
    redeliver(path)

    run = steps.Run.create(ENROLMENT, "merged", DAY)
    steps.pull(run)
    received = pd.read_parquet(run.area.received)
    assert list(received.columns[:len(header)]) == header
    assert received.loc[0, "name"] == kept and pd.isna(received.loc[1, "name"])
    assert SECRET not in received.astype(str).to_numpy().ravel().tolist()
    summary = chunked.validate_and_mask(run)
    assert summary.quarantined_by_rule.get("name.not_null") == 1
    quarantined = pd.read_parquet(run.area.quarantined)
    assert 3 in quarantined["_source_line"].tolist()
