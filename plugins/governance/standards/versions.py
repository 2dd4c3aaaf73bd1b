"""Which version of its standard and suite a run was validated against, so "why did this drop pass in
November and fail in December" has an answer.

A version is a content hash, so it is the same wherever the files are (a laptop, a worker image without git):

* ``standard``: SHA-256 of the dataset's standard file, as committed (``standards history`` shows the same);
* ``elements`` / ``code_tables``: SHA-256 of the definitions of the elements and code tables this dataset uses
  (canonical JSON), so a change to an element another dataset uses does not change this dataset's version;
* ``suite``: SHA-256 of the suite file.

``standard_version`` combines the first three, ``suite_version`` is the suite's; both are shortened to 16 hex
digits for people (the full hashes are in ``detail``). Where the folders are in a git repository the HEAD
commit is recorded too, with ``dirty`` when one of the files differs from it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from governance.standards import gitrev
from governance.standards.catalogue import Catalogue
from governance.standards.models import Dataset

SHORT = 16


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_hash(path: Path) -> str | None:
    return sha256(path.read_bytes()) if path.is_file() else None


def _canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str).encode()


def standard_file(catalogue: Catalogue, dataset: Dataset) -> Path:
    return catalogue.root / "datasets" / dataset.department / f"{dataset.name}.yaml"


def dataset_versions(catalogue: Catalogue, dataset: Dataset, suite_file: Path) -> dict[str, Any]:
    """The versions of everything ``dataset`` is validated against (no data, only hashes and a commit)."""
    elements = {column.element: catalogue.elements[column.element].model_dump(mode="json")
                for column in dataset.columns if column.element in catalogue.elements}
    tables = sorted({element["domain"]["code_table"] for element in elements.values()
                     if element["domain"].get("code_table")} | _suite_code_tables(suite_file))
    code_tables = {table: {"codes": catalogue.code_tables[table].codes,
                           "retired": sorted(catalogue.code_tables[table].retired)}
                   for table in tables if table in catalogue.code_tables}
    detail = {
        "standard": file_hash(standard_file(catalogue, dataset)),
        "elements": sha256(_canonical(elements)),
        "code_tables": sha256(_canonical(code_tables)),
        "suite": file_hash(suite_file),
        "element_keys": sorted(elements),
        "code_table_ids": sorted(code_tables),
    }
    combined = sha256(_canonical([detail["standard"], detail["elements"], detail["code_tables"]]))
    commit = gitrev.head_commit(catalogue.root)
    if commit is not None:
        detail["dirty"] = (gitrev.is_dirty(catalogue.root, [str(standard_file(catalogue, dataset).relative_to(
            catalogue.root)), "elements", "codes"]) or gitrev.is_dirty(suite_file.parent, [suite_file.name]))
    return {"standard_version": combined[:SHORT], "suite_version": (detail["suite"] or "")[:SHORT] or None,
            "standards_commit": commit, "detail": detail}



def _suite_code_tables(suite_file: Path) -> set[str]:
    """Code tables an owner's rule names in the suite (``expect_column_values_to_be_in_code_table``)."""
    try:
        suite = json.loads(suite_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    expectations = suite.get("expectations") if isinstance(suite, dict) else None
    return {str(item["kwargs"]["code_table"]) for item in expectations or []
            if isinstance(item, dict) and isinstance(item.get("kwargs"), dict) and item["kwargs"].get("code_table")}
