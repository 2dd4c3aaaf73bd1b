"""The person-name rule: every CJK extension accepted, length in characters, the separator dot normalised to
U+00B7 (and counted), lost and private-use characters quarantined with their reason."""

from __future__ import annotations

import pandas as pd
import pytest

from governance.validation.names import Normaliser, normalise_separators, person_name_reasons
from governance.validation.runner import validate_frame
from governance.validation.suites import generate_suite

# One ideograph from each block: Extension A, the basic block, B, C, D, E, F, G, H, I, a compatibility ideograph.
EXTENSIONS = {"A": "䶮", "URO": "龴", "B": "𠀀", "C": "𪜀", "D": "𫝀", "E": "𫠠", "F": "𬺰", "G": "𰀀", "H": "𱍐",
              "I": "𮯰", "compatibility": "\uf900"}
DOTS = {name: chr(int(name[2:], 16)) for name in ("U+00B7", "U+2022", "U+30FB", "U+FF65", "U+002E", "U+FF0E",
                                                   "U+2027", "U+2219", "U+22C5", "U+0387", "U+2E31")}


def text(values: list[str | None]) -> pd.Series:
    return pd.Series(values, dtype=pd.StringDtype("pyarrow"))


@pytest.mark.parametrize("block", list(EXTENSIONS))
def test_every_cjk_block_is_a_name_character(block: str) -> None:
    char = EXTENSIONS[block]
    assert person_name_reasons(text([f"王{char}", f"{char}{char}", char])).isna().all()


@pytest.mark.parametrize("dot", list(DOTS))
def test_each_separator_dot_variant_becomes_u00b7(dot: str) -> None:
    names, changed = normalise_separators(text([f"阿依古丽{DOTS[dot]}买买提", "李四", None]))
    assert names.tolist()[:2] == ["阿依古丽·买买提", "李四"] and pd.isna(names.iloc[2])
    assert changed == (0 if dot == "U+00B7" else 1)
    assert person_name_reasons(names).isna().all()


def test_dots_with_spaces_chains_and_latin_names() -> None:
    names, changed = normalise_separators(text(["买买提 • 吐尔逊", "阿.买.提", "J.R. Smith", "张三.", "·张"]))
    assert names.tolist() == ["买买提·吐尔逊", "阿·买·提", "J.R. Smith", "张三.", "·张"]
    assert changed == 2


def test_normaliser_counts_per_column_and_leaves_other_columns(catalogue) -> None:
    dataset = catalogue.dataset("public_security/resident_population")
    normalise = Normaliser(catalogue.columns(dataset))
    frame = pd.DataFrame({"name": text(["扎西．次仁", "王𠀀"]), "address": text(["杭州市.西湖区", None])})
    out = normalise(frame.copy())
    normalise(pd.DataFrame({"name": text(["努尔兰‧哈山"])}))
    assert out["name"].tolist() == ["扎西·次仁", "王𠀀"] and out["address"].tolist()[0] == "杭州市.西湖区"
    assert dict(normalise.counts) == {"name.separator_dot": 2}


def test_lost_private_use_and_bad_characters_are_named() -> None:
    reasons = person_name_reasons(text(["王?", "王？", "王\ufffd", "王\ue816", "张3", "王@", "John Smith", None]))
    assert reasons.tolist()[:6] == ["lost_character", "lost_character", "lost_character", "private_use_character",
                                    "bad_characters", "bad_characters"]
    assert reasons.iloc[6:].isna().all()


def test_length_is_counted_in_characters_not_bytes_or_utf16_units(catalogue) -> None:
    """50 Extension B characters are 200 bytes in UTF-8 and 100 UTF-16 units: still 50, within c..50."""
    dataset = catalogue.dataset("public_security/resident_population")
    suite = generate_suite(catalogue, dataset)
    suite["expectations"] = [e for e in suite["expectations"] if e["meta"]["rule"].startswith("name.")]
    assert {e["meta"]["rule"] for e in suite["expectations"]} == {"name.not_null", "name.person_name",
                                                                  "name.max_length"}
    fifty, fifty_one = "𠀀" * 50, "𠀀" * 51
    assert len(fifty.encode("utf-8")) == 200 and len(fifty.encode("utf-16-le")) // 2 == 100
    frame = pd.DataFrame({"name": text([fifty, fifty_one, "王𠀀", "阿依古丽·买买提", "王?"])})
    outcome = validate_frame(frame, suite, dataset_key=dataset.key)
    failures = outcome.row_failures.sort_values("row")
    assert list(zip(failures["row"], failures["reason"], strict=True)) == [(1, "bad_length"), (4, "lost_character")]
