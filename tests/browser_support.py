"""Headless Debian chromium for the browser tests (pip's playwright, no browser download)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-extensions", "--no-first-run", "--mute-audio"]


def chromium_path() -> str:
    """Debian's chromium; skipped without it, except under ``CI=true``, where the browser tests must run."""
    found = next((path for path in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
                  if path and Path(path).is_file()), None)
    if found is None:
        reason = "no Chromium found (install Debian's chromium: apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true: the browser test must run")
        pytest.skip(reason)
    return found
