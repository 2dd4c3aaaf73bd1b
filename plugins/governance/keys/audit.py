"""Decryption audit events, stored in ``governance.decryption_audit`` (who, why, how many, which key ids).

``decrypt_values`` hands its event (never values) to an audit callable before returning plaintexts. During a
rotation the decrypting connection holds the table's write lock (and, on SQLite, the lock of every attached
database), so the events cannot be written through a second connection at that moment. ``AuditLog``
therefore collects them and ``flush`` writes them in a transaction of their own as soon as the table's
transaction has ended, committed or rolled back: a rotation that failed half-way still shows what it
decrypted.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from governance.warehouse.engine import write_transaction
from governance.warehouse.records import decryption_audit, ensure_governance_tables


def os_user() -> str:
    """The operator running a command, as the OS knows them (the audited actor of CLI decryptions)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers): still say something true
        return "uid-unknown"


class AuditLog:
    """An ``Audit`` callable that keeps events for one table until ``flush``."""

    def __init__(self, engine: sa.Engine, table_name: str | None = None):
        self.engine = engine
        self.table_name = table_name
        self.pending: list[dict[str, Any]] = []
        self.written = 0

    def __call__(self, event: dict[str, Any]) -> None:
        at = datetime.fromisoformat(event["at"]).astimezone(UTC).replace(tzinfo=None)
        self.pending.append({
            "at": at, "actor": event["actor"], "purpose": event["purpose"], "table_name": self.table_name,
            "column_name": event.get("column"), "element": event.get("element"), "rows": event.get("rows"),
            "key_ids": json.dumps(event.get("key_ids", [])), "outcome": event["outcome"],
            "reason": event.get("reason"),
        })

    def flush(self) -> int:
        """Write the collected events (one transaction); returns how many were written."""
        if not self.pending:
            return 0
        events, self.pending = self.pending, []
        ensure_governance_tables(self.engine)
        with write_transaction(self.engine) as connection:
            connection.execute(sa.insert(decryption_audit), events)
        self.written += len(events)
        return len(events)
