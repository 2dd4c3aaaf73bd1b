"""How old a dataset may be before it is late: hours per update cycle, and the standard's own overrides.

A standard, not an oversight figure: the data contract (``standards/odcs.py``) publishes these thresholds
and the oversight office judges freshness against them (:mod:`governance.oversight.freshness`).
"""

from __future__ import annotations

from governance.standards.models import Dataset

# (warn_after, error_after) in hours per update cycle: a day's grace beyond the cycle, then the
# next cycle missed altogether.
CYCLE_THRESHOLDS_H: dict[str, tuple[float, float]] = {
    "daily": (30.0, 48.0),
    "weekly": (8 * 24.0, 14 * 24.0),
    "monthly": (32 * 24.0, 62 * 24.0),
}


def freshness_hours(dataset: Dataset) -> tuple[float, float]:
    """``(warn_after, error_after)`` hours: the cycle's defaults with the standard's ``freshness`` overrides.

    When only one override is given and it crosses the other default (warn set beyond the cycle's
    error), the other moves with it, so warn never comes after error.
    """
    warn, error = CYCLE_THRESHOLDS_H[dataset.update_cycle]
    policy = dataset.freshness
    if policy is not None:
        if policy.warn_after_hours is not None:
            warn = policy.warn_after_hours
            error = policy.error_after_hours if policy.error_after_hours is not None else max(error, warn)
        elif policy.error_after_hours is not None:
            error = policy.error_after_hours
            warn = min(warn, error)
    return warn, error
