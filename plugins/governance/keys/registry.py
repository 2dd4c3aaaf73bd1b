"""The key registry: every key id this warehouse has used, with its fingerprint and lifecycle status.

The keyring comes from a secrets backend the pipeline cannot vouch for: a restored backup, a keyring from
another environment or a hand-edited Variable can carry a different key under a familiar id, or a fresh
keyring under new ids. Pseudonyms made with such a key silently stop joining with everything published
before, and new ciphertexts become unreadable where the rest of the platform expects the old key. So each
id is recorded in ``governance.key_registry`` with its fingerprint the first time it is used, and the mask
step (before anything is published) refuses a keyring that contradicts the registry:

* a key whose fingerprint differs from the one registered for its id (the wrong key is configured);
* a registered active key that is missing from the keyring (the wrong keyring is configured);
* an active key the rotation commands did not make active (an older copy of the keyring).

Statuses follow the rotations: ``next`` (generated, not yet used for published values), ``active``,
``retiring`` (still needed: values under it remain, or a pseudonym map still refers to it) and ``retired``.
Errors show ids and fingerprints only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from governance.keys.keyring import Keyring, KeyringError, fingerprint
from governance.warehouse.engine import ddl_lock, write_transaction
from governance.warehouse.records import ensure_governance_tables, key_registry

KINDS = ("pseudonym", "encryption")
NOTHING_PUBLISHED = "nothing was published"


@dataclass(frozen=True)
class RegisteredKey:
    key_id: str
    kind: str
    fingerprint: str
    first_seen_at: datetime
    status: str
    status_changed_at: datetime | None


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def keys_of(keyring: Keyring) -> Iterator[tuple[str, str, bytes]]:
    """(kind, key id, key) for every key in the keyring."""
    for key_id, key in keyring.pseudonym_keys.items():
        yield "pseudonym", key_id, key
    for key_id, key in keyring.encryption_keys.items():
        yield "encryption", key_id, key


def registered_keys(connection: sa.Connection) -> dict[str, RegisteredKey]:
    rows = connection.execute(sa.select(key_registry).order_by(key_registry.c.first_seen_at, key_registry.c.key_id))
    return {row.key_id: RegisteredKey(**row._mapping) for row in rows}


def register(connection: sa.Connection, kind: str, key_id: str, key: bytes, status: str) -> None:
    moment = now_utc()
    connection.execute(sa.insert(key_registry).values(
        key_id=key_id, kind=kind, fingerprint=fingerprint(key), first_seen_at=moment, status=status,
        status_changed_at=moment))


def set_status(connection: sa.Connection, key_ids: Iterable[str], status: str) -> None:
    ids = sorted(set(key_ids))
    if ids:
        connection.execute(sa.update(key_registry).where(key_registry.c.key_id.in_(ids))
                           .values(status=status, status_changed_at=now_utc()))


def register_next_key(connection: sa.Connection, kind: str, key_id: str, key: bytes, known: Iterable[str]) -> None:
    """Record a rotation's new key as ``next`` (so the key loaded later is checked against it), inside the
    caller's transaction; ``next`` keys of earlier rotations whose keyring was never loaded (not in
    ``known``) are retired."""
    known = set(known)
    ddl_lock(connection, "key-registry")
    abandoned = [k for k in ids_with(registered_keys(connection), kind, "next") if k not in known]
    set_status(connection, abandoned, "retired")
    register(connection, kind, key_id, key, "next")


def ids_with(registered: dict[str, RegisteredKey], kind: str, *statuses: str) -> list[str]:
    return [key_id for key_id, row in registered.items() if row.kind == kind and row.status in statuses]


def check_fingerprints(keyring: Keyring, registered: dict[str, RegisteredKey]) -> None:
    """Every key in the keyring must be the key registered under its id (and of the same kind)."""
    for kind, key_id, key in keys_of(keyring):
        row = registered.get(key_id)
        if row is None:
            continue
        if row.kind != kind:
            raise KeyringError(f"key id {key_id} is registered as a {row.kind} key but the keyring has it as a "
                               f"{kind} key: the wrong keyring is configured; {NOTHING_PUBLISHED}")
        if row.fingerprint != fingerprint(key):
            raise KeyringError(
                f"key {key_id} does not match the key registered for that id (fingerprint {row.fingerprint}, "
                f"configured {fingerprint(key)}): the wrong key is configured; {NOTHING_PUBLISHED}")


def effective_keyring(keyring: Keyring, registered: dict[str, RegisteredKey]) -> Keyring:
    """The keyring to mask with, given what the registry says; KeyringError if they contradict each other.

    One case is reconciled rather than refused: after a pseudonym cutover the registry has the ``next``
    key active, while the Variable may still name the old key active until the operator updates it. The
    published tables already hold next-key tokens, so masking must use the next key; refusing would only
    stop the nightly runs until the Variable is updated.
    """
    effective = keyring
    pseudonym_active = _single_active(registered, "pseudonym")
    if pseudonym_active is not None and pseudonym_active != keyring.pseudonym_active:
        if pseudonym_active == keyring.pseudonym_next:
            effective = keyring.with_next_active()
        elif pseudonym_active in keyring.pseudonym_keys:
            raise KeyringError(
                f"pseudonym key {keyring.pseudonym_active} is active in the keyring, but the registry's active "
                f"pseudonym key is {pseudonym_active}: pseudonym keys change only through `governance keys "
                f"rotate-pseudonym` (is governance_keyring an older copy?); {NOTHING_PUBLISHED}")
        else:
            raise _missing_active("pseudonym", registered[pseudonym_active])
    encryption_active = _single_active(registered, "encryption")
    if encryption_active is not None and encryption_active != keyring.encryption_active:
        if encryption_active not in keyring.encryption_keys:
            raise _missing_active("encryption", registered[encryption_active])
        status = registered.get(keyring.encryption_active)
        if status is not None and status.status in ("retiring", "retired"):
            raise KeyringError(
                f"encryption key {keyring.encryption_active} is active in the keyring but registered as "
                f"{status.status} since {status.status_changed_at:%Y-%m-%d %H:%M} UTC (the registry's active "
                f"encryption key is {encryption_active}): governance_keyring is an older copy; {NOTHING_PUBLISHED}")
        # Otherwise a rotation's new key was loaded (generated as `next`, or set by hand): it takes over.
    return effective


def _single_active(registered: dict[str, RegisteredKey], kind: str) -> str | None:
    active = ids_with(registered, kind, "active")
    if len(active) > 1:
        raise KeyringError(f"the key registry lists {len(active)} active {kind} keys ({', '.join(active)}); "
                           f"mark all but one retiring in governance.key_registry; {NOTHING_PUBLISHED}")
    return active[0] if active else None


def _missing_active(kind: str, row: RegisteredKey) -> KeyringError:
    return KeyringError(
        f"the registry's active {kind} key {row.key_id} (fingerprint {row.fingerprint}) is not in the keyring: "
        f"the wrong keyring is configured (regenerated, or from another environment?); {NOTHING_PUBLISHED}")


def reconcile(engine: sa.Engine, keyring: Keyring) -> Keyring:
    """Check ``keyring`` against the registry, register ids seen for the first time and record which keys
    became active; returns the keyring to mask with. One locked transaction, so concurrent runs agree."""
    ensure_governance_tables(engine)
    with write_transaction(engine) as connection:
        ddl_lock(connection, "key-registry")
        registered = registered_keys(connection)
        check_fingerprints(keyring, registered)
        effective = effective_keyring(keyring, registered)
        record_keyring(connection, effective, registered)
    return effective


def record_keyring(connection: sa.Connection, keyring: Keyring, registered: dict[str, RegisteredKey]) -> None:
    """Register unseen ids and mark the keyring's active keys active (the previous active key of a kind
    becomes ``retiring``: its values stay readable until a rotation moves them)."""
    actives = {"pseudonym": keyring.pseudonym_active, "encryption": keyring.encryption_active}
    for kind, key_id, key in keys_of(keyring):
        if key_id in registered:
            continue
        status = "active" if key_id == actives[kind] else "next" if key_id == keyring.pseudonym_next else "retiring"
        register(connection, kind, key_id, key, status)
    for kind, active in actives.items():
        set_status(connection, [k for k in ids_with(registered, kind, "active") if k != active], "retiring")
        row = registered.get(active)
        if row is not None and row.status != "active":
            set_status(connection, [active], "active")


def load_registry(engine: sa.Engine) -> dict[str, RegisteredKey]:
    ensure_governance_tables(engine)
    with engine.connect() as connection:
        return registered_keys(connection)
