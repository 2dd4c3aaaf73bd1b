"""Validation against the shared standards: GX suites in expectations/, row-level quarantine.

Importing ``runner`` imports Great Expectations (several seconds), so this package exposes
its API lazily: DAG parsing and the CLI's other commands never pay for it.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "validate_frame": "governance.validation.runner",
    "load_suite": "governance.validation.runner",
    "ValidationOutcome": "governance.validation.runner",
    "suite_path": "governance.validation.suites",
    "regenerate_all": "governance.validation.suites",
    "SuiteError": "governance.validation.suites",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_LAZY[name]), name)
