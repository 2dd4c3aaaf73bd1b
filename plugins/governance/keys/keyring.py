"""The keyring: HMAC keys for pseudonyms and AES-GCM keys for reversible encryption.

Keys live in one Airflow Variable, ``governance_keyring``, so whatever secrets backend the deployment
configures (``AIRFLOW_VAR_*`` environment variables, a ``LocalFilesystemBackend`` variables file for the
demo, Vault, ...) serves them and nothing here knows where they are stored. Each kind of key has an active
id (used for new tokens) and older ids that stay readable until a rotation completes; during a pseudonym
key rotation the pseudonym section also names a ``next`` key (see ``governance.keys.pseudonym_rotation``).
Key material never appears in a repr, a log line or an error message; ``fingerprint`` identifies a key instead.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import os
import re
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from governance.errors import ConfigurationError

VARIABLE = "governance_keyring"
KEY_BYTES = 32
KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # no ':' - it separates key id and ciphertext
_KINDS = {"pseudonym": "ps", "encryption": "enc"}


class KeyringError(ConfigurationError):
    """The keyring is missing or malformed. Messages name variables, kinds and key ids, never keys."""


def fingerprint(key: bytes) -> str:
    """A short, non-reversible identifier of a key, safe to log (first 12 hex digits of its SHA-256)."""
    return hashlib.sha256(key).hexdigest()[:12]


@dataclass(frozen=True, repr=False, eq=False)
class Keyring:
    """Pseudonym and encryption keys by id, with the active id of each kind."""

    pseudonym_keys: Mapping[str, bytes]
    pseudonym_active: str
    encryption_keys: Mapping[str, bytes]
    encryption_active: str
    pseudonym_next: str | None = None  # the pseudonym key a rotation will switch to (tokens mapped meanwhile)

    def __post_init__(self) -> None:
        for kind, keys, active in (("pseudonym", self.pseudonym_keys, self.pseudonym_active),
                                   ("encryption", self.encryption_keys, self.encryption_active)):
            for key_id, key in keys.items():
                if not isinstance(key_id, str) or not KEY_ID.fullmatch(key_id):
                    raise KeyringError(f"{kind} key ids must match {KEY_ID.pattern} (letters, digits, _ . -)")
                if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                    raise KeyringError(f"{kind} key {key_id} must be {KEY_BYTES} bytes")
            if active not in keys:
                raise KeyringError(f"active {kind} key id {active!r} is not among the {kind} keys "
                                   f"({', '.join(sorted(keys)) or 'none'})")
        if self.pseudonym_next is not None and (self.pseudonym_next not in self.pseudonym_keys
                                                or self.pseudonym_next == self.pseudonym_active):
            raise KeyringError(f"next pseudonym key id {self.pseudonym_next!r} must be one of the pseudonym keys "
                               "other than the active one")
        # Read-only views, so a frozen keyring cannot be changed through its dicts either.
        object.__setattr__(self, "pseudonym_keys", MappingProxyType(dict(self.pseudonym_keys)))
        object.__setattr__(self, "encryption_keys", MappingProxyType(dict(self.encryption_keys)))

    @property
    def pseudonym_key(self) -> bytes:
        return self.pseudonym_keys[self.pseudonym_active]

    @property
    def encryption_key(self) -> bytes:
        return self.encryption_keys[self.encryption_active]

    def with_encryption_key(self, key_id: str, key: bytes) -> Keyring:
        """This keyring plus a new active encryption key; the old ones stay, so their ciphertexts still decrypt."""
        return replace(self, encryption_keys={**self.encryption_keys, key_id: key},
                                   encryption_active=key_id)

    def with_next_pseudonym(self, key_id: str, key: bytes) -> Keyring:
        """This keyring plus a ``next`` pseudonym key (not yet used for published tokens)."""
        return replace(self, pseudonym_keys={**self.pseudonym_keys, key_id: key}, pseudonym_next=key_id)

    def with_next_active(self) -> Keyring:
        """The ``next`` pseudonym key made active (after a cutover); the old key stays until ``finish``."""
        if self.pseudonym_next is None:
            raise KeyringError("the keyring has no next pseudonym key")
        return replace(self, pseudonym_active=self.pseudonym_next, pseudonym_next=None)

    def without_pseudonym(self, key_id: str) -> Keyring:
        """This keyring without a (retired, non-active) pseudonym key."""
        if key_id in (self.pseudonym_active, self.pseudonym_next):
            raise KeyringError(f"pseudonym key {key_id} is in use and cannot be removed")
        return replace(self, pseudonym_keys={k: v for k, v in self.pseudonym_keys.items() if k != key_id})

    def __repr__(self) -> str:
        def ids(keys: Mapping[str, bytes]) -> str:
            return ", ".join(f"{key_id}#{fingerprint(key)}" for key_id, key in sorted(keys.items()))

        following = f", pseudonym_next={self.pseudonym_next!r}" if self.pseudonym_next else ""
        return (f"Keyring(pseudonym_active={self.pseudonym_active!r}{following}, "
                f"pseudonym=[{ids(self.pseudonym_keys)}], "
                f"encryption_active={self.encryption_active!r}, encryption=[{ids(self.encryption_keys)}])")

    __str__ = __repr__


def _decode_key(kind: str, key_id: str, text: object) -> bytes:
    if not isinstance(text, str):
        raise KeyringError(f"{kind} key {key_id} must be a urlsafe base64 string")
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"{kind} key {key_id} is not valid urlsafe base64") from None
    if len(key) != KEY_BYTES:
        raise KeyringError(f"{kind} key {key_id} decodes to {len(key)} bytes, expected {KEY_BYTES}")
    return key


def keyring_from_json(text: str, *, source: str = VARIABLE) -> Keyring:
    """Parse the Variable's JSON. Errors report positions and ids only (``from None`` drops the parser's
    context, which could otherwise quote the document)."""
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, TypeError) as error:
        where = f" (line {error.lineno}, column {error.colno})" if isinstance(error, json.JSONDecodeError) else ""
        raise KeyringError(f"{source} is not valid JSON{where}") from None
    if not isinstance(document, dict):
        raise KeyringError(f"{source} must be a JSON object with 'pseudonym' and 'encryption'")
    parsed: dict[str, tuple[dict[str, bytes], str]] = {}
    pseudonyms = document.get("pseudonym")
    following = pseudonyms.get("next") if isinstance(pseudonyms, dict) else None
    for kind in _KINDS:
        section = document.get(kind)
        if not isinstance(section, dict) or not isinstance(section.get("keys"), dict) or "active" not in section:
            raise KeyringError(f"{source} needs {kind!r}: {{\"active\": \"<key id>\", \"keys\": {{...}}}}")
        keys = {str(key_id): _decode_key(kind, str(key_id), value) for key_id, value in section["keys"].items()}
        parsed[kind] = keys, str(section["active"])
    (pseudonym_keys, pseudonym_active), (encryption_keys, encryption_active) = parsed.values()
    return Keyring(pseudonym_keys, pseudonym_active, encryption_keys, encryption_active,
                   None if following is None else str(following))


def keyring_to_json(keyring: Keyring) -> str:
    """The Variable's JSON for a keyring (the inverse of ``keyring_from_json``)."""

    def section(active: str, keys: Mapping[str, bytes]) -> dict[str, Any]:
        return {"active": active,
                "keys": {key_id: base64.urlsafe_b64encode(key).decode("ascii") for key_id, key in keys.items()}}

    pseudonym = section(keyring.pseudonym_active, keyring.pseudonym_keys)
    if keyring.pseudonym_next:
        pseudonym["next"] = keyring.pseudonym_next
    encryption = section(keyring.encryption_active, keyring.encryption_keys)
    return json.dumps({"pseudonym": pseudonym, "encryption": encryption})


