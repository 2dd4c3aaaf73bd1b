"""Fail or retry is decided in one place (``governance.errors`` through ``orchestration.failures.fail_fast``):
every error the library raises is a ``GovernanceError`` whose class says whether a retry can help, and a task
turns one that cannot into ``AirflowFailException`` (Airflow then skips the task's retries)."""

from __future__ import annotations

import ast
import errno
import importlib
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from governance.errors import ConfigurationError, DataError, GovernanceError, TransientError, retry_can_help
from governance.orchestration.failures import fail_fast

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "governance"

# Every public error class, where it lives, and the decision a task must take on it.
EXPECTED = {
    "sources.errors.SourceError": DataError, "sources.errors.NoDrop": DataError,
    "sources.delivery.DeliveryError": DataError, "pipeline.steps.RunFailed": DataError,
    "pipeline.steps.RunHeld": DataError, "redaction.leak_guard.LeakBlocked": DataError,
    "warehouse.publish.PublishError": DataError, "sharing.queries.RequestProblem": DataError,
    "pipeline.steps.IncompleteOutput": ConfigurationError, "standards.problems.StandardsError": ConfigurationError,
    "standards.positions.YamlSyntaxError": ConfigurationError, "standards.odcs.ContractError": ConfigurationError,
    "validation.suites.SuiteError": ConfigurationError, "validation.runner.ExpectationProblem": ConfigurationError,
    "validation.preview.PreviewError": ConfigurationError, "validation.impact.ImpactError": ConfigurationError,
    "keys.keyring.KeyringError": ConfigurationError, "masking.frame.MaskingError": ConfigurationError,
    "keys.crypto.DecryptionError": ConfigurationError, "keys.rotation.RotationError": ConfigurationError,
    "warehouse.schema.SchemaDriftError": ConfigurationError, "profiles.build.ProfileError": ConfigurationError,
    "sharing.tokens.TokenError": ConfigurationError,
    "warehouse.publish.WarehouseUnavailable": TransientError, "files.StorageFull": TransientError,
    "settings.SettingsError": ConfigurationError, "warehouse.migrate.SchemaAheadError": ConfigurationError,
    "alerts.NotificationFailed": TransientError,
    "sharing.app.ApiError": GovernanceError,  # an HTTP answer: retryable only for a quota (429)
}


# How an exception class's base reads (a candidate is then checked with issubclass).
ERRORISH = ("Error", "Exception", "Failed", "Problem", "Blocked", "Full", "Unavailable", "Drop", "Output", "Held")


def error_class(dotted: str) -> type[BaseException]:
    module, name = dotted.rsplit(".", 1)
    return getattr(importlib.import_module(f"governance.{module}"), name)


def instance(cls: type[BaseException]) -> BaseException:
    """An instance without going through each class's own constructor arguments."""
    error = cls.__new__(cls)
    BaseException.__init__(error, "a message naming a file, never a value")
    return error


@pytest.mark.parametrize("dotted", sorted(EXPECTED))
def test_each_error_class_says_whether_a_retry_can_help(dotted: str) -> None:
    cls, base = error_class(dotted), EXPECTED[dotted]
    assert issubclass(cls, base)
    if base is not GovernanceError:
        assert retry_can_help(instance(cls)) is (base is TransientError)


def test_every_public_error_class_in_the_library_is_in_the_hierarchy_and_listed() -> None:
    """A new exception class must pick its side (and be added above); private control-flow ones (``_Name``)
    never leave their module."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_") and any(
                    ast.unparse(base).endswith(ERRORISH) for base in node.bases):
                cls = getattr(importlib.import_module(f"governance.{module}"), node.name)
                if issubclass(cls, BaseException):
                    found.add(f"{module}.{node.name}")
    found -= {"errors.GovernanceError", "errors.DataError", "errors.ConfigurationError", "errors.TransientError"}
    assert found == set(EXPECTED)


def test_the_task_wrapper_fails_at_once_or_leaves_the_retry_to_airflow() -> None:
    from governance.files import StorageFull
    from governance.pipeline.steps import IncompleteOutput
    from governance.sharing.app import ApiError

    def raising(error: BaseException):
        @fail_fast
        def task() -> dict:
            raise error
        return task

    incomplete = IncompleteOutput("public_security/resident_population run r: the masked output holds 3 row(s)")
    with pytest.raises(AirflowFailException, match="the masked output holds 3 row") as failed:
        raising(incomplete)()
    assert failed.value.__cause__ is incomplete  # the publish step's check: fails without retry
    full = StorageFull(errno.ENOSPC, "pull: no space left on device")
    with pytest.raises(StorageFull):
        raising(full)()  # retried: space may be freed
    with pytest.raises(ConnectionResetError):
        raising(ConnectionResetError("server closed the connection"))()  # not ours: Airflow's default, retry
    assert retry_can_help(ApiError(429, "quota", "try later")) and not retry_can_help(ApiError(404, "x", "y"))
    assert fail_fast(lambda: {"rows": 3})() == {"rows": 3}
