"""``governance freshness`` and ``governance bulletin``: the oversight figures from the terminal.

Both read the warehouse named by ``GOVERNANCE_WAREHOUSE_URL`` and the standards, nothing of
Airflow's, so an operator can run them anywhere the warehouse is reachable.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

from governance.oversight.freshness import NEVER_LOADED, SKEWED, STALE

OK, PROBLEMS = 0, 1
PROBLEM_STATUSES = frozenset({STALE, SKEWED, NEVER_LOADED})


def freshness(arguments: argparse.Namespace) -> int:
    """Print every dataset's freshness; with ``--check`` exit 1 when any is stale, skewed or never loaded."""
    from governance.oversight.clocks import freshness_board
    from governance.oversight.text import freshness_table
    from governance.settings import get_settings
    from governance.standards.catalogue import load_catalogue
    from governance.warehouse import warehouse_engine

    settings = get_settings()
    engine = warehouse_engine(settings.warehouse_url)
    try:
        board = freshness_board(engine, load_catalogue(settings.standards_root), settings=settings)
    finally:
        engine.dispose()
    if arguments.json:
        print(json.dumps([item.as_dict() for item in board], ensure_ascii=False, indent=2))
    else:
        print(freshness_table(board, settings.timezone))
    problems = [item for item in board if item.status in PROBLEM_STATUSES]
    return PROBLEMS if arguments.check and problems else OK


def bulletin(arguments: argparse.Namespace) -> int:
    """Write the weekly bulletin (default: the last complete week) and print where it is."""
    from zoneinfo import ZoneInfo

    from governance.oversight.bulletin import last_week_ending, write_bulletin
    from governance.settings import get_settings
    from governance.standards.catalogue import load_catalogue
    from governance.warehouse import warehouse_engine

    settings = get_settings()
    week_ending = arguments.week_ending or last_week_ending(datetime.now(UTC).astimezone(
        ZoneInfo(settings.timezone)).date())
    engine = warehouse_engine(settings.warehouse_url)
    try:
        written = write_bulletin(engine, load_catalogue(settings.standards_root), week_ending, settings=settings,
                                 root=arguments.output)
    finally:
        engine.dispose()
    figures = written.oversight.headline
    print(f"weekly bulletin for {written.week_ending - timedelta(days=6)} .. {written.week_ending} (Monday to Sunday)")
    print(f"  sharing rate {_pct(figures.sharing_rate)}, freshness compliance {_pct(figures.freshness_compliance)}, "
          f"{figures.monthly_calls:,} calls in {figures.month}")
    print(f"  {written.html}\n  {written.csv}")
    return OK


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
