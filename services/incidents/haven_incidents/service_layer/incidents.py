"""Recording an incident, and reading one back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from haven.incidents.v1 import incidents_pb2 as pb
from haven_incidents.adapters.files import FileCatalogue
from haven_incidents.adapters.identity import StaffDirectory
from haven_incidents.adapters.incidents import incident_by_key, insert_incident, load_incident
from haven_incidents.adapters.orm import Agency, Category, Incident, IncidentView, School, Student
from haven_incidents.domain.access import may_read_incident, school_of_caller
from haven_incidents.domain.files import file_problems
from haven_incidents.domain.incidents import (
    CheckedIncident,
    IncidentDraft,
    KnownIds,
    Recipient,
    check_draft,
    recipients,
)
from haven_runtime.auth import Principal
from haven_runtime.context import client_address
from haven_runtime.db import Database
from haven_runtime.errors import FailedPrecondition, NotFound, ValidationFailed
from haven_runtime.events import timestamp
from haven_runtime.logging import get_logger

log = get_logger(__name__)


def as_uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def canonical_id(raw: str) -> str:
    """A UUID in its one canonical spelling, so that equal ids compare equal."""
    parsed = as_uuid(raw.strip())
    return str(parsed) if parsed else raw


async def record_incident(
    db: Database,
    directory: StaffDirectory,
    files: FileCatalogue,
    principal: Principal,
    school_id: str,
    draft: IncidentDraft,
) -> Incident:
    """Check, store and announce a new incident (or return the one this key already made)."""
    school_id = school_of_caller(principal, school_id)
    draft = replace(
        draft,
        student_id=canonical_id(draft.student_id),
        category_ids=[canonical_id(c) for c in draft.category_ids],
        linked_student_ids=[canonical_id(s) for s in draft.linked_student_ids],
        alert_staff_ids=[a.strip() for a in draft.alert_staff_ids],
        agency_ids=[canonical_id(a) for a in draft.agency_ids],
        file_ids=[f.strip() for f in draft.file_ids],
    )
    # Every check before the write in one session that only reads (no BEGIN,
    # no ROLLBACK): round trips saved on every incident.
    async with db.read_sessions() as session:
        if draft.idempotency_key:
            earlier = await incident_by_key(session, principal.user_id, draft.idempotency_key)
            if earlier is not None:
                return _readable_or_not_found(principal, earlier)
        school = await session.get(School, school_id)
        if school is None:
            raise FailedPrecondition("this school is not set up yet", reason="school_not_ready")
        known = await _known_ids(session, school_id, draft)
    # Identity and files are asked outside any transaction: no connection waits on them.
    (named_staff, dsls), found_files = await asyncio.gather(
        directory.named_and_dsls(school_id, draft.alert_staff_ids),
        files.files_by_id(draft.file_ids),
    )
    known = replace(
        known,
        staff=frozenset(named_staff),
        file_problems=file_problems(
            [f for f in draft.file_ids if f],
            found_files,
            school_id=school_id,
            user_id=principal.user_id,
        ),
    )
    now = datetime.now(UTC)
    checked = check_draft(draft, known, now)
    if checked.violations:
        raise ValidationFailed(checked.violations)
    alerted = recipients([named_staff[i] for i in checked.alert_staff_ids], dsls)

    incident_id = uuid.uuid4()
    async with db.unit_of_work("incidents") as uow:
        stored = await insert_incident(
            uow.session,
            incident_id=incident_id,
            school_id=school_id,
            checked=checked,
            recorded_by=principal.user_id,
            recorded_by_name=principal.name,
            recorded_at=now,
            idempotency_key=draft.idempotency_key,
            recipients=alerted,
        )
        if not stored:
            # Another request with this key committed first: answer with its incident.
            await uow.rollback()
            earlier = await _incident_for_key(db, principal, draft.idempotency_key)
            if earlier is None:
                raise NotFound("no such incident")
            return earlier
        incident = await load_incident(
            uow.session, incident_id, known_empty=_empty_parts(checked, alerted)
        )
        assert incident is not None
        uow.publish(incident_recorded(incident, school, alerted))
        await uow.commit()
    log.info(
        "incident recorded",
        incident_id=str(incident_id),
        school_id=school_id,
        recipients=len(alerted),
    )
    return incident


def _empty_parts(checked: CheckedIncident, alerted: list[Recipient]) -> list[str]:
    """The new incident's collections that were written empty (addenda always are)."""
    parts = {
        "categories": checked.category_ids,
        "linked_students": checked.linked_student_ids,
        "body_marks": checked.body_map,
        "recipients": alerted,
        "agencies": checked.agency_ids,
        "files": checked.file_ids,
        "addenda": (),
    }
    return [name for name, rows in parts.items() if not rows]


