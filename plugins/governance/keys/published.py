"""Where keyed values sit in the warehouse: the encrypted and pseudonym columns of every published table.

Rotations and checks must find every value a key produced, so the list comes from the standards (each
``shared.*`` dataset table and each column whose resolved masking rule is ``encrypt`` or ``pseudonym``),
not from guessing at column contents; tables not yet published are skipped. Cross-department profile
tables (``governance.profiles``) copy published columns, tokens and ciphertexts included, so their columns
count with the rule of the column they come from. ``governance.quarantine`` holds ciphertexts too (the raw
rows set aside), so it counts as an encrypted table: a key cannot retire while quarantined rows need it.

Every ciphertext starts with its key id (``enc-20261128-3c4d:...``), so counting values per key id is a
``GROUP BY`` on the prefix, done in SQL without reading any value into Python.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from governance.keys.crypto import QUARANTINE_AAD
from governance.keys.keyring import KEY_ID, Keyring, KeyringError
from governance.keys.registry import NOTHING_PUBLISHED
from governance.standards.catalogue import Catalogue, ResolvedColumn
from governance.warehouse.engine import is_postgres
from governance.warehouse.records import quarantine
from governance.warehouse.schema import dataset_table, profile_table, published_columns, qualified_name

NOT_CIPHERTEXT = "<not a ciphertext>"
MALFORMED = "<malformed key id>"


@dataclass(frozen=True)
class EncryptedTable:
    """A table with encrypted columns: column name -> the associated data its ciphertexts were sealed with."""

    table: sa.Table
    columns: Mapping[str, str]

    @property
    def name(self) -> str:
        return qualified_name(self.table)


@dataclass(frozen=True)
class PseudonymColumn:
    table: sa.Table
    column: str
    element_key: str

    @property
    def name(self) -> str:
        return f"{qualified_name(self.table)}.{self.column}"


def _exists(connection: sa.Connection, table: sa.Table) -> bool:
    return sa.inspect(connection).has_table(table.name, schema=table.schema)


def _keyed_tables(catalogue: Catalogue) -> Iterator[tuple[sa.Table, dict[str, ResolvedColumn]]]:
    """Every table the standards publish, with each column's resolved standard column (for a profile
    column: the column it is copied from)."""
    for dataset in sorted(catalogue.datasets.values(), key=lambda d: d.key):
        yield dataset_table(catalogue, dataset), {c.name: c for c in published_columns(catalogue, dataset)}
    for profile in catalogue.profiles.values():  # checked by the catalogue: every input and source is there
        origins = {key: {c.name: c for c in catalogue.columns(catalogue.dataset(key))} for key in profile.inputs}
        yield profile_table(catalogue, profile), {c.name: origins[c.dataset][c.source] for c in profile.columns}


def encrypted_tables(connection: sa.Connection, catalogue: Catalogue) -> list[EncryptedTable]:
    """Published tables with ``encrypt`` columns (AAD: the element key), then the quarantine."""
    found = []
    for table, columns in _keyed_tables(catalogue):
        encrypted = {name: c.element.key for name, c in columns.items() if c.masking.rule == "encrypt"}
        if encrypted and _exists(connection, table):
            found.append(EncryptedTable(table, encrypted))
    if _exists(connection, quarantine):
        found.append(EncryptedTable(quarantine, {"raw_row_encrypted": QUARANTINE_AAD}))
    return found


def pseudonym_columns(connection: sa.Connection, catalogue: Catalogue) -> list[PseudonymColumn]:
    """Every published ``pseudonym`` column, table by table."""
    found = []
    for table, columns in _keyed_tables(catalogue):
        tokens = [(name, c.element.key) for name, c in columns.items() if c.masking.rule == "pseudonym"]
        if tokens and _exists(connection, table):
            found.extend(PseudonymColumn(table, name, element) for name, element in tokens)
    return found


def key_id_of(connection: sa.Connection, column: sa.ColumnElement) -> sa.ColumnElement:
    """SQL for a ciphertext's key id (the text before the first ``:``), or '' when there is no ``:``."""
    if is_postgres(connection):
        position, prefix = sa.func.strpos(column, ":"), sa.func.split_part(column, ":", 1)
    else:
        position = sa.func.instr(column, ":")
        prefix = sa.func.substr(column, 1, position - 1)
    return sa.case((position > 0, prefix), else_=sa.literal(""))


def under_other_keys(column: sa.ColumnElement, key_id: str) -> sa.ColumnElement:
    """Non-null values whose key id is not ``key_id`` (a prefix comparison: key ids may contain ``_``)."""
    prefix = f"{key_id}:"
    return sa.and_(column.is_not(None), sa.func.substr(column, 1, len(prefix)) != prefix)


def key_usage(connection: sa.Connection, tables: list[EncryptedTable]) -> dict[str, dict[str, int]]:
    """``{"shared.t.column": {key id: values}}``. Prefixes that are not key ids are counted under a label,
    so a value that is not a ciphertext shows up without being shown."""
    usage: dict[str, dict[str, int]] = {}
    for target in tables:
        for name in target.columns:
            column = target.table.c[name]
            key_id = key_id_of(connection, column).label("key_id")
            rows = connection.execute(sa.select(key_id, sa.func.count()).where(column.is_not(None))
                                      .group_by(key_id)).all()
            counts: dict[str, int] = {}
            for prefix, count in rows:
                label = NOT_CIPHERTEXT if not prefix else prefix if KEY_ID.fullmatch(prefix) else MALFORMED
                counts[label] = counts.get(label, 0) + int(count)
            usage[f"{target.name}.{name}"] = counts
    return usage


def check_published_ciphertexts(engine: sa.Engine, catalogue: Catalogue, keyring: Keyring) -> dict[str, dict[str, int]]:
    """Refuse to mask if ciphertexts are published under a key id the keyring lacks: the keyring was cut
    back too early (or is the wrong one), and those values would be unreadable for good. Returns the usage."""
    with engine.connect() as connection:
        usage = key_usage(connection, encrypted_tables(connection, catalogue))
    lost: dict[str, list[str]] = {}
    for where, counts in usage.items():
        for key_id, count in counts.items():
            if KEY_ID.fullmatch(key_id) and key_id not in keyring.encryption_keys:
                lost.setdefault(key_id, []).append(f"{where}: {count}")
    if lost:
        details = "; ".join(f"encrypted values under key {key_id} are published ({', '.join(places)})"
                            for key_id, places in sorted(lost.items()))
        raise KeyringError(f"{details} but that key is not in the keyring; keep retired keys until rotation "
                           f"completes (restore it to governance_keyring); {NOTHING_PUBLISHED}")
    return usage
