"""The run verdict a dataset's standard sets: fail the run, hold it for the department, or publish.

A snapshot replaces the shared table, so a drop that shrank suddenly (an interrupted upload, a crashed
export) would make rows vanish for every consumer. Such a run is *held*: nothing is published and the
department is asked to confirm the smaller count (or resend the whole drop); see ``shrink_confirmation``.
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.standards.models import FAILED, FLAGGED, HELD, PASSED, Quality

__all__ = ["CONFIRM_SHRINK_FILE", "FAILED", "FLAGGED", "HELD", "PASSED", "Verdict", "decide"]
# The file a department puts in the night's landing folder to confirm a shrinking snapshot: its content is
# the row count it confirms, so a confirmation never covers a different (say, further truncated) resend.
CONFIRM_SHRINK_FILE = "CONFIRM_SHRINK"


@dataclass(frozen=True)
class Verdict:
    status: str
    reasons: tuple[str, ...] = ()

    @property
    def publishes(self) -> bool:
        return self.status not in (FAILED, HELD)


def decide(quality: Quality, *, received: int, quarantined: int, table_failures: list[str],
           previous_received: int | None, snapshot: bool = True, confirmed_rows: int | None = None) -> Verdict:
    """``previous_received``: rows received by the last run that published (None or 0: no check).

    Failures of the data come first (a failing drop is failed, not held); a snapshot whose row count fell
    by more than ``max_shrink_share`` is held unless the department confirmed exactly ``received`` rows.
    """
    reasons = [f"table rule failed: {failure}" for failure in table_failures]
    if received == 0:
        reasons.append("the drop holds no rows")
    elif quarantined / received > quality.max_quarantine_share:
        reasons.append(f"{quarantined} of {received} rows quarantined ({quarantined / received:.1%}), "
                       f"above the standard's limit of {quality.max_quarantine_share:.0%}")
    if reasons:
        return Verdict(FAILED, tuple(reasons))
    shrank = bool(snapshot and previous_received and received < previous_received * (1 - quality.max_shrink_share))
    if shrank and confirmed_rows != received:
        assert previous_received  # for the type checker: shrank implies a previous load
        return Verdict(HELD, (shrink_message(received, previous_received, quality.max_shrink_share, confirmed_rows),))
    return Verdict(FLAGGED if quarantined else PASSED)


def shrink_message(received: int, previous: int, limit: float, confirmed_rows: int | None) -> str:
    """Counts only: what shrank, by how much, and the two ways out for the department."""
    share = 1 - received / previous
    confirmed = (f"（已收到的确认为 {confirmed_rows} 行，与本次 {received} 行不符）" if confirmed_rows is not None
                 else "")
    return (f"数据量骤减，暂停发布，等待部门确认：本次收到 {received} 行，上次发布时收到 {previous} 行，"
            f"减少 {share:.1%}，超过标准允许的 {limit:.0%}{confirmed}。"
            f"若数据确实减少，请在当日落地目录放置 {CONFIRM_SHRINK_FILE} 文件（内容为确认的行数 {received}）后重跑；"
            f"否则请重新完整报送。 / Held for the department's confirmation: {received} rows received against "
            f"{previous} at the last published load, a fall of {share:.1%}, above the standard's {limit:.0%}. "
            f"Confirm with a {CONFIRM_SHRINK_FILE} file holding {received} in the night's landing folder "
            f"(or the run's confirm_shrink param), or resend the whole drop.")
