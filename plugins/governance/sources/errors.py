"""One error type for anything wrong with what a department delivered."""

from __future__ import annotations

from governance.errors import DataError


class SourceError(DataError):
    """A drop that cannot be read; the message names the file (and row or column) and why.

    Messages never quote cell contents: a departmental file holds raw personal data.
    """


class NoDrop(SourceError):
    """The department delivered nothing for this date (a weekly dataset's off days, or a late drop)."""
