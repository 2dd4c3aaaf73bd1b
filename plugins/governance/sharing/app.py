"""The governed data-sharing API: consumer departments read the shared warehouse under the standards' rules.

Served standalone (``governance serve``, uvicorn) and mounted in Airflow's api-server at ``/sharing`` by
the plugin. Airflow gives a mounted app no authentication, so this app authenticates every call itself
with department API tokens (:mod:`governance.sharing.tokens`) and decides with
:mod:`governance.sharing.policy`; every request is written to ``governance.access_log`` by
:class:`~governance.sharing.audit.AuditMiddleware` before its response leaves. Filter values and
cursors travel only in POST bodies (never in a URL, which every HTTP access log prints); bodies are
size-limited before they are read and parsed only after the token check (:mod:`.bodies`). Errors are JSON
``{"error", "message", "request_id"}`` and never echo submitted values: FastAPI's validation errors are
re-rendered without their ``input`` and ``ctx``, and unexpected failures become a generic 500.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from uvicorn.logging import AccessFormatter

from governance.errors import GovernanceError
from governance.keys import Keyring
from governance.settings import get_settings
from governance.sharing.audit import AuditMiddleware, entry_of, log_in
from governance.sharing.bodies import BodyLimitMiddleware, read_json
from governance.sharing.config import SharingConfig
from governance.sharing.guard import Interception, Usage, count_scan, detect_scan, hold, reserve_rows
from governance.sharing.policy import Grant, Refusal, decide, visible_grants
from governance.sharing.queries import (
    RequestProblem,
    encode_cursor,
    jsonable,
    lookup_select,
    pageable,
    parse_rows_params,
    rows_select,
)
from governance.sharing.service import Clock, Services
from governance.standards.catalogue import Catalogue
from governance.warehouse.engine import write_transaction

_SAFE_LOC = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,47}$")
NOT_AVAILABLE = "no dataset by that name is available to you"


class ApiError(GovernanceError):
    """A refused request, answered with its status; only a quota (429) passes if the client tries later."""

    def __init__(self, status_code: int, error: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code, self.error, self.message, self.headers = status_code, error, message, headers
        self.retryable = status_code == 429  # type: ignore[misc]


@dataclass(frozen=True)
class Consumer:
    department: str
    token_id: str


class LookupRequest(BaseModel):
    """Raw key values (e.g. a resident ID): pseudonymized by the service, never stored or logged."""

    model_config = ConfigDict(extra="forbid")
    key: dict[str, str] = Field(min_length=1, max_length=8, description="primary-key column -> raw value")
    limit: int = Field(default=100, ge=1, le=1000)


class RowsRequest(BaseModel):
    """A page of rows: exact-match filters on key columns, ``updated_since``, ``limit`` and ``after``."""

    model_config = ConfigDict(extra="forbid")
    filters: dict[str, str] = Field(default_factory=dict, max_length=8, description="key column -> value")
    updated_since: str | None = Field(default=None, max_length=64)
    limit: int | None = None
    after: str | None = Field(default=None, description="the previous next_cursor (any other text: 400)")

    def params(self) -> list[tuple[str, str]]:
        given = {"updated_since": self.updated_since, "limit": self.limit, "after": self.after}
        return [*self.filters.items(), *((name, str(value)) for name, value in given.items() if value is not None)]


async def current_consumer(request: Request) -> Consumer:
    """The department behind the request's Bearer token; 401 (and the reason in the access log) otherwise.

    Async so that a recently checked token costs no thread hop; a database check runs in the threadpool.
    """
    services: Services = request.app.state.services
    entry = entry_of(request)
    authorization = request.headers.get("authorization")
    check = services.cached_token(authorization) or await run_in_threadpool(services.check_token, authorization)
    if check.department is not None:
        entry.consumer, entry.token_id = check.department, check.token_id
    elif check.reason != "missing_token":
        entry.consumer = "unknown"
    if not check.valid:
        entry.reason = check.reason
        message = {"token_revoked": "this token has been revoked", "token_expired": "this token has expired"}
        raise ApiError(401, "unauthorized", message.get(check.reason or "", "a valid API token is required"),
                       {"WWW-Authenticate": "Bearer"})
    return Consumer(check.department or "", check.token_id or "")


Caller = Annotated[Consumer, Depends(current_consumer)]


async def rows_body(request: Request, _: Caller) -> RowsRequest:
    return await read_json(request, RowsRequest)  # only once the token is valid


async def lookup_body(request: Request, _: Caller) -> LookupRequest:
    return await read_json(request, LookupRequest)


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a body read by a dependency rather than declared as a parameter."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def create_sharing_app(engine: Any = None, catalogue: Catalogue | None = None, clock: Clock | None = None, *,
                       config: SharingConfig | None = None, keyring: Keyring | None = None, docs: bool = True,
                       alert_post: Callable[[str, dict[str, Any]], None] | None = None) -> FastAPI:
    """The app. Without arguments it uses ``GOVERNANCE_WAREHOUSE_URL``, the standards folder, the system
    clock (aware UTC), the environment's limits and the Airflow Variable keyring, all on first use.
    ``docs=False`` turns off ``/docs`` and ``/openapi.json`` (the Airflow mount does)."""
    services = Services(engine, catalogue, clock, config, keyring, alert_post)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        settings = get_settings()
        if settings.sharing_preload:  # set by `governance serve`: fail fast, no cold start
            services.preload()
        if settings.sharing_access_log:  # `governance serve` without --no-access-log
            keep_access_log()
        yield
        services.alerter.flush()

    app = FastAPI(title="Governed data sharing (数据共享接口)", version="1", lifespan=lifespan,
                  docs_url="/docs" if docs else None, redoc_url=None, openapi_url="/openapi.json" if docs else None)
    app.state.services = services
    app.add_middleware(BodyLimitMiddleware, max_bytes=lambda: services.config.max_body_bytes)
    app.add_middleware(AuditMiddleware, writer=services.write_entry, clock=services.clock)  # outermost
    _error_handlers(app)

    def grant_of(request: Request, who: Consumer, department: str, dataset: str) -> tuple[Grant, Any]:
        entry = entry_of(request)
        key = f"{department}/{dataset}"
        known = key in services.catalogue.datasets
        entry.dataset_key = key if known else None  # never log a name the caller made up
        decision = decide(services.catalogue, who.department, key, services.today(),
                          services.config.default_daily_quota)
        table = services.table(decision.dataset) if isinstance(decision, Grant) else None
        if isinstance(decision, Refusal) or table is None:
            entry.reason = decision.reason if isinstance(decision, Refusal) else "not_published"
            raise ApiError(404, "not_available", NOT_AVAILABLE)
        entry.reason = decision.reason
        return decision, table

    def serve(request: Request, who: Consumer, grant: Grant, table: Any, statement: Any, *,
              cursor_page: bool, keyed: bool) -> list[dict]:
        """Fetch, check the rules, count and log, in one transaction; raise 429 if intercepted.

        The checks and counters run under :func:`~governance.sharing.guard.hold` (one holder per consumer
        and dataset until the commit), so parallel requests cannot each see the counters before the
        others added to them. The allowed request's access-log row is committed with its counters (one
        durable commit per request); the middleware sees it was written and does not write it again.
        """
        entry, config = entry_of(request), services.config
        entry.columns = grant.column_names  # the columns of the rows about to be served (or refused)
        with write_transaction(services.engine) as connection:
            rows = [dict(row) for row in connection.execute(statement).mappings()]
            usage = Usage(len(rows), cursor_page, keyed)
            table_rows = services.row_count(connection, table) if grant.sensitive else None
            hold(connection, who.department, grant.dataset.key)
            found: Interception | None = None
            if grant.sensitive:
                found = detect_scan(connection, config, who.department, grant.dataset.key, services.now(), usage,
                                    table_rows)
            found = found or reserve_rows(connection, who.department, grant.dataset.key, services.today(),
                                          usage.charged, grant.daily_row_quota)
            if found is None:
                if grant.sensitive:
                    count_scan(connection, config, who.department, grant.dataset.key, services.now(), usage)
                served = [{name: jsonable(value) for name, value in row.items()} for row in rows]
                entry.rows_returned = len(rows)
                log_in(connection, request.scope, entry, status_code=200)
        if found is not None:
            entry.decision, entry.reason = "blocked", found.kind
            services.alerter.record(found, consumer=who.department, dataset_key=grant.dataset.key,
                                    request_id=entry.request_id, at=services.now())
            raise ApiError(429, found.kind, found.message)
        return served

    def page(request: Request, who: Consumer, department: str, dataset: str,
             params: list[tuple[str, str]]) -> JSONResponse:
        grant, table = grant_of(request, who, department, dataset)
        keys = services.cursor_keys()
        query = parse_rows_params(params, grant, consumer=who.department, signing_keys=keys,
                                  default_limit=services.config.default_limit, max_limit=services.config.max_limit)
        entry_of(request).filter_shape = query.shape
        statement = rows_select(table, grant, query)
        served = serve(request, who, grant, table, statement, cursor_page=query.after is not None,
                       keyed=bool(query.filters))
        more = served and len(served) == query.limit and pageable(grant) and keys is not None
        return JSONResponse({"dataset": grant.dataset.key, "columns": grant.column_names, "rows": served,
                             "next_cursor": encode_cursor(grant, who.department, served[-1], keys) if more else None})

    @app.get("/datasets", summary="The datasets you may read, with columns, sharing type and freshness",
             response_class=JSONResponse)
    async def list_datasets(request: Request, who: Caller) -> JSONResponse:
        # Async: with the standards loaded and freshness cached this touches no database, so it needs no
        # thread; the (rare) loading and refreshing run in the threadpool.
        freshness = services.cached_freshness()
        if freshness is None:
            freshness = await run_in_threadpool(services.freshness)
        grants = visible_grants(services.catalogue, who.department, services.today(),
                                services.config.default_daily_quota)
        entry_of(request).reason = "catalogue"
        return JSONResponse({"consumer": who.department, "datasets": [{
            "key": grant.dataset.key, "title_zh": grant.dataset.title_zh, "sharing": grant.dataset.sharing,
            "columns": grant.column_names, "primary_key": grant.dataset.primary_key,
            "agreements": list(grant.agreements), "daily_row_quota": grant.daily_row_quota,
            "freshness": freshness.get(grant.dataset.key, {"last_published_at": None, "load_date": None}),
        } for grant in grants]})

    @app.get("/datasets/{department}/{dataset}/rows", summary="The first rows of a dataset",
             response_class=JSONResponse,
             description="Query parameter: `limit` (1-1000, default 100) only. Filters and cursors go in the "
                         "body of `POST .../rows`: values in a URL are written to HTTP access logs.")
    def first_rows(department: str, dataset: str, request: Request, who: Caller) -> JSONResponse:
        params = QueryParams(entry_of(request).query_string).multi_items()
        if any(name != "limit" for name, _ in params):
            raise RequestProblem("only limit is accepted in the URL; send filters and cursors in the JSON body of "
                                 "POST .../rows (URLs are written to access logs)")
        return page(request, who, department, dataset, params)

    @app.post("/datasets/{department}/{dataset}/rows", summary="Rows of a dataset, keyset-paginated",
              response_class=JSONResponse, openapi_extra=_body_schema(RowsRequest),
              description="Body: `filters` (primary-key columns you may read, exact match), `updated_since` "
                          "(date or datetime, on the dataset's freshness column), `limit` (1-1000, default 100) "
                          "and `after` (the `next_cursor` of the previous page).")
    def rows(department: str, dataset: str, request: Request, who: Caller,
             body: Annotated[RowsRequest, Depends(rows_body)]) -> JSONResponse:
        return page(request, who, department, dataset, body.params())

    @app.post("/datasets/{department}/{dataset}/lookup", summary="Rows by raw key values (e.g. a resident ID)",
              response_class=JSONResponse, openapi_extra=_body_schema(LookupRequest))
    def lookup(department: str, dataset: str, request: Request, who: Caller,
               body: Annotated[LookupRequest, Depends(lookup_body)]) -> JSONResponse:
        grant, table = grant_of(request, who, department, dataset)
        statement, names = lookup_select(table, grant, body.key, services.keyring, body.limit)
        entry_of(request).filter_shape = names
        served = serve(request, who, grant, table, statement, cursor_page=False, keyed=True)
        return JSONResponse({"dataset": grant.dataset.key, "columns": grant.column_names, "rows": served})

    return app


def keep_access_log() -> None:
    """Give uvicorn's access logger its handler back if Airflow's logging configuration removed it.

    Loading the keyring imports Airflow, whose logging configuration (applied after uvicorn's) routes
    ``uvicorn.access`` nowhere, since the api-server logs requests itself; a standalone service keeps its
    access log. Called by the app's start-up in each worker when ``serve`` runs with the access log on.
    """
    logger = logging.getLogger("uvicorn.access")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(AccessFormatter('%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _error_handlers(app: FastAPI) -> None:
    def body(request: Request, error: str, message: str, **extra: Any) -> dict[str, Any]:
        return {"error": error, "message": message, **extra, "request_id": entry_of(request).request_id}

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(body(request, exc.error, exc.message), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestProblem)
    async def request_problem(request: Request, exc: RequestProblem) -> JSONResponse:
        entry = entry_of(request)
        entry.reason = exc.error if exc.status_code != 400 else "invalid_request"
        return JSONResponse(body(request, exc.error, exc.message), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        entry_of(request).reason = "invalid_request"
        details = [{"loc": [part if isinstance(part, int) or _SAFE_LOC.match(str(part)) else "?"
                            for part in error.get("loc", ())],
                    "type": error.get("type"), "msg": error.get("msg")} for error in exc.errors()]
        return JSONResponse(body(request, "invalid_request", "the request is not valid", details=details), 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(body(request, error, str(exc.detail) if exc.status_code < 500 else "error"),
                            exc.status_code, headers=getattr(exc, "headers", None))
