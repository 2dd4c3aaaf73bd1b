"""The end of ``make demo``: the fortnight in figures, read back from the warehouse, and where to look."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from governance.oversight.bulletin import week_sunday
from governance.settings import Settings
from governance.warehouse.engine import GOVERNANCE_SCHEMA
from governance.webapp.templating import NAV


@dataclass(frozen=True)
class Figures:
    """What the demo's checks are about, counted in the warehouse (not in the demo's memory)."""

    business_dates: int
    runs: dict[str, int]  # verdict -> runs
    calls: dict[str, dict[str, int]]  # consumer -> decision -> calls
    security_events: dict[str, int]  # kind -> events
    quarantine: dict[str, int]  # status -> entries

    @property
    def consumers(self) -> list[str]:
        return sorted(self.calls)

    def decided(self, decision: str) -> int:
        return sum(by.get(decision, 0) for by in self.calls.values())


def read_figures(engine: sa.Engine) -> Figures:
    def table(connection: sa.Connection, name: str) -> sa.Table | None:
        if not sa.inspect(connection).has_table(name, schema=GOVERNANCE_SCHEMA):
            return None
        return sa.Table(name, sa.MetaData(), schema=GOVERNANCE_SCHEMA, autoload_with=connection)

    def grouped(connection: sa.Connection, found: sa.Table | None, *columns: str) -> list[Any]:
        if found is None:
            return []
        keys = [found.c[column] for column in columns]
        return list(connection.execute(sa.select(*keys, sa.func.count()).group_by(*keys)))

    with engine.connect() as connection:
        runs = table(connection, "run_record")
        dates = 0 if runs is None else connection.execute(
            sa.select(sa.func.count(sa.distinct(runs.c.logical_date)))).scalar() or 0
        calls: dict[str, dict[str, int]] = {}
        for consumer, decision, count in grouped(connection, table(connection, "access_log"), "consumer", "decision"):
            calls.setdefault(consumer, {})[decision] = count
        return Figures(
            business_dates=int(dates),
            runs={verdict or "-": count for verdict, count in grouped(connection, runs, "verdict")},
            calls=calls,
            security_events=dict(grouped(connection, table(connection, "security_event"), "kind")),
            quarantine=dict(grouped(connection, table(connection, "quarantine"), "status")))


def print_history_summary(history: Any, day: date, days: int, settings: Settings) -> None:
    from governance.warehouse import warehouse_engine

    engine = warehouse_engine(settings.warehouse_url)
    try:
        figures = read_figures(engine)
    finally:
        engine.dispose()
    print(f"\n{days} 个夜间批次 / nights of platform life, ending {day} (the last one run by Airflow itself)")
    if history is not None:
        for note in history.notes:
            print(f"  {note}")
        if history.alerts:
            print(f"  告警 {len(history.alerts)} alert(s) raised, e.g.:")
            for alert in _spread(history.alerts, 6):
                print(f"    {alert}")
    print(f"  运行记录 run records: {figures.business_dates} business dates, "
          + ", ".join(f"{count} {verdict}" for verdict, count in sorted(figures.runs.items())))
    print("  隔离记录 quarantine entries: " + ", ".join(f"{count} {status}" for status, count in
                                                 sorted(figures.quarantine.items())))
    print(f"  共享接口调用 sharing API calls (access log) from {len(figures.consumers)} consumer departments: "
          f"{figures.decided('allowed')} allowed, {figures.decided('denied')} denied, "
          f"{figures.decided('blocked')} blocked")
    for consumer in figures.consumers:
        by = figures.calls[consumer]
        print(f"    {consumer:20} " + ", ".join(f"{count} {decision}" for decision, count in sorted(by.items())))
    print("  安全事件 security events: " + (", ".join(f"{count} {kind}" for kind, count in
                                            sorted(figures.security_events.items())) or "none"))
    print(where_to_look(day, settings))


def where_to_look(day: date, settings: Settings) -> str:
    """Where the history shows, and how to log in (the password is never printed, only where it is)."""
    passwords = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE") or str(
        settings.var_root / "airflow" / "simple_auth_manager_passwords.json.generated")
    bulletin = settings.bulletin_root / f"bulletin_{week_sunday(day).isoformat()}.html"
    pages = [f"     http://localhost:8080/governance{path:<28} {label}" for _, label, path in NAV]
    return "\n".join([
        "",
        "查看 / where to look",
        "  1. make airflow    启动 Airflow (airflow standalone), 打开 http://localhost:8080",
        "     登录 log in: 用户 admin, 密码见 password in " + passwords,
        "     (首次启动时生成 written on the first start; also printed in its log)",
        "  2. 控制台 console: Airflow 左侧菜单「数据治理」(the 数据治理 entry in Airflow's menu), or directly:",
        *pages,
        f"  3. 每周通报 weekly bulletin: {bulletin}",
        f"     数据 figures: {bulletin.with_suffix('.csv')}",
        f"  4. 隔离报告 quarantine reports (per department): {settings.reports_root}",
    ])


def _spread(items: list[str], count: int) -> list[str]:
    """Up to ``count`` items evenly spread over ``items`` (first and last included)."""
    if len(items) <= count:
        return items
    step = (len(items) - 1) / (count - 1)
    return [items[round(index * step)] for index in range(count)]
