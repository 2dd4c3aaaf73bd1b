"""The access log: one row per request, written before the response leaves the service.

A pure ASGI middleware wraps the whole app, so every request is logged whatever happens inside:
authenticated or not, allowed, refused, invalid, blocked, or failing with an error. Endpoints and
dependencies fill in the request's :class:`AccessEntry` (consumer, dataset, columns, filter *names*,
rows); the middleware holds the response back until the entry is committed, so no data is served
without its log row. If the log cannot be written the response is replaced by a 503: the service
fails closed rather than serving unaudited data.

The entry holds names and counts only. The raw path and query string are never logged (they may carry
filter values), only the route template. The middleware also takes the query string out of the ASGI
scope (into the entry) before the app runs, so the HTTP access logs that print it from the same scope
once the response is sent (uvicorn's under ``governance serve``, Airflow's ``http.access`` under the
``/sharing`` mount) never see one, even when a client wrongly puts a value in the URL. Failures are
logged with the exception type and the traceback's frames, never the exception text (a driver error
can quote bound parameters).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import sqlalchemy as sa
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from governance.sharing.tables import access_log
from governance.warehouse.engine import write_transaction

log = logging.getLogger("governance.sharing")
UNMATCHED = "<unmatched>"


@dataclass
class AccessEntry:
    """What the access log records about one request (names and counts, never values)."""

    request_id: str
    method: str
    at: datetime  # naive UTC, from the app's clock
    started: float = field(default_factory=time.perf_counter)
    consumer: str = "anonymous"
    token_id: str | None = None
    endpoint: str = UNMATCHED
    dataset_key: str | None = None
    columns: list[str] | None = None
    filter_shape: list[str] | None = None
    rows_returned: int = 0
    decision: str | None = None  # set to "blocked" by interception; otherwise derived from the status
    reason: str | None = None
    status_code: int = 500
    written: bool = False  # logged already, inside the request's own transaction (see ``log_in``)
    query_string: bytes = field(default=b"", repr=False)  # taken out of the scope (see AuditMiddleware)

    def row(self) -> dict[str, Any]:
        decision = self.decision or ("allowed" if self.status_code < 400 else "denied")
        reason = self.reason or (None if self.status_code < 400 else f"http_{self.status_code}")
        return {
            "at": self.at, "request_id": self.request_id, "consumer": self.consumer, "token_id": self.token_id,
            "method": self.method[:10], "endpoint": self.endpoint[:200], "dataset_key": self.dataset_key,
            "columns": None if self.columns is None else json.dumps(self.columns),
            "filter_shape": None if self.filter_shape is None else json.dumps(self.filter_shape),
            "rows_returned": self.rows_returned if decision == "allowed" else 0, "decision": decision,
            "reason": reason and reason[:200], "status_code": self.status_code,
            "latency_ms": round((time.perf_counter() - self.started) * 1000, 3),
        }


def entry_of(scope_or_request: Any) -> AccessEntry:
    """The request's entry (from a Request or an ASGI scope)."""
    scope = getattr(scope_or_request, "scope", scope_or_request)
    return scope["state"]["audit"]


def write_access_entry(engine: sa.Engine, entry: AccessEntry) -> None:
    """One INSERT on a pooled connection, committed (durably) before the response is released."""
    with write_transaction(engine) as connection:
        connection.execute(sa.insert(access_log).values(entry.row()))


def log_in(connection: sa.Connection, scope: Scope, entry: AccessEntry, *, status_code: int) -> None:
    """Write the entry inside the caller's transaction, for the status the response will have.

    Data endpoints use this to commit the log row together with the quota reservation; if the response
    then ends with another status after all, the middleware adds a second row saying so.
    """
    entry.status_code, entry.endpoint = status_code, _endpoint(scope)
    connection.execute(sa.insert(access_log).values(entry.row()))
    entry.written = True


def _endpoint(scope: Scope) -> str:
    """The matched route's template. Mounted in Airflow, an unmatched request still carries the parent's
    ``Mount`` as its route, hence the type check."""
    route = scope.get("route")
    return route.path if isinstance(route, APIRoute) else UNMATCHED


def error_body(error: str, message: str, request_id: str) -> bytes:
    return json.dumps({"error": error, "message": message, "request_id": request_id}).encode()


class AuditMiddleware:
    """Logs every HTTP request through ``writer`` before its response is sent (see the module doc)."""

    def __init__(self, app: ASGIApp, *, writer: Callable[[AccessEntry], None],
                 clock: Callable[[], datetime]) -> None:
        self.app, self.writer, self.clock = app, writer, clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        now = self.clock().astimezone(UTC).replace(tzinfo=None)
        entry = AccessEntry(request_id=uuid.uuid4().hex, method=scope["method"], at=now,
                            query_string=scope.get("query_string", b""))
        scope["query_string"] = b""
        scope.setdefault("state", {})["audit"] = entry
        start: Message | None = None
        body: list[bytes] = []
        finished = False

        async def held(message: Message) -> None:
            nonlocal start, finished
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body" and not finished:
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    finished = True
                    await self._release(scope, entry, start, b"".join(body), send)

        try:
            await self.app(scope, receive, held)
        except Exception as error:
            log.error("request %s failed with %s:\n%s", entry.request_id, type(error).__name__,
                      "".join(traceback.format_tb(error.__traceback__)))
            if not finished:
                finished = True
                entry.reason = entry.reason or "internal_error"
                await self._release(scope, entry, None, b"", send, status=500)

    async def _release(self, scope: Scope, entry: AccessEntry, start: Message | None, body: bytes, send: Send,
                       status: int | None = None) -> None:
        if status is None and start is not None:
            status = int(start["status"])
        already = entry.written and entry.status_code == (status or 500)
        if entry.written and not already:  # failed after its row was committed: say so in a second row
            entry.reason, entry.decision, entry.written = "failed_after_log", None, False
        entry.status_code = status or 500
        entry.endpoint = _endpoint(scope)
        if start is None or status == 500:
            start, body = _json_start(500), error_body(
                "internal_error", "the service failed; quote the request id to the platform team", entry.request_id)
        try:
            if not already:
                await anyio.to_thread.run_sync(self.writer, entry)
        except Exception as error:
            log.error("request %s: access log write failed (%s); response withheld", entry.request_id,
                      type(error).__name__)
            start, body = _json_start(503), error_body(
                "audit_unavailable", "the access log is unavailable, so no data is served", entry.request_id)
        headers = [(name, value) for name, value in start.get("headers", [])
                   if name.lower() not in (b"content-length", b"x-request-id")]
        headers += [(b"content-length", str(len(body)).encode()), (b"x-request-id", entry.request_id.encode())]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _json_start(status: int) -> Message:
    return {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
