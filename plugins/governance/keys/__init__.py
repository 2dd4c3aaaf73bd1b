"""Key lifecycle: the keyring, the keyed transforms (pseudonyms, AES-GCM), the registry, audit and rotations.

Apart from the maskers (:mod:`governance.masking`) because key management needs the warehouse (where each
key's values sit, the key registry); the maskers only need a ``Keyring`` and the keyed transforms below.
``decrypt_values`` is the only, audited, way back from an encrypted column; ``load_keyring`` reads the keys
from the Airflow Variable ``governance_keyring``. See docs/operations.md.
"""

from governance.keys.crypto import QUARANTINE_AAD, DecryptionError, decrypt_values, encrypt_values, pseudonymize
from governance.keys.keyring import (
    VARIABLE,
    Keyring,
    KeyringError,
    fingerprint,
    generate_keyring,
    keyring_from_json,
    keyring_to_json,
    load_keyring,
    write_local_keyring,
)

__all__ = [
    "QUARANTINE_AAD",
    "VARIABLE",
    "DecryptionError",
    "Keyring",
    "KeyringError",
    "decrypt_values",
    "encrypt_values",
    "fingerprint",
    "generate_keyring",
    "keyring_from_json",
    "keyring_to_json",
    "load_keyring",
    "pseudonymize",
    "write_local_keyring",
]
