"""Storing and loading incident records."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload
from sqlalchemy.orm.attributes import set_committed_value

from haven_incidents.adapters.orm import (
    Incident,
    IncidentAgency,
    IncidentBodyMark,
    IncidentCategory,
    IncidentFile,
    IncidentLinkedStudent,
    IncidentRecipient,
)
from haven_incidents.domain.incidents import CheckedIncident, Recipient


async def load_incident(
    session: AsyncSession, incident_id: uuid.UUID, *, known_empty: Iterable[str] = ()
) -> Incident | None:
    """The incident with everything it refers to (eager: async sessions cannot lazy-load).

    `known_empty` names collections the caller knows hold nothing (it has just
    written the incident): they are not queried, each saving a round trip.
    """
    empty = list(known_empty)
    incident = (
        await session.scalars(
            select(Incident)
            .where(Incident.id == incident_id)
            .options(*(raiseload(getattr(Incident, name)) for name in empty))
            .execution_options(populate_existing=True)
        )
    ).first()
    if incident is not None:
        for name in empty:
            set_committed_value(incident, name, [])
    return incident


async def incident_by_key(
    session: AsyncSession, recorded_by: str, idempotency_key: str
) -> Incident | None:
    return (
        await session.scalars(
            select(Incident).where(
                Incident.recorded_by == recorded_by, Incident.idempotency_key == idempotency_key
            )
        )
    ).first()


async def insert_incident(
    session: AsyncSession,
    *,
    incident_id: uuid.UUID,
    school_id: str,
    checked: CheckedIncident,
    recorded_by: str,
    recorded_by_name: str,
    recorded_at,  # type: ignore[no-untyped-def]
    idempotency_key: str,
    recipients: list[Recipient],
) -> bool:
    """Write the incident and its parts; False if this author's key was already used.

    The unique index on (recorded_by, idempotency_key) settles a race between
    two requests with the same key: the second waits for the first to commit,
    then inserts nothing.
    """
    inserted = await session.execute(
        pg_insert(Incident)
        .values(
            id=incident_id,
            school_id=school_id,
            student_id=uuid.UUID(checked.student_id),
            description=checked.description,
            occurred_at=checked.occurred_at,
            recorded_at=recorded_at,
            recorded_by=recorded_by,
            recorded_by_name=recorded_by_name,
            idempotency_key=idempotency_key or None,
        )
        .on_conflict_do_nothing(
            index_elements=[Incident.recorded_by, Incident.idempotency_key],
            index_where=Incident.idempotency_key.is_not(None),
        )
        .returning(Incident.id)
    )
    if inserted.first() is None:
        return False

    async def add(model: type, rows: list[dict]) -> None:  # type: ignore[type-arg]
        if rows:
            await session.execute(insert(model), rows)

    await add(
        IncidentCategory,
        [
            {"incident_id": incident_id, "category_id": uuid.UUID(c), "position": i}
            for i, c in enumerate(checked.category_ids)
        ],
    )
    await add(
        IncidentLinkedStudent,
        [
            {"incident_id": incident_id, "student_id": uuid.UUID(s), "position": i}
            for i, s in enumerate(checked.linked_student_ids)
        ],
    )
    await add(
        IncidentBodyMark,
        [
            {
                "incident_id": incident_id,
                "number": m.number,
                "side": m.side,
                "x": m.x,
                "y": m.y,
                "note": m.note,
            }
            for m in checked.body_map
        ],
    )
    await add(
        IncidentRecipient,
        [
            {
                "incident_id": incident_id,
                "user_id": r.id,
                "name": r.name,
                "named": r.named,
                "position": i,
            }
            for i, r in enumerate(recipients)
        ],
    )
    await add(
        IncidentAgency,
        [
            {"incident_id": incident_id, "agency_id": uuid.UUID(a), "position": i}
            for i, a in enumerate(checked.agency_ids)
        ],
    )
    await add(
        IncidentFile,
        [
            {"incident_id": incident_id, "file_id": f, "position": i}
            for i, f in enumerate(checked.file_ids)
        ],
    )
    return True
