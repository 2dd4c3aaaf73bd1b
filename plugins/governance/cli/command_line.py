"""``governance``: the command line for standards owners, operators and the demo.

Exit codes: 0 success, 1 problems found (standards, suites, a failed run), 2 bad usage
or an unexpected error (one line; set GOVERNANCE_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from governance.settings import airflow_environment, debug, get_settings

OK, PROBLEMS, ERROR = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    if not hasattr(arguments, "handler"):
        parser.print_help()
        return ERROR
    try:
        return arguments.handler(arguments)
    except KeyboardInterrupt:
        return ERROR
    except Exception as error:
        if debug():
            raise
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="governance", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(title="commands")

    standards = commands.add_parser("standards", help="check or rebuild the standards").add_subparsers()
    check = _command(standards, "check", _standards_check, "validate every standards file and check breaking "
                     "changes against git HEAD (or --base) have a notice; exit 1 on problems")
    check.add_argument("--base", default=None, help="git revision to compare with (default HEAD; no git: skipped)")
    _command(standards, "build-divisions", _build_divisions,
             "regenerate standards/codes/divisions.csv from python-stdnum's GB/T 2260 data")

    suites = commands.add_parser("suites", help="the GX expectation suites in expectations/").add_subparsers()
    _command(suites, "generate", _suites_generate, "derive each suite from the standards, keeping owner edits")
    _command(suites, "check", _suites_check,
             "check every suite against GX and the standards (no rule removed or loosened without a waiver)")
    preview = _command(suites, "preview", _suites_preview,
                       "run a dataset's suite on a sample CSV/XLSX file; exit 1 if the verdict fails or the suite "
                       "is broken, 2 if the file or dataset is not found")
    preview.add_argument("dataset", help="<department>/<dataset>")
    preview.add_argument("file", type=Path, help="sample drop (.csv or .xlsx), read as the nightly pull reads it")
    preview.add_argument("--suite", type=Path, default=None, help="an edited copy of the suite (default: the "
                         "dataset's suite in expectations/)")
    preview.add_argument("--examples", type=int, default=3, help="masked example rows per rule (default 3)")
    from governance.cli.standards import add_change_commands

    add_change_commands(standards, suites, _command)  # standards history|..., suites impact (change management)

    demo_data = _command(commands, "demo-data", _demo_data, "write synthetic drops for every dataset")
    demo_data.add_argument("--date", type=date.fromisoformat, default=None, help="drop date (default: yesterday)")
    demo_data.add_argument("--rows", type=int, default=2000, help="resident population rows (others scale)")

    deliveries = commands.add_parser("delivery", help="the delivery protocol (docs/operations.md)").add_subparsers()
    manifest = _command(deliveries, "manifest", _delivery_manifest,
                        "write MANIFEST.json (sizes, rows, SHA-256) for a drop folder; run it after the last file")
    manifest.add_argument("folder", type=Path, help="<landing>/<department>/<dataset>/<YYYY-MM-DD>")
    manifest.add_argument("--system", required=True, help="the exporting system (导出系统), e.g. 人口管理系统")
    manifest.add_argument("--dataset", default=None, help="<department>/<dataset> (default: from the folder)")
    manifest.add_argument("--date", type=date.fromisoformat, default=None,
                          help="business date (default: the folder's name)")

    keys = commands.add_parser("keys", help="masking keys").add_subparsers()
    _command(keys, "init", _keys_init, "create local demo keys in var/secrets (never committed)")
    _command(keys, "status", _keys("status"), "key ids, fingerprints, status, and published values per key id")
    _command(keys, "rotate", _keys("rotate"), "new encryption key; re-encrypt published values; retire old keys")
    pseudonym = _command(keys, "rotate-pseudonym", _keys("rotate_pseudonym"),
                         "rotate the pseudonym key in stages (see docs/operations.md)")
    pseudonym.add_argument("--stage", choices=("prepare", "cutover", "finish"), required=True)
    pseudonym.add_argument("--mapping-days", type=int, default=30, help="finish: minimum days since cutover")

    grants = commands.add_parser("grants", help="warehouse roles that follow the sharing types").add_subparsers()
    for name, help_text in (("apply", "create the department roles and re-apply every grant (PostgreSQL)"),
                            ("plan", "print the grants the standards and agreements call for, apply nothing")):
        grant_command = _command(grants, name, _grants, help_text)
        grant_command.set_defaults(grants_action=name)
        grant_command.add_argument("--date", type=date.fromisoformat, default=None,
                                   help="day the agreements must be valid on (default: today)")
        grant_command.add_argument("--role-prefix", default="", help="prefix for every role name (default: none)")

    fresh = _command(commands, "freshness", _oversight("freshness"),
                     "every dataset's freshness now (pipeline and data clocks against its update cycle)")
    fresh.add_argument("--json", action="store_true", help="print JSON instead of a table")
    fresh.add_argument("--check", action="store_true", help="exit 1 when a dataset is stale, skewed or never loaded")
    bulletin = _command(commands, "bulletin", _oversight("bulletin"),
                        "write the weekly bulletin (每周进度通报) as HTML and CSV")
    bulletin.add_argument("--week-ending", type=date.fromisoformat, default=None,
                          help="last day of the week to report (default: last Sunday before today)")
    bulletin.add_argument("--output", type=Path, default=None, help="folder (default: GOVERNANCE_BULLETIN_ROOT)")

    demo = _command(commands, "demo", _demo, "replay the nights before (--days), run the last night's DAGs through "
                    "Airflow, call the sharing API as the consumers do, and print a summary")
    demo.add_argument("--date", type=date.fromisoformat, default=None,
                      help="the last business date (default: yesterday)")
    demo.add_argument("--days", type=int, default=None, help="nights of history ending with --date, drops written by "
                      "the demo (make demo: 14); without it: that night only, on drops written by demo-data")
    demo.add_argument("--rows", type=int, default=2000, help="resident population rows of the history's drops")

    run_airflow = _command(commands, "airflow", _airflow, "run the airflow CLI with this suite's settings")
    run_airflow.add_argument("args", nargs=argparse.REMAINDER, help="arguments for airflow")
    _command(commands, "airflow-env", _airflow_env,
             "print this suite's Airflow settings as shell exports, for plain `airflow`: "
             'eval "$(governance airflow-env)"')

    from governance.cli.sharing import add_sharing_commands

    add_sharing_commands(commands, _command)  # tokens issue|revoke|list, serve (the sharing API)
    from governance.cli.roles import add_role_commands

    add_role_commands(commands, _command)  # roles list|sync (FAB roles and per-DAG permissions)
    db = commands.add_parser("db", help="the warehouse's governance schema (Alembic migrations)").add_subparsers()
    up = _command(db, "upgrade", _db("upgrade_command"),
                  "apply the governance schema's migrations up to head (or --revision)")
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    _command(db, "current", _db("current_command"), "print the revision the warehouse is at and this release's head")
    revision = _command(db, "revision", _db("revision_command"), "write the next migration from the difference "
                        "between the warehouse (at head) and the tables in the code; review it before committing")
    revision.add_argument("-m", "--message", required=True, help="what it changes, e.g. 'quarantine resubmitted'")
    return parser


def _command(group: argparse._SubParsersAction, name: str, handler: Callable[[argparse.Namespace], int],
             help_text: str) -> argparse.ArgumentParser:
    command = group.add_parser(name, help=help_text, description=help_text)
    command.set_defaults(handler=handler)
    return command


def yesterday() -> date:
    return datetime.now(ZoneInfo(get_settings().timezone)).date() - timedelta(days=1)


def _standards_check(arguments: argparse.Namespace) -> int:
    from governance.standards.catalogue import check_catalogue

    settings = get_settings()
    catalogue, problems = check_catalogue(settings.standards_root)
    for number, problem in enumerate(problems, start=1):
        print(f"{number}. {problem}")
    if problems:
        print(f"{len(problems)} problem(s) in {settings.standards_root}")
        return PROBLEMS
    print(f"standards OK: {len(catalogue.departments)} departments, {len(catalogue.elements)} elements, "
          f"{len(catalogue.code_tables)} code tables, {len(catalogue.datasets)} datasets, "
          f"{len(catalogue.agreements)} agreements, {len(catalogue.profiles)} cross-department profile(s)")
    from governance.cli.standards import breaking_check

    return breaking_check(catalogue, arguments.base)


def _build_divisions(_: argparse.Namespace) -> int:
    from governance.standards.catalogue import DIVISIONS_FILE
    from governance.standards.divisions import write_divisions

    target = get_settings().standards_root / DIVISIONS_FILE
    print(f"wrote {write_divisions(target)} division codes to {target}")
    return OK


def _suites_generate(_: argparse.Namespace) -> int:
    from governance.standards.catalogue import load_catalogue
    from governance.validation.suites import regenerate_all

    settings = get_settings()
    for path in regenerate_all(load_catalogue(settings.standards_root), settings.expectations_root):
        print(f"wrote {path}")
    return OK


def _suites_check(_: argparse.Namespace) -> int:
    from governance.standards.catalogue import load_catalogue
    from governance.standards.problems import StandardsError
    from governance.validation.lint import check_suites

    settings = get_settings()
    try:
        catalogue = load_catalogue(settings.standards_root)
    except StandardsError as error:
        print(f"{error}\nfix the standards first (governance standards check)")
        return PROBLEMS
    report = check_suites(catalogue, settings.expectations_root)
    for number, problem in enumerate(report.problems, start=1):
        print(f"{number}. {problem}")
    if report.problems:
        print(f"{len(report.problems)} problem(s) in {settings.expectations_root}")
        return PROBLEMS
    print(f"suites OK: {report.suites} suites, {report.expectations} expectations; every standard rule present, "
          "none loosened without a waiver")
    return OK


def _suites_preview(arguments: argparse.Namespace) -> int:
    from governance.standards.catalogue import load_catalogue
    from governance.validation.preview import PreviewError, preview
    from governance.validation.suites import SuiteError

    try:
        result = preview(load_catalogue(get_settings().standards_root), arguments.dataset, arguments.file,
                         suite_file=arguments.suite, examples=arguments.examples)
    except PreviewError as error:
        print(f"error: {error}", file=sys.stderr)
        return ERROR
    except SuiteError as error:
        print(f"error: broken suite: {error}", file=sys.stderr)
        return PROBLEMS
    print(result.render())
    return OK if result.verdict.publishes else PROBLEMS


def _demo_data(arguments: argparse.Namespace) -> int:
    from governance_demo.data import write_demo_data

    from governance.standards.catalogue import load_catalogue

    settings = get_settings()
    day = arguments.date or yesterday()
    drops = write_demo_data(load_catalogue(settings.standards_root), settings.landing_root, settings.var_root,
                            day, rows=arguments.rows)
    for drop in drops:
        print(f"{drop.dataset:45} {drop.rows:>8} rows  {drop.defect_rows:>5} defects  {drop.path}")
    return OK


def _delivery_manifest(arguments: argparse.Namespace) -> int:
    from governance.sources.delivery import Manifest, write_manifest
    from governance.standards.catalogue import load_catalogue

    folder = arguments.folder.resolve()
    catalogue = load_catalogue(get_settings().standards_root)
    dataset = catalogue.dataset(arguments.dataset or f"{folder.parent.parent.name}/{folder.parent.name}")
    day = arguments.date or date.fromisoformat(folder.name)
    manifest = Manifest.read(write_manifest(folder, dataset, day, arguments.system))
    for entry in manifest.files:
        print(f"{entry.name}  {entry.size} bytes  {entry.rows} rows  sha256 {entry.sha256}")
    print(f"wrote {folder / 'MANIFEST.json'} for {dataset.key} {day}")
    return OK


def _keys_init(_: argparse.Namespace) -> int:
    from governance.keys.keyring import write_local_keyring

    target = get_settings().var_root / "secrets" / "variables.json"
    if target.exists():
        print(f"keys already exist in {target}; leaving them as they are")
        return OK
    write_local_keyring(target)
    print(f"created demo keys in {target} (mode 0600, outside git)")
    return OK


def _grants(arguments: argparse.Namespace) -> int:
    from governance.standards.catalogue import load_catalogue
    from governance.warehouse import warehouse_engine
    from governance.warehouse.grants import apply_grants, plan_grants

    settings = get_settings()
    catalogue = load_catalogue(settings.standards_root)
    today = arguments.date or datetime.now(ZoneInfo(settings.timezone)).date()
    if arguments.grants_action == "plan":
        plan = plan_grants(catalogue, today, prefix=arguments.role_prefix)
        print("\n".join(plan.lines()))
        return OK
    engine = warehouse_engine(settings.warehouse_url)
    try:
        report = apply_grants(engine, catalogue, today, prefix=arguments.role_prefix)
    finally:
        engine.dispose()
    if not report.applied:
        print(f"{engine.dialect.name} warehouse: no database roles, nothing applied")
        return OK
    for table, roles in sorted(report.granted.items()):
        for role, columns in sorted(roles.items()):
            print(f"shared.{table}: {role} SELECT ({', '.join(columns)})")
    for table in report.skipped_tables:
        print(f"shared.{table}: not published yet, granted on its first publish")
    print(f"applied {report.grants} grant(s) for {len(report.plan.roles)} role(s) as of {today}")
    return OK


def _keys(name: str) -> Callable[[argparse.Namespace], int]:
    """A `keys` subcommand from governance.cli.keys, reading the keyring as the pipelines do."""

    def handler(arguments: argparse.Namespace) -> int:
        os.environ.update(airflow_environment())  # the same secrets backend as the tasks (env values win)
        from governance.cli import keys as commands

        return getattr(commands, name)(arguments)

    return handler


def _oversight(name: str) -> Callable[[argparse.Namespace], int]:
    """An oversight command from governance.cli.oversight (imported when it runs)."""

    def handler(arguments: argparse.Namespace) -> int:
        from governance.cli import oversight as commands

        return getattr(commands, name)(arguments)

    return handler


def _db(name: str) -> Callable[[argparse.Namespace], int]:
    """A `db` subcommand from governance.cli.db (imported when it runs: it loads every table of the schema)."""

    def handler(arguments: argparse.Namespace) -> int:
        from governance.cli import db

        return getattr(db, name)(arguments)

    return handler


def _demo(arguments: argparse.Namespace) -> int:
    os.environ.update(airflow_environment())
    os.environ.setdefault("GOVERNANCE_TASK_RETRIES", "0")  # a demo shows a failure at once, not after retries
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")  # task errors show; chatter does not
    from governance_demo.run import run_demo

    if arguments.days is not None and arguments.days < 1:
        print("error: --days must be at least 1", file=sys.stderr)
        return ERROR
    return OK if run_demo(arguments.date or yesterday(), days=arguments.days, rows=arguments.rows) else PROBLEMS


def _airflow(arguments: argparse.Namespace) -> int:
    bin_dir = os.path.dirname(sys.executable)
    # `airflow standalone` starts its components as `airflow ...` from PATH: put this venv's first.
    environment = os.environ | airflow_environment() | {"PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    command = os.path.join(bin_dir, "airflow")
    args = arguments.args[1:] if arguments.args[:1] == ["--"] else arguments.args
    os.execve(command, [command, *args], environment)  # noqa: S606 - the user's own airflow command
    return ERROR  # not reached: execve replaces this process


def _airflow_env(_: argparse.Namespace) -> int:
    for name, value in airflow_environment().items():
        print(f"export {name}={shlex.quote(value)}")
    return OK

