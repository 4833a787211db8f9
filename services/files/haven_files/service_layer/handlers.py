"""One function per command or query of the files service."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from haven.files.v1.files_pb2 import FileDownloaded
from haven.incidents.v1.incidents_pb2 import IncidentRecorded
from haven_files.adapters.incidents import IncidentAccess
from haven_files.adapters.object_store import (
    ObjectMissing,
    ObjectStore,
    StorageUnavailable,
)
from haven_files.adapters.orm import StoredFileRow, UnclaimedObjectRow
from haven_files.adapters.unclaimed import UnclaimedObjects
from haven_files.domain.access import (
    ATTACHED,
    STAGED,
    Attachment,
    FileAccess,
    decide_attachment,
    file_access,
)
from haven_files.domain.encryption import MasterKey, SegmentDecryptor, new_data_key
from haven_files.domain.errors import ContentCorrupted, FileRefused, FileTooLarge
from haven_files.domain.intake import FileIntake
from haven_files.service_layer.errors import (
    FileCorruptedError,
    FileTooLargeError,
    FileTypeNotAllowedError,
    StorageUnavailableError,
)
from haven_runtime.context import client_address, current_principal
from haven_runtime.db import Database, UnitOfWork
from haven_runtime.errors import FieldViolation, NotFound, ValidationFailed
from haven_runtime.events import Event
from haven_runtime.logging import get_logger
from haven_runtime.metrics import UPLOAD_BYTES

log = get_logger(__name__)

PRODUCER = "files"
STORAGE_UNAVAILABLE = "file storage is not reachable at the moment; nothing was stored"
STORAGE_UNAVAILABLE_FOR_READING = "file storage is not reachable at the moment; try again shortly"


@dataclass(frozen=True)
class FilesDependencies:
    db: Database
    store: ObjectStore
    master_key: MasterKey
    max_upload_bytes: int
    unclaimed: UnclaimedObjects
    # An upload still unfinished after this long is dead; what it left is removed.
    upload_abandoned_after: timedelta
    # Who may see the incident that holds an attached file.
    incidents: IncidentAccess


def _parse_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError):
        return None


async def upload_file(
    deps: FilesDependencies, *, school_id: str, filename: str, chunks: AsyncIterator[bytes]
) -> StoredFileRow:
    """Stage a file for the caller: refused whole, or stored encrypted with its row.

    The object's key is written down as unclaimed before the first byte goes
    to S3, and leaves that record only in the transaction that creates the
    file's row, or once a refused upload is known to have left nothing. So
    whatever S3 or this process does mid-upload, no object is forgotten: the
    clean-up job removes what an unfinished upload left.
    """
    principal = current_principal()
    if not school_id or not principal.belongs_to(school_id):
        raise NotFound("school not found")
    if not filename.strip():
        raise ValidationFailed([FieldViolation("filename", "is required")])
    if not deps.store.ready.is_set():
        log.warning("upload refused: object store not reachable since start")
        raise StorageUnavailableError(STORAGE_UNAVAILABLE)

    file_id = uuid.uuid4()
    # A random name: neither the file's id nor anything the user chose.
    storage_key = f"files/{uuid.uuid4()}"
    data_key = new_data_key()
    intake = FileIntake(filename, deps.max_upload_bytes, data_key)
    await deps.unclaimed.record(
        storage_key, remove_after=datetime.now(UTC) + deps.upload_abandoned_after
    )
    sink = deps.store.writer(storage_key)
    try:
        async with sink:
            # Off the event loop: recognising, digesting and encrypting a chunk
            # is CPU work (under a millisecond for a real 64 KiB chunk, up to
            # tens for a crafted image walked to its step allowance), and every
            # other call to the service would wait for it.
            async for chunk in chunks:
                await sink.write(await asyncio.to_thread(intake.take, chunk))
            last, accepted = await asyncio.to_thread(intake.finish)
            await sink.write(last)
            await sink.commit()
    except FileTooLarge as error:
        log.info("upload refused", reason="file_too_large", school_id=school_id)
        await _tidy_up(deps, storage_key, sink.left_something)
        raise FileTooLargeError(str(error)) from None
    except FileRefused as error:
        # Not allowed (415), damaged or a zip bomb (422): INVALID_ARGUMENT, the
        # reason naming which, the message what exactly.
        log.info("upload refused", reason=error.reason, school_id=school_id)
        await _tidy_up(deps, storage_key, sink.left_something)
        raise FileTypeNotAllowedError(str(error), reason=error.reason) from None
    except StorageUnavailable as error:
        log.warning("object store failed during upload", error=str(error))
        await _tidy_up(deps, storage_key, sink.left_something)
        raise StorageUnavailableError(STORAGE_UNAVAILABLE) from None
    except asyncio.CancelledError:
        # The caller went away (the gateway refused the rest, the client hung up).
        await _tidy_up(deps, storage_key, sink.left_something)
        raise
    # Anything else (the process dies): the record stays, and the clean-up
    # removes the object once no upload can still be writing it.

    row = StoredFileRow(
        id=file_id,
        school_id=school_id,
        uploaded_by=principal.user_id,
        filename=accepted.filename,
        size=accepted.size,
        content_type=accepted.kind.content_type,
        sha256=accepted.sha256,
        status=STAGED,
        incident_id=None,
        storage_key=storage_key,
        wrapped_data_key=deps.master_key.wrap(data_key, file_id),
        master_key_id=deps.master_key.key_id,
        created_at=datetime.now(UTC),
        attached_at=None,
    )
    try:
        async with deps.db.unit_of_work(PRODUCER) as uow:
            uow.session.add(row)
            # The object is the row's now.
            await uow.session.execute(
                delete(UnclaimedObjectRow).where(UnclaimedObjectRow.storage_key == storage_key)
            )
            await uow.commit()
    except BaseException:
        # The commit may have happened all the same (the line dropped after
        # it): then the row owns the object and the record is gone with it.
        # Otherwise the record stays, and the clean-up removes the object; so
        # removing it here could only be wrong. Bring its removal forward.
        with contextlib.suppress(Exception):
            await deps.unclaimed.remove_soon(storage_key)
        raise
    log.info(
        "file staged",
        file_id=str(file_id),
        school_id=school_id,
        size=accepted.size,
        content_type=accepted.kind.content_type,
    )
    UPLOAD_BYTES.inc(accepted.size)
    return row


async def _tidy_up(deps: FilesDependencies, storage_key: str, left_something: bool) -> None:
    """_leave_nothing, carried through to the end even when the call is being cancelled
    (the gateway refusing the rest of an upload cancels it): a tidy-up cut short would
    leave the object for the clean-up job, an hour later."""
    await asyncio.shield(_leave_nothing(deps, storage_key, left_something))


async def _leave_nothing(deps: FilesDependencies, storage_key: str, left_something: bool) -> None:
    """After a failed upload: take back what S3 holds, or leave it to the clean-up job."""
    try:
        if left_something:
            await deps.store.discard(storage_key)
        await deps.unclaimed.forget(storage_key)
    except StorageUnavailable as error:
        log.warning(
            "object of a failed upload left for the clean-up job",
            storage_key=storage_key,
            error=str(error),
        )
        with contextlib.suppress(Exception):
            await deps.unclaimed.remove_soon(storage_key)
    except Exception as error:  # noqa: BLE001 - the record stays; the clean-up will see it
        log.warning("could not tidy up after a failed upload", error=str(error))


async def _visible_file(deps: FilesDependencies, file_id: str) -> StoredFileRow:
    """The file if the caller may see it; the same NotFound whether it is unknown or hidden."""
    principal = current_principal()
    parsed = _parse_id(file_id)
    row = None
    if parsed is not None:
        async with deps.db.sessions() as session:
            row = await session.get(StoredFileRow, parsed)
    if row is None:
        raise NotFound("file not found")
    access = file_access(
        principal, school_id=row.school_id, uploaded_by=row.uploaded_by, status=row.status
    )
    if access is FileAccess.ASK_INCIDENTS:
        allowed = await deps.incidents.may_see(row.incident_id or "")
    else:
        allowed = access is FileAccess.ALLOWED
    if not allowed:
        raise NotFound("file not found")
    return row


async def get_file(deps: FilesDependencies, file_id: str) -> StoredFileRow:
    return await _visible_file(deps, file_id)


@dataclass
class Download:
    file: StoredFileRow
    plaintext: AsyncGenerator[bytes, None]


async def download_file(deps: FilesDependencies, file_id: str) -> Download:
    """The file's metadata now, and its plaintext as it is decrypted."""
    row = await _visible_file(deps, file_id)
    if not deps.store.ready.is_set():
        raise StorageUnavailableError(STORAGE_UNAVAILABLE_FOR_READING)
    try:
        data_key = deps.master_key.unwrap(row.wrapped_data_key, row.id)
    except ContentCorrupted as error:
        log.error("file key does not open", file_id=str(row.id), error=str(error))
        raise FileCorruptedError("the file cannot be decrypted") from None
    if row.status == ATTACHED:
        principal = current_principal()
        async with deps.db.unit_of_work(PRODUCER) as uow:
            uow.publish(
                FileDownloaded(
                    file_id=str(row.id),
                    school_id=row.school_id,
                    incident_id=row.incident_id or "",
                    user_id=principal.user_id,
                    user_name=principal.name,
                    client_address=client_address.get() or "",
                )
            )
            await uow.commit()
    return Download(row, _decrypted(deps.store, row, data_key))


