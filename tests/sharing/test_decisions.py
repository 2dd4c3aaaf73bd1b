"""Who may read what: each sharing type, agreements (expiry, suspension, column limits) and the catalogue."""

from __future__ import annotations

import dataclasses

import pytest
from sharing_support import ENTERPRISE, MEDICAL, RESIDENT, RESIDENTS, TAX

from governance.standards.catalogue import Catalogue

NOT_AVAILABLE = {"error": "not_available", "message": "no dataset by that name is available to you"}


def body(response) -> dict:
    return {key: value for key, value in response.json().items() if key != "request_id"}


def with_agreement(catalogue: Catalogue, agreement_id: str, **changes) -> Catalogue:
    agreements = dict(catalogue.agreements)
    agreements[agreement_id] = agreements[agreement_id].model_copy(update=changes)
    return dataclasses.replace(catalogue, agreements=agreements)


def test_unconditional_dataset_is_served_to_any_authenticated_department(api) -> None:
    response = api.get("human_resources", f"/datasets/{MEDICAL}/rows")
    assert response.status_code == 200
    assert len(response.json()["rows"]) == 5
    assert response.json()["columns"] == ["credit_code", "institution_name", "level", "bed_count", "region_code",
                                          "address", "updated_at"]


def test_a_conditional_column_of_an_unconditional_dataset_needs_an_agreement(api) -> None:
    plain = api.get("human_resources", f"/datasets/{ENTERPRISE}/rows").json()
    assert "legal_rep_id_number" not in plain["columns"]
    assert all("legal_rep_id_number" not in row for row in plain["rows"])
    agreed = api.get("taxation", f"/datasets/{ENTERPRISE}/rows").json()
    assert "legal_rep_id_number" in agreed["columns"]
    assert all(row["legal_rep_id_number"] for row in agreed["rows"])


def test_conditional_dataset_serves_only_the_agreements_columns(api) -> None:
    response = api.get("civil_affairs", f"/datasets/{RESIDENT}/rows", limit=1000)
    assert response.status_code == 200
    assert response.json()["columns"] == ["id_number", "name", "region_code"]
    assert len(response.json()["rows"]) == RESIDENTS
    assert {key for row in response.json()["rows"] for key in row} == {"id_number", "name", "region_code"}


@pytest.mark.parametrize("department", ["human_resources", "market_regulation"])
def test_conditional_dataset_without_an_agreement_is_not_available(api, department: str) -> None:
    response = api.get(department, f"/datasets/{RESIDENT}/rows")
    assert (response.status_code, body(response)) == (404, NOT_AVAILABLE)
    assert api.log()[-1]["reason"] == "no_agreement"


def test_an_expired_agreement_grants_nothing(api) -> None:
    # health_family_doctor_survey_2025 expired on 2025-12-31.
    response = api.get("health", f"/datasets/{RESIDENT}/rows")
    assert (response.status_code, body(response)) == (404, NOT_AVAILABLE)
    assert api.log()[-1]["reason"] == "agreement_inactive"


def test_agreement_validity_follows_the_platform_calendar(api) -> None:
    """civil_affairs' agreement runs until 2027-12-31 inclusive, Asia/Shanghai time."""
    api.token("civil_affairs")
    api.clock.set(2027, 12, 31, 23, 59)
    assert api.get("civil_affairs", f"/datasets/{RESIDENT}/rows").status_code == 200
    api.clock.set(2028, 1, 1, 0, 1)  # still 2027-12-31 in UTC
    assert api.get("civil_affairs", f"/datasets/{RESIDENT}/rows").status_code == 404
    assert api.log()[-1]["reason"] == "agreement_inactive"
    api.clock.set(2025, 12, 31, 12)  # before valid_from
    assert api.get("civil_affairs", f"/datasets/{RESIDENT}/rows").status_code == 404


def test_a_suspended_agreement_grants_nothing(make_api, sharing_catalogue: Catalogue) -> None:
    api = make_api(catalogue_override=with_agreement(sharing_catalogue, "civil_affairs_subsistence_identity_check",
                                                     status="suspended"))
    assert api.get("civil_affairs", f"/datasets/{RESIDENT}/rows").status_code == 404
    assert "public_security/resident_population" not in [d["key"] for d in api.get("civil_affairs", "/datasets")
                                                         .json()["datasets"]]


def test_not_shared_dataset_is_never_served_and_looks_like_an_unknown_one(make_api, edit_dataset,
                                                                          sharing_catalogue) -> None:
    edited = dataclasses.replace(edit_dataset(MEDICAL, sharing="not_shared", sharing_basis="《某条例》第十条"),
                                 agreements=sharing_catalogue.agreements)
    api = make_api(catalogue_override=edited)
    refused = api.get("health", f"/datasets/{MEDICAL}/rows")
    unknown = api.get("health", "/datasets/health/no_such_dataset/rows")
    assert (refused.status_code, body(refused)) == (unknown.status_code, body(unknown)) == (404, NOT_AVAILABLE)
    assert [entry["reason"] for entry in api.log()[-2:]] == ["not_shared", "unknown_dataset"]
    assert api.log()[-1]["dataset_key"] is None  # a made-up name is not written to the log
    assert MEDICAL not in [d["key"] for d in api.get("health", "/datasets").json()["datasets"]]


def test_unpublished_dataset_is_not_available(api) -> None:
    # taxation/taxpayer_credit_rating is granted to market_regulation but was never published.
    response = api.get("market_regulation", f"/datasets/{TAX}/rows")
    assert (response.status_code, body(response)) == (404, NOT_AVAILABLE)
    assert api.log()[-1]["reason"] == "not_published"


def test_catalogue_lists_exactly_what_the_caller_may_read(api) -> None:
    listing = {entry["key"]: entry for entry in api.get("civil_affairs", "/datasets").json()["datasets"]}
    assert sorted(listing) == [MEDICAL, ENTERPRISE, RESIDENT]
    resident = listing[RESIDENT]
    assert resident["sharing"] == "conditional"
    assert resident["columns"] == ["id_number", "name", "region_code"]
    assert resident["agreements"] == ["civil_affairs_subsistence_identity_check"]
    assert resident["daily_row_quota"] == 200000
    assert resident["freshness"]["load_date"] == "2026-06-14"
    assert resident["freshness"]["last_published_at"]
    assert "legal_rep_id_number" not in listing[ENTERPRISE]["columns"]
    taxation = {entry["key"]: entry for entry in api.get("taxation", "/datasets").json()["datasets"]}
    assert sorted(taxation) == [MEDICAL, ENTERPRISE]
    assert "legal_rep_id_number" in taxation[ENTERPRISE]["columns"]
    market = {entry["key"]: entry for entry in api.get("market_regulation", "/datasets").json()["datasets"]}
    assert sorted(market) == [MEDICAL, ENTERPRISE, TAX]
    assert market[TAX]["freshness"] == {"last_published_at": None, "load_date": None}
