"""Trust roles: who holds trust_dsl or trust_admin across every school of a trust.

Only a trust_admin of the trust grants or revokes them; to anyone else the
trust does not exist (NotFound). A trust DSL is often employed by the trust
rather than a school, so granting a role to an email without an account
creates one without a password: they register through the password-reset
email like all staff. A trust always keeps at least one trust_admin. Both
changes are audited for the trust's admins and count from the holder's next
request (Authenticate reads roles afresh every time).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from haven_identity.adapters import audit_log
from haven_identity.adapters.audit_log import Actor, Subject
from haven_identity.adapters.directory import parse_id
from haven_identity.adapters.orm import Trust, TrustRole, User
from haven_identity.domain.audit import AuditAction
from haven_identity.domain.emails import InvalidEmail, canonical_email
from haven_identity.domain.roles import TRUST_ADMIN, TRUST_ROLES
from haven_identity.domain.staff_import import MAX_NAME_LENGTH
from haven_identity.service_layer.dependencies import PRODUCER, Dependencies
from haven_runtime.auth import Principal
from haven_runtime.errors import FailedPrecondition, FieldViolation, NotFound, ValidationFailed
from haven_runtime.logging import get_logger

log = get_logger(__name__)


class LastTrustAdmin(FailedPrecondition):
    reason = "last_trust_admin"

    def __init__(self) -> None:
        super().__init__("a trust must keep at least one trust_admin")


@dataclass(frozen=True)
class Granted:
    user_id: uuid.UUID
    account_created: bool
    role_added: bool


def _trust_of(principal: Principal, trust_id: str) -> uuid.UUID:
    trust = parse_id(trust_id)
    if trust is None or not principal.is_trust_admin_of(str(trust)):
        raise NotFound("trust not found")
    return trust


def _checked_role(role: str) -> str:
    if role not in TRUST_ROLES:
        raise ValidationFailed([FieldViolation("role", f"must be one of {', '.join(TRUST_ROLES)}")])
    return role


async def grant_trust_role(
    deps: Dependencies, principal: Principal, trust_id: str, email: str, name: str, role: str
) -> Granted:
    trust_uuid = _trust_of(principal, trust_id)
    violations = []
    try:
        email = canonical_email(email)
    except InvalidEmail as error:
        violations.append(FieldViolation("email", str(error) if email.strip() else "is required"))
    name = " ".join(name.split())
    if len(name) > MAX_NAME_LENGTH:
        violations.append(FieldViolation("name", f"must be at most {MAX_NAME_LENGTH} characters"))
    if role not in TRUST_ROLES:
        violations.append(FieldViolation("role", f"must be one of {', '.join(TRUST_ROLES)}"))
    if violations:
        raise ValidationFailed(violations)
    async with deps.db.unit_of_work(PRODUCER) as uow:
        if await uow.session.get(Trust, trust_uuid) is None:
            raise NotFound("trust not found")
        created_id = None
        user_id = await uow.session.scalar(select(User.id).where(User.email == email))
        if user_id is None:
            if not name:
                raise ValidationFailed([FieldViolation("name", "is required for a new account")])
            # Insert-or-find, so two admins granting to the same new email at once agree.
            created_id = await uow.session.scalar(
                pg_insert(User)
                .values(id=uuid.uuid4(), email=email, name=name)
                .on_conflict_do_nothing(index_elements=[User.email])
                .returning(User.id)
            )
            user_id = (
                created_id
                or (
                    await uow.session.execute(select(User.id).where(User.email == email))
                ).scalar_one()
            )
        added = await uow.session.scalar(
            pg_insert(TrustRole)
            .values(user_id=user_id, trust_id=trust_uuid, role=role)
            .on_conflict_do_nothing()
            .returning(TrustRole.role)
        )
        await audit_log.record(
            uow.session,
            AuditAction.TRUST_ROLE_GRANTED,
            actor=Actor.of(principal),
            subject=Subject(user_id, email),
            trust_id=trust_uuid,
            detail={"role": role, "account_created": created_id is not None, "added": bool(added)},
        )
        await uow.commit()
    log.info("trust role granted", trust_id=str(trust_uuid), target_user_id=str(user_id), role=role)
    return Granted(user_id, created_id is not None, added is not None)


async def revoke_trust_role(
    deps: Dependencies, principal: Principal, trust_id: str, user_id: str, role: str
) -> None:
    trust_uuid = _trust_of(principal, trust_id)
    role = _checked_role(role)
    target = parse_id(user_id)
    async with deps.db.unit_of_work(PRODUCER) as uow:
        # Every trust_admin row of the trust locked, so two revocations cannot both pass
        # the last-admin check.
        admins = set(
            await uow.session.scalars(
                select(TrustRole.user_id)
                .where(TrustRole.trust_id == trust_uuid, TrustRole.role == TRUST_ADMIN)
                .with_for_update()
            )
        )
        user = await uow.session.get(User, target) if target else None
        held = (
            await uow.session.scalar(
                select(func.count())
                .select_from(TrustRole)
                .where(
                    TrustRole.trust_id == trust_uuid,
                    TrustRole.user_id == user.id,
                    TrustRole.role == role,
                )
            )
            if user
            else 0
        )
        if user is None or not held:
            raise NotFound("trust role not found")
        if role == TRUST_ADMIN and admins == {user.id}:
            raise LastTrustAdmin()
        await audit_log.record(
            uow.session,
            AuditAction.TRUST_ROLE_REVOKED,
            actor=Actor.of(principal),
            subject=Subject(user.id, user.email),
            trust_id=trust_uuid,
            detail={"role": role},
        )
        await uow.session.execute(
            delete(TrustRole).where(
                TrustRole.trust_id == trust_uuid,
                TrustRole.user_id == user.id,
                TrustRole.role == role,
            )
        )
        await uow.commit()
    log.info("trust role revoked", trust_id=str(trust_uuid), target_user_id=str(user.id), role=role)
