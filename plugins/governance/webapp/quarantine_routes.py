"""隔离审核: a department's quarantined rows by rule, each rule explained from the standard, with downloads.

Who sees what: the counts per rule and status need read access to the dataset's DAG; the entries themselves,
and the CSV/XLSX downloads, need the department's raw-rows permission, and every download is logged in
``governance.report_view`` as a raw report is. The rows shown are the quarantine's *masked* rows
(``governance.quarantine.masked_row``): the raw row is stored encrypted under the platform's key, which the
api-server does not hold and a page should not need. A steward finds the raw values by file and line in the
department's own restricted report (linked per business date), and fixes them at the source.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from governance.settings import get_settings
from governance.standards.models import Dataset
from governance.validation.reasons import explain
from governance.validation.rule_text import RuleText, explain_rule
from governance.warehouse.history import (
    STATUSES,
    QuarantineFilter,
    entry_histories,
    quarantine_counts,
    quarantine_entries,
    quarantine_totals,
    split_rules,
)
from governance.warehouse.report_views import log_report_view
from governance.webapp.authz import Access, current_access
from governance.webapp.console import Standards, load_standards, quarantine_report, query_string, readable_dataset
from governance.webapp.oversight_routes import engine
from governance.webapp.runs_routes import MAX_PAGE, parse_day, parse_text
from governance.webapp.templating import STATUSES as STATUS_LABELS
from governance.webapp.templating import base_path, render

router = APIRouter(prefix="/quarantine", tags=["quarantine"])
AccessDep = Depends(current_access)
PER_RULE = 20  # entries shown under each rule before "show all"
PAGE_SIZE = 50  # entries a page when one rule is chosen
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_REPORT_SCAN = 500_000  # report lines read at most to find the reasons of one page's entries


def review_filter(rule: str | None, status: str | None, since: str | None, until: str | None) -> QuarantineFilter:
    if status and status not in STATUSES:
        raise HTTPException(status_code=400, detail=f"状态只能是 {', '.join(STATUSES)} 之一")
    return QuarantineFilter(rule=parse_text(rule, "规则"), status=status or None,
                            since=parse_day(since, "起始业务日期"), until=parse_day(until, "截止业务日期"))


@router.get("/page", response_class=HTMLResponse)
def overview(request: Request, access: Access = AccessDep) -> HTMLResponse:
    """Every dataset the user may read, with its quarantine counts by status (counts only, for every reader)."""
    standards = load_standards()
    items = []
    for key, dataset in sorted(standards.catalogue.datasets.items()):
        if not access.dataset(dataset.dag_id):
            continue
        counts = quarantine_counts(engine(), key, QuarantineFilter())
        items.append({"key": key, "dataset": dataset, "department": standards.department_name(dataset.department),
                      "totals": quarantine_totals(engine(), key, QuarantineFilter()), "rules": len(counts),
                      "rows": access.raw_rows(dataset.department, dataset.dag_id)})
    return render(request, "quarantine_overview.html", active="quarantine", items=items, problems=standards.problems)


@router.get("/{department}/{name}/page", response_class=HTMLResponse)
def review(request: Request, department: str, name: str, access: Access = AccessDep, rule: str | None = None,
           status: str | None = None, since: str | None = None, until: str | None = None,
           page: int = Query(1, ge=1, le=MAX_PAGE)) -> HTMLResponse:
    standards = load_standards()
    where = review_filter(rule, status, since, until)
    report = f"quarantine-review-page{query_string({**_filter_values(where), 'page': page})}"[:250]
    if not access.dataset(f"{department}__{name}"):  # another department's review: refused and logged
        log_report_view(engine(), viewer=access.name, department=department, dataset=name, report=report,
                        allowed=False)
        access.require(False)
    dataset = readable_dataset(standards, access, department, name)
    counts = quarantine_counts(engine(), dataset.key, QuarantineFilter(since=where.since, until=where.until))
    rows_allowed = access.raw_rows(department, dataset.dag_id)
    if rows_allowed:  # the entries are shown: logged as a download is (a counts-only reader sees no row)
        log_report_view(engine(), viewer=access.name, department=department, dataset=name, report=report,
                        allowed=True)
    texts = {name: explain_rule(standards.catalogue, dataset, name) for name in counts}
    base = base_path(request)
    sections = []
    for rule_id in ([where.rule] if where.rule else list(counts)):
        text = texts.get(rule_id) or explain_rule(standards.catalogue, dataset, rule_id)
        section: dict[str, Any] = {"text": text, "counts": counts.get(rule_id, dict.fromkeys(STATUSES, 0)),
                                   "entries": [], "total": 0}
        if rows_allowed:
            limit = PAGE_SIZE if where.rule else PER_RULE
            offset = (page - 1) * PAGE_SIZE if where.rule else 0
            entries, section["total"] = quarantine_entries(
                engine(), dataset.key, QuarantineFilter(rule_id, where.status, where.since, where.until),
                limit=limit, offset=offset)
            section["entries"] = _shown(entries, text, standards, dataset, access, base)
        sections.append(section)
    filters = {"rule": where.rule, "status": where.status, "since": where.since, "until": where.until}
    return render(request, "quarantine.html", active="quarantine", dataset=dataset, sections=sections,
                  department_name=standards.department_name(department), rows_allowed=rows_allowed,
                  totals=quarantine_totals(engine(), dataset.key, where),
                  rules=[(rule_id, texts[rule_id]) for rule_id in counts], filters=where,
                  query=query_string(filters), page=page, page_size=PAGE_SIZE,
                  pager=lambda number: query_string({**filters, "page": number}),
                  rule_link=lambda rule_id: query_string({**filters, "rule": rule_id, "page": None}))


@router.get("/{department}/{name}/download.{kind}")
def download(department: str, name: str, kind: str, access: Access = AccessDep, rule: str | None = None,
             status: str | None = None, since: str | None = None, until: str | None = None) -> Response:
    """The entries matching the filters as CSV or XLSX (masked rows, reasons in Chinese); raw-rows readers only,
    every request logged (allowed or refused) before anything is sent."""
    if kind not in ("csv", "xlsx"):
        raise HTTPException(status_code=404, detail="只提供 csv 或 xlsx 下载")
    standards = load_standards()
    where = review_filter(rule, status, since, until)
    report = f"quarantine-review{query_string(_filter_values(where))}.{kind}"[:250]
    allowed = access.raw_rows(department, f"{department}__{name}")  # asked (and logged) before the lookup:
    log_report_view(engine(), viewer=access.name, department=department, dataset=name, report=report,
                    allowed=allowed)  # another department's steward is refused, and logged, known dataset or not
    access.require(allowed)
    dataset = readable_dataset(standards, access, department, name)
    entries, _ = quarantine_entries(engine(), dataset.key, where, limit=None)
    header, rows = _table(entries, standards, dataset)
    filename = f"quarantine_review_{department}_{name}.{kind}"
    disposition = {"content-disposition": f'attachment; filename="{filename}"'}
    if kind == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows([_formula_safe(cell) for cell in row] for row in rows)
        return Response(("\ufeff" + buffer.getvalue()).encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers=disposition)
    return Response(_xlsx(header, rows), headers=disposition,
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _filter_values(where: QuarantineFilter) -> dict[str, Any]:
    return {"rule": where.rule, "status": where.status, "since": where.since, "until": where.until}


def _shown(entries: list[dict[str, Any]], text: RuleText, standards: Standards, dataset: Dataset, access: Access,
           base: str) -> list[dict[str, Any]]:
    histories = entry_histories(engine(), dataset.key, [entry["key_token"] for entry in entries])
    reasons = _specific_reasons(dataset, entries)
    marked = _marked_columns(text)
    shown = []
    for entry in entries:
        values = json.loads(entry["masked_row"]) if entry["masked_row"] else {}
        run = {"rows_quarantined": 1, "logical_date": entry["logical_date"], "dataset_key": dataset.key,
               "dag_id": dataset.dag_id}
        others = [explain_rule(standards.catalogue, dataset, rule) for rule in split_rules(entry["rules"])
                  if rule != text.rule]
        shown.append({"entry": entry, "cells": [(column, value, column in marked) for column, value in values.items()],
                      "others": others, "history": histories.get(entry["key_token"] or "", []),
                      "reason": reasons.get((entry["logical_date"], entry["source_file"], str(entry["source_line"]))),
                      "report": quarantine_report(run, access, base)})
    return shown


def _specific_reasons(dataset: Dataset, entries: list[dict[str, Any]]) -> dict[tuple[Any, str, str], str]:
    """Each shown entry's own reasons (``bad_check_character``, ...) explained in Chinese, from the reasons column
    of the department's report of that business date (the quarantine table keeps only the rules). Only that
    column is read, never a value; a report that is gone or unreadable leaves the rule's explanation alone."""
    wanted: dict[Any, set[tuple[str, str]]] = {}
    for entry in entries:
        wanted.setdefault(entry["logical_date"], set()).add((entry["source_file"], str(entry["source_line"])))
    found: dict[tuple[Any, str, str], str] = {}
    folder = get_settings().reports_root / dataset.department / dataset.name
    for day, lines in wanted.items():
        path = folder / f"quarantine_{day}.csv"
        if day is None or not path.is_file():
            continue
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            try:  # a cell past the csv module's field limit (a hostile or broken drop) ends this day's scan
                header = next(reader, [])
                if not {"source_file", "source_line", "reasons"} <= set(header):
                    continue
                file_at, line_at, reasons_at = (header.index(name) for name in ("source_file", "source_line",
                                                                                 "reasons"))
                for number, row in enumerate(reader):
                    if number >= _REPORT_SCAN or not lines:
                        break
                    where = (row[file_at], row[line_at]) if len(row) > max(file_at, line_at, reasons_at) else None
                    if where in lines:
                        lines.discard(where)
                        found[(day, *where)] = explain(row[reasons_at])
            except csv.Error:
                continue
    return found


