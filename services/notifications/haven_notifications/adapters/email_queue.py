"""The emails table as a queue: queue a message, claim due ones, record each try.

Claiming happens in a short transaction of its own that takes due rows
`FOR UPDATE SKIP LOCKED` (so replicas never claim the same email), marks them
`sending`, counts the try, mints the Message-ID once, and leases the row: its
next_attempt_at moves past the time a send can take. The SMTP conversation
then happens outside any transaction. If the sender dies mid-send, the lease
runs out and the email is claimed again, its last try recorded as "unknown".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import make_msgid

from sqlalchemy import and_, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from haven_notifications.adapters.orm import EmailAttemptRecord, EmailRecord
from haven_notifications.domain.delivery import AttemptOutcome, EmailStatus, NextStep
from haven_notifications.domain.emails import SECRET_BEARING_KINDS, WIPED_BODY, OutgoingEmail
from haven_runtime.db import Database

# The migration's trigger notifies this channel whenever emails are queued.
NOTIFY_CHANNEL = "haven_email"

UNFINISHED = (EmailStatus.QUEUED.value, EmailStatus.SENDING.value)
LOST_TRY = "no outcome was recorded: the sender stopped or timed out mid-send"


@dataclass(frozen=True)
class ClaimedEmail:
    """An email this process may now try to send (try number `attempts`)."""

    id: uuid.UUID
    recipient: str
    subject: str
    text_body: str
    html_body: str
    message_id: str
    created_at: datetime
    attempts: int
    kind: str


async def queue_email(session: AsyncSession, email: OutgoingEmail) -> uuid.UUID:
    """Add an email to the queue inside the caller's transaction."""
    email_id = uuid.uuid4()
    await session.execute(
        insert(EmailRecord).values(
            id=email_id,
            kind=email.kind.value,
            recipient=email.recipient,
            subject=email.subject,
            text_body=email.text_body,
            html_body=email.html_body,
            status=EmailStatus.QUEUED.value,
            expires_at=email.expires_at,
        )
    )
    return email_id


class EmailQueue:
    def __init__(self, db: Database, *, message_id_domain: str):
        self.db = db
        self.message_id_domain = message_id_domain

    async def claim_due(
        self, *, limit: int, lease: timedelta, max_attempts: int
    ) -> list[ClaimedEmail]:
        now = datetime.now(UTC)
        claimed: list[ClaimedEmail] = []
        async with self.db.sessions() as session, session.begin():
            rows = (
                await session.scalars(
                    select(EmailRecord)
                    .where(EmailRecord.status.in_(UNFINISHED), EmailRecord.next_attempt_at <= now)
                    .order_by(EmailRecord.next_attempt_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                if row.expires_at is not None and row.expires_at <= now:
                    row.status = EmailStatus.ABANDONED.value
                    row.last_error = "expired before it could be sent"
                    _wipe_if_secret(row)
                    continue
                if row.status == EmailStatus.SENDING:
                    # A previous claim's lease ran out: that try may or may not
                    # have reached the server.
                    session.add(
                        EmailAttemptRecord(
                            email_id=row.id, outcome=AttemptOutcome.UNKNOWN.value, error=LOST_TRY
                        )
                    )
                    row.last_error = LOST_TRY
                    if row.attempts >= max_attempts:
                        row.status = EmailStatus.ABANDONED.value
                        _wipe_if_secret(row)
                        continue
                row.status = EmailStatus.SENDING.value
                row.attempts += 1
                row.message_id = row.message_id or make_msgid(domain=self.message_id_domain)
                row.next_attempt_at = now + lease
                claimed.append(
                    ClaimedEmail(
                        id=row.id,
                        recipient=row.recipient,
                        subject=row.subject,
                        text_body=row.text_body,
                        html_body=row.html_body,
                        message_id=row.message_id,
                        created_at=row.created_at,
                        attempts=row.attempts,
                        kind=row.kind,
                    )
                )
        return claimed

    async def record_try(
        self, email: ClaimedEmail, outcome: AttemptOutcome, error: str | None, step: NextStep
    ) -> None:
        """Record how a try ended and move the email on (sent, retry later, or abandoned)."""
        now = datetime.now(UTC)
        values: dict[str, object] = {"status": step.status.value}
        if step.status is EmailStatus.SENT:
            values.update(sent_at=now, last_error=None)
        else:
            values["last_error"] = error
        if step.status is EmailStatus.QUEUED:
            values["next_attempt_at"] = now + timedelta(seconds=step.retry_in_seconds)
        elif email.kind in SECRET_BEARING_KINDS:
            # Delivered or given up: the link need not outlive the email in our database.
            values.update(text_body=WIPED_BODY, html_body=WIPED_BODY)
        async with self.db.sessions() as session, session.begin():
            session.add(EmailAttemptRecord(email_id=email.id, outcome=outcome.value, error=error))
            # Only while our claim holds: if the lease ran out and another
            # replica claimed it again, that replica decides its fate.
            await session.execute(
                update(EmailRecord).where(*_still_claimed(email)).values(**values)
            )

    async def renew(self, emails: list[ClaimedEmail], lease: timedelta) -> None:
        """Extend the claim on emails still waiting their turn in this sender's batch,
        so that the lease need only cover one try and a dead sender's emails are
        claimed again soon."""
        if not emails:
            return
        async with self.db.sessions() as session, session.begin():
            await session.execute(
                update(EmailRecord)
                .where(_all_still_claimed(emails))
                .values(next_attempt_at=func.now() + lease)
            )

    async def release(self, emails: list[ClaimedEmail]) -> None:
        """Give back claimed emails that were never tried (the process is stopping)."""
        if not emails:
            return
        async with self.db.sessions() as session, session.begin():
            await session.execute(
                update(EmailRecord)
                .where(_all_still_claimed(emails))
                .values(
                    status=EmailStatus.QUEUED.value,
                    attempts=EmailRecord.attempts - 1,
                    next_attempt_at=func.now(),
                )
            )

    async def next_due_at(self) -> datetime | None:
        """When the earliest unfinished email falls due (None when there is none)."""
        async with self.db.sessions() as session:
            return await session.scalar(
                select(func.min(EmailRecord.next_attempt_at)).where(
                    EmailRecord.status.in_(UNFINISHED)
                )
            )


def _still_claimed(email: ClaimedEmail) -> tuple[ColumnElement[bool], ...]:
    """The row is still this claim's: sending, and not claimed again since (a lease
    that ran out lets another sender claim it, and count one more try)."""
    return (
        EmailRecord.id == email.id,
        EmailRecord.status == EmailStatus.SENDING.value,
        EmailRecord.attempts == email.attempts,
    )


def _all_still_claimed(emails: list[ClaimedEmail]) -> ColumnElement[bool]:
    """`_still_claimed` for several emails in one statement."""
    return and_(
        EmailRecord.status == EmailStatus.SENDING.value,
        tuple_(EmailRecord.id, EmailRecord.attempts).in_(
            [(email.id, email.attempts) for email in emails]
        ),
    )


def _wipe_if_secret(row: EmailRecord) -> None:
    if row.kind in SECRET_BEARING_KINDS:
        row.text_body = row.html_body = WIPED_BODY
