"""What the service does: one function per event it reacts to and per question it answers.

Event handlers run inside the consumer's unit of work, which also records the
event id, so they need only make their own changes; the consumer commits.
Emails are queued in that same transaction and sent later by the dispatcher,
so an alert and its email exist together or not at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from haven.identity.v1.identity_pb2 import (
    PasswordChanged,
    PasswordResetRequested,
    SoftKeyReset,
)
from haven.incidents.v1.incidents_pb2 import IncidentRecorded
from haven_notifications.adapters.email_queue import queue_email
from haven_notifications.adapters.orm import AlertRecord
from haven_notifications.domain.alerts import (
    AlertCursor,
    AlertView,
    InvalidCursor,
    InvalidPageSize,
    NamedRef,
    distinct_recipients,
    page_size,
)
from haven_notifications.domain.emails import (
    incident_alert_email,
    is_deliverable_address,
    password_changed_email,
    password_reset_email,
    soft_key_reset_email,
)
from haven_runtime.auth import Principal
from haven_runtime.db import UnitOfWork
from haven_runtime.errors import FieldViolation, NotFound, ValidationFailed
from haven_runtime.events import Event
from haven_runtime.logging import get_logger

log = get_logger(__name__)


# -- events ------------------------------------------------------------------


async def on_incident_recorded(
    uow: UnitOfWork, event: Event[IncidentRecorded], *, public_url: str
) -> None:
    """Each recipient gets one alert and one email, however often the event arrives."""
    incident = event.payload
    if not incident.incident_id or not incident.school_id:
        log.error("incident event without incident or school id; ignored")
        return
    categories = [{"id": c.id, "name": c.name} for c in incident.categories]
    # The alert dates from when the incident was recorded, not from when this
    # consumer caught up, so the dashboard's order is the order of events.
    created_at = _time_of(incident, "recorded_at") or event.occurred_at
    occurred_at = _time_of(incident, "occurred_at")
    alerted = emailed = 0
    for recipient in distinct_recipients(incident.recipients):
        alert_id = await uow.session.scalar(
            pg_insert(AlertRecord)
            .values(
                id=uuid.uuid4(),
                user_id=recipient.user_id,
                incident_id=incident.incident_id,
                school_id=incident.school_id,
                student_id=incident.student.id,
                student_display_name=incident.student.display_name,
                categories=categories,
                recorded_by_id=incident.recorded_by.id,
                recorded_by_name=incident.recorded_by.name,
                occurred_at=occurred_at,
                created_at=created_at,
            )
            .on_conflict_do_nothing(index_elements=["user_id", "incident_id"])
            .returning(AlertRecord.id)
        )
        if alert_id is None:
            continue  # alerted already (the same incident sent again): no second email
        alerted += 1
        if not is_deliverable_address(recipient.email):
            log.warning("alerted member has no usable email address", user_id=recipient.user_id)
            continue
        email = incident_alert_email(
            recipient=recipient.email,
            school_name=incident.school_name or "your school",
            public_url=public_url,
        )
        await queue_email(uow.session, email)
        emailed += 1
    log.info(
        "incident alerts recorded",
        incident_id=incident.incident_id,
        school_id=incident.school_id,
        alerts=alerted,
        emails=emailed,
    )


async def on_password_reset_requested(
    uow: UnitOfWork, event: Event[PasswordResetRequested]
) -> None:
    """Email the reset link, saying how long it lasts and what to do if it was not asked for."""
    request = event.payload
    if not is_deliverable_address(request.email) or not request.reset_url:
        log.error(
            "password reset event without a usable address or link; ignored",
            user_id=request.user_id,
        )
        return
    expires_at = request.expires_at.ToDatetime(tzinfo=UTC)
    now = datetime.now(UTC)
    if expires_at <= now:
        # A dead link helps no one; the member can simply ask again.
        log.warning("password reset link expired before it could be sent", user_id=request.user_id)
        return
    email = password_reset_email(
        recipient=request.email,
        name=request.name,
        reset_url=request.reset_url,
        expires_at=expires_at,
        now=now,
    )
    await queue_email(uow.session, email)
    log.info("password reset email queued", user_id=request.user_id)


async def on_password_changed(uow: UnitOfWork, event: Event[PasswordChanged]) -> None:
    """Tell the member their password changed, so a change they did not make is noticed."""
    change = event.payload
    if not is_deliverable_address(change.email):
        log.error("password change event without a usable address; ignored", user_id=change.user_id)
        return
    changed_at = _time_of(change, "changed_at") or event.occurred_at
    email = password_changed_email(recipient=change.email, name=change.name, changed_at=changed_at)
    await queue_email(uow.session, email)
    log.info("password changed email queued", user_id=change.user_id)


async def on_soft_key_reset(uow: UnitOfWork, event: Event[SoftKeyReset]) -> None:
    """Tell the member an administrator reset their soft key, so they set it up again.

    A reset they did not expect is a sign someone is after their account, so
    the email says whom to tell.
    """
    reset = event.payload
    if not is_deliverable_address(reset.email):
        log.error("soft key reset event without a usable address; ignored", user_id=reset.user_id)
        return
    reset_at = _time_of(reset, "reset_at") or event.occurred_at
    email = soft_key_reset_email(
        recipient=reset.email,
        name=reset.name,
        reset_by_name=reset.reset_by_name,
        reset_at=reset_at,
    )
    await queue_email(uow.session, email)
    log.info("soft key reset email queued", user_id=reset.user_id)


# -- queries and commands from the dashboard -----------------------------------


@dataclass(frozen=True)
class AlertPage:
    items: list[AlertView]
    next_cursor: str
    unread_count: int


async def list_alerts(
    uow: UnitOfWork, principal: Principal, *, limit: int, cursor: str
) -> AlertPage:
    """The caller's own alerts in the schools their token allows, newest first."""
    try:
        size = page_size(limit)
        after = AlertCursor.decode(cursor) if cursor else None
    except InvalidPageSize as error:
        raise ValidationFailed([FieldViolation("limit", str(error))]) from None
    except InvalidCursor as error:
        raise ValidationFailed([FieldViolation("cursor", str(error))]) from None
    schools = list(principal.schools)
    if not schools:
        return AlertPage([], "", 0)
    mine = (AlertRecord.user_id == principal.user_id, AlertRecord.school_id.in_(schools))
    query = select(AlertRecord).where(*mine)
    if after is not None:
        query = query.where(
            tuple_(AlertRecord.created_at, AlertRecord.id) < tuple_(after.at, after.id)
        )
    query = query.order_by(AlertRecord.created_at.desc(), AlertRecord.id.desc()).limit(size + 1)
    rows = list((await uow.session.scalars(query)).all())
    next_cursor = ""
    if len(rows) > size:
        rows = rows[:size]
        next_cursor = AlertCursor(rows[-1].created_at, rows[-1].id).encode()
    unread = await uow.session.scalar(
        select(func.count()).select_from(AlertRecord).where(*mine, AlertRecord.read_at.is_(None))
    )
    return AlertPage([_view(row) for row in rows], next_cursor, int(unread or 0))