def new_key_id(kind: str, today: datetime.date | None = None) -> str:
    """``ps-20261128-1a2b`` / ``enc-20261128-3c4d``: kind, creation date and a random suffix."""
    day = (today or datetime.date.today()).strftime("%Y%m%d")
    return f"{_KINDS[kind]}-{day}-{secrets.token_hex(2)}"


def generate_keyring(today: datetime.date | None = None) -> Keyring:
    """A fresh keyring with one random 256-bit key of each kind (``secrets``, the OS CSPRNG)."""
    pseudonym_id, encryption_id = new_key_id("pseudonym", today), new_key_id("encryption", today)
    return Keyring({pseudonym_id: secrets.token_bytes(KEY_BYTES)}, pseudonym_id,
                   {encryption_id: secrets.token_bytes(KEY_BYTES)}, encryption_id)


def write_local_keyring(path: Path | str, keyring: Keyring | None = None) -> Keyring:
    """Write a LocalFilesystemBackend variables file holding the keyring, readable by its owner only.

    Refuses to overwrite: replacing a keyring silently would make every earlier pseudonym unjoinable and
    every earlier ciphertext unreadable.
    """
    keyring = keyring or generate_keyring()
    create_private_file(Path(path), json.dumps({VARIABLE: keyring_to_json(keyring)}) + "\n",
                        exists="refusing to overwrite a keyring (rotate keys instead, or remove the file deliberately)")
    return keyring


