"""The files service, run in-process against real PostgreSQL, NATS and SeaweedFS's S3.

SeaweedFS starts once per session; every service started here gets its own
database and its own bucket, so a test can say "the bucket holds nothing" and
mean it.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
import pytest
from minio import Minio

from haven.files.v1 import files_pb2 as pb
from haven.files.v1 import files_pb2_grpc as pb_grpc
from haven_devstack.ports import free_port
from haven_devstack.seaweed import LocalS3
from haven_devstack.waiting import eventually  # noqa: F401 - re-exported for tests
from haven_files.adapters.object_store import ObjectStore
from haven_files.app import build_service
from haven_files.service_layer.cleanup import FileJanitor
from haven_files.settings import FilesSettings
from haven_incidents.app import build_service as build_incidents
from haven_incidents.settings import IncidentsSettings
from haven_runtime.server import Service

CHUNK = 64 * 1024


@pytest.fixture(scope="session")
def local_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    server = LocalS3(tmp_path_factory.mktemp("s3"), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def s3_client(endpoint: str, access_key: str, secret_key: str) -> Minio:
    return Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=False)


def requests_for(
    content: bytes, school_id: str, filename: str, chunk: int = CHUNK
) -> Iterator[pb.UploadRequest]:
    yield pb.UploadRequest(metadata=pb.UploadMetadata(school_id=school_id, filename=filename))
    for start in range(0, len(content), chunk):
        yield pb.UploadRequest(chunk=content[start : start + chunk])


@dataclass
class RunningFiles:
    service: Service
    task: asyncio.Task[None]
    channel: grpc.aio.Channel
    stub: pb_grpc.FilesServiceStub
    settings: FilesSettings
    make_token: Callable[..., str]

    @property
    def s3(self) -> Minio:
        return s3_client(
            self.settings.s3_endpoint,
            self.settings.s3_access_key,
            self.settings.s3_secret_key.get_secret_value(),
        )

    @property
    def store(self) -> ObjectStore:
        """The service's own object store (its bucket job is a method of it)."""
        return next(
            job.__self__  # type: ignore[attr-defined]
            for job in self.service.background
            if isinstance(getattr(job, "__self__", None), ObjectStore)
        )

    @property
    def janitor(self) -> FileJanitor:
        """The service's own clean-up job."""
        return next(
            job.__self__  # type: ignore[attr-defined]
            for job in self.service.background
            if isinstance(getattr(job, "__self__", None), FileJanitor)
        )

    @property
    def bucket(self) -> str:
        return self.settings.s3_bucket

    def as_user(self, user_id: str, schools: dict[str, str]) -> tuple[tuple[str, str], ...]:
        return (("authorization", "Bearer " + self.make_token(user_id, schools)),)

    async def upload(
        self, user_id: str, schools: dict[str, str], school_id: str, filename: str, content: bytes
    ) -> pb.StoredFile:
        return await self.stub.Upload(
            requests_for(content, school_id, filename),
            metadata=self.as_user(user_id, schools),
            timeout=60,
        )

    async def get_file(self, user_id: str, schools: dict[str, str], file_id: str) -> pb.StoredFile:
        return await self.stub.GetFile(
            pb.GetFileRequest(file_id=file_id), metadata=self.as_user(user_id, schools), timeout=5
        )

    async def download(
        self, user_id: str, schools: dict[str, str], file_id: str, client_address: str = ""
    ) -> tuple[pb.StoredFile, bytes]:
        metadata = self.as_user(user_id, schools)
        if client_address:
            # As the gateway passes on where the person is, for the audit trail.
            metadata = (*metadata, ("x-client-address", client_address))
        call = self.stub.Download(
            pb.DownloadRequest(file_id=file_id), metadata=metadata, timeout=30
        )
        metadata, chunks = None, []
        async for message in call:
            if message.WhichOneof("part") == "metadata":
                metadata = message.metadata
            else:
                chunks.append(message.chunk)
        assert metadata is not None
        return metadata, b"".join(chunks)

    async def objects(self) -> list[str]:
        def names() -> list[str]:
            return [o.object_name for o in self.s3.list_objects(self.bucket, recursive=True)]

        return await asyncio.to_thread(names)

    async def object_bytes(self, key: str) -> bytes:
        def read() -> bytes:
            response = self.s3.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return await asyncio.to_thread(read)

    async def incomplete_uploads(self) -> list[str]:
        """Multipart uploads begun and neither completed nor aborted."""

        def names() -> list[str]:
            # minio-py has no public call for ListMultipartUploads.
            result = self.s3._list_multipart_uploads(self.bucket)
            return [upload.object_name for upload in result.uploads]

        return await asyncio.to_thread(names)

    async def replace_object(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self.s3.put_object, self.bucket, key, io.BytesIO(data), len(data))

    async def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.settings.database_url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def stop(self) -> None:
        if not self.task.done():
            self.service.stopping.set()
            await self.task
        await self.channel.close()


