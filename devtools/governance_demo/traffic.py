"""Consumer departments calling the real sharing API (its ASGI app in process) during the demo's office hours.

Every call goes through the app as a consumer's HTTP request would: token check, the agreements of the day,
quotas, scan rules, the access log written before the response. Who calls what follows the agreements in
``standards/agreements``: 民政厅 checks applicants' identities against the resident register one by one,
人社厅 syncs the subsistence roll, 市场监管局 looks up tax credit ratings, 税务局 pages through the enterprise
register with the legal representatives' pseudonyms; anyone reads the unconditional datasets. Raw identifiers
for the lookups come from the night's synthetic drops and are sent only in request bodies, as the API asks.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

RESIDENTS = "public_security/resident_population"
ROLL = "civil_affairs/subsistence_allowance"
RATINGS = "taxation/taxpayer_credit_rating"
ENTERPRISES = "market_regulation/enterprise_registration"
HOSPITALS = "health/medical_institution"
CONSUMERS = ("civil_affairs", "human_resources", "market_regulation", "taxation", "health", "public_security")
EXPIRED_SURVEY = "health"  # its 2025 family-doctor survey agreement expired; its job still calls
RUNAWAY = "market_regulation"  # a batch job that re-reads every rating on every inspection
SCANNER = "civil_affairs"  # an account that tries to export the whole resident register
RUNAWAY_LIMIT = 2000  # calls the runaway job makes at most before it gives up on 429s
SCAN_PAGES = 200  # pages the scanner asks for at most (the scan rule stops it after 50 within the hour)


class Consumers:
    """A token per consumer department and a client on the app; ``at(moment)`` sets the time of the calls."""

    def __init__(self, engine: sa.Engine, travel: Callable[[datetime], Any], landing_root: Path,
                 seed: int) -> None:
        from starlette.exceptions import StarletteDeprecationWarning

        with warnings.catch_warnings():  # starlette asks for httpx2 here; httpx is what the lock pins
            warnings.simplefilter("ignore", StarletteDeprecationWarning)
            from fastapi.testclient import TestClient

        from governance.sharing.app import create_sharing_app
        from governance.sharing.tokens import issue_token

        self.travel, self.landing_root = travel, landing_root
        self.rng = np.random.default_rng([seed, 2026])
        self.notes: list[str] = []  # the notable calls, for the summary (the figures come from the access log)
        now = datetime.now(UTC).replace(tzinfo=None)
        # Tokens live in memory only: issued like `governance tokens issue`, never printed or written down.
        self.tokens = {department: issue_token(engine, department, now=now, expires_days=365).token
                       for department in CONSUMERS}
        self.client = TestClient(create_sharing_app(engine, docs=False))
        self.client.__enter__()

    def close(self) -> None:
        self.client.__exit__(None, None, None)

    def call(self, consumer: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.client.request(method, f"/datasets{path}", json=body,
                                       headers={"Authorization": f"Bearer {self.tokens[consumer]}"})
        return response

    def office_day(self, day: date, nights: dict[str, date]) -> None:
        """One working day's calls (``nights``: the latest delivered night of each dataset, for key values)."""
        weekend = day.weekday() >= 5
        with self.travel(_local(day, 8, 40)):
            for consumer in ("human_resources",):  # the pension-subsidy sync runs every morning, weekends too
                self._sync_roll(consumer, day)
        if weekend:
            with self.travel(_local(day, 10, 5)):  # the on-duty officer's urgent assistance checks
                self._identity_checks(day, nights, 2)
            return
        with self.travel(_local(day, 9, 0)):
            if day.weekday() == 0:
                for consumer in CONSUMERS:  # Monday mornings: what may I read this week?
                    self.call(consumer, "GET", "")
            self.call(EXPIRED_SURVEY, "POST", f"/{RESIDENTS}/lookup",
                      {"key": {"id_number": self._ids(nights, 1)[0]}})
        with self.travel(_local(day, 9, 30)):
            self._identity_checks(day, nights, 10)
        with self.travel(_local(day, 10, 15)):
            for code in self._codes(RATINGS, nights, 6):
                self.call("market_regulation", "POST", f"/{RATINGS}/rows", {"filters": {"credit_code": code}})
        with self.travel(_local(day, 14, 0)):
            self._pages("taxation", ENTERPRISES, limit=100, pages=2)
            self.call("public_security", "GET", f"/{HOSPITALS}/rows?limit=50")
            for code in self._codes(ENTERPRISES, nights, 3):
                self.call("public_security", "POST", f"/{ENTERPRISES}/rows", {"filters": {"credit_code": code}})
            self.call("health", "GET", f"/{HOSPITALS}/rows?limit=100")

    def runaway(self, day: date) -> None:
        """The batch job that re-reads every rating per inspection until the daily quota stops it."""
        with self.travel(_local(day, 14, 30)):
            blocked = calls = 0
            while calls < RUNAWAY_LIMIT and blocked < 3:  # the job gives up after three refusals
                status = self.call(RUNAWAY, "POST", f"/{RATINGS}/rows", {"limit": 1000}).status_code
                calls += 1
                blocked += status == 429
                if status not in (200, 429):
                    break
        self.notes.append(f"{day} 14:30 超出每日配额 {RUNAWAY}'s batch job read {RATINGS} {calls} times; "
                          f"the daily quota stopped it ({blocked} x 429 quota_exceeded)")

    def bulk_scan(self, day: date) -> None:
        """An account pages through the whole resident register, in small pages to stay unnoticed."""
        with self.travel(_local(day, 21, 40)):
            served, after = 0, None
            for _ in range(SCAN_PAGES):
                response = self.call(SCANNER, "POST", f"/{RESIDENTS}/rows",
                                     {"limit": 10, **({"after": after} if after else {})})
                if response.status_code != 200:
                    break
                body = response.json()
                served += len(body["rows"])
                after = body.get("next_cursor")
                if not after:
                    break
        self.notes.append(f"{day} 21:40 批量下载被拦截 {SCANNER} paged through {RESIDENTS}: {served} rows served, then "
                                f"HTTP {response.status_code} {response.json().get('error', '')} (security event, "
                                f"alert)")

    def _sync_roll(self, consumer: str, day: date) -> None:
        self._pages(consumer, ROLL, limit=100, pages=3)

    def _identity_checks(self, day: date, nights: dict[str, date], count: int) -> None:
        for raw in self._ids(nights, count):
            self.call("civil_affairs", "POST", f"/{RESIDENTS}/lookup", {"key": {"id_number": raw}})

    def _pages(self, consumer: str, key: str, *, limit: int, pages: int) -> None:
        after = None
        for _ in range(pages):
            body: dict[str, Any] = {"limit": limit, **({"after": after} if after else {})}
            response = self.call(consumer, "POST", f"/{key}/rows", body)
            after = response.json().get("next_cursor") if response.status_code == 200 else None
            if not after:
                return

    def _ids(self, nights: dict[str, date], count: int) -> list[str]:
        return self._sample(RESIDENTS, "id_number", nights, count)

    def _codes(self, key: str, nights: dict[str, date], count: int) -> list[str]:
        return self._sample(key, "credit_code", nights, count)

    def _sample(self, key: str, column: str, nights: dict[str, date], count: int) -> list[str]:
        """Key values from the latest delivered drop of ``key`` (as the consumer's own case files hold them)."""
        night = nights[key]
        department, name = key.split("/")
        folder = self.landing_root / department / name / night.isoformat()
        files = sorted(folder.glob("*.csv"))
        if not files:
            return []
        # Key columns are ASCII; latin-1 reads any drop's bytes (UTF-8 with a BOM, or GB 18030) without failing.
        frame = pd.read_csv(files[0], dtype=str, encoding="latin-1", keep_default_na=False)
        frame.columns = [str(name).removeprefix("\u00ef\u00bb\u00bf") for name in frame.columns]
        values = frame[column]
        values = values[values.str.len() > 0]
        picked = self.rng.choice(len(values), size=min(count, len(values)), replace=False)
        return [str(values.iloc[int(index)]) for index in picked]


def _local(day: date, hour: int, minute: int) -> datetime:
    from zoneinfo import ZoneInfo

    from governance.settings import get_settings

    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(get_settings().timezone))
