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
REPORT_STYLE = "body{font-family:" + CJK_FONT_FAMILY + """;margin:0;padding:16px 20px;color:#1a202c;background:#f7fafc;
font-size:14px;line-height:1.5}
h1{font-size:20px;margin:0 0 8px}h1 small,h2 small{font-size:13px;font-weight:normal;color:#718096}
h2{font-size:16px;margin:20px 0 8px}.en,.note{color:#718096;font-size:12px}.lead b{font-size:18px;color:#c53030}
table{border-collapse:collapse;background:#fff;font-size:13px}th,td{border:1px solid #e2e8f0;padding:4px 8px;
text-align:left;vertical-align:top;overflow-wrap:anywhere}th{background:#edf2f7;white-space:nowrap}
tbody tr:nth-child(even){background:#f7fafc}td.n,th.n{text-align:right}code{font-size:12px}
.scroll{overflow-x:auto;max-width:100%}.rows td{white-space:nowrap;overflow-wrap:normal}
.rows td:first-child{white-space:normal;overflow-wrap:anywhere;min-width:10em;max-width:14em}
.rows td:nth-child(5){white-space:normal;min-width:14em;max-width:20em}
td.bad{background:#fff5f5;outline:2px solid #e53e3e;outline-offset:-2px;color:#9b2c2c}
"""
