"""The soft key: enrolling a TOTP authenticator, and stepping up a session with it.

Setting up needs the password again (a stolen session alone cannot attach the
thief's phone). The secret stays pending until a first valid code confirms it,
and is encrypted at rest. Each time-step is accepted once per account: the
newest accepted step is kept, and a code is accepted only by a compare-and-set
that moves it forward, so a replayed code (or the second of two submitted at
once) fails exactly like a wrong one. Recovery codes are stored as keyed
hashes and each is spent by one conditional UPDATE.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from haven_identity.adapters import audit_log
from haven_identity.adapters.audit_log import Subject
from haven_identity.adapters.directory import parse_id
from haven_identity.adapters.orm import RecoveryCode, Session, Trust, User
from haven_identity.adapters.qr_code import qr_svg
from haven_identity.domain import totp
from haven_identity.domain.audit import AuditAction, FailureReason
from haven_identity.domain.passwords import normalise_password
from haven_identity.domain.tokens import TokenPurpose, token_hash
from haven_identity.service_layer.attempts import begin_attempt, record_failure, record_success
from haven_identity.service_layer.dependencies import PRODUCER, Dependencies
from haven_identity.service_layer.errors import (
    InvalidCode,
    InvalidConfirmationCode,
    InvalidCredentials,
)
from haven_identity.service_layer.inputs import check_code, check_password
from haven_identity.service_layer.sessions import (
    OpenedSession,
    find_live_session,
    open_session,
)
from haven_identity.service_layer.views import ElevateResult, SoftKeySetup
from haven_runtime.auth import Principal
from haven_runtime.db import UnitOfWork
from haven_runtime.errors import Conflict, FailedPrecondition, Unauthenticated
from haven_runtime.logging import get_logger

log = get_logger(__name__)


class AlreadyEnrolled(Conflict):
    reason = "totp_already_enrolled"

    def __init__(self) -> None:
        super().__init__("a soft key is already set up; an admin can reset it")


class NotEnrolled(FailedPrecondition):
    reason = "totp_not_enrolled"

    def __init__(self) -> None:
        super().__init__("no soft key is set up for this account")


class SetupNotStarted(FailedPrecondition):
    reason = "totp_setup_required"

    def __init__(self) -> None:
        super().__init__("start the soft key setup first")


def recovery_code_hash(key: str, user_id: uuid.UUID, code: str) -> str:
    return token_hash(key, TokenPurpose.RECOVERY_CODE, f"{user_id}:{code}")


async def _active_user(deps: Dependencies, principal: Principal) -> User:
    user_id = parse_id(principal.user_id)
    async with deps.db.sessions() as session:
        user = await session.get(User, user_id) if user_id else None
    if user is None or user.disabled or user.locked_at is not None:
        raise Unauthenticated()
    return user


def _subject(user: User) -> Subject:
    return Subject(user.id, user.email, user.name)


async def setup_totp(
    deps: Dependencies, principal: Principal, password: str, *, client_address: str = ""
) -> SoftKeySetup:
    """A new pending secret for the caller, after checking their password again."""
    check_password(password)
    user = await _active_user(deps, principal)
    if user.totp_secret is not None:
        raise AlreadyEnrolled()
    attempt = await begin_attempt(
        deps,
        subject=_subject(user),
        client_address=client_address,
        failed_action=AuditAction.LOGIN_FAILED,
        step="totp_setup",
    )
    password = normalise_password(password)
    if attempt.locked or user.password_hash is None:
        await deps.hasher.spend_comparable_time(password)
        proved = False
    else:
        proved = await deps.hasher.verify(user.password_hash, password)
    if not proved:
        reason = FailureReason.LOCKED if attempt.locked else FailureReason.WRONG_PASSWORD
        await record_failure(
            deps,
            attempt,
            action=AuditAction.LOGIN_FAILED,
            reason=reason,
            detail={"step": "totp_setup"},
        )
        raise InvalidCredentials()

    secret = totp.new_secret()
    async with deps.db.unit_of_work(PRODUCER) as uow:
        await record_success(uow, attempt)
        pending = await uow.session.scalar(
            update(User)
            .where(User.id == user.id, User.totp_secret.is_(None))
            .values(totp_pending_secret=deps.totp_box.seal(user.id, secret))
            .returning(User.id)
            .execution_options(synchronize_session=False)
        )
        if pending is None:
            raise AlreadyEnrolled()  # enrolled from another session meanwhile
        await audit_log.record(
            uow.session,
            AuditAction.TOTP_SETUP_STARTED,
            actor=_subject(user).as_actor(),
            subject=_subject(user),
            client_address=client_address,
        )
        await uow.commit()
    log.info("soft key setup started", user_id=str(user.id))
    uri = totp.provisioning_uri(secret, user.email)
    return SoftKeySetup(secret=secret, otpauth_uri=uri, qr_svg=qr_svg(uri))


async def confirm_totp(
    deps: Dependencies, principal: Principal, code: str, *, client_address: str = ""
) -> list[str]:
    """Enrol the pending secret with its first valid code; returns ten recovery codes."""
    check_code(code)
    code = totp.normalise_code(code)
    user = await _active_user(deps, principal)
    if user.totp_secret is not None:
        raise AlreadyEnrolled()
    sealed = user.totp_pending_secret
    if sealed is None:
        raise SetupNotStarted()
    steps = totp.matching_steps(deps.totp_box.open(user.id, sealed), code)
    if not steps:
        raise InvalidConfirmationCode()

    recovery_codes = totp.new_recovery_codes()
    key = deps.settings.secret_key
    async with deps.db.unit_of_work(PRODUCER) as uow:
        enrolled = await uow.session.scalar(
            update(User)
            .where(
                User.id == user.id,
                User.totp_secret.is_(None),
                User.totp_pending_secret == sealed,
            )
            .values(
                totp_secret=sealed,
                totp_pending_secret=None,
                totp_enrolled_at=func.now(),
                # The confirming code is used: it cannot also step up a session.
                totp_last_step=steps[0],
            )
            .returning(User.id)
            .execution_options(synchronize_session=False)
        )
        if enrolled is None:
            # Confirmed from elsewhere, or set up afresh, since we read it.
            raise InvalidConfirmationCode()
        await uow.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        await uow.session.execute(
            insert(RecoveryCode),
            [
                {
                    "id": uuid.uuid4(),
                    "user_id": user.id,
                    "code_hash": recovery_code_hash(
                        key, user.id, totp.normalise_recovery_code(c) or ""
                    ),
                }
                for c in recovery_codes
            ],
        )
        await audit_log.record(
            uow.session,
            AuditAction.TOTP_ENROLLED,
            actor=_subject(user).as_actor(),
            subject=_subject(user),
            client_address=client_address,
            detail={"recovery_codes": len(recovery_codes)},
        )
        await uow.commit()
    log.info("soft key enrolled", user_id=str(user.id))
    return recovery_codes


async def elevation_minutes(session: AsyncSession, deps: Dependencies, user_id: uuid.UUID) -> int:
    """The step-up length: the shortest any of the person's trusts sets, else the default."""
    _, trust_ids = await audit_log.scopes_of(session, user_id)
    shortest = None
    if trust_ids:
        shortest = await session.scalar(
            select(func.min(Trust.elevation_minutes)).where(Trust.id.in_(trust_ids))
        )
    return int(shortest or deps.settings.elevation_minutes)


