"""Files the platform writes beside the warehouse (work areas, reports, Data Docs): names safe for a path,
written whole or not at all, and a full disk reported as such."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from governance.errors import TransientError

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_NAME = 200  # well under the 255-byte file name limit, with room for the suffix


class StorageFull(TransientError, OSError):
    """A step ran out of disk space; its partial output was not kept. Retryable once space is freed."""


def safe_name(name: str) -> str:
    """``name`` if it is already safe for a path; otherwise its safe form plus ``~`` and a hash of ``name``.

    ``~`` never appears in a safe name, so an escaped name can never equal another run's unescaped one."""
    safe = _UNSAFE.sub("_", name).strip("._")
    if safe == name and name:
        return name
    return f"{safe[:_MAX_NAME]}~{hashlib.sha256(name.encode()).hexdigest()[:12]}"


def write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to a partial file private to this writer, then rename it over ``target``."""
    with replacing(target) as partial:
        partial.write_bytes(data)


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A partial file private to this writer, renamed over ``target`` when the block ends and removed if it
    fails: a reader (or a full disk) never sees a truncated ``target``."""
    partial = target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}-{uuid.uuid4().hex[:8]}.part")
    try:
        yield partial
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def storage_full(error: BaseException, step: str, places: Iterable[Path]) -> StorageFull | None:
    """A :class:`StorageFull` naming where space ran out, if ``error`` (or its cause) is ENOSPC; else None.

    Arrow's and Python's write errors do not name the file, so the place is the error's own file name if
    it has one, otherwise the candidate folder (work area, reports, docs) with the least free space."""
    cause: BaseException | None = error
    while cause is not None and not (isinstance(cause, OSError) and cause.errno == errno.ENOSPC):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return None
    assert isinstance(cause, OSError)
    candidates = [Path(os.fsdecode(cause.filename))] if cause.filename else []
    candidates += [Path(place) for place in places]
    usage = [(shutil.disk_usage(_existing(place)), place) for place in candidates]
    (total, _, free), place = min(usage, key=lambda item: item[0].free) if not cause.filename else usage[0]
    return StorageFull(errno.ENOSPC, f"{step}: no space left on device under {place} ({_size(free)} free of "
                                     f"{_size(total)}); the step's partial output was not kept. Free space there, "
                                     f"then clear the task (or let it retry)")


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _size(count: float) -> str:
    if count < 1024:
        return f"{int(count)} bytes"
    for unit in ("KiB", "MiB", "GiB"):
        count /= 1024
        if count < 1024 or unit == "GiB":
            break
    return f"{count:.1f} {unit}"
