"""How a run is cut into chunks, and the files each chunk reads and writes in the work area.

A chunk is a fixed range of rows of ``received.parquet`` (``chunk * chunk_rows`` up to the next chunk), so any
worker can read its chunk alone, from the row groups that overlap it. Each chunk writes its own part of
``passed.parquet``, ``quarantined.parquet`` and ``masked.parquet``, which are then directories of
``part-NNNNN.parquet`` files: pandas and pyarrow read such a directory as one table, in part order, so the
record step and the publish read the run's output as before, and no step ever concatenates it in memory.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from great_expectations.expectations.expectation import (
    ColumnMapExpectation,
    ColumnPairMapExpectation,
    MulticolumnMapExpectation,
)
from great_expectations.expectations.registry import get_expectation_impl

from governance.pipeline.workarea import WorkArea, write_summary
from governance.settings import get_settings
from governance.validation.uniqueness import UNIQUE_TYPES

# Table-level rules whose result does not depend on which rows a chunk holds (they look at the columns only).
_STRUCTURAL = ("expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list",
               "expect_table_column_count_to_equal", "expect_column_to_exist")
_ROW_WISE = (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)


def chunk_rows_setting() -> int:
    """``GOVERNANCE_CHUNK_ROWS`` (default 200,000, two chunk tasks at once stay under 1 GiB): rows a chunk task
    validates and masks at once."""
    return get_settings().chunk_rows


@dataclass(frozen=True)
class SuiteSplit:
    """The suite as chunks run it: the per-chunk part, and the uniqueness rules checked over the whole run."""

    per_chunk: dict[str, Any]
    unique: list[dict[str, Any]]
    chunkable: bool  # False when an owner added an aggregate rule (a mean, a row count): one chunk then


def split_suite(suite: dict[str, Any], columns: list[str]) -> SuiteSplit:
    per_chunk, unique, chunkable = [], [], True
    for expectation in suite.get("expectations", []):
        kind = expectation.get("type", "")
        kwargs = expectation.get("kwargs") or {}
        wanted = [kwargs["column"]] if isinstance(kwargs.get("column"), str) else list(kwargs.get("column_list") or [])
        if kind in UNIQUE_TYPES and wanted and all(name in columns for name in wanted):
            unique.append(expectation)  # (a missing column stays per chunk: validate_frame reports it not run)
            continue
        per_chunk.append(expectation)
        if kind not in _STRUCTURAL and not _row_wise(kind):
            chunkable = False
    return SuiteSplit({**suite, "expectations": per_chunk}, unique, chunkable)


def _row_wise(kind: str) -> bool:
    try:
        return issubclass(get_expectation_impl(kind), _ROW_WISE)
    except Exception:  # an unknown type: validate_frame raises the SuiteError with the file and position
        return True


def chunk_bounds(rows: int, chunk_rows: int, chunk: int) -> tuple[int, int]:
    start = chunk * chunk_rows
    return start, min(start + chunk_rows, rows)


def chunk_count(rows: int, chunk_rows: int) -> int:
    return max(1, -(-rows // chunk_rows))


def read_rows(path: Path, start: int, stop: int, columns: list[str] | None = None) -> pd.DataFrame:
    """Rows ``start:stop`` of a Parquet file as pandas (index 0..n-1), reading only the overlapping row groups."""
    parquet = pq.ParquetFile(path)
    groups, first, offset = [], None, 0
    for index in range(parquet.metadata.num_row_groups):
        size = parquet.metadata.row_group(index).num_rows
        if offset < stop and offset + size > start:
            groups.append(index)
            first = offset if first is None else first
        offset += size
    if not groups:
        table = parquet.schema_arrow.empty_table()
        table = table.select(columns) if columns else table
    else:
        table = parquet.read_row_groups(groups, columns=columns).slice(start - first, stop - start)
    return table.to_pandas().reset_index(drop=True)


def received_rows(area: WorkArea) -> int:
    return pq.ParquetFile(area.received).metadata.num_rows


def chunks_folder(area: WorkArea) -> Path:
    return area.root / "chunks"


def part_path(folder: Path, chunk: int) -> Path:
    return folder / f"part-{chunk:05d}.parquet"


def reset_outputs(area: WorkArea, *paths: Path) -> None:
    """Clear earlier outputs (a retried run; single files a run left before the chunked path was the only one)
    so no stale part survives."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        path.mkdir(parents=True)


def write_part(frame: pd.DataFrame, folder: Path, chunk: int, *, text_columns: tuple[str, ...] = ()) -> Path:
    """Write one chunk's part atomically (a retried chunk task replaces it whole)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in text_columns:
        frame[name] = frame[name].astype("string")
    target = part_path(folder, chunk)
    partial = folder / f".{target.name}.part"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), partial)
    partial.replace(target)
    return target


def write_chunk_summary(area: WorkArea, step: str, chunk: int, summary: dict[str, Any]) -> None:
    folder = chunks_folder(area)
    folder.mkdir(parents=True, exist_ok=True)
    write_summary(folder / f"{step}-{chunk:05d}.json", summary)


def read_chunk_summaries(area: WorkArea, step: str, chunks: int) -> list[dict[str, Any]]:
    """Every chunk's summary, in chunk order; a missing one means a chunk task did not finish."""
    folder = chunks_folder(area)
    missing = [chunk for chunk in range(chunks) if not (folder / f"{step}-{chunk:05d}.json").exists()]
    if missing:
        raise RuntimeError(f"{step}: chunk(s) {missing[:10]} of {chunks} have no result; rerun those tasks")
    return [json.loads((folder / f"{step}-{chunk:05d}.json").read_text()) for chunk in range(chunks)]


def iter_parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet")) if folder.is_dir() else ([folder] if folder.exists() else [])
