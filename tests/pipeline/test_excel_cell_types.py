"""Excel cells typed as numbers in identifier and code columns are quarantined as ``numeric_cell`` and never
published, through the production path (the pull step, then the chunked validate, mask and publish the DAG runs);
number and date cells stay accepted in number and date columns, in both Excel date systems. A departmental
database that returns an identifier column as numbers refuses the pull, naming the column."""

from __future__ import annotations

import csv
import datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa
from governance_demo import write_demo_data
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, to_excel

from governance.identifiers import (
    credit_code_reasons,
    make_credit_code,
    resident_id_check_character,
    resident_id_reasons,
)
from governance.keys import generate_keyring, keyring_to_json, load_keyring
from governance.masking import mask_frame
from governance.pipeline import chunked, steps
from governance.settings import get_settings
from governance.sources import SourceError, pull_dataset
from governance.sources.cells import NUMERIC_CELLS
from governance.sources.delivery import write_manifest
from governance.sources.pull import landing_folder
from governance.standards.models import Source
from governance.validation.preview import preview
from governance.validation.reasons import EXPLANATIONS

DAY = datetime.date(2026, 11, 27)
ENROLMENT = "human_resources/social_insurance_enrollment"  # Excel, sheet 参保信息
ALLOWANCE = "civil_affairs/subsistence_allowance"  # SQL
TABLE = "human_resources__social_insurance_enrollment"
HEADER = ["id_number", "name", "insurance_type", "employer_credit_code", "contribution_base", "enrolled_on",
          "updated_at"]
# Excel keeps 15 significant digits of a number: these are the cells a department's ID and credit code become.
# Both pass their checks once read back as digits (about 1 in 11 changed IDs do): only the cell type tells.
ID_DIGITS = "330106199003079000"  # was 330106199003079422
FAILING_ID_DIGITS = "110101199003074000"  # was 110101199003074514; its check character is now wrong
CODE_DIGITS = "121100001000061000"  # a public institution's credit code, digits only
ID_AS_NUMBER, ID_AS_NUMBER_FAILING, CODE_AS_NUMBER = float(ID_DIGITS), float(FAILING_ID_DIGITS), float(CODE_DIGITS)
EMPLOYER = make_credit_code("91330106", "MA2B3C4D")
CLEAN_ROWS = 50  # after the cases, so the night stays under the standard's 20% quarantine limit
ENROLLED = datetime.datetime(2020, 1, 3)
UPDATED = datetime.datetime(2026, 11, 27, 8, 30, 15)


def valid_id(sequence: int) -> str:
    first17 = f"3301061985112{sequence:04d}"
    return first17 + resident_id_check_character(pd.Series([first17])).iloc[0]


def text_row(sequence: int) -> list[object]:
    return [valid_id(sequence), "张三", "110", EMPLOYER, "5000.00", "2020-01-01", "2026-11-27 08:00:00"]


def with_cells(sequence: int, **cells: object) -> list[object]:
    row = text_row(sequence)
    for name, value in cells.items():
        row[HEADER.index(name)] = value
    return row


# line -> (row as written, reasons expected in the quarantine or None when it is published)
def cases(epoch: datetime.datetime) -> dict[int, tuple[list[object], str | None]]:
    serial = to_excel(ENROLLED, epoch)
    return {
        2: (text_row(1), None),
        3: (with_cells(2, id_number=ID_AS_NUMBER), "numeric_cell"),
        4: (with_cells(3, id_number=ID_AS_NUMBER_FAILING), "numeric_cell"),
        5: (with_cells(4, employer_credit_code=CODE_AS_NUMBER), "numeric_cell"),
        6: (with_cells(5, insurance_type=110), "numeric_cell"),  # in the code table once read: still refused
        7: (with_cells(6, contribution_base=5000.5, enrolled_on=ENROLLED, updated_at=UPDATED), None),
        8: (with_cells(7, enrolled_on=serial), "bad_date"),  # a bare number in a date column is no date
        9: (with_cells(8, enrolled_on="2020-13-01"), "bad_date"),  # text dates still meet the date rule
        10: (with_cells(9, id_number=ID_AS_NUMBER, insurance_type=210), "numeric_cell"),
        11: (with_cells(10, contribution_base=1234.567), "bad_number"),  # a number cell still meets its rule
        12: (with_cells(11, name=12345), "numeric_cell"),  # any text element
        13: (with_cells(12, insurance_type=ENROLLED), "numeric_cell"),  # a date cell is a number too
    } | {line: (text_row(line), None) for line in range(14, 14 + CLEAN_ROWS)}


