"""Bad departmental inputs through the real pull step (and the validate step where the data, not the file, is
wrong): each gives a ``SourceError`` naming the file and the problem without quoting a cell, or a quarantine
entry, and nothing is published. The catalogue is the repository's; drops are written into a tmp landing area."""

from __future__ import annotations

import csv
import datetime
import time
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa

from governance.demo import write_demo_data
from governance.masking import generate_keyring, keyring_to_json
from governance.pipeline import steps
from governance.settings import get_settings
from governance.sources import SourceError, pull_dataset
from governance.sources.database import read_query
from governance.sources.pull import landing_folder

DAY = datetime.date(2026, 11, 27)
RESIDENTS = "public_security/resident_population"  # CSV declared utf-8
RATINGS = "taxation/taxpayer_credit_rating"  # CSV declared gbk
ENROLMENT = "human_resources/social_insurance_enrollment"  # Excel, sheet 参保信息
RESIDENT_TABLE = "public_security__resident_population"
SECRET = "机密样本值"  # a cell value: it must never appear in an error message
HEADER = "id_number,name,gender,birth_date,ethnicity,region_code,address,mobile,updated_at"
ROW = f"110101199003074514,张三,1,1990-03-07,01,110101,{SECRET},13900000001,2026-11-27 08:00:00"
FORMULA = "=cmd|' /C calc'!A0"


# ------------------------------------------------------------------------------------------------
# Pull-level: the file cannot be read; SourceError names the file and the problem; nothing is landed.
# ------------------------------------------------------------------------------------------------

def drop(tmp_path: Path, dataset, files: dict[str, bytes]) -> Path:
    folder = landing_folder(tmp_path / "landing", dataset, DAY)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return tmp_path / "landing"


def refused(tmp_path: Path, dataset, landing_root: Path, *problem: str) -> str:
    target = tmp_path / "work" / "received.parquet"
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
                                ["drop.csv", "line 2 is not valid utf-8"]),
    "UTF-8 file declared gbk": (
        RATINGS, {"drop.csv": f"credit_code,taxpayer_name,rating,evaluated_on,updated_at\n"
                              f"91110000100000000X,{SECRET}有限公司,A,2026-11-01,2026-11-27 08:00:00\n".encode()},
        ["drop.csv", "line 2 is not valid gbk"]),
    "unbalanced quotes": (RESIDENTS, {"drop.csv": f'{HEADER}\n{ROW}\n"{ROW}\n{ROW}\n'.encode()},
                          ["drop.csv", "unbalanced double quotes", "not closed"]),
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
    key, files, problem = CSV_CASES[case]
    dataset = catalogue.dataset(key)
    refused(tmp_path, dataset, drop(tmp_path, dataset, files), *problem)


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
    target = tmp_path / "received.parquet"
    result = pull_dataset(dataset, landing_root=landing_root, day=DAY, target=target)
    frame = pd.read_parquet(target)
    assert result.rows == 2 and result.columns == HEADER.split(",")
    assert frame["id_number"].tolist() == ["010101199003074514", "110101199003074514"]
    assert frame["updated_at"].tolist() == ["2026-11-27 08:00:00"] * 2
    assert frame["_source_line"].tolist() == [2, 3]


def test_sql_source_that_times_out_fails_with_a_source_error(postgres_admin: sa.Engine, monkeypatch) -> None:
    url = postgres_admin.url
    monkeypatch.setenv("AIRFLOW_CONN_RELIABILITY_SLOW_DB",
                       f"postgres://{url.username}@{url.host}:{url.port or 5432}/{url.database}")
    started = time.monotonic()
    with pytest.raises(SourceError) as error:
        list(read_query("reliability_slow_db", f"SELECT pg_sleep(30), '{SECRET}' AS v", timeout_s=1))
    assert time.monotonic() - started < 15
    message = str(error.value)
    assert "'reliability_slow_db' failed: QueryCanceled" in message and "statement timeout" in message
    assert SECRET not in message


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


def shared_tables(run: steps.Run) -> list[str]:
    return sa.inspect(run.engine).get_table_names(schema="shared")


def failed_run(run: steps.Run, *reasons: str) -> None:
    steps.pull(run)
    with pytest.raises(steps.RunFailed) as error:
        steps.validate(run)
    for reason in reasons:
        assert reason in str(error.value), str(error.value)
    assert RESIDENT_TABLE not in shared_tables(run) and not run.area.masked.exists()


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
    received = steps.pull(run)["rows_received"]
    assert steps.validate(run)["verdict"] == "passed"
    steps.mask(run)
    assert steps.publish(run)["rows_published"] == received
    with run.engine.connect() as connection:
        regions = connection.execute(sa.text(f"SELECT region_code FROM shared.{RESIDENT_TABLE}")).scalars().all()
    assert len(regions) == received and all(str(region).isdigit() for region in regions)


def test_duplicate_primary_keys_are_quarantined_and_never_published(night) -> None:
    rewrite(resident_drop(night), lambda rows: [*rows, rows[1], rows[1]])
    run = steps.Run.create(RESIDENTS, "duplicates", DAY)
    received = steps.pull(run)["rows_received"]
    summary = steps.validate(run)
    assert summary["verdict"] == "passed_with_quarantine"
    assert summary["quarantined_by_rule"] == {"id_number.unique": 3}  # every occurrence, none kept
    quarantined = pd.read_parquet(run.area.quarantined)
    assert quarantined["_source_line"].tolist() == [2, received, received + 1]
    steps.mask(run)
    assert steps.publish(run)["rows_published"] == received - 3


def test_formula_cells_are_escaped_in_the_quarantine_report(night) -> None:
    def poison(rows):
        name, gender, address = (rows[0].index(column) for column in ("name", "gender", "address"))
        rows[1][name], rows[1][gender] = FORMULA, "X"  # gender X is not in the code table: quarantined
        rows[2][address], rows[2][gender] = "@SUM(A1)", "X"
        return rows

    rewrite(resident_drop(night), poison)
    run = steps.Run.create(RESIDENTS, "formula", DAY)
    steps.pull(run)
    summary = steps.validate(run)
    assert summary["rows_quarantined"] == 2
    report_csv = next(Path(path) for path in summary["reports"] if path.endswith(".csv"))
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

    run = steps.Run.create(ENROLMENT, "merged", DAY)
    steps.pull(run)
    received = pd.read_parquet(run.area.received)
    assert list(received.columns[:len(header)]) == header
    assert received.loc[0, "name"] == kept and pd.isna(received.loc[1, "name"])
    assert SECRET not in received.astype(str).to_numpy().ravel().tolist()
    summary = steps.validate(run)
    assert summary["quarantined_by_rule"].get("name.not_null") == 1
    quarantined = pd.read_parquet(run.area.quarantined)
    assert 3 in quarantined["_source_line"].tolist()
