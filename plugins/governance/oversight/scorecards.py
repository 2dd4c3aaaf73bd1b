"""Quality scorecards: pure arithmetic over run records and hourly freshness checks.

Kept free of I/O so the figures a department is judged by can be tested to the last decimal.
Runs are ``governance.run_record`` rows as dicts; checks are ``governance.freshness_history``
rows as dicts. Rates are shares in [0, 1]; ``None`` means "no basis", never zero.

* pass rate: runs whose verdict is not ``failed`` / all runs;
* quarantine rate: rows quarantined / rows received, over runs that received rows;
* freshness SLA met: hourly checks with status ``fresh`` / all checks;
* volume change: rows received by the latest run against the run before it, in percent;
* delivery to publish: median minutes from a delivery's completion (its manifest written) to the end of the
  run that published it, over runs that published a timed delivery (how long shared data lags a drop).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from statistics import median
from typing import Any

Row = Mapping[str, Any]


def pass_rate(runs: Sequence[Row]) -> float | None:
    if not runs:
        return None
    return sum(1 for run in runs if run.get("verdict") != "failed") / len(runs)


def quarantine_rate(runs: Iterable[Row]) -> float | None:
    counted = [run for run in runs if run.get("rows_received")]
    received = sum(int(run["rows_received"]) for run in counted)
    if not received:
        return None
    return sum(int(run.get("rows_quarantined") or 0) for run in counted) / received


def freshness_sla(checks: Sequence[Row]) -> float | None:
    if not checks:
        return None
    return sum(1 for check in checks if check.get("status") == "fresh") / len(checks)


def in_order(runs: Iterable[Row]) -> list[Row]:
    """Runs by business date, then start time (a rerun of a day comes after the first attempt)."""
    return sorted(runs, key=lambda run: (_day(run) or date.min, run.get("started_at") or datetime.min,
                                         str(run.get("run_id") or "")))


def latest_two_volumes(runs: Iterable[Row]) -> tuple[int, int] | None:
    """(previous, latest) rows received, over runs that recorded a volume."""
    volumes = [int(run["rows_received"]) for run in in_order(runs) if run.get("rows_received") is not None]
    return (volumes[-2], volumes[-1]) if len(volumes) >= 2 else None


def volume_change(runs: Iterable[Row]) -> float | None:
    """Percent change of rows received, latest run against the one before; None without a previous volume."""
    pair = latest_two_volumes(runs)
    if pair is None or pair[0] == 0:
        return None
    previous, latest = pair
    return (latest - previous) / previous * 100


def combined_volume_change(runs_by_dataset: Mapping[str, Iterable[Row]]) -> float | None:
    """A department's volume change: its datasets' latest volumes summed against their previous ones."""
    pairs = [pair for pair in (latest_two_volumes(runs) for runs in runs_by_dataset.values()) if pair]
    previous = sum(pair[0] for pair in pairs)
    if not previous:
        return None
    return (sum(pair[1] for pair in pairs) - previous) / previous * 100


def delivery_to_publish_minutes(runs: Iterable[Row]) -> float | None:
    lags = [(_moment(run["finished_at"]) - _moment(run["delivered_at"])).total_seconds() / 60 for run in runs
            if run.get("delivered_at") and run.get("finished_at") and (run.get("rows_published") or 0) > 0]
    return median(lags) if lags else None


def _moment(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class Scorecard:
    scope: str  # a dataset key or a department key
    kind: str  # "dataset" or "department"
    department: str
    runs: int
    failed: int
    pass_rate: float | None
    quarantine_rate: float | None
    freshness_sla: float | None
    volume_change_pct: float | None
    last_verdict: str | None = None
    delivery_to_publish_min: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {name: round(value, 4) if isinstance(value, float) else value for name, value in asdict(self).items()}


def dataset_scorecard(key: str, department: str, runs: Sequence[Row], checks: Sequence[Row]) -> Scorecard:
    ordered = in_order(runs)
    return Scorecard(scope=key, kind="dataset", department=department, runs=len(ordered),
                     failed=sum(1 for run in ordered if run.get("verdict") == "failed"),
                     pass_rate=pass_rate(ordered), quarantine_rate=quarantine_rate(ordered),
                     freshness_sla=freshness_sla(checks), volume_change_pct=volume_change(ordered),
                     last_verdict=ordered[-1].get("verdict") if ordered else None,
                     delivery_to_publish_min=delivery_to_publish_minutes(ordered))


def scorecards(datasets: Mapping[str, str], runs: Iterable[Row], checks: Iterable[Row]) -> list[Scorecard]:
    """One card per dataset (``datasets``: key -> department), then one per department, by key.

    Runs and checks of datasets not in ``datasets`` (retired from the catalogue) are ignored.
    """
    runs_by = _group(runs, lambda row: row.get("dataset_key"))
    checks_by = _group(checks, lambda row: row.get("dataset_key"))
    cards = [dataset_scorecard(key, department, runs_by.get(key, []), checks_by.get(key, []))
             for key, department in sorted(datasets.items())]
    for department in sorted(set(datasets.values())):
        keys = [key for key, owner in datasets.items() if owner == department]
        department_runs = [run for key in keys for run in runs_by.get(key, [])]
        department_checks = [check for key in keys for check in checks_by.get(key, [])]
        cards.append(Scorecard(
            scope=department, kind="department", department=department, runs=len(department_runs),
            failed=sum(1 for run in department_runs if run.get("verdict") == "failed"),
            pass_rate=pass_rate(department_runs), quarantine_rate=quarantine_rate(department_runs),
            freshness_sla=freshness_sla(department_checks),
            volume_change_pct=combined_volume_change({key: runs_by.get(key, []) for key in keys}),
            delivery_to_publish_min=delivery_to_publish_minutes(department_runs)))
    return cards


def daily_trend(runs: Iterable[Row], group: Callable[[Row], str | None]) -> dict[str, list[dict[str, Any]]]:
    """Per group (e.g. department) and business day: runs, pass rate and quarantine rate, oldest first."""
    days: dict[str, dict[date, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        key, day = group(run), _day(run)
        if key is not None and day is not None:
            days[key][day].append(run)
    return {key: [{"day": day.isoformat(), "runs": len(day_runs), "pass_rate": pass_rate(day_runs),
                   "quarantine_rate": quarantine_rate(day_runs)} for day, day_runs in sorted(by_day.items())]
            for key, by_day in sorted(days.items())}


def _day(run: Row) -> date | None:
    value = run.get("logical_date") or run.get("started_at")
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


def _group(rows: Iterable[Row], key: Callable[[Row], Any]) -> dict[Any, list[Row]]:
    grouped: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[key(row)].append(row)
    return grouped