def write_workbook(path: Path, rows: list[list[object]], epoch: datetime.datetime) -> None:
    """As Excel saves it: numbers and dates are number cells, dates with a date format, in ``epoch``'s system."""
    workbook = openpyxl.Workbook()
    workbook.epoch = epoch
    sheet = workbook.active
    sheet.title = "参保信息"
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    workbook.save(path)


@pytest.fixture
def night(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse' / 'warehouse.db'}")
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_KEYRING", keyring_to_json(generate_keyring()))
    return get_settings()


def test_the_test_cells_pass_their_checks_once_read_as_digits() -> None:
    """What made these cells dangerous: read as text they look valid (so only their type can refuse them)."""
    assert resident_id_reasons(pd.Series([ID_DIGITS]), today=DAY).isna().all()
    assert credit_code_reasons(pd.Series([CODE_DIGITS])).isna().all()
    assert resident_id_reasons(pd.Series([FAILING_ID_DIGITS]), today=DAY).tolist() == ["bad_check_character"]


@pytest.mark.parametrize("epoch", [CALENDAR_WINDOWS_1900, CALENDAR_MAC_1904], ids=["1900", "1904"])
def test_number_cells_in_text_columns_are_quarantined_and_never_published(night, catalogue, epoch) -> None:
    dataset = catalogue.dataset(ENROLMENT)
    expected = cases(epoch)
    folder = landing_folder(night.landing_root, dataset, DAY)
    folder.mkdir(parents=True)
    write_workbook(folder / "enrolment.xlsx", [row for row, _ in expected.values()], epoch)
    write_manifest(folder, dataset, DAY, "test export")

    run = steps.Run.create(ENROLMENT, f"cells_{1904 if epoch == CALENDAR_MAC_1904 else 1900}", DAY)
    steps.pull(run)
    received = pd.read_parquet(run.area.received)
    # Dates and numbers in their own columns read as the text the rules expect, in either date system.
    assert received["enrolled_on"].tolist()[5:7] == ["2020-01-03", str(int(to_excel(ENROLLED, epoch)))]
    assert received.loc[5, "updated_at"] == "2026-11-27 08:30:15"
    assert received.loc[5, "contribution_base"] == "5000.5"
    assert received.loc[1, "id_number"] == ID_DIGITS  # the digits the number cell holds, as Excel shows them
    assert received.loc[2, "id_number"] == FAILING_ID_DIGITS
    assert received.loc[3, "employer_credit_code"] == CODE_DIGITS
    summary = chunked.validate_and_mask(run, chunk_rows=8)  # the number cells spread over two chunks
    steps.publish(run)
    steps.record(run)

    quarantined = pd.read_parquet(run.area.quarantined)
    reasons = dict(zip(quarantined["_source_line"], quarantined["_reasons"], strict=True))
    assert reasons == {line: reason for line, (_, reason) in expected.items() if reason}
    rules = dict(zip(quarantined["_source_line"], quarantined["_rules"], strict=True))
    assert rules[3] == "id_number.text_cell" and rules[5] == "employer_credit_code.text_cell"
    assert rules[10] == "id_number.text_cell; insurance_type.text_cell"
    assert summary.quarantined_by_rule["id_number.text_cell"] == 3
    assert summary.rows_quarantined == 10 and summary.rows_passed == len(expected) - 10

    as_read = received.drop(columns=[c for c in received.columns if c.startswith("_")])
    ids = mask_frame(as_read, run.catalogue.columns(run.dataset), load_keyring()).frame["id_number"]
    published_lines = {line for line, (_, reason) in expected.items() if reason is None}
    with run.engine.connect() as connection:
        published = set(connection.execute(sa.text(f"SELECT id_number FROM shared.{TABLE}")).scalars())
        entries = connection.execute(sa.text("SELECT count(*) FROM governance.quarantine WHERE run_id = :run"),
                                     {"run": run.run_id}).scalar_one()
    assert published == {ids[line - 2] for line in published_lines}
    assert entries == 10 and len(published) == len(published_lines) == 2 + CLEAN_ROWS

    report = next(Path(path) for path in summary.reports if path.endswith(".csv"))
    with report.open(encoding="utf-8-sig", newline="") as handle:
        lines = {int(row["source_line"]): row for row in csv.DictReader(handle)}
    assert lines[3]["reasons"] == "numeric_cell" and lines[3]["说明"] == EXPLANATIONS["numeric_cell"]
    assert "文本" in lines[3]["说明"] and "单引号" in lines[3]["说明"]
    assert lines[9]["说明"] == EXPLANATIONS["bad_date"]
    assert "说明" in next(Path(path) for path in summary.reports if path.endswith(".html")).read_text()


def test_one_chunk_run_and_preview_agree(night, catalogue) -> None:
    """A run of one chunk (the whole drop at once) and ``suites preview`` read the same marks and report the
    same rule."""
    dataset = catalogue.dataset(ENROLMENT)
    expected = cases(CALENDAR_WINDOWS_1900)
    folder = landing_folder(night.landing_root, dataset, DAY)
    folder.mkdir(parents=True)
    write_workbook(folder / "enrolment.xlsx", [row for row, _ in expected.values()], CALENDAR_WINDOWS_1900)
    write_manifest(folder, dataset, DAY, "test export")
    run = steps.Run.create(ENROLMENT, "one_chunk", DAY)
    steps.pull(run)
    summary = chunked.validate_and_mask(run)
    assert summary.chunks == 1
    assert summary.quarantined_by_rule["id_number.text_cell"] == 3
    assert summary.rows_quarantined == sum(reason is not None for _, reason in expected.values())
    result = preview(catalogue, ENROLMENT, folder / "enrolment.xlsx")
    by_rule = {rule.rule: rule for rule in result.rules}
    assert by_rule["id_number.text_cell"].failing_rows == 3
    assert by_rule["id_number.text_cell"].examples[0].startswith("line 3  numeric_cell  id_number=")
    assert by_rule["id_number.resident_id"].failing_rows == 0  # the number cell is not judged as typed digits


# ------------------------------------------------------------------------------------------------
# Departmental databases: a numeric column for a text element refuses the pull, naming the column.
# ------------------------------------------------------------------------------------------------

ALLOWANCE_COLUMNS = ("id_number, name, assistance_type, region_code, benefit_amount, approved_on, remarks, "
                     "updated_at")
DB_ID = "330106199003079422"
ALLOWANCE_VALUES = ("'某某', '01', '330106', 1200.50, '2026-01-05', NULL, '2026-11-27 08:00:00'")


def sql_dataset(edit_dataset, connection_id: str):
    source = Source(kind="sql", connection_id=connection_id, query=f"SELECT {ALLOWANCE_COLUMNS} FROM recipients")
    return edit_dataset(ALLOWANCE, source=source).dataset(ALLOWANCE)


def pull_refused(tmp_path: Path, dataset, column: str) -> None:
    target = tmp_path / "received.parquet"
    with pytest.raises(SourceError) as error:
        pull_dataset(dataset, landing_root=tmp_path, day=DAY, target=target)
    message = str(error.value)
    assert f"列 '{column}' 是数值类型" in message and f"column '{column}' is numeric" in message, message
    assert DB_ID not in message and "330106" not in message
    assert not target.exists()


def create_table(engine: sa.Engine, id_type: str) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text(
            f"CREATE TABLE recipients (id_number {id_type}, name TEXT, assistance_type TEXT, region_code TEXT, "
            "benefit_amount DECIMAL(10, 2), approved_on TEXT, remarks TEXT, updated_at TEXT)"))
        connection.execute(sa.text(f"INSERT INTO recipients ({ALLOWANCE_COLUMNS}) VALUES "
                                   f"('{DB_ID}', {ALLOWANCE_VALUES})"))  # an INTEGER column takes it as a number


