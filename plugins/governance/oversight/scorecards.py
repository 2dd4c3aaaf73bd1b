"""Quality scorecards: pure arithmetic over run records and hourly freshness checks.

Kept free of I/O so the figures a department is judged by can be tested to the last decimal.
Runs are ``governance.run_record`` rows as dicts; checks are ``governance.freshness_history``
rows as dicts. Rates are shares in [0, 1]; ``None`` means "no basis", never zero.

A department is judged on its data, not on the platform's troubles (see :func:`judge`): every run is
classed from its ``verdict`` and ``message`` (the record step stores ``"<ErrorType>: <message>"``) as

* ``published`` / ``held`` / ``data`` (the department's delivery or data failed) / ``no_data``, or
* ``platform``: the standards, a suite, the keys, the warehouse, storage or Airflow failed, or a failure whose
  message shows no cause in the delivery (the department is never blamed on a guess);

and per dataset and business date only the first attempt that is not a platform failure counts. Later
attempts (a rerun of a date already published, a resubmission) and a run that found no data but was not the
scheduled run (an operator's rerun for a date with no delivery) are ``rerun``: listed, never counted.

* pass rate: counted business dates not failed for data / counted business dates (held counts as not failed);
* quarantine rate: rows quarantined / rows received, over counted runs that received rows;
* freshness SLA met: hourly checks with status ``fresh`` / all checks;
* volume change: rows received by the latest run against the run before it, in percent;
* delivery to publish: median minutes from a delivery's completion (its manifest written) to the end of the
  run that published it, over runs that published a timed delivery (how long shared data lags a drop).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from statistics import median
from typing import Any

Row = Mapping[str, Any]

PUBLISHED, HELD, DATA, NO_DATA, PLATFORM, RERUN = "published", "held", "data", "no_data", "platform", "rerun"
OUTCOME_ZH = {PUBLISHED: "已发布", HELD: "待部门确认", DATA: "数据不合格", NO_DATA: "未按时报送",
              PLATFORM: "平台故障", RERUN: "重跑(不计入)"}
_RERUN_CAUSES = {PUBLISHED: "重跑并发布", NO_DATA: "重跑时没有当日数据", HELD: "重跑: 待部门确认"}
# Wrappers that hide the original error type: Airflow's fail-fast exception carries the message unchanged.
_WRAPPERS = re.compile(r"^(AirflowFailException|AirflowException|RunFailed|RunHeld):\s*")
# Platform causes, checked first: (pattern, cause). The message names the failing part, never data values.
PLATFORM_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(pattern, re.IGNORECASE), cause) for
                                                                  pattern, cause in (
    (r"problem\(s\) in the standards|StandardsError|standards?/datasets/|数据集标准.*错误", "数据标准错误"),
    (r"SuiteError|ExpectationProblem|\.json(:\d+)*: |expectation", "校验套件错误"),
    (r"keyring|key id|KeyringError|encryption key|pseudonym key|密钥", "密钥问题"),
    (r"has drifted from its standard|WarehouseUnavailable|OperationalError|InterfaceError|could not connect|"
     r"connection refused|server closed the connection|PublishError|IncompleteOutput|数据仓库", "数据仓库故障"),
    (r"StorageFull|no space left|disk quota", "存储空间不足"),
    (r"Airflow connection|AirflowTaskTimeout|AirflowTaskTerminated|zombie|heartbeat|SIGTERM|SIGKILL|"
     r"task failed|killed", "Airflow 故障"),
))
# Causes in the department's delivery or data (after the platform ones).
NO_DATA_CAUSE = re.compile(r"no drop for|没有可列入清单的文件|NoDrop", re.IGNORECASE)
VERDICT_CAUSE = re.compile(r"failed its standard's verdict|table rule failed|rows quarantined \(|"
                           r"above the standard's limit|the drop holds no rows", re.IGNORECASE)
DATA_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(pattern, re.IGNORECASE), cause) for
                                                              pattern, cause in (
    (r"is missing column\(s\)|has unexpected column\(s\)|duplicate column\(s\)", "报送数据的表结构与标准不符"),
    (r"交付清单|manifest|not a readable (CSV|Excel)|malformed row|header is not readable|编码|encoding|"
     r"a row longer than|sheet .* not found|: line \d+", "报送文件无法读取"),
))


@dataclass(frozen=True)
class Judged:
    """One run as the scorecards see it: its outcome, the cause in Chinese, and whether it counts."""

    run: Row
    outcome: str
    cause: str = ""
    counted: bool = True

    @property
    def dataset_key(self) -> str:
        return str(self.run.get("dataset_key") or "")


def classify(run: Row) -> tuple[str, str]:
    """(outcome, cause) of one run from its verdict and message alone (see the module docstring)."""
    verdict = run.get("verdict")
    if verdict in ("passed", "passed_with_quarantine"):
        return PUBLISHED, ""
    if verdict == "held_for_confirmation":
        return HELD, "数据量骤减, 等待部门确认"
    message = _WRAPPERS.sub("", str(run.get("message") or "").strip())
    if not message:
        return PLATFORM, "原因未记录"
    if VERDICT_CAUSE.search(message):  # the standard's own verdict on the data: definitive, checked first
        return DATA, "超过标准的隔离上限或表级规则未通过"
    for pattern, cause in PLATFORM_CAUSES:
        if pattern.search(message):
            return PLATFORM, cause
    if NO_DATA_CAUSE.search(message):
        return NO_DATA, "未按时报送(没有当日数据)"
    for pattern, cause in DATA_CAUSES:
        if pattern.search(message):
            return DATA, cause
    return PLATFORM, "其他平台错误"


def judge(runs: Iterable[Row]) -> list[Judged]:
    """Every run classed; per (dataset, business date) only the first attempt that is not a platform failure
    counts, and a no-data run counts (as a missed delivery) only when it is the scheduled run."""
    judged: list[Judged] = []
    by_day: dict[tuple[Any, date | None], list[Row]] = defaultdict(list)
    for run in runs:
        by_day[(run.get("dataset_key"), _day(run))].append(run)
    for attempts in by_day.values():
        counted = False
        for run in in_order(attempts):
            outcome, cause = classify(run)
            if outcome == PLATFORM:
                judged.append(Judged(run, PLATFORM, cause, counted=False))
            elif counted or (outcome == NO_DATA and not str(run.get("run_id") or "").startswith("scheduled__")):
                judged.append(Judged(run, RERUN, _RERUN_CAUSES.get(outcome) or f"重跑: {cause}", counted=False))
            else:
                counted = True
                judged.append(Judged(run, outcome, cause))
    return judged


def pass_rate(runs: Sequence[Row]) -> float | None:
    """Share of the counted business dates not failed for the department's data."""
    counted = [item for item in judge(runs) if item.counted]
    if not counted:
        return None
    return sum(1 for item in counted if item.outcome not in (DATA, NO_DATA)) / len(counted)


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
    """The department's own figures (counted business dates) and, apart, the platform's incidents and reruns."""

    scope: str  # a dataset key or a department key
    kind: str  # "dataset" or "department"
    department: str
    runs: int  # every attempt recorded
    failed: int  # counted business dates failed for the department's data (incl. missed deliveries)
    pass_rate: float | None
    quarantine_rate: float | None
    freshness_sla: float | None
    volume_change_pct: float | None
    last_verdict: str | None = None
    delivery_to_publish_min: float | None = None
    days: int = 0  # counted business dates
    held: int = 0
    platform_failures: int = 0
    reruns: int = 0
    failure_causes: dict[str, int] = field(default_factory=dict)  # the department's failures by cause

    def as_dict(self) -> dict[str, Any]:
        return {name: round(value, 4) if isinstance(value, float) else value for name, value in asdict(self).items()}


