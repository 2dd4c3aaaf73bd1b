"""The standards' date notation (``YYYY-MM-DD hh:mm:ss``) in Python's: shared by the suites, the rule texts
and the Excel reader, which writes a date cell as the text the standard expects."""

import re

DEFAULT_FORMATS = {"date": "%Y-%m-%d", "datetime": "%Y-%m-%d %H:%M:%S"}
_FORMAT_TOKENS = {"YYYY": "%Y", "MM": "%m", "DD": "%d", "hh": "%H", "HH": "%H", "mm": "%M", "ss": "%S"}


def strftime_format(standard_format: str | None, data_type: str) -> str:
    """``YYYY-MM-DD hh:mm:ss`` (the standards' notation) as ``%Y-%m-%d %H:%M:%S``."""
    if not standard_format:
        return DEFAULT_FORMATS[data_type]
    return re.sub("|".join(_FORMAT_TOKENS), lambda match: _FORMAT_TOKENS[match.group()], standard_format)
