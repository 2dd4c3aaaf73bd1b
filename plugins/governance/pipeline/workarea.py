"""The run-scoped work area: where one run's intermediate files live between tasks.

Tasks hand each other file paths, never DataFrames in XCom. The area holds raw departmental
data, so it sits outside the shared warehouse on storage only the pipeline reads.

Concurrency: distinct run ids always get distinct folders (a run id that needed escaping gets a
hash of the original appended, so ``a:b`` and ``a+b`` never share one). Two processes running the
*same* step of the *same* run (two workers picking up one task) take turns on ``step_lock``; every
file a step leaves is written to a private partial file and renamed into place when complete.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governance.files import safe_name, write_atomically

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkArea:
    root: Path

    @classmethod
    def for_run(cls, work_root: Path, dag_id: str, run_id: str) -> WorkArea:
        """``<work_root>/<dag_id>/<run_id>``, with the run id made safe for a path (and still unique)."""
        area = cls(work_root / safe_name(dag_id) / safe_name(run_id))
        area.root.mkdir(parents=True, exist_ok=True)
        return area

    @property
    def received(self) -> Path:
        return self.root / "received.parquet"

    @property
    def passed(self) -> Path:
        return self.root / "passed.parquet"

    @property
    def quarantined(self) -> Path:
        return self.root / "quarantined.parquet"

    @property
    def masked(self) -> Path:
        return self.root / "masked.parquet"

    def write_step(self, step: str, summary: dict[str, Any]) -> None:
        """The step's summary, complete or not at all: a full disk must not leave a truncated JSON behind."""
        write_summary(self.root / f"{step}.json", summary, indent=1)

    def read_step(self, step: str) -> dict[str, Any]:
        path = self.root / f"{step}.json"
        return json.loads(path.read_text()) if path.exists() else {}

    @contextmanager
    def step_lock(self, step: str) -> Iterator[None]:
        """Hold ``step`` of this run alone: a second process running the same step waits, then redoes it.

        An OS file lock (``flock``), so a crashed holder releases it with its process; steps are idempotent
        and replace their outputs whole, so the second run of a step overwrites the first's output."""
        folder = self.root / ".locks"
        folder.mkdir(exist_ok=True)
        with open(folder / f"{safe_name(step)}.lock", "a") as handle:
            locked = _lock(handle, f"step {step} of {self.root}")
            try:
                yield
            finally:
                if locked:
                    fcntl.flock(handle, fcntl.LOCK_UN)


def _lock(handle: Any, what: str) -> bool:
    """Take an exclusive ``flock`` on ``handle``, waiting if another process holds it; False (and a warning)
    on a filesystem without file locks (some network mounts), where the step then runs unguarded."""
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        log.warning("%s is running in another process: waiting for it to finish", what)
    except OSError as error:
        if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
        log.warning("no file locks where %s keeps its lock (%s): it runs without one", what, error.strerror)
        return False
    fcntl.flock(handle, fcntl.LOCK_EX)
    return True


def write_summary(target: Path, summary: dict[str, Any], *, indent: int | None = None) -> None:
    """A step's or chunk's summary as JSON, through the leak guard's message rules (``redact_json``): the one
    writer of summaries, which become XCom, the run record and what operators read."""
    from governance.redaction.leak_guard import redact_json  # pandas: not at DAG parse time

    write_atomically(target, json.dumps(redact_json(summary), ensure_ascii=False, indent=indent,
                                        default=str).encode())
