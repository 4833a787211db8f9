"""The S3 bucket that holds the encrypted objects (MinIO, SeaweedFS, or any S3).

The `minio` client is synchronous, so every call runs in a thread.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncGenerator, Callable
from types import TracebackType
from typing import Any, TypeVar

import urllib3
from minio import Minio
from minio.datatypes import Part
from minio.error import MinioException, S3Error

from haven_files.settings import FilesSettings
from haven_runtime.backoff import backoff_delay
from haven_runtime.logging import get_logger

log = get_logger(__name__)

# S3's smallest multipart part: an upload holds about one part in memory.
PART_SIZE = 5 * 1024 * 1024
READ_SIZE = 256 * 1024
MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "NoSuchObject", "NoSuchBucket"})
OBJECT_CONTENT_TYPE = "application/octet-stream"  # always ciphertext
S3_FAILURES = (MinioException, urllib3.exceptions.HTTPError, OSError)

T = TypeVar("T")


class StorageUnavailable(Exception):
    """The object store cannot be reached or refused the request."""


class ObjectMissing(Exception):
    """The object a row names is not in the bucket."""


class ObjectStore:
    def __init__(self, client: Minio, bucket: str):
        self.client = client
        self.bucket = bucket
        self.ready = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: FilesSettings) -> ObjectStore:
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5.0, read=60.0),
            maxsize=16,
            retries=urllib3.Retry(
                total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )
        client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            secure=settings.s3_secure,
            region=settings.s3_region,
            http_client=http,
        )
        return cls(client, settings.s3_bucket)

    # -- the bucket ------------------------------------------------------------

    def _ensure_bucket(self) -> None:
        if self.client.bucket_exists(self.bucket):
            return
        try:
            self.client.make_bucket(self.bucket)
        except S3Error as error:
            # Another replica created it between our two calls.
            if error.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    async def keep_bucket_ready(self, stopping: asyncio.Event) -> None:
        """Create the bucket if needed, retrying with backoff until S3 answers.

        Runs in the background so the service starts (and serves what needs
        only its database) while S3 is away; uploads are refused as
        unavailable meanwhile.
        """
        attempt = 0
        while not stopping.is_set():
            try:
                await asyncio.to_thread(self._ensure_bucket)
            except Exception as error:  # noqa: BLE001 - any failure means "try again later"
                attempt += 1
                delay = backoff_delay(attempt, base=0.5, cap=15.0)
                log.warning(
                    "object store unavailable, retrying",
                    bucket=self.bucket,
                    error=str(error) or type(error).__name__,
                    retry_in=round(delay, 2),
                )
                try:
                    await asyncio.wait_for(stopping.wait(), timeout=delay)
                except TimeoutError:
                    pass
                continue
            self.ready.set()
            log.info("object store ready", bucket=self.bucket)
            return

    def require_ready(self) -> None:
        if not self.ready.is_set():
            raise StorageUnavailable("the object store is not reachable yet")

    # -- objects ---------------------------------------------------------------

    def writer(self, key: str) -> ObjectWriter:
        return ObjectWriter(self, key)

    async def read(self, key: str) -> AsyncGenerator[bytes, None]:
        """The object's bytes, in pieces; close it (contextlib.aclosing) when done."""
        try:
            response = await asyncio.to_thread(self.client.get_object, self.bucket, key)
        except S3Error as error:
            if error.code in MISSING_OBJECT_CODES:
                raise ObjectMissing(key) from None
            raise StorageUnavailable(str(error)) from error
        except S3_FAILURES as error:
            raise StorageUnavailable(str(error)) from error
        try:
            while True:
                try:
                    data = await asyncio.to_thread(response.read, READ_SIZE)
                except S3_FAILURES as error:
                    raise StorageUnavailable(str(error)) from error
                if not data:
                    return
                yield data
        finally:
            await asyncio.to_thread(_release, response)

    async def remove(self, key: str) -> None:
        try:
            await asyncio.to_thread(self.client.remove_object, self.bucket, key)
        except S3_FAILURES as error:
            raise StorageUnavailable(str(error)) from error

    async def discard(self, key: str) -> None:
        """Leave nothing under `key`: abort its unfinished multipart uploads, remove the object.

        Safe to repeat, and to run in two replicas at once: what is already
        gone is not an error.
        """
        try:
            await asyncio.to_thread(self._discard, key)
        except S3_FAILURES as error:
            raise StorageUnavailable(str(error) or type(error).__name__) from error

    def _discard(self, key: str) -> None:
        # minio-py has no public call for ListMultipartUploads.
        listing = self.client._list_multipart_uploads(self.bucket, prefix=key)
        for upload in listing.uploads:
            if upload.object_name != key or not upload.upload_id:
                continue
            try:
                self.client._abort_multipart_upload(self.bucket, key, upload.upload_id)
            except S3Error as error:
                if error.code != "NoSuchUpload":
                    raise
        self.client.remove_object(self.bucket, key)


