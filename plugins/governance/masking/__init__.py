"""De-identification before publishing (GB/T 37964): masking rules, the keyring and the leak guard.

``mask_frame`` is the entry point for pipelines; ``decrypt_values`` is the only, audited, way back from
an encrypted column; ``load_keyring`` reads the keys from the Airflow Variable ``governance_keyring``.
Key management (``registry``, ``checks``, ``rotation``, ``pseudonym_rotation``, ``commands``) needs the
warehouse, so it is imported from its modules rather than from here; see docs/operations.md.
"""

from governance.masking.frame import MaskingError, MaskResult, mask_column, mask_frame
from governance.masking.keys import (
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
from governance.masking.leak_guard import LeakBlocked, LeakFinding, scan_and_redact
from governance.masking.rules import (
    COMPOUND_SURNAMES,
    DecryptionError,
    decrypt_values,
    encrypt_values,
    generalize_date,
    generalize_district,
    generalize_division,
    generalize_range,
    partial,
    pseudonymize,
)

__all__ = [
    "COMPOUND_SURNAMES",
    "VARIABLE",
    "DecryptionError",
    "Keyring",
    "KeyringError",
    "LeakBlocked",
    "LeakFinding",
    "MaskResult",
    "MaskingError",
    "decrypt_values",
    "encrypt_values",
    "fingerprint",
    "generalize_date",
    "generalize_district",
    "generalize_division",
    "generalize_range",
    "generate_keyring",
    "keyring_from_json",
    "keyring_to_json",
    "load_keyring",
    "mask_column",
    "mask_frame",
    "partial",
    "pseudonymize",
    "scan_and_redact",
    "write_local_keyring",
]
