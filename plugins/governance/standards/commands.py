"""The standards owner's change-management commands: ``standards history``, and (added by later modules)
the breaking-change check, consumer notices, suite impact on real deliveries and the ODCS export.

``add_change_commands`` registers them on the ``standards`` and ``suites`` command groups of ``governance.cli``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from governance.settings import get_settings
from governance.standards.catalogue import Catalogue

OK, PROBLEMS, ERROR = 0, 1, 2


def add_change_commands(standards: argparse._SubParsersAction, suites: argparse._SubParsersAction,
                        command: Callable[..., argparse.ArgumentParser]) -> None:
    history = command(standards, "history", _history,
                      "list the versions of a dataset's standard and suite (git history) and what each changed")
    history.add_argument("dataset", help="<department>/<dataset>")
    notify = command(standards, "notify", _notify,
                     "tell consumer departments (alert channel) of breaking changes and new notices since --base")
    notify.add_argument("--base", required=True, help="git revision before the merge (e.g. ORIG_HEAD, origin/main~1)")
    notify.add_argument("--dry-run", action="store_true", help="print the notices, send nothing")


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


def _today() -> date:
    return datetime.now(ZoneInfo(get_settings().timezone)).date()


def base_catalogue(root: Path, rev: str, folder: Path) -> Catalogue | None:
    """The standards as they were at git revision ``rev`` (None without git or that revision)."""
    from governance.standards import gitrev
    from governance.standards.catalogue import check_catalogue

    if not gitrev.export(root, rev, folder):
        return None
    return check_catalogue(folder)[0]  # an older version with problems still has its datasets


def breaking_check(catalogue: Catalogue, base: str | None) -> int:
    """``standards check``'s second half: breaking changes against ``base`` (default HEAD) need a notice."""
    from governance.standards.breaking import compare, notice_problems

    rev = base or "HEAD"
    with tempfile.TemporaryDirectory(prefix="standards-base-") as folder:
        old = base_catalogue(catalogue.root, rev, Path(folder))
        if old is None:
            print(f"no git revision {rev} for {catalogue.root}: breaking changes not checked"
                  if base else "not a git checkout (or no git): breaking changes not checked")
            return PROBLEMS if base else OK
        today = _today()
        comparison = compare(old, catalogue, today)
        problems = notice_problems(old, catalogue, comparison, today)
    shown = [change for change in comparison.changes if change.level != "info"]
    print(f"changes against {rev}: {len(comparison.breaking)} breaking, "
          f"{sum(change.level == 'warning' for change in shown)} warning(s)")
    for change in shown:
        print(f"  {change.render()}")
    for number, problem in enumerate(problems, start=1):
        print(f"{number}. {problem}")
    return PROBLEMS if problems else OK


def _notify(arguments: argparse.Namespace) -> int:
    from governance.standards.catalogue import load_catalogue
    from governance.standards.notices import consumer_notices, send

    catalogue = load_catalogue(get_settings().standards_root)
    with tempfile.TemporaryDirectory(prefix="standards-base-") as folder:
        old = base_catalogue(catalogue.root, arguments.base, Path(folder))
        if old is None:
            print(f"error: no git revision {arguments.base} for {catalogue.root}", file=sys.stderr)
            return ERROR
        notices = consumer_notices(old, catalogue, _today())
    for notice in notices:
        print(f"{notice.subject}\n{notice.message}\n")
    if not notices:
        print(f"no breaking change and no new notice since {arguments.base}: nobody to tell")
    elif not arguments.dry_run:
        failed = send(notices)
        print(f"sent {len(notices) - failed} notice(s)" + (f", {failed} not delivered" if failed else ""))
        return PROBLEMS if failed else OK
    return OK