def create_private_file(target: Path, text: str, *, exists: str) -> None:
    """Create ``target`` readable by its owner only, never overwriting (``exists`` explains the refusal).

    ``O_EXCL`` makes the check and the creation one atomic step and ``0o600`` is applied at creation, so key
    material is never readable by others, even briefly; the write is fsynced before the file counts as there.
    """
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyringError(f"{target} already exists; {exists}") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(target, 0o600)  # in case the umask or the filesystem widened the creation mode


def _in_task() -> bool:
    """True inside a task (or a Dag parse) where the Task SDK talks to its supervisor."""
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(runner, "SUPERVISOR_COMMS", None) is not None


def _metastore_configured() -> bool:
    """True if this process has a metadata database to ask (so a plain CLI process does not create an empty
    ``airflow.db`` just by looking)."""
    from airflow.configuration import conf

    url = conf.get("database", "sql_alchemy_conn", fallback="") or ""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).exists()
    return bool(url)


def read_variable(name: str = VARIABLE) -> str | None:
    """The raw Variable, or None if no backend has it.

    ``airflow.sdk.Variable.get`` resolves by context (Airflow 3.3 ``ensure_secrets_backend_loaded``): in a
    task it asks the configured secrets backend, ``AIRFLOW_VAR_*`` and then the API server (metastore); in
    a plain process it asks the configured secrets backend and ``AIRFLOW_VAR_*`` but not the metastore.
    Outside a task a CLI on a scheduler host may still hold the Variable only in the metastore (``airflow
    variables set``), so that is asked last, directly; tasks must not touch the database.
    """
    from airflow.sdk import Variable

    try:
        value = Variable.get(name, default=None)
    except Exception as error:  # a backend denied access or failed: report the kind, not the details
        raise KeyringError(f"reading Airflow Variable {name} failed ({type(error).__name__})") from None
    if value is None and not _in_task() and _metastore_configured():
        from airflow.secrets.metastore import MetastoreBackend

        try:
            value = MetastoreBackend().get_variable(name)
        except Exception:  # no metadata tables yet, database down: the Variable is simply not there
            value = None
    return value


def load_keyring(name: str = VARIABLE) -> Keyring:
    """Read and check the keyring from the Airflow Variable ``name``; KeyringError says what to fix."""
    raw = read_variable(name)
    if raw is None:
        raise KeyringError(
            f"Airflow Variable {name} is not set in any secrets backend. Create it with `governance keys init` "
            f"(demo: writes a LocalFilesystemBackend variables file) or set AIRFLOW_VAR_{name.upper()} / "
            f"your secrets backend to {{\"pseudonym\": {{\"active\": ..., \"keys\": {{...}}}}, "
            f"\"encryption\": {{...}}}}")
    keyring = keyring_from_json(raw, source=f"Airflow Variable {name}")
    _mask_in_logs(keyring)
    return keyring


def _mask_in_logs(keyring: Keyring) -> None:
    """Register each encoded key with Airflow's secrets masker, so a key that reaches a task log is redacted
    (the SDK masks only the whole Variable string)."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - the SDK ships with Airflow 3
        return
    for key in (*keyring.pseudonym_keys.values(), *keyring.encryption_keys.values()):
        mask_secret(base64.urlsafe_b64encode(key).decode("ascii"))
