"""Fail or retry: the one place a task decides, for every governance task (``governance.errors``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from airflow.sdk.exceptions import AirflowFailException

from governance.errors import retry_can_help

T = TypeVar("T")


def fail_fast(function: Callable[..., T]) -> Callable[..., T]:
    """An error a retry cannot help (bad data, standards, keys, an incomplete work area) fails the task at
    once with ``AirflowFailException``, the cause attached; anything else is left to the task's retries."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return function(*args, **kwargs)
        except Exception as error:
            if retry_can_help(error):
                raise
            from governance.orchestration.task_log import log_failure  # at failure only: DAG parsing stays light

            log_failure(str(error))  # the same text, wrapped, so the log view shows it whole
            raise AirflowFailException(str(error)) from error
    return wrapper
