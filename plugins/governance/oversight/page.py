"""The oversight page (and the sections the weekly bulletin reuses), as one self-contained HTML document.

No script, no external style sheet, no font or chart library: the Airflow UI shows the page in an
iframe on a closed network, and the bulletin is mailed around as a file. Each dataset on the
freshness board is one element with ``data-dataset`` and ``data-status``, for people and tests.
"""

from __future__ import annotations

from html import escape
from zoneinfo import ZoneInfo

from governance.fonts import CJK_FONT_FAMILY
from governance.oversight import charts
from governance.oversight.figures import Headline, Oversight
from governance.oversight.freshness import LABELS_ZH, STATUSES, Freshness
from governance.oversight.scorecards import Scorecard

COLOURS = {"fresh": "#2ca02c", "warn": "#f0ad00", "skewed": "#9467bd", "stale": "#d62728", "never-loaded": "#7f7f7f"}
STYLE = "body{font-family:" + CJK_FONT_FAMILY + """;margin:16px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:24px}
h3{font-size:13px;margin:12px 0 4px;color:#444}
.figures{display:flex;gap:12px;flex-wrap:wrap}.figure{border:1px solid #ccc;border-radius:6px;padding:8px 14px}
.figure b{display:block;font-size:24px}.figure small{color:#666}
.board{display:flex;flex-wrap:wrap;gap:8px}.tile{width:230px;border-radius:6px;padding:8px;color:#fff;
overflow-wrap:anywhere}
.tile small{display:block;opacity:.9}table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:first-child,th:first-child{text-align:left}
.note{color:#666;font-size:12px}.legend span{display:inline-block;padding:1px 6px;margin-right:4px;color:#fff}
""" + "".join(f".status-{status}{{background:{colour}}}" for status, colour in COLOURS.items())


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def signed_pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f}%"


def minutes(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} min" if value < 120 else hours(value / 60)


def hours(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} h" if abs(value) < 72 else f"{value / 24:.1f} d"


def headline_html(figures: Headline) -> str:
    tiles = [
        ("跨部门数据共享率", pct(figures.sharing_rate),
         f"{figures.shared} / {figures.datasets} datasets published and shared; {figures.sharing_note}"),
        ("数据时效达标率", pct(figures.freshness_compliance),
         f"{figures.fresh_now} / {figures.datasets} datasets fresh now"),
        ("本月数据调用量", f"{figures.monthly_calls:,}", f"calls logged in {figures.month}"),
        ("已发布数据集", f"{figures.published} / {figures.datasets}", "published at least once"),
    ]
    return "<div class='figures' id='headline'>" + "".join(
        f"<div class='figure'><small>{escape(name)}</small><b>{escape(value)}</b><small>{escape(note)}</small></div>"
        for name, value, note in tiles) + "</div>"


def board_html(board: list[Freshness], timezone: str) -> str:
    zone = ZoneInfo(timezone)
    legend = "".join(f"<span class='status-{status}'>{status} {LABELS_ZH[status]}</span>" for status in STATUSES)
    tiles = []
    for item in board:
        published = item.last_publish.astimezone(zone).strftime("%Y-%m-%d %H:%M") if item.last_publish else "never"
        tiles.append(
            f"<div class='tile status-{escape(item.status)}' data-dataset='{escape(item.dataset_key)}' "
            f"data-status='{escape(item.status)}'><b>{escape(item.title_zh)}</b>"
            f"<small>{escape(item.dataset_key)} · {escape(item.update_cycle)}</small>"
            f"<small class='status'>{escape(item.status)} {escape(LABELS_ZH[item.status])}</small>"
            f"<small>pipeline {hours(item.pipeline_age_h)} (last publish {escape(published)})</small>"
            f"<small>data {hours(item.data_age_h)}</small>"
            f"<small>warn &gt; {hours(item.warn_after_h)}, stale &gt; {hours(item.error_after_h)}</small>"
            + (f"<small>{escape(item.note)}</small>" if item.note else "") + "</div>")
    judged = board[0].checked_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if board else "-"
    return (f"<p class='legend'>{legend}</p><p class='note'>Judged at {escape(judged)}.</p>"
            f"<div class='board' id='freshness-board'>{''.join(tiles)}</div>")


def scorecard_table(cards: list[Scorecard]) -> str:
    header = ("<tr><th>scope</th><th>runs</th><th>failed</th><th>pass rate</th><th>quarantine rate</th>"
              "<th>freshness SLA met</th><th>volume vs previous</th><th>last verdict</th>"
              "<th>交付→发布 delivery to publish</th></tr>")
    rows = "".join(
        f"<tr class='{card.kind}' data-scope='{escape(card.scope)}'><td>{'<b>' if card.kind == 'department' else ''}"
        f"{escape(card.scope)}</td><td>{card.runs}</td><td>{card.failed}</td><td>{pct(card.pass_rate)}</td>"
        f"<td>{pct(card.quarantine_rate, 2)}</td><td>{pct(card.freshness_sla)}</td>"
        f"<td>{signed_pct(card.volume_change_pct)}</td><td>{escape(card.last_verdict or '—')}</td>"
        f"<td>{minutes(card.delivery_to_publish_min)}</td></tr>"
        for card in sorted(cards, key=lambda card: (card.kind != "department", card.department, card.scope)))
    return f"<table id='scorecards'>{header}{rows}</table>"


