"""Read an Excel sheet cell by cell, keeping each cell's type, not only its text.

A cell Excel holds as a number cannot carry an identifier: past 15 significant digits Excel has already
changed the digits when the file was saved (``330106199001011234`` is stored as ``3.30106199001011E+17``), and a
code loses its leading zeros (``01`` becomes ``1``). Read as text, such a cell looks like digits a department
typed, and about one changed ID in eleven even carries a valid check character. So the reader keeps openpyxl's
cell data type and, for every column whose element is text (identifiers, codes, names...), marks the rows whose
cell there is a number or a date in ``_numeric_cells`` (the column names, comma-separated): validation
quarantines those cells as ``numeric_cell`` whatever digits they show (``validation.runner``).

Number and date elements take number and date cells: a date cell is read in the workbook's own date system
(1900 or 1904, ``workbook.epoch``; openpyxl converts the serial Excel stores) and written as text in the
element's format, so the date rule judges it like any text date; a number is written in plain decimal notation.
A bare number in a date column stays its digits (the date rule refuses it): ``2024`` typed as a year would
otherwise become the serial date 1905-07-16. An error cell is read as the error Excel shows (``#N/A``), so the
column's rules judge it like any delivered text instead of it silently becoming empty.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd

from governance.redaction.untrusted import is_safe_name
from governance.sources.errors import SourceError
from governance.standards.catalogue import ResolvedColumn
from governance.standards.formats import strftime_format

NUMERIC_CELLS = "_numeric_cells"
_NUMBER, _DATE, _TEXT, _ERROR = "n", "d", "s", "e"  # openpyxl's cell data types, as read
_DATE_TYPES = ("date", "datetime")


@dataclass(frozen=True)
class Expected:
    """What a column's element holds: its data type and, for dates, the strftime format its text must have."""

    type: str
    date_format: str | None = None


def expected_types(columns: Iterable[ResolvedColumn]) -> dict[str, Expected]:
    return {column.name: Expected(column.element.type,
                                  strftime_format(column.element.format, column.element.type)
                                  if column.element.type in _DATE_TYPES else None)
            for column in columns}


def read_sheet(path: Path, sheet: str | int, expected: dict[str, Expected]) -> pd.DataFrame:
    """The sheet as text columns (header on row 1, empty cells NA) plus ``_numeric_cells``.

    Columns the standard does not know are read as text and never marked: the column-set rule fails the run.
    """
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except Exception as error:
        raise SourceError(f"{path}: not a readable Excel workbook ({type(error).__name__})") from None
    try:
        names = book.sheetnames
        if (sheet not in names) if isinstance(sheet, str) else not 0 <= sheet < len(names):
            shown = ", ".join(repr(name) if is_safe_name(name) else f"sheet {number}"
                              for number, name in enumerate(names, start=1))
            raise SourceError(f"{path}: sheet {sheet!r} not found (the workbook has {shown})")
        worksheet = book[sheet] if isinstance(sheet, str) else book.worksheets[sheet]
        worksheet.reset_dimensions()  # a sheet's declared size can be wrong: read to its real end
        header, body, flagged = _read_rows(worksheet.iter_rows(), expected)
    except SourceError:
        raise
    except Exception as error:
        raise SourceError(f"{path}: not a readable Excel workbook ({type(error).__name__})") from None
    finally:
        book.close()
    columns = list(itertools.zip_longest(*body)) if body else []
    width = max(len(header), len(columns))
    header += [f"Unnamed: {index}" for index in range(len(header), width)]
    columns += [(None,) * len(body)] * (width - len(columns))
    frame = pd.DataFrame({index: pd.array(values, dtype="string") for index, values in enumerate(columns)},
                         index=pd.RangeIndex(len(body)))
    frame.columns = header
    marker = np.full(len(body), None, dtype=object)
    for row, index in flagged:
        marker[row] = header[index] if marker[row] is None else f"{marker[row]},{header[index]}"
    frame[NUMERIC_CELLS] = pd.array(marker, dtype="string")
    return frame


def _read_rows(rows: Iterator[tuple],
               expected: dict[str, Expected]) -> tuple[list[str], list[list[str | None]], list[tuple[int, int]]]:
    """Header names, the body as text rows (trailing empty rows dropped) and the (row, column) positions of
    number and date cells in text columns."""
    first = next(rows, ())
    header = [_header_name(cell.value, index) for index, cell in enumerate(first)]
    kinds = [expected.get(name) for name in header]
    text = [kind is not None and kind.type == "string" for kind in kinds]
    body: list[list[str | None]] = []
    flagged: list[tuple[int, int]] = []
    filled = 0  # rows up to the last one holding a value
    for row in rows:
        values: list[str | None] = []
        for index, cell in enumerate(row):
            value = cell.value
            if value is None:
                values.append(None)
                continue
            data_type = cell.data_type
            if data_type == _TEXT:
                values.append(value or None)
                continue
            kind = kinds[index] if index < len(kinds) else None
            values.append(_text(value, data_type, kind))
            if data_type in (_NUMBER, _DATE) and index < len(text) and text[index]:
                flagged.append((len(body), index))
        body.append(values)
        if any(value is not None for value in values):
            filled = len(body)
    return header, body[:filled], [(row, index) for row, index in flagged if row < filled]


def _header_name(value: object, index: int) -> str:
    if value is None or value == "":
        return f"Unnamed: {index}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number_text(value)
    return str(value).strip().lstrip("\ufeff")


def _text(value: object, data_type: str, kind: Expected | None) -> str | None:
    """A cell's text as the validator judges it (see the module docstring); None for an empty cell. An error
    cell keeps the error Excel shows (``#N/A``, ``#REF!``): as an empty value it would vanish from an optional
    column, or be quarantined as missing when the department's formula is what broke."""
    if data_type == _ERROR:
        return str(value)
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return _number_text(value)
    if isinstance(value, datetime.datetime) and kind is not None and kind.type in _DATE_TYPES:
        return _date_text(value, kind)
    if isinstance(value, datetime.datetime):
        return value.isoformat(" ")
    return str(value)  # a time or a duration


def _date_text(value: object, kind: Expected) -> str:
    """A date element takes a whole day; a time of day in it stays visible, so the date rule refuses it."""
    if not isinstance(value, datetime.datetime):
        return str(value)
    if kind.type == "date" and value.time() != datetime.time(0):
        return value.isoformat(" ")
    return value.strftime(kind.date_format or "%Y-%m-%d")


def _number_text(value: int | float) -> str:
    """Plain decimal notation with the digits the cell holds (never ``1e-05``, never a spurious ``.0``)."""
    return str(value) if isinstance(value, int) else np.format_float_positional(value, trim="-")
