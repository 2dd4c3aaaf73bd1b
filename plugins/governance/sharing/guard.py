"""Bulk-download interception: daily row quotas, scan patterns, security events and alerts.

The seed document names illegal bulk downloads of personal data as a failure the platform must stop.
The rules run after a request's rows are fetched and before they are released, under a lock on the
consumer and dataset (:func:`hold`) taken in the request's own transaction and kept until its commit,
so parallel requests are counted one after the other and cannot together pass a limit that each
alone would not (the counters are read, checked and added to by one holder at a time):

* **quota** — rows served per consumer, dataset and calendar day (platform time zone), in
  ``governance.row_quota_usage``. A request that would exceed the agreement's ``daily_row_quota``
  (unconditional datasets without one: the configured default) is refused whole; refused rows are not
  counted. A request that finds nothing costs one row: a miss answers "is this person in the register?"
  as surely as a hit does, so misses are metered like hits.
* **scan** — on a sensitive dataset (any L3/L4 column served), within ``scan_window_s``: more than
  ``scan_max_pages`` cursor pages (counted per consumer and dataset in the window, whatever requests
  come between them: a request without a cursor does not start a new count), more than
  ``scan_max_misses`` lookups or key-filtered requests that found nothing (enumeration: "is this person
  on welfare?" asked of many IDs), or more than ``scan_max_share`` of the
  table's rows. Counted in ``governance.scan_usage`` and ``governance.scan_requests`` in buckets of a
  twelfth of the window. A blocked consumer stays blocked until the earlier requests age out.

Either way the request gets a 429, the access log says ``blocked``, ``governance.security_event`` gets a
row (counts and thresholds only) and an alert goes out through the platform's alert path
(:class:`governance.alerts.GovernanceNotifier`: a WARNING log line, plus the e-mail and webhook when
configured), from a background thread so a slow receiver cannot stall the service; the event's ``alerted``
flag is set once every channel delivered. Alerts for the same consumer, dataset and kind are throttled per
process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from governance.sharing.config import SharingConfig
from governance.sharing.tables import row_quota_usage, scan_requests, scan_usage, security_event
from governance.warehouse.engine import is_postgres, write_transaction

log = logging.getLogger("governance.sharing")

_EPOCH = datetime(1970, 1, 1)  # naive UTC, like every timestamp in the governance tables


@dataclass(frozen=True)
class Interception:
    kind: str  # quota_exceeded | scan_pattern
    message: str  # for the caller: limits and counts, no data
    detail: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    """What one request takes: rows served (none is charged as one), whether it followed a cursor, and
    whether it asked for given key values (a lookup or a key filter: finding nothing is then a miss)."""

    rows: int
    cursor_page: bool
    keyed: bool = False

    @property
    def miss(self) -> bool:
        return self.keyed and self.rows == 0

    @property
    def charged(self) -> int:
        return max(self.rows, 1)


def hold(connection: sa.Connection, consumer: str, dataset_key: str) -> None:
    """Serialise the accounting of one consumer and dataset until this transaction ends.

    PostgreSQL: a transaction-scoped advisory lock on the pair (released at commit, after the counters
    written under it are visible to the next holder). SQLite: the write transaction (``BEGIN
    IMMEDIATE``) already serialises every writer.
    """
    if is_postgres(connection):
        digest = hashlib.sha256(f"governance.sharing:{consumer}\x00{dataset_key}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("key", key, sa.BigInteger))))


def reserve_rows(connection: sa.Connection, consumer: str, dataset_key: str, day: date, rows: int,
                 quota: int) -> Interception | None:
    """Add ``rows`` to today's usage if that stays within ``quota``; otherwise refuse and count nothing."""
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
                usage: Usage, table_rows: int | None) -> Interception | None:
    """The scan rules on a sensitive dataset; ``now`` is naive UTC like the buckets. Call under :func:`hold`."""
    since = now - timedelta(seconds=config.scan_window_s + _bucket_seconds(config))
    mine = (scan_requests.c.consumer == consumer, scan_requests.c.dataset_key == dataset_key,
            scan_requests.c.bucket > since)
    if usage.cursor_page or usage.miss:
        pages, misses = connection.execute(sa.select(
            sa.func.coalesce(sa.func.sum(scan_requests.c.cursor_pages), 0),
            sa.func.coalesce(sa.func.sum(scan_requests.c.misses), 0)).where(*mine)).one()
        if usage.cursor_page and int(pages) + 1 > config.scan_max_pages:
            detail = {"cursor_pages_in_window": int(pages) + 1, "max_pages": config.scan_max_pages,
                      "window_s": config.scan_window_s}
            return Interception("scan_pattern", f"more than {config.scan_max_pages} cursor pages of a sensitive "
                                f"dataset within {config.scan_window_s} s: sequential scanning is not allowed", detail)
        if usage.miss and int(misses) + 1 > config.scan_max_misses:
            detail = {"misses_in_window": int(misses) + 1, "max_misses": config.scan_max_misses,
                      "window_s": config.scan_window_s}
            return Interception("scan_pattern", f"more than {config.scan_max_misses} requests that found nothing in "
                                f"a sensitive dataset within {config.scan_window_s} s: enumeration is not allowed",
                                detail)
    if table_rows:
        served = connection.scalar(sa.select(sa.func.coalesce(sa.func.sum(scan_usage.c.rows_served), 0)).where(
            scan_usage.c.consumer == consumer, scan_usage.c.dataset_key == dataset_key, scan_usage.c.bucket > since))
        total = int(served or 0) + usage.charged
        if total >= config.scan_min_rows and total > config.scan_max_share * table_rows:
            detail = {"rows_in_window": total, "table_rows": table_rows, "max_share": config.scan_max_share,
                      "window_s": config.scan_window_s}
            return Interception("scan_pattern", f"more than {config.scan_max_share:.0%} of a sensitive dataset's "
                                f"rows within {config.scan_window_s} s: bulk download is not allowed", detail)
    return None