def _card(scope: str, kind: str, department: str, runs: Sequence[Row], checks: Sequence[Row],
          volume: float | None) -> Scorecard:
    ordered = in_order(runs)
    judged = judge(ordered)
    counted = [item for item in judged if item.counted]
    failures = [item for item in counted if item.outcome in (DATA, NO_DATA)]
    causes: dict[str, int] = defaultdict(int)
    for item in failures:
        causes[item.cause] += 1
    return Scorecard(
        scope=scope, kind=kind, department=department, runs=len(ordered), failed=len(failures),
        pass_rate=(len(counted) - len(failures)) / len(counted) if counted else None,
        quarantine_rate=quarantine_rate(item.run for item in counted), freshness_sla=freshness_sla(checks),
        volume_change_pct=volume,
        last_verdict=ordered[-1].get("verdict") if ordered and kind == "dataset" else None,
        delivery_to_publish_min=delivery_to_publish_minutes(ordered), days=len(counted),
        held=sum(1 for item in counted if item.outcome == HELD),
        platform_failures=sum(1 for item in judged if item.outcome == PLATFORM),
        reruns=sum(1 for item in judged if item.outcome == RERUN), failure_causes=dict(sorted(causes.items())))


def dataset_scorecard(key: str, department: str, runs: Sequence[Row], checks: Sequence[Row]) -> Scorecard:
    return _card(key, "dataset", department, runs, checks, volume_change(runs))


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
        cards.append(_card(department, "department", department,
                           [run for key in keys for run in runs_by.get(key, [])],
                           [check for key in keys for check in checks_by.get(key, [])],
                           combined_volume_change({key: runs_by.get(key, []) for key in keys})))
    return cards


def incidents(runs: Iterable[Row]) -> list[dict[str, Any]]:
    """The platform failures and the reruns left out of the departments' figures, newest first."""
    rows = [{"dataset_key": item.dataset_key, "day": (_day(item.run) or date.min).isoformat(),
             "run_id": item.run.get("run_id"), "started_at": str(item.run.get("started_at") or ""),
             "outcome": item.outcome, "cause": item.cause, "verdict": item.run.get("verdict"),
             "message": str(item.run.get("message") or "")[:300]}
            for item in judge(runs) if not item.counted]
    return sorted(rows, key=lambda row: (row["day"], row["started_at"], row["dataset_key"]), reverse=True)


def daily_trend(runs: Iterable[Row], group: Callable[[Row], str | None]) -> dict[str, list[dict[str, Any]]]:
    """Per group (e.g. department) and business day, over counted runs only: dates, pass rate, quarantine rate."""
    days: dict[str, dict[date, list[Judged]]] = defaultdict(lambda: defaultdict(list))
    for item in judge(runs):
        key, day = group(item.run), _day(item.run)
        if item.counted and key is not None and day is not None:
            days[key][day].append(item)
    return {key: [{"day": day.isoformat(), "runs": len(items),
                   "pass_rate": sum(1 for item in items if item.outcome not in (DATA, NO_DATA)) / len(items),
                   "quarantine_rate": quarantine_rate(item.run for item in items)}
                  for day, items in sorted(by_day.items())]
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