def _marked_columns(text: RuleText) -> set[str]:
    """The cells a rule is about: its column, each key column of a uniqueness rule, both of a cross-field rule."""
    subject, _, kind = text.rule.rpartition(".")
    columns = set(subject.split("+"))
    if kind.startswith("matches_"):
        columns.add(kind.removeprefix("matches_"))
    return columns


def _table(entries: Iterable[dict[str, Any]], standards: Standards, dataset: Dataset) -> tuple[list[str], list[list]]:
    """Header and rows of a download: where the row came from, its status, each rule explained, the masked row."""
    columns = [column.name for column in dataset.columns]
    header = ["业务日期", "来源文件", "行号", "状态", "规则", "说明", *columns]
    rows = []
    for entry in entries:
        rules = split_rules(entry["rules"])
        explained = "; ".join(f"{text.element} {text.title}: {text.explanation}"
                              for text in (explain_rule(standards.catalogue, dataset, rule) for rule in rules))
        values = json.loads(entry["masked_row"]) if entry["masked_row"] else {}
        rows.append([str(entry["logical_date"] or ""), entry["source_file"] or "", str(entry["source_line"] or ""),
                     STATUS_LABELS[entry["review_status"]][0], "; ".join(rules), explained,
                     *("" if values.get(column) is None else str(values[column]) for column in columns)])
    return header, rows


def _formula_safe(value: str) -> str:
    """A cell a spreadsheet would run as a formula is prefixed with a quote (OWASP CSV injection)."""
    return f"'{value}" if value.startswith(_FORMULA_PREFIXES) else value


def _xlsx(header: list[str], rows: list[list[str]]) -> bytes:
    """Every cell written as text (no formula, no number a spreadsheet would reformat: IDs keep their digits)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    sheet = book.create_sheet("隔离清单")
    for values in (header, *rows):
        cells = []
        for value in values:  # control characters (vertical tabs from Excel exports) cannot be stored in XLSX
            cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("\ufffd", _formula_safe(value)))
            cell.data_type = "s"
            cell.number_format = "@"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