StartFiles = Callable[..., Awaitable[RunningFiles]]


@dataclass
class RunningIncidents:
    """The real incidents service, whose incidents the tests write straight into its tables."""

    service: Service
    task: asyncio.Task[None]
    database_url: str

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.service.bound_port}"

    async def record(
        self, incident_id: str, school_id: str, recorded_by: str, alerted: list[str] = ()
    ) -> None:
        """An incident as RecordIncident leaves it: its author, and the staff it alerted."""
        conn = await asyncpg.connect(self.database_url)
        try:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO schools (id, trust_id, name) VALUES ($1, 'trust', 'Oak Primary')"
                    " ON CONFLICT DO NOTHING",
                    school_id,
                )
                student = uuid.uuid4()
                await conn.execute(
                    "INSERT INTO students (id, school_id, upn, first_name, last_name, year_group,"
                    " date_of_birth, search_first, search_last)"
                    " VALUES ($1, $2, $3, 'Wren', 'Ashdown', '4', '2017-03-14', 'wren', 'ashdown')",
                    student,
                    school_id,
                    uuid.uuid4().hex[:13],
                )
                await conn.execute(
                    "INSERT INTO incidents (id, school_id, student_id, description, occurred_at,"
                    " recorded_at, recorded_by, recorded_by_name)"
                    " VALUES ($1, $2, $3, 'What was seen.', now(), now(), $4, 'Alice Teacher')",
                    uuid.UUID(incident_id),
                    school_id,
                    student,
                    recorded_by,
                )
                for position, user_id in enumerate(alerted, start=1):
                    await conn.execute(
                        "INSERT INTO incident_recipients (incident_id, user_id, name, named,"
                        " position) VALUES ($1, $2, 'Alerted Member', true, $3)",
                        uuid.UUID(incident_id),
                        user_id,
                        position,
                    )
        finally:
            await conn.close()

    async def stop(self) -> None:
        if not self.task.done():
            self.service.stopping.set()
            await self.task


@pytest.fixture
async def running_incidents(
    create_database, nats_url: str, token_public_key: str
) -> AsyncIterator[RunningIncidents]:  # type: ignore[no-untyped-def]
    nowhere = f"127.0.0.1:{free_port()}"  # identity and files: not asked by GetIncident
    url = await create_database("incidents_for_files")
    service, register = build_incidents(
        IncidentsSettings(
            database_url=url,
            nats_url=nats_url,
            grpc_host="127.0.0.1",
            grpc_port=0,
            token_public_key=token_public_key,
            migrate_on_start=True,
            shutdown_grace_seconds=2.0,
            identity_addr=nowhere,
            files_addr=nowhere,
        )
    )
    ready = asyncio.Event()
    task = asyncio.create_task(service.run(register, ready))
    await asyncio.wait(
        [task, asyncio.create_task(ready.wait())], timeout=60, return_when=asyncio.FIRST_COMPLETED
    )
    if task.done():
        task.result()
    incidents = RunningIncidents(service, task, url)
    yield incidents
    await incidents.stop()


@pytest.fixture
async def start_files(
    create_database, nats_url: str, token_public_key: str, make_token, local_s3: LocalS3
) -> AsyncIterator[StartFiles]:  # type: ignore[no-untyped-def]
    """start_files(wait_for_bucket=True, **settings) -> a running replica with its own bucket."""
    running: list[RunningFiles] = []

    async def start(wait_for_bucket: bool = True, **overrides: Any) -> RunningFiles:
        values: dict[str, Any] = {
            "database_url": await create_database("files"),
            "grpc_host": "127.0.0.1",
            "grpc_port": 0,
            "nats_url": nats_url,
            "token_public_key": token_public_key,
            "migrate_on_start": True,
            "shutdown_grace_seconds": 2.0,
            "s3_endpoint": local_s3.endpoint,
            "s3_access_key": local_s3.access_key,
            "s3_secret_key": local_s3.secret_key,
            "s3_bucket": f"haven-files-{uuid.uuid4().hex[:12]}",
            "file_master_key": base64.b64encode(os.urandom(32)).decode(),
            # Nothing answers here unless a test starts incidents and says where.
            "incidents_addr": f"127.0.0.1:{free_port()}",
            "incidents_timeout_seconds": 2.0,
        }
        values.update(overrides)
        settings = FilesSettings(**values)
        service, register = build_service(settings)
        ready = asyncio.Event()
        task = asyncio.create_task(service.run(register, ready))
        await asyncio.wait(
            [task, asyncio.create_task(ready.wait())],
            timeout=60,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if task.done():
            task.result()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}")
        files = RunningFiles(
            service, task, channel, pb_grpc.FilesServiceStub(channel), settings, make_token
        )
        running.append(files)
        if wait_for_bucket:
            await asyncio.wait_for(files.store.ready.wait(), timeout=30)
        return files

    yield start
    for files in running:
        await files.stop()
