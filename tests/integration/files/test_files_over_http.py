"""POST /api/v1/files and the download, through the gateway, to the real files service and S3.

The gateway runs in-process in front of the files service started here; only
identity is a stand-in (it answers Authenticate for one session, signing the
same kind of internal token identity signs), since who is logged in is not
what these tests are about.
"""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from haven.identity.v1 import identity_pb2, identity_pb2_grpc
from haven_devstack.ports import free_port
from haven_devstack.seaweed import LocalS3
from haven_gateway.app import create_app
from haven_gateway.settings import GatewaySettings
from haven_runtime.auth import Principal, TokenSigner
from haven_runtime.errors import Unauthenticated

from . import upload_samples as samples
from .conftest import RunningFiles, StartFiles, eventually

SESSION = "session-of-alice"
BOUNDARY = "haven-test-boundary-7d1f"
MB = 1_000_000


class OneSessionIdentity(identity_pb2_grpc.IdentityServiceServicer):
    """Identity's Authenticate for a single session of Alice, a member of one school."""

    def __init__(self, signer: TokenSigner, user_id: str, school_id: str):
        self.signer, self.user_id, self.school_id = signer, user_id, school_id

    async def Authenticate(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        if request.session_token != SESSION:
            raise Unauthenticated("session unknown or ended")
        session_id = "s-alice"
        token = self.signer.sign(
            Principal(
                self.user_id,
                session_id,
                "Alice Teacher",
                "alice@school.example",
                {self.school_id: "staff"},
            )
        )
        user = identity_pb2.User(
            id=self.user_id,
            email="alice@school.example",
            name="Alice Teacher",
            memberships=[
                identity_pb2.Membership(
                    school_id=self.school_id, school_name="Oak Hill", role="staff"
                )
            ],
        )
        return identity_pb2.AuthenticateResponse(
            user=user, internal_token=token, csrf_valid=False, session_id=session_id
        )


@dataclass
class Http:
    client: httpx.AsyncClient
    files: RunningFiles
    school_id: str
    user_id: str
    app: FastAPI

    async def upload(self, body: bytes | AsyncIterator[bytes], **headers: str) -> httpx.Response:
        return await self.client.post(
            "/api/v1/files",
            content=body,
            headers={
                "authorization": f"Bearer {SESSION}",
                "content-type": f"multipart/form-data; boundary={BOUNDARY}",
                **headers,
            },
        )

    async def download(self, file_id: str) -> httpx.Response:
        return await self.client.get(
            f"/api/v1/files/{file_id}/content", headers={"authorization": f"Bearer {SESSION}"}
        )

    async def nothing_stored(self) -> bool:
        return (
            not await self.files.query("SELECT id FROM files")
            and not await self.files.objects()
            and not await self.files.incomplete_uploads()
            and not await self.files.query("SELECT * FROM unclaimed_objects")
        )


def multipart(filename: str, content: bytes) -> bytes:
    return b"".join([part_head(filename), content, part_tail()])


def part_head(filename: str) -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def part_tail() -> bytes:
    return f"\r\n--{BOUNDARY}--\r\n".encode()


StartHttp = Callable[..., Awaitable[Http]]


@pytest.fixture
async def start_http(start_files: StartFiles, signing_key) -> AsyncIterator[StartHttp]:  # type: ignore[no-untyped-def]
    """start_http(**files_settings) -> the gateway in front of a new files service."""
    servers: list[grpc.aio.Server] = []
    contexts: list[tuple[object, httpx.AsyncClient]] = []

    async def start(**files_settings: object) -> Http:
        files = await start_files(**files_settings)
        school_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
        identity = grpc.aio.server()
        identity_pb2_grpc.add_IdentityServiceServicer_to_server(
            OneSessionIdentity(TokenSigner(signing_key), user_id, school_id), identity
        )
        port = identity.add_insecure_port("127.0.0.1:0")
        await identity.start()
        servers.append(identity)
        nowhere = f"127.0.0.1:{free_port()}"  # incidents and notifications: not needed
        app = create_app(
            GatewaySettings(
                identity_addr=f"127.0.0.1:{port}",
                incidents_addr=nowhere,
                notifications_addr=nowhere,
                files_addr=f"127.0.0.1:{files.service.bound_port}",
                max_upload_bytes=files.settings.max_upload_bytes,
            )
        )
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=120
        )
        contexts.append((lifespan, client))
        return Http(client, files, school_id, user_id, app)

    yield start
    for lifespan, client in contexts:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]
    for server in servers:
        await server.stop(0)


