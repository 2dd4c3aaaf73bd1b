"""The latest ``suites impact`` report per dataset, kept for the console's impact page (规则变更影响).

Kept apart from ``validation.impact`` so the web app reads reports without importing pandas or GX. A report
holds counts, rule ids and the masked examples the command prints: nothing raw.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from governance.files import write_atomically
from governance.settings import Settings

SUFFIX = ".json"


def impact_folder(settings: Settings) -> Path:
    return settings.var_root / "impact"


def save_report(report: Any, folder: Path, *, computed_at: str) -> Path:
    """``report`` (a ``validation.impact.Impact``) as ``<folder>/<dag_id>.json``, replacing the last one."""
    target = folder / (report.dataset_key.replace("/", "__") + SUFFIX)
    target.parent.mkdir(parents=True, exist_ok=True)
    body = {"computed_at": computed_at, **dataclasses.asdict(report)}
    write_atomically(target, json.dumps(body, ensure_ascii=False, default=str, indent=1).encode("utf-8"))
    return target


def saved_reports(folder: Path) -> dict[str, dict[str, Any]]:
    """Every saved report by DAG id; a file that is not a readable report is passed over."""
    reports = {}
    for path in sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []:
        try:
            reports[path.name.removesuffix(SUFFIX)] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return reports
