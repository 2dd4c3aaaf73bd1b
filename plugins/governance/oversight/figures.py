"""All oversight figures for one window, read once and shared by the page, the CLI and the bulletin.

Headline figures (the ones a provincial 通报 leads with):

* 跨部门数据共享率: catalogue datasets published at least once *and* shareable — unconditional
  (无条件共享), or conditional with at least one approved agreement valid on the window's last
  day — over all catalogue datasets. Without agreements loaded, the sharing type alone decides
  (only unconditional counts) and the figure says so in ``sharing_note``;
* freshness compliance: share of catalogue datasets whose freshness is ``fresh`` now;
* monthly data calls: calls logged by the sharing API in the calendar month of the window's end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from governance.oversight.access import AccessFigures, access_figures, calls_between
from governance.oversight.clocks import freshness_board, last_publishes
from governance.oversight.freshness import FRESH, Freshness
from governance.oversight.history import load_checks
from governance.oversight.scorecards import Scorecard, daily_trend, incidents, scorecards
from governance.settings import Settings, get_settings
from governance.standards.agreements import active_agreements
from governance.standards.catalogue import Catalogue
from governance.warehouse.engine import GOVERNANCE_SCHEMA

_RUN_COLUMNS = ("run_id", "dataset_key", "department", "logical_date", "started_at", "finished_at", "verdict",
                "rows_received", "rows_passed", "rows_quarantined", "rows_published", "delivered_at", "message")


@dataclass(frozen=True)
class Headline:
    datasets: int
    published: int
    shared: int
    sharing_rate: float | None
    sharing_note: str
    fresh_now: int
    freshness_compliance: float | None
    month: str
    monthly_calls: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Oversight:
    since: datetime
    until: datetime
    timezone: str
    board: list[Freshness]
    cards: list[Scorecard]
    trend: dict[str, list[dict[str, Any]]]
    access: AccessFigures
    headline: Headline
    incidents: list[dict[str, Any]] = field(default_factory=list)  # platform failures and reruns, not counted
    names: dict[str, str] = field(default_factory=dict)  # dataset and department keys -> Chinese names

    def card(self, scope: str) -> Scorecard | None:
        return next((card for card in self.cards if card.scope == scope), None)


def window(days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or datetime.now(UTC)
    return now - timedelta(days=days), now


def collect(engine: sa.Engine, catalogue: Catalogue, since: datetime, until: datetime, *,
            now: datetime | None = None, settings: Settings | None = None,
            board: list[Freshness] | None = None) -> Oversight:
    """Everything for ``[since, until)`` (aware); freshness is judged at ``now`` (default: ``until``)."""
    settings = settings or get_settings()
    zone = ZoneInfo(settings.timezone)
    board = board if board is not None else freshness_board(engine, catalogue, now or until, settings)
    owners = {key: dataset.department for key, dataset in catalogue.datasets.items()}
    with engine.connect() as connection:
        # business dates in [since, until): the last date is the one ``until`` falls in, unless it is midnight
        last_day = (until.astimezone(zone) - timedelta(microseconds=1)).date()
        runs = [run for run in load_runs(connection, since.astimezone(zone).date(), last_day)
                if run["dataset_key"] in owners]
        checks = load_checks(connection, since, until)
        access = access_figures(connection, owners, since, until, settings.timezone)
        month_start = until.astimezone(zone).date().replace(day=1)
        monthly = calls_between(connection, datetime(month_start.year, month_start.month, 1, tzinfo=zone), until)
        published = last_publishes(connection)
    trend = daily_trend(runs, lambda run: owners.get(run["dataset_key"]))
    return Oversight(since, until, settings.timezone, board, scorecards(owners, runs, checks), trend, access,
                     headline(catalogue, board, published, monthly, until.astimezone(zone).date()),
                     incidents(runs), chinese_names(catalogue))


def chinese_names(catalogue: Catalogue) -> dict[str, str]:
    """What the page shows for a key: a dataset's ``title_zh``, a department's ``name_zh``."""
    return ({key: dataset.title_zh for key, dataset in catalogue.datasets.items()}
            | {key: department.name_zh for key, department in catalogue.departments.items()})


def headline(catalogue: Catalogue, board: list[Freshness], published: dict[str, Any], monthly_calls: int,
             day: date) -> Headline:
    """The headline figures (see the module docstring for the definitions)."""
    total = len(catalogue.datasets)
    agreed, note = _agreed_datasets(catalogue, day)
    ever = [key for key in catalogue.datasets if key in published]
    shared = [key for key in ever
              if catalogue.datasets[key].sharing == "unconditional"
              or (catalogue.datasets[key].sharing == "conditional" and key in agreed)]
    fresh = sum(1 for item in board if item.status == FRESH)
    return Headline(datasets=total, published=len(ever), shared=len(shared),
                    sharing_rate=len(shared) / total if total else None, sharing_note=note, fresh_now=fresh,
                    freshness_compliance=fresh / len(board) if board else None,
                    month=day.strftime("%Y-%m"), monthly_calls=int(monthly_calls))


def _agreed_datasets(catalogue: Catalogue, day: date) -> tuple[set[str], str]:
    """Datasets with an approved agreement valid on ``day``, or an empty set and why."""
    if not catalogue.agreements:
        return set(), "尚无共享协议: 有条件共享的数据集不计入"
    return {agreement.dataset for agreement in active_agreements(catalogue, day)}, \
        "有条件共享的数据集按有效的已批准共享协议计入"


def load_runs(connection: sa.Connection, since: date, until: date) -> list[dict[str, Any]]:
    """Run records with business date in ``[since, until]``; empty when the table does not exist yet."""
    if not sa.inspect(connection).has_table("run_record", schema=GOVERNANCE_SCHEMA):
        return []
    record = sa.Table("run_record", sa.MetaData(), schema=GOVERNANCE_SCHEMA, autoload_with=connection)
    columns = [record.c[name] for name in _RUN_COLUMNS if name in record.c]
    query = sa.select(*columns).where(record.c.logical_date >= since, record.c.logical_date <= until)
    return [dict(row._mapping) for row in connection.execute(query)]
