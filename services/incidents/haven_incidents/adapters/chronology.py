"""Reading a pupil's chronology from the incidents table, and recording who read it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, insert, select, tuple_, union
from sqlalchemy.ext.asyncio import AsyncSession

from haven_incidents.adapters.orm import Incident, IncidentLinkedStudent, IncidentView
from haven_incidents.domain.chronology import ChronologyCursor

CHRONOLOGY_VIEWED = "chronology_viewed"


async def chronology_page(
    session: AsyncSession,
    *,
    school_id: str,
    student_id: uuid.UUID,
    after: ChronologyCursor | None,
    size: int,
) -> list[Incident]:
    """Up to `size` incidents of the pupil (as the student or a linked one), newest first.

    Each way of being in an incident is its own query: as the student, a
    backward scan of (student_id, occurred_at, id) that stops after `size`
    rows; as a linked pupil, the pupil's links (few) by student_id. The two
    are merged and cut to `size` again.
    """
    newest_first = (Incident.occurred_at.desc(), Incident.id.desc())

    def page_of(query: Select[Any]) -> Select[Any]:
        query = query.where(Incident.school_id == school_id)
        if after is not None:
            query = query.where(
                tuple_(Incident.occurred_at, Incident.id) < tuple_(after.at, after.id)
            )
        return query.order_by(*newest_first).limit(size)

    as_student = page_of(select(Incident.id).where(Incident.student_id == student_id))
    as_linked = page_of(
        select(Incident.id)
        .join(IncidentLinkedStudent, IncidentLinkedStudent.incident_id == Incident.id)
        .where(IncidentLinkedStudent.student_id == student_id)
    )
    # UNION, not UNION ALL: an incident appears once even if a pupil were ever
    # both its student and linked to it (the recording rules forbid it today).
    candidates = union(select(as_student.subquery()), select(as_linked.subquery())).subquery(
        "candidates"
    )
    rows = await session.scalars(
        select(Incident)
        .join(candidates, candidates.c.id == Incident.id)
        .order_by(*newest_first)
        .limit(size)
    )
    return list(rows)


async def record_chronology_read(
    session: AsyncSession,
    *,
    student_id: uuid.UUID,
    user_id: str,
    user_name: str,
    incident_ids: Sequence[uuid.UUID],
    client_address: str = "",
) -> None:
    """One audit row for the pupil, and one for each incident the reader was shown."""
    rows = [
        {
            "id": uuid.uuid4(),
            "incident_id": incident_id,
            "student_id": student_id,
            "user_id": user_id,
            "user_name": user_name,
            "action": CHRONOLOGY_VIEWED,
            "client_address": client_address,
        }
        for incident_id in [None, *incident_ids]
    ]
    await session.execute(insert(IncidentView), rows)
