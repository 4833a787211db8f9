"""What wraps every HTTP request: request id, identity-header stripping, last-resort errors.

A pure ASGI middleware (not BaseHTTPMiddleware) so the request id set here is
in the same context as the endpoint, its dependencies and the gRPC calls they
make, and so streamed uploads and downloads pass through untouched.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from haven_gateway.problems import Problem
from haven_runtime import context as ctx
from haven_runtime.logging import get_logger

log = get_logger("haven.http")

REQUEST_ID_HEADER = "x-request-id"
# A client's request id is echoed into logs and other services' metadata; only
# take one that cannot smuggle anything in.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

# Headers a reverse proxy or a careless client could use to claim an identity.
# The gateway learns who is calling only from identity.Authenticate, so none of
# these may reach any code that might believe them.
IDENTITY_HEADER_PREFIXES = ("x-haven-", "x-user-", "x-internal-", "x-auth-", "x-forwarded-user")
IDENTITY_HEADERS = frozenset(
    {"x-user", "x-userid", "x-remote-user", "remote-user", "x-authenticated-user", "x-email"}
)

QUIET_PATHS = frozenset({"/healthz", "/readyz"})


def client_address(request: Request) -> str:
    """Where the request came from, for rate limits and the audit log.

    uvicorn has already replaced it with X-Forwarded-For when the request came
    through a proxy named in HAVEN_FORWARDED_ALLOW_IPS, and only then.
    """
    return request.client.host if request.client else ""


def is_identity_header(name: str) -> bool:
    name = name.lower()
    return name in IDENTITY_HEADERS or name.startswith(IDENTITY_HEADER_PREFIXES)


def strip_identity_headers(
    headers: Iterable[tuple[bytes, bytes]],
) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """The headers to keep, and the names of those dropped."""
    kept, dropped = [], []
    for name, value in headers:
        text = name.decode("latin-1")
        if is_identity_header(text):
            dropped.append(text.lower())
        else:
            kept.append((name, value))
    return kept, dropped


def request_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            if _SAFE_REQUEST_ID.fullmatch(candidate):
                return candidate
    return str(uuid.uuid4())


def with_response_headers(
    headers: Iterable[tuple[bytes, bytes]], request_id: str
) -> list[tuple[bytes, bytes]]:
    headers = list(headers)
    names = {name.lower() for name, _ in headers}
    headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
    # Safeguarding records must not linger in browser or proxy caches.
    if b"cache-control" not in names:
        headers.append((b"cache-control", b"no-store"))
    headers.append((b"x-content-type-options", b"nosniff"))
    return headers


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        headers, dropped = strip_identity_headers(scope.get("headers", []))
        scope = dict(scope, headers=headers)
        request_id = request_id_from(headers)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        token = ctx.request_id.set(request_id)
        client = scope.get("client")
        address_token = ctx.client_address.set(client[0] if client else None)
        if dropped:
            log.warning("identity headers dropped", headers=sorted(set(dropped)))

        started = time.perf_counter()
        status = 0

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = dict(message)
                message["headers"] = with_response_headers(message.get("headers", []), request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            log.exception("request failed", method=scope["method"], path=scope["path"])
            if status:
                raise  # the answer has begun; the connection is all we can end
            status = 500
            problem = Problem(500, "internal_error", "Something went wrong on our side.")
            await problem.response()(scope, receive, send_with_request_id)
        finally:
            if scope["path"] not in QUIET_PATHS:
                log.info(
                    "http",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 2),
                )
            ctx.request_id.reset(token)
            ctx.client_address.reset(address_token)