def test_sqlite_integer_id_column_refuses_the_pull(tmp_path: Path, monkeypatch, edit_dataset) -> None:
    database = tmp_path / "department.db"
    monkeypatch.setenv("AIRFLOW_CONN_CELLS_SQLITE_DB", f"sqlite:///{database}")
    engine = sa.create_engine(f"sqlite:///{database}")
    create_table(engine, "INTEGER")
    dataset = sql_dataset(edit_dataset, "cells_sqlite_db")
    pull_refused(tmp_path, dataset, "id_number")
    with engine.begin() as connection:  # the same values as text, and the amount still a number: pulled
        connection.execute(sa.text("DROP TABLE recipients"))
    create_table(engine, "TEXT")
    engine.dispose()
    target = tmp_path / "received.parquet"
    assert pull_dataset(dataset, landing_root=tmp_path, day=DAY, target=target).rows == 1
    frame = pd.read_parquet(target)
    assert frame["id_number"].tolist() == [DB_ID] and frame["benefit_amount"].tolist() == ["1200.5"]


@pytest.mark.postgres
def test_postgres_bigint_id_column_refuses_the_pull(tmp_path: Path, monkeypatch, edit_dataset,
                                                     postgres_database: str) -> None:
    url = sa.make_url(postgres_database)
    monkeypatch.setenv("AIRFLOW_CONN_CELLS_PG_DB",
                       f"postgres://{url.username}@{url.host}:{url.port or 5432}/{url.database}")
    engine = sa.create_engine(postgres_database)
    create_table(engine, "BIGINT")
    pull_refused(tmp_path, sql_dataset(edit_dataset, "cells_pg_db"), "id_number")
    with engine.begin() as connection:  # a code kept as a number: '01' is already 1
        connection.execute(sa.text("ALTER TABLE recipients ALTER COLUMN id_number TYPE TEXT, "
                                   "ALTER COLUMN assistance_type TYPE INTEGER USING assistance_type::integer"))
    engine.dispose()
    pull_refused(tmp_path, sql_dataset(edit_dataset, "cells_pg_db"), "assistance_type")


