"""An Excel drop checked before openpyxl parses it: no cell larger than Excel itself can write.

openpyxl holds each cell's whole text in memory, and a workbook is a zip: a 200 KB file can carry a 200 MB cell
(its XML compresses a thousandfold). Excel never writes a cell of more than 32,767 characters, so a bigger one
comes from a damaged or non-Excel workbook. ``check_workbook`` reads the sheet and shared-text XML a chunk at a
time and refuses a cell whose XML is bigger than any real cell's can be, before anything holds it whole;
``check_cell_lengths`` then applies Excel's exact limit to what was read. Errors name sheet and cell, never a
value (a sheet or column name the department typed is shown only if a safe identifier: ``redaction.untrusted``).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from governance.redaction.untrusted import describe_column, describe_sheet, is_safe_name
from governance.sources.errors import SourceError

EXCEL_CELL_CHARS = 32_767
# The XML of one cell holding 32,767 characters: at most ~330 KB of text (a character reference such as
# "&#x10FFFF;" is 10 bytes) or a few MB with a formatting run per character. Anything bigger is refused unparsed.
MAX_CELL_XML_BYTES = 8 << 20
_CHUNK_BYTES = 1 << 20
_LOOKAHEAD = 8
_TAG_BYTES = 32  # an offset found is where a cell's tag starts, or inside it: read this far on to name the cell
_SHARED = "xl/sharedStrings.xml"
_TOO_LARGE = (f"a cell of more than {EXCEL_CELL_CHARS:,} characters, Excel's own limit (the workbook was not saved by "
              "Excel, or is damaged); fix it and resend the file")
_CELL_REF = re.compile(rb'<c\b[^>]*?\sr="([A-Z]{1,3}[0-9]{1,7})"')
_SHARED_CELL = re.compile(rb'<c\b([^>]*)>\s*<v>([0-9]+)</v>')
_SHEET = re.compile(rb'<sheet\b[^>]*>')


def check_workbook(path: Path, sheet: str | int | None = None) -> None:
    """Refuse a workbook whose sheet or shared-text XML holds a cell bigger than ``MAX_CELL_XML_BYTES``; an
    error names ``sheet`` (the standard's) by name, any other sheet by name only if it is a safe identifier."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return  # not a workbook at all: the reader says so
    with archive:
        for part in archive.namelist():
            if part == _SHARED or (part.startswith("xl/worksheets/") and part.endswith(".xml")):
                offset = _oversized_cell(archive, part)
                if offset is not None:
                    raise SourceError(f"{path}: {_where(archive, part, offset, sheet)}: {_TOO_LARGE}")


def check_cell_lengths(frame: pd.DataFrame, path: Path, sheet: str | int) -> None:
    """Excel's exact limit on the cells read (row numbers as ``_source_line``: the header is row 1)."""
    first: tuple[int, int] | None = None
    for number, column in enumerate(frame.columns):
        over = np.flatnonzero((frame[column].astype("string").str.len() > EXCEL_CELL_CHARS).fillna(False).to_numpy())
        if len(over) and (first is None or (int(over[0]), number) < first):
            first = int(over[0]), number
    if first is not None:
        name = frame.columns[first[1]]
        column = repr(name) if is_safe_name(name) else describe_column(name, first[1] + 1, len(frame.columns))
        raise SourceError(f"{path}: sheet {sheet!r}, row {first[0] + 2}, column {column}: {_TOO_LARGE}")


def _chunks(archive: zipfile.ZipFile, part: str) -> Iterator[tuple[int, np.ndarray, int]]:
    """(offset, bytes, length) of a part's chunks; each array carries ``_LOOKAHEAD`` bytes of what follows."""
    with archive.open(part) as handle:
        offset, data = 0, handle.read(_CHUNK_BYTES)
        while data:
            following = handle.read(_CHUNK_BYTES)
            padded = data + following[:_LOOKAHEAD]
            yield offset, np.frombuffer(padded + b"\0" * (len(data) + _LOOKAHEAD - len(padded)), np.uint8), len(data)
            offset, data = offset + len(data), following


def _markers(array: np.ndarray, tags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which tags (positions of ``<``) open a cell or shared text, and which end one (or its row, or the
    sheet data): ``<c ...>``, ``<si>`` and ``</c>``, ``</si>``, ``</row>``, ``</sheetData>``, ``</sst>``."""
    slash = array[tags + 1] == ord("/")
    name = [np.where(slash, array[tags + 1 + k + 1], array[tags + 1 + k]) for k in range(4)]

    def named(text: bytes, ends: bytes) -> np.ndarray:
        matched = np.ones(len(tags), dtype=bool)
        for k, byte in enumerate(text):
            matched &= name[k] == byte
        return matched & np.isin(name[len(text)], np.frombuffer(ends, np.uint8))

    cell, shared = named(b"c", b" >\t\r\n"), named(b"si", b" >\t\r\n")
    opening = ~slash & (cell | shared)
    closing = slash & (cell | shared | named(b"row", b" >\t\r\n") | named(b"she", b"e") | named(b"sst", b" >"))
    return opening, closing


def _oversized_cell(archive: zipfile.ZipFile, part: str) -> int | None:
    """Offset of the first cell (or run of text) in ``part`` longer than ``MAX_CELL_XML_BYTES``, else None."""
    last_tag, open_cell = 0, -1  # where the last tag starts; where the open cell starts (-1: none open)
    for offset, array, length in _chunks(archive, part):
        tags = np.flatnonzero(array[:length] == ord("<"))
        starts = np.concatenate(([last_tag], tags[:-1] + offset))
        runs = np.flatnonzero(tags + offset - starts > MAX_CELL_XML_BYTES)
        if len(runs):
            return int(starts[runs[0]])
        opening, closing = _markers(array, tags)
        marked = np.flatnonzero(opening | closing)
        positions = np.concatenate(([open_cell], tags[marked] + offset))
        is_open = np.concatenate(([open_cell >= 0], opening[marked]))
        closes = np.flatnonzero(~is_open[1:]) + 1
        spans = closes[is_open[closes - 1]]  # a close right after an open ends that cell
        too_big = np.flatnonzero(positions[spans] - positions[spans - 1] > MAX_CELL_XML_BYTES)
        if len(too_big):
            return int(positions[spans[too_big[0]] - 1])
        if len(marked):
            open_cell = int(positions[-1]) if is_open[-1] else -1
        if len(tags):
            last_tag = int(tags[-1]) + offset
        end = offset + length  # the open cell (or text) is already too big: stop before reading the rest
        if end - last_tag > MAX_CELL_XML_BYTES:
            return last_tag
        if open_cell >= 0 and end - open_cell > MAX_CELL_XML_BYTES:
            return open_cell
    return None


def _where(archive: zipfile.ZipFile, part: str, offset: int, known: str | int | None) -> str:
    """``sheet '<name>', cell B2`` for the cell holding ``offset`` of a part (read again, for the error only)."""
    if part == _SHARED:
        index = _count_shared_before(archive, offset)
        for position, (sheet_part, title) in enumerate(_sheet_titles(archive).items(), start=1):
            reference = _cell_using_shared(archive, sheet_part, index)
            if reference:
                return f"sheet {describe_sheet(title, position, known)}, cell {reference}"
        return f"shared text number {index + 1}"
    titles = list(_sheet_titles(archive).items())
    position = next((number for number, (name, _) in enumerate(titles, start=1) if name == part), None)
    title = describe_sheet(titles[position - 1][1], position, known) if position else part
    reference = None
    for match in _scan(archive, part, _CELL_REF, until=offset + _TAG_BYTES):
        reference = match.group(1).decode()
    return f"sheet {title}" + (f", cell {reference}" if reference else "")


def _scan(archive: zipfile.ZipFile, part: str, pattern: re.Pattern[bytes], *,
          until: int | None = None) -> Iterator[re.Match[bytes]]:
    """Matches of ``pattern`` (shorter than 256 bytes) in a part, chunk by chunk, up to byte ``until``."""
    tail, read = b"", 0
    with archive.open(part) as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            if until is not None:
                chunk = chunk[: max(until - read, 0)]
            read += len(chunk)
            window = tail + chunk
            last = 0
            for match in pattern.finditer(window):
                if match.end() > len(tail):  # not already found in the previous window
                    last = match.end()
                    yield match
            tail = window[max(last, len(window) - 256):]
            if until is not None and read >= until:
                return


def _count_shared_before(archive: zipfile.ZipFile, offset: int) -> int:
    """The index of the shared text holding ``offset`` (which may be where it starts)."""
    return sum(1 for _ in _scan(archive, _SHARED, re.compile(rb"<si[\s>]"), until=offset + _TAG_BYTES)) - 1


def _cell_using_shared(archive: zipfile.ZipFile, part: str, index: int) -> str | None:
    for match in _scan(archive, part, _SHARED_CELL):
        attributes = match.group(1)
        if int(match.group(2)) == index and re.search(rb'\st="s"', attributes):
            reference = re.search(rb'\sr="([A-Z]{1,3}[0-9]{1,7})"', attributes)
            return reference.group(1).decode() if reference else None
    return None


def _sheet_titles(archive: zipfile.ZipFile) -> dict[str, str]:
    """Worksheet part -> sheet name, from ``xl/workbook.xml`` and its relationships (small files, regex-read:
    no XML parser ever sees entity declarations from a departmental file)."""
    try:
        workbook = archive.read("xl/workbook.xml")
        relations = archive.read("xl/_rels/workbook.xml.rels")
    except KeyError:
        return {}
    targets = {}
    for tag in re.findall(rb"<Relationship\b[^>]*>", relations):
        identity, target = re.search(rb'\sId="([^"]+)"', tag), re.search(rb'\sTarget="([^"]+)"', tag)
        if identity and target:
            path = target.group(1).decode()
            targets[identity.group(1)] = path.lstrip("/") if path.startswith("/") else f"xl/{path}"
    titles = {}
    for tag in _SHEET.findall(workbook):
        name, identity = re.search(rb'\sname="([^"]*)"', tag), re.search(rb'\sr:id="([^"]+)"', tag)
        if name and identity and identity.group(1) in targets:
            titles[targets[identity.group(1)]] = name.group(1).decode("utf-8", "replace")
    return titles
