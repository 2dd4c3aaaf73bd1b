"""Fixtures of the redaction tests (the session-wide ``catalogue`` comes from tests/conftest.py)."""

import pytest

from governance.keys import generate_keyring


@pytest.fixture(scope="module")
def keyring():
    """A fresh keyring per module: tests never share or persist key material."""
    return generate_keyring()
