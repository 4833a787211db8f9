"""Bodies of the soft key, elevation, sessions, account administration and audit endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from haven_gateway.inputs import Code, Password, StrictBody
from haven_gateway.schemas import IncidentOut, Time

# --- the soft key and elevation ---------------------------------------------


class TotpSetupIn(StrictBody):
    password: Password


class TotpSetupOut(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str


class CodeIn(StrictBody):
    """A six-digit code from the authenticator app, or (to elevate) an unused recovery code."""

    code: Code


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class ElevateOut(BaseModel):
    token: str
    csrf_token: str
    elevated_until: Time | None
    expires_at: Time | None


# --- sessions ---------------------------------------------------------------


class SessionOut(BaseModel):
    id: str
    created_at: Time | None
    last_seen_at: Time | None
    client: str
    current: bool
    client_address: str
    elevated_until: Time | None
    expires_at: Time | None


class SessionList(BaseModel):
    items: list[SessionOut]
    next_cursor: str | None = None


# --- audit ------------------------------------------------------------------


class AuditActorOut(BaseModel):
    id: str
    name: str


class AuditSubjectOut(BaseModel):
    id: str | None
    email: str | None


class AuditEventOut(BaseModel):
    id: str
    at: Time | None
    action: str
    actor: AuditActorOut | None
    subject: AuditSubjectOut | None
    school_id: str | None
    trust_id: str | None
    client_address: str | None
    detail: dict[str, Any]


class AuditList(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None


# --- chronology -------------------------------------------------------------


class IncidentList(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None
