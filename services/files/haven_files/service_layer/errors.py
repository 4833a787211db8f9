"""The files service's own refusals, as the API's stable reasons.

The gateway answers by reason: file_too_large -> 413, file_type_not_allowed
-> 415, file_damaged and unsafe_archive -> 422 (domain/errors.py),
storage_unavailable -> 503, file_corrupted -> 500 (never a partial
download presented as complete). The gRPC codes are the closest standard ones;
RESOURCE_EXHAUSTED is left to rate limits (too_many_requests), so that a
client that only looks at codes cannot mistake "too large" for "try later".
"""

from __future__ import annotations

import grpc

from haven_runtime.errors import ServiceError


class FileTooLargeError(ServiceError):
    code = grpc.StatusCode.OUT_OF_RANGE
    reason = "file_too_large"


class FileTypeNotAllowedError(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "file_type_not_allowed"


class StorageUnavailableError(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = "storage_unavailable"


class FileCorruptedError(ServiceError):
    code = grpc.StatusCode.DATA_LOSS
    reason = "file_corrupted"
