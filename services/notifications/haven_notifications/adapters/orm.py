"""The notifications database: alerts, and email as an outbox of its own.

Ids that come from other services (users, schools, incidents, pupils) are kept
as text: they are opaque to us. The migration in migrations/versions creates
the same tables; this module is how the code reads and writes them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Integer, Text, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), uuid.UUID: Uuid}


class AlertRecord(Base):
    """One member of staff alerted to one incident (unique per pair)."""

    __tablename__ = "alerts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[str] = mapped_column(Text)
    incident_id: Mapped[str] = mapped_column(Text)
    school_id: Mapped[str] = mapped_column(Text)
    student_id: Mapped[str] = mapped_column(Text)
    student_display_name: Mapped[str] = mapped_column(Text)
    # [{"id": ..., "name": ...}], as the dashboard shows them.
    categories: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    recorded_by_id: Mapped[str] = mapped_column(Text)
    recorded_by_name: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class EmailRecord(Base):
    """An email to one recipient, and where it is in its delivery."""

    __tablename__ = "emails"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_error: Mapped[str | None] = mapped_column(Text)
    # Minted on the first try and kept, so every retry is the same message.
    message_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    sent_at: Mapped[datetime | None]
    # Not sent after this (a reset link that has expired helps no one).
    expires_at: Mapped[datetime | None]


class EmailAttemptRecord(Base):
    """One try at handing an email to the SMTP server, and how it ended."""

    __tablename__ = "email_attempts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    outcome: Mapped[str] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
