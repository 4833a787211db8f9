"""Addenda: corrections and follow-up added to an incident, which itself never changes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from haven_incidents.adapters.incidents import load_incident
from haven_incidents.adapters.orm import IncidentAddendum
from haven_incidents.domain.access import may_add_addendum
from haven_incidents.service_layer.incidents import as_uuid, readable
from haven_runtime.auth import Principal
from haven_runtime.db import Database
from haven_runtime.errors import FieldViolation, NotFound, PermissionDenied, ValidationFailed
from haven_runtime.logging import get_logger

log = get_logger(__name__)

MAX_ADDENDUM_LENGTH = 20_000


def check_addendum_text(text: str) -> None:
    if not text.strip():
        raise ValidationFailed([FieldViolation("text", "is required")])
    if len(text) > MAX_ADDENDUM_LENGTH:
        raise ValidationFailed(
            [FieldViolation("text", f"must be at most {MAX_ADDENDUM_LENGTH} characters")]
        )


async def add_addendum(
    db: Database, principal: Principal, incident_id: str, text: str
) -> IncidentAddendum:
    """Append an addendum, by the incident's author or a DSL of its school."""
    parsed = as_uuid(incident_id.strip())
    if parsed is None:
        raise NotFound("no such incident")
    async with db.unit_of_work("incidents") as uow:
        incident = await load_incident(uow.session, parsed)
        if incident is None or not readable(principal, incident):
            raise NotFound("no such incident")
        # Who may add is settled before what they sent is judged.
        if not may_add_addendum(
            principal, school_id=incident.school_id, recorded_by=incident.recorded_by
        ):
            raise PermissionDenied("only the author or a DSL may add to an incident")
        check_addendum_text(text)
        addendum = IncidentAddendum(
            id=uuid.uuid4(),
            incident_id=incident.id,
            text=text,
            author_id=principal.user_id,
            author_name=principal.name,
            created_at=datetime.now(UTC),
        )
        uow.session.add(addendum)
        await uow.commit()
    log.info("addendum added", incident_id=str(parsed), addendum_id=str(addendum.id))
    return addendum
