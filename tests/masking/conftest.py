"""Fixtures of the masking tests: see ``keyring_helpers``."""

from keyring_helpers import keyring_file, publish_raw  # noqa: F401  (fixtures)
