"""Bulk-download interception: daily row quotas, scan patterns, security events and alerts.

The seed document names illegal bulk downloads of personal data as a failure the platform must stop.
Two rules run after a request's rows are fetched and before they are released:

* **quota** — rows served per consumer, dataset and calendar day (platform time zone) are reserved in
  ``governance.row_quota_usage`` with one conditional upsert, so two concurrent requests cannot both
  slip under the limit. A request that would exceed the agreement's ``daily_row_quota`` (unconditional
  datasets without one: the configured default) is refused whole; the refused rows are not counted.
* **scan** — on a sensitive dataset (any L3/L4 column served), more than ``scan_max_pages`` consecutive
  ``after``-cursor pages (from the last entries of the access log), or more than ``scan_max_share`` of
  the table's rows (from ``governance.scan_usage``, counted in buckets of a twelfth of the window), within
  ``scan_window_s``. A blocked consumer stays blocked for that dataset until the earlier requests age out
  of the window.

Either way the request gets a 429, the access log says ``blocked``, ``governance.security_event`` gets a
row (counts and thresholds only) and an alert goes out: a WARNING on ``governance.sharing.alerts`` and,
with ``GOVERNANCE_ALERT_WEBHOOK`` set, a JSON POST from a background thread (so a slow receiver cannot
stall the service). Alerts for the same consumer, dataset and kind are throttled per process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from governance.sharing.config import SharingConfig
from governance.sharing.tables import access_log, row_quota_usage, scan_usage, security_event
from governance.warehouse.engine import is_postgres, write_transaction

alerts_log = logging.getLogger("governance.sharing.alerts")
ROWS_ENDPOINT = "/datasets/{department}/{dataset}/rows"
_EPOCH = datetime(1970, 1, 1)  # naive UTC, like every timestamp in the governance tables


@dataclass(frozen=True)
class Interception:
    kind: str  # quota_exceeded | scan_pattern
    message: str  # for the caller: limits and counts, no data
    detail: dict[str, Any]


def reserve_rows(connection: sa.Connection, consumer: str, dataset_key: str, day: date, rows: int,
                 quota: int) -> Interception | None:
    """Add ``rows`` to today's usage if that stays within ``quota``; otherwise refuse and count nothing."""
    if rows <= 0:
        return None
    if rows <= quota:
        insert = (postgresql.insert if is_postgres(connection) else sqlite.insert)(row_quota_usage).values(
            consumer=consumer, dataset_key=dataset_key, day=day, rows_served=rows)
        total = row_quota_usage.c.rows_served + insert.excluded.rows_served
        statement = insert.on_conflict_do_update(
            index_elements=["consumer", "dataset_key", "day"], set_={"rows_served": total},
            where=total <= sa.bindparam("quota", quota, sa.BigInteger)).returning(row_quota_usage.c.rows_served)
        if connection.execute(statement).scalar() is not None:
            return None
    used = connection.scalar(sa.select(row_quota_usage.c.rows_served).where(
        row_quota_usage.c.consumer == consumer, row_quota_usage.c.dataset_key == dataset_key,
        row_quota_usage.c.day == day)) or 0
    detail = {"daily_row_quota": quota, "rows_served_today": used, "rows_requested": rows, "day": day.isoformat()}
    message = (f"daily row quota of {quota} rows for this dataset would be exceeded "
               f"({used} served today, {rows} more requested); try again tomorrow or ask for a larger quota")
    return Interception("quota_exceeded", message, detail)


def detect_scan(connection: sa.Connection, config: SharingConfig, consumer: str, dataset_key: str, now: datetime,
                *, uses_cursor: bool, rows: int, table_rows: int | None) -> Interception | None:
    """The scan rules on a sensitive dataset; ``now`` is naive UTC like the log's ``at``."""
    since = now - timedelta(seconds=config.scan_window_s)
    mine = (access_log.c.consumer == consumer, access_log.c.dataset_key == dataset_key,
            access_log.c.decision == "allowed", access_log.c.at >= since)
    if uses_cursor:
        shapes = connection.scalars(sa.select(access_log.c.filter_shape)
                                    .where(*mine, access_log.c.endpoint == ROWS_ENDPOINT)
                                    .order_by(access_log.c.id.desc()).limit(config.scan_max_pages)).all()
        if len(shapes) >= config.scan_max_pages and all("after" in json.loads(shape or "[]") for shape in shapes):
            detail = {"consecutive_cursor_pages": len(shapes) + 1, "max_pages": config.scan_max_pages,
                      "window_s": config.scan_window_s}
            return Interception("scan_pattern", f"more than {config.scan_max_pages} consecutive pages of a "
                                f"sensitive dataset within {config.scan_window_s} s: sequential scanning is "
                                f"not allowed", detail)
    if table_rows:
        served = connection.scalar(sa.select(sa.func.coalesce(sa.func.sum(scan_usage.c.rows_served), 0)).where(
            scan_usage.c.consumer == consumer, scan_usage.c.dataset_key == dataset_key,
            scan_usage.c.bucket > since - timedelta(seconds=_bucket_seconds(config))))
        total = int(served or 0) + rows
        if total >= config.scan_min_rows and total > config.scan_max_share * table_rows:
            detail = {"rows_in_window": total, "table_rows": table_rows, "max_share": config.scan_max_share,
                      "window_s": config.scan_window_s}
            return Interception("scan_pattern", f"more than {config.scan_max_share:.0%} of a sensitive dataset's "
                                f"rows within {config.scan_window_s} s: bulk download is not allowed", detail)
    return None


