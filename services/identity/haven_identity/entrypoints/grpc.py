"""The gRPC servicer: proto request -> handler -> proto response. No rules live here."""

from __future__ import annotations

import json
from collections.abc import Sequence

import grpc

from haven.identity.v1 import identity_pb2 as pb
from haven.identity.v1.identity_pb2_grpc import IdentityServiceServicer
from haven_identity.domain.passwords import PasswordStrength
from haven_identity.domain.staff_import import StaffRowInput
from haven_identity.service_layer import handlers
from haven_identity.service_layer.dependencies import Dependencies
from haven_identity.service_layer.views import (
    AuditEventView,
    SchoolView,
    SessionView,
    StaffMemberView,
    UserView,
)
from haven_runtime.context import current_principal, optional_principal
from haven_runtime.events import timestamp


def user_message(user: UserView) -> pb.User:
    message = pb.User(
        id=user.id,
        email=user.email,
        name=user.name,
        memberships=[
            pb.Membership(
                school_id=m.school_id, school_name=m.school_name, role=m.role, trust_id=m.trust_id
            )
            for m in user.memberships
        ],
        trust_roles=[pb.TrustRole(trust_id=t, role=r) for t, r in user.trust_roles],
        totp_enrolled=user.totp_enrolled,
    )
    if user.elevated_until is not None:
        message.elevated_until.CopyFrom(timestamp(user.elevated_until))
    return message


def strength_message(strength: PasswordStrength) -> pb.PasswordStrength:
    return pb.PasswordStrength(
        score=strength.score,
        label=strength.label,
        acceptable=strength.acceptable,
        warning=strength.warning,
        suggestions=list(strength.suggestions),
    )


def school_message(school: SchoolView) -> pb.School:
    return pb.School(id=school.id, name=school.name, trust_id=school.trust_id)


def staff_message(members: Sequence[StaffMemberView]) -> pb.ListStaffResponse:
    return pb.ListStaffResponse(
        items=[
            pb.StaffMember(id=m.id, name=m.name, email=m.email, role=m.role, school_id=m.school_id)
            for m in members
        ]
    )


def session_message(session: SessionView) -> pb.SessionInfo:
    message = pb.SessionInfo(
        id=session.id,
        created_at=timestamp(session.created_at),
        last_seen_at=timestamp(session.last_seen_at),
        expires_at=timestamp(session.expires_at),
        client=session.client,
        client_address=session.client_address,
        current=session.current,
    )
    if session.elevated_until is not None:
        message.elevated_until.CopyFrom(timestamp(session.elevated_until))
    return message


def audit_message(event: AuditEventView) -> pb.AuditEvent:
    return pb.AuditEvent(
        id=event.id,
        at=timestamp(event.at),
        action=event.action,
        actor_id=event.actor_id,
        actor_name=event.actor_name,
        subject_user_id=event.subject_user_id,
        subject_email=event.subject_email,
        school_id=event.school_id,
        trust_id=event.trust_id,
        client_address=event.client_address,
        detail=json.dumps(event.detail, sort_keys=True),
    )


