"""The person-name rule (``validator: person_name``): which characters a name may hold, and the one
normalisation the standard makes, the separator dot of minority and foreign names.

Names are checked by character (Unicode code point), never by byte or UTF-16 unit: 王𠀀 is two characters,
although 𠀀 (CJK Extension B) is four bytes in UTF-8 and in GB 18030 and two UTF-16 units.

* Accepted: CJK ideographs of every block (the basic block, Extensions A to I, compatibility ideographs; planes 2
  and 3 are reserved for ideographs, so future extensions are accepted too), 〇, the separator dot U+00B7, Latin
  letters (foreigners' names, J.R. Smith), spaces, ``.``, ``-`` and ``'``.
* The separator dot (间隔号) of names such as 阿依古丽·买买提 is written U+00B7 in the standard (GB/T 15834); other
  systems write a look-alike. ``SEPARATOR_VARIANTS`` between two ideographs (with any spaces around them)
  become U+00B7 when a drop is pulled, counted as a normalisation (``name.separator_dot``), never a defect.
* Quarantined, with a reason: ``lost_character`` (``?``, ``？`` or U+FFFD: a character was lost in a conversion to
  an encoding without it, such as GBK), ``private_use_character`` (a private-use code point: a department's own
  character, meaningless elsewhere; the department must send the standard character), ``bad_characters``
  (digits, symbols, other scripts).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from governance.standards.catalogue import ResolvedColumn

_STRING = pd.StringDtype("pyarrow")
SEPARATOR = "\u00b7"  # MIDDLE DOT ·, the separator dot of GB/T 15834
# Written for the separator dot by various systems and input methods (each becomes U+00B7 between two
# ideographs): • U+2022 bullet, ‧ U+2027 hyphenation point (Big5), ∙ U+2219 bullet operator, ⋅ U+22C5 dot operator,
# ・ U+30FB katakana middle dot, ･ U+FF65 halfwidth katakana middle dot, · U+0387 Greek ano teleia (canonically
# equal to U+00B7), ⸱ U+2E31 word separator middle dot, ． U+FF0E fullwidth full stop, . U+002E full stop.
SEPARATOR_VARIANTS = "\u2022\u2027\u2219\u22c5\u30fb\uff65\u0387\u2e31\uff0e."
# Ideographs: 〇, Extension A, the basic block, compatibility ideographs, and planes 2 and 3 (Extensions B to I and
# the compatibility supplement; both planes are set aside for ideographs).
IDEOGRAPHS = "\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fffd\U00030000-\U0003fffd"
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_NAME = f"[{IDEOGRAPHS}{_LATIN}{SEPARATOR} '.\\-]+"
# Python's ``re`` (a callable replacement runs there): the look-ahead lets 阿.买.提 change both dots.
_SEPARATOR_RUN = f"(?P<before>[{IDEOGRAPHS}])[ \u3000]*[{SEPARATOR}{SEPARATOR_VARIANTS}][ \u3000]*(?=[{IDEOGRAPHS}])"
_LOST = "[?？\ufffd]"
_PRIVATE_USE = "[\ue000-\uf8ff\U000f0000-\U0010ffff]"
NORMALISATION = "separator_dot"


def person_name_reasons(values: pd.Series) -> pd.Series:
    """Reason each name breaks the rule (see the module), NA where it holds or the value is null."""
    s = values.astype(_STRING)
    checks = [("lost_character", _mask(s.str.contains(_LOST))),
              ("private_use_character", _mask(s.str.contains(_PRIVATE_USE))),
              ("bad_characters", ~_mask(s.str.fullmatch(_NAME)) & s.notna().to_numpy())]
    out = np.full(len(s), None, dtype=object)
    for reason, mask in reversed(checks):
        out[mask] = reason
    return pd.Series(out, index=values.index, dtype="string")


def normalise_separators(values: pd.Series) -> tuple[pd.Series, int]:
    """Every separator dot written as a look-alike (or with spaces around it) as U+00B7, and how many values
    changed. Dots at the start or end of a value, or beside anything but an ideograph (J.R. Smith), are left
    alone (the character rule decides about them)."""
    s = values.astype(_STRING)
    candidates = _mask(s.str.contains(f"[{SEPARATOR_VARIANTS}]|[ \u3000]{SEPARATOR}|{SEPARATOR}[ \u3000]"))
    if not candidates.any():
        return values, 0
    fixed = s[candidates].str.replace(_SEPARATOR_RUN, lambda m: m.group("before") + SEPARATOR, regex=True)
    changed = _mask(fixed != s[candidates])
    if not changed.any():
        return values, 0
    out = s.copy()
    out.loc[s.index[candidates][changed]] = fixed[changed].to_numpy()
    return out.astype(values.dtype) if values.dtype == "string" else out, int(changed.sum())


class Normaliser:
    """Applied to each block of a drop as it is pulled: the person-name columns' separator dots made U+00B7.
    ``counts`` (``{"<column>.separator_dot": rows}``) go into the pull step's summary: names of counts only."""

    def __init__(self, columns: list[ResolvedColumn]) -> None:
        self.columns = [column.name for column in columns if column.element.domain.validator == "person_name"]
        self.counts: Counter[str] = Counter()

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        for name in self.columns:
            if name in frame.columns:
                frame[name], changed = normalise_separators(frame[name])
                if changed:
                    self.counts[f"{name}.{NORMALISATION}"] += changed
        return frame


def _mask(result: pd.Series) -> np.ndarray:
    return result.to_numpy(dtype=bool, na_value=False)
