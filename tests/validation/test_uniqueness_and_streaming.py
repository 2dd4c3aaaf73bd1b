"""The whole-run uniqueness pass flags exactly what GX flags, hash collisions included, and the streamed CSV
reader gives the whole-file reader's rows, numbering and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.sources import SourceError, files
from governance.validation import uniqueness


def parquet(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "received.parquet"
    frame.astype("string").to_parquet(path, index=False, row_group_size=3)
    return path


def test_every_occurrence_of_a_repeated_key_and_no_missing_key(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": ["1", "2", "1", None, None, "3", "1", "2"],
                          "b": ["x", "y", "x", "z", "z", "w", "q", "y"]})
    path = parquet(tmp_path, frame)
    assert uniqueness.duplicate_positions(path, ["a"], batch_rows=2).tolist() == [0, 1, 2, 6, 7]
    assert uniqueness.duplicate_positions(path, ["a", "b"], batch_rows=5).tolist() == [0, 1, 2, 7]


def test_a_hash_collision_never_quarantines_a_row(tmp_path: Path, monkeypatch) -> None:
    path = parquet(tmp_path, pd.DataFrame({"a": ["1", "2", "3", "3"]}))

    def colliding(batch, columns):
        return np.zeros(batch.num_rows, dtype=np.uint64), np.ones(batch.num_rows, dtype=bool)

    monkeypatch.setattr(uniqueness, "_hashes", colliding)  # every row hashes alike: only exact values decide
    assert uniqueness.duplicate_positions(path, ["a"], batch_rows=3).tolist() == [2, 3]


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_streamed_csv_equals_whole_file(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "drop.csv"
    rows = "".join(f'{i},"名字{i}\n第二行",{"" if i % 7 == 0 else i * 3}\n' for i in range(3000))
    path.write_bytes(("id,name,value\n" + rows).encode(encoding))
    whole = files.read_csv(path, encoding="auto", delimiter=",")
    streamed = pd.concat(list(files.iter_csv(path, encoding="auto", delimiter=",", block_bytes=4096)),
                         ignore_index=True)
    pd.testing.assert_frame_equal(streamed, whole)


def test_streamed_csv_keeps_the_malformed_row_error(tmp_path: Path) -> None:
    path = tmp_path / "drop.csv"
    path.write_text("a,b\n" + "1,2\n" * 5000 + "3\n" + "4,5\n" * 5000 + "6,7,8\n", encoding="utf-8")
    with pytest.raises(SourceError) as whole:
        files.read_csv(path, encoding="utf-8", delimiter=",")
    with pytest.raises(SourceError) as streamed:
        list(files.iter_csv(path, encoding="utf-8", delimiter=",", block_bytes=4096))
    assert str(streamed.value) == str(whole.value) and "row 5002" in str(whole.value)


def test_undecodable_line_is_named_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "drop.csv"
    path.write_bytes(b"a,b\n1,2\n\xff\xfe,3\n")
    with pytest.raises(SourceError, match=r"line 3, column 'a': .*not valid UTF-8"):
        list(files.iter_csv(path, encoding="utf-8", delimiter=","))
