"""The end of ``make demo``: the oversight DAGs run through Airflow, then freshness, quality and the bulletin.

Both DAGs run as real ``dag.test()`` runs, like the dataset DAGs before them: the hourly check
(which records the history and logs any alert) and the weekly bulletin for the week that ends on
the demo's business date.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from governance.orchestration.oversight_dags import BULLETIN_DAG_ID, OVERSIGHT_DAG_ID
from governance.oversight.bulletin import week_sunday
from governance.oversight.figures import collect, window
from governance.oversight.text import freshness_table, quality_table
from governance.settings import Settings
from governance.standards.catalogue import load_catalogue
from governance.warehouse import warehouse_engine

QUALITY_WINDOW_DAYS = 30


def run_oversight(bag: Any, day: date, settings: Settings) -> list[tuple[str, str, str]]:
    """Run the check and the bulletin DAGs, print the tables and the bulletin's path; return the outcomes."""
    outcomes = []
    check = bag.get_dag(OVERSIGHT_DAG_ID).test()
    outcomes.append((OVERSIGHT_DAG_ID, str(check.state), check.run_id))
    bulletin = bag.get_dag(BULLETIN_DAG_ID).test(run_conf={"week_ending": day.isoformat()})
    outcomes.append((BULLETIN_DAG_ID, str(bulletin.state), bulletin.run_id))
    engine = warehouse_engine(settings.warehouse_url)
    try:
        since, until = window(QUALITY_WINDOW_DAYS)
        oversight = collect(engine, load_catalogue(settings.standards_root), since, until, settings=settings)
    finally:
        engine.dispose()
    print(f"\nfreshness now ({settings.timezone})")
    print(freshness_table(oversight.board, settings.timezone))
    print(f"\nquality over the last {QUALITY_WINDOW_DAYS} days")
    print(quality_table(oversight.cards))
    for dag_id, state, _ in outcomes:
        print(f"{dag_id}: {state}")
    html = settings.bulletin_root / f"bulletin_{week_sunday(day).isoformat()}.html"  # the ISO week holding day
    print(f"\nweekly bulletin (每周进度通报): {html}\n  figures: {html.with_suffix('.csv')}")
    return outcomes
