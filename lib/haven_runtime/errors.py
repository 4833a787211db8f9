"""Errors a service's handlers raise, and how they travel over gRPC.

Handlers raise these plain exceptions; the server interceptor turns them into
gRPC status codes, with field violations as a standard google.rpc.BadRequest in
the status details so the gateway can answer 422 with `errors`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status


class ServiceError(Exception):
    code = grpc.StatusCode.INTERNAL
    reason = "internal"

    def __init__(self, message: str = "", reason: str | None = None):
        super().__init__(message or self.reason)
        self.message = message or self.reason
        if reason:
            self.reason = reason


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND
    reason = "not_found"


class PermissionDenied(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "forbidden"


class Unauthenticated(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "unauthenticated"


class Conflict(ServiceError):
    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "conflict"


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "failed_precondition"


class TooManyRequests(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "too_many_requests"

    def __init__(self, message: str = "", reason: str | None = None, retry_after: int = 0):
        super().__init__(message, reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class FieldViolation:
    field: str
    message: str


class ValidationFailed(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "validation_failed"

    def __init__(self, violations: Iterable[FieldViolation], reason: str | None = None):
        self.violations = list(violations)
        super().__init__("; ".join(f"{v.field}: {v.message}" for v in self.violations), reason)


def to_status(error: ServiceError) -> grpc.Status:
    """A rich gRPC status: code, message, and details the gateway can read back."""
    details = []
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain="haven")
    if isinstance(error, TooManyRequests):
        info.metadata["retry_after"] = str(error.retry_after)
    details.append(info)
    if isinstance(error, ValidationFailed):
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.message
                    )
                    for v in error.violations
                ]
            )
        )
    packed = []
    for detail in details:
        item = any_pb2.Any()
        item.Pack(detail)
        packed.append(item)
    status = status_pb2.Status(code=error.code.value[0], message=error.message, details=packed)
    return rpc_status.to_status(status)


@dataclass(frozen=True)
class RemoteError:
    """What a client learns from a failed call."""

    code: grpc.StatusCode
    reason: str
    message: str
    violations: list[FieldViolation]
    metadata: dict[str, str]


def from_rpc_error(error: grpc.aio.AioRpcError | grpc.RpcError) -> RemoteError:
    code = error.code()
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except ValueError:
        # The transport replaced the server's code (metadata over a size limit,
        # say) but its details arrived: they say what the server meant.
        status = _details_of(error)
        if status is not None:
            code = _STATUS_BY_CODE.get(status.code, code)
    reason, violations, metadata = "", [], {}
    if status is not None:
        for item in status.details:
            if item.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                item.Unpack(info)
                reason, metadata = info.reason, dict(info.metadata)
            elif item.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                item.Unpack(bad)
                violations = [FieldViolation(v.field, v.description) for v in bad.field_violations]
    return RemoteError(
        code=code,
        reason=reason,
        message=error.details() or "",
        violations=violations,
        metadata=metadata,
    )


_STATUS_BY_CODE = {status.value[0]: status for status in grpc.StatusCode}


def _details_of(error: grpc.aio.AioRpcError | grpc.RpcError) -> status_pb2.Status | None:
    for key, value in error.trailing_metadata() or ():  # type: ignore[union-attr]
        if key == rpc_status.GRPC_DETAILS_METADATA_KEY:
            return status_pb2.Status.FromString(value)
    return None


__all__ = [
    "Conflict",
    "FailedPrecondition",
    "FieldViolation",
    "NotFound",
    "PermissionDenied",
    "RemoteError",
    "ServiceError",
    "TooManyRequests",
    "Unauthenticated",
    "ValidationFailed",
    "code_pb2",
    "from_rpc_error",
    "to_status",
]