class IdentityServicer(IdentityServiceServicer):
    def __init__(self, deps: Dependencies):
        self.deps = deps

    # -- public --------------------------------------------------------------
    async def RequestPasswordReset(
        self, request: pb.RequestPasswordResetRequest, context: grpc.aio.ServicerContext
    ) -> pb.RequestPasswordResetResponse:
        await handlers.request_password_reset(self.deps, request.email, request.client_address)
        return pb.RequestPasswordResetResponse()

    async def CheckPasswordStrength(
        self, request: pb.CheckPasswordStrengthRequest, context: grpc.aio.ServicerContext
    ) -> pb.PasswordStrength:
        strength = await handlers.check_password_strength(
            self.deps, request.password, request.token
        )
        return strength_message(strength)

    async def ConfirmPasswordReset(
        self, request: pb.ConfirmPasswordResetRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmPasswordResetResponse:
        result = await handlers.confirm_password_reset(
            self.deps, request.token, request.password, request.client_address
        )
        return pb.ConfirmPasswordResetResponse(
            weak=result.weak, strength=strength_message(result.strength)
        )

    async def Login(
        self, request: pb.LoginRequest, context: grpc.aio.ServicerContext
    ) -> pb.LoginResponse:
        result = await handlers.login(
            self.deps,
            request.email,
            request.password,
            client=request.client,
            client_address=request.client_address,
        )
        return pb.LoginResponse(
            session_token=result.session_token,
            csrf_token=result.csrf_token,
            expires_at=timestamp(result.expires_at),
            user=user_message(result.user),
        )

    async def Authenticate(
        self, request: pb.AuthenticateRequest, context: grpc.aio.ServicerContext
    ) -> pb.AuthenticateResponse:
        result = await handlers.authenticate(self.deps, request.session_token, request.csrf_token)
        return pb.AuthenticateResponse(
            user=user_message(result.user),
            internal_token=result.internal_token,
            csrf_valid=result.csrf_valid,
            session_id=result.session_id,
        )

    # -- for an authenticated caller ------------------------------------------
    async def Logout(
        self, request: pb.LogoutRequest, context: grpc.aio.ServicerContext
    ) -> pb.LogoutResponse:
        # The session token itself proves the right to end that session.
        await handlers.logout(
            self.deps, request.session_token, client_address=request.client_address
        )
        return pb.LogoutResponse()

    async def GetMe(self, request: pb.GetMeRequest, context: grpc.aio.ServicerContext) -> pb.User:
        return user_message(await handlers.get_me(self.deps, current_principal()))

    async def ListSchools(
        self, request: pb.ListSchoolsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSchoolsResponse:
        schools = await handlers.list_schools(self.deps, current_principal())
        return pb.ListSchoolsResponse(items=[school_message(s) for s in schools])

    async def ListStaff(
        self, request: pb.ListStaffRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListStaffResponse:
        members = await handlers.list_staff(
            self.deps,
            current_principal(),
            request.school_id,
            query=request.query,
            roles=list(request.roles),
            limit=request.limit,
        )
        return staff_message(members)

    async def GetStaff(
        self, request: pb.GetStaffRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListStaffResponse:
        members = await handlers.get_staff(
            self.deps,
            current_principal(),
            request.school_id,
            list(request.user_ids),
            with_roles=list(request.with_roles),
        )
        answer = staff_message(members)
        answer.roles_included.extend(dict.fromkeys(r for r in request.with_roles if r))
        return answer

    async def ImportStaff(
        self, request: pb.ImportStaffRequest, context: grpc.aio.ServicerContext
    ) -> pb.ImportStaffResponse:
        rows = [StaffRowInput(email=r.email, name=r.name, role=r.role) for r in request.items]
        result = await handlers.import_staff(
            self.deps, current_principal(), request.school_id, rows
        )
        return pb.ImportStaffResponse(
            created=result.created,
            updated=result.updated,
            errors=[
                pb.ImportError(line=e.line, field=e.field, message=e.message) for e in result.errors
            ],
        )

    async def CreateSchool(
        self, request: pb.CreateSchoolRequest, context: grpc.aio.ServicerContext
    ) -> pb.School:
        school = await handlers.create_school(
            self.deps, current_principal(), request.trust_id, request.name
        )
        return school_message(school)

    # -- sessions of the caller -------------------------------------------------
    async def ListSessions(
        self, request: pb.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSessionsResponse:
        sessions = await handlers.list_sessions(self.deps, current_principal())
        return pb.ListSessionsResponse(items=[session_message(s) for s in sessions])

    async def RevokeSession(
        self, request: pb.RevokeSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeSessionResponse:
        await handlers.revoke_session(
            self.deps,
            current_principal(),
            request.session_id,
            client_address=request.client_address,
        )
        return pb.RevokeSessionResponse()

    # -- the soft key and elevated access ----------------------------------------
    async def SetupTotp(
        self, request: pb.SetupTotpRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetupTotpResponse:
        setup = await handlers.setup_totp(
            self.deps,
            current_principal(),
            request.password,
            client_address=request.client_address,
        )
        return pb.SetupTotpResponse(
            secret=setup.secret, otpauth_uri=setup.otpauth_uri, qr_svg=setup.qr_svg
        )

    async def ConfirmTotp(
        self, request: pb.ConfirmTotpRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmTotpResponse:
        codes = await handlers.confirm_totp(
            self.deps, current_principal(), request.code, client_address=request.client_address
        )
        return pb.ConfirmTotpResponse(recovery_codes=codes)

    async def Elevate(
        self, request: pb.ElevateRequest, context: grpc.aio.ServicerContext
    ) -> pb.ElevateResponse:
        # The session token proves the session; an internal token, when sent,
        # must be the same person's.
        result = await handlers.elevate(
            self.deps,
            optional_principal(),
            request.session_token,
            request.code,
            client_address=request.client_address,
        )
        return pb.ElevateResponse(
            session_token=result.session_token,
            csrf_token=result.csrf_token,
            elevated_until=timestamp(result.elevated_until),
            expires_at=timestamp(result.expires_at),
            session_id=result.session_id,
        )

    # -- administration -------------------------------------------------------------
    async def UnlockUser(
        self, request: pb.UnlockUserRequest, context: grpc.aio.ServicerContext
    ) -> pb.UnlockUserResponse:
        await handlers.unlock_user(self.deps, current_principal(), request.user_id)
        return pb.UnlockUserResponse()

    async def ResetTotp(
        self, request: pb.ResetTotpRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResetTotpResponse:
        await handlers.reset_totp(self.deps, current_principal(), request.user_id)
        return pb.ResetTotpResponse()

    async def SetUserDisabled(
        self, request: pb.SetUserDisabledRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetUserDisabledResponse:
        await handlers.set_user_disabled(
            self.deps, current_principal(), request.user_id, request.disabled
        )
        return pb.SetUserDisabledResponse()

    async def RemoveMembership(
        self, request: pb.RemoveMembershipRequest, context: grpc.aio.ServicerContext
    ) -> pb.RemoveMembershipResponse:
        await handlers.remove_membership(
            self.deps, current_principal(), request.school_id, request.user_id
        )
        return pb.RemoveMembershipResponse()

    async def GrantTrustRole(
        self, request: pb.GrantTrustRoleRequest, context: grpc.aio.ServicerContext
    ) -> pb.GrantTrustRoleResponse:
        granted = await handlers.grant_trust_role(
            self.deps,
            current_principal(),
            request.trust_id,
            request.email,
            request.name,
            request.role,
        )
        return pb.GrantTrustRoleResponse(
            user_id=str(granted.user_id),
            account_created=granted.account_created,
            role_added=granted.role_added,
        )

    async def RevokeTrustRole(
        self, request: pb.RevokeTrustRoleRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeTrustRoleResponse:
        await handlers.revoke_trust_role(
            self.deps, current_principal(), request.trust_id, request.user_id, request.role
        )
        return pb.RevokeTrustRoleResponse()

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAuditEventsResponse:
        page = await handlers.list_audit_events(
            self.deps,
            current_principal(),
            school_id=request.school_id,
            trust_id=request.trust_id,
            limit=request.limit,
            cursor=request.cursor,
        )
        return pb.ListAuditEventsResponse(
            items=[audit_message(e) for e in page.items], next_cursor=page.next_cursor
        )