def _release(response: Any) -> None:
    response.close()
    response.release_conn()


class ObjectWriter:
    """Streams one object into the bucket; it exists only if `commit()` succeeds.

    `async with store.writer(key) as sink: await sink.write(...); await sink.commit()`

    Ciphertext gathers in memory until it makes one S3 part (5 MiB), which is
    sent before any more is taken, so an upload of any size holds about one
    part. A file smaller than a part is sent with one PUT at commit; a larger
    one becomes a multipart upload, completed at commit. Leaving the block
    without committing (a refusal, an error, a cancelled call) sends nothing
    or aborts the multipart upload, so S3 keeps no trace.

    minio-py exposes multipart uploads only through `put_object`, which copies
    each part several times (about three parts in memory at once); the
    private calls it is built on are used here instead, and minio is pinned
    below 8 for them.
    """

    def __init__(self, store: ObjectStore, key: str):
        self._store = store
        self.key = key
        self._part = io.BytesIO()
        self._upload_id: str | None = None
        self._parts: list[Part] = []
        self._in_flight: asyncio.Future[Any] | None = None
        self._committed = False
        # Whether S3 may hold something of this writer's that it could not take back.
        self.left_something = False

    async def __aenter__(self) -> ObjectWriter:
        self._store.require_ready()
        return self

    async def _call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # From the first call on, S3 may hold something (even a PUT that failed
        # may have landed, a timeout after S3 took it).
        self.left_something = True
        task = asyncio.ensure_future(asyncio.to_thread(function, *args, **kwargs))
        # If the caller is cancelled, nobody awaits the outcome; read it anyway.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._in_flight = task
        try:
            # Shielded: a cancelled call must still know when S3 has finished.
            return await asyncio.shield(task)
        except S3_FAILURES as error:
            raise StorageUnavailable(str(error) or type(error).__name__) from error

    async def write(self, data: bytes) -> None:
        if not data:
            return
        self._part.write(data)
        if self._part.tell() >= PART_SIZE:
            await self._send_part()

    async def _send_part(self) -> None:
        # getvalue() hands over BytesIO's own buffer: the part is not copied.
        body, self._part = self._part.getvalue(), io.BytesIO()
        client, bucket = self._store.client, self._store.bucket
        if self._upload_id is None:
            self._upload_id = await self._call(
                client._create_multipart_upload,
                bucket,
                self.key,
                {"Content-Type": OBJECT_CONTENT_TYPE},
            )
        number = len(self._parts) + 1
        etag = await self._call(
            client._upload_part, bucket, self.key, body, None, self._upload_id, number
        )
        self._parts.append(Part(number, etag))

    async def commit(self) -> None:
        client, bucket = self._store.client, self._store.bucket
        if self._upload_id is None:
            body = self._part.getvalue()
            await self._call(
                client.put_object,
                bucket,
                self.key,
                io.BytesIO(body),
                len(body),
                content_type=OBJECT_CONTENT_TYPE,
            )
        else:
            if self._part.tell():
                await self._send_part()
            await self._call(
                client._complete_multipart_upload, bucket, self.key, self._upload_id, self._parts
            )
        self._committed = True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._part = io.BytesIO()
        if self._committed or self._upload_id is None:
            return
        # Let a part still on its way land first, or it could outlive the abort.
        if self._in_flight is not None:
            await asyncio.wait([self._in_flight])
        client, bucket = self._store.client, self._store.bucket
        abort = asyncio.ensure_future(
            asyncio.to_thread(client._abort_multipart_upload, bucket, self.key, self._upload_id)
        )
        try:
            await asyncio.shield(abort)
        except S3_FAILURES as error:
            log.warning("could not abort a refused upload", error=str(error))
            return
        # Aborted: had the upload been completed after all, the abort would have failed.
        self.left_something = False