@pytest.fixture
def own_s3(tmp_path: Path) -> Iterator[LocalS3]:
    server = LocalS3(tmp_path / "s3", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_an_upload_is_201_and_its_download_is_the_same_bytes_as_an_attachment(
    start_http: StartHttp,
) -> None:
    http = await start_http()
    content = samples.pdf(300_000)

    response = await http.upload(multipart("Zoë's report.pdf", content))

    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["status"] == "staged"
    assert stored["content_type"] == "application/pdf"
    assert stored["size"] == len(content)
    assert stored["sha256"] == hashlib.sha256(content).hexdigest()
    download = await http.download(stored["id"])
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("attachment;")
    # The stored key is Haven's own, not the name.
    [key] = await http.files.objects()
    assert "report" not in key


async def test_a_file_over_the_limit_is_413_file_too_large_and_nothing_is_stored(
    start_http: StartHttp,
) -> None:
    http = await start_http(max_upload_bytes=8 * 1024 * 1024)
    # Over the limit only after S3 has been sent a part.
    content = samples.pdf(8 * 1024 * 1024 + 1)

    async def body() -> AsyncIterator[bytes]:  # no Content-Length: found out while streaming
        data = multipart("big.pdf", content)
        for start in range(0, len(data), 256 * 1024):
            yield data[start : start + 256 * 1024]

    response = await http.upload(body())

    assert (response.status_code, response.json()["code"]) == (413, "file_too_large")
    await eventually(http.nothing_stored, what="nothing stored")


@pytest.mark.parametrize(
    ("make_content", "filename"),
    [(samples.windows_exe, "setup.exe"), (samples.windows_exe, "minutes.pdf")],
    ids=["executable", "executable-named-pdf"],
)
async def test_a_type_not_allowed_is_415_and_nothing_is_stored(
    start_http: StartHttp, make_content, filename: str
) -> None:  # type: ignore[no-untyped-def]
    http = await start_http()
    response = await http.upload(multipart(filename, make_content()))
    assert (response.status_code, response.json()["code"]) == (415, "file_type_not_allowed")
    await eventually(http.nothing_stored, what="nothing stored")


async def test_a_png_named_pdf_is_415_as_its_name_contradicts_its_content(
    start_http: StartHttp,
) -> None:
    http = await start_http()
    response = await http.upload(multipart("scan.pdf", samples.png()))
    assert (response.status_code, response.json()["code"]) == (415, "file_type_not_allowed")
    await eventually(http.nothing_stored, what="nothing stored")


async def test_with_s3_stopped_an_upload_is_503_saying_so_and_works_again_once_it_is_back(
    start_http: StartHttp, own_s3: LocalS3
) -> None:
    http = await start_http(
        s3_endpoint=own_s3.endpoint,
        s3_access_key=own_s3.access_key,
        s3_secret_key=own_s3.secret_key,
        cleanup_interval_seconds=0.3,
    )
    await asyncio.to_thread(own_s3.stop)

    response = await http.upload(multipart("report.pdf", samples.pdf()))

    assert response.status_code == 503
    problem = response.json()
    assert problem["code"] == "storage_unavailable"
    assert "File storage is not reachable" in problem["detail"]
    assert "no file was stored" in problem["detail"]
    assert response.headers["retry-after"].isdigit()
    assert response.headers["content-type"].startswith("application/problem+json")

    await asyncio.to_thread(own_s3.start)
    await eventually(http.nothing_stored, what="the failed upload's record cleared")
    again = await http.upload(multipart("report.pdf", samples.pdf()))
    assert again.status_code == 201, again.text


async def test_a_twenty_megabyte_upload_through_the_gateway_never_holds_the_file_in_memory(
    start_http: StartHttp,
) -> None:
    http = await start_http()
    size = 20 * MB
    digest = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        """The request, made as it is sent: the test holds no copy either."""
        yield part_head("scan.pdf")
        sent = 0
        while sent < size:
            piece = min(64 * 1024, size - sent)
            data = samples.pdf_piece(sent, piece, size)
            digest.update(data)
            sent += piece
            yield data
        yield part_tail()

    # The gateway, the files service and the client share this process, so
    # its peak covers all three.
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        response = await http.upload(body())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 201, response.text
    assert response.json()["size"] == size
    assert response.json()["sha256"] == digest.hexdigest()
    held = peak - baseline
    print(f"peak Python memory, gateway and files together: {held / 2**20:.1f} MiB")
    # About one S3 part (5 MiB) and a few buffers, whatever the size.
    assert held < 10 * 2**20


async def test_with_s3_stopping_in_the_middle_of_an_upload_it_is_503_and_nothing_is_left(
    start_http: StartHttp, own_s3: LocalS3
) -> None:
    http = await start_http(
        s3_endpoint=own_s3.endpoint,
        s3_access_key=own_s3.access_key,
        s3_secret_key=own_s3.secret_key,
        cleanup_interval_seconds=0.3,
    )
    size = 12 * MB

    async def body() -> AsyncIterator[bytes]:
        yield part_head("scan.pdf")
        sent, stopped = 0, False
        while sent < size:
            if sent >= 6 * MB and not stopped:
                # The first part is in S3; then S3 goes away, the client still sending.
                await eventually(http.files.incomplete_uploads, what="a multipart upload begun")
                await asyncio.to_thread(own_s3.stop)
                stopped = True
            piece = min(64 * 1024, size - sent)
            yield samples.pdf_piece(sent, piece, size)
            sent += piece
        yield part_tail()

    response = await http.upload(body())

    assert response.status_code == 503, response.text
    assert response.json()["code"] == "storage_unavailable"
    assert await http.files.query("SELECT id FROM files") == []
    await asyncio.to_thread(own_s3.start)
    await eventually(http.nothing_stored, what="the half-stored upload removed")


# -- hostile uploads: cut short, zip bombs, polyglots ----------------------------


@pytest.fixture
async def over_tcp() -> AsyncIterator[Callable[[FastAPI], Awaitable[int]]]:
    """over_tcp(app) -> the port where uvicorn serves the app, as the gateway runs in production."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def serve(app: FastAPI) -> int:
        port = free_port()
        # The app's lifespan is already running (start_http entered it).
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False
        )
        server = uvicorn.Server(config)
        servers.append((server, asyncio.create_task(server.serve())))

        async def started() -> bool:
            return server.started

        await eventually(started, what="uvicorn serving")
        return port

    yield serve
    for server, task in servers:
        server.should_exit = True
        await task


async def test_a_client_hanging_up_before_its_declared_content_length_leaves_nothing_stored(
    start_http: StartHttp, over_tcp: Callable[[FastAPI], Awaitable[int]]
) -> None:
    http = await start_http()
    port = await over_tcp(http.app)
    body = multipart("scan.pdf", samples.pdf(7 * MB))
    sent = 6 * MB  # more than one S3 part: a multipart upload is under way

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            "POST /api/v1/files HTTP/1.1\r\nHost: gateway\r\n"
            f"Authorization: Bearer {SESSION}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body[:sent]
    )
    await writer.drain()
    await eventually(http.files.incomplete_uploads, what="a multipart upload begun")
    writer.close()  # the rest of the declared length never comes
    await writer.wait_closed()

    await eventually(http.nothing_stored, what="nothing stored")
    # The gateway carries on.
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        again = await client.post(
            "/api/v1/files",
            content=multipart("scan.pdf", samples.pdf()),
            headers={
                "authorization": f"Bearer {SESSION}",
                "content-type": f"multipart/form-data; boundary={BOUNDARY}",
            },
        )
    assert again.status_code == 201, again.text


async def test_a_body_ending_inside_the_file_is_400_and_nothing_is_stored(
    start_http: StartHttp,
) -> None:
    http = await start_http()
    # Declared length and body agree, but the multipart body stops in the file.
    response = await http.upload(part_head("scan.pdf") + samples.pdf(300_000))
    assert (response.status_code, response.json()["code"]) == (400, "bad_request")
    assert "ended inside the file" in response.json()["detail"]
    await eventually(http.nothing_stored, what="nothing stored")


def _problem(response: httpx.Response) -> tuple[int, str, str]:
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    return response.status_code, problem["code"], problem["detail"]


async def test_a_pdf_cut_short_is_422_file_damaged_and_nothing_is_stored(
    start_http: StartHttp,
) -> None:
    http = await start_http()
    # Larger than an S3 part: refused at its end, with a multipart upload under way.
    response = await http.upload(multipart("minutes.pdf", samples.pdf_cut_short(6 * MB)))
    status, code, detail = _problem(response)
    assert (status, code) == (422, "file_damaged")
    assert "%%EOF" in detail and "cut short" in detail
    await eventually(http.nothing_stored, what="nothing stored")


async def test_a_zip_bomb_is_422_unsafe_archive_and_nothing_is_stored(
    start_http: StartHttp,
) -> None:
    http = await start_http()
    bomb = samples.docx_bomb()
    assert len(bomb) < 100_000
    response = await http.upload(multipart("letter.docx", bomb))
    status, code, detail = _problem(response)
    assert (status, code) == (422, "unsafe_archive")
    assert "word/media/image1.bin" in detail and "zip bomb" in detail
    await eventually(http.nothing_stored, what="nothing stored")


async def test_a_gif_with_a_zip_after_it_is_415_and_nothing_is_stored(
    start_http: StartHttp,
) -> None:
    http = await start_http()
    response = await http.upload(multipart("drawing.gif", samples.gifar()))
    status, code, detail = _problem(response)
    assert (status, code) == (415, "file_type_not_allowed")
    assert "GIF" in detail
    await eventually(http.nothing_stored, what="nothing stored")


async def test_html_named_txt_is_plain_text_and_is_downloaded_as_an_attachment_never_sniffed(
    start_http: StartHttp,
) -> None:
    http = await start_http()
    page = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>\n"

    response = await http.upload(multipart("page.txt", page))

    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "text/plain; charset=utf-8"
    download = await http.download(response.json()["id"])
    assert download.status_code == 200
    assert download.content == page
    assert download.headers["content-type"] == "text/plain; charset=utf-8"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    html = await http.upload(multipart("page.html", page))
    assert (html.status_code, html.json()["code"]) == (415, "file_type_not_allowed")
