"""SeaweedFS stopped under a running files service: 503, nothing half-stored, then back to work.

Each test starts a SeaweedFS of its own, so that it can stop and start it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from haven.files.v1 import files_pb2 as pb
from haven_devstack.ports import free_port
from haven_devstack.seaweed import LocalS3
from haven_runtime.errors import from_rpc_error

from . import upload_samples as samples
from .conftest import CHUNK, RunningFiles, StartFiles, eventually

SIZE = 12 * 1024 * 1024  # more than two S3 parts


@pytest.fixture
def own_s3(tmp_path: Path) -> Iterator[LocalS3]:
    server = LocalS3(tmp_path / "s3", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def start_on(start_files: StartFiles, s3: LocalS3) -> RunningFiles:
    return await start_files(
        s3_endpoint=s3.endpoint,
        s3_access_key=s3.access_key,
        s3_secret_key=s3.secret_key,
        # Short, so the test sees the job take back what the outage left.
        cleanup_interval_seconds=0.3,
    )


async def unclaimed(files: RunningFiles) -> list[str]:
    return [r["storage_key"] for r in await files.query("SELECT * FROM unclaimed_objects")]


async def test_with_s3_stopped_mid_upload_it_fails_503_and_nothing_half_stored_remains(
    start_files: StartFiles, own_s3: LocalS3
) -> None:
    files = await start_on(start_files, own_s3)
    school, alice = str(uuid.uuid4()), str(uuid.uuid4())
    member = {school: "staff"}

    call = files.stub.Upload(metadata=files.as_user(alice, member), timeout=120)
    await call.write(
        pb.UploadRequest(metadata=pb.UploadMetadata(school_id=school, filename="scan.pdf"))
    )
    sent, stopped = 0, False
    while sent < SIZE:
        if sent >= 6 * 1024 * 1024 and not stopped:
            # The first 5 MiB part is in S3: now it goes away.
            await eventually(files.incomplete_uploads, what="a multipart upload begun")
            await asyncio.to_thread(own_s3.stop)
            stopped = True
        piece = samples.pdf_piece(sent, min(CHUNK, SIZE - sent), SIZE)
        sent += len(piece)
        # Files reads the rest before it answers, so no write fails.
        await call.write(pb.UploadRequest(chunk=piece))
    await call.done_writing()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    error = from_rpc_error(refused.value)
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert error.reason == "storage_unavailable"
    assert "nothing was stored" in error.message
    assert await files.query("SELECT id FROM files") == []
    # What S3 holds of it is written down, for removal as soon as S3 answers.
    [key] = await unclaimed(files)
    assert not files.task.done()

    await asyncio.to_thread(own_s3.start)
    await eventually(lambda: _none_left(files), what="the half-stored upload removed")
    assert await files.incomplete_uploads() == []
    assert key not in await files.objects()

    # And uploads work again, without restarting the service.
    stored = await files.upload(alice, member, school, "report.pdf", samples.pdf())
    assert stored.status == "staged"
    _, content = await files.download(alice, member, stored.id)
    assert content.startswith(b"%PDF")


async def test_with_s3_stopped_a_small_upload_fails_503_and_works_again_once_it_is_back(
    start_files: StartFiles, own_s3: LocalS3
) -> None:
    files = await start_on(start_files, own_s3)
    school, alice = str(uuid.uuid4()), str(uuid.uuid4())
    member = {school: "staff"}
    before = await files.upload(alice, member, school, "before.pdf", samples.pdf())

    await asyncio.to_thread(own_s3.stop)
    for attempt in range(2):  # and again: the service does not give up on S3
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await files.upload(alice, member, school, f"during-{attempt}.pdf", samples.pdf())
        error = from_rpc_error(refused.value)
        assert (error.code, error.reason) == (grpc.StatusCode.UNAVAILABLE, "storage_unavailable")
    # A download says the same, rather than failing some other way.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await files.download(alice, member, before.id)
    assert from_rpc_error(refused.value).reason == "storage_unavailable"
    assert [r["id"] for r in await files.query("SELECT id::text FROM files")] == [before.id]

    await asyncio.to_thread(own_s3.start)
    after = await files.upload(alice, member, school, "after.pdf", samples.pdf())
    assert after.status == "staged"
    await eventually(lambda: _none_left(files), what="the failed uploads' records cleared")
    keys = {r["storage_key"] for r in await files.query("SELECT storage_key FROM files")}
    assert set(await files.objects()) == keys
    _, content = await files.download(alice, member, before.id)
    assert content.startswith(b"%PDF")


async def _none_left(files: RunningFiles) -> bool:
    return not await unclaimed(files) and not await files.incomplete_uploads()
