"""API tokens: shown once, stored as a hash, revocable, expiring; bad tokens are refused and logged."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from sharing_support import MEDICAL

from governance.sharing.tables import api_token
from governance.sharing.tokens import TokenError, issue_token, list_tokens, revoke_token


def test_only_the_hash_is_stored_and_listing_shows_no_hash(api) -> None:
    issued = issue_token(api.engine, "health", now=api.clock().replace(tzinfo=None), expires_days=90)
    with api.engine.connect() as connection:
        stored = connection.execute(sa.select(api_token).where(api_token.c.token_id == issued.token_id)).one()
    assert stored.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    assert issued.token not in str(tuple(stored))
    assert (stored.expires_at - stored.created_at).days == 90
    listed = [row for row in list_tokens(api.engine) if row["token_id"] == issued.token_id]
    assert listed and "token_hash" not in listed[0]


def test_revoked_token_is_refused_within_the_cache_delay_and_logged_as_its_department(api) -> None:
    headers = api.token("health")
    assert api.client.get("/datasets", headers=headers).status_code == 200
    token_id = api.log()[-1]["token_id"]
    assert revoke_token(api.engine, token_id, now=api.clock().replace(tzinfo=None)) is True
    assert revoke_token(api.engine, token_id, now=api.clock().replace(tzinfo=None)) is False
    # A token checked in the last token_cache_s (5 s) is not re-read: revocation takes effect after that.
    assert api.client.get("/datasets", headers=headers).status_code == 200
    api.clock.set(2026, 6, 15, 10, 0, 6)
    response = api.client.get("/datasets", headers=headers)
    assert (response.status_code, response.json()["message"]) == (401, "this token has been revoked")
    entry = api.log()[-1]
    assert (entry["consumer"], entry["token_id"], entry["decision"], entry["reason"]) == (
        "health", token_id, "denied", "token_revoked")
    with pytest.raises(TokenError):
        revoke_token(api.engine, "t0000000000000000", now=api.clock().replace(tzinfo=None))


def test_expired_token_is_refused(api) -> None:
    issued = issue_token(api.engine, "health", now=api.clock().replace(tzinfo=None), expires_days=1)
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert api.client.get("/datasets", headers=headers).status_code == 200
    api.clock.set(2026, 6, 16, 10, 1)
    response = api.client.get("/datasets", headers=headers)
    assert (response.status_code, response.json()["message"]) == (401, "this token has expired")
    assert api.log()[-1]["reason"] == "token_expired"


@pytest.mark.parametrize(("headers", "consumer", "reason"), [
    ({}, "anonymous", "missing_token"),
    ({"Authorization": "Basic aGVhbHRoOnB3"}, "unknown", "malformed_token"),
    ({"Authorization": "Bearer gst_t0123456789abcdef_" + "A" * 43}, "unknown", "unknown_token"),
    ({"Authorization": "Bearer ' OR 1=1 --"}, "unknown", "malformed_token"),
])
def test_bad_tokens_are_refused_and_logged(api, headers: dict, consumer: str, reason: str) -> None:
    response = api.client.get(f"/datasets/{MEDICAL}/rows", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["message"] == "a valid API token is required"
    entry = api.log()[-1]
    assert (entry["consumer"], entry["token_id"], entry["decision"], entry["reason"], entry["rows_returned"]) == (
        consumer, None, "denied", reason, 0)


def test_a_wrong_secret_for_a_real_token_id_is_unknown(api) -> None:
    issued = issue_token(api.engine, "health", now=api.clock().replace(tzinfo=None), expires_days=None)
    forged = issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB")
    response = api.client.get("/datasets", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert (api.log()[-1]["consumer"], api.log()[-1]["token_id"]) == ("unknown", None)


@pytest.mark.parametrize("department", ["anonymous", "unknown"])
def test_reserved_consumer_names_get_no_token(api, department: str) -> None:
    with pytest.raises(TokenError):
        issue_token(api.engine, department, now=api.clock().replace(tzinfo=None), expires_days=None)
