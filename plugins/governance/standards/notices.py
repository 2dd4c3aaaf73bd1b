"""What consumer departments are told when a standard they read changes (``governance standards notify``).

CI runs the command after a merge with the revision before it. Each consumer department gets one alert
through the platform's alert channel (:class:`~governance.alerts.GovernanceNotifier`: the log,
plus e-mail and/or the webhook when configured) listing, per dataset it reads, the breaking changes now
merged and the notices announced in this merge (what will change, from when). Unconditional columns are
read by every department: their changes go to one alert for all departments.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from governance.standards.agreements import active_agreements
from governance.standards.breaking import ALL_DEPARTMENTS, compare
from governance.standards.catalogue import Catalogue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumerNotice:
    consumer: str  # a department key, or "*" for all departments
    subject: str
    message: str


def consumer_notices(old: Catalogue, new: Catalogue, today: date) -> list[ConsumerNotice]:
    """One notice per consumer department with a breaking change merged or a change announced since ``old``."""
    comparison = compare(old, new, today)
    lines: dict[str, list[str]] = defaultdict(list)
    for change in comparison.breaking:
        where = f"{change.dataset}.{change.column}" if change.column else change.dataset
        for consumer in change.consumers:
            lines[consumer].append(f"- 已生效 (breaking, in force now): {where}: {change.message} [{change.rule}]")
    for key, notice in comparison.announced:
        dataset = new.datasets[key]
        columns = set(notice.columns) or {column.name for column in dataset.columns}
        readers = {agreement.consumer for agreement in active_agreements(new, today)
                   if agreement.dataset == key and columns & set(agreement.columns)}
        if any(column.published and column.sharing == "unconditional" and column.name in columns
               for column in new.columns(dataset)):
            readers.add(ALL_DEPARTMENTS)
        scope = f" ({', '.join(notice.columns)})" if notice.columns else ""
        for consumer in readers:
            lines[consumer].append(f"- 变更预告 (announced): {key}{scope}: {notice.summary}; "
                                   f"自 {notice.effective_from} 起生效 (effective from), 通知日期 {notice.notice}")
    notices = []
    for consumer in sorted(lines):
        name = ("全部部门" if consumer == ALL_DEPARTMENTS
                else new.departments[consumer].name_zh if consumer in new.departments else consumer)
        subject = f"[数据标准变更] 致{name}: 您使用的共享数据标准有变更 (standards change for {consumer})"
        message = "\n".join([f"{name}:", "根据共享协议, 您部门使用的以下数据标准发生变更 / changes to standards "
                             "your department reads under its sharing agreements:", *lines[consumer],
                             "详情: governance standards history <数据集>; 疑问请联系数据标准管理处。"])
        notices.append(ConsumerNotice(consumer, subject, message))
    return notices


def send(notices: list[ConsumerNotice]) -> int:
    """Send each notice through the alert channel; returns how many were not delivered (each is logged)."""
    from governance.alerts import GovernanceNotifier, NotificationFailed

    failed = 0
    for notice in notices:
        try:
            GovernanceNotifier(notice.subject, notice.message, level="info").notify({})
        except NotificationFailed:
            failed += 1
    return failed
