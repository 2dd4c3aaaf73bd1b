"""Issue 14, findings 4-9: the sharing API under parallel requests and an attacker with a valid token.

Each test reproduces a finding of the security review (numbers in the test names' docstrings); the
parallel ones run against PostgreSQL over real HTTP (uvicorn on loopback, 16 requests at once).
"""

from __future__ import annotations

import base64
import json
import select
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa
from sharing_server import serving
from sharing_support import MEDICAL, RESIDENT, raw_id
from test_interception import small_quota

from governance.sharing.tables import row_quota_usage, scan_usage

POSTGRES = pytest.mark.parametrize("warehouse_url", [pytest.param("postgres", marks=pytest.mark.postgres)],
                                   indirect=True)
PARALLEL = 16


def parallel_rows(base: str, headers: dict[str, str], limit: int) -> list[int]:
    """16 ``GET .../rows?limit=`` released at the same instant (a barrier), each on its own connection."""
    barrier = threading.Barrier(PARALLEL)

    def one(_: int) -> int:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            barrier.wait()
            return client.get(f"/datasets/{RESIDENT}/rows", params={"limit": limit}).status_code

    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(one, range(PARALLEL)))


@POSTGRES
def test_parallel_requests_cannot_pass_the_share_of_table_rule_together(make_api) -> None:
    """Finding 4: 12 parallel requests each read 484 rows of a 484-row register where one was allowed."""
    api = make_api(scan_max_share=0.5, scan_min_rows=5)  # 30 residents: at most 15 rows within the window
    with serving(api.client.app) as base:
        statuses = parallel_rows(base, api.token("civil_affairs"), limit=14)
    assert sorted(statuses) == [200] + [429] * (PARALLEL - 1)
    with api.engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.sum(scan_usage.c.rows_served))) == 14
    blocked = [event for event in api.events() if event["kind"] == "scan_pattern"]
    assert len(blocked) == PARALLEL - 1


@POSTGRES
def test_parallel_requests_cannot_pass_the_daily_quota_together(make_api, sharing_catalogue) -> None:
    api = make_api(catalogue_override=small_quota(sharing_catalogue, 20))
    with serving(api.client.app) as base:
        statuses = parallel_rows(base, api.token("civil_affairs"), limit=5)
    assert sorted(statuses) == [200] * 4 + [429] * (PARALLEL - 4)
    with api.engine.connect() as connection:
        assert connection.scalar(sa.select(row_quota_usage.c.rows_served)) == 20


def test_a_request_without_a_cursor_does_not_reset_the_page_count(make_api) -> None:
    """Finding 5: after page 49 one request without a cursor started a new count (484 rows in 96 pages)."""
    api = make_api(scan_max_pages=3, scan_window_s=600)
    cursor = api.get("civil_affairs", f"/datasets/{RESIDENT}/rows", limit=1).json()["next_cursor"]
    for _ in range(3):
        page = api.query("civil_affairs", RESIDENT, limit=1, after=cursor)
        assert page.status_code == 200
        cursor = page.json()["next_cursor"]
    assert api.get("civil_affairs", f"/datasets/{RESIDENT}/rows", limit=1).status_code == 200  # interleaved
    blocked = api.query("civil_affairs", RESIDENT, limit=1, after=cursor)
    assert (blocked.status_code, blocked.json()["error"]) == (429, "scan_pattern")
    (event,) = api.events()
    assert json.loads(event["detail"]) == {"cursor_pages_in_window": 4, "max_pages": 3, "window_s": 600}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_cursors_are_signed_and_bound_to_their_consumer_and_dataset(api) -> None:
    """Finding 5: an unsigned cursor could be written by hand (``after=WyI5Il0``) to page from anywhere."""
    issued = api.query("health", MEDICAL, limit=1).json()["next_cursor"]
    assert api.query("health", MEDICAL, limit=1, after=issued).status_code == 200
    payload, signature = issued.split(".")
    edited = b64(json.dumps([MEDICAL, "health", ["12330000MB00000003"]]).encode())
    forged = ["WyI5Il0", b64(b'["12330000MB00000003"]'), f"{edited}.{signature}", f"{payload}.{b64(b'x' * 16)}",
              f"{payload}.", f".{signature}", issued + "A"]
    for cursor in forged:
        response = api.query("health", MEDICAL, limit=1, after=cursor)
        assert (response.status_code, response.json()["message"]) == (400, "after is not a cursor this service issued")
    other = api.query("human_resources", MEDICAL, limit=1, after=issued)  # issued to health
    assert other.status_code == 400