async def _decrypted(
    store: ObjectStore, row: StoredFileRow, data_key: bytes
) -> AsyncGenerator[bytes, None]:
    """Authenticated plaintext; the last piece is held back until the SHA-256 matches."""
    decryptor = SegmentDecryptor(data_key)
    digest = hashlib.sha256()
    size = 0
    held: bytes = b""
    try:
        async with aclosing(store.read(row.storage_key)) as pieces:
            async for piece in pieces:
                plain = decryptor.update(piece)
                if not plain:
                    continue
                if held:
                    yield held
                held = plain
                digest.update(plain)
                size += len(plain)
        last = decryptor.finish()
        digest.update(last)
        size += len(last)
        if size != row.size or digest.hexdigest() != row.sha256:
            raise ContentCorrupted("the content does not match its recorded SHA-256")
        if held + last:
            yield held + last
    except (ContentCorrupted, ObjectMissing) as error:
        log.error("stored file is corrupted", file_id=str(row.id), error=str(error))
        raise FileCorruptedError("the stored file is damaged") from None
    except StorageUnavailable as error:
        log.warning("object store failed during download", error=str(error))
        raise StorageUnavailableError(STORAGE_UNAVAILABLE_FOR_READING) from None


async def on_incident_recorded(uow: UnitOfWork, event: Event[IncidentRecorded]) -> None:
    """The incident takes its author's staged files; a repeat changes nothing."""
    incident = event.payload
    if not incident.incident_id or not incident.school_id:
        log.warning("incident event without its ids", event_id=event.event_id)
        return
    ids = [parsed for raw in incident.file_ids if (parsed := _parse_id(raw)) is not None]
    if len(ids) != len(incident.file_ids):
        log.warning("incident lists malformed file ids", incident_id=incident.incident_id)
    if not ids:
        return
    rows = (
        await uow.session.scalars(
            select(StoredFileRow).where(StoredFileRow.id.in_(ids)).with_for_update()
        )
    ).all()
    found = {row.id for row in rows}
    for missing in set(ids) - found:
        log.warning(
            "incident lists an unknown file", incident_id=incident.incident_id, file_id=str(missing)
        )
    now = datetime.now(UTC)
    for row in rows:
        decision = decide_attachment(
            status=row.status,
            school_id=row.school_id,
            uploaded_by=row.uploaded_by,
            attached_to=row.incident_id,
            incident_id=incident.incident_id,
            incident_school_id=incident.school_id,
            recorded_by=incident.recorded_by.id,
        )
        if decision is Attachment.ATTACH:
            row.status = ATTACHED
            row.incident_id = incident.incident_id
            row.attached_at = now
            log.info("file attached", file_id=str(row.id), incident_id=incident.incident_id)
        elif decision is Attachment.REFUSED:
            log.warning(
                "incident may not take this file",
                file_id=str(row.id),
                incident_id=incident.incident_id,
            )
