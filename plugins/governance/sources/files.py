"""Read CSV (UTF-8 or GB 18030/GBK, declared or detected: ``encodings``) and Excel drops as text.

Every value stays text exactly as delivered: typing is the validator's job, and a value a
reader "helpfully" converted (an ID turned into a float) could never be quarantined as sent.
An Excel cell that was already a number when the department saved the file is marked as such
(``cells``), so it is quarantined for what it is.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from governance.redaction.untrusted import MISSING_HEADER_HINT, is_safe_name, looks_like_data_row, shape
from governance.sources import cells, encodings, structure, workbook
from governance.sources.errors import SourceError
from governance.standards.catalogue import ResolvedColumn

# Bytes of CSV per streamed block (~30k rows of a typical register), which is also the longest row a drop may
# hold. pyarrow's streaming reader keeps several blocks in flight: at 24 MiB the pull peaked near 0.8 GB on a
# 5M-row drop, at 4 MiB near 0.3 GB, equally fast (bench, docs/performance.md).
STREAM_BLOCK_BYTES = 4 << 20


def reading_encoding(path: Path, declared: str) -> str:
    """The codec that reads ``path`` under its standard's ``encoding`` (docs/standards.md): ``gbk`` and
    ``gb18030`` read as GB 18030-2022 (a file that is really UTF-8 is refused, naming the line), ``utf-8`` as
    UTF-8, ``auto`` as detected."""
    if declared == "auto":
        return encodings.detect(path)
    codec = encodings.DECLARED[declared]
    if codec == encodings.GB18030 and (line := encodings.first_utf8_line(path)) is not None:
        raise SourceError(f"{path}: line {line}: 文件是 UTF-8 编码, 而数据集标准声明为 {declared} (the file is UTF-8, "
                          f"not {declared} as its dataset standard declares); declare encoding utf-8 or auto")
    return codec


def read_csv(path: Path, *, encoding: str, delimiter: str) -> pd.DataFrame:
    """The whole file as one frame (samples and previews); the pipeline streams with ``iter_csv``."""
    return pd.concat(list(iter_csv(path, encoding=encoding, delimiter=delimiter)), ignore_index=True)


def iter_csv(path: Path, *, encoding: str, delimiter: str,
             block_bytes: int = STREAM_BLOCK_BYTES) -> Iterator[pd.DataFrame]:
    """``read_csv`` in blocks (``pyarrow.csv.open_csv``): bounded memory for any file size, same errors.

    Malformed rows are collected while streaming and raised after the last block, with the same message
    as ``read_csv``: the caller must discard what it wrote from the earlier blocks (``pull`` writes to a
    partial file and renames it only on success).
    """
    declared, encoding = encoding, reading_encoding(path, encoding)
    structure.check_csv(path, encoding=encoding, delimiter=delimiter, max_row_bytes=block_bytes, declared=declared)
    malformed: list[str] = []

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        where = f"row {row.number}" if row.number is not None else "a row"
        malformed.append(f"{where} has {row.actual_columns} fields, the header has {row.expected_columns}")
        return "skip"

    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(encoding=_arrow_encoding(encoding), use_threads=False,
                                           block_size=block_bytes),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                             invalid_row_handler=on_invalid_row),
            convert_options=pacsv.ConvertOptions(column_types=_all_text(path, encoding, delimiter),
                                                 strings_can_be_null=True, null_values=[""]),
        )
        empty = pa.Table.from_batches([], schema=reader.schema)
        _strip_header(empty.to_pandas(types_mapper=_text_types), path)  # duplicate columns fail first
        yielded = False
        for batch in reader:
            if batch.num_rows:
                yielded = True
                yield _strip_header(pa.Table.from_batches([batch]).to_pandas(types_mapper=_text_types), path)
        if not yielded and not malformed:
            yield _strip_header(empty.to_pandas(types_mapper=_text_types), path)
    except pa.ArrowInvalid as error:
        raise SourceError(f"{path}: not a readable CSV file ({_without_data(error)})") from None
    if malformed:
        # Skipping would lose rows silently; the department must resend the file.
        raise SourceError(f"{path}: {len(malformed)} malformed row(s): " + "; ".join(malformed[:5]))


def read_excel(path: Path, *, sheet: str | int, columns: Iterable[ResolvedColumn] = ()) -> pd.DataFrame:
    """The sheet as text, with ``_numeric_cells`` marking number and date cells in the text columns of
    ``columns`` (the dataset's standard; see ``cells``)."""
    workbook.check_workbook(path, sheet)  # before openpyxl holds any cell whole
    frame = cells.read_sheet(path, sheet, cells.expected_types(columns))
    workbook.check_cell_lengths(frame, path, sheet)
    return _strip_header(frame, path)


def _all_text(path: Path, encoding: str, delimiter: str) -> dict[str, pa.DataType]:
    """Every header name typed as text: pyarrow would otherwise infer types (``0012`` read as ``12``)."""
    try:
        return {name: pa.string() for name in structure.header(path, encoding, delimiter)}
    except csv.Error as error:
        raise SourceError(f"{path}: line 1: the header is not readable ({error})") from None


def _arrow_encoding(encoding: str) -> str:
    return "utf8" if encoding in ("utf-8", "utf-8-sig") else encoding


def _text_types(arrow_type: pa.DataType) -> pd.StringDtype | None:
    return pd.StringDtype() if pa.types.is_string(arrow_type) or pa.types.is_null(arrow_type) else None


def _strip_header(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    names = [str(name).strip().lstrip("\ufeff") for name in frame.columns]
    duplicated = [index for index, name in enumerate(names) if names.index(name) != index]
    if duplicated:
        described = [f"{names[index] if is_safe_name(names[index]) else f'a name withheld ({shape(names[index])})'}"
                     f" at columns {names.index(names[index]) + 1} and {index + 1} of {len(names)}"
                     for index in duplicated[:5]]
        hint = f"; {MISSING_HEADER_HINT}" if looks_like_data_row(names) else ""
        raise SourceError(f"{path}: duplicate column(s) in the header: {', '.join(described)}{hint}")
    frame.columns = names
    return frame.astype("string")


def _without_data(error: Exception) -> str:
    """pyarrow quotes the offending line; keep only its first clause."""
    return str(error).split(":")[0]
