"""Turning a request into a parameterised query: filters, keyset cursors, key lookups, JSON values.

Identifiers (table, columns) come only from the standards through :class:`~governance.sharing.policy.Grant`;
request text only ever becomes bound parameters, after being converted to the column's type. Filters are
limited to the primary-key columns the consumer may read, plus ``updated_since`` on the dataset's
freshness column: anything else is refused, so an unindexed or unexpected predicate never reaches the
database. Messages name parameters and columns from the standards, never a submitted value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from governance.errors import DataError
from governance.keys import Keyring
from governance.sharing.policy import Grant
from governance.standards.catalogue import ResolvedColumn

RESERVED = ("limit", "after", "updated_since")
MAX_VALUE_CHARS = 512
MAX_CURSOR_CHARS = 4096
_CURSOR_PURPOSE = b"governance.sharing.cursor/v1"  # domain separation from the pseudonyms the key also makes
_SIGNATURE_BYTES = 16
INT64 = 2**63


class RequestProblem(DataError):
    """The request cannot be served as asked (400); the message is safe to return."""

    def __init__(self, message: str, status_code: int = 400, error: str = "invalid_request") -> None:
        super().__init__(message)
        self.message, self.status_code, self.error = message, status_code, error


@dataclass(frozen=True)
class RowsQuery:
    filters: dict[str, Any]
    updated_since: date | datetime | None
    after: tuple[Any, ...] | None
    limit: int

    @property
    def shape(self) -> list[str]:
        """Filter names for the access log (never values)."""
        names = sorted(self.filters)
        if self.updated_since is not None:
            names.append("updated_since")
        if self.after is not None:
            names.append("after")
        return names


def key_columns(grant: Grant) -> list[ResolvedColumn]:
    """The primary-key columns the consumer may read, in key order."""
    return [column for name in grant.dataset.primary_key if (column := grant.column(name)) is not None]


def pageable(grant: Grant) -> bool:
    """Cursors carry key values, so they are offered only to consumers who may read the whole key."""
    return len(key_columns(grant)) == len(grant.dataset.primary_key)


def parse_rows_params(params: list[tuple[str, str]], grant: Grant, *, consumer: str,
                      signing_keys: list[bytes] | None, default_limit: int, max_limit: int) -> RowsQuery:
    keys = {column.name: column for column in key_columns(grant)}
    allowed = [*keys, *RESERVED]
    names = [name for name, _ in params]
    if any(name not in allowed for name in names):
        raise RequestProblem(f"unsupported parameter; this dataset accepts: {', '.join(allowed)}")
    if len(set(names)) != len(names):
        raise RequestProblem("each query parameter may be given once")
    given = dict(params)
    filters = {name: convert(keys[name], value) for name, value in given.items() if name in keys}
    try:
        limit = int(given.get("limit", default_limit))
    except ValueError:
        raise RequestProblem(f"limit must be a whole number from 1 to {max_limit}") from None
    if not 1 <= limit <= max_limit:
        raise RequestProblem(f"limit must be a whole number from 1 to {max_limit}")
    since = _updated_since(grant, given["updated_since"]) if "updated_since" in given else None
    after = decode_cursor(grant, consumer, given["after"], signing_keys) if "after" in given else None
    return RowsQuery(filters, since, after, limit)


def rows_select(table: sa.Table, grant: Grant, query: RowsQuery) -> sa.Select:
    key = [table.c[name] for name in grant.dataset.primary_key]
    statement = sa.select(*[table.c[name] for name in grant.column_names])
    for name, value in query.filters.items():
        statement = statement.where(table.c[name] == sa.bindparam(None, value, table.c[name].type))
    if query.updated_since is not None:
        column = table.c[grant.dataset.freshness_column or ""]
        statement = statement.where(column >= sa.bindparam(None, query.updated_since, column.type))
    if query.after is not None:
        bound = [sa.bindparam(None, value, column.type) for column, value in zip(key, query.after, strict=True)]
        statement = statement.where(key[0] > bound[0] if len(key) == 1 else sa.tuple_(*key) > sa.tuple_(*bound))
    return statement.order_by(*key).limit(query.limit)


def lookup_select(table: sa.Table, grant: Grant, key: Mapping[str, str], keyring: Keyring | None,
                  limit: int) -> tuple[sa.Select, list[str]]:
    """Rows whose key columns match raw values: pseudonym-masked columns compare the values' tokens
    (every pseudonym key in the keyring, so rows published before a key rotation are still found)."""
    columns = {column.name: column for column in key_columns(grant)}
    if not key or any(name not in columns for name in key):
        raise RequestProblem(f"lookup keys must be primary key columns you may read: {', '.join(columns) or 'none'}")
    statement = sa.select(*[table.c[name] for name in grant.column_names])
    for name, raw in key.items():
        column, target = columns[name], table.c[name]
        rule = column.masking.rule
        if rule == "pseudonym":
            if keyring is None:
                raise RequestProblem("lookup by identifier is unavailable (no pseudonym keys)", 503, "unavailable")
            value = _canonical(column, _text(name, raw))
            tokens = [pseudonym_of(value, secret) for secret in keyring.pseudonym_keys.values()]
            statement = statement.where(target.in_([sa.bindparam(None, token, target.type) for token in tokens]))
        elif rule == "none":
            statement = statement.where(target == sa.bindparam(None, convert(column, raw), target.type))
        else:
            raise RequestProblem(f"column {name} is published {rule}-masked and cannot be looked up by value")
    order = [table.c[name] for name in grant.dataset.primary_key]
    return statement.order_by(*order).limit(limit), sorted(key)


def pseudonym_of(value: str, key: bytes) -> str:
    """One value's token, exactly as :func:`governance.keys.pseudonymize` computes it for a column
    (HMAC-SHA256, lowercase unpadded base32; a test holds the two together). A per-value call here avoids
    building a pandas Series on every lookup."""
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def cursor_keys(keyring: Keyring) -> list[bytes]:
    """Cursor signing keys derived from the pseudonym keys (the secrets backend's keyring): the active
    one first (signs), the others still verify a cursor issued just before a key rotation."""
    active = keyring.pseudonym_active
    ids = [active, *(key_id for key_id in keyring.pseudonym_keys if key_id != active)]
    return [hmac.new(keyring.pseudonym_keys[key_id], _CURSOR_PURPOSE, hashlib.sha256).digest() for key_id in ids]


def encode_cursor(grant: Grant, consumer: str, row: Mapping[str, Any], keys: list[bytes]) -> str:
    """``<payload>.<signature>``: the last row's key values, bound to the consumer and dataset, HMAC-signed
    so that a cursor cannot be forged or edited (a made-up one would page from anywhere)."""
    values = [jsonable(row[name]) for name in grant.dataset.primary_key]
    payload = _b64(json.dumps([grant.dataset.key, consumer, values], separators=(",", ":")).encode())
    return f"{payload}.{_b64(_sign(keys[0], payload))}"


def decode_cursor(grant: Grant, consumer: str, cursor: str, keys: list[bytes] | None) -> tuple[Any, ...]:
    """The key values of a cursor this service issued to this consumer for this dataset; any other text,
    however long, nested or malformed, is a 400 (the signature is checked before anything is parsed)."""
    if not pageable(grant):
        raise RequestProblem("cursor paging is not available: your grant does not include the whole primary key")
    if keys is None:
        raise RequestProblem("cursor paging is unavailable (no keys)", 503, "unavailable")
    invalid = RequestProblem("after is not a cursor this service issued")
    payload, dot, signature = cursor.partition(".") if isinstance(cursor, str) else ("", "", "")
    if not dot or len(cursor) > MAX_CURSOR_CHARS or not payload.isascii() or not signature.isascii():
        raise invalid
    try:
        presented = _unb64(signature)
    except (binascii.Error, ValueError):
        raise invalid from None
    if not any(hmac.compare_digest(presented, _sign(key, payload)) for key in keys):
        raise invalid
    try:
        dataset_key, owner, values = json.loads(_unb64(payload))
    except (binascii.Error, ValueError, TypeError, RecursionError):
        raise invalid from None
    columns = key_columns(grant)
    if (dataset_key, owner) != (grant.dataset.key, consumer) or not isinstance(values, list) or len(
            values) != len(columns) or not all(isinstance(value, str | int) and not isinstance(value, bool)
                                               for value in values):
        raise invalid
    try:
        return tuple(convert(column, str(value)) for column, value in zip(columns, values, strict=True))
    except RequestProblem:
        raise invalid from None


def _sign(key: bytes, payload: str) -> bytes:
    return hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def convert(column: ResolvedColumn, raw: str) -> Any:
    """A submitted text value as the column's published type (400 if it is not one)."""
    text = _text(column.name, raw)
    kind = column.published_type
    wrong = RequestProblem(f"value for {column.name} is not a valid {kind}")
    try:
        if kind == "integer":
            number = int(text)
            if not -INT64 <= number < INT64:
                raise wrong
            return number
        if kind == "decimal":
            number = Decimal(text)
            if not number.is_finite():
                raise wrong
            return number
        if kind == "date":
            return date.fromisoformat(text)
        if kind == "datetime":
            return datetime.fromisoformat(text).replace(tzinfo=None)
    except (ValueError, InvalidOperation):
        raise wrong from None
    return text


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")  # exact, as text
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _text(name: str, raw: Any) -> str:
    """Reject what would make the driver fail (NUL, unpaired surrogates) or is absurdly long."""
    if not isinstance(raw, str):
        raise RequestProblem(f"value for {name} must be text")
    if len(raw) > MAX_VALUE_CHARS:
        raise RequestProblem(f"value for {name} is longer than {MAX_VALUE_CHARS} characters")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestProblem(f"value for {name} is not valid text") from None
    if "\x00" in raw:
        raise RequestProblem(f"value for {name} is not valid text")
    return raw


def _canonical(column: ResolvedColumn, value: str) -> str:
    """Identifiers as validation publishes them: no surrounding blanks, check letter uppercase."""
    value = value.strip()
    return value.upper() if column.element.domain.validator in ("resident_id", "credit_code") else value


def _updated_since(grant: Grant, raw: str) -> date | datetime:
    name = grant.dataset.freshness_column
    column = grant.column(name) if name else None
    if column is None or column.published_type not in ("date", "datetime"):
        raise RequestProblem("updated_since is not available for this dataset")
    return convert(column, raw)
