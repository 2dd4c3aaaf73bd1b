"""Security headers on every response of the governance web app (runs, reports, Data Docs, oversight).

The pages are served on Airflow's own origin, where a script would act with the reader's Airflow session, and
they show strings departments chose (column names, values in their own quarantine reports). Escaping is the
first defence; this Content-Security-Policy is the second: no script at all (no page here needs one), no
plugin, no base or form target elsewhere, nothing loaded from another origin (an intranet has no CDN anyway),
styles only from this origin or the two fixed style blocks (the oversight page's, so it stays one
self-contained file for the weekly bulletin, and the quarantine report's font list), each allowed by its
hash, and framing only by Airflow's UI on the same origin.
``nosniff`` keeps a browser from running a CSV report as HTML or script; no page sends its URL (which names a
department and dataset) to anyone as a referrer, and no response with a department's rows is cached.
"""

from __future__ import annotations

import base64
import hashlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from governance.fonts import REPORT_STYLE
from governance.oversight.page import STYLE as OVERSIGHT_STYLE


def style_hash(style: str) -> str:
    """The CSP source expression that allows exactly this inline ``<style>`` block."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode() + "'"


CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'none'",
    f"style-src 'self' {style_hash(OVERSIGHT_STYLE)} {style_hash(REPORT_STYLE)}",
    "img-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'self'",
))
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "SAMEORIGIN",  # frame-ancestors for browsers that predate it
    "cache-control": "no-store",
}


class SecurityHeaders:
    """Plain ASGI middleware (no body buffering, so file responses stream as before): sets ``HEADERS`` on
    every HTTP response, errors and refusals included, replacing any the route set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.encode("latin-1") for name in HEADERS}
                headers = [(key, value) for key, value in message.get("headers", []) if key.lower() not in names]
                headers += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