def test_demo_workbook_quarantines_its_number_cells_as_planted(night, catalogue) -> None:
    """``make demo``'s workbook: every planted number cell (the typed-as-number IDs and codes, and the IDs in
    scientific notation, which are numbers in a workbook) is quarantined as ``numeric_cell``, and the rows
    quarantined for other reasons than a repeated key are exactly the other planted defects."""
    drops = write_demo_data(catalogue, night.landing_root, night.var_root, DAY, rows=2000)
    defects = next(drop for drop in drops if drop.dataset == ENROLMENT).defects
    run = steps.Run.create(ENROLMENT, "demo_workbook", DAY)
    steps.pull(run)
    summary = chunked.validate_and_mask(run)
    quarantined = pd.read_parquet(run.area.quarantined)
    numeric = quarantined["_reasons"].str.contains("numeric_cell")
    assert numeric.sum() == defects["id_number_cell"] + defects["code_number_cell"] + \
        defects["id_scientific_notation"] > 0
    assert (quarantined.loc[numeric, "_reasons"] == "numeric_cell").all()
    repeated_only = (quarantined["_reasons"] == "duplicate_key").sum()
    assert len(quarantined) - repeated_only == sum(defects.values()) - defects["duplicate_key"]
    assert summary.verdict == "passed_with_quarantine"


def test_a_number_cell_reports_numeric_cell_alone_for_its_column(catalogue) -> None:
    """The validator every path calls (``validate_frame``): a marked cell gets ``numeric_cell``; the rules on its
    column, the cross-field rules reading it included, are not reported for it; other columns still are."""
    from governance.settings import get_settings
    from governance.validation.runner import load_suite, validate_frame
    from governance.validation.suites import suite_path

    dataset = catalogue.dataset("public_security/resident_population")
    row = {"id_number": valid_id(1), "name": "张三", "gender": "1", "birth_date": "1985-11-20", "ethnicity": "01",
           "region_code": "330106", "address": "浙江省杭州市西湖区某路1号", "mobile": "13900000001",
           "updated_at": "2026-11-27 08:00:00", NUMERIC_CELLS: None}
    rows = [row,
            row | {"id_number": FAILING_ID_DIGITS, "gender": "1", NUMERIC_CELLS: "id_number"},  # digits: female, 1990
            row | {"id_number": valid_id(3), "ethnicity": "1", NUMERIC_CELLS: "ethnicity"},
            row | {"id_number": valid_id(5), "ethnicity": "1", "name": None, NUMERIC_CELLS: "ethnicity"}]
    frame = pd.DataFrame(rows, dtype="string")
    outcome = validate_frame(frame, load_suite(suite_path(dataset, get_settings().expectations_root)),
                             dataset_key=dataset.key)
    failures = outcome.row_failures
    assert sorted(zip(failures["row"], failures["rule"], failures["reason"], strict=True)) == [
        (1, "id_number.text_cell", "numeric_cell"),
        (2, "ethnicity.text_cell", "numeric_cell"),
        (3, "ethnicity.text_cell", "numeric_cell"),
        (3, "name.not_null", "missing"),
    ]


def test_an_error_cell_is_read_as_the_error_excel_shows_never_as_empty(tmp_path: Path) -> None:
    """`#N/A` / `#REF!` (a department's broken formula) must not vanish from an optional column nor pass as a
    missing value: it is delivered text the column's rules judge (found by review)."""
    from governance.sources.cells import read_sheet

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id_number", "note"])
    sheet.append(["330106199001011234", "#N/A"])
    sheet.append(["#REF!", "ok"])
    assert sheet["B2"].data_type == "e" and sheet["A3"].data_type == "e"
    book.save(tmp_path / "errors.xlsx")
    frame = read_sheet(tmp_path / "errors.xlsx", 0, {})
    assert frame["note"].tolist() == ["#N/A", "ok"]
    assert frame["id_number"].tolist() == ["330106199001011234", "#REF!"]
