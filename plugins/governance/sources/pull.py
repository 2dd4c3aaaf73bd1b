"""Find a dataset's drop for one night and land it as one Parquet file of text columns.

A file drop is read only once it is complete by the delivery protocol (``sources.delivery``): its manifest's
sizes and hashes checked before a row is read, its row counts as each file is read, before anything is landed.

Each landed row keeps where it came from (``_source_file``, ``_source_line``), so every
quarantine entry and error can point the department at the exact row to fix. Values stay as delivered except
for the normalisations the standard declares (``normalise``: the separator dot of names), made block by block.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from governance.settings import get_settings
from governance.sources import database, delivery, files
from governance.sources.errors import NoDrop, SourceError
from governance.standards.catalogue import ResolvedColumn, load_usable_catalogue
from governance.standards.models import Dataset

SOURCE_FILE = "_source_file"
SOURCE_LINE = "_source_line"


@dataclass(frozen=True)
class PullResult:
    rows: int
    files: list[str]
    columns: list[str]
    delivered_at: str | None = None  # ISO, UTC: when the file delivery completed (None for a query)


def landing_folder(landing_root: Path, dataset: Dataset, day: date) -> Path:
    return landing_root / dataset.department / dataset.name / day.isoformat()


def pull_dataset(dataset: Dataset, *, landing_root: Path, day: date, target: Path,
                 columns: list[ResolvedColumn] | None = None,
                 normalise: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                 now: float | None = None) -> PullResult:
    """Read every file of the night's complete drop (or the SQL query) and write ``target`` (Parquet), each block passed
    through ``normalise`` first (``governance.validation.names.Normaliser``, which counts what it changed).

    ``columns`` (the dataset's columns resolved against the standards; by default from the standards the
    settings point at) say which columns are text: an Excel number cell there is marked, a database column
    of a numeric type there refuses the pull.
    """
    source = dataset.source
    columns = columns if columns is not None else load_usable_catalogue(get_settings().standards_root).columns(dataset)
    if source.kind == "sql":
        assert source.connection_id and source.query  # guaranteed by the Source model
        chunks = database.read_query(source.connection_id, source.query,
                                     timeout_s=source.timeout_s or database.DEFAULT_TIMEOUT_S,
                                     text_columns={c.name: c.element for c in columns if c.element.type == "string"})
        origin = [f"sql:{source.connection_id}"]
        return _write(_number_rows(chunks, origin[0], first_line=1), target, origin, normalise)
    folder = landing_folder(landing_root, dataset, day)
    drops = _drop_files(folder, source.pattern, dataset)
    manifest = delivery.check_delivery(dataset, folder, day, now=now)
    listed = {entry.name: entry for entry in manifest.files} if manifest else {}

    def counted(path: Path, rows: int) -> None:
        if manifest:
            delivery.check_rows(dataset, day, folder, listed[path.name], rows)

    origins = [str(path.relative_to(landing_root)) for path in drops]
    completed = datetime.fromtimestamp(delivery.delivered_at(dataset, folder), UTC).isoformat(timespec="seconds")
    if source.kind == "csv":
        # Streamed block by block (bounded memory); a file whose header differs fails before it is read.
        def csv_chunks():
            first = None
            for path, origin in zip(drops, origins, strict=True):
                blocks = files.iter_csv(path, encoding=source.encoding, delimiter=source.delimiter)
                rows = 0
                for index, block in enumerate(_number_rows(blocks, origin, first_line=2)):
                    if index == 0:
                        first = _check_columns(first, path, block)
                    rows += len(block)
                    yield block
                counted(path, rows)
        return dataclasses.replace(_write(csv_chunks(), target, origins, normalise), delivered_at=completed)
    frames = [(path, files.read_excel(path, sheet=source.sheet, columns=columns)) for path in drops]
    for path, frame in frames:
        counted(path, len(frame))
    _check_same_columns(frames)
    numbered = (_number_rows([frame], origin, first_line=2) for (_, frame), origin in zip(frames, origins, strict=True))
    return dataclasses.replace(_write((chunk for chunks in numbered for chunk in chunks), target, origins, normalise),
                               delivered_at=completed)


def _check_columns(first: tuple[Path, list[str]] | None, path: Path, block: pd.DataFrame) -> tuple[Path, list[str]]:
    columns = [c for c in block.columns if not c.startswith("_source_")]
    if first is not None and columns != first[1]:
        raise SourceError(f"{path}: its columns differ from {first[0].name}'s; "
                          "all files of one drop must share one header")
    return first or (path, columns)


def _drop_files(folder: Path, pattern: str, dataset: Dataset) -> list[Path]:
    if not folder.is_dir():
        raise NoDrop(f"no drop for {dataset.key}: folder {folder} does not exist")
    found = delivery.drop_files(folder, dataset)
    if not found:
        raise NoDrop(f"no drop for {dataset.key}: no {pattern} file in {folder}")
    resolved_folder = folder.resolve()
    for path in found:
        if not path.resolve().is_relative_to(resolved_folder):
            raise SourceError(f"{path}: links outside the landing folder {folder}; refusing to read it")
    return found


def _check_same_columns(frames: list[tuple[Path, pd.DataFrame]]) -> None:
    first_path, first = frames[0]
    for path, frame in frames[1:]:
        if list(frame.columns) != list(first.columns):
            raise SourceError(f"{path}: its columns differ from {first_path.name}'s; "
                              "all files of one drop must share one header")


def _number_rows(chunks, origin: str, *, first_line: int):
    line = first_line
    for chunk in chunks:
        chunk = chunk.reset_index(drop=True)
        chunk[SOURCE_FILE] = origin
        chunk[SOURCE_LINE] = pd.RangeIndex(line, line + len(chunk)).astype("int64")
        line += len(chunk)
        yield chunk


def _write(chunks, target: Path, origins: list[str],
           normalise: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> PullResult:
    """Stream ``chunks`` into ``target`` through a partial file renamed at the end: a failed read (a
    malformed row found late in a big file) never leaves a half-written drop behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    writer: pq.ParquetWriter | None = None
    rows, columns = 0, []
    try:
        for chunk in chunks:
            table = pa.Table.from_pandas(normalise(chunk) if normalise else chunk, preserve_index=False)
            if writer is None:
                writer, columns = pq.ParquetWriter(partial, table.schema), list(chunk.columns)
            elif list(chunk.columns) != columns:
                raise SourceError(f"{origins}: a later part of the drop has different columns")
            writer.write_table(table.cast(writer.schema))
            rows += len(chunk)
    except BaseException:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
        raise
    if writer is None:
        raise SourceError(f"{', '.join(origins)}: the drop holds no rows")
    writer.close()
    partial.replace(target)
    return PullResult(rows=rows, files=origins, columns=[c for c in columns if not c.startswith("_")])
