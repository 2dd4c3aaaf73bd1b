"""Request bodies: a size limit enforced before any byte is read, and JSON read only after the token check.

An unauthenticated 200 MB POST made the service buffer all of it (244 → 784 MB) before the token was
even looked at, because FastAPI reads a declared body before running dependencies. Here the limit is
an ASGI middleware: a ``Content-Length`` over ``max_body_bytes`` is refused with 413 without reading the
body, and a chunked body is counted as it streams in and refused as soon as it passes the limit. The
data endpoints declare no body parameter; they read it through :func:`read_json` after the token check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from governance.sharing.audit import entry_of, error_body

Model = TypeVar("Model", bound=BaseModel)


class _TooLarge(Exception):
    """Raised from ``receive`` once a streamed body passes the limit."""


class BodyLimitMiddleware:
    """413 for a body over ``max_bytes()`` (checked on the header, then while streaming)."""

    def __init__(self, app: ASGIApp, *, max_bytes: Callable[[], int]) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes()
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, send, limit)
            return
        received, started = 0, False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, tracked)
        except _TooLarge:
            if started:
                raise
            await self._refuse(scope, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, limit: int) -> None:
        entry = entry_of(scope)
        entry.reason = "body_too_large"
        body = error_body("body_too_large", f"请求体超过 {limit} 字节 (the request body is larger than {limit} bytes)",
                          entry.request_id)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body, "more_body": False})


async def read_json(request: Request, model: type[Model]) -> Model:
    """The body as ``model``; errors as FastAPI's 422 (re-rendered without inputs by the app's handler)."""
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as error:
        raise RequestValidationError([_located(detail) for detail in error.errors(include_input=False)]) from None
    except (RecursionError, json.JSONDecodeError):
        raise RequestValidationError([{"loc": ("body",), "type": "json_invalid", "msg": "invalid JSON"}]) from None


def _located(detail: Any) -> dict[str, Any]:
    return {**detail, "loc": ("body", *detail.get("loc", ()))}
