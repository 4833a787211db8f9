"""The FastAPI application: routes, problem+json for every error, channels for its lifetime."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope

from haven_gateway import web
from haven_gateway.admission import OVERLOADED, SHED, Admission
from haven_gateway.auth_cache import AuthCache
from haven_gateway.field_paths import field_errors
from haven_gateway.inputs import storable_parameters
from haven_gateway.peers import Peers
from haven_gateway.problems import Problem, validation_failed
from haven_gateway.request_context import RequestContextMiddleware
from haven_gateway.routes import (
    account,
    accounts_admin,
    admin,
    alerts,
    directory,
    files,
    health,
    incidents,
    security,
)
from haven_gateway.schemas import document_unreadable_bodies
from haven_gateway.settings import GatewaySettings

API_PREFIX = "/api/v1"
DESCRIPTION = """\
Haven's HTTP API. Errors are RFC 9457 problem details (`application/problem+json`)
with a stable `code`. Authenticate with `Authorization: Bearer <token>` or the
`haven_session` cookie; cookie-authenticated POST, PUT, PATCH and DELETE requests
must carry `X-CSRF-Token`.
"""


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Channels belong to the running event loop, so they open here, not at import.
        app.state.peers = Peers(settings, app.state.admission)
        try:
            yield
        finally:
            await app.state.peers.close()

    app = FastAPI(
        title="Haven API",
        version="1",
        description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(storable_parameters)],
        # Haven traces and counts requests itself (request_context.py), with its
        # own tracer provider; FastAPI's own telemetry would only look, on every
        # request, for a global provider that Haven never sets.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.auth_cache = AuthCache(settings.auth_cache_seconds, settings.auth_cache_entries)
    app.state.admission = Admission(settings.max_requests_in_flight)
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_unreadable_bodies(generate_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # One layer for trace context, request id, body limit, the auth cache's
    # forgetting, response headers, metrics and the access log (request_context.py).
    app.add_middleware(
        RequestContextMiddleware,
        auth_cache=app.state.auth_cache,
        max_body_bytes=settings.max_body_bytes,
        body_limit_exempt=is_file_upload,
        admission=app.state.admission,
    )
    install_problem_handlers(app)
    for module in (
        health,
        account,
        security,
        directory,
        incidents,
        alerts,
        files,
        admin,
        accounts_admin,
    ):
        app.include_router(module.router)
    # The web pages and their assets, from the same origin as the API they use.
    web.install(app)
    return app


def is_file_upload(scope: Scope) -> bool:
    # Streamed to files and limited by HAVEN_MAX_UPLOAD_BYTES (see uploads.py).
    return scope["method"] == "POST" and scope["path"] == f"{API_PREFIX}/files"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def problem(_: Request, error: Problem) -> Response:
        if error.code == OVERLOADED:
            SHED.inc()
        return error.response()

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        return request_problem(request, error).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> Response:
        return http_problem(error).response()


def request_problem(request: Request, error: RequestValidationError) -> Problem:
    errors = list(error.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return Problem(400, "bad_request", "The body is not valid JSON.")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body_rejected = any(tuple(e.get("loc", ())) == ("body",) for e in errors)
    if body_rejected and media_type and not _is_json(media_type):
        return Problem(415, "unsupported_media_type", "Send the body as application/json.")
    return validation_failed(field_errors(errors))


def http_problem(error: StarletteHTTPException) -> Problem:
    status = error.status_code
    code = {404: "not_found", 405: "method_not_allowed"}.get(status) or _snake(status)
    detail = {
        404: "There is nothing at this address.",
        405: "This address does not answer to that method.",
    }.get(status, str(error.detail))
    return Problem(status, code, detail, headers=dict(error.headers or {}))


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _snake(status: int) -> str:
    try:
        return re.sub(r"[^a-z0-9]+", "_", HTTPStatus(status).phrase.lower()).strip("_")
    except ValueError:
        return "error"
