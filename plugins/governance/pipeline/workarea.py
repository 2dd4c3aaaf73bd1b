"""The run-scoped work area: where one run's intermediate files live between tasks.

Tasks hand each other file paths, never DataFrames in XCom. The area holds raw departmental
data, so it sits outside the shared warehouse on storage only the pipeline reads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class WorkArea:
    root: Path

    @classmethod
    def for_run(cls, work_root: Path, dag_id: str, run_id: str) -> WorkArea:
        """``<work_root>/<dag_id>/<run_id>``, with the run id made safe for a path."""
        area = cls(work_root / _UNSAFE.sub("_", dag_id) / _UNSAFE.sub("_", run_id).strip("._"))
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
        (self.root / f"{step}.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1, default=str))

    def read_step(self, step: str) -> dict[str, Any]:
        path = self.root / f"{step}.json"
        return json.loads(path.read_text()) if path.exists() else {}
