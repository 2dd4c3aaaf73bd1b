"""Render a dataset's standard as the DAG's documentation, for operators in the Airflow UI."""

from __future__ import annotations

from governance.standards.catalogue import Catalogue
from governance.standards.models import Dataset


def dataset_doc_md(catalogue: Catalogue, dataset: Dataset) -> str:
    department = catalogue.departments.get(dataset.department)
    lines = [
        f"# {dataset.title_zh} (`{dataset.key}`)",
        "",
        dataset.description,
        "",
        f"- Providing department: {department.name_zh if department else dataset.department}",
        f"- Update cycle: {dataset.update_cycle}; load mode: {dataset.load_mode}; sharing: {dataset.sharing}",
        f"- Primary key: {', '.join(dataset.primary_key)}",
        f"- Source: {dataset.source.kind}"
        + (f" ({dataset.source.encoding})" if dataset.source.kind == "csv" else ""),
        f"- Verdict: fail above {dataset.quality.max_quarantine_share:.0%} quarantined rows or a "
        f"{dataset.quality.max_shrink_share:.0%} shrink of a snapshot (held for confirmation)",
        "",
        "| column | element | 中文名 | type | sensitivity | masking | sharing |",
        "|---|---|---|---|---|---|---|",
    ]
    for column in catalogue.columns(dataset):
        element = column.element
        lines.append(f"| {column.name} | {element.id} {element.key} | {element.name_zh} | {element.type} | "
                     f"{element.sensitivity} | {column.masking.rule} | {column.sharing} |")
    lines += ["", "Steps: pull → validate (GX suite in `expectations/`) → mask → publish → record."]
    return "\n".join(lines)