async def _spend_code(
    uow: UnitOfWork, deps: Dependencies, user_id: uuid.UUID, secret: str, code: str
) -> str | None:
    """Spend a TOTP time-step or a recovery code; how it was proved, or None."""
    for step in totp.matching_steps(secret, code):
        moved = await uow.session.scalar(
            update(User)
            .where(
                User.id == user_id,
                User.totp_secret.is_not(None),
                or_(User.totp_last_step.is_(None), User.totp_last_step < step),
            )
            .values(totp_last_step=step)
            .returning(User.id)
            .execution_options(synchronize_session=False)
        )
        if moved is not None:
            return "totp"
    recovery = totp.normalise_recovery_code(code)
    if recovery is None:
        return None
    spent = await uow.session.scalar(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash
            == recovery_code_hash(deps.settings.secret_key, user_id, recovery),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=func.now())
        .returning(RecoveryCode.id)
        .execution_options(synchronize_session=False)
    )
    return "recovery_code" if spent is not None else None


async def elevate(
    deps: Dependencies,
    principal: Principal | None,
    session_token: str,
    code: str,
    *,
    client_address: str = "",
) -> ElevateResult:
    """Step a session up with a soft-key or recovery code: it is replaced by an elevated one.

    The new session has new tokens (the old ones stop working at once), the
    old one's absolute end, and is elevated for the trust's elevation length.
    """
    check_code(code)
    code = totp.normalise_code(code)
    async with deps.db.sessions() as session:
        found = await find_live_session(session, deps, session_token)
    if found is None:
        raise Unauthenticated()
    old, user = found
    if principal is not None and principal.user_id != str(user.id):
        raise Unauthenticated()
    if user.totp_secret is None:
        raise NotEnrolled()
    subject = _subject(user)
    attempt = await begin_attempt(
        deps,
        subject=subject,
        client_address=client_address,
        failed_action=AuditAction.ELEVATION_FAILED,
        step="elevate",
    )
    if attempt.locked:
        await record_failure(
            deps, attempt, action=AuditAction.ELEVATION_FAILED, reason=FailureReason.LOCKED
        )
        raise InvalidCode()
    secret = deps.totp_box.open(user.id, user.totp_secret)

    async with deps.db.unit_of_work(PRODUCER) as uow:
        method = await _spend_code(uow, deps, user.id, secret, code)
        opened = None
        if method is not None:
            opened = await _replace_with_elevated_session(uow, deps, old, client_address)
            await record_success(uow, attempt)
            await audit_log.record(
                uow.session,
                AuditAction.ELEVATED,
                actor=subject.as_actor(),
                subject=subject,
                client_address=client_address,
                detail={
                    "method": method,
                    "replaced_session_id": str(old.id),
                    "session_id": str(opened.id),
                    "elevated_until": opened.elevated_until.isoformat()
                    if opened.elevated_until
                    else None,
                },
            )
            await uow.commit()
    if opened is None or opened.elevated_until is None:
        await record_failure(
            deps, attempt, action=AuditAction.ELEVATION_FAILED, reason=FailureReason.WRONG_CODE
        )
        raise InvalidCode()
    log.info("session elevated", user_id=str(user.id), session_id=str(opened.id), method=method)
    return ElevateResult(
        session_id=str(opened.id),
        session_token=opened.token,
        csrf_token=opened.csrf_token,
        elevated_until=opened.elevated_until,
        expires_at=opened.expires_at,
    )


async def _replace_with_elevated_session(
    uow: UnitOfWork, deps: Dependencies, old: Session, client_address: str
) -> OpenedSession:
    """End the session and open its elevated successor, which ends when it would have."""
    retired = await uow.session.scalar(
        update(Session)
        .where(Session.id == old.id, Session.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(Session.id)
        .execution_options(synchronize_session=False)
    )
    if retired is None:
        raise Unauthenticated()  # ended meanwhile; rolling back leaves the code unspent
    minutes = await elevation_minutes(uow.session, deps, old.user_id)
    return await open_session(
        uow.session,
        deps,
        old.user_id,
        client=old.client,
        client_address=client_address or old.client_address,
        expires_at=old.expires_at,
        elevated_until=min(datetime.now(UTC) + timedelta(minutes=minutes), old.expires_at),
    )
