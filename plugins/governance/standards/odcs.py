"""Each dataset standard as an Open Data Contract Standard (ODCS) v3.2.0 document, and back.

Catalogues and data-contract tools (datacontract-cli among them) read ODCS, so ``governance standards export
--format odcs`` writes one contract per dataset: the published table as the schema object (columns with their
element's business name, definition, type as published, sensitivity grade as ``classification``, length and
pattern where the published value keeps them), every rule of the dataset's GX suite as a ``custom`` quality
check (``engine: great-expectations``, the expectation itself as ``implementation``; not-null and uniqueness
also as ODCS library metrics for tools that know no GX), the SLA from the update cycle (frequency, freshness
thresholds, the nightly deadline), the providing department as the owning team and the agreements in force as
reader roles. What ODCS has no field for (source, masking, sharing, verdict thresholds, notices) travels in
``customProperties`` under ``governance.*``, so :func:`dataset_from_contract` rebuilds the standard and the
suite exactly (the round trip the tests check). Every document is checked against the ODCS JSON schema.
"""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from open_data_contract_standard.model import OpenDataContractStandard

from governance.errors import ConfigurationError
from governance.settings import get_settings
from governance.standards.agreements import active_agreements
from governance.standards.catalogue import Catalogue, ResolvedColumn
from governance.standards.freshness import freshness_hours
from governance.standards.models import Column, Dataset

API_VERSION = "v3.2.0"
_LOGICAL = {"string": "string", "integer": "integer", "decimal": "number", "date": "date", "datetime": "timestamp"}
_PHYSICAL = {"string": "TEXT", "integer": "BIGINT", "decimal": "NUMERIC", "date": "DATE", "datetime": "TIMESTAMP"}
_FREQUENCY_DAYS = {"daily": 1, "weekly": 7, "monthly": 30}
_LIBRARY = {"expect_column_values_to_not_be_null": ("nullValues", "completeness"),
            "expect_column_values_to_be_unique": ("duplicateValues", "uniqueness")}
PREFIX = "governance."


class ContractError(ConfigurationError, ValueError):
    """A generated contract does not validate against the ODCS JSON schema (the message names where)."""


def _custom(**values: Any) -> list[dict[str, Any]]:
    return [{"property": PREFIX + key, "value": value} for key, value in values.items() if value is not None]


