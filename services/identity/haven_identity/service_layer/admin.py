"""What school and trust admins do to members' accounts, each audited.

An admin may act on a person who is a member of a school they administer
(directly, or as trust_admin of its trust). Someone who holds a trust role is
the trust's business: only a trust_admin of that trust may act on them, so a
school admin cannot disable or unlock the people above them. What acts on the
whole account (unlock, soft key reset, disable, enable) needs more: the caller
must administer every school and trust role the person holds, since a school
admin can add anyone to their own school by email and must not gain another
school's or another trust's member that way. Anyone else is NotFound, exactly
like an id that does not exist. Changes take effect on the next request:
Authenticate reads accounts and roles afresh each time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from haven.identity.v1.identity_pb2 import SoftKeyReset
from haven_identity.adapters import audit_log
from haven_identity.adapters.audit_log import Actor, Subject
from haven_identity.adapters.directory import parse_id
from haven_identity.adapters.login_throttle import unlock_account
from haven_identity.adapters.orm import Membership, RecoveryCode, School, Session, TrustRole, User
from haven_identity.domain.audit import AuditAction
from haven_identity.service_layer.dependencies import PRODUCER, Dependencies
from haven_identity.service_layer.directory import beyond_reach
from haven_identity.service_layer.soft_key import NotEnrolled
from haven_runtime.auth import Principal
from haven_runtime.errors import FailedPrecondition, NotFound
from haven_runtime.events import timestamp
from haven_runtime.logging import get_logger

log = get_logger(__name__)


class OwnAccount(FailedPrecondition):
    reason = "own_account"

    def __init__(self) -> None:
        super().__init__("admins cannot disable their own account")


def _administers(principal: Principal, school_id: uuid.UUID, trust_id: uuid.UUID) -> bool:
    return principal.is_admin_of(str(school_id)) or principal.is_trust_admin_of(str(trust_id))


async def _member_for_admin(
    session: AsyncSession, principal: Principal, user_id: str, *, whole_account: bool = True
) -> tuple[User, Actor]:
    """The person, locked for this change, if the caller may act on them; else NotFound.

    `whole_account`: the change reaches the person everywhere, so every place
    they hold must be the caller's to administer.
    """
    target = parse_id(user_id)
    user = (
        await session.scalar(select(User).where(User.id == target).with_for_update())
        if target
        else None
    )
    if user is None:
        raise NotFound("user not found")
    trust_role_trusts = set(
        await session.scalars(select(TrustRole.trust_id).where(TrustRole.user_id == user.id))
    )
    if trust_role_trusts:
        allowed = any(principal.is_trust_admin_of(str(t)) for t in trust_role_trusts)
    else:
        schools = (
            await session.execute(
                select(School.id, School.trust_id)
                .join(Membership, Membership.school_id == School.id)
                .where(Membership.user_id == user.id)
            )
        ).all()
        allowed = any(_administers(principal, s, t) for s, t in schools)
    if allowed and whole_account:
        allowed = user.id not in await beyond_reach(session, principal, [user.id])
    if not allowed:
        raise NotFound("user not found")
    return user, Actor.of(principal)


async def unlock_user(deps: Dependencies, principal: Principal, user_id: str) -> None:
    """Lift a lock (and any login delay); the member can log in again at once."""
    async with deps.db.unit_of_work(PRODUCER) as uow:
        user, actor = await _member_for_admin(uow.session, principal, user_id)
        was_locked = await unlock_account(uow.session, user.id)
        await audit_log.record(
            uow.session,
            AuditAction.USER_UNLOCKED,
            actor=actor,
            subject=Subject(user.id, user.email),
            detail={"was_locked": was_locked},
        )
        await uow.commit()
    log.info("user unlocked", target_user_id=str(user.id), was_locked=was_locked)


async def reset_totp(deps: Dependencies, principal: Principal, user_id: str) -> None:
    """Remove a member's soft key and recovery codes (a lost phone); they are emailed."""
    async with deps.db.unit_of_work(PRODUCER) as uow:
        user, actor = await _member_for_admin(uow.session, principal, user_id)
        if user.totp_secret is None and user.totp_pending_secret is None:
            raise NotEnrolled()
        was_enrolled = user.totp_secret is not None
        await uow.session.execute(
            update(User)
            .where(User.id == user.id)
            .values(
                totp_secret=None,
                totp_pending_secret=None,
                totp_enrolled_at=None,
                totp_last_step=None,
            )
            .execution_options(synchronize_session=False)
        )
        await uow.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        # A step-up made with the removed key ends with it.
        await uow.session.execute(
            update(Session)
            .where(Session.user_id == user.id, Session.elevated_until.is_not(None))
            .values(elevated_until=None)
            .execution_options(synchronize_session=False)
        )
        await audit_log.record(
            uow.session,
            AuditAction.TOTP_RESET,
            actor=actor,
            subject=Subject(user.id, user.email),
            detail={"was_enrolled": was_enrolled},
        )
        uow.publish(
            SoftKeyReset(
                user_id=str(user.id),
                email=user.email,
                name=user.name,
                reset_by_name=actor.name,
                reset_at=timestamp(datetime.now(UTC)),
            )
        )
        await uow.commit()
    log.info("soft key reset", target_user_id=str(user.id))


