"""Reading the audit log: a school's events for its admins, a trust's for the trust's admins."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

from sqlalchemy import select, tuple_

from haven_identity.adapters.directory import parse_id
from haven_identity.adapters.orm import AuditEvent, School
from haven_identity.service_layer.dependencies import Dependencies
from haven_identity.service_layer.views import AuditEventView, AuditPage
from haven_runtime.auth import Principal
from haven_runtime.errors import FieldViolation, NotFound, ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(at: datetime, event_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{event_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    bad_cursor = ValidationFailed([FieldViolation("cursor", "is not a cursor from this list")])
    try:
        at, _, event_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        parsed = datetime.fromisoformat(at), uuid.UUID(event_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_cursor from None
    if parsed[0].tzinfo is None:
        raise bad_cursor
    return parsed


def _view(event: AuditEvent) -> AuditEventView:
    def text(value: uuid.UUID | None) -> str:
        return str(value) if value is not None else ""

    return AuditEventView(
        id=str(event.id),
        at=event.at,
        action=event.action,
        actor_id=text(event.actor_id),
        actor_name=event.actor_name,
        subject_user_id=text(event.subject_user_id),
        subject_email=event.subject_email,
        school_id=text(event.school_id),
        trust_id=text(event.trust_id),
        client_address=event.client_address,
        detail=dict(event.detail or {}),
    )


async def list_audit_events(
    deps: Dependencies,
    principal: Principal,
    *,
    school_id: str = "",
    trust_id: str = "",
    limit: int = 0,
    cursor: str = "",
) -> AuditPage:
    """Newest first, `limit` at a time (default 50, at most 200), continued by `cursor`."""
    if bool(school_id) == bool(trust_id):
        raise ValidationFailed(
            [FieldViolation("school_id", "give exactly one of school_id and trust_id")]
        )
    if limit < 0:
        raise ValidationFailed([FieldViolation("limit", "must not be negative")])
    page_size = min(limit or DEFAULT_LIMIT, MAX_LIMIT)
    after = decode_cursor(cursor) if cursor else None

    async with deps.db.sessions() as session:
        if school_id:
            school_uuid = parse_id(school_id)
            school = await session.get(School, school_uuid) if school_uuid else None
            if school is None or not (
                principal.is_admin_of(str(school.id))
                or principal.is_trust_admin_of(str(school.trust_id))
            ):
                raise NotFound("school not found")
            scope = AuditEvent.school_ids.contains([school.id])
        else:
            trust_uuid = parse_id(trust_id)
            if trust_uuid is None or not principal.is_trust_admin_of(str(trust_uuid)):
                raise NotFound("trust not found")
            scope = AuditEvent.trust_ids.contains([trust_uuid])
        statement = (
            select(AuditEvent)
            .where(scope)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(page_size + 1)
        )
        if after is not None:
            statement = statement.where(tuple_(AuditEvent.at, AuditEvent.id) < tuple_(*after))
        events = list(await session.scalars(statement))
    more = len(events) > page_size
    events = events[:page_size]
    next_cursor = encode_cursor(events[-1].at, events[-1].id) if more else ""
    return AuditPage(items=[_view(e) for e in events], next_cursor=next_cursor)
