"""An incident's audit trail: who read it, or downloaded its files, when and from where."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, tuple_

from haven.files.v1.files_pb2 import FileDownloaded
from haven_incidents.adapters.incidents import load_incident
from haven_incidents.adapters.orm import Incident, IncidentView
from haven_incidents.domain.access import may_read_views
from haven_incidents.domain.chronology import page_size
from haven_incidents.service_layer.incidents import as_uuid, readable
from haven_runtime.auth import Principal
from haven_runtime.cursors import InvalidCursor, Position
from haven_runtime.db import Database, UnitOfWork
from haven_runtime.errors import FieldViolation, NotFound, PermissionDenied, ValidationFailed
from haven_runtime.events import Event
from haven_runtime.logging import get_logger

log = get_logger(__name__)

FILE_DOWNLOADED = "file_downloaded"


@dataclass(frozen=True)
class ViewsPage:
    items: list[IncidentView]
    next_cursor: str


async def list_incident_views(
    db: Database, principal: Principal, incident_id: str, *, limit: int, cursor: str
) -> ViewsPage:
    """One page of the incident's trail, newest first; for the school's DSLs."""
    parsed = as_uuid(incident_id.strip())
    if parsed is None:
        raise NotFound("no such incident")
    size = page_size(limit)
    async with db.sessions() as session:
        incident = await load_incident(session, parsed)
        if incident is None or not readable(principal, incident):
            raise NotFound("no such incident")
        if not may_read_views(principal, incident.school_id):
            raise PermissionDenied("only the school's DSLs may see who viewed an incident")
        try:
            after = Position.decode(cursor) if cursor else None
        except InvalidCursor as error:
            raise ValidationFailed([FieldViolation("cursor", str(error))]) from None
        query = select(IncidentView).where(IncidentView.incident_id == parsed)
        if after is not None:
            query = query.where(
                tuple_(IncidentView.at, IncidentView.id) < tuple_(after.at, after.id)
            )
        rows = list(
            await session.scalars(
                query.order_by(IncidentView.at.desc(), IncidentView.id.desc()).limit(size + 1)
            )
        )
    next_cursor = ""
    if len(rows) > size:
        rows = rows[:size]
        next_cursor = Position(rows[-1].at, rows[-1].id).encode()
    return ViewsPage(rows, next_cursor)


async def on_file_downloaded(uow: UnitOfWork, event: Event[FileDownloaded]) -> None:
    """Files gave someone an incident's file: add it to that incident's trail.

    The consumer skips an event id it has handled, so a redelivery adds no
    second row.
    """
    download = event.payload
    incident_id = as_uuid(download.incident_id)
    school_id = (
        await uow.session.scalar(select(Incident.school_id).where(Incident.id == incident_id))
        if incident_id
        else None
    )
    if school_id is None or school_id != download.school_id:
        log.warning("download of a file of no incident here; ignored", file_id=download.file_id)
        return
    uow.session.add(
        IncidentView(
            id=uuid.uuid4(),
            incident_id=incident_id,
            user_id=download.user_id,
            user_name=download.user_name,
            action=FILE_DOWNLOADED,
            at=event.occurred_at,
            client_address=download.client_address,
            file_id=download.file_id,
        )
    )
