"""Queries over trusts, schools, people and their roles."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from haven_identity.adapters.orm import Membership, School, Trust, TrustRole, User
from haven_identity.domain.roles import SchoolRef, SchoolRole, effective_school_roles


def parse_id(value: str) -> uuid.UUID | None:
    """A UUID from a request, or None: a malformed id is just an id that matches nothing."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


def parse_ids(values: Iterable[str]) -> list[uuid.UUID]:
    return [i for i in (parse_id(v) for v in values) if i is not None]


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def find_trust_by_name(session: AsyncSession, name: str) -> Trust | None:
    return await session.scalar(select(Trust).where(Trust.name == name))


async def find_school(session: AsyncSession, trust_id: uuid.UUID, name: str) -> School | None:
    return await session.scalar(
        select(School).where(School.trust_id == trust_id, School.name == name)
    )


def _ref(school: School) -> SchoolRef:
    return SchoolRef(id=str(school.id), name=school.name, trust_id=str(school.trust_id))


async def roles_of(
    session: AsyncSession, user_id: uuid.UUID
) -> tuple[dict[str, SchoolRole], list[tuple[str, str]]]:
    """A person's effective role in each school, and their trust roles, read afresh."""
    memberships = (
        await session.execute(
            select(School, Membership.role)
            .join(Membership, Membership.school_id == School.id)
            .where(Membership.user_id == user_id)
        )
    ).all()
    trust_roles = [
        (str(trust_id), role)
        for trust_id, role in (
            await session.execute(
                select(TrustRole.trust_id, TrustRole.role)
                .where(TrustRole.user_id == user_id)
                .order_by(TrustRole.trust_id, TrustRole.role)
            )
        ).all()
    ]
    trust_schools: list[School] = []
    if trust_roles:
        trust_ids = {uuid.UUID(trust_id) for trust_id, _ in trust_roles}
        trust_schools = list(
            (await session.scalars(select(School).where(School.trust_id.in_(trust_ids)))).all()
        )
    schools = effective_school_roles(
        [(_ref(school), role) for school, role in memberships],
        trust_roles,
        [_ref(school) for school in trust_schools],
    )
    return schools, trust_roles


async def names_around(session: AsyncSession, user_id: uuid.UUID) -> tuple[list[str], list[str]]:
    """The names of a person's schools and trusts (they count against their password)."""
    schools, trust_roles = await roles_of(session, user_id)
    trust_ids = {uuid.UUID(r.school.trust_id) for r in schools.values()}
    trust_ids |= {uuid.UUID(trust_id) for trust_id, _ in trust_roles}
    trust_names: list[str] = []
    if trust_ids:
        trust_names = list(
            (await session.scalars(select(Trust.name).where(Trust.id.in_(trust_ids)))).all()
        )
    return sorted(r.school.name for r in schools.values()), sorted(trust_names)