async def set_user_disabled(
    deps: Dependencies, principal: Principal, user_id: str, disabled: bool
) -> None:
    """Disable (every session ends, no login) or enable an account."""
    async with deps.db.unit_of_work(PRODUCER) as uow:
        user, actor = await _member_for_admin(uow.session, principal, user_id)
        if disabled and str(user.id) == principal.user_id:
            raise OwnAccount()
        changed = user.disabled != disabled
        await uow.session.execute(
            update(User)
            .where(User.id == user.id)
            .values(disabled=disabled)
            .execution_options(synchronize_session=False)
        )
        if disabled:
            await uow.session.execute(
                update(Session)
                .where(Session.user_id == user.id, Session.revoked_at.is_(None))
                .values(revoked_at=func.now())
                .execution_options(synchronize_session=False)
            )
        await audit_log.record(
            uow.session,
            AuditAction.USER_DISABLED if disabled else AuditAction.USER_ENABLED,
            actor=actor,
            subject=Subject(user.id, user.email),
            detail={"changed": changed},
        )
        await uow.commit()
    log.info("user disabled" if disabled else "user enabled", target_user_id=str(user.id))


async def remove_membership(
    deps: Dependencies, principal: Principal, school_id: str, user_id: str
) -> None:
    """Take a member out of a school; their next request no longer carries it."""
    school_uuid = parse_id(school_id)
    async with deps.db.unit_of_work(PRODUCER) as uow:
        school = await uow.session.get(School, school_uuid) if school_uuid else None
        if school is None or not _administers(principal, school.id, school.trust_id):
            raise NotFound("school not found")
        # The person before the membership, in the order staff import locks them.
        user, actor = await _member_for_admin(uow.session, principal, user_id, whole_account=False)
        membership = await uow.session.scalar(
            select(Membership)
            .where(Membership.school_id == school.id, Membership.user_id == user.id)
            .with_for_update()
        )
        if membership is None:
            raise NotFound("membership not found")
        # Recorded before the membership goes, so the school's admins can read it.
        await audit_log.record(
            uow.session,
            AuditAction.MEMBERSHIP_REMOVED,
            actor=actor,
            subject=Subject(user.id, user.email),
            school_id=school.id,
            trust_id=school.trust_id,
            detail={"role": membership.role},
        )
        await uow.session.execute(
            delete(Membership).where(
                Membership.school_id == school.id, Membership.user_id == user.id
            )
        )
        await uow.commit()
    log.info("membership removed", target_user_id=str(user.id), school_id=str(school.id))
