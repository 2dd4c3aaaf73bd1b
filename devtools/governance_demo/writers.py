"""Write a demo drop the way its department delivers it: CSV (UTF-8, GB 18030 or UTF-8 with BOM), XLSX split at
Excel's row limit, or a table in the department's SQLite database behind an Airflow connection.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from governance.sources.encodings import GB18030
from governance.standards.catalogue import ResolvedColumn
from governance.standards.models import Dataset
from governance_demo.defects import NUMBER_CELLS

EXCEL_MAX_ROWS = 1_048_575  # data rows under the header row of one worksheet


def write_drop(frame: pd.DataFrame, dataset: Dataset, columns: list[ResolvedColumn], landing_root: Path,
               var_root: Path, day: date) -> list[Path]:
    """Write the night's frame for ``dataset``; return the files written (for SQL: the database)."""
    source = dataset.source
    if source.kind == "sql":
        database = var_root / "departments" / f"{dataset.department}.db"
        match = re.search(r"\bFROM\s+([A-Za-z_][A-Za-z0-9_]*)", source.query or "", flags=re.IGNORECASE)
        _write_sqlite(frame, columns, database, match[1] if match else dataset.name)
        _register_connection(var_root / "secrets" / "connections.json", source.connection_id or dataset.name,
                             f"sqlite:///{database.resolve()}")
        return [database]
    folder = landing_root / dataset.department / dataset.name / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{dataset.name}_{day:%Y%m%d}"
    pattern = source.pattern
    if pattern.count("*") != 1 or any(c in pattern for c in "?[/"):
        pattern = "*.csv" if source.kind == "csv" else "*.xlsx"
    for stale in folder.glob(pattern.replace("*", f"{stem}*")):  # an earlier, larger run's extra parts
        stale.unlink()
    if source.kind == "csv":
        path = folder / pattern.replace("*", stem)
        # A system that says GBK writes GB 18030 (its four-byte characters for names GBK lacks).
        encoding = {"utf-8": "utf-8", "gbk": GB18030, "gb18030": GB18030, "auto": "utf-8-sig"}[source.encoding]
        with _atomic(path) as partial:
            frame.to_csv(partial, index=False, sep=source.delimiter, encoding=encoding,
                         lineterminator="\r\n" if encoding == GB18030 else "\n")
        return [path]
    sheet = source.sheet if isinstance(source.sheet, str) else "Sheet1"
    paths = []
    for part, start in enumerate(range(0, max(len(frame), 1), EXCEL_MAX_ROWS), start=1):
        path = folder / pattern.replace("*", stem if part == 1 else f"{stem}_{part}")
        with _atomic(path) as partial:
            _write_xlsx(frame.iloc[start:start + EXCEL_MAX_ROWS], columns, partial, sheet, day)
        paths.append(path)
    return paths


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Write to a hidden ``.part`` file beside ``path``, then rename it: a sensor never sees half a file."""
    partial = path.with_name(f".{path.name}.part")
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def _cell_values(frame: pd.DataFrame, columns: list[ResolvedColumn]) -> list[np.ndarray]:
    """Per column, values as a spreadsheet or database holds them: numbers as numbers, NA as None, and an
    ID that a spreadsheet turned into a number (the scientific-notation defect, the cells ``NUMBER_CELLS``
    marks) as that number."""
    typed = frame[NUMBER_CELLS].to_numpy(dtype=object, na_value=None) if NUMBER_CELLS in frame.columns else None
    out = []
    for column in columns:
        values = frame[column.name].to_numpy(dtype=object, na_value=None)
        kind = column.element.type
        if kind in ("decimal", "integer"):
            cast = float if kind == "decimal" else int
            values = np.array([None if v is None else cast(v) for v in values], dtype=object)
        elif column.element.domain.validator == "resident_id":
            numeric = frame[column.name].str.fullmatch(r"\d\.\d+E\+\d+").fillna(False).to_numpy(dtype=bool)
            values[numeric] = [float(v) for v in values[numeric]]
        if typed is not None:
            number = typed == column.name
            values[number] = [float(v) for v in values[number]]
        out.append(values)
    return out


def _write_xlsx(frame: pd.DataFrame, columns: list[ResolvedColumn], path: Path, sheet: str, day: date) -> None:
    workbook = Workbook(write_only=True)
    workbook.properties.created = workbook.properties.modified = pd.Timestamp(day).to_pydatetime()
    worksheet = workbook.create_sheet(title=sheet)
    worksheet.append([WriteOnlyCell(worksheet, value=column.name) for column in columns])
    for row in zip(*_cell_values(frame, columns), strict=True):
        worksheet.append(row)
    workbook.save(path)


def _write_sqlite(frame: pd.DataFrame, columns: list[ResolvedColumn], database: Path, table: str) -> None:
    database.parent.mkdir(parents=True, exist_ok=True)
    types = {"integer": "INTEGER", "decimal": "DECIMAL"}
    definitions = ", ".join(
        f'"{c.name}" ' + (f"DECIMAL({c.element.precision[0]},{c.element.precision[1]})"
                          if c.element.type == "decimal" and c.element.precision else types.get(c.element.type, "TEXT"))
        for c in columns)
    names = ", ".join(f'"{c.name}"' for c in columns)
    rows = list(zip(*_cell_values(frame, columns), strict=True))
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(f'DROP TABLE IF EXISTS "{table}"')
        connection.execute(f'CREATE TABLE "{table}" (record_no INTEGER PRIMARY KEY, {definitions})')
        connection.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})', rows)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()


def _register_connection(file: Path, connection_id: str, uri: str) -> None:
    """Add the connection to an Airflow ``LocalFilesystemBackend`` JSON file, keeping other entries."""
    entries: dict[str, object] = {}
    if file.exists() and file.read_text(encoding="utf-8").strip():
        entries = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(entries, dict):
            raise ValueError(f"{file} must hold a JSON object of connection id -> connection")
    entries[connection_id] = uri
    file.parent.mkdir(parents=True, exist_ok=True)
    with _atomic(file) as partial:
        partial.write_text(json.dumps(entries, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
