"""Files, asked over gRPC whether a file may be attached to a new incident.

Every call carries the caller's own internal token, so files answers only
about files that caller may see.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc

from haven.files.v1 import files_pb2, files_pb2_grpc
from haven_incidents.domain.files import FileFacts
from haven_runtime.clients import call_metadata
from haven_runtime.errors import ServiceError
from haven_runtime.logging import get_logger

log = get_logger(__name__)


class FilesUnavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = "unavailable"


class FileCatalogue:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = 5.0):
        self._stub = files_pb2_grpc.FilesServiceStub(channel)
        self._timeout = timeout

    async def files_by_id(self, file_ids: Sequence[str]) -> dict[str, FileFacts]:
        """What files says of each id the caller may see; unknown or hidden ids are left out."""
        ids = [f for f in dict.fromkeys(file_ids) if f.strip()]
        found = await asyncio.gather(*(self._get(f) for f in ids))
        return {f.id: f for f in found if f is not None}

    async def _get(self, file_id: str) -> FileFacts | None:
        try:
            stored = await self._stub.GetFile(
                files_pb2.GetFileRequest(file_id=file_id),
                timeout=self._timeout,
                metadata=call_metadata(),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            log.warning("files call failed", status=error.code().name)
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise FilesUnavailable("files is not answering; try again") from None
            raise ServiceError("files refused a file lookup") from None
        # Keyed by the id as asked, so the draft's spelling finds it.
        return FileFacts(
            id=file_id,
            school_id=stored.school_id,
            status=stored.status,
            uploaded_by=stored.uploaded_by,
        )
