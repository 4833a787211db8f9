"""The gRPC servicer: proto requests in, handler calls, proto responses out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from haven.files.v1 import files_pb2, files_pb2_grpc
from haven_files.adapters.orm import StoredFileRow
from haven_files.service_layer import handlers
from haven_files.service_layer.handlers import FilesDependencies
from haven_runtime.errors import FieldViolation, ServiceError, ValidationFailed

SERVICE_NAME = files_pb2.DESCRIPTOR.services_by_name["FilesService"].full_name


def _timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def stored_file(row: StoredFileRow) -> files_pb2.StoredFile:
    return files_pb2.StoredFile(
        id=str(row.id),
        school_id=row.school_id,
        filename=row.filename,
        size=row.size,
        content_type=row.content_type,
        sha256=row.sha256,
        status=row.status,
        incident_id=row.incident_id or "",
        uploaded_by=row.uploaded_by,
        created_at=_timestamp(row.created_at),
        attached_at=_timestamp(row.attached_at),
    )


async def _chunks(requests: AsyncIterator[files_pb2.UploadRequest]) -> AsyncIterator[bytes]:
    async for request in requests:
        if request.WhichOneof("part") != "chunk":
            raise ValidationFailed(
                [FieldViolation("metadata", "only the first message carries the metadata")]
            )
        yield request.chunk


async def _drain(requests: AsyncIterator[files_pb2.UploadRequest], *, limit: int) -> None:
    """Read and drop what the client is still sending, up to `limit` bytes, before refusing.

    gRPC's Python client replaces the status a server sent with INTERNAL
    ("Internal error from Core") when one of its writes fails because the
    call has ended; so a refusal in mid-upload (S3 gone, a type found out)
    would reach the gateway as an unexplained error. Letting the client
    finish first means it hears the real reason. Memory stays bounded: each
    message is dropped as it arrives.
    """
    dropped = 0
    async for request in requests:
        dropped += len(request.chunk)
        if dropped > limit:
            return


class FilesServicer(files_pb2_grpc.FilesServiceServicer):
    def __init__(self, deps: FilesDependencies):
        self.deps = deps

    async def Upload(  # noqa: N802 - gRPC method name
        self,
        request_iterator: AsyncIterator[files_pb2.UploadRequest],
        context: grpc.aio.ServicerContext,
    ) -> files_pb2.StoredFile:
        first = await anext(request_iterator, None)
        if first is None or first.WhichOneof("part") != "metadata":
            raise ValidationFailed(
                [FieldViolation("metadata", "the first message must carry the metadata")]
            )
        try:
            row = await handlers.upload_file(
                self.deps,
                school_id=first.metadata.school_id,
                filename=first.metadata.filename,
                chunks=_chunks(request_iterator),
            )
        except ServiceError:
            await _drain(request_iterator, limit=self.deps.max_upload_bytes)
            raise
        return stored_file(row)

    async def GetFile(  # noqa: N802 - gRPC method name
        self, request: files_pb2.GetFileRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.StoredFile:
        return stored_file(await handlers.get_file(self.deps, request.file_id))

    async def Download(  # noqa: N802 - gRPC method name
        self, request: files_pb2.DownloadRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[files_pb2.DownloadResponse]:
        download = await handlers.download_file(self.deps, request.file_id)
        yield files_pb2.DownloadResponse(metadata=stored_file(download.file))
        async with aclosing(download.plaintext) as pieces:
            async for piece in pieces:
                yield files_pb2.DownloadResponse(chunk=piece)
