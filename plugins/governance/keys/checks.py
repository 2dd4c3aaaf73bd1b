"""The key checks the nightly steps make, so a wrong or missing key stops a run before anything is published.

The mask step is the first step that needs keys and the last one before publishing, so that is where the
keyring is loaded and checked: a missing Variable, a key that is not the one registered for its id, a
keyring that contradicts the registry, or published ciphertexts under a key the keyring no longer has all
fail the mask task (``KeyringError``, no retry), and the publish task never runs.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from governance.keys.keyring import Keyring, KeyringError, load_keyring
from governance.keys.published import check_published_ciphertexts
from governance.keys.registry import NOTHING_PUBLISHED, ids_with, load_registry, reconcile
from governance.standards.catalogue import Catalogue


def keyring_for_masking(engine: sa.Engine, catalogue: Catalogue, keyring: Keyring | None = None) -> Keyring:
    """Load (unless given) and check the keyring; returns the keyring the mask step must use."""
    keyring = reconcile(engine, keyring if keyring is not None else load_keyring())
    check_published_ciphertexts(engine, catalogue, keyring)
    return keyring


def key_ids(keyring: Keyring) -> dict[str, str]:
    """The key ids a run masked with, for its step summary (ids are not secret)."""
    return {"pseudonym": keyring.pseudonym_active, "encryption": keyring.encryption_active}


def check_keys_still_current(engine: sa.Engine, used: Mapping[str, str] | None) -> None:
    """Publish step: refuse what was masked with keys replaced since (``used``: the mask step's key ids). A
    pseudonym key replaced by a cutover would mix two token generations in one table; an encryption key
    retired by a completed rotation would leave values under a key meant to be removed."""
    if not used:
        return
    registry = load_registry(engine)
    pseudonym = ids_with(registry, "pseudonym", "active")
    if used.get("pseudonym") and pseudonym and used["pseudonym"] not in pseudonym:
        raise KeyringError(f"this run masked with pseudonym key {used['pseudonym']}, but a cutover made "
                           f"{pseudonym[0]} active since; clear the run from its mask task; {NOTHING_PUBLISHED}")
    encryption = registry.get(used.get("encryption") or "")
    if encryption is not None and encryption.status == "retired":
        raise KeyringError(f"this run encrypted with key {encryption.key_id}, retired by a key rotation since; "
                           f"clear the run from its mask task; {NOTHING_PUBLISHED}")
