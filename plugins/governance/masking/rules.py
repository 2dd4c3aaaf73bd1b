"""One function per masking rule (GB/T 37964 techniques), each working on a whole column at once.

Departments publish millions of rows, so rules are pandas string operations and numpy arithmetic on
Arrow-backed text. Keyed rules cannot be: HMAC and AES-GCM are per-value calls. Pseudonyms are computed
once per distinct value (``pd.factorize``) and mapped back; encryption runs once per non-null row in one
comprehension, because every ciphertext needs its own random nonce (encrypting distinct values once would
give equal plaintexts equal ciphertexts and leak which rows share a value). Nulls stay null everywhere.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from governance.errors import ConfigurationError
from governance.masking.keys import KEY_ID, Keyring

TEXT = pd.StringDtype("pyarrow")
NONCE_BYTES = 12  # random 96-bit GCM nonces: NIST SP 800-38D allows 2**32 encryptions per key; rotate before
# Two-character compound surnames (复姓): a name keeps its whole surname, 欧阳** rather than 欧***.
COMPOUND_SURNAMES = frozenset({"欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
                               "宇文", "司徒", "夏侯", "令狐"})
# Display-mask conventions by the element's validator, used when keep_first/keep_last are not given.
DEFAULT_KEEP = {"resident_id": (6, 4), "mobile": (3, 4), "credit_code": (8, 0)}
GENERIC_KEEP = (1, 1)
# County-level unit after an optional province and prefecture. Name parts exclude digits and the characters
# of street-level units, so a street, 小区 or house number never passes for a county: such addresses fall
# back to a short prefix, which hides more, never less.
_PROVINCE = "(?:[^省市区县旗0-9]{2,7}?(?:省|自治区|特别行政区)|(?:北京|天津|上海|重庆)市)"
_CITY = "(?:[^省市区县旗0-9]{1,9}?(?:市|自治州|地区|盟))"
_COUNTY = "[^省市区县旗0-9号路街巷弄村镇乡道小]{1,7}?(?:区|县|市|旗)"
DISTRICT = f"^(?P<county>{_PROVINCE}?{_CITY}?{_COUNTY})"
FALLBACK_CHARS = 6

Audit = Callable[[dict[str, Any]], None]


class DecryptionError(ConfigurationError):
    """Ciphertexts could not be decrypted. Messages give counts and key ids, never values."""


def as_text(values: pd.Series) -> pd.Series:
    """The column as Arrow-backed text with pd.NA for nulls (the dtype every masked column is published in)."""
    return values.astype(TEXT)


def _mask(result: pd.Series) -> np.ndarray:
    return result.to_numpy(dtype=bool, na_value=False)


def none(values: pd.Series) -> pd.Series:
    """Publish as is (only the dtype is normalised to text)."""
    return as_text(values)


def partial(values: pd.Series, keep_first: int, keep_last: int, *, surname_aware: bool = False) -> pd.Series:
    """Keep ``keep_first``/``keep_last`` characters and star the rest, preserving the length.

    At least one character is always starred, so a value no longer than the visible ends is not published
    whole (the head wins over the tail). With ``surname_aware`` a name starting with a compound surname
    keeps one more leading character: 欧阳娜娜 -> 欧阳**.
    """
    s = as_text(values)
    length = s.str.len().to_numpy(dtype="int64", na_value=0)
    first = np.full(len(s), keep_first, dtype="int64")
    if surname_aware and keep_first >= 1:
        first += _mask(s.str.slice(0, 2).isin(COMPOUND_SURNAMES))
    head = np.minimum(first, np.maximum(length - 1, 0))
    tail = np.minimum(keep_last, np.maximum(length - head - 1, 0))
    stars = pd.Series(np.strings.multiply(np.array(["*"]), length - head - tail), index=s.index, dtype=TEXT)
    out = pd.Series(pd.NA, index=s.index, dtype=TEXT, name=s.name)
    present = s.notna().to_numpy()
    # Few distinct (head, tail) pairs exist (usually one or two), so slicing per pair stays vectorised.
    width = int(length.max(initial=0)) + 1
    for pair in np.unique(head[present] * width + tail[present]).tolist():
        h, t = divmod(pair, width)
        rows = present & (head == h) & (tail == t)
        ends = s[rows].str.slice(-t) if t else ""
        out[rows] = (s[rows].str.slice(0, h) + stars[rows] + ends).to_numpy()
    return out


def default_keep(validator: str | None) -> tuple[int, int]:
    """Display-mask ends for an element's validator: ID 6 + 4, mobile 3 + 4, otherwise first and last."""
    return DEFAULT_KEEP.get(validator or "", GENERIC_KEEP)


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


