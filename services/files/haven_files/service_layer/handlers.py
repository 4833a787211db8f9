"""One function per command or query of the files service."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from haven.files.v1.files_pb2 import FileDownloaded
from haven.incidents.v1.incidents_pb2 import IncidentRecorded
from haven_files.adapters.object_store import (
    ObjectMissing,
    ObjectStore,
    StorageUnavailable,
)
from haven_files.adapters.orm import StoredFileRow
from haven_files.domain.access import (
    ATTACHED,
    STAGED,
    Attachment,
    decide_attachment,
    may_see_file,
)
from haven_files.domain.encryption import MasterKey, SegmentDecryptor, new_data_key
from haven_files.domain.errors import ContentCorrupted, FileTooLarge, FileTypeNotAllowed
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

log = get_logger(__name__)

PRODUCER = "files"


@dataclass(frozen=True)
class FilesDependencies:
    db: Database
    store: ObjectStore
    master_key: MasterKey
    max_upload_bytes: int


def _parse_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError):
        return None


async def upload_file(
    deps: FilesDependencies, *, school_id: str, filename: str, chunks: AsyncIterator[bytes]
) -> StoredFileRow:
    """Stage a file for the caller: refused whole, or stored encrypted with its row."""
    principal = current_principal()
    if not school_id or not principal.belongs_to(school_id):
        raise NotFound("school not found")
    if not filename.strip():
        raise ValidationFailed([FieldViolation("filename", "is required")])

    file_id = uuid.uuid4()
    # A random name: neither the file's id nor anything the user chose.
    storage_key = f"files/{uuid.uuid4()}"
    data_key = new_data_key()
    intake = FileIntake(filename, deps.max_upload_bytes, data_key)
    try:
        async with deps.store.writer(storage_key) as sink:
            async for chunk in chunks:
                await sink.write(intake.take(chunk))
            last, accepted = intake.finish()
            await sink.write(last)
            await sink.commit()
    except FileTooLarge as error:
        log.info("upload refused", reason="file_too_large", school_id=school_id)
        raise FileTooLargeError(str(error)) from None
    except FileTypeNotAllowed as error:
        log.info("upload refused", reason="file_type_not_allowed", school_id=school_id)
        raise FileTypeNotAllowedError(str(error)) from None
    except StorageUnavailable as error:
        log.warning("object store failed during upload", error=str(error))
        raise StorageUnavailableError("file storage is unavailable, try again later") from None

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
            await uow.commit()
    except BaseException:
        # No row, no object. Should this fail too, the staged-file clean-up
        # finds the object by its missing row.
        try:
            await deps.store.remove(storage_key)
        except StorageUnavailable:
            log.warning("could not remove the object of a failed upload", file_id=str(file_id))
        raise
    log.info(
        "file staged",
        file_id=str(file_id),
        school_id=school_id,
        size=accepted.size,
        content_type=accepted.kind.content_type,
    )
    return row


async def _visible_file(db: Database, file_id: str) -> StoredFileRow:
    """The file if the caller may see it; the same NotFound whether it is unknown or hidden."""
    principal = current_principal()
    parsed = _parse_id(file_id)
    row = None
    if parsed is not None:
        async with db.sessions() as session:
            row = await session.get(StoredFileRow, parsed)
    if row is None or not may_see_file(
        principal, school_id=row.school_id, uploaded_by=row.uploaded_by, status=row.status
    ):
        raise NotFound("file not found")
    return row


async def get_file(deps: FilesDependencies, file_id: str) -> StoredFileRow:
    return await _visible_file(deps.db, file_id)


@dataclass
class Download:
    file: StoredFileRow
    plaintext: AsyncGenerator[bytes, None]


async def download_file(deps: FilesDependencies, file_id: str) -> Download:
    """The file's metadata now, and its plaintext as it is decrypted."""
    row = await _visible_file(deps.db, file_id)
    if not deps.store.ready.is_set():
        raise StorageUnavailableError("file storage is unavailable, try again later")
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
        raise StorageUnavailableError("file storage is unavailable, try again later") from None


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
