"""What happens on which day of the demo's history: deliveries and the story a platform office would tell.

Pure and deterministic: the plan depends only on the last night and the number of nights. Beats that need
more nights than a short history has are left out; the ones the demo's checks rely on (a closed quarantine
entry, a refused call, an intercepted bulk download) fit in any history of two nights or more
(one night: the last night alone, every dataset loaded).

The story, for the default fortnight:

* the first night every dataset is loaded (the platform's go-live); then daily datasets deliver every night,
  weekly ones for Fridays, monthly ones for the last day of the month;
* 省卫生健康委 (health) corrects the rows quarantined on its first delivery and resubmits them the next morning:
  the rerun publishes those keys and closes the quarantine entries;
* 市场监管局 (market_regulation): quality dips over three nights (one fails its verdict) and recovers;
* 公安厅 (public_security): the export breaks for two nights (window closed, runs fail, the dataset goes stale);
  the backlog is delivered on the third morning and caught up: fresh again;
* the encryption key is rotated midway (``governance keys rotate``);
* a hand-made column in a published table stops the publish (schema drift); the column is removed and the night
  is run again;
* weekends are quiet: only automated jobs call the sharing API;
* consumers call what their agreements allow; 省卫生健康委's expired survey agreement still being called is
  refused; 市场监管局's runaway batch runs past its daily quota on the last day; that night an account of 民政厅
  tries to page through the whole resident register and is intercepted.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta

from governance.standards.catalogue import Catalogue

LATE = "public_security/resident_population"
DIP = "market_regulation/enterprise_registration"
DRIFT = "market_regulation/enterprise_registration"
RESUBMIT = "health/medical_institution"
DIP_SHARES = (0.10, 0.26, 0.07)  # the quarantine share the dip's nights are written with; 0.26 fails the verdict
FRIDAY = 4


@dataclass(frozen=True)
class Story:
    nights: list[date]  # every business date, oldest first; the last one is run by Airflow itself
    dip: dict[date, float] = field(default_factory=dict)  # night -> defect share of DIP
    late: list[date] = field(default_factory=list)  # nights LATE misses; delivered on the morning of ``catch_up``
    catch_up: date | None = None
    drift: date | None = None  # the night DRIFT's publish meets a hand-made column
    resubmit: date | None = None  # the night whose quarantined rows RESUBMIT corrects the next morning
    rotation: date | None = None  # the day (10:00) the encryption key is rotated

    @property
    def history(self) -> list[date]:
        """The nights the demo runs itself (all but the last)."""
        return self.nights[:-1]

    @property
    def days(self) -> list[date]:
        """Calendar days with office hours in the history: each follows a night (traffic, checks, fixes)."""
        return [night + timedelta(days=1) for night in self.history]

    def due(self, catalogue: Catalogue, key: str, night: date) -> bool:
        """Whether ``key`` delivers for ``night`` by its update cycle (everything on the first night)."""
        if night == self.nights[0]:
            return True
        cycle = catalogue.datasets[key].update_cycle
        if cycle == "weekly":
            return night.weekday() == FRIDAY
        if cycle == "monthly":
            return night.day == calendar.monthrange(night.year, night.month)[1]
        return True

    def defect_share(self, key: str, night: date) -> float | None:
        return self.dip.get(night) if key == DIP else None


def plan(last: date, days: int) -> Story:
    """The story of the ``days`` nights ending with ``last``."""
    if days < 1:
        raise ValueError(f"the demo needs at least 1 night, got {days}")
    nights = [last - timedelta(days=days - 1 - offset) for offset in range(days)]
    history = len(nights) - 1  # nights run by the demo itself, indices 0 .. history - 1

    def fits(start: int, span: int) -> bool:
        return start + span <= history

    dip = {nights[2 + i]: share for i, share in enumerate(DIP_SHARES)} if fits(2, 3) else {}
    late = [nights[5], nights[6]] if fits(5, 3) else []
    catch_up = nights[7] if late else None  # the morning after the second missed night's window closed
    drift = nights[10] if fits(10, 2) else None
    rotation = nights[(days - 1) // 2] + timedelta(days=1)
    return Story(nights, dip, late, catch_up, drift, nights[0], rotation)
