"""What the sharing endpoints share: the engine, the catalogue, the clock, the keyring and small caches.

Everything is created lazily on first use, so mounting the app in Airflow's api-server (where plugins
are imported at start-up) neither connects to the warehouse nor reads the standards until a consumer
calls. Caches hold only figures that may lag a little: freshness (seconds) and table row counts for the
scan rule (minutes); grants are recomputed on every request so an agreement that lapses at midnight
stops granting at once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from governance.keys import Keyring, load_keyring
from governance.settings import get_settings
from governance.sharing.audit import AccessEntry, write_access_entry
from governance.sharing.config import SharingConfig
from governance.sharing.guard import Alerter
from governance.sharing.queries import cursor_keys
from governance.sharing.tables import ensure_sharing_tables, service_engine
from governance.sharing.tokens import TokenCheck, check_token
from governance.standards.catalogue import Catalogue, load_usable_catalogue
from governance.standards.models import Dataset
from governance.warehouse.records import run_record
from governance.warehouse.schema import LOAD_DATE, LOADED_AT, dataset_table

log = logging.getLogger("governance.sharing")
Clock = Callable[[], datetime]
_UNSET: Any = object()
_TOKEN_CACHE_SIZE = 10_000


def utc_now() -> datetime:
    return datetime.now(UTC)


class Services:
    def __init__(self, engine: sa.Engine | None, catalogue: Catalogue | None, clock: Clock | None,
                 config: SharingConfig | None, keyring: Keyring | None,
                 alert_post: Callable[[str, dict[str, Any]], None] | None) -> None:
        self._engine, self._catalogue = engine, catalogue
        self._keyring = keyring if keyring is not None else _UNSET
        self.clock: Clock = clock or utc_now
        self.config = config or SharingConfig.from_settings()
        # The platform's alert path. It loads Airflow, which configures itself from the environment on first
        # import: here, when the app is built (`governance serve` has set that environment up by then), not
        # when the CLI imports this package.
        from governance.alerts import GovernanceNotifier

        self.alerter = Alerter(lambda: self.engine, self.config, GovernanceNotifier, alert_post)
        self._lock = threading.Lock()
        self._ready = False
        self._tables: dict[str, sa.Table] = {}
        self._freshness: tuple[float, dict[str, dict[str, str | None]]] = (-1e12, {})
        self._row_counts: dict[str, tuple[float, int]] = {}
        self._tokens: dict[str, tuple[TokenCheck, datetime]] = {}

    @property
    def engine(self) -> sa.Engine:
        if not self._ready:
            with self._lock:
                if self._engine is None:
                    self._engine = service_engine()
                if not self._ready:
                    ensure_sharing_tables(self._engine)
                    self._ready = True
        assert self._engine is not None
        return self._engine

    @property
    def catalogue(self) -> Catalogue:
        if self._catalogue is None:
            with self._lock:
                if self._catalogue is None:
                    self._catalogue = load_usable_catalogue(get_settings().standards_root)
        return self._catalogue

    @property
    def keyring(self) -> Keyring | None:
        """The pseudonym keys for lookups; loaded once. None (lookups answer 503) if none is configured."""
        if self._keyring is _UNSET:
            with self._lock:
                if self._keyring is _UNSET:
                    try:
                        self._keyring = load_keyring()
                    except Exception as error:
                        log.warning("no keyring for lookups (%s); raw-identifier lookups are unavailable",
                                    type(error).__name__)
                        self._keyring = None
        return self._keyring

    def cursor_keys(self) -> list[bytes] | None:
        """Cursor signing keys derived from the keyring (None without one: no paging then)."""
        keyring = self.keyring
        return None if keyring is None else cursor_keys(keyring)

    def preload(self) -> None:
        """Connect, read the standards and load the keyring now rather than on the first calls."""
        if self.engine is not None and self.catalogue is not None and self.keyring is None:
            log.warning("the sharing API starts without pseudonym keys: raw-identifier lookups answer 503")

    def now(self) -> datetime:
        """The clock's time as naive UTC, as stored in the governance tables."""
        return self.clock().astimezone(UTC).replace(tzinfo=None)

    def today(self) -> date:
        """The platform's calendar day: quotas reset and agreements lapse at local midnight."""
        return self.clock().astimezone(ZoneInfo(self.config.timezone)).date()

    def cached_token(self, authorization: str | None) -> TokenCheck | None:
        """A valid token checked less than ``token_cache_s`` ago (by the app's clock), else None.

        Saves a database round trip per call; a revocation therefore takes effect within that delay,
        an expiry exactly (the cache never outlives ``expires_at``). Only valid checks are cached.
        """
        if not authorization or self.config.token_cache_s <= 0:
            return None
        cached = self._tokens.get(hashlib.sha256(authorization.encode()).hexdigest())
        return cached[0] if cached and self.now() < cached[1] else None

    def check_token(self, authorization: str | None) -> TokenCheck:
        now = self.now()
        with self.engine.connect() as connection:
            check = check_token(connection, authorization, now=now)
        if check.valid and authorization and self.config.token_cache_s > 0:
            until = now + timedelta(seconds=self.config.token_cache_s)
            if check.expires_at is not None:
                until = min(until, check.expires_at)
            if len(self._tokens) >= _TOKEN_CACHE_SIZE:
                self._tokens.clear()
            self._tokens[hashlib.sha256(authorization.encode()).hexdigest()] = (check, until)
        return check

    def write_entry(self, entry: AccessEntry) -> None:
        write_access_entry(self.engine, entry)

    def table(self, dataset: Dataset) -> sa.Table | None:
        """The dataset's published table, or None while nothing has been published."""
        table = self._tables.get(dataset.key)
        if table is None:
            table = dataset_table(self.catalogue, dataset)
            with self.engine.connect() as connection:
                if not sa.inspect(connection).has_table(table.name, schema=table.schema):
                    return None
            self._tables[dataset.key] = table
        return table

    def row_count(self, connection: sa.Connection, table: sa.Table) -> int:
        cached = self._row_counts.get(table.name)
        if cached and time.monotonic() - cached[0] < self.config.row_count_ttl_s:
            return cached[1]
        count = int(connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
        self._row_counts[table.name] = (time.monotonic(), count)
        return count

    def cached_freshness(self) -> dict[str, dict[str, str | None]] | None:
        """The cached figures while fresh (None when they must be read again); needs no database."""
        stamp, cached = self._freshness
        return cached if time.monotonic() - stamp < self.config.freshness_ttl_s else None

    def freshness(self) -> dict[str, dict[str, str | None]]:
        """Per dataset: last successful publish (run records) and load date; cached for a few seconds.
        Also loads the standards, so the async catalogue endpoint never reads files on the event loop."""
        cached = self.cached_freshness()
        if cached is not None:
            return cached
        figures: dict[str, dict[str, str | None]] = {}
        with self.engine.connect() as connection:
            inspector = sa.inspect(connection)
            if inspector.has_table(run_record.name, schema=run_record.schema):
                query = (sa.select(run_record.c.dataset_key, sa.func.max(run_record.c.finished_at),
                                   sa.func.max(run_record.c.logical_date))
                         .where(run_record.c.rows_published > 0).group_by(run_record.c.dataset_key))
                for key, finished, logical in connection.execute(query):
                    figures[key] = {"last_published_at": _iso(finished), "load_date": _iso(logical)}
            for key, dataset in self.catalogue.datasets.items():
                table = dataset_table(self.catalogue, dataset)
                if key in figures or not inspector.has_table(table.name, schema=table.schema):
                    continue  # published by the pipeline (run record), or not at all
                loaded, day = connection.execute(
                    sa.select(sa.func.max(table.c[LOADED_AT]), sa.func.max(table.c[LOAD_DATE]))).one()
                figures[key] = {"last_published_at": _iso(loaded), "load_date": _iso(day)}
        self._freshness = (time.monotonic(), figures)
        return figures


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    return value.isoformat()
