"""The access log: one row per request with names and counts only, append-only in the database."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
import sqlalchemy as sa
from sharing_support import RESIDENT, raw_id

from governance.sharing.tables import access_log, security_event

AGREEMENT = "civil_affairs_subsistence_identity_check"


def test_an_allowed_request_is_logged_with_names_and_counts(api) -> None:
    response = api.get("civil_affairs", f"/datasets/{RESIDENT}/rows", limit=4)
    (entry,) = api.log()  # one row, committed with the quota reservation
    assert response.headers["x-request-id"] == entry["request_id"]
    assert {key: entry[key] for key in ("consumer", "method", "endpoint", "dataset_key", "rows_returned", "decision",
                                        "reason", "status_code")} == {
        "consumer": "civil_affairs", "method": "GET", "endpoint": "/datasets/{department}/{dataset}/rows",
        "dataset_key": RESIDENT, "rows_returned": 4, "decision": "allowed", "reason": f"agreement:{AGREEMENT}",
        "status_code": 200}
    assert json.loads(entry["columns"]) == ["id_number", "name", "region_code"]
    assert json.loads(entry["filter_shape"]) == []
    assert entry["token_id"].startswith("t") and entry["latency_ms"] > 0
    assert entry["at"].isoformat() == "2026-06-15T02:00:00"  # the injected clock, naive UTC


def test_a_denied_request_is_logged_with_its_reason(api) -> None:
    api.query("human_resources", RESIDENT, filters={"id_number": "abc"})
    entry = api.log()[-1]
    assert (entry["consumer"], entry["dataset_key"], entry["decision"], entry["reason"], entry["status_code"],
            entry["rows_returned"], entry["columns"], entry["filter_shape"]) == (
        "human_resources", RESIDENT, "denied", "no_agreement", 404, 0, None, None)


def test_unknown_routes_are_logged_as_unmatched(api) -> None:
    response = api.client.get("/datasets/x/y/z/secret-110101199003071234", headers=api.token("health"))
    assert response.status_code == 404
    entry = api.log()[-1]
    assert (entry["endpoint"], entry["decision"]) == ("<unmatched>", "denied")


def test_no_raw_identifier_reaches_the_log_events_or_app_logs(make_api, sharing_catalogue, caplog) -> None:
    agreements = dict(sharing_catalogue.agreements)
    agreements[AGREEMENT] = agreements[AGREEMENT].model_copy(update={"daily_row_quota": 2})
    api = make_api(catalogue_override=dataclasses.replace(sharing_catalogue, agreements=agreements))
    raws = [raw_id(1), raw_id(2), raw_id(3), "110101199003071234"]
    with caplog.at_level(logging.DEBUG):
        for raw in raws:
            api.lookup("civil_affairs", RESIDENT, {"key": {"id_number": raw}})
        api.lookup("civil_affairs", RESIDENT, {"key": {"id_number": 110101199003071234}})
        api.lookup("civil_affairs", RESIDENT, {"key": {"110101199003071234": "x"}})
        api.query("civil_affairs", RESIDENT, filters={"id_number": "110101199003071234"})
        api.query("human_resources", RESIDENT, filters={"id_number": "110101199003071234"})
    # A miss costs one row of quota, like a hit: the third and fourth lookups and the page are over it.
    assert [entry["status_code"] for entry in api.log()] == [200, 200, 429, 429, 422, 400, 429, 404]
    # The test client's own httpx logger prints URLs (the reason raw identifiers belong in POST bodies only).
    app_logs = "\n".join(record.getMessage() for record in caplog.records if not record.name.startswith("httpx"))
    stored = json.dumps([api.log(), api.events()], default=str) + app_logs
    assert api.events() and "quota_exceeded" in app_logs
    for raw in [*raws, "110101199003071234"]:
        assert raw not in stored


@pytest.mark.parametrize("table", [access_log, security_event])
def test_the_log_tables_refuse_update_and_delete(make_api, sharing_catalogue, table) -> None:
    agreements = dict(sharing_catalogue.agreements)
    agreements[AGREEMENT] = agreements[AGREEMENT].model_copy(update={"daily_row_quota": 1})
    api = make_api(catalogue_override=dataclasses.replace(sharing_catalogue, agreements=agreements))
    assert api.get("civil_affairs", f"/datasets/{RESIDENT}/rows", limit=2).status_code == 429
    api.events()
    for statement in (sa.update(table).values(consumer="someone_else"), sa.delete(table)):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), api.engine.begin() as connection:
            connection.execute(statement)
    with api.engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(table)) >= 1


@pytest.mark.postgres
@pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True)
def test_postgres_revokes_changes_from_public_and_refuses_truncate(make_api) -> None:
    api = make_api()
    assert api.engine.dialect.name == "postgresql"
    api.get("health", "/datasets")
    with api.engine.connect() as connection:
        grants = connection.execute(sa.text(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE table_schema = 'governance' AND table_name = 'access_log' AND grantee = 'PUBLIC'")).scalars().all()
    assert not {"UPDATE", "DELETE", "TRUNCATE"} & set(grants)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), api.engine.begin() as connection:
        connection.execute(sa.text("TRUNCATE governance.access_log"))


def test_an_unexpected_failure_is_a_generic_500_with_a_request_id(api, caplog, monkeypatch) -> None:
    services = api.client.app.state.services

    internals = "internal detail " + raw_id(5)

    def broken() -> None:
        raise RuntimeError(internals)

    monkeypatch.setattr(services, "freshness", broken)
    with caplog.at_level(logging.ERROR):
        response = api.get("health", "/datasets")
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "request_id": response.headers["x-request-id"],
                               "message": "the service failed; quote the request id to the platform team"}
    entry = api.log()[-1]
    assert (entry["request_id"], entry["status_code"], entry["decision"], entry["reason"]) == (
        response.headers["x-request-id"], 500, "denied", "internal_error")
    assert "RuntimeError" in caplog.text and raw_id(5) not in caplog.text


def test_no_data_is_served_when_the_log_cannot_be_written(api, monkeypatch) -> None:
    import governance.sharing.app as app_module

    def unavailable(*args, **kwargs) -> None:
        raise ConnectionError("database gone")

    assert api.get("civil_affairs", "/datasets").status_code == 200  # builds the middleware stack
    before = len(api.log())
    monkeypatch.setattr(app_module, "log_in", unavailable)  # the row written with the quota reservation
    response = api.get("civil_affairs", f"/datasets/{RESIDENT}/rows")
    assert response.status_code == 500 and "rows" not in response.json()
    assert [(row["status_code"], row["rows_returned"]) for row in api.log()[before:]] == [(500, 0)]
    monkeypatch.setattr(_audit_middleware(api.client.app), "writer", unavailable)  # and the middleware's
    response = api.get("civil_affairs", f"/datasets/{RESIDENT}/rows")
    assert response.status_code == 503
    assert response.json()["error"] == "audit_unavailable"
    assert "rows" not in response.json()
    assert len(api.log()) == before + 1


def _audit_middleware(app):
    from governance.sharing.audit import AuditMiddleware

    layer = app.middleware_stack
    while not isinstance(layer, AuditMiddleware):
        layer = layer.app
    return layer
