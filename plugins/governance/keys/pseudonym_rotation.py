"""Pseudonym key rotation: every published token changes at once, through a map built while data flows.

A pseudonym is an HMAC of the identifier, so a token cannot be recomputed under a new key without the
identifier, which the warehouse never holds. Only the mask step sees identifiers, so the rotation borrows
it for a while:

* ``prepare`` adds a ``next`` pseudonym key to the keyring. While it exists the mask step records, for each
  pseudonym value it masks, ``(element, current token, next token)`` in ``governance.pseudonym_map``
  (tokens only). Runs keep publishing current tokens, so nothing changes for consumers yet.
* ``cutover``, once the map covers every published token, rewrites every pseudonym column of every
  ``shared`` table through the map in ONE transaction and makes the next key active in the registry (the
  old one ``retiring``): joins across tables never see two token generations. Tokens missing from the map
  make it refuse, with counts, before changing anything; tokens that are already next tokens count as
  done, so a rerun after a partial failure completes.
* ``finish``, after the mapping period in which consumers translate their own extracts through the map,
  empties the map, retires the old key and removes it from the keyring, so old tokens can no longer be
  linked to anything.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from governance.keys import pseudonymize
from governance.keys.keyring import KEY_BYTES, Keyring, new_key_id
from governance.keys.keystore import Saved, check_can_save, save_keyring
from governance.keys.published import PseudonymColumn, pseudonym_columns
from governance.keys.registry import (
    ids_with,
    load_registry,
    now_utc,
    reconcile,
    register_next_key,
    registered_keys,
    set_status,
)
from governance.keys.rotation import RotationError
from governance.standards.catalogue import Catalogue, ResolvedColumn
from governance.warehouse.engine import ddl_lock, is_postgres, write_transaction
from governance.warehouse.records import ensure_governance_tables, pseudonym_map

MAP_BATCH = 10_000
DEFAULT_MAPPING_DAYS = 30


@dataclass
class StageResult:
    stage: str
    keyring: Keyring
    saved: Saved | None = None
    columns: dict[str, int] = field(default_factory=dict)  # pseudonym column -> values rewritten
    map_rows: int = 0
    note: str = ""


def _mapped(column: sa.ColumnElement, element_key: str, next_id: str, side: str) -> sa.Exists:
    m = pseudonym_map
    return sa.exists().where(m.c.element_key == element_key, m.c.next_key_id == next_id, m.c[side] == column)


def readiness(connection: sa.Connection, columns: Sequence[PseudonymColumn], next_id: str) -> dict[str, dict]:
    """Per pseudonym column: values mapped (ready), already next tokens (done) and unmapped (blocking)."""
    report = {}
    for target in columns:
        column = target.table.c[target.column]
        current = _mapped(column, target.element_key, next_id, "current_token")
        done = _mapped(column, target.element_key, next_id, "next_token")
        row = connection.execute(sa.select(
            sa.func.count(column),
            sa.func.sum(sa.case((current, 1), else_=0)),
            sa.func.sum(sa.case((sa.and_(~current, done), 1), else_=0)),
        ).where(column.is_not(None))).one()
        total, mapped, converted = (int(value or 0) for value in row)
        report[target.name] = {"values": total, "mapped": mapped, "done": converted,
                               "unmapped": total - mapped - converted}
    return report


def prepare(engine: sa.Engine, keyring: Keyring, *, secrets_dir: Path, today: date | None = None) -> StageResult:
    """Add a ``next`` pseudonym key (registered as ``next``) and start an empty map for it."""
    keyring = reconcile(engine, keyring)
    if keyring.pseudonym_next is not None:
        return StageResult("prepare", keyring, note=f"already prepared: next key {keyring.pseudonym_next}")
    check_can_save(secrets_dir)
    key_id, key = new_key_id("pseudonym", today), secrets.token_bytes(KEY_BYTES)
    updated = keyring.with_next_pseudonym(key_id, key)
    with write_transaction(engine) as connection:
        register_next_key(connection, "pseudonym", key_id, key, keyring.pseudonym_keys)
        connection.execute(sa.delete(pseudonym_map).where(pseudonym_map.c.next_key_id != key_id))
    return StageResult("prepare", updated, save_keyring(updated, secrets_dir))


def record_map(engine: sa.Engine, columns: Sequence[ResolvedColumn], frame: pd.DataFrame, keyring: Keyring) -> int:
    """Mask step, while a next key exists: map current to next tokens for this frame's pseudonym values."""
    if keyring.pseudonym_next is None:
        return 0
    next_key = keyring.pseudonym_keys[keyring.pseudonym_next]
    rows: dict[tuple[str, str], str] = {}
    for column in columns:
        if not column.published or column.masking.rule != "pseudonym" or column.name not in frame.columns:
            continue
        values = pd.Series(frame[column.name].dropna().unique()).astype("string[pyarrow]")
        pairs = zip(pseudonymize(values, keyring.pseudonym_key), pseudonymize(values, next_key), strict=True)
        rows.update({(column.element.key, current): following for current, following in pairs})
    if not rows:
        return 0
    ensure_governance_tables(engine)
    records = [{"element_key": element, "current_token": current, "next_token": following,
                "next_key_id": keyring.pseudonym_next} for (element, current), following in rows.items()]
    with write_transaction(engine) as connection:
        insert = (postgresql.insert if is_postgres(connection) else sqlite.insert)(pseudonym_map)
        statement = insert.on_conflict_do_nothing(index_elements=["element_key", "current_token"])
        for start in range(0, len(records), MAP_BATCH):
            connection.execute(statement, records[start:start + MAP_BATCH])
    return len(records)


