"""The first trust, school and admin, created from the command line (`haven admin bootstrap`).

It talks to identity's database directly (nothing else exists yet to ask), in
one unit of work, and leaves SchoolCreated in the outbox for the identity
service's relay to publish. Running it again with the same names changes
nothing and returns the same ids, so scripts may run it on every deploy. It
logs nothing: the CLI prints the ids as JSON on stdout, which must stay clean.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import select

from haven_identity.adapters import audit_log
from haven_identity.adapters.audit_log import Actor, Subject
from haven_identity.adapters.directory import find_school, find_trust_by_name, find_user_by_email
from haven_identity.adapters.orm import Membership, Trust, TrustRole, User
from haven_identity.app import MIGRATIONS_DIR
from haven_identity.domain.audit import AuditAction
from haven_identity.domain.emails import InvalidEmail, canonical_email
from haven_identity.domain.roles import ADMIN, TRUST_ADMIN
from haven_identity.service_layer.dependencies import PRODUCER
from haven_identity.service_layer.directory import (
    MAX_SCHOOL_NAME_LENGTH,
    add_school,
    checked_school_name,
)
from haven_runtime.db import Database, libpq_url
from haven_runtime.errors import FieldViolation, ValidationFailed
from haven_runtime.migrations import upgrade_async

# Two bootstraps at once (two replicas of a deploy job) take turns, so they
# cannot both decide that the trust is missing and both create it, nor both
# create the tables. The lock is held on its own connection for the whole run:
# haven_runtime.migrations releases its own lock before the migration commits,
# so on its own it does not keep two first migrations apart.
BOOTSTRAP_LOCK_ID = 0x4A5EE2


@asynccontextmanager
async def _one_bootstrap_at_a_time(database_url: str) -> AsyncIterator[None]:
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", BOOTSTRAP_LOCK_ID)
        yield
    finally:
        await connection.close()  # ending the session releases the lock


def _checked(
    trust: str, school: str, admin_email: str, admin_name: str | None
) -> tuple[str, str, str, str]:
    violations: list[FieldViolation] = []
    trust = " ".join(trust.split())
    if not trust:
        violations.append(FieldViolation("trust", "is required"))
    elif len(trust) > MAX_SCHOOL_NAME_LENGTH:
        violations.append(
            FieldViolation("trust", f"must be at most {MAX_SCHOOL_NAME_LENGTH} characters")
        )
    try:
        school = checked_school_name(school)
    except ValidationFailed as error:
        violations += [FieldViolation("school", v.message) for v in error.violations]
    email = ""
    try:
        email = canonical_email(admin_email)
    except InvalidEmail as error:
        violations.append(FieldViolation("admin_email", str(error)))
    name = " ".join((admin_name or "").split()) or email.partition("@")[0]
    if violations:
        raise ValidationFailed(violations)
    return trust, school, email, name


async def bootstrap(
    database_url: str,
    trust: str,
    school: str,
    admin_email: str,
    admin_name: str | None = None,
) -> dict[str, str]:
    """Create (or find) the trust, its school and their admin; returns their ids.

    The result is {"trust_id", "school_id", "admin_user_id"}. The admin is
    trust_admin of the trust and admin of the school, and has no password:
    they register through the password-reset email. An existing trust (by
    name), school (by trust and name) and person (by email, any case) are
    reused. Applies identity's migrations first. Raises ValidationFailed for
    unusable names or email.
    """
    trust_name, school_name, email, name = _checked(trust, school, admin_email, admin_name)
    async with _one_bootstrap_at_a_time(database_url):
        await upgrade_async(MIGRATIONS_DIR, database_url)
        return await _create_or_find(database_url, trust_name, school_name, email, name)


async def _create_or_find(
    database_url: str, trust_name: str, school_name: str, email: str, name: str
) -> dict[str, str]:
    db = Database(database_url, pool_size=1)
    try:
        async with db.unit_of_work(PRODUCER) as uow:
            session = uow.session
            trust_row = await find_trust_by_name(session, trust_name)
            if trust_row is None:
                trust_row = Trust(name=trust_name)
                session.add(trust_row)
                await session.flush()
            school_row = await find_school(session, trust_row.id, school_name)
            if school_row is None:
                school_row = await add_school(uow, trust_row.id, school_name)
            user = await find_user_by_email(session, email)
            if user is None:
                user = User(email=email, name=name)
                session.add(user)
                await session.flush()
            membership = await session.get(Membership, (user.id, school_row.id))
            given: list[tuple[str | None, str]] = []
            if membership is None:
                session.add(Membership(user_id=user.id, school_id=school_row.id, role=ADMIN))
                given.append((None, ADMIN))
            elif membership.role != ADMIN:
                given.append((membership.role, ADMIN))
                membership.role = ADMIN
            has_trust_role = await session.scalar(
                select(TrustRole.role).where(
                    TrustRole.user_id == user.id,
                    TrustRole.trust_id == trust_row.id,
                    TrustRole.role == TRUST_ADMIN,
                )
            )
            if has_trust_role is None:
                session.add(TrustRole(user_id=user.id, trust_id=trust_row.id, role=TRUST_ADMIN))
                given.append((None, TRUST_ADMIN))
            # Roles given from the command line are audited like any other.
            await audit_log.record_rows(
                session,
                [
                    audit_log.audit_row(
                        AuditAction.ROLE_CHANGED,
                        actor=Actor(None, "haven admin bootstrap"),
                        subject=Subject(user.id, user.email),
                        school_id=school_row.id if role == ADMIN else None,
                        trust_id=trust_row.id,
                        detail={"from": before, "to": role, "by": "bootstrap"},
                    )
                    for before, role in given
                ],
            )
            result = {
                "trust_id": str(trust_row.id),
                "school_id": str(school_row.id),
                "admin_user_id": str(user.id),
            }
            await uow.commit()
    finally:
        await db.dispose()
    return result


def bootstrap_sync(
    database_url: str,
    trust: str,
    school: str,
    admin_email: str,
    admin_name: str | None = None,
) -> dict[str, str]:
    """`bootstrap` for callers without an event loop (the `haven` CLI)."""
    return asyncio.run(bootstrap(database_url, trust, school, admin_email, admin_name))
