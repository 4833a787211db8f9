"""Streaming a file's content from files.Download to the client.

The first message (the file's metadata) is awaited before anything is sent, so
a file the caller may not see is an ordinary problem+json 404. After that the
bytes are passed on as they arrive. If files ends the stream with an error (a
stored object that fails its integrity check), the connection is cut rather
than finished, so the client never takes a truncated file for a whole one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import grpc
from starlette.responses import StreamingResponse

from haven.files.v1 import files_pb2
from haven_gateway.peers import Peers, metadata
from haven_gateway.problems import Problem
from haven_gateway.uploads import transfer_problem
from haven_runtime.errors import from_rpc_error
from haven_runtime.logging import get_logger

log = get_logger("haven.gateway.downloads")


class DownloadInterrupted(Exception):
    """Files failed mid-stream; raising ends the HTTP response without completing it."""


async def download_response(peers: Peers, token: str, file_id: str) -> StreamingResponse:
    peers.admission.admit()
    call: Any = peers.files.Download(
        files_pb2.DownloadRequest(file_id=file_id),
        timeout=peers.settings.transfer_deadline_seconds,
        metadata=metadata(token),
    )
    try:
        first = await call.read()
    except grpc.aio.AioRpcError as error:
        raise transfer_problem(from_rpc_error(error)) from None
    if first is grpc.aio.EOF or not first.HasField("metadata"):
        call.cancel()
        raise Problem(502, "bad_gateway", "The file service sent no file.")
    stored = first.metadata
    return StreamingResponse(
        _chunks(call, file_id),
        media_type=stored.content_type or "application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(stored.filename or file_id),
            "Content-Length": str(stored.size),
            # Never render an uploaded file as a page of ours.
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


async def _chunks(call: Any, file_id: str) -> AsyncIterator[bytes]:
    try:
        while True:
            message = await call.read()
            if message is grpc.aio.EOF:
                return
            if message.chunk:
                yield message.chunk
    except grpc.aio.AioRpcError as error:
        log.error("download interrupted", file_id=file_id, status=error.code().name)
        raise DownloadInterrupted(file_id) from None
    finally:
        if not call.done():
            call.cancel()  # the client went away: stop files reading and decrypting


def content_disposition(filename: str) -> str:
    """attachment, with an ASCII fallback name and the exact UTF-8 name (RFC 6266)."""
    cleaned = "".join(c for c in filename if c.isprintable() and c not in '"\\/') or "file"
    fallback = cleaned.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(cleaned, safe='')}"