def _before_commit(connection: sa.Connection) -> None:
    """Hook (tests, fault injection): cutover's rewrite done, its transaction not yet committed."""


def cutover(engine: sa.Engine, catalogue: Catalogue, keyring: Keyring, *, secrets_dir: Path) -> StageResult:
    """Rewrite every published pseudonym through the map and make the next key active, in one transaction."""
    effective = reconcile(engine, keyring)
    if keyring.pseudonym_next is not None and effective.pseudonym_next is None:  # committed, keyring not saved
        return StageResult("cutover", effective, save_keyring(effective, secrets_dir),
                           note="the cutover was already committed; saving the keyring")
    if effective.pseudonym_next is None:
        waiting = [k for k in ids_with(load_registry(engine), "pseudonym", "next") if k not in keyring.pseudonym_keys]
        if waiting:
            raise RotationError(f"next pseudonym key {waiting[0]} was prepared but is not in governance_keyring yet: "
                                "load the pending keyring, let the mask steps fill the map, then cut over")
        raise RotationError("no next pseudonym key: run `governance keys rotate-pseudonym --stage prepare` first "
                            "and let the mask steps fill the map")
    check_can_save(secrets_dir)
    next_id, old_id = effective.pseudonym_next, effective.pseudonym_active
    rewritten: dict[str, int] = {}
    with write_transaction(engine) as connection:
        ddl_lock(connection, "key-registry")
        columns = pseudonym_columns(connection, catalogue)
        if is_postgres(connection):  # publishes wait until the commit; readers see old or new tokens, never both
            preparer = connection.dialect.identifier_preparer
            for name in sorted({preparer.format_table(target.table) for target in columns}):
                connection.exec_driver_sql(f"LOCK TABLE {name} IN EXCLUSIVE MODE")
        report = readiness(connection, columns, next_id)
        blocking = {name: counts["unmapped"] for name, counts in report.items() if counts["unmapped"]}
        if blocking:
            raise RotationError(
                f"cutover refused: {sum(blocking.values())} published token(s) are not in the pseudonym map ("
                + ", ".join(f"{name}: {count}" for name, count in blocking.items())
                + "); let the mask steps see those rows (rerun their loads) before cutting over. Nothing changed")
        for target in columns:
            column, m = target.table.c[target.column], pseudonym_map
            following = (sa.select(m.c.next_token).where(m.c.element_key == target.element_key,
                                                         m.c.next_key_id == next_id, m.c.current_token == column)
                         .scalar_subquery())
            current = _mapped(column, target.element_key, next_id, "current_token")
            rewritten[target.name] = connection.execute(
                sa.update(target.table).values({target.column: following}).where(current)).rowcount
        left = {name: counts["mapped"] for name, counts in readiness(connection, columns, next_id).items()
                if counts["mapped"]}
        if left:
            raise RotationError(f"cutover check failed, nothing changed: current tokens remain in {left}")
        _before_commit(connection)
        set_status(connection, [old_id], "retiring")
        set_status(connection, [next_id], "active")
    promoted = effective.with_next_active()
    return StageResult("cutover", promoted, save_keyring(promoted, secrets_dir), rewritten)


def finish(engine: sa.Engine, keyring: Keyring, *, secrets_dir: Path,
           mapping_days: int = DEFAULT_MAPPING_DAYS) -> StageResult:
    """After the mapping period: empty the map, retire the old pseudonym key and drop it from the keyring."""
    effective = reconcile(engine, keyring)
    check_can_save(secrets_dir)
    if effective.pseudonym_next is not None:
        raise RotationError(f"next key {effective.pseudonym_next} is not active yet: run --stage cutover first")
    with write_transaction(engine) as connection:
        ddl_lock(connection, "key-registry")
        registered = registered_keys(connection)
        old = ids_with(registered, "pseudonym", "retiring")
        if not old:
            return StageResult("finish", effective, note="no pseudonym rotation to finish")
        since = registered[effective.pseudonym_active].status_changed_at
        if since is not None and now_utc() - since < timedelta(days=mapping_days):
            raise RotationError(f"the mapping period is not over: cutover at {since:%Y-%m-%d %H:%M} UTC, "
                                f"{mapping_days} day(s) required (pass --mapping-days to shorten it deliberately)")
        removed = connection.execute(sa.delete(pseudonym_map)).rowcount
        set_status(connection, old, "retired")
    pruned = effective
    for key_id in old:
        if key_id in pruned.pseudonym_keys:
            pruned = pruned.without_pseudonym(key_id)
    saved = save_keyring(pruned, secrets_dir) if pruned is not effective else None
    return StageResult("finish", pruned, saved, map_rows=removed)
