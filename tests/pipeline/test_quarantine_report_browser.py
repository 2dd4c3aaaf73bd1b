"""Issue 21: a quarantine report with rare-character (生僻字, CJK Extensions A to G) and minority names, opened in
a real browser, shows every name without a missing-glyph box ("tofu").

Needs Debian's chromium and the fonts ``.ci/run`` installs (fonts-wqy-zenhei, fonts-hanazono, fonts-babelstone-han);
without chromium the test is skipped, except under ``CI=true``, where it fails. The screenshot goes to
``var/test-artifacts/quarantine-rare-names.png``. Glyph coverage is checked twice: fontconfig names a font of the
report's list for each character, and in the page each character renders unlike the box of a code point no font has.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from browser_support import chromium_path

from governance.fonts import CJK_FONT_FAMILY
from governance.pipeline import quarantine

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "var" / "test-artifacts"
NAMES = {"A": "刘䶮", "U+9FB4": "郑龴", "B": "王𠀀", "C": "张𪜀", "D": "赵𫝀", "E": "孙𫠠", "F": "周𬺰", "G": "吴𰀀",
         "minority": "阿依古丽·买买提"}
MISSING = ("\U0010fffd", "\U0010fffc")  # private use, plane 16: no font has them, so they show the missing glyph


def report(tmp_path: Path) -> Path:
    rows = pd.DataFrame({"_source_file": "market_regulation/enterprise_registration/2026-11-27/register.csv",
                         "_source_line": range(2, 2 + len(NAMES)), "_rules": "legal_rep_id_number.resident_id",
                         "_reasons": "bad_check_character", "legal_representative": list(NAMES.values()),
                         "enterprise_name": [f"{name}商行" for name in NAMES.values()]})
    csv_path, html_path = quarantine.write_reports(rows, tmp_path, "quarantine_2026-11-27")
    assert csv_path.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel opens UTF-8 with a BOM as UTF-8
    return html_path


def test_fontconfig_has_a_listed_font_for_every_character() -> None:
    if shutil.which("fc-list") is None:
        pytest.skip("no fontconfig")
    listed = {family.strip("'") for family in CJK_FONT_FAMILY.split(",")}
    for block, name in NAMES.items():
        for char in name:
            found = subprocess.run(["fc-list", f":charset={ord(char):x}", "family"], capture_output=True, text=True,
                                   check=True).stdout
            families = {family for line in found.splitlines() for family in line.split(",")}
            assert families & listed, f"no font of the report's list has U+{ord(char):04X} ({block})"


def test_the_report_shows_every_rare_character(tmp_path: Path) -> None:
    html_path = report(tmp_path)
    page_text = html_path.read_text(encoding="utf-8")
    assert all(name in page_text for name in NAMES.values()) and CJK_FONT_FAMILY in page_text
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 520})
            page.goto(html_path.as_uri())
            page.wait_for_selector("table")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "quarantine-rare-names.png"), full_page=True)
            shown = page.locator("table.rows").inner_text()
            assert all(name in shown for name in NAMES.values())
            drawn = page.evaluate(_DRAW, {"font": CJK_FONT_FAMILY, "chars": [*MISSING, *"".join(NAMES.values())]})
        finally:
            browser.close()
    missing_box = drawn[MISSING[0]]
    assert drawn[MISSING[1]] == missing_box  # code points without a glyph all draw the same box
    tofu = sorted(f"U+{ord(char):04X}" for char in "".join(NAMES.values()) if drawn[char] == missing_box)
    assert not tofu, f"drawn as missing glyphs: {tofu}"
    distinct = set("".join(NAMES.values()))
    assert len({drawn[char] for char in distinct}) == len(distinct)  # each character its own glyph


# Each character drawn alone on a canvas with the report's fonts; returns a fingerprint of its pixels.
_DRAW = """({font, chars}) => {
  const canvas = document.createElement('canvas'); canvas.width = 64; canvas.height = 64;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const out = {};
  for (const ch of chars) {
    ctx.clearRect(0, 0, 64, 64); ctx.font = `40px ${font}`; ctx.fillStyle = '#000'; ctx.fillText(ch, 8, 48);
    const data = ctx.getImageData(0, 0, 64, 64).data;
    let hash = 0;
    for (let i = 3; i < data.length; i += 4) hash = (hash * 31 + data[i]) >>> 0;
    out[ch] = `${ctx.measureText(ch).width.toFixed(2)}:${hash}`;
  }
  return out;
}"""
