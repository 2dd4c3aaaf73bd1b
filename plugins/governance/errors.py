"""One error hierarchy: every error the library raises says whether a retry can help.

``retryable`` is the only thing a task looks at (``retry_can_help``): a ``DataError`` (what a department
delivered) or a ``ConfigurationError`` (standards, suites, keys, the warehouse's shape, a run's work area)
stays wrong however often it is retried, so the task fails at once; a ``TransientError`` (a lost connection,
a full disk) may pass, so Airflow retries it. Messages name files, rows, columns and rules, never values.
"""

from __future__ import annotations

from typing import ClassVar


class GovernanceError(Exception):
    """Base of every error the library raises on purpose."""

    retryable: ClassVar[bool] = False


class DataError(GovernanceError):
    """The delivered data breaks the standard; the department must resend or fix it, a retry cannot help."""


class ConfigurationError(GovernanceError):
    """Standards, suites, keys or the deployment are wrong or inconsistent; an operator must act first."""


class TransientError(GovernanceError):
    """Something outside the data failed for now (a connection, disk space); a retry may succeed."""

    retryable = True


def retry_can_help(error: BaseException) -> bool:
    """The one fail-versus-retry decision: a governance error says; anything else (a dropped database
    connection from the driver, a bug) keeps Airflow's default and is retried."""
    return error.retryable if isinstance(error, GovernanceError) else True
