"""Uploads and downloads against real PostgreSQL and SeaweedFS's S3."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import grpc
import pytest

from haven.files.v1 import files_pb2 as pb
from haven_runtime.errors import from_rpc_error

from . import upload_samples as samples
from .conftest import StartFiles


def new_school() -> str:
    return str(uuid.uuid4())


def new_user() -> str:
    return str(uuid.uuid4())


async def test_an_uploaded_pdf_comes_back_byte_for_byte(start_files: StartFiles) -> None:
    files = await start_files()
    school, alice = new_school(), new_user()
    member = {school: "staff"}
    content = samples.pdf(body_bytes=300_000)  # several encryption segments

    stored = await files.upload(alice, member, school, "Welfare report.pdf", content)

    assert stored.status == "staged"
    assert stored.filename == "Welfare report.pdf"
    assert stored.content_type == "application/pdf"
    assert stored.size == len(content)
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert (stored.school_id, stored.uploaded_by) == (school, alice)
    assert await files.get_file(alice, member, stored.id) == stored
    metadata, body = await files.download(alice, member, stored.id)
    assert metadata == stored
    assert body == content


async def test_the_object_in_the_bucket_is_not_the_plaintext(start_files: StartFiles) -> None:
    files = await start_files()
    school, alice = new_school(), new_user()
    content = samples.pdf(body=b"Concern about the pupil. " * 5000)

    stored = await files.upload(alice, {school: "staff"}, school, "concern.pdf", content)

    (row,) = await files.query(
        "SELECT storage_key, wrapped_data_key FROM files WHERE id = $1", uuid.UUID(stored.id)
    )
    key = row["storage_key"]
    assert "concern" not in key and stored.id not in key
    assert await files.objects() == [key]
    raw = await files.object_bytes(key)
    assert len(raw) > len(content)
    assert b"Concern" not in raw
    assert b"%PDF" not in raw
    assert content[1000:1064] not in raw


async def test_an_oversize_upload_is_refused_and_leaves_no_object_and_no_row(
    start_files: StartFiles,
) -> None:
    files = await start_files()
    school, alice = new_school(), new_user()
    # Over the default 20 MiB: the refusal comes after S3 has taken several parts.
    content = samples.pdf(body_bytes=files.settings.max_upload_bytes)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await files.upload(alice, {school: "staff"}, school, "huge.pdf", content)

    error = from_rpc_error(refused.value)
    assert error.code == grpc.StatusCode.OUT_OF_RANGE
    assert error.reason == "file_too_large"
    assert await files.objects() == []
    assert await files.incomplete_uploads() == []
    assert await files.query("SELECT id FROM files") == []


@pytest.mark.parametrize(
    ("make_content", "filename"),
    [
        (samples.png, "scan.pdf"),
        (samples.elf, "tool"),
        (samples.windows_exe, "setup.exe"),
        (samples.windows_exe, "invoice.pdf"),
    ],
    ids=["png-named-pdf", "linux-executable", "windows-executable", "executable-named-pdf"],
)
async def test_a_file_whose_content_is_not_allowed_or_contradicts_its_name_is_refused(
    start_files: StartFiles, make_content, filename: str
) -> None:  # type: ignore[no-untyped-def]
    files = await start_files()
    school, alice = new_school(), new_user()

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await files.upload(alice, {school: "staff"}, school, filename, make_content())

    error = from_rpc_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "file_type_not_allowed"
    assert await files.objects() == []
    assert await files.query("SELECT id FROM files") == []


async def test_a_png_with_its_own_name_is_accepted_as_a_png(start_files: StartFiles) -> None:
    files = await start_files()
    school, alice = new_school(), new_user()
    stored = await files.upload(alice, {school: "staff"}, school, "scan.png", samples.png())
    assert stored.content_type == "image/png"


async def test_nobody_can_upload_into_a_school_they_do_not_belong_to(
    start_files: StartFiles,
) -> None:
    files = await start_files()
    school, other, alice = new_school(), new_school(), new_user()

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await files.upload(alice, {other: "dsl"}, school, "report.pdf", samples.pdf())

    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert await files.objects() == []


async def test_a_staged_file_is_hidden_from_everyone_but_its_uploader(
    start_files: StartFiles,
) -> None:
    files = await start_files()
    school, other_school = new_school(), new_school()
    alice, bob, dina = new_user(), new_user(), new_user()
    stored = await files.upload(alice, {school: "staff"}, school, "report.pdf", samples.pdf())

    async def refusal(call) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        return refused.value.code(), refused.value.details()

    unknown = await refusal(files.get_file(alice, {school: "staff"}, str(uuid.uuid4())))
    assert unknown[0] == grpc.StatusCode.NOT_FOUND
    for reader, schools in [
        (bob, {other_school: "dsl"}),  # another school's member
        (bob, {school: "staff"}),  # a colleague
        (dina, {school: "dsl"}),  # even the school's DSL, until an incident takes it
    ]:
        assert await refusal(files.get_file(reader, schools, stored.id)) == unknown
        assert await refusal(files.download(reader, schools, stored.id)) == unknown


async def test_a_tampered_object_is_never_served_as_the_file(start_files: StartFiles) -> None:
    files = await start_files()
    school, alice = new_school(), new_user()
    member = {school: "staff"}
    stored = await files.upload(alice, member, school, "report.pdf", samples.pdf(100_000))
    (key,) = await files.objects()
    raw = bytearray(await files.object_bytes(key))
    raw[len(raw) // 2] ^= 0x01
    await files.replace_object(key, bytes(raw))

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await files.download(alice, member, stored.id)

    error = from_rpc_error(refused.value)
    assert error.code == grpc.StatusCode.DATA_LOSS
    assert error.reason == "file_corrupted"


async def test_uploads_wait_for_s3_without_the_service_failing(
    start_files: StartFiles, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from haven_devstack.ports import free_port
    from haven_devstack.seaweed import LocalS3

    late_s3 = LocalS3(tmp_path / "late-s3", free_port())
    files = await start_files(
        wait_for_bucket=False,
        s3_endpoint=late_s3.endpoint,
        s3_access_key=late_s3.access_key,
        s3_secret_key=late_s3.secret_key,
    )
    school, alice = new_school(), new_user()
    member = {school: "staff"}
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await files.upload(alice, member, school, "report.pdf", samples.pdf())
        error = from_rpc_error(refused.value)
        assert error.code == grpc.StatusCode.UNAVAILABLE
        assert error.reason == "storage_unavailable"
        assert not files.task.done()

        await asyncio.to_thread(late_s3.start)
        await asyncio.wait_for(files.store.ready.wait(), timeout=60)
        stored = await files.upload(alice, member, school, "report.pdf", samples.pdf())
        assert stored.status == "staged"
    finally:
        await files.stop()
        await asyncio.to_thread(late_s3.stop)


async def test_an_upload_must_begin_with_its_metadata(start_files: StartFiles) -> None:
    files = await start_files()
    school, alice = new_school(), new_user()

    async def chunks_only():  # type: ignore[no-untyped-def]
        yield pb.UploadRequest(chunk=samples.pdf())

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await files.stub.Upload(
            chunks_only(), metadata=files.as_user(alice, {school: "staff"}), timeout=10
        )

    error = from_rpc_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "validation_failed"
    assert await files.objects() == []