def _view(alert: AlertRecord) -> AlertView:
    return AlertView(
        id=alert.id,
        incident_id=alert.incident_id,
        school_id=alert.school_id,
        student_id=alert.student_id,
        student_display_name=alert.student_display_name,
        categories=[NamedRef(c.get("id", ""), c.get("name", "")) for c in alert.categories],
        recorded_by=NamedRef(alert.recorded_by_id, alert.recorded_by_name),
        occurred_at=alert.occurred_at,
        created_at=alert.created_at,
        read_at=alert.read_at,
    )


async def mark_alert_read(uow: UnitOfWork, principal: Principal, alert_id: str) -> None:
    """Mark one of the caller's own alerts read; marking it again changes nothing."""
    try:
        wanted = uuid.UUID(alert_id)
    except ValueError:
        raise NotFound("no such alert") from None
    marked = await uow.session.scalar(
        update(AlertRecord)
        .where(
            AlertRecord.id == wanted,
            AlertRecord.user_id == principal.user_id,
            AlertRecord.school_id.in_(list(principal.schools)),
        )
        .values(read_at=func.coalesce(AlertRecord.read_at, func.now()))
        .returning(AlertRecord.id)
    )
    # Someone else's alert and one that does not exist look the same.
    if marked is None:
        raise NotFound("no such alert")
    await uow.commit()


def _time_of(message: Message, field: str) -> datetime | None:
    """A timestamp field as an aware datetime, or None if the producer left it unset."""
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)
