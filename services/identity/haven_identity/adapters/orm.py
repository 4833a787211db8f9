"""Identity's tables as SQLAlchemy 2 typed models (the schema itself is in migrations/)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def _now_default() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Trust(Base):
    __tablename__ = "trusts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = _now_default()
    # How long a step-up lasts in this trust's schools; None: HAVEN_ELEVATION_MINUTES.
    elevation_minutes: Mapped[int | None] = mapped_column(Integer)


class School(Base):
    __tablename__ = "schools"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    trust_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("trusts.id"))
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_default()


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Canonical (lower-case) form; see domain.emails.
    email: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    # None until the person sets a password through the reset link.
    password_hash: Mapped[str | None] = mapped_column(Text)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = _now_default()
    # Throttling (domain.throttling): consecutive failures, counted before the
    # password is checked; no attempt is checked before login_delayed_until; a
    # locked account stays locked until an admin unlocks it.
    failed_logins: Mapped[int] = mapped_column(Integer, server_default="0")
    login_delayed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    locked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The soft key: TOTP secrets encrypted with AES-GCM (adapters.secret_box).
    # The pending one waits for its first code; totp_last_step is the newest
    # time-step accepted, so no code is accepted twice.
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_pending_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)


class Membership(Base):
    __tablename__ = "memberships"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    school_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("schools.id"), primary_key=True)
    role: Mapped[str] = mapped_column(Text)  # staff | dsl | admin
    created_at: Mapped[datetime] = _now_default()


class TrustRole(Base):
    __tablename__ = "trust_roles"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    trust_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("trusts.id"), primary_key=True)
    role: Mapped[str] = mapped_column(Text, primary_key=True)  # trust_dsl | trust_admin
    created_at: Mapped[datetime] = _now_default()


class Session(Base):
    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(Text, unique=True)
    csrf_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_default()
    last_seen_at: Mapped[datetime] = _now_default()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    client: Mapped[str] = mapped_column(Text, server_default="")
    client_address: Mapped[str] = mapped_column(Text, server_default="")
    # Set by TOTP step-up (Elevate); chronologies need it.
    elevated_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PasswordResetToken(Base):
    __tablename__ = "password_reset_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = _now_default()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_attempts: Mapped[int] = mapped_column(Integer, server_default="0")


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    code_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_default()
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RateLimit(Base):
    """Hits in the current window of a limit ("reset:address:192.0.2.1"), shared by replicas."""

    __tablename__ = "rate_limits"

    bucket: Mapped[str] = mapped_column(Text, primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    hits: Mapped[int] = mapped_column(Integer)


class UnknownLoginThrottle(Base):
    """Login throttling for emails with no account, so they throttle exactly like accounts."""

    __tablename__ = "unknown_login_throttles"

    email_key: Mapped[str] = mapped_column(Text, primary_key=True)
    failed_logins: Mapped[int] = mapped_column(Integer)
    login_delayed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """One line of the append-only audit log (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "audit_events"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )
    action: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_name: Mapped[str] = mapped_column(Text, server_default="")
    subject_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    subject_email: Mapped[str] = mapped_column(Text, server_default="")
    # The one school or trust an event is about, when it is about one...
    school_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    trust_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # ...and every school and trust whose admins may read it (for an event about
    # an account: the schools and trusts the account belonged to at the time).
    school_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), server_default="{}")
    trust_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), server_default="{}")
    client_address: Mapped[str] = mapped_column(Text, server_default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
