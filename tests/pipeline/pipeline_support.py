"""The DAG's chunked validate and mask path, task by task, for tests that run a night as production does."""

from __future__ import annotations

from governance.pipeline import chunked, steps


def validate_and_mask_in_chunks(run: steps.Run, chunk_rows: int) -> list[int]:
    """plan -> validate_chunk[i] -> finish_validate -> mask_chunk[i] -> finish_mask; the chunks planned."""
    chunks = chunked.plan(run, chunk_rows)["chunks"]
    for chunk in chunks:
        chunked.validate_chunk(run, chunk)
    chunked.finish_validate(run)
    for chunk in chunks:
        chunked.mask_chunk(run, chunk)
    chunked.finish_mask(run)
    return chunks
