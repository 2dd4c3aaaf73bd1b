"""Terminal tables for ``governance freshness``, ``governance bulletin`` and the end of ``make demo``."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from governance.oversight.freshness import Freshness
from governance.oversight.page import hours, pct, signed_pct
from governance.oversight.scorecards import Scorecard


def freshness_table(board: Sequence[Freshness], timezone: str) -> str:
    zone = ZoneInfo(timezone)
    header = (f"{'dataset':45} {'cycle':7} {'status':12} {'pipeline':>9} {'data':>9} {'warn>':>7} {'stale>':>7}  "
              f"last publish")
    lines = [header, "-" * (len(header) + 6)]
    for item in board:
        published = item.last_publish.astimezone(zone).strftime("%Y-%m-%d %H:%M") if item.last_publish else "never"
        lines.append(f"{item.dataset_key:45} {item.update_cycle:7} {item.status:12} {hours(item.pipeline_age_h):>9} "
                     f"{hours(item.data_age_h):>9} {hours(item.warn_after_h):>7} {hours(item.error_after_h):>7}  "
                     f"{published}" + (f"  ({item.note})" if item.note else ""))
    fresh = sum(1 for item in board if item.status == "fresh")
    lines.append(f"{fresh} of {len(board)} datasets fresh")
    return "\n".join(lines)


def quality_table(cards: Sequence[Scorecard]) -> str:
    """failed and pass: the department's own data; platform failures and reruns are not counted in them."""
    header = (f"{'dataset':45} {'runs':>5} {'failed':>6} {'pass':>7} {'quarant.':>8} {'fresh SLA':>9} {'volume':>8} "
              f"{'platform':>8} {'reruns':>6}")
    lines = [header, "-" * len(header)]
    for card in cards:
        if card.kind != "dataset":
            continue
        lines.append(f"{card.scope:45} {card.runs:>5} {card.failed:>6} {pct(card.pass_rate):>7} "
                     f"{pct(card.quarantine_rate, 2):>8} {pct(card.freshness_sla):>9} "
                     f"{signed_pct(card.volume_change_pct):>8} {card.platform_failures:>8} {card.reruns:>6}")
    return "\n".join(lines)
