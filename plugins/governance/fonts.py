"""The font list of every page the platform renders (quarantine reports, the oversight page, the bulletin).

A name with a rare character (生僻字) shows as an empty box ("tofu") unless some font in the list has the glyph;
the browser falls back along the list character by character. Coverage measured with ``fc-query`` on the Debian 12
packages ``.ci/run`` installs (characters of the block the font has / in the block):

* WenQuanYi Zen Hei (``fonts-wqy-zenhei``): the basic block and Extension A, the sans-serif text;
* HanaMinA and HanaMinB (``fonts-hanazono``): Extensions B to F (B 42711/42720, C 4149/4154, D, E, F all);
* BabelStone Han (``fonts-babelstone-han``): Extension G (3045/4939; no Debian font has all of G) and part of H.

SimSun-ExtB and SimSun-ExtG are the Windows fonts for the same blocks, on departments' desktops.
"""

CJK_FONT_FAMILY = ("'WenQuanYi Zen Hei','Microsoft YaHei','Noto Sans CJK SC','HanaMinA','HanaMinB','SimSun-ExtB',"
                   "'BabelStone Han','SimSun-ExtG',sans-serif")

# The quarantine report's only style: allowed by its hash in the pages' Content-Security-Policy (webapp.headers).
REPORT_STYLE = "body{font-family:" + CJK_FONT_FAMILY + "}"
