"""The standards owner's change-management commands: ``standards history``, and (added by later modules)
the breaking-change check, consumer notices, suite impact on real deliveries and the ODCS export.

``add_change_commands`` registers them on the ``standards`` and ``suites`` command groups of
:mod:`governance.cli.command_line`.
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
    export = command(standards, "export", _export, "write every dataset as an Open Data Contract Standard v3 "
                     "document (schema, quality rules, SLA, owner), validated against the ODCS JSON schema")
    export.add_argument("--format", choices=("odcs",), default="odcs", help="odcs (Open Data Contract Standard v3.2)")
    export.add_argument("--output", type=Path, default=None, help="folder (default: var/contracts)")
    impact = command(suites, "impact", _impact,
                     "run the proposed and the current suite side by side over the last landed drops and report, "
                     "per rule and night, rows newly quarantined and newly released (masked examples only)")
    impact.add_argument("dataset", nargs="?", default=None,
                        help="<department>/<dataset> (default: every dataset whose suite differs from --base)")
    impact.add_argument("--nights", type=int, default=7, help="how many of the last landed drops (default 7)")
    impact.add_argument("--suite", type=Path, default=None,
                        help="the proposed suite (default: the dataset's file in expectations/)")
    impact.add_argument("--base", default=None, help="git revision of the current suite (default HEAD; with "
                        "--suite and no --base: the file in expectations/)")
    impact.add_argument("--examples", type=int, default=3, help="masked example rows per rule and night (default 3)")
    impact.add_argument("--demo", action="store_true", help="on generated demo drops for the last nights in a "
                        "temporary folder instead of the landing folder (needs no landing data: for CI)")


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


def _impact(arguments: argparse.Namespace) -> int:
    """Impact of suite changes on real (or, with --demo, generated) deliveries; a report, so 0 unless broken."""
    from governance.standards.catalogue import load_catalogue
    from governance.validation.suites import SuiteError

    settings = get_settings()
    catalogue = load_catalogue(settings.standards_root)
    try:
        pairs = _suite_pairs(catalogue, arguments)
    except (KeyError, SuiteError) as error:
        print(f"error: {error.args[0] if isinstance(error, KeyError) else error}", file=sys.stderr)
        return ERROR
    if not pairs:
        print(f"no suite differs from {arguments.base or 'HEAD'}: nothing to compare")
        return OK
    from governance.validation.impact import ImpactError, impact  # GX and pandas: only when there is work
    from governance.validation.impact_reports import impact_folder, save_report
    with tempfile.TemporaryDirectory(prefix="suite-impact-demo-") as scratch:
        landing = _demo_landing(catalogue, Path(scratch), arguments.nights) if arguments.demo else settings.landing_root
        status = OK
        for dataset, current, proposed, labels in pairs:
            try:
                report = impact(catalogue, dataset, landing, current=current, proposed=proposed,
                                nights=arguments.nights, examples=arguments.examples, labels=labels)
            except SuiteError as error:
                print(f"{dataset.key}: broken suite: {error}")
                status = PROBLEMS
                continue
            except ImpactError as error:
                print(f"{dataset.key}: {error}")
                status = max(status, ERROR if arguments.dataset else OK)
                continue
            print(report.render())
            if not arguments.demo:  # real deliveries: the console's impact page shows the latest report
                saved = save_report(report, impact_folder(settings),
                                    computed_at=datetime.now(ZoneInfo(settings.timezone)).isoformat(timespec="seconds"))
                print(f"saved for the console (规则变更影响 suite impact page): {saved}")
    return status


def _suite_pairs(catalogue: Catalogue, arguments: argparse.Namespace) -> list[tuple]:
    """(dataset, current suite, proposed suite, labels) for the named dataset or every changed suite."""
    import json

    from governance.standards import gitrev
    from governance.validation.suites import SuiteError, read_suite_json, suite_path

    root = get_settings().expectations_root
    datasets = [catalogue.dataset(arguments.dataset)] if arguments.dataset else list(catalogue.datasets.values())
    if arguments.suite and not arguments.dataset:
        raise KeyError("--suite needs the dataset it is proposed for")
    pairs = []
    for dataset in datasets:
        path = suite_path(dataset, root)
        proposed_file = arguments.suite or path
        proposed = read_suite_json(proposed_file)
        if arguments.suite and not arguments.base:
            pairs.append((dataset, read_suite_json(path), proposed, (str(path), str(proposed_file))))
            continue
        rev = arguments.base or "HEAD"
        content = gitrev.show(path.parent, rev, path.name)
        if content is None:
            if arguments.dataset:
                raise SuiteError(str(path), f"no version at git revision {rev} to compare with (use --suite)")
            continue
        if arguments.dataset or content != proposed_file.read_bytes():
            pairs.append((dataset, json.loads(content), proposed, (f"{path.name}@{rev}", str(proposed_file))))
    return pairs


def _demo_landing(catalogue: Catalogue, scratch: Path, nights: int) -> Path:
    """Generated drops for the last ``nights`` days (different each night) in ``scratch``: CI has no landing data."""
    from datetime import timedelta

    from governance_demo import write_demo_data

    for back in range(1, nights + 1):
        day = _today() - timedelta(days=back)
        write_demo_data(catalogue, scratch / "landing", scratch / "var", day, rows=300, seed=day.toordinal())
    return scratch / "landing"


def _export(arguments: argparse.Namespace) -> int:
    """One ``<department>/<dataset>.odcs.yaml`` per dataset; exit 1 (nothing written for it) if one is invalid."""
    from governance.standards.catalogue import load_catalogue
    from governance.standards.odcs import ContractError, dataset_contract, dumps, validate_contract
    from governance.standards.versions import dataset_versions
    from governance.validation.suites import read_suite_json, suite_path

    settings = get_settings()
    catalogue = load_catalogue(settings.standards_root)
    output = arguments.output or settings.var_root / "contracts"
    status = OK
    for key, dataset in sorted(catalogue.datasets.items()):
        path = suite_path(dataset, settings.expectations_root)
        version = dataset_versions(catalogue, dataset, path)["standard_version"]
        document = dataset_contract(catalogue, dataset, read_suite_json(path), version=version, today=_today())
        try:
            validate_contract(document)
        except ContractError as error:
            print(f"{key}: not a valid ODCS document: {error}")
            status = PROBLEMS
            continue
        target = output / dataset.department / f"{dataset.name}.odcs.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dumps(document), encoding="utf-8")
        print(f"wrote {target}")
    return status
