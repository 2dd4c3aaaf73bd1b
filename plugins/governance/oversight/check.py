"""The hourly freshness check: compute the board, alert on transitions, append the history.

Alerts go out *before* the history is written, and a failed delivery is written as not notified,
so the next check tries again; a delivered alert is never repeated while the status holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from governance.oversight.clocks import freshness_board
from governance.oversight.freshness import LABELS_ZH, Freshness
from governance.oversight.history import Transition, last_notified, record_checks, transitions
from governance.settings import Settings, get_settings
from governance.standards.catalogue import Catalogue

log = logging.getLogger(__name__)
Notifier = Callable[..., Callable[[dict[str, Any]], None]]


@dataclass
class CheckResult:
    board: list[Freshness]
    transitions: list[Transition]
    undelivered: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for item in self.board:
            counts[item.status] = counts.get(item.status, 0) + 1
        return {"datasets": len(self.board), "by_status": counts,
                "transitions": [f"{t.dataset_key}: {t.before or 'new'} -> {t.after}" for t in self.transitions],
                "undelivered": self.undelivered}


def run_freshness_check(engine: sa.Engine, catalogue: Catalogue, *, now: datetime | None = None,
                        settings: Settings | None = None, context: dict[str, Any] | None = None,
                        notifier: Notifier | None = None) -> CheckResult:
    """One check: every dataset's freshness, one alert per transition, one history row per dataset."""
    settings = settings or get_settings()
    if notifier is None:
        from governance.alerts import GovernanceNotifier

        notifier = GovernanceNotifier
    board = freshness_board(engine, catalogue, now, settings)
    with engine.connect() as connection:
        previous = last_notified(connection)
    changes = transitions(board, previous)
    undelivered = []
    for change in changes:
        subject, message = alert_text(change, settings.timezone)
        try:
            notifier(subject=subject, message=message, level="info" if change.recovery else "warning")(context or {})
        except Exception as error:  # the channel logged why; remember it so the next check retries
            log.error("freshness alert for %s not delivered: %s", change.dataset_key, error)
            undelivered.append(change.dataset_key)
    record_checks(engine, board, undelivered)
    return CheckResult(board, changes, undelivered)


def alert_text(change: Transition, timezone: str) -> tuple[str, str]:
    """Subject and body of a transition's alert (plain text, no data values)."""
    item = change.freshness
    before = change.before or "unchecked"
    subject = (f"[数据时效] {item.dataset_key} {item.title_zh}: {before} -> {item.status} "
               f"({LABELS_ZH[item.status]})")
    lines = [
        f"dataset: {item.dataset_key} ({item.title_zh}), update cycle {item.update_cycle}",
        f"status: {before} -> {item.status}" + (" (recovered)" if change.recovery else ""),
        f"pipeline clock: {_age(item.pipeline_age_h)} since the last successful publish "
        f"({_local(item.last_publish, timezone)}) -> {item.pipeline_status}",
        f"data clock: {_age(item.data_age_h)} since the newest value ({_local(item.data_max, timezone)})"
        f" -> {item.data_status or 'unknown'}",
        f"thresholds: warn after {item.warn_after_h:g} h, stale after {item.error_after_h:g} h",
        f"checked at {_local(item.checked_at, timezone)}",
    ]
    if item.note:
        lines.append(f"note: {item.note}")
    return subject, "\n".join(lines)


def _age(hours: float | None) -> str:
    return "-" if hours is None else f"{hours:.1f} h"


def _local(moment: datetime | None, timezone: str) -> str:
    return "never" if moment is None else moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")
