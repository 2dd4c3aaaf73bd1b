"""Fixtures of the key tests (the session-wide ``catalogue`` comes from tests/conftest.py)."""

import pytest
from keyring_helpers import keyring_file, publish_raw  # noqa: F401  (fixtures)

from governance.keys import generate_keyring


@pytest.fixture(scope="module")
def keyring():
    """A fresh keyring per module: tests never share or persist key material."""
    return generate_keyring()
