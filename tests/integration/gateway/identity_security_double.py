"""The identity double's sessions, soft key, elevation, administration and audit RPCs.

A mixin of the Identity double (gateway_doubles.py): it shares its users,
sessions and record. The rules are the real service's in miniature, enough for
the gateway's side of each promise to be tested: codes are single-use, an
elevated session gets a new token and the old one ends, a disabled account's
sessions end at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from google.protobuf.timestamp_pb2 import Timestamp

from haven.identity.v1 import identity_pb2
from haven_runtime.context import current_principal
from haven_runtime.errors import (
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    Unauthenticated,
    ValidationFailed,
)

if TYPE_CHECKING:
    from .gateway_doubles import Record, Session

GOOD_CODE = "123456"
THROTTLED_CODE = "999999"  # the double answers it as the tenth wrong code in a row
SECRET = "JBSWY3DPEHPK3PXP"


def when(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


@dataclass
class SoftKeys:
    """Who has a soft key, who has one pending, and which codes are spent."""

    enrolled: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    spent: set[tuple[str, str]] = field(default_factory=set)
    recovery: dict[str, set[str]] = field(default_factory=dict)

    def use(self, user_id: str, code: str) -> bool:
        """Spend a code once: a replay is refused like a wrong code."""
        fresh = (user_id, code) not in self.spent
        if code == GOOD_CODE and fresh:
            self.spent.add((user_id, code))
            return True
        if code in self.recovery.get(user_id, set()):
            self.recovery[user_id].discard(code)
            return True
        return False


class SecurityRpcs:
    record: Record
    sessions: dict[str, Session]
    accounts: dict[str, tuple[str, identity_pb2.User]]
    users: dict[str, identity_pb2.User]
    soft_keys: SoftKeys
    disabled: set[str]

    def _session_of_caller(self) -> tuple[str, Session]:
        principal = current_principal()
        for token, session in self.sessions.items():
            if session.session_id == principal.session_id:
                return token, session
        raise Unauthenticated("session ended")

    def _end_sessions_of(self, user_id: str) -> None:
        for token in [t for t, s in self.sessions.items() if s.user.id == user_id]:
            del self.sessions[token]

    async def ListSessions(self, request, context):
        self.record.add("ListSessions", request, context)
        principal = current_principal()
        return identity_pb2.ListSessionsResponse(
            items=[
                identity_pb2.SessionInfo(
                    id=s.session_id,
                    created_at=when(s.created_at),
                    last_seen_at=when(s.created_at + timedelta(minutes=5)),
                    client=s.client,
                    client_address=s.client_address,
                    current=s.session_id == principal.session_id,
                    expires_at=when(s.created_at + timedelta(hours=12)),
                )
                for s in self.sessions.values()
                if s.user.id == principal.user_id
            ]
        )

    async def RevokeSession(self, request, context):
        self.record.add("RevokeSession", request, context)
        principal = current_principal()
        for token, s in list(self.sessions.items()):
            if s.session_id == request.session_id and s.user.id == principal.user_id:
                del self.sessions[token]
                return identity_pb2.RevokeSessionResponse()
        raise NotFound("no such session")

    async def SetupTotp(self, request, context):
        self.record.add("SetupTotp", request, context)
        principal = current_principal()
        password, _ = self.accounts.get(principal.email, ("", None))
        if not password or request.password != password:
            raise Unauthenticated("wrong password", reason="invalid_credentials")
        if principal.user_id in self.soft_keys.enrolled:
            raise FailedPrecondition("already enrolled", reason="totp_already_enrolled")
        self.soft_keys.pending.add(principal.user_id)
        return identity_pb2.SetupTotpResponse(
            secret=SECRET,
            otpauth_uri=f"otpauth://totp/Haven:{principal.email}?secret={SECRET}&issuer=Haven",
            qr_svg="<svg xmlns='http://www.w3.org/2000/svg'></svg>",
        )

    async def ConfirmTotp(self, request, context):
        self.record.add("ConfirmTotp", request, context)
        user_id = current_principal().user_id
        if user_id not in self.soft_keys.pending or not self.soft_keys.use(user_id, request.code):
            # Deliberately not the API's 422: the gateway holds each endpoint to its contract.
            raise Unauthenticated("wrong code", reason="invalid_code")
        self.soft_keys.pending.discard(user_id)
        self.soft_keys.enrolled.add(user_id)
        codes = [f"rc-{n:02d}-{uuid.uuid4().hex[:6]}" for n in range(10)]
        self.soft_keys.recovery[user_id] = set(codes)
        return identity_pb2.ConfirmTotpResponse(recovery_codes=codes)

    async def Elevate(self, request, context):
        self.record.add("Elevate", request, context)
        token, session = self._session_of_caller()
        if request.session_token != token:
            raise PermissionDenied("not the caller's session")
        user_id = session.user.id
        if user_id not in self.soft_keys.enrolled:
            raise FailedPrecondition("no soft key", reason="totp_not_enrolled")
        if request.code == THROTTLED_CODE:
            raise TooManyRequests("wait", reason="too_many_requests", retry_after=90)
        if not self.soft_keys.use(user_id, request.code):
            raise ValidationFailed([], reason="invalid_code")
        del self.sessions[token]
        session.session_id = str(uuid.uuid4())
        session.csrf_token = f"csrf-{uuid.uuid4().hex}"
        session.elevated_until = datetime.now(UTC) + timedelta(minutes=20)
        new_token = f"session-{uuid.uuid4().hex}"
        self.sessions[new_token] = session
        return identity_pb2.ElevateResponse(
            session_token=new_token,
            csrf_token=session.csrf_token,
            elevated_until=when(session.elevated_until),
            expires_at=when(datetime(2030, 1, 1, 8, tzinfo=UTC)),
        )

    def _admin_target(self, user_id: str) -> identity_pb2.User:
        principal = current_principal()
        if "admin" not in principal.schools.values():
            raise PermissionDenied("admins only")
        if user_id not in self.users:
            raise NotFound("no such user")
        return self.users[user_id]

    async def UnlockUser(self, request, context):
        self.record.add("UnlockUser", request, context)
        self._admin_target(request.user_id)
        return identity_pb2.UnlockUserResponse()

    async def ResetTotp(self, request, context):
        self.record.add("ResetTotp", request, context)
        self._admin_target(request.user_id)
        self.soft_keys.enrolled.discard(request.user_id)
        return identity_pb2.ResetTotpResponse()

    async def SetUserDisabled(self, request, context):
        self.record.add("SetUserDisabled", request, context)
        self._admin_target(request.user_id)
        if request.disabled:
            self.disabled.add(request.user_id)
            self._end_sessions_of(request.user_id)
        else:
            self.disabled.discard(request.user_id)
        return identity_pb2.SetUserDisabledResponse()

    async def RemoveMembership(self, request, context):
        self.record.add("RemoveMembership", request, context)
        member = self._admin_target(request.user_id)
        kept = [m for m in member.memberships if m.school_id != request.school_id]
        if len(kept) == len(member.memberships):
            raise NotFound("not a member of that school")
        del member.memberships[:]
        member.memberships.extend(kept)
        return identity_pb2.RemoveMembershipResponse()

    async def ListAuditEvents(self, request, context):
        self.record.add("ListAuditEvents", request, context)
        principal = current_principal()
        if request.school_id and not principal.is_admin_of(request.school_id):
            raise NotFound("no such school")
        return identity_pb2.ListAuditEventsResponse(
            items=[
                identity_pb2.AuditEvent(
                    id="ev-2",
                    at=when(datetime(2026, 11, 30, 10, 5, tzinfo=UTC)),
                    action="login_failed",
                    subject_email="who@nowhere.org",
                    client_address="203.0.113.9",
                    detail='{"reason": "unknown_email"}',
                ),
                identity_pb2.AuditEvent(
                    id="ev-1",
                    at=when(datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
                    action="totp_reset",
                    actor_id=principal.user_id,
                    actor_name=principal.name,
                    subject_user_id="u-alice",
                    subject_email="alice@school.org",
                    school_id=request.school_id,
                    trust_id="t-1",
                    client_address="127.0.0.1",
                    detail="",
                ),
            ],
            next_cursor="page-2" if not request.cursor else "",
        )
