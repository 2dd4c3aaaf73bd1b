"""Rare-character (生僻字) and minority names in the demo, the cases GBK-era systems break.

A few residents, adults placed first in the register so every person dataset (the population, the insurance
workbook, the allowance roll, legal representatives) includes them, carry a name with a character outside GBK:
Extension A (two bytes in GB 18030, 䶮), U+9FB4 (a two-byte code GB 18030-2022 remapped), Extensions B to G (four
bytes). Others carry a minority name whose separator dot each department writes its own way (``·`` ``•`` ``・``
``.`` ``．`` ``‧``), which the pull normalises to U+00B7. The characters are ones the report fonts cover
(HanaMinA/B, BabelStone Han; docs/oversight.md).
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from governance.validation.names import SEPARATOR

RARE_NAMES = ("刘䶮", "郑龴", "王𠀀", "陈𪚥", "张𪜀", "赵𫝀", "孙𫠠", "周𬺰", "吴𰀀")
MINORITY_NAMES = ("阿依古丽·买买提", "买买提·吐尔逊", "帕尔哈提·艾力", "古丽娜尔·阿不都", "扎西·次仁", "努尔兰·哈山")
SPECIAL_NAMES = RARE_NAMES + MINORITY_NAMES
# How departments' systems write the separator dot: U+00B7, bullet, katakana middle dot, full stop, fullwidth full
# stop, hyphenation point.
DOT_VARIANTS = (SEPARATOR, "\u2022", "\u30fb", ".", "\uff0e", "\u2027")


def special_people(births: np.ndarray, day: np.datetime64, count: int) -> np.ndarray:
    """Positions of the residents who get the special names: the first adults (20 or older) of the register, so
    a builder that samples people can add them and keep them when it cuts its rows to size."""
    adults = np.flatnonzero(births <= day - 20 * 365)
    return adults[: min(count, len(SPECIAL_NAMES), max(1, len(adults) // 10))]


def name_people(names: pd.Series, who: np.ndarray) -> pd.Series:
    """``names`` with the special names given to the residents at ``who`` (canonical dots: the register's)."""
    out = names.copy()
    out.iloc[who] = np.array(SPECIAL_NAMES[: len(who)], dtype=object)
    return out


def write_dots(names: pd.Series, dataset_key: str) -> pd.Series:
    """The dataset's names with each minority name's separator written as one of the departments' variants,
    rotating from a per-dataset offset, so every person dataset holds several of them."""
    s = names.astype("string")
    minority = s.str.contains(SEPARATOR, regex=False).fillna(False).to_numpy(dtype=bool)
    if not minority.any():
        return names
    offset = zlib.crc32(dataset_key.encode())
    variants = np.array([DOT_VARIANTS[(offset + i) % len(DOT_VARIANTS)] for i in range(int(minority.sum()))])
    parts = s[minority].str.split(SEPARATOR, n=1, regex=False)
    written = [head + dot + tail for (head, tail), dot in zip(parts, variants, strict=True)]
    out = s.copy()
    out[minority] = written
    return out.astype(names.dtype)
