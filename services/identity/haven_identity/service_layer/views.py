"""What the handlers return: plain values the entrypoint turns into protobuf messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from haven_identity.domain.passwords import PasswordStrength
from haven_identity.domain.staff_import import RowError


@dataclass(frozen=True)
class MembershipView:
    school_id: str
    school_name: str
    trust_id: str
    role: str


@dataclass(frozen=True)
class UserView:
    id: str
    email: str
    name: str
    # Effective roles: explicit memberships and those that come through trust roles.
    memberships: tuple[MembershipView, ...]
    trust_roles: tuple[tuple[str, str], ...]
    elevated_until: datetime | None = None
    totp_enrolled: bool = False


@dataclass(frozen=True)
class SchoolView:
    id: str
    name: str
    trust_id: str


@dataclass(frozen=True)
class StaffMemberView:
    id: str
    name: str
    email: str
    role: str
    school_id: str


@dataclass(frozen=True)
class ConfirmResult:
    weak: bool
    strength: PasswordStrength


@dataclass(frozen=True)
class LoginResult:
    session_id: str
    session_token: str
    csrf_token: str
    expires_at: datetime
    user: UserView


@dataclass(frozen=True)
class AuthenticateResult:
    user: UserView
    internal_token: str
    csrf_valid: bool
    session_id: str


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class SessionView:
    id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    client: str
    client_address: str
    current: bool
    elevated_until: datetime | None = None


@dataclass(frozen=True)
class SoftKeySetup:
    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True)
class ElevateResult:
    session_id: str
    session_token: str
    csrf_token: str
    elevated_until: datetime
    expires_at: datetime


@dataclass(frozen=True)
class AuditEventView:
    id: str
    at: datetime
    action: str
    actor_id: str
    actor_name: str
    subject_user_id: str
    subject_email: str
    school_id: str
    trust_id: str
    client_address: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class AuditPage:
    items: list[AuditEventView]
    next_cursor: str = ""
