"""``governance standards export --format odcs``: every dataset as an Open Data Contract Standard v3.2 document
that validates against the ODCS JSON schema, and reads back into the same standard and suite (round trip)."""

from __future__ import annotations

from datetime import date

import pytest
import yaml

from governance import cli
from governance.settings import REPO_ROOT
from governance.standards.catalogue import Catalogue
from governance.standards.odcs import (
    ContractError,
    dataset_contract,
    dataset_from_contract,
    dumps,
    validate_contract,
)
from governance.validation.suites import read_suite_json, suite_path

TODAY = date(2026, 12, 3)


def contract(catalogue: Catalogue, key: str) -> tuple[dict, dict]:
    dataset = catalogue.dataset(key)
    suite = read_suite_json(suite_path(dataset, REPO_ROOT / "expectations"))
    return dataset_contract(catalogue, dataset, suite, version="0123456789abcdef", today=TODAY), suite


def test_every_dataset_round_trips_through_a_valid_odcs_document(catalogue: Catalogue):
    for key, dataset in catalogue.datasets.items():
        document, suite = contract(catalogue, key)
        model = validate_contract(document)
        assert model.apiVersion == "v3.2.0" and model.kind == "DataContract" and model.id == dataset.dag_id
        again, suite_again = dataset_from_contract(dumps(document))
        assert again == dataset, key
        assert suite_again == {name: suite[name] for name in ("name", "meta", "expectations")}, key


def test_the_contract_carries_schema_quality_sla_owner_and_readers(catalogue: Catalogue):
    document, suite = contract(catalogue, "public_security/resident_population")
    [table] = document["schema"]
    assert table["physicalName"] == "shared.public_security__resident_population"
    columns = {prop["name"]: prop for prop in table["properties"]}
    assert columns["id_number"]["primaryKey"] and columns["id_number"]["classification"] == "L4"
    assert columns["id_number"]["logicalType"] == "string"  # published as a pseudonym token
    assert columns["name"]["logicalTypeOptions"] == {"maxLength": 50}  # a partial mask keeps the length
    library = [check for prop in columns.values() for check in prop.get("quality", []) if check["type"] == "library"]
    assert {"nullValues", "duplicateValues"} <= {check["metric"] for check in library}
    gx = [check for prop in columns.values() for check in prop.get("quality", []) if check["type"] == "custom"]
    gx += [check for check in table.get("quality", []) if check["type"] == "custom"]
    assert len(gx) == len(suite["expectations"])  # every rule of the suite, once
    sla = {(item["property"], item.get("unit")): item["value"] for item in document["slaProperties"]}
    assert sla[("frequency", "d")] == 1 and document["slaDefaultElement"] == "updated_at"
    assert document["team"]["members"][0]["role"] == "owner" and document["team"]["name"] == "省公安厅"
    assert [role["role"] for role in document["roles"]] == ["dept_civil_affairs"]  # the agreement in force


def test_an_invalid_document_is_refused_with_where(catalogue: Catalogue):
    document, _ = contract(catalogue, "health/medical_institution")
    document["apiVersion"] = "v9"
    document["schema"][0]["properties"][0]["logicalType"] = "text"
    with pytest.raises(ContractError, match=r"apiVersion: 'v9' is not one of"):
        validate_contract(document)


def test_the_command_writes_one_valid_contract_per_dataset(tmp_path, catalogue: Catalogue, capsys):
    assert cli.main(["standards", "export", "--format", "odcs", "--output", str(tmp_path)]) == 0
    written = sorted(tmp_path.rglob("*.odcs.yaml"))
    assert len(written) == len(catalogue.datasets)
    for path in written:
        text = path.read_text(encoding="utf-8")
        validate_contract(yaml.safe_load(text))
        dataset, _ = dataset_from_contract(text)
        assert dataset == catalogue.dataset(f"{path.parent.name}/{path.name.removesuffix('.odcs.yaml')}")
    assert f"wrote {written[0]}" in capsys.readouterr().out
