"""The CSV structure check against a plain state machine, on generated files and any chunking.

The check (``governance.sources.structure``) works a chunk at a time with numpy; the oracle here reads byte by
byte the way RFC 4180 (and pyarrow) parse quotes. They must agree on every file: accept the same files, and
report the same first quote problem at the same line and column, or one of the size problems the oracle finds.
Chunks of 1 to 9 bytes put chunk boundaries everywhere, inside ``""`` pairs and ``\\r\\n`` included; the field
and row limits are shrunk so sizes matter on short files.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from unittest import mock

import pyarrow as pa
import pyarrow.csv as pacsv
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from governance.sources import SourceError, structure

HEADER = b"h0,h1\n"
MAX_FIELD, MAX_ROW = 6, 14
PIECES = ["a", "bbbb", ",", '"', "\n", "\r", "\r\n", '""', '"a"', ',"', '",', '"a,b\nc"', '"x""y"']
Problem = tuple[str, int, int | None]  # kind, line, column index (None for a row)


def oracle(data: bytes, *, sizes: bool) -> set[Problem]:
    """Every problem a byte-by-byte reading finds, up to the first quote problem (which stops the reading)."""
    found: set[Problem] = set()
    state, line, column = "start", 1, 0
    field_start, field_line, field_column, row_start, row_line = 0, 1, 0, 0, 1
    for index, byte in enumerate(data + b"\n"):  # the extra line end closes the last field
        char, at_end = chr(byte), index == len(data)
        if at_end and state == "quoted":
            found.add(("open", field_line, field_column))
            break
        if state == "start":
            field_start, field_line, field_column = index, line, column
        ends_field = char in ",\r\n" and state in ("start", "unquoted", "closed")
        if ends_field:
            if sizes and index - field_start > MAX_FIELD:
                found.add(("field", field_line, field_column))
            if char == ",":
                column += 1
            else:
                if sizes and index - row_start > MAX_ROW:
                    found.add(("row", row_line, None))
                row_start, row_line, column = index + 1, line + (char == "\n"), 0
            state = "start"
        elif state == "start":
            state = "quoted" if char == '"' else "unquoted"
        elif state == "unquoted" and char == '"':
            found.add(("stray", line, column))
            break
        elif state == "quoted" and char == '"':
            state = "closed"
        elif state == "closed":
            if char != '"':
                found.add(("unended", field_line, field_column))
                break
            state = "quoted"
        if sizes and not at_end and state != "start":  # the open field (and row) so far, as the check sees them
            if index + 1 - field_start > MAX_FIELD:
                found.add(("field", field_line, field_column))
            if index + 1 - row_start > MAX_ROW:
                found.add(("row", row_line, None))
        if sizes and not at_end and char == "," and index + 1 - row_start > MAX_ROW:
            found.add(("row", row_line, None))
        line += char == "\n"
    return found


def checked(path: Path, data: bytes, chunk: int, *, sizes: bool) -> Problem | None:
    path.write_bytes(data)
    limits = {"CHUNK_BYTES": chunk, "MAX_FIELD_BYTES": MAX_FIELD if sizes else 1 << 30}
    with mock.patch.multiple(structure, **limits):
        try:
            structure.check_csv(path, encoding="utf-8", delimiter=",", max_row_bytes=MAX_ROW if sizes else 1 << 30)
        except SourceError as error:
            return parse(str(error))
    return None


def parse(message: str) -> Problem:
    if "a row longer" in message:
        return "row", int(re.search(r"line (\d+):", message).group(1)), None
    line, name = re.search(r"line (\d+), column (.+?): ", message).groups()
    kind = ("stray" if "inside an unquoted field" in message else "unended" if "followed by more text" in message
            else "open" if "is not closed" in message else "field")
    column = int(name[2:-1]) if name.startswith("'h") else int(name.split()[0]) - 1  # 'h1' or "3 (beyond...)"
    return kind, int(line), column


files = st.lists(st.sampled_from(PIECES), max_size=25).map(lambda parts: HEADER + "".join(parts).encode())


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=files, chunk=st.integers(1, 9))
def test_quoting_agrees_with_the_state_machine(tmp_path: Path, data: bytes, chunk: int) -> None:
    expected = oracle(data, sizes=False)
    assert checked(tmp_path / "drop.csv", data, chunk, sizes=False) == (min(expected) if expected else None)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=files, chunk=st.integers(1, 9))
def test_sizes_agree_with_the_state_machine(tmp_path: Path, data: bytes, chunk: int) -> None:
    """With small limits: refused exactly when the oracle finds a problem, and for one it finds."""
    expected = oracle(data, sizes=True)
    found = checked(tmp_path / "drop.csv", data, chunk, sizes=True)
    assert found in expected if expected else found is None


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from([p for p in PIECES if p != "\r"]), max_size=25))
def test_what_the_check_accepts_pyarrow_reads_as_the_csv_module_does(parts: list[str]) -> None:
    """No row vanishes into a quoted field: on every accepted file pyarrow's rows are the csv module's rows
    (blank lines aside, which pyarrow skips)."""
    data = HEADER + "".join(parts).encode()
    assume(not oracle(data, sizes=False))
    rows = [tuple(row) for row in csv.reader(io.StringIO(data.decode(), newline=""), strict=True) if row][1:]
    try:
        table = pacsv.read_csv(io.BytesIO(data), parse_options=pacsv.ParseOptions(newlines_in_values=True),
                               convert_options=pacsv.ConvertOptions(column_types={"h0": pa.string(), "h1": pa.string()},
                                                                    strings_can_be_null=False))
    except pa.ArrowInvalid:  # a wrong field count: pyarrow refuses, as the pull does
        assert any(len(row) != 2 for row in rows)
        return
    assert [tuple(row.values()) for row in table.to_pylist()] == rows
