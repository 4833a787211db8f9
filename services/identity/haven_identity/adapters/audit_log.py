"""Writing the audit log, in the caller's transaction, so a change and its record go together.

Each event lists the schools and trusts whose admins may read it. An event
about one school (a role changed there) belongs to that school; an event about
an account (a login, a soft-key reset) belongs to every school and trust the
account belonged to at that moment, which is read here, so a later change of
memberships does not rewrite who could see the past.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from haven_identity.adapters.orm import AuditEvent, Membership, School, TrustRole
from haven_identity.domain.audit import AuditAction
from haven_runtime.auth import Principal

MAX_TEXT = 254


@dataclass(frozen=True)
class Actor:
    id: uuid.UUID | None
    name: str = ""

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        try:
            return cls(uuid.UUID(principal.user_id), principal.name)
        except ValueError:
            return cls(None, principal.name)


ANONYMOUS = Actor(None, "")


@dataclass(frozen=True)
class Subject:
    """Whose account an event concerns (the name is not stored; see as_actor)."""

    user_id: uuid.UUID | None
    email: str = ""
    name: str = ""

    def as_actor(self) -> Actor:
        """For what people do to their own account (log in, enrol a soft key...)."""
        return Actor(self.user_id, self.name) if self.user_id else ANONYMOUS


async def scopes_of(
    session: AsyncSession, user_id: uuid.UUID
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """The schools an account is a member of, and the trusts of those and of its trust roles."""
    schools = (
        await session.execute(
            select(Membership.school_id, School.trust_id)
            .join(School, School.id == Membership.school_id)
            .where(Membership.user_id == user_id)
        )
    ).all()
    trust_role_trusts = await session.scalars(
        select(TrustRole.trust_id).where(TrustRole.user_id == user_id)
    )
    school_ids = sorted({s for s, _ in schools})
    trust_ids = sorted({t for _, t in schools} | set(trust_role_trusts))
    return school_ids, trust_ids


def audit_row(
    action: AuditAction,
    *,
    actor: Actor = ANONYMOUS,
    subject: Subject | None = None,
    school_id: uuid.UUID | None = None,
    trust_id: uuid.UUID | None = None,
    school_ids: Iterable[uuid.UUID] = (),
    trust_ids: Iterable[uuid.UUID] = (),
    client_address: str = "",
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One event as a row; the one school or trust it is about is always among its readers."""
    readers_schools = set(school_ids) | ({school_id} if school_id else set())
    readers_trusts = set(trust_ids) | ({trust_id} if trust_id else set())
    return {
        "id": uuid.uuid4(),
        "action": action.value,
        "actor_id": actor.id,
        "actor_name": actor.name[:MAX_TEXT],
        "subject_user_id": subject.user_id if subject else None,
        "subject_email": (subject.email if subject else "")[:MAX_TEXT],
        "school_id": school_id,
        "trust_id": trust_id,
        "school_ids": sorted(readers_schools),
        "trust_ids": sorted(readers_trusts),
        "client_address": client_address[:MAX_TEXT],
        "detail": dict(detail or {}),
    }


async def record(
    session: AsyncSession,
    action: AuditAction,
    *,
    actor: Actor = ANONYMOUS,
    subject: Subject | None = None,
    school_id: uuid.UUID | None = None,
    trust_id: uuid.UUID | None = None,
    client_address: str = "",
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Record an event; its readers are the subject's schools and trusts as of now."""
    school_ids: Sequence[uuid.UUID] = ()
    trust_ids: Sequence[uuid.UUID] = ()
    if subject is not None and subject.user_id is not None:
        school_ids, trust_ids = await scopes_of(session, subject.user_id)
    await record_rows(
        session,
        [
            audit_row(
                action,
                actor=actor,
                subject=subject,
                school_id=school_id,
                trust_id=trust_id,
                school_ids=school_ids,
                trust_ids=trust_ids,
                client_address=client_address,
                detail=detail,
            )
        ],
    )


async def record_rows(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(AuditEvent), list(rows))