def count_scan_rows(connection: sa.Connection, config: SharingConfig, consumer: str, dataset_key: str,
                    now: datetime, rows: int) -> None:
    """Add served rows of a sensitive dataset to the current time bucket (read by the share rule)."""
    if rows <= 0:
        return
    width = _bucket_seconds(config)
    elapsed = int((now - _EPOCH).total_seconds())
    bucket = _EPOCH + timedelta(seconds=elapsed // width * width)
    insert = (postgresql.insert if is_postgres(connection) else sqlite.insert)(scan_usage).values(
        consumer=consumer, dataset_key=dataset_key, bucket=bucket, rows_served=rows)
    connection.execute(insert.on_conflict_do_update(
        index_elements=["consumer", "dataset_key", "bucket"],
        set_={"rows_served": scan_usage.c.rows_served + insert.excluded.rows_served}))


def _bucket_seconds(config: SharingConfig) -> int:
    return max(1, config.scan_window_s // 12)


class Alerter:
    """Records security events and sends alerts (WARNING log always, webhook when configured)."""

    def __init__(self, engine_of: Callable[[], sa.Engine], config: SharingConfig,
                 post: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self._engine_of, self._config = engine_of, config
        self._post = post or _post_json
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sharing-alerts")
        self._last_alert: dict[tuple[str, str | None, str], float] = {}
        self._lock = threading.Lock()
        self._pending: list[Future[None]] = []

    def record(self, interception: Interception, *, consumer: str, dataset_key: str | None, request_id: str,
               at: datetime) -> int:
        """Write the event, log the alert and queue the webhook; returns the event id."""
        key = (consumer, dataset_key, interception.kind)
        with self._lock:
            throttled = time.monotonic() - self._last_alert.get(key, -1e12) < self._config.alert_throttle_s
            if not throttled:
                self._last_alert[key] = time.monotonic()
        webhook = self._config.alert_webhook if not throttled else None
        row = {"at": at, "request_id": request_id, "consumer": consumer, "dataset_key": dataset_key,
               "kind": interception.kind, "detail": json.dumps(interception.detail, sort_keys=True),
               "alerted": not throttled and webhook is None}
        with write_transaction(self._engine_of()) as connection:
            event_id = int(connection.execute(sa.insert(security_event).values(row)
                                              .returning(security_event.c.id)).scalar_one())
        if throttled:
            return event_id
        alerts_log.warning("security event %s: %s by consumer %s on %s (%s)", event_id, interception.kind,
                           consumer, dataset_key, row["detail"])
        if webhook:
            payload = {"event_id": event_id, "kind": interception.kind, "consumer": consumer,
                       "dataset_key": dataset_key, "at": at.isoformat() + "Z", "detail": interception.detail}
            with self._lock:
                self._pending = [future for future in self._pending if not future.done()]
                self._pending.append(self._executor.submit(self._deliver, webhook, payload, event_id))
        return event_id

    def flush(self, timeout: float = 10.0) -> None:
        """Wait for queued webhook deliveries (tests, shutdown)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result(timeout=timeout)

    def _deliver(self, webhook: str, payload: dict[str, Any], event_id: int) -> None:
        try:
            self._post(webhook, payload)
        except Exception as error:  # the event stays alerted = false: visible to operators
            alerts_log.error("security event %s: webhook delivery failed (%s)", event_id, type(error).__name__)
            return
        with write_transaction(self._engine_of()) as connection:
            connection.execute(sa.update(security_event).where(security_event.c.id == event_id)
                               .values(alerted=True))


def _post_json(url: str, payload: dict[str, Any]) -> None:
    response = httpx.post(url, json=payload, timeout=5.0)
    response.raise_for_status()
