"""The standards owner's change-management commands: ``standards history``, and (added by later modules)
the breaking-change check, consumer notices, suite impact on real deliveries and the ODCS export.

``add_change_commands`` registers them on the ``standards`` and ``suites`` command groups of ``governance.cli``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from governance.settings import get_settings

OK, PROBLEMS, ERROR = 0, 1, 2


def add_change_commands(standards: argparse._SubParsersAction, suites: argparse._SubParsersAction,
                        command: Callable[..., argparse.ArgumentParser]) -> None:
    history = command(standards, "history", _history,
                      "list the versions of a dataset's standard and suite (git history) and what each changed")
    history.add_argument("dataset", help="<department>/<dataset>")


def _history(arguments: argparse.Namespace) -> int:
    from governance.standards.catalogue import load_catalogue
    from governance.standards.history import dataset_history
    from governance.validation.suites import suite_path

    settings = get_settings()
    catalogue = load_catalogue(settings.standards_root)
    try:
        dataset = catalogue.dataset(arguments.dataset)
    except KeyError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return ERROR
    versions = dataset_history(catalogue, dataset, suite_path(dataset, settings.expectations_root))
    if not versions:
        print(f"{dataset.key}: no git history (not a git checkout, or git is not installed)")
        return OK
    print(f"{dataset.key} ({dataset.title_zh}): {len(versions)} version(s), newest first")
    print("\n".join(version.render() for version in versions))
    return OK
