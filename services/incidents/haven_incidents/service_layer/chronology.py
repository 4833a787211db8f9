"""A pupil's chronology: every incident they are in, for the school's elevated DSLs."""

from __future__ import annotations

from dataclasses import dataclass

from haven_incidents.adapters.chronology import chronology_page, record_chronology_read
from haven_incidents.adapters.orm import Incident, Student
from haven_incidents.domain.access import require_chronology_reader
from haven_incidents.domain.chronology import ChronologyCursor, InvalidCursor, page_size
from haven_incidents.service_layer.incidents import as_uuid
from haven_runtime.auth import Principal
from haven_runtime.context import client_address
from haven_runtime.db import Database
from haven_runtime.errors import FieldViolation, NotFound, ValidationFailed
from haven_runtime.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class ChronologyPage:
    items: list[Incident]
    next_cursor: str


async def list_student_incidents(
    db: Database, principal: Principal, student_id: str, *, limit: int, cursor: str
) -> ChronologyPage:
    """One page of the pupil's incidents, newest first; every read is kept in the audit trail."""
    parsed = as_uuid(student_id.strip())
    if parsed is None:
        raise NotFound("no such pupil")
    size = page_size(limit)

    async with db.unit_of_work("incidents") as uow:
        student = await uow.session.get(Student, parsed)
        if student is None:
            raise NotFound("no such pupil")
        # Who may ask is settled before anything they sent is judged.
        require_chronology_reader(principal, student.school_id)
        try:
            after = ChronologyCursor.decode(cursor) if cursor else None
        except InvalidCursor as error:
            raise ValidationFailed([FieldViolation("cursor", str(error))]) from None
        # One more than the page, to learn whether another page follows.
        incidents = await chronology_page(
            uow.session, school_id=student.school_id, student_id=parsed, after=after, size=size + 1
        )
        next_cursor = ""
        if len(incidents) > size:
            incidents = incidents[:size]
            last = incidents[-1]
            next_cursor = ChronologyCursor(last.occurred_at, last.id).encode()
        await record_chronology_read(
            uow.session,
            student_id=parsed,
            user_id=principal.user_id,
            user_name=principal.name,
            incident_ids=[i.id for i in incidents],
            client_address=client_address.get() or "",
        )
        await uow.commit()
    log.info(
        "chronology read",
        student_id=str(parsed),
        school_id=student.school_id,
        incidents=len(incidents),
    )
    return ChronologyPage(incidents, next_cursor)