def count_scan(connection: sa.Connection, config: SharingConfig, consumer: str, dataset_key: str,
               now: datetime, usage: Usage) -> None:
    """Add a served request of a sensitive dataset to the current time bucket (read by the scan rules)."""
    width = _bucket_seconds(config)
    bucket = _EPOCH + timedelta(seconds=int((now - _EPOCH).total_seconds()) // width * width)
    upsert = postgresql.insert if is_postgres(connection) else sqlite.insert
    key = {"consumer": consumer, "dataset_key": dataset_key, "bucket": bucket}
    rows = upsert(scan_usage).values(**key, rows_served=usage.charged)
    connection.execute(rows.on_conflict_do_update(
        index_elements=list(key), set_={"rows_served": scan_usage.c.rows_served + rows.excluded.rows_served}))
    if usage.cursor_page or usage.miss:
        requests = upsert(scan_requests).values(**key, cursor_pages=int(usage.cursor_page), misses=int(usage.miss))
        connection.execute(requests.on_conflict_do_update(index_elements=list(key), set_={
            "cursor_pages": scan_requests.c.cursor_pages + requests.excluded.cursor_pages,
            "misses": scan_requests.c.misses + requests.excluded.misses}))


def _bucket_seconds(config: SharingConfig) -> int:
    return max(1, config.scan_window_s // 12)


class Alerter:
    """Records security events and alerts about them through :class:`GovernanceNotifier`, off the request path."""

    def __init__(self, engine_of: Callable[[], sa.Engine], config: SharingConfig, notifier: Callable[..., Any],
                 post: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self._engine_of, self._config = engine_of, config
        self._notifier = notifier  # governance.alerts.GovernanceNotifier
        self._post = post  # the webhook's sender (default: the notifier's HTTP POST)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sharing-alerts")
        self._last_alert: dict[tuple[str, str | None, str], float] = {}
        self._lock = threading.Lock()
        self._pending: list[Future[None]] = []

    def record(self, interception: Interception, *, consumer: str, dataset_key: str | None, request_id: str,
               at: datetime) -> int:
        """Write the event and queue its alert (unless throttled); returns the event id."""
        key = (consumer, dataset_key, interception.kind)
        with self._lock:
            throttled = time.monotonic() - self._last_alert.get(key, -1e12) < self._config.alert_throttle_s
            if not throttled:
                self._last_alert[key] = time.monotonic()
        row = {"at": at, "request_id": request_id, "consumer": consumer, "dataset_key": dataset_key,
               "kind": interception.kind, "detail": json.dumps(interception.detail, sort_keys=True),
               "alerted": False}
        with write_transaction(self._engine_of()) as connection:
            event_id = int(connection.execute(sa.insert(security_event).values(row)
                                              .returning(security_event.c.id)).scalar_one())
        if not throttled:
            details = {"event_id": event_id, "kind": interception.kind, "consumer": consumer,
                       "dataset_key": dataset_key, "at": at.isoformat() + "Z", "detail": interception.detail}
            notifier = self._notifier(
                f"[共享接口拦截] {interception.kind}: {consumer} -> {dataset_key}",
                f"安全事件 {event_id}: {consumer} 对 {dataset_key} 的请求被拦截 ({interception.kind}); {row['detail']}",
                webhook_url=self._config.alert_webhook or "", details=details, post=self._post)
            with self._lock:
                self._pending = [future for future in self._pending if not future.done()]
                self._pending.append(self._executor.submit(self._deliver, notifier, event_id))
        return event_id

    def flush(self, timeout: float = 10.0) -> None:
        """Wait for queued alerts (tests, shutdown)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result(timeout=timeout)

    def _deliver(self, notifier: Any, event_id: int) -> None:
        """Send through the notifier; mark the event alerted once every channel delivered."""
        try:
            notifier.notify({})
        except Exception as error:  # the event stays alerted = false, visible to operators
            log.warning("security event %s: alert not delivered (%s)", event_id, type(error).__name__)
            return
        with write_transaction(self._engine_of()) as connection:
            connection.execute(sa.update(security_event).where(security_event.c.id == event_id)
                               .values(alerted=True))
