"""API tokens for consumer departments: issued once, stored only as a hash, checked in constant time.

A token is ``gst_<token_id>_<secret>``: the id (public, appears in the access log and in ``tokens list``)
finds the row in one indexed read, and the secret is 32 random bytes from the OS CSPRNG, so the SHA-256
of the whole token is enough (no slow KDF is needed against guessing a 256-bit secret). The token itself
is printed once by ``governance tokens issue`` and never stored or logged; comparison uses
``hmac.compare_digest``, and an unknown id is compared against a dummy hash so both paths cost the same.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from governance.errors import ConfigurationError
from governance.sharing.tables import api_token, ensure_sharing_tables
from governance.warehouse.engine import write_transaction

PREFIX = "gst"
SECRET_BYTES = 32
TOKEN = re.compile(r"^gst_(t[0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
RESERVED_CONSUMERS = frozenset({"anonymous", "unknown"})  # what the access log calls callers without a token
_DUMMY_HASH = hashlib.sha256(b"no such token").hexdigest()


class TokenError(ConfigurationError, ValueError):
    """A token command was given something it cannot act on (unknown department, unknown token id)."""


@dataclass(frozen=True)
class IssuedToken:
    token_id: str
    department: str
    token: str  # shown once to the operator, never stored
    expires_at: datetime | None


@dataclass(frozen=True)
class TokenCheck:
    """The outcome of checking a presented token: who (if anyone) and, if refused, why."""

    department: str | None
    token_id: str | None
    reason: str | None  # None when valid; otherwise missing, malformed, unknown, revoked, expired
    expires_at: datetime | None = None

    @property
    def valid(self) -> bool:
        return self.reason is None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def issue_token(engine: sa.Engine, department: str, *, now: datetime, expires_days: int | None) -> IssuedToken:
    """Create a token for ``department``; ``now`` is naive UTC. Only its hash is written."""
    if department in RESERVED_CONSUMERS:
        raise TokenError(f"{department!r} is reserved for callers without a valid token")
    if expires_days is not None and expires_days < 1:
        raise TokenError("--expires-days must be at least 1")
    token_id = f"t{secrets.token_hex(8)}"
    token = f"{PREFIX}_{token_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
    expires_at = now + timedelta(days=expires_days) if expires_days else None
    ensure_sharing_tables(engine)
    with write_transaction(engine) as connection:
        connection.execute(sa.insert(api_token).values(
            token_id=token_id, department=department, token_hash=token_hash(token), created_at=now,
            expires_at=expires_at, revoked_at=None))
    return IssuedToken(token_id, department, token, expires_at)


def revoke_token(engine: sa.Engine, token_id: str, *, now: datetime) -> bool:
    """Revoke a token; returns False if it was already revoked. Unknown ids raise TokenError."""
    ensure_sharing_tables(engine)
    with write_transaction(engine) as connection:
        found = connection.execute(sa.select(api_token.c.revoked_at).where(api_token.c.token_id == token_id)).first()
        if found is None:
            raise TokenError(f"no token with id {token_id!r}")
        if found.revoked_at is not None:
            return False
        connection.execute(sa.update(api_token).where(api_token.c.token_id == token_id).values(revoked_at=now))
    return True


def list_tokens(engine: sa.Engine) -> list[dict[str, Any]]:
    """Every token's id, department and dates, oldest first; never the hash."""
    ensure_sharing_tables(engine)
    columns = [column for column in api_token.columns if column.name != "token_hash"]
    with engine.connect() as connection:
        rows = connection.execute(sa.select(*columns).order_by(api_token.c.created_at, api_token.c.token_id))
        return [dict(row._mapping) for row in rows]


def check_token(connection: sa.Connection, authorization: str | None, *, now: datetime) -> TokenCheck:
    """Check an ``Authorization`` header value (``Bearer <token>``) at ``now`` (naive UTC)."""
    if not authorization:
        return TokenCheck(None, None, "missing_token")
    scheme, _, presented = authorization.partition(" ")
    match = TOKEN.fullmatch(presented.strip()) if scheme.lower() == "bearer" else None
    if match is None:
        return TokenCheck(None, None, "malformed_token")
    token_id = match.group(1)
    row = connection.execute(
        sa.select(api_token.c.department, api_token.c.token_hash, api_token.c.expires_at, api_token.c.revoked_at)
        .where(api_token.c.token_id == token_id)).first()
    matches = hmac.compare_digest(token_hash(presented.strip()), row.token_hash if row else _DUMMY_HASH)
    if row is None or not matches:
        return TokenCheck(None, None, "unknown_token")
    if row.revoked_at is not None:
        return TokenCheck(row.department, token_id, "token_revoked")
    if row.expires_at is not None and row.expires_at <= now:
        return TokenCheck(row.department, token_id, "token_expired")
    return TokenCheck(row.department, token_id, None, row.expires_at)
