"""Oversight: how fresh, how clean and how used every catalogue dataset is.

Figures are computed from what the platform already records (``governance.run_record``, the
published tables, the sharing service's ``governance.access_log``) plus the hourly freshness
checks kept in ``governance.freshness_history``. The same figures feed the Airflow UI page, the
``governance freshness`` command and the weekly bulletin, so they cannot disagree.
"""

from governance.oversight.freshness import (
    ALERTING,
    FRESH,
    NEVER_LOADED,
    SKEWED,
    STALE,
    WARN,
    Freshness,
    Thresholds,
    assess,
    thresholds_for,
)

__all__ = [
    "ALERTING",
    "FRESH",
    "NEVER_LOADED",
    "SKEWED",
    "STALE",
    "WARN",
    "Freshness",
    "Thresholds",
    "assess",
    "thresholds_for",
]
