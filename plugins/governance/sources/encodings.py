"""Which codec reads a drop: what each ``source.encoding`` declaration means, and GB 18030-2022 decoding.

Departmental systems that say "GBK" write GB 18030 bytes for the characters GBK lacks (生僻字: CJK Extension A
in two bytes, Extensions B to G in four). GB 18030 is a strict superset of GBK (every valid GBK file decodes the
same), so a file declared ``gbk`` or ``gb18030`` is read with one codec, ``gb18030-2022``: Python's ``gb18030``
(the 2005 mapping) plus the 24 two-byte codes that GB 18030-2022 and glibc map to standard characters where the
2005 mapping gave private-use code points (vertical punctuation, U+9FB4..U+9FBB, six Extension B ideographs). A
name read through it never carries a private-use stand-in for a character that Unicode has.

The codec is registered with Python's codec registry on import, so pyarrow's streaming transcoder (which looks
codecs up by name, block by block) reads with it too.
"""

from __future__ import annotations

import codecs
from pathlib import Path

GB18030 = "gb18030-2022"
# Two-byte GB 18030 codes whose 2005 mapping (Python's) is a private-use code point, with their character under
# GB 18030-2022 (A6D9..A6F3, FE59..FEA0) and glibc's GB18030 (FE51..FE91, Extension B). Checked on this machine:
# ``iconv -f GB18030`` (glibc 2.36) maps each code to the character on the right.
_PUA_2005 = {
    b"\xa6\xd9": "\ufe10", b"\xa6\xda": "\ufe12", b"\xa6\xdb": "\ufe11", b"\xa6\xdc": "\ufe13",
    b"\xa6\xdd": "\ufe14", b"\xa6\xde": "\ufe15", b"\xa6\xdf": "\ufe16", b"\xa6\xec": "\ufe17",
    b"\xa6\xed": "\ufe18", b"\xa6\xf3": "\ufe19",
    b"\xfe\x59": "\u9fb4", b"\xfe\x61": "\u9fb5", b"\xfe\x66": "\u9fb6", b"\xfe\x67": "\u9fb7",
    b"\xfe\x6d": "\u9fb8", b"\xfe\x7e": "\u9fb9", b"\xfe\x90": "\u9fba", b"\xfe\xa0": "\u9fbb",
    b"\xfe\x51": "\U00020087", b"\xfe\x52": "\U00020089", b"\xfe\x53": "\U000200cc", b"\xfe\x6c": "\U000215d7",
    b"\xfe\x76": "\U0002298f", b"\xfe\x91": "\U000241fe",
}
_TO_2022 = str.maketrans({code.decode("gb18030"): char for code, char in _PUA_2005.items()})
_FROM_2022 = str.maketrans({char: code.decode("gb18030") for code, char in _PUA_2005.items()})
# The private-use code points to replace: rare, so a block is searched for each (a fast scan in C) before the
# slower translate runs; a per-character set test would cost six times the decoding itself.
_STAND_INS = tuple(map(chr, _TO_2022))
GB18030_BOM = "\ufeff".encode("gb18030")
# What each declaration reads with (``auto`` is decided per file by ``detect``).
DECLARED = {"utf-8": "utf-8", "gbk": GB18030, "gb18030": GB18030}


def _to_2022(text: str) -> str:
    return text.translate(_TO_2022) if any(char in text for char in _STAND_INS) else text


class _IncrementalDecoder(codecs.IncrementalDecoder):
    def __init__(self, errors: str = "strict") -> None:
        super().__init__(errors)
        self._inner = codecs.getincrementaldecoder("gb18030")(errors)

    def decode(self, data: bytes, final: bool = False) -> str:
        return _to_2022(self._inner.decode(data, final))

    def reset(self) -> None:
        self._inner.reset()

    def getstate(self) -> tuple[bytes, int]:
        return self._inner.getstate()

    def setstate(self, state: tuple[bytes, int]) -> None:
        self._inner.setstate(state)


class _IncrementalEncoder(codecs.IncrementalEncoder):
    def __init__(self, errors: str = "strict") -> None:
        super().__init__(errors)
        self._inner = codecs.getincrementalencoder("gb18030")(errors)

    def encode(self, text: str, final: bool = False) -> bytes:
        return self._inner.encode(text.translate(_FROM_2022), final)

    def reset(self) -> None:
        self._inner.reset()


def _decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
    return _to_2022(codecs.decode(bytes(data), "gb18030", errors)), len(data)


def _encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
    return codecs.encode(text.translate(_FROM_2022), "gb18030", errors), len(text)


_INFO = codecs.CodecInfo(name=GB18030, encode=_encode, decode=_decode,
                         incrementalencoder=_IncrementalEncoder, incrementaldecoder=_IncrementalDecoder)


def _search(name: str) -> codecs.CodecInfo | None:
    return _INFO if name.replace("_", "-") == GB18030 else None


codecs.register(_search)


def detect(path: Path, sniff_bytes: int = 1 << 20) -> str:
    """``auto``: a UTF-8 BOM gives ``utf-8-sig``; a first megabyte that decodes as UTF-8 gives ``utf-8``;
    anything else (the GB 18030 BOM included) is read as GB 18030, which ``structure`` then checks strictly."""
    with path.open("rb") as handle:
        head = handle.read(sniff_bytes)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    return "utf-8" if _is_utf8(head) else GB18030


def first_utf8_line(path: Path, sniff_bytes: int = 1 << 20) -> int | None:
    """For a file declared GBK/GB 18030: the line of its first non-ASCII byte when its first megabyte is valid
    UTF-8 with non-ASCII text. Almost any byte pairs are valid GB 18030, so a UTF-8 file read as GB 18030 would
    not fail, it would turn every Chinese character into two wrong ones; Chinese GB text of any length is
    practically never valid UTF-8, so such a file is refused instead."""
    with path.open("rb") as handle:
        head = handle.read(sniff_bytes)
    if head.isascii() or head.startswith(GB18030_BOM) or not _is_utf8(head):
        return None
    first = next(index for index, byte in enumerate(head) if byte > 0x7F)
    return head.count(b"\n", 0, first) + 1


def _is_utf8(head: bytes) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True
