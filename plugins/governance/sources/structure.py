"""One streaming pass over a CSV drop before pyarrow reads it: encoding, quoting and sizes.

Undecodable bytes are named by line and column (the column the field holding them belongs to).

pyarrow reads a stray or unclosed double quote as the start of a quoted field that runs on to the next quote,
so rows vanish into one value without any error (a stray quote and an unclosed one even each other out, so
counting quotes is not enough); and a field longer than its read block fails with a bare "straddling object".
This pass finds the first such problem and names its line and column, never its value.

The check is the quoting pyarrow (and RFC 4180) parses, made local so numpy can do it a chunk at a time:
quotes alternate opening and closing; an opening quote must start a field (or directly follow a closing quote:
a doubled ``""`` inside quotes) and a closing quote must end one (or directly precede an opening quote). Every
other quote is out of place. Delimiters and line ends outside quotes bound the fields and rows whose sizes are
checked. Lines and columns are counted only when there is an error to report (the file is read again up to it).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from governance.redaction.untrusted import describe_column, is_safe_name
from governance.sources.encodings import GB18030
from governance.sources.errors import SourceError

CHUNK_BYTES = 1 << 20
# No standard column holds more than a few hundred characters: a field beyond this is a broken export (or a quote
# never closed) and stops the pull; a field between a column's max_length and this is quarantined by that rule.
MAX_FIELD_BYTES = 1 << 20
_QUOTE, _LF, _CR = ord('"'), ord("\n"), ord("\r")
_ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", GB18030: "GB 18030"}

_STRAY = ("a double quote inside an unquoted field; quote the whole field and double the quotes in it, then resend "
          "the file")
_UNENDED = ("a quoted field is followed by more text before the next delimiter (a quote inside it not doubled, or a "
            "stray quote); fix the quoting and resend the file")


def check_csv(path: Path, *, encoding: str, delimiter: str, max_row_bytes: int, declared: str | None = None) -> None:
    """Raise ``SourceError`` for the first undecodable bytes, misplaced quote, field over ``MAX_FIELD_BYTES`` or
    row over ``max_row_bytes`` (the reader's block: pyarrow cannot parse a longer row). ``declared`` is the
    standard's ``encoding`` (for the message: ``gbk`` is read as GB 18030)."""
    scan = _Scan(path, encoding, delimiter, max_row_bytes)
    try:
        for data in _utf8_chunks(path, encoding):
            scan.feed(data)
    except _Undecodable as error:
        line, column = scan.locate_raw(error.offset)
        name = _ENCODING_NAMES.get(encoding, encoding)
        as_declared = f", declared {declared}" if declared and declared != encoding else ""
        raise SourceError(f"{path}: line {line}, column {scan.column_name(column)}: 字节序列不是有效的 {name} 编码 "
                          f"(not valid {name}{as_declared}); declare the file's encoding in its dataset "
                          "standard, or have the department resend the file") from None
    scan.finish()


def header(path: Path, encoding: str, delimiter: str, errors: str = "strict") -> list[str]:
    """The header's column names as pyarrow reads them (quoted names unquoted, a BOM dropped)."""
    with path.open(encoding=encoding, errors=errors, newline="") as handle:
        names = next(csv.reader(handle, delimiter=delimiter), [])
    return [name.lstrip("\ufeff") for name in names]


class _Undecodable(Exception):
    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset  # of the first undecodable byte in the file


def _utf8_chunks(path: Path, encoding: str, stop: int | None = None) -> Iterator[bytes]:
    """The file (its first ``stop`` bytes) as UTF-8 bytes, chunk by chunk, without a BOM; ``_Undecodable``
    at the first bytes the encoding cannot decode.

    Quotes, delimiters and line ends are single bytes in UTF-8, never part of another character; a GBK trail
    byte can equal a delimiter such as ``|``, so a GBK file is scanned as the UTF-8 text pyarrow parses.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    utf8, first, read = encoding.startswith("utf-8"), True, 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(CHUNK_BYTES if stop is None else max(0, min(CHUNK_BYTES, stop - read)))
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:  # ``start`` counts from the bytes the decoder held back
                raise _Undecodable(read - pending + error.start) from None
            if not chunk:
                return
            read += len(chunk)
            data = chunk if utf8 else text.encode("utf-8")
            if first and data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8):]
            first = False
            yield data


class _Scan:
    """The scan's state between chunks: offsets into the UTF-8 stream, and the quote parity."""

    def __init__(self, path: Path, encoding: str, delimiter: str, max_row_bytes: int) -> None:
        encoded = delimiter.encode("utf-8")
        if len(encoded) != 1 or encoded in b'"\r\n':
            raise SourceError(f"{path}: the delimiter {delimiter!r} of the dataset standard must be one ASCII "
                              "character other than a double quote or a line end")
        self.path, self.encoding, self.delimiter, self.max_row = path, encoding, encoded[0], max_row_bytes
        self.bound = np.zeros(256, dtype=bool)  # the bytes a quoted field may follow or be followed by
        self.bound[[self.delimiter, _LF, _CR, _QUOTE]] = True
        self.offset = 0  # bytes scanned before the current chunk
        self.quotes = 0  # quotes so far: odd while inside a quoted field
        self.last = _LF  # the byte before the current chunk (the file starts as a line does)
        self.close_pending = False  # the last chunk ended on a closing quote: the next byte must end the field
        self.field = 0  # where the open field starts
        self.row = 0  # where the open row starts

    def feed(self, data: bytes) -> None:
        if not data:
            return
        array = np.frombuffer(data, dtype=np.uint8)
        quotes = np.flatnonzero(array == _QUOTE)
        if len(quotes) or self.close_pending:
            self._check_quotes(array, quotes)
        ends = np.flatnonzero((array == self.delimiter) | (array == _LF) | (array == _CR))
        if len(quotes) or self.quotes % 2:
            ends = ends[(np.searchsorted(quotes, ends) & 1) == self.quotes % 2]  # those outside quotes
        self._check_sizes(len(array), ends, array[ends] != self.delimiter)
        self.offset += len(array)
        self.quotes += len(quotes)
        self.last = int(array[-1])

    def finish(self) -> None:
        if self.quotes % 2:
            self._fail(self.field, f"a quoted field is not closed (unbalanced double quotes, {self.quotes} in the "
                                   "file); fix the quoting and resend the file")

    def _check_quotes(self, array: np.ndarray, quotes: np.ndarray) -> None:
        if self.close_pending and not self.bound[array[0]]:
            self._fail(self.offset - 1, _UNENDED)
        first = self.quotes % 2  # quotes alternate: index of this chunk's first opening quote
        opening, closing = quotes[first::2], quotes[1 - first::2]
        starts_field = self.bound[array[opening - 1]]  # at 0, -1 reads the chunk's last byte: fixed below
        if len(opening) and opening[0] == 0:
            starts_field[0] = self.bound[self.last]
        stray = opening[~starts_field]
        inner = closing[closing + 1 < len(array)]
        unended = inner[~self.bound[array[inner + 1]]]
        problems = [(int(stray[0]), _STRAY)] if len(stray) else []
        problems += [(int(unended[0]), _UNENDED)] if len(unended) else []
        if problems:
            position, problem = min(problems)
            self._fail(self.offset + position, problem)
        self.close_pending = bool(len(closing)) and int(closing[-1]) == len(array) - 1

    def _check_sizes(self, size: int, ends: np.ndarray, row_ends: np.ndarray) -> None:
        if len(ends):
            ends = ends + self.offset
            starts = np.concatenate(([self.field], ends[:-1] + 1))
            too_long = np.flatnonzero(ends - starts > MAX_FIELD_BYTES)
            if len(too_long):
                self._field_too_long(int(starts[too_long[0]]))
            rows = ends[row_ends]
            if len(rows):
                row_starts = np.concatenate(([self.row], rows[:-1] + 1))
                too_long = np.flatnonzero(rows - row_starts > self.max_row)
                if len(too_long):
                    self._row_too_long(int(row_starts[too_long[0]]))
                self.row = int(rows[-1]) + 1
            self.field = int(ends[-1]) + 1
        # The open field (or row) is already too long: fail now, without reading the rest of it.
        if self.offset + size - self.field > MAX_FIELD_BYTES:
            self._field_too_long(self.field)
        if self.offset + size - self.row > self.max_row:
            self._row_too_long(self.row)

    def _field_too_long(self, start: int) -> None:
        self._fail(start, f"a field longer than {_size(MAX_FIELD_BYTES)}, more than any column of a standard "
                               "holds (a broken export, or a quoted field never closed); fix it and resend the file")

    def _row_too_long(self, start: int) -> None:
        line, _ = self._locate(start)
        raise SourceError(f"{self.path}: line {line}: a row longer than {_size(self.max_row)}, more than the reader "
                          "holds in one block; fix it and resend the file")

    def _fail(self, offset: int, problem: str) -> None:
        line, column = self._locate(offset)
        raise SourceError(f"{self.path}: line {line}, column {self.column_name(column)}: {problem}")

    def locate_raw(self, raw_offset: int) -> tuple[int, int]:
        """Line and column index of the field holding byte ``raw_offset`` of the file (as delivered)."""
        return self._locate(1 << 62, stop=raw_offset)

    def _locate(self, offset: int, stop: int | None = None) -> tuple[int, int]:
        """Line and column index where the field holding ``offset`` (of the UTF-8 stream, or the end of the first
        ``stop`` bytes of the file) starts, found by reading the file again (for an error only: the scan itself
        counts no lines or columns)."""
        line, position, parity, column, field_line = 1, 0, 0, 0, 1
        for data in _utf8_chunks(self.path, self.encoding, stop):
            array = np.frombuffer(data, dtype=np.uint8)[: max(offset - position, 0)]
            quotes = np.flatnonzero(array == _QUOTE)
            ends = np.flatnonzero((array == self.delimiter) | (array == _LF) | (array == _CR))
            ends = ends[(np.searchsorted(quotes, ends) & 1) == parity]
            row_ends = array[ends] != self.delimiter
            if len(ends):
                field_line = line + int(np.count_nonzero(array[: ends[-1] + 1] == _LF))
            if row_ends.any():
                column = int(np.count_nonzero(~row_ends[np.flatnonzero(row_ends)[-1] + 1:]))
            else:
                column += len(ends)
            line += int(np.count_nonzero(array == _LF))
            parity = (parity + len(quotes)) % 2
            position += len(array)
            if position >= offset:
                break
        return field_line, column

    def column_name(self, index: int) -> str:
        try:
            # For a message only: undecodable bytes after the header must not hide its names.
            names = header(self.path, self.encoding, chr(self.delimiter), errors="replace")
        except (csv.Error, UnicodeError):  # the header itself is what is broken
            names = []
        if index >= len(names):
            return f"{index + 1} (beyond the header)"
        name = names[index].strip()
        return repr(name) if is_safe_name(name) else describe_column(name, index + 1, len(names))


def _size(count: int) -> str:
    return f"{count >> 20} MiB" if count >= 1 << 20 and not count % (1 << 20) else f"{count} bytes"