def quality_charts(oversight: Oversight) -> str:
    passing = {department: [(day["day"], day["pass_rate"]) for day in days]
               for department, days in oversight.trend.items()}
    quarantined = {department: [(day["day"], day["quarantine_rate"]) for day in days]
                   for department, days in oversight.trend.items()}
    peak = max((value for points in quarantined.values() for _, value in points if value), default=0.0)
    return ("<h3>Pass rate per department (share of runs not failed)</h3>"
            + charts.lines(passing, title="pass rate per department")
            + "<h3>Quarantine rate per department</h3>"
            + charts.lines(quarantined, y_max=max(peak * 1.2, 0.01), y_label=lambda v: f"{v:.1%}",
                           title="quarantine rate per department"))


def access_html(oversight: Oversight) -> str:
    access = oversight.access
    if not access.logged:
        return "<p class='note'>No access log yet: the sharing API has served no calls (all figures zero).</p>" \
            + access_table(oversight)
    calls = charts.hbars([(row["dataset_key"], row["calls"]) for row in access.datasets], title="calls per dataset")
    served = charts.hbars([(row["dataset_key"], row["rows_served"]) for row in access.datasets],
                          title="rows served per dataset", colour=charts.PALETTE[2])
    never = ", ".join(access.never_used) or "none"
    most = ", ".join(f"{row['dataset_key']} ({row['calls']:,})" for row in access.most_used) or "none"
    return (f"<p>{access.total_calls:,} calls in the window. Most used: {escape(most)}. "
            f"<b>Never used</b> (no call in the window): {escape(never)}.</p>"
            f"<h3>Calls per dataset</h3>{calls}<h3>Rows served per dataset</h3>{served}" + access_table(oversight))


def access_table(oversight: Oversight) -> str:
    header = ("<tr><th>dataset</th><th>calls</th><th>allowed</th><th>denied</th><th>blocked</th>"
              "<th>rows served</th><th>consumer departments</th></tr>")
    rows = "".join(
        f"<tr data-dataset='{escape(row['dataset_key'])}'><td>{escape(row['dataset_key'])}</td>"
        f"<td>{row['calls']:,}</td>"
        f"<td>{row['allowed']:,}</td><td>{row['denied']:,}</td><td>{row['blocked']:,}</td>"
        f"<td>{row['rows_served']:,}</td><td>{row['consumers']}</td></tr>" for row in oversight.access.datasets)
    return f"<table id='access'>{header}{rows}</table>"


def refusals_html(oversight: Oversight) -> str:
    access = oversight.access
    columns = charts.stacked_columns([(row["day"], row) for row in access.refusals_daily], ("denied", "blocked"),
                                     title="denied and blocked requests per day")
    consumers = "".join(f"<tr><td>{escape(row['consumer'])}</td><td>{row['denied']:,}</td><td>{row['blocked']:,}</td>"
                        f"</tr>" for row in access.refusing_consumers)
    events = ", ".join(f"{row['kind']}: {row['events']:,}" for row in access.security_events) or "none"
    return (f"{columns}<p>Security events (bulk-download interceptions): {escape(events)}</p>"
            + (f"<table id='refusals'><tr><th>consumer</th><th>denied</th><th>blocked</th></tr>{consumers}</table>"
               if consumers else ""))


def render_page(oversight: Oversight, title: str = "数据治理监管 Oversight", *, json_links: bool = True) -> str:
    """The whole document; ``json_links`` points at the JSON endpoints beside the page (not in a bulletin)."""
    zone = ZoneInfo(oversight.timezone)
    since = oversight.since.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    until = oversight.until.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    links = (" JSON: <a href='freshness'>freshness</a>, <a href='scorecards'>scorecards</a>, "
             "<a href='access'>access</a>.") if json_links else ""
    return (
        f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"
        f"<p class='note'>Window {escape(since)} – {escape(until)}.{links}</p>"
        f"<h2>Headline figures</h2>{headline_html(oversight.headline)}"
        f"<h2>Freshness board</h2>{board_html(oversight.board, oversight.timezone)}"
        f"<h2>Quality trend</h2>{quality_charts(oversight)}"
        f"<h2>Scorecards</h2>{scorecard_table(oversight.cards)}"
        f"<h2>Access volume per dataset</h2>{access_html(oversight)}"
        f"<h2>Denied and blocked requests</h2>{refusals_html(oversight)}"
        "</body></html>")
