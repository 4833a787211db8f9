"""RFC 9457 problem details: every error the gateway answers with.

A `Problem` is raised anywhere in a request and rendered by one handler, so
every failure has the same shape: {type, title, status, detail, code}, plus
`errors` on 422 and whatever extension members the problem carries.
gRPC failures from the services are translated here too, from the reason the
service attached (haven_runtime.errors) to the API's stable `code`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import grpc
from starlette.responses import JSONResponse

from haven_runtime.errors import RemoteError

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:haven:problem:"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class Problem(Exception):
    """An HTTP error answer; raise it, the app renders it."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str = "",
        *,
        errors: Sequence[FieldError] | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail or _phrase(status)
        self.errors = list(errors or [])
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_PREFIX + self.code,
            "title": _phrase(self.status),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.status == 422 or self.errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        body.update(self.extra)
        return body

    def response(self) -> JSONResponse:
        return JSONResponse(
            self.body(), status_code=self.status, headers=self.headers, media_type=PROBLEM_JSON
        )


def validation_failed(errors: Sequence[FieldError], detail: str = "") -> Problem:
    return Problem(
        422, "validation_failed", detail or "The request has invalid fields.", errors=errors
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# A reason whose HTTP status does not follow from the gRPC code alone.
STATUS_BY_REASON: Mapping[str, int] = {
    "invalid_token": 410,
    "totp_not_enrolled": 409,
    "totp_already_enrolled": 409,
    "file_too_large": 413,
    "file_type_not_allowed": 415,
    "weak_password": 422,
}

# gRPC code -> (HTTP status, code used when the service gave no reason).
STATUS_BY_GRPC_CODE: Mapping[grpc.StatusCode, tuple[int, str]] = {
    grpc.StatusCode.NOT_FOUND: (404, "not_found"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "forbidden"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "unauthenticated"),
    grpc.StatusCode.INVALID_ARGUMENT: (422, "validation_failed"),
    grpc.StatusCode.OUT_OF_RANGE: (422, "validation_failed"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "failed_precondition"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "conflict"),
    grpc.StatusCode.ABORTED: (409, "conflict"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "too_many_requests"),
    grpc.StatusCode.UNAVAILABLE: (503, "service_unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (503, "service_unavailable"),
    grpc.StatusCode.CANCELLED: (503, "service_unavailable"),
    # A service older than the gateway: the operation exists in the API, not yet behind it.
    grpc.StatusCode.UNIMPLEMENTED: (501, "not_implemented"),
}

# The service's message is meant for the client, except when the call failed in
# a way the client can do nothing about; then it might describe internals.
OPAQUE_STATUSES = frozenset({500, 501, 503})
DEFAULT_RETRY_AFTER_SECONDS = 60


def problem_from_remote(error: RemoteError) -> Problem:
    """Translate a failed gRPC call into the problem the client sees."""
    status, default_code = STATUS_BY_GRPC_CODE.get(error.code, (500, "internal_error"))
    reason = error.reason or default_code
    if reason in STATUS_BY_REASON:
        # The reason is the service's own word for what went wrong: it decides.
        status = STATUS_BY_REASON[reason]
    elif status in OPAQUE_STATUSES:
        # Never let an internal or transport failure pose as a domain code.
        reason = default_code

    headers: dict[str, str] = {}
    if status == 429:
        # A client told "too many" must also be told when to come back.
        retry_after = _seconds(error.metadata.get("retry_after"))
        headers["Retry-After"] = str(retry_after or DEFAULT_RETRY_AFTER_SECONDS)
    if status == 503:
        headers["Retry-After"] = "1"

    detail = "" if status in OPAQUE_STATUSES else error.message
    if status == 503:
        detail = "A service Haven needs is not answering; try again shortly."
    errors = [FieldError(v.field, v.message) for v in error.violations]
    return Problem(status, reason, detail, errors=errors, headers=headers)


def _seconds(value: str | None) -> int | None:
    try:
        seconds = int(float(value)) if value else None
    except ValueError:
        return None
    return max(seconds, 1) if seconds is not None else None


@contextmanager
def held_to_contract(
    statuses: Mapping[str, int] | None = None,
    throttled: str | None = None,
    refused: tuple[str, str] | None = None,
) -> Iterator[None]:
    """Hold a service's failure to what this endpoint promises in API.md.

    The same reason can mean different things at different endpoints (a wrong
    code is 422 when confirming the soft key, 401 when elevating), and a
    service may name its throttle differently from the API; the client sees
    the endpoint's documented status and code either way. `refused` (code,
    detail) makes every 401 and 403 one and the same answer, so that no
    refusal can tell a client more than the endpoint means to say.
    """
    try:
        yield
    except Problem as problem:
        if throttled and problem.status == 429:
            problem.code = throttled
        if refused and problem.status in (401, 403):
            problem.status, (problem.code, problem.detail) = 401, refused
            problem.headers.pop("WWW-Authenticate", None)
        if statuses and problem.code in statuses:
            problem.status = statuses[problem.code]
        raise
