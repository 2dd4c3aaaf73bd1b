"""The sharing service's limits, taken from the settings (:mod:`governance.settings`) once per app.

Quotas and scan thresholds are operational settings, not standards: the standards say *who* may
read *what* (datasets, agreements); these numbers say how much and how fast, and operators tune
them without a standards change. Every value has a default that suits a provincial platform.
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.settings import Settings, get_settings


@dataclass(frozen=True)
class SharingConfig:
    """Limits of the sharing API (environment variable in brackets).

    ``default_daily_quota`` (GOVERNANCE_SHARING_DEFAULT_QUOTA): rows a consumer may read per dataset and
    day from an unconditional dataset when no agreement sets a quota. ``scan_max_pages``
    (GOVERNANCE_SHARING_SCAN_PAGES): consecutive ``after``-cursor pages of a sensitive dataset allowed
    within ``scan_window_s`` (GOVERNANCE_SHARING_SCAN_WINDOW_S); ``scan_max_share``
    (GOVERNANCE_SHARING_SCAN_SHARE): share of a sensitive table's rows one consumer may read within that
    window, once at least ``scan_min_rows`` (GOVERNANCE_SHARING_SCAN_MIN_ROWS) rows were read;
    ``scan_max_misses`` (GOVERNANCE_SHARING_SCAN_MISSES): requests of a sensitive dataset that found
    nothing (enumeration) within that window. ``max_body_bytes`` (GOVERNANCE_SHARING_MAX_BODY_BYTES):
    the largest request body accepted, checked before any of it is read (413 beyond).
    """

    default_daily_quota: int = 100_000
    max_limit: int = 1000
    default_limit: int = 100
    scan_max_pages: int = 50
    scan_window_s: int = 3600
    scan_max_share: float = 0.2
    scan_min_rows: int = 1000
    scan_max_misses: int = 100
    max_body_bytes: int = 16_384  # a lookup of 8 keys of 512 characters is under 10 KiB
    alert_webhook: str | None = None  # GOVERNANCE_ALERT_WEBHOOK_URL, as every alert
    alert_throttle_s: int = 600  # one webhook alert per consumer, dataset and kind in this period
    timezone: str = "Asia/Shanghai"  # quota days and agreement validity follow the platform's calendar
    freshness_ttl_s: float = 30.0  # how long the catalogue's freshness figures are cached
    row_count_ttl_s: float = 300.0  # how long a table's row count (for the scan share) is cached
    token_cache_s: float = 5.0  # a valid token is re-checked in the database after this long (revocation delay)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> SharingConfig:
        settings = settings or get_settings()
        return cls(
            default_daily_quota=settings.sharing_default_quota, scan_max_pages=settings.sharing_scan_pages,
            scan_window_s=settings.sharing_scan_window_s, scan_max_share=settings.sharing_scan_share,
            scan_min_rows=settings.sharing_scan_min_rows, scan_max_misses=settings.sharing_scan_misses,
            max_body_bytes=settings.sharing_max_body_bytes, alert_webhook=settings.alert_webhook_url or None,
            alert_throttle_s=settings.sharing_alert_throttle_s, token_cache_s=settings.sharing_token_cache_s,
            timezone=settings.timezone,
        )
