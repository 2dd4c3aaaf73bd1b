"""Synthetic departmental data for the local demo and the end-to-end tests.

``write_demo_data`` is imported lazily: ``governance_demo.run`` and the CLI import this package
without paying for Faker, openpyxl and the generator until data is actually written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from governance_demo.data import DemoDrop, write_demo_data

__all__ = ["DemoDrop", "write_demo_data"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from governance_demo import data

        return getattr(data, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
