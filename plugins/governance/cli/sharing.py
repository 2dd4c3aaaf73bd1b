"""``governance tokens issue|revoke|list`` and ``governance serve``: the sharing service's command line.

One module of the command line per command group; :mod:`governance.cli.command_line` only calls
:func:`add_sharing_commands`. Imports are deferred to the handlers so ``governance --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa

Command = Callable[[argparse._SubParsersAction, str, Callable[[argparse.Namespace], int], str],
                   argparse.ArgumentParser]
OK, PROBLEMS = 0, 1
DEFAULT_EXPIRES_DAYS = 90


def add_sharing_commands(commands: argparse._SubParsersAction, command: Command) -> None:
    tokens = commands.add_parser("tokens", help="API tokens of consumer departments (sharing API)").add_subparsers()
    issue = command(tokens, "issue", _issue, "issue a token for a department; it is printed once, only its hash "
                    "is stored")
    issue.add_argument("department", help="consumer department key (as in standards/departments.yaml)")
    issue.add_argument("--expires-days", type=int, default=DEFAULT_EXPIRES_DAYS,
                       help=f"days until the token expires (default {DEFAULT_EXPIRES_DAYS}; 0: never)")
    revoke = command(tokens, "revoke", _revoke, "revoke a token by its id (takes effect on the next request)")
    revoke.add_argument("token_id")
    command(tokens, "list", _list, "list tokens: id, department, created, expires, revoked (never hashes)")

    roles = commands.add_parser("sharing-role", help="the sharing service's least-privilege PostgreSQL role")
    sync = command(roles.add_subparsers(), "sync", _sync_role, "create or refresh the role (SELECT on what "
                   "agreements allow, INSERT-only on the access log, owns nothing); run as the warehouse owner")
    sync.add_argument("--member", action="append", default=[],
                      help="login role of the service to make a member (repeatable); it then connects with "
                           "GOVERNANCE_SHARING_DATABASE_URL")
    sync.add_argument("--login", default=None, help="the service's login role: created (or its password set) "
                      "and made a member; needs --password-env")
    sync.add_argument("--password-env", default=None, metavar="VAR",
                      help="environment variable holding the --login password (never on the command line)")
    sync.add_argument("--role-prefix", default="", help="prefix for the role name (default: none)")

    serve = command(commands, "serve", _serve, "run the sharing API standalone (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    serve.add_argument("--no-access-log", action="store_true", help="no uvicorn access log lines (benchmarks)")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _engine() -> sa.Engine:
    from governance.warehouse import warehouse_engine

    return warehouse_engine()


def _issue(arguments: argparse.Namespace) -> int:
    from governance.settings import get_settings
    from governance.sharing.tokens import issue_token
    from governance.standards.catalogue import load_catalogue

    departments = load_catalogue(get_settings().standards_root).departments
    if arguments.department not in departments:
        print(f"unknown department {arguments.department!r}; known: {', '.join(sorted(departments))}",
              file=sys.stderr)
        return PROBLEMS
    issued = issue_token(_engine(), arguments.department, now=_now(), expires_days=arguments.expires_days or None)
    expires = f"expires {issued.expires_at:%Y-%m-%d %H:%M} UTC" if issued.expires_at else "never expires"
    print(f"token id {issued.token_id} for {issued.department} ({expires})", file=sys.stderr)
    print("store the token now: it is not shown again and only its hash is kept", file=sys.stderr)
    print(issued.token)
    return OK


def _revoke(arguments: argparse.Namespace) -> int:
    from governance.sharing.tokens import TokenError, revoke_token

    try:
        changed = revoke_token(_engine(), arguments.token_id, now=_now())
    except TokenError as error:
        print(error, file=sys.stderr)
        return PROBLEMS
    print(f"revoked {arguments.token_id}" if changed else f"{arguments.token_id} was already revoked")
    return OK


def _list(_: argparse.Namespace) -> int:
    from governance.sharing.tokens import list_tokens

    def when(value: datetime | None) -> str:
        return f"{value:%Y-%m-%d %H:%M}" if value else "-"

    rows = list_tokens(_engine())
    print(f"{'token_id':18} {'department':20} {'created (UTC)':16} {'expires (UTC)':16} revoked (UTC)")
    for row in rows:
        print(f"{row['token_id']:18} {row['department']:20} {when(row['created_at']):16} "
              f"{when(row['expires_at']):16} {when(row['revoked_at'])}")
    return OK


def _sync_role(arguments: argparse.Namespace) -> int:
    from governance.settings import get_settings
    from governance.sharing.roles import ensure_login, sync_service_role
    from governance.standards.catalogue import load_catalogue

    members = list(arguments.member)
    password = os.environ.get(arguments.password_env or "", "")
    if arguments.login and not password:
        print(f"--login {arguments.login} needs --password-env naming a variable that holds its password",
              file=sys.stderr)
        return PROBLEMS
    engine = _engine()
    try:
        if arguments.login and engine.dialect.name == "postgresql":
            ensure_login(engine, arguments.login, password)
            members.append(arguments.login)
        report = sync_service_role(engine, load_catalogue(get_settings().standards_root),
                                   prefix=arguments.role_prefix, members=members)
    finally:
        engine.dispose()
    if not report.applied:
        print(f"{engine.dialect.name} warehouse: no database roles, nothing applied")
        return OK
    print("\n".join(report.lines()))
    print(f"role {report.role}: INSERT on governance.access_log, counters, token check; members: "
          f"{', '.join(report.members) or 'none (add the service login with --member)'}")
    return OK


def _serve(arguments: argparse.Namespace) -> int:
    import uvicorn

    from governance.settings import airflow_environment

    # The keyring for lookups is an Airflow Variable: let this process (and its workers) find the
    # deployment's secrets backend the same way the pipelines do.
    os.environ.update(airflow_environment())
    os.environ["GOVERNANCE_SHARING_PRELOAD"] = "1"  # workers connect and load keys before serving
    os.environ["GOVERNANCE_SHARING_ACCESS_LOG"] = "" if arguments.no_access_log else "1"
    # uvicorn's access log prints the path and query string of every request: the paths name datasets only,
    # and the app takes the query string out of the request before uvicorn logs it (values go in bodies).
    uvicorn.run("governance.sharing.app:create_sharing_app", factory=True, host=arguments.host, port=arguments.port,
                workers=arguments.workers, access_log=not arguments.no_access_log, log_level="info")
    return OK
