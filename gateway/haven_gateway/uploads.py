"""Streaming a multipart upload to files.Upload, 64 KiB at a time.

The body is parsed as it arrives and each piece of the `file` part is passed on
at once, so neither the gateway's memory nor its disk ever holds a whole file,
and gRPC's flow control paces how fast the client's bytes are read. Files
sniffs the type and enforces the limits on what it receives; the gateway
refuses early what it can already see is too big.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import grpc
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from haven.files.v1 import files_pb2
from haven_gateway.peers import Peers, metadata
from haven_gateway.problems import FieldError, Problem, problem_from_remote, validation_failed
from haven_runtime.errors import RemoteError, from_rpc_error

CHUNK_SIZE = 64 * 1024
FILE_FIELD = "file"
# Boundaries, part headers and small form fields around the file itself.
MULTIPART_OVERHEAD = 64 * 1024
# Files' reason when its S3 bucket cannot be reached.
STORAGE_UNAVAILABLE = "storage_unavailable"
STORAGE_RETRY_AFTER_SECONDS = 30


@dataclass(frozen=True)
class FileStarted:
    filename: str
    content_type: str


@dataclass(frozen=True)
class FileData:
    data: bytes


@dataclass(frozen=True)
class FileEnded:
    pass


Event = FileStarted | FileData | FileEnded


class FilePartReader:
    """Feeds body chunks to a streaming multipart parser; reports the first `file` part.

    The parser calls back synchronously inside write(); the callbacks only
    collect events, which the async caller then acts on.
    """

    def __init__(self, boundary: bytes, field: str = FILE_FIELD):
        self._field = field.encode()
        self._events: list[Event] = []
        self._headers: dict[bytes, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._in_file = False
        self._file_seen = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value_part,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    def feed(self, chunk: bytes) -> list[Event]:
        self._parser.write(chunk)
        return self._take()

    def finish(self) -> list[Event]:
        self._parser.finalize()
        return self._take()

    def _take(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_part(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(
            self._headers.get(b"content-disposition", b"").decode("latin-1")
        )
        if self._file_seen or disposition != b"form-data" or options.get(b"name") != self._field:
            return
        self._in_file = self._file_seen = True
        content_type, _ = parse_options_header(
            self._headers.get(b"content-type", b"").decode("latin-1")
        )
        self._events.append(
            FileStarted(
                filename=_filename(options.get(b"filename", b"")),
                content_type=content_type.decode("latin-1"),
            )
        )

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file and end > start:
            self._events.append(FileData(bytes(data[start:end])))

    def _part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            self._events.append(FileEnded())


def _filename(raw: bytes) -> str:
    # Browsers send the name as raw UTF-8; some send a whole Windows path.
    name = raw.decode("utf-8", errors="replace")
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip()[:255]


def boundary_of(request: Request) -> bytes:
    media_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise Problem(
            415, "unsupported_media_type", "Send the file as multipart/form-data, field `file`."
        )
    return boundary


def refuse_if_declared_too_big(request: Request, max_bytes: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + MULTIPART_OVERHEAD:
        raise file_too_large(max_bytes)


def file_too_large(max_bytes: int) -> Problem:
    return Problem(413, "file_too_large", f"A file may be at most {max_bytes // (1024 * 1024)} MB.")


class UploadStream:
    """One files.Upload call, fed as the body arrives."""

    def __init__(self, peers: Peers, token: str, max_bytes: int):
        self._peers = peers
        self._token = token
        self._max_bytes = max_bytes
        self._call: Any = None
        self._buffer = bytearray()
        self._received = 0
        self.complete = False

    @property
    def started(self) -> bool:
        return self._call is not None

    async def start(self, school_id: str, started: FileStarted) -> None:
        self._peers.admission.for_transfer()
        self._call = self._peers.files.Upload(
            timeout=self._peers.settings.transfer_deadline_seconds, metadata=metadata(self._token)
        )
        await self._write(
            files_pb2.UploadRequest(
                metadata=files_pb2.UploadMetadata(
                    school_id=school_id,
                    filename=started.filename,
                    declared_content_type=started.content_type,
                )
            )
        )

    async def add(self, data: bytes) -> None:
        self._received += len(data)
        if self._received > self._max_bytes:
            raise file_too_large(self._max_bytes)
        self._buffer += data
        while len(self._buffer) >= CHUNK_SIZE:
            await self._write(files_pb2.UploadRequest(chunk=bytes(self._buffer[:CHUNK_SIZE])))
            del self._buffer[:CHUNK_SIZE]

    async def finish(self) -> files_pb2.StoredFile:
        if self._buffer:
            await self._write(files_pb2.UploadRequest(chunk=bytes(self._buffer)))
            self._buffer.clear()
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
            await self._call.done_writing()
        return await self._outcome()

    def abandon(self) -> None:
        # Files keeps nothing from a call that ends cancelled.
        if self._call is not None and not self._call.done():
            self._call.cancel()

    async def _write(self, message: files_pb2.UploadRequest) -> None:
        try:
            await self._call.write(message)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            # Files ended the call before the body did. It reads a refused
            # upload to its end before answering (gRPC's Python client would
            # report a failed write as INTERNAL, hiding the reason), so this is
            # a failure of files itself; the call's outcome says what it can.
            await self._outcome()
            raise Problem(502, "bad_gateway", "The file service ended the upload early.") from None

    async def _outcome(self) -> files_pb2.StoredFile:
        try:
            stored: files_pb2.StoredFile = await self._call
        except grpc.aio.AioRpcError as error:
            raise transfer_problem(from_rpc_error(error)) from None
        return stored


def transfer_problem(error: RemoteError) -> Problem:
    """The problem for a failed upload or download; S3 being away gets words of its own."""
    if error.reason == STORAGE_UNAVAILABLE:
        # Files is up, its bucket is not: say so, rather than "a service is not answering".
        return Problem(
            503,
            STORAGE_UNAVAILABLE,
            "File storage is not reachable at the moment, so no file was stored or read. "
            "Try again in a minute.",
            headers={"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS)},
        )
    return problem_from_remote(error)


async def stream_upload(
    request: Request, peers: Peers, token: str, school_id: str
) -> files_pb2.StoredFile:
    """Stream the request's `file` part to files.Upload and return what was stored."""
    max_bytes = peers.settings.max_upload_bytes
    refuse_if_declared_too_big(request, max_bytes)
    reader = FilePartReader(boundary_of(request))
    upload = UploadStream(peers, token, max_bytes)
    finished = False
    try:
        async for body_chunk in request.stream():
            for event in reader.feed(body_chunk):
                await _apply(event, upload, school_id)
        for event in reader.finish():
            await _apply(event, upload, school_id)
        if not upload.started:
            raise validation_failed([FieldError(FILE_FIELD, "Attach a file in the field `file`.")])
        if not upload.complete:
            # A body cut short must not be stored as if it were the whole file.
            raise Problem(400, "bad_request", "The multipart body ended inside the file.")
        stored = await upload.finish()
        finished = True
        return stored
    except FormParserError:
        raise Problem(400, "bad_request", "The multipart body is malformed.") from None
    except ClientDisconnect:
        raise Problem(400, "bad_request", "The upload ended before the file did.") from None
    finally:
        if not finished:
            with contextlib.suppress(Exception):
                upload.abandon()


async def _apply(event: Event, upload: UploadStream, school_id: str) -> None:
    if isinstance(event, FileStarted):
        await upload.start(school_id, event)
    elif isinstance(event, FileData):
        await upload.add(event.data)
    else:
        # Sent on once the body ends (later parts are ignored).
        upload.complete = True