async def get_incident(db: Database, principal: Principal, incident_id: str) -> Incident:
    """The incident, for those who may read it; each reading is kept in the audit trail."""
    parsed = as_uuid(incident_id)
    if parsed is None:
        raise NotFound("no such incident")
    async with db.unit_of_work("incidents") as uow:
        incident = await load_incident(uow.session, parsed)
        if incident is None or not readable(principal, incident):
            raise NotFound("no such incident")
        uow.session.add(
            IncidentView(
                incident_id=incident.id,
                user_id=principal.user_id,
                user_name=principal.name,
                action="viewed",
                client_address=client_address.get() or "",
            )
        )
        await uow.commit()
    return incident


async def check_incident_access(db: Database, principal: Principal, incident_id: str) -> None:
    """NotFound unless the caller may read the incident; unlike get_incident, no trail row."""
    parsed = as_uuid(incident_id)
    if parsed is None:
        raise NotFound("no such incident")
    async with db.read_sessions() as session:
        incident = await load_incident(session, parsed)
        if incident is None or not readable(principal, incident):
            raise NotFound("no such incident")


def incident_recorded(
    incident: Incident, school: School, alerted: Iterable[Recipient]
) -> pb.IncidentRecorded:
    """The event: what the dashboard and the emails need, never the description."""
    return pb.IncidentRecorded(
        incident_id=str(incident.id),
        school_id=incident.school_id,
        school_name=school.name,
        student=pb.StudentRef(
            id=str(incident.student.id), display_name=incident.student.display_name
        ),
        categories=[
            pb.NamedRef(id=str(c.category.id), name=c.category.name) for c in incident.categories
        ],
        recorded_by=pb.NamedRef(id=incident.recorded_by, name=incident.recorded_by_name),
        occurred_at=timestamp(incident.occurred_at),
        recorded_at=timestamp(incident.recorded_at),
        recipients=[pb.Recipient(user_id=r.id, email=r.email, name=r.name) for r in alerted],
        file_ids=[f.file_id for f in incident.files],
    )


def readable(principal: Principal, incident: Incident) -> bool:
    return may_read_incident(
        principal,
        school_id=incident.school_id,
        recorded_by=incident.recorded_by,
        alerted_staff_ids={r.user_id for r in incident.recipients if r.named},
    )


async def _incident_for_key(db: Database, principal: Principal, key: str) -> Incident | None:
    async with db.sessions() as session:
        incident = await incident_by_key(session, principal.user_id, key)
    return None if incident is None else _readable_or_not_found(principal, incident)


def _readable_or_not_found(principal: Principal, incident: Incident) -> Incident:
    if not readable(principal, incident):
        raise NotFound("no such incident")
    return incident


async def _known_ids(session: AsyncSession, school_id: str, draft: IncidentDraft) -> KnownIds:
    """Which of the draft's pupil, category and agency ids belong to the school."""

    def wanted(raw_ids: Iterable[str]) -> set[uuid.UUID]:
        return {u for u in (as_uuid(r) for r in raw_ids) if u is not None}

    async def entries(model, raw_ids: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:  # type: ignore[no-untyped-def]
        """(offered, retired) among the ids: retired ones take no new incidents."""
        ids = wanted(raw_ids)
        if not ids:
            return frozenset(), frozenset()
        rows = await session.execute(
            select(model.id, model.active, model.retired_at).where(
                model.school_id == school_id, model.id.in_(ids)
            )
        )
        offered: set[str] = set()
        retired: set[str] = set()
        for entry_id, active, retired_at in rows:
            (offered if active and retired_at is None else retired).add(str(entry_id))
        return frozenset(offered), frozenset(retired)

    pupils = wanted([draft.student_id, *draft.linked_student_ids])
    born: dict[str, date] = {}
    if pupils:
        rows = await session.execute(
            select(Student.id, Student.date_of_birth).where(
                Student.school_id == school_id, Student.id.in_(pupils)
            )
        )
        born = {str(i): dob for i, dob in rows}
    categories, retired_categories = await entries(Category, draft.category_ids)
    agencies, retired_agencies = await entries(Agency, draft.agency_ids)
    return KnownIds(
        students=frozenset(born),
        categories=categories,
        agencies=agencies,
        retired_categories=retired_categories,
        retired_agencies=retired_agencies,
        student_born=born.get(draft.student_id),
    )
