"""The run verdict a dataset's standard sets: fail the run, or publish passing rows and flag it."""

from __future__ import annotations

from dataclasses import dataclass

from governance.standards.models import Quality

PASSED = "passed"
FLAGGED = "passed_with_quarantine"
FAILED = "failed"


@dataclass(frozen=True)
class Verdict:
    status: str
    reasons: tuple[str, ...] = ()

    @property
    def publishes(self) -> bool:
        return self.status != FAILED


def decide(quality: Quality, *, received: int, quarantined: int, table_failures: list[str],
           previous_received: int | None) -> Verdict:
    reasons = [f"table rule failed: {failure}" for failure in table_failures]
    if received == 0:
        reasons.append("the drop holds no rows")
    elif quarantined / received > quality.max_quarantine_share:
        reasons.append(f"{quarantined} of {received} rows quarantined ({quarantined / received:.1%}), "
                       f"above the standard's limit of {quality.max_quarantine_share:.0%}")
    if previous_received and received < previous_received * (1 - quality.max_row_drop_share):
        reasons.append(f"{received} rows received against {previous_received} last run, a drop of more than "
                       f"{quality.max_row_drop_share:.0%}")
    if reasons:
        return Verdict(FAILED, tuple(reasons))
    return Verdict(FLAGGED if quarantined else PASSED)
