"""The keyed transforms: HMAC-SHA256 pseudonyms and AES-256-GCM ciphertexts, and the one audited way back.

Keyed rules cannot be vectorised: HMAC and AES-GCM are per-value calls. Pseudonyms are computed once per
distinct value (``pd.factorize``) and mapped back; encryption runs once per non-null row, because every
ciphertext needs its own random nonce (encrypting distinct values once would give equal plaintexts equal
ciphertexts and leak which rows share a value). Nulls stay null.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from governance.columns import TEXT, as_text
from governance.errors import ConfigurationError
from governance.keys.keyring import KEY_ID, Keyring

# Random 96-bit GCM nonces: NIST SP 800-38D allows 2**32 encryptions per key; rotate keys well before that.
NONCE_BYTES = 12
# The associated data of quarantined raw rows: their ciphertexts decrypt only as quarantine, never as a column.
QUARANTINE_AAD = "governance.quarantine"

Audit = Callable[[dict[str, Any]], None]


class DecryptionError(ConfigurationError):
    """Ciphertexts could not be decrypted. Messages give counts and key ids, never values."""


def pseudonymize(values: pd.Series, key: bytes) -> pd.Series:
    """HMAC-SHA256 tokens, lowercase base32 (52 characters): the same value and key give the same token in
    every dataset, so departments can join on it without seeing the identifier. Base32 has no digits but
    2-7, so a token can never look like a resident ID or mobile number to the leak guard or a scanner.
    Nothing is normalised: validated data is canonical, and normalising here would hide a validation gap
    behind a silently merged token."""
    s = as_text(values)
    codes, uniques = pd.factorize(s)
    digests = _hmac_sha256(key, uniques)  # one HMAC per distinct value
    tokens = _base32_tokens(digests, len(uniques))
    # Code -1 (null) becomes a null index, which ``take`` turns into a null token.
    picked = tokens.take(pa.array(codes, mask=codes < 0, type=pa.int64()))
    return pd.Series(pd.arrays.ArrowStringArray(picked), index=s.index, name=s.name)


def _hmac_sha256(key: bytes, values: Iterable[str]) -> bytes:
    """RFC 2104 HMAC-SHA256 of each value, concatenated. The keyed inner and outer hash states are built
    once and copied per value: half the cost of ``hmac.digest`` per call at millions of values."""
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in block))
    outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in block))
    digests = bytearray()
    for value in values:
        step = inner.copy()
        step.update(value.encode("utf-8"))
        final = outer.copy()
        final.update(step.digest())
        digests += final.digest()
    return bytes(digests)


_BASE32 = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)
_DIGEST_BYTES, _TOKEN_CHARS = 32, 52  # 256 bits in 5-bit groups: 51 full groups and one of 1 bit + 4 zero bits


def _base32_tokens(digests: bytes, count: int) -> pa.Array:
    """``base64.b32encode(digest).rstrip("=").lower()`` of ``count`` concatenated 32-byte digests, with numpy
    byte arithmetic into one Arrow text array: the per-value standard-library call cost more than the HMAC.
    Each digest is zero-padded to 35 bytes, seven groups of 5 bytes (40 bits, 8 letters), cut back to 52."""
    padded = np.zeros((count, 35), dtype=np.uint8)
    padded[:, :_DIGEST_BYTES] = np.frombuffer(digests, dtype=np.uint8).reshape(count, _DIGEST_BYTES)
    b0, b1, b2, b3, b4 = (padded[:, i::5] for i in range(5))
    letters = np.stack([b0 >> 3, (b0 & 7) << 2 | b1 >> 6, b1 >> 1 & 31, (b1 & 1) << 4 | b2 >> 4,
                        (b2 & 15) << 1 | b3 >> 7, b3 >> 2 & 31, (b3 & 3) << 3 | b4 >> 5, b4 & 31], axis=2)
    text = np.ascontiguousarray(_BASE32[letters.reshape(count, 56)[:, :_TOKEN_CHARS]])
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(_TOKEN_CHARS), count, [None, pa.py_buffer(text)])
    return fixed.cast(pa.binary()).cast(pa.string())


def encrypt_values(values: pd.Series, key_id: str, key: bytes, associated_data: str) -> pd.Series:
    """AES-256-GCM, ``"<key_id>:" + urlsafe_b64(nonce || ciphertext || tag)`` per value.

    The element key is the associated data: a ciphertext copied into another element's column fails to
    decrypt there. The key id travels with each value so old ciphertexts stay readable after rotation.
    """
    s = as_text(values)
    present = s.notna().to_numpy()
    plaintexts = s[present].to_numpy(dtype=object)
    entropy = os.urandom(NONCE_BYTES * len(plaintexts))  # one OS call for all nonces
    nonces = [entropy[i:i + NONCE_BYTES] for i in range(0, len(entropy), NONCE_BYTES)]
    aead, aad, prefix = AESGCM(key), associated_data.encode("utf-8"), f"{key_id}:"
    tokens = [prefix + base64.urlsafe_b64encode(nonce + aead.encrypt(nonce, value.encode("utf-8"), aad)).decode()
              for value, nonce in zip(plaintexts, nonces, strict=True)]
    out = np.full(len(s), None, dtype=object)
    out[present] = tokens
    return pd.Series(out, index=s.index, dtype=TEXT, name=s.name)


def decrypt_values(values: pd.Series, keyring: Keyring, element_key: str, *, purpose: str, actor: str,
                   audit: Audit) -> pd.Series:
    """Plaintexts of ``encrypt_values`` output: the one audited way back to the values.

    Needs a stated ``purpose`` and ``actor``; ``audit`` receives an event (element, column, rows, key ids,
    purpose, actor, outcome; never values) before any plaintext is returned, and also when decryption
    fails. Any key id in the keyring decrypts, so rotation can re-encrypt at its own pace.
    """
    if not (isinstance(purpose, str) and purpose.strip()) or not (isinstance(actor, str) and actor.strip()):
        raise ValueError("decrypting needs a non-empty purpose and actor (both are audited)")
    s = as_text(values)
    present = s.notna().to_numpy()
    parts = s[present].str.partition(":")
    key_ids = parts[0].to_numpy(dtype=object)
    event: dict[str, Any] = {
        "event": "decrypt", "element": element_key, "column": None if values.name is None else str(values.name),
        "rows": int(present.sum()), "key_ids": sorted({str(k) for k in set(key_ids)} & set(keyring.encryption_keys)),
        "purpose": purpose.strip(), "actor": actor.strip(),
        "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    try:
        plaintexts = _decrypt(parts[2].to_numpy(dtype=object), key_ids, (parts[1] == ":").to_numpy(dtype=bool),
                              keyring.encryption_keys, element_key.encode("utf-8"))
    except DecryptionError as error:
        audit({**event, "outcome": "failed", "reason": str(error)})
        raise
    audit({**event, "outcome": "decrypted"})
    out = np.full(len(s), None, dtype=object)
    out[present] = plaintexts
    return pd.Series(out, index=s.index, dtype=TEXT, name=s.name)


def _decrypt(bodies: np.ndarray, key_ids: np.ndarray, separated: np.ndarray, keys: Mapping[str, bytes],
             aad: bytes) -> list[str]:
    if not separated.all():
        raise DecryptionError(f"{int((~separated).sum())} value(s) are not '<key id>:<ciphertext>' tokens")
    unknown = sorted({str(k) for k in set(key_ids)} - set(keys))
    if unknown:  # key ids are not secret, but a prefix that does not look like one might be a value
        shown = sorted({k if KEY_ID.fullmatch(k) else "<malformed>" for k in unknown})
        raise DecryptionError(f"ciphertexts use key id(s) not in the keyring: {', '.join(shown)}")
    aeads = {key_id: AESGCM(key) for key_id, key in keys.items()}
    try:
        raw = [base64.urlsafe_b64decode(body) for body in bodies]
        return [aeads[key_id].decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad).decode("utf-8")
                for key_id, blob in zip(key_ids, raw, strict=True)]
    except (InvalidTag, binascii.Error, ValueError):
        raise DecryptionError("a ciphertext failed authentication: wrong element (associated data), "
                              "wrong key or tampered value") from None
