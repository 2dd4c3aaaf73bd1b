"""Rows, keyset pages, key lookups, and requests crafted to break out of their parameters."""

from __future__ import annotations

import itertools
import json

import pytest
from sharing_support import ENTERPRISE, MEDICAL, RARE_ENTERPRISE, RESIDENT, RESIDENTS, raw_id, token_of

CRAFTED = ["' OR 1=1 --", "'; DROP TABLE shared.health__medical_institution; --", "\" OR \"\"=\"", "%' OR '%'='",
           "x" * 20_000, "张三\u202e\u200b", "🙂" * 50, "\\", "1e309", "NaN", "-9223372036854775809", "\t\n",
           "330102199001010$X", "${jndi:ldap://x}", "<script>alert(1)</script>", "\x00"]


def test_pages_walk_the_whole_dataset_once_in_key_order(api) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        page = api.query("civil_affairs", RESIDENT, limit=7, **({"after": cursor} if cursor else {})).json()
        seen += [row["id_number"] for row in page["rows"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 5
    assert seen == sorted(seen) == sorted(token_of(raw_id(i)) for i in range(RESIDENTS))


def test_filter_on_a_key_column_and_updated_since(api) -> None:
    code = "12330000MB00000003"
    rows = api.query("health", MEDICAL, filters={"credit_code": code}).json()["rows"]
    assert [row["credit_code"] for row in rows] == [code]
    assert rows[0]["bed_count"] == 103
    recent = api.query("taxation", ENTERPRISE, updated_since="2026-06-01").json()["rows"]
    assert len(recent) == 10
    assert api.query("taxation", ENTERPRISE, updated_since="2026-06-02T00:00:00").json()["rows"] == []
    assert json.loads(api.log()[-1]["filter_shape"]) == ["updated_since"]


@pytest.mark.parametrize(("params", "message"), [
    ({"filters": {"name": "张*"}},
     "unsupported parameter; this dataset accepts: id_number, limit, after, updated_since"),
    ({"limit": 1001}, "limit must be a whole number from 1 to 1000"),
    ({"after": "not-a-cursor"}, "after is not a cursor this service issued"),
    ({"updated_since": "2026-01-01"}, "updated_since is not available for this dataset"),
])
def test_bad_parameters_are_refused_without_echoing_them(api, params: dict, message: str) -> None:
    response = api.query("civil_affairs", RESIDENT, **params)
    assert response.status_code == 400
    assert response.json()["message"] == message
    entry = api.log()[-1]
    assert (entry["decision"], entry["reason"], entry["status_code"]) == ("denied", "invalid_request", 400)


def test_a_repeated_parameter_is_refused(api) -> None:
    response = api.client.get(f"/datasets/{MEDICAL}/rows?limit=1&limit=2", headers=api.token("health"))
    assert response.status_code == 400


def test_rare_characters_come_back_intact_in_the_json(api) -> None:
    """Four-byte characters (Extensions B and G) survive the warehouse and the API's JSON unchanged."""
    response = api.query("taxation", ENTERPRISE, filters={"credit_code": "91330100MA00000003"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert [row["enterprise_name"] for row in json.loads(response.content.decode("utf-8"))["rows"]] == [
        RARE_ENTERPRISE]


def test_lookup_by_raw_identifier_pseudonymizes_it(api) -> None:
    response = api.lookup("civil_affairs", RESIDENT, {"key": {"id_number": raw_id(7)}})
    assert response.status_code == 200
    assert response.json()["rows"] == [{"id_number": token_of(raw_id(7)), "name": "张*", "region_code": "330102"}]
    lower = api.lookup("civil_affairs", RESIDENT, {"key": {"id_number": f" {raw_id(7).lower()} "}})
    assert lower.json()["rows"] == response.json()["rows"]  # canonical form: trimmed, check letter uppercase
    assert api.lookup("civil_affairs", RESIDENT, {"key": {"id_number": raw_id(999)}}).json()["rows"] == []


def test_lookup_on_an_unmasked_key_and_its_limits(api) -> None:
    found = api.lookup("health", MEDICAL, {"key": {"credit_code": "12330000MB00000001"}})
    assert [row["credit_code"] for row in found.json()["rows"]] == ["12330000MB00000001"]
    wrong_column = api.lookup("civil_affairs", RESIDENT, {"key": {"name": "张三"}})
    assert (wrong_column.status_code, wrong_column.json()["message"]) == (
        400, "lookup keys must be primary key columns you may read: id_number")


def test_lookup_without_pseudonym_keys_is_unavailable(make_api) -> None:
    api = make_api(keyring=None)
    api.client.app.state.services._keyring = None  # as if the keyring could not be loaded
    response = api.lookup("civil_affairs", RESIDENT, {"key": {"id_number": raw_id(1)}})
    assert (response.status_code, response.json()["error"]) == (503, "unavailable")


def test_crafted_filter_values_are_harmless(api) -> None:
    for value, (department, key, column) in itertools.product(
            CRAFTED, [("civil_affairs", RESIDENT, "id_number"), ("health", MEDICAL, "credit_code")]):
        response = api.query(department, key, filters={column: value})
        assert response.status_code in (200, 400, 413), response.text  # 413: the 20,000-character value
        if response.status_code == 200:
            assert response.json()["rows"] == []
        assert value not in response.text or value in ("\\", "\t\n")
        looked_up = api.lookup(department, key, {"key": {column: value}})
        assert looked_up.status_code in (200, 400, 413, 422)
        if looked_up.status_code == 200:
            assert looked_up.json()["rows"] == []
    assert api.get("health", f"/datasets/{MEDICAL}/rows").json()["rows"]  # the table is still there


def test_a_huge_lookup_value_is_refused(api) -> None:
    huge = api.lookup("civil_affairs", RESIDENT, {"key": {"id_number": "1" * 1_000_000}})
    assert (huge.status_code, huge.json()["error"]) == (413, "body_too_large")
    response = api.lookup("civil_affairs", RESIDENT, {"key": {"id_number": "1" * 600}})
    assert response.status_code == 400
    assert response.json()["message"] == "value for id_number is longer than 512 characters"


def test_crafted_dataset_names_are_not_available(api) -> None:
    for path in ["/datasets/health/medical_institution%27%20OR%201=1/rows", "/datasets/..%2F..%2Fetc/passwd/rows",
                 "/datasets/health/%00/rows", "/datasets/健康/医疗/rows"]:
        response = api.client.get(path, headers=api.token("health"))
        assert response.status_code == 404
        assert api.log()[-1]["dataset_key"] is None


def test_crafted_cursors_are_refused_or_harmless(api) -> None:
    for cursor in ["W10", "WzEsMiwzXQ", "eyJhIjoxfQ", "WyJ4Il0" * 1000, "////", "WyInIE9SIDE9MSJd"]:
        response = api.query("health", MEDICAL, after=cursor)
        assert response.status_code in (200, 400)
        if response.status_code == 200:  # a well-formed cursor of our own shape: only rows after it
            assert all(row["credit_code"] > "' OR 1=1" for row in response.json()["rows"])


def test_validation_errors_never_echo_the_submitted_values(api) -> None:
    for payload in [{"key": {"id_number": 110101199003071234}}, {"key": {"110101199003071234": "x"}},
                    {"key": {"id_number": ["110101199003071234"]}}, {"key": {}}, {"id_number": "110101199003071234"},
                    {"key": {"id_number": "110101199003071234"}, "limit": 0}, "110101199003071234"]:
        response = api.lookup("civil_affairs", RESIDENT, payload)
        assert response.status_code in (400, 422)  # 400: valid JSON shape, but not a key column
        assert "110101199003071234" not in response.text
        assert response.json()["error"] == "invalid_request"
        assert all("input" not in detail and "ctx" not in detail for detail in response.json().get("details", []))
        assert api.log()[-1]["reason"] == "invalid_request"


def test_malformed_json_is_a_422_without_its_text(api) -> None:
    response = api.client.post(f"/datasets/{RESIDENT}/lookup", content=b'{"key": {"id_number": "110101199003071234"',
                               headers={**api.token("civil_affairs"), "content-type": "application/json"})
    assert response.status_code == 422
    assert "110101199003071234" not in response.text


def test_the_lookup_token_is_the_pipelines_pseudonym() -> None:
    import pandas as pd
    from sharing_support import KEYRING

    from governance.keys import pseudonymize
    from governance.sharing.queries import pseudonym_of

    values = [raw_id(1), "张三", "", "91330100MA00000001"]
    expected = pseudonymize(pd.Series(values), KEYRING.pseudonym_key).tolist()
    assert [pseudonym_of(value, KEYRING.pseudonym_key) for value in values] == expected