@pytest.mark.parametrize("cursor", [
    b64(b"[" * 3000), b64(b"[" * 3000) + "." + b64(b"0" * 16), "[" * 3000, b64(b'{"a":' * 800), "\u00e9" * 100,
    "x" * 5000,
])
def test_a_malformed_cursor_is_a_400_never_a_500(api, cursor: str) -> None:
    """Finding 8: 3,000 nested ``[`` (under the 4,096-character cap) raised RecursionError: a 500."""
    response = api.query("civil_affairs", RESIDENT, limit=1, after=cursor)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    entry = api.log()[-1]
    assert (entry["status_code"], entry["reason"]) == (400, "invalid_request")


def test_lookups_that_find_nothing_use_quota(make_api, sharing_catalogue) -> None:
    """Finding 9: 400 lookups of absent IDs used no quota: a free "is this person registered?" oracle."""
    api = make_api(catalogue_override=small_quota(sharing_catalogue, 5))
    for i in range(5):
        response = api.lookup("civil_affairs", RESIDENT, {"key": {"id_number": raw_id(500 + i)}})
        assert (response.status_code, response.json()["rows"]) == (200, [])
    refused = api.lookup("civil_affairs", RESIDENT, {"key": {"id_number": raw_id(600)}})
    assert (refused.status_code, refused.json()["error"]) == (429, "quota_exceeded")
    assert [entry["rows_returned"] for entry in api.log()] == [0] * 6


def test_many_lookups_that_find_nothing_are_an_enumeration(make_api) -> None:
    api = make_api(scan_max_misses=20)
    statuses = [api.lookup("civil_affairs", RESIDENT, {"key": {"id_number": raw_id(500 + i)}}).status_code
                for i in range(21)]
    assert statuses == [200] * 20 + [429]
    (event,) = api.events()
    assert (event["kind"], json.loads(event["detail"])) == (
        "scan_pattern", {"misses_in_window": 21, "max_misses": 20, "window_s": 3600})
    hit = api.lookup("civil_affairs", RESIDENT, {"key": {"id_number": raw_id(1)}})
    assert hit.status_code == 200  # hits are not the enumeration signal; the share rule watches them


def raw_request(base: str, head: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=10)
    connection.sendall(head.encode())
    return connection


def answered(connection: socket.socket, wait: float) -> bytes:
    readable, _, _ = select.select([connection], [], [], wait)
    return connection.recv(65536) if readable else b""


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_an_oversized_body_is_refused_before_it_is_read(api) -> None:
    """Finding 7: one unauthenticated 200 MB POST was read whole before the token check (244 → 784 MB)."""
    path = f"/datasets/{RESIDENT}/lookup"
    with serving(api.client.app) as base:
        declared = raw_request(base, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                     f"Content-Length: {200 * 2**20}\r\n\r\n")
        declared.sendall(b"{" + b" " * 65535)  # 64 KiB of the declared 200 MiB
        reply = answered(declared, 10)
        declared.close()
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        assert b"body_too_large" in reply
        token = api.token("civil_affairs")["Authorization"]  # with a valid token the body is read: and limited
        streamed = raw_request(base, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                     f"Authorization: {token}\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent, reply = 0, b""
        while not reply and sent < 4 * 2**20:  # stops at the first answer; the body never ends by itself
            streamed.sendall(b"4000\r\n" + b" " * 0x4000 + b"\r\n")
            sent += 0x4000
            reply = answered(streamed, 0.05)
        reply = reply or answered(streamed, 10)
        streamed.close()
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        assert sent <= 256 * 2**10  # answered after the limit (16 KiB) plus what was in flight, not 4 MiB
    entries = [entry for entry in api.log() if entry["status_code"] == 413]
    assert [(entry["consumer"], entry["reason"]) for entry in entries] == [
        ("anonymous", "body_too_large"), ("civil_affairs", "body_too_large")]


def test_the_token_is_checked_before_the_body_is_parsed(api) -> None:
    """Finding 7: a malformed body without a token got FastAPI's 422 (body parsed first), now 401."""
    response = api.client.post(f"/datasets/{RESIDENT}/lookup", content=b'{"key": ',
                               headers={"content-type": "application/json"})
    assert response.status_code == 401
    assert api.log()[-1]["reason"] == "missing_token"