def generalize_date(values: pd.Series, to: Literal["year", "month"]) -> pd.Series:
    """``1990-05-17`` (or a datetime) -> ``1990`` / ``1990-05``. Unparseable values become null, never raw."""
    parts = _extract(as_text(values), "^(?P<year>[0-9]{4})-?(?P<month>[0-9]{2})")
    year = pc.struct_field(parts, "year")  # a non-matching value's struct is null, and so is its field
    text = year if to == "year" else pc.binary_join_element_wise(year, pc.struct_field(parts, "month"), "-")
    return pd.Series(pd.arrays.ArrowStringArray(text), index=values.index, name=values.name)


def _extract(values: pd.Series, pattern: str) -> pa.StructArray:
    """The named groups of ``pattern`` per value (null where it does not match), by Arrow's RE2 in C++:
    pandas runs ``str.extract`` value by value in Python. The patterns used here (anchored, no look-around,
    no back-references) match the same under RE2 as under ``re``; the masking tests hold them together."""
    return pc.extract_regex(pa.array(values.array, type=pa.string()), pattern)


def generalize_range(values: pd.Series, step: float) -> pd.Series:
    """Numbers to left-closed bands of width ``step``: 3500 with step 1000 -> ``3000-4000``; 4000 -> ``4000-5000``.

    The quotient is rounded to 9 decimals before flooring, so binary rounding (0.3 / 0.1 = 2.999...) cannot
    push a value on a boundary into the band below. Non-numeric values become null.
    """
    number = pd.to_numeric(as_text(values).astype(object), errors="coerce").to_numpy(dtype="float64")
    decimals = max(0, -int(Decimal(repr(float(step))).normalize().as_tuple().exponent))
    present = ~np.isnan(number)
    band = np.floor(np.round(number[present] / step, 9))
    # Bounds in units of 10**-decimals as integers, so formatting is integer-to-text, not per-value printf.
    unit = round(step * 10**decimals)
    low = (band * unit).astype("int64")
    text = pd.Series(_fixed(low, decimals) + "-" + _fixed(low + unit, decimals), dtype=TEXT)
    out = pd.Series(pd.NA, index=values.index, dtype=TEXT, name=values.name)
    out[present] = text.to_numpy()
    return out


def _fixed(units: np.ndarray, decimals: int) -> pd.Series:
    """Integers counted in 10**-decimals as fixed-point text: (12345, 2) -> ``123.45``, (-5, 1) -> ``-0.5``."""
    magnitude = np.abs(units)
    whole = pd.Series(magnitude // 10**decimals, dtype="int64").astype(TEXT)
    if decimals:
        fraction = pd.Series(magnitude % 10**decimals, dtype="int64").astype(TEXT).str.pad(decimals, fillchar="0")
        whole = whole + "." + fraction
    return pd.Series(np.where(units < 0, "-", ""), dtype=TEXT) + whole


def generalize_district(values: pd.Series) -> pd.Series:
    """An address down to its county-level unit: 浙江省杭州市西湖区文三路90号 -> 浙江省杭州市西湖区.

    Where no county-level unit is recognised, the first six characters and ``…`` are kept (roughly a
    province and city), but never more than half of a short value, since publishing too little is the
    safe failure.
    """
    s = as_text(values)
    county = pc.struct_field(_extract(s, DISTRICT), "county")
    out = pd.Series(pd.arrays.ArrowStringArray(county), index=s.index, name=s.name)
    unmatched = s.notna().to_numpy() & out.isna().to_numpy()
    keep = np.minimum(FALLBACK_CHARS, s.str.len().to_numpy(dtype="int64", na_value=0) // 2)
    for n in np.unique(keep[unmatched]):  # at most FALLBACK_CHARS + 1 distinct prefix lengths
        rows = unmatched & (keep == n)
        out[rows] = (s[rows].str.slice(0, int(n)) + "…").to_numpy()
    return out


def generalize_division(values: pd.Series) -> pd.Series:
    """A 6-digit GB/T 2260 county code to its prefecture: ``330106`` -> ``330100``; other values to null."""
    s = as_text(values)
    return (s.str.slice(0, 4) + "00").where(_mask(s.str.fullmatch("[0-9]{6}")), pd.NA).astype(TEXT)