def _custom_values(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {item["property"].removeprefix(PREFIX): item.get("value") for item in items or []
            if str(item.get("property", "")).startswith(PREFIX)}


def dataset_contract(catalogue: Catalogue, dataset: Dataset, suite: dict[str, Any], *, version: str,
                     today: date) -> dict[str, Any]:
    """The ODCS document (a plain dict, ready for YAML) of ``dataset`` and its ``suite``."""
    columns = catalogue.columns(dataset)
    by_column: dict[str, list[dict[str, Any]]] = {}
    table_rules = []
    for position, expectation in enumerate(suite.get("expectations") or []):
        column = (expectation.get("kwargs") or {}).get("column")
        target = by_column.setdefault(column, []) if dataset.column(column or "") else table_rules
        target.extend(_quality(expectation, position))
    department = catalogue.departments.get(dataset.department)
    warn_after_h, error_after_h = freshness_hours(dataset)
    readers = [agreement for agreement in active_agreements(catalogue, today) if agreement.dataset == dataset.key]
    return {
        "apiVersion": API_VERSION,
        "kind": "DataContract",
        "id": dataset.dag_id,
        "name": dataset.title_zh,
        "version": version,
        "status": "active",
        "domain": dataset.department,
        "dataProduct": dataset.key,
        "tags": [dataset.department, f"cycle:{dataset.update_cycle}", f"sharing:{dataset.sharing}"],
        "description": {"purpose": dataset.description,
                        "usage": {"unconditional": "无条件共享: 各部门可读", "conditional": "有条件共享: 仅凭共享协议",
                                  "not_shared": "不予共享"}[dataset.sharing],
                        **({"limitations": dataset.sharing_basis} if dataset.sharing_basis else {})},
        "schema": [{
            "name": dataset.dag_id, "physicalName": f"shared.{dataset.dag_id}", "physicalType": "table",
            "logicalType": "object", "businessName": dataset.title_zh, "description": dataset.description,
            "properties": [_property(column, by_column.get(column.name, []), dataset.primary_key)
                           for column in columns],
            **({"quality": table_rules} if table_rules else {}),
            "customProperties": _custom(suite_meta=suite.get("meta") or {}, suite_name=suite.get("name")),
        }],
        "team": {"name": department.name_zh if department else dataset.department,
                 "members": [{"username": dataset.department, "name": department.name_zh if department else "",
                              "role": "owner", "description": "数据提供部门 providing department"}]},
        **({"roles": [{"role": f"dept_{agreement.consumer}", "access": "read", "description": agreement.purpose,
                       "firstLevelApprovers": agreement.approved_by,
                       "customProperties": _custom(agreement=agreement.id, columns=list(agreement.columns),
                                                   expires=agreement.expires.isoformat())}
                      for agreement in readers]} if readers else {}),
        **({"slaDefaultElement": dataset.freshness_column} if dataset.freshness_column else {}),
        "slaProperties": [
            {"property": "frequency", "value": _FREQUENCY_DAYS[dataset.update_cycle], "unit": "d",
             "description": f"更新周期 update cycle: {dataset.update_cycle}"},
            {"property": "latency", "value": warn_after_h, "unit": "h",
             "description": "超过即预警 (freshness warning after)"},
            {"property": "latency", "value": error_after_h, "unit": "h",
             "description": "超过即超期 (stale after)"},
            {"property": "timeOfAvailability", "value": get_settings().nightly_deadline,
             "description": "每晚发布截止时间 (Asia/Shanghai) nightly publish deadline"},
        ],
        "customProperties": _custom(
            update_cycle=dataset.update_cycle, sharing=dataset.sharing, sharing_basis=dataset.sharing_basis,
            primary_key=list(dataset.primary_key), load_mode=dataset.load_mode,
            freshness_column=dataset.freshness_column,
            freshness=dataset.freshness.model_dump(mode="json") if dataset.freshness else None,
            source=dataset.source.model_dump(mode="json", exclude_defaults=True),
            quality=dataset.quality.model_dump(mode="json"),
            changes=[notice.model_dump(mode="json") for notice in dataset.changes] or None),
    }


def _property(column: ResolvedColumn, quality: list[dict[str, Any]], key: list[str]) -> dict[str, Any]:
    element, published = column.element, column.published_type
    options: dict[str, Any] = {}
    if published == "string" and element.max_length and column.masking.rule in ("none", "partial"):
        options["maxLength"] = element.max_length
    if published == "string" and element.domain.pattern and column.masking.rule == "none":
        options["pattern"] = element.domain.pattern
    overrides = column.column
    return {
        "name": column.name, "businessName": element.name_zh,
        "description": overrides.description or element.definition,
        "logicalType": _LOGICAL[published], "physicalType": _PHYSICAL[published],
        **({"logicalTypeOptions": options} if options else {}),
        "required": column.required, "primaryKey": column.primary_key,
        **({"primaryKeyPosition": key.index(column.name) + 1} if column.primary_key else {}),
        "classification": element.sensitivity,
        "criticalDataElement": column.sensitive,
        **({"quality": quality} if quality else {}),
        "customProperties": _custom(
            element=element.key, element_id=element.id, element_type=element.type, published=column.published,
            masking=column.masking.model_dump(mode="json", exclude_none=True), sharing=column.sharing,
            column_required=overrides.required or None, column_description=overrides.description,
            column_masking=overrides.masking.model_dump(mode="json", exclude_none=True) if overrides.masking else None,
            column_sharing=overrides.sharing),
    }


def _quality(expectation: dict[str, Any], position: int) -> list[dict[str, Any]]:
    """The suite rule as a GX custom check, plus its ODCS library metric where one exists."""
    rule = (expectation.get("meta") or {}).get("rule") or expectation.get("type")
    checks = [{"type": "custom", "engine": "great-expectations", "name": rule, "implementation": expectation,
               "customProperties": _custom(position=position)}]
    if expectation.get("type") in _LIBRARY and "mostly" not in (expectation.get("kwargs") or {}):
        metric, dimension = _LIBRARY[expectation["type"]]
        checks.append({"type": "library", "metric": metric, "mustBe": 0, "dimension": dimension, "name": rule,
                       "severity": "error", "description": "不合格的行被隔离 (failing rows are quarantined)"})
    return checks


@cache
def _validator() -> Any:
    from jsonschema import Draft201909Validator

    schema = json.loads(files("open_data_contract_standard").joinpath("schema.json").read_text(encoding="utf-8"))
    return Draft201909Validator(schema)


def validate_contract(document: dict[str, Any]) -> OpenDataContractStandard:
    """Check ``document`` against the ODCS JSON schema and the package's pydantic model; ContractError if not."""
    errors = sorted(_validator().iter_errors(document), key=lambda error: list(error.absolute_path))
    if errors:
        raise ContractError("; ".join(f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message[:200]}"
                                      for error in errors[:5]))
    return OpenDataContractStandard.model_validate(document)


def dumps(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=120)


def dataset_from_contract(text: str) -> tuple[Dataset, dict[str, Any]]:
    """The dataset standard and suite an exported contract describes (the inverse of :func:`dataset_contract`)."""
    contract = OpenDataContractStandard.from_string(text)
    values = _custom_values([item.model_dump() for item in contract.customProperties or []])
    [table] = contract.schema_
    department, name = (contract.dataProduct or "").split("/", 1)
    columns, expectations = [], []
    for prop in table.properties or []:
        extra = _custom_values([item.model_dump() for item in prop.customProperties or []])
        columns.append(Column(name=prop.name, element=extra["element"], required=bool(extra.get("column_required")),
                              masking=extra.get("column_masking"), sharing=extra.get("column_sharing"),
                              description=extra.get("column_description")))
        expectations += _expectations(prop.quality)
    expectations += _expectations(table.quality)
    dataset = Dataset(
        department=department, name=name, title_zh=contract.name, description=table.description,
        update_cycle=values["update_cycle"], sharing=values["sharing"], sharing_basis=values.get("sharing_basis"),
        primary_key=values["primary_key"], load_mode=values["load_mode"],
        freshness_column=values.get("freshness_column"), freshness=values.get("freshness"), source=values["source"],
        quality=values["quality"], columns=columns, changes=values.get("changes") or [])
    table_values = _custom_values([item.model_dump() for item in table.customProperties or []])
    suite = {"name": table_values.get("suite_name"), "meta": table_values.get("suite_meta") or {},
             "expectations": [expectation for _, expectation in sorted(expectations, key=lambda pair: pair[0])]}
    return dataset, suite


def _expectations(quality: list[Any] | None) -> list[tuple[int, dict[str, Any]]]:
    found = []
    for check in quality or []:
        if check.type == "custom" and check.engine == "great-expectations":
            position = _custom_values([item.model_dump() for item in check.customProperties or []])["position"]
            found.append((int(position), check.implementation))
    return found
