"""What wraps every HTTP request, in one pure ASGI layer.

In the order it happens: the request's trace (continuing the client's
`traceparent`), identity-header stripping, the request id (and structlog's
request context), the request's place among those waiting on the services
(admission.py), the body limit, the auth cache's forgetting after account
changes, the response headers every answer carries, a last-resort
problem+json 500, the request's metrics and its access-log line.

One layer rather than one middleware each: every ASGI layer costs a coroutine
and a wrapped `send` on every request, and the gateway answers most requests
from its auth cache in well under a millisecond. Pure ASGI (not
BaseHTTPMiddleware) so the request id set here is in the same context as the
endpoint, its dependencies and the gRPC calls they make, and so streamed
uploads and downloads pass through untouched.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from haven_gateway.admission import Admission
from haven_gateway.auth_cache import AuthCache, changes_accounts
from haven_gateway.body_limit import with_body_limit
from haven_gateway.problems import Problem
from haven_runtime import context as ctx
from haven_runtime import tracing
from haven_runtime.logging import get_logger
from haven_runtime.metrics import observe_http

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
    """The gateway's one middleware (see the module's docstring for what it does).

    `auth_cache` is emptied after a successful change to sessions or accounts
    (auth_cache.changes_accounts), before the response starts, so the caller's
    very next request sees the change. `max_body_bytes` caps request bodies
    (body_limit.py) except where `body_limit_exempt` says the route limits its
    own (file uploads).

    `admission` (admission.py) counts the requests waiting on the services: a
    request takes its place at its first call to a service, and gives it back
    here when its answer starts or it ends. Without one, nothing is limited.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        auth_cache: AuthCache | None = None,
        max_body_bytes: int | None = None,
        body_limit_exempt: Callable[[Scope], bool] | None = None,
        admission: Admission | None = None,
    ):
        self.app = app
        self.auth_cache = auth_cache
        self.max_body_bytes = max_body_bytes
        self.body_limit_exempt = body_limit_exempt
        self.admission = admission or Admission(0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        raw_headers = scope.get("headers", [])
        # The trace is read from the headers as the client sent them.
        carrier = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in raw_headers
            if name.lower() in _TRACE_FIELDS
        }
        with tracing.span(f"{method} {path}", carrier):
            await self._within_trace(scope, receive, send, raw_headers, started)

    async def _within_trace(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        raw_headers: Iterable[tuple[bytes, bytes]],
        started: float,
    ) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        headers, dropped = strip_identity_headers(raw_headers)
        # The app gets a copy: the router notes the matched route in it, for the metrics.
        scope = dict(scope, headers=headers)
        request_id = request_id_from(headers)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        token = ctx.request_id.set(request_id)
        client = scope.get("client")
        address_token = ctx.client_address.set(client[0] if client else None)
        if dropped:
            log.warning("identity headers dropped", headers=sorted(set(dropped)))

        # The cache to empty once this request's change has succeeded, if it is one.
        forget = self.auth_cache if changes_accounts(method, path) else None
        status = 0

        admission = self.admission
        place, place_token = admission.begin()

        async def send_answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Its calls are done (a download's stream is its own pace):
                # a client slow to read the answer holds no place.
                admission.release(place)
                if forget is not None and status < 400:
                    forget.clear()
                message = dict(message)
                message["headers"] = with_response_headers(message.get("headers", []), request_id)
            await send(message)

        max_bytes = self.max_body_bytes
        exempt = self.body_limit_exempt
        try:
            if max_bytes is not None and not (exempt is not None and exempt(scope)):
                await with_body_limit(self.app, scope, receive, send_answer, max_bytes)
            else:
                await self.app(scope, receive, send_answer)
        except Exception:
            log.exception("request failed", method=method, path=path)
            if status:
                raise  # the answer has begun; the connection is all we can end
            problem = Problem(500, "internal_error", "Something went wrong on our side.")
            await problem.response()(scope, receive, send_answer)
        finally:
            admission.end(place, place_token)
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            observe_http(method, route, status or 500, started)
            if path not in QUIET_PATHS:
                log.info(
                    "http",
                    method=method,
                    path=path,
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 2),
                )
            ctx.request_id.reset(token)
            ctx.client_address.reset(address_token)


_TRACE_FIELDS = frozenset(field.encode("latin-1") for field in tracing.FIELDS)
