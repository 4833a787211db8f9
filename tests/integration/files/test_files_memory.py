"""A large upload streams through the service; it is never held whole in memory."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import AsyncIterator

from haven.files.v1 import files_pb2 as pb

from . import upload_samples as samples
from .conftest import CHUNK, StartFiles

SIZE = 20_000_000  # 20 MB, just under the default 20 MiB limit


async def pdf_stream(school_id: str) -> AsyncIterator[pb.UploadRequest]:
    """The upload's messages, made as they are sent: the test holds no copy either."""
    yield pb.UploadRequest(metadata=pb.UploadMetadata(school_id=school_id, filename="scan.pdf"))
    sent = 0
    while sent < SIZE:
        piece = min(CHUNK, SIZE - sent)
        data = samples.pdf_piece(sent, piece, SIZE)
        sent += piece
        yield pb.UploadRequest(chunk=data)


async def test_a_twenty_megabyte_upload_never_holds_the_file_in_memory(
    start_files: StartFiles,
) -> None:
    files = await start_files()
    school, alice = str(uuid.uuid4()), str(uuid.uuid4())

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        stored = await files.stub.Upload(
            pdf_stream(school), metadata=files.as_user(alice, {school: "staff"}), timeout=120
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert stored.size == SIZE
    held = peak - baseline
    print(f"peak Python memory during the upload: {held / 2**20:.1f} MiB")
    # About one S3 part (5 MiB) and a few encryption segments, whatever the size.
    assert held < 8 * 2**20
