"""What the pipeline may write about a name a department chose: a header, a sheet name, an unknown column.

A department's file is untrusted input. Its header line is usually the standard's column names, but a drop
whose header line is missing makes the first data row the header (a person's ID, mobile, name and address
become "column names"), and a hostile one can name a column ``<img src=x onerror=...>``. Such a name must not
reach a run record, summary, message, XCom, task log or Data Docs: it is shown only when it matches the safe
identifier pattern every standard column name follows (``^[A-Za-z_][A-Za-z0-9_]{0,63}$``), and otherwise
described by its position and shape (``column 3 of 9 (name withheld: 18 characters, digits)``).

No hash or fingerprint of a withheld name is given: a plain hash of a short personal value (an 18-digit ID, an
11-digit mobile, a two-character name) is reversed by trying every candidate, and a keyed one would need a key
in every message writer. The position is what the department needs to find the column in its own file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def is_safe_name(name: object) -> bool:
    """True when ``name`` can be written as it is: an ASCII identifier, never a value from a data row."""
    return isinstance(name, str) and SAFE_NAME.fullmatch(name) is not None


def shape(name: str) -> str:
    """The shape of a withheld name, which tells the department what it is without repeating it."""
    kinds = [kind for kind, found in (
        ("digits", any(c.isdigit() for c in name)),
        ("letters", any(c.isascii() and c.isalpha() for c in name)),
        ("Chinese characters", bool(_CJK.search(name))),
        ("other characters", any(not (c == "_" or (c.isascii() and c.isalnum()) or _CJK.match(c)) for c in name)),
    ) if found]
    return f"{len(name)} character{'s' if len(name) != 1 else ''}" + (f", {' and '.join(kinds)}" if kinds else "")


def describe_column(name: object, position: int | None = None, count: int | None = None) -> str:
    """``name`` itself if safe, else ``column <position> of <count> (name withheld: <shape>)``."""
    if is_safe_name(name):
        return str(name)
    text = "" if name is None else str(name)
    where = (f"column {position}" + (f" of {count}" if count else "")) if position else "a column"
    return f"{where} (name withheld: {shape(text) if text else 'empty'})"


def describe_columns(names: Sequence[object], header: Sequence[object] | None = None) -> list[str]:
    """Each of ``names`` described by its 1-based position in ``header`` (default: ``names`` itself)."""
    header = list(names) if header is None else list(header)
    positions = {str(name): index + 1 for index, name in reversed(list(enumerate(header)))}
    return [describe_column(name, positions.get(str(name)), len(header)) for name in names]


def describe_sheet(name: object, position: int | None = None, known: object = None) -> str:
    """A workbook's sheet name, by the same rule (sheet names are typed by the department), shown as it is
    when it is a safe identifier or the sheet the dataset's standard names (``known``)."""
    if is_safe_name(name) or (known is not None and name == known):
        return repr(name)
    return f"number {position} (name withheld)" if position else "(name withheld)"


def looks_like_data_row(header: Sequence[object]) -> bool:
    """Most names of ``header`` are withheld: the line is probably a data row (the header line is missing)."""
    names = [str(name) for name in header if not str(name).startswith("_")]
    withheld = sum(not is_safe_name(name) for name in names)
    return bool(names) and withheld * 2 > len(names)


MISSING_HEADER_HINT = ("the first line looks like a data row, not the header: is the header line missing? "
                       "(首行疑似数据行, 请检查表头是否缺失)")
