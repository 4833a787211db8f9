"""Who is who: the caller's own account, schools, staff lists, staff import, new schools.

Every query is scoped by the caller's verified token: a school the caller has
no role in answers exactly like a school that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from haven.identity.v1.identity_pb2 import SchoolCreated
from haven_identity.adapters import audit_log
from haven_identity.adapters.audit_log import Actor, Subject
from haven_identity.adapters.directory import find_school, parse_id, parse_ids, roles_of
from haven_identity.adapters.orm import Membership, School, TrustRole, User
from haven_identity.domain.audit import AuditAction
from haven_identity.domain.roles import SCHOOL_ROLES
from haven_identity.domain.staff_import import MAX_ROWS, StaffRowInput, check_staff_rows
from haven_identity.service_layer.dependencies import PRODUCER, Dependencies
from haven_identity.service_layer.views import (
    ImportResult,
    MembershipView,
    SchoolView,
    StaffMemberView,
    UserView,
)
from haven_runtime.auth import Principal
from haven_runtime.db import UnitOfWork
from haven_runtime.errors import (
    Conflict,
    FieldViolation,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from haven_runtime.logging import get_logger

log = get_logger(__name__)

MAX_SCHOOL_NAME_LENGTH = 200
MAX_STAFF_LIST = 1000
MAX_QUERY_LENGTH = 200


async def user_view(
    session: AsyncSession, user: User, *, elevated_until: datetime | None = None
) -> UserView:
    schools, trust_roles = await roles_of(session, user.id)
    memberships = tuple(
        MembershipView(
            school_id=r.school.id,
            school_name=r.school.name,
            trust_id=r.school.trust_id,
            role=r.role,
        )
        for r in sorted(schools.values(), key=lambda r: (r.school.name, r.school.id))
    )
    return UserView(
        id=str(user.id),
        email=user.email,
        name=user.name,
        memberships=memberships,
        trust_roles=tuple(trust_roles),
        elevated_until=elevated_until,
        totp_enrolled=user.totp_secret is not None,
    )


def _school_view(school: School) -> SchoolView:
    return SchoolView(id=str(school.id), name=school.name, trust_id=str(school.trust_id))


def _school_of(principal: Principal, school_id: str) -> uuid.UUID:
    """The school's id if the caller has a role there; otherwise the same NotFound as unknown."""
    parsed = parse_id(school_id)
    if parsed is None or not principal.belongs_to(str(parsed)):
        raise NotFound("school not found")
    return parsed


async def get_me(deps: Dependencies, principal: Principal) -> UserView:
    user_id = parse_id(principal.user_id)
    if user_id is None:
        raise Unauthenticated()
    async with deps.db.read_sessions() as session:
        user = await session.get(User, user_id)
        if user is None or user.disabled:
            raise Unauthenticated()
        return await user_view(session, user, elevated_until=principal.elevated_until)


async def list_schools(deps: Dependencies, principal: Principal) -> list[SchoolView]:
    ids = parse_ids(principal.schools)
    if not ids:
        return []
    async with deps.db.read_sessions() as session:
        schools = await session.scalars(
            select(School).where(School.id.in_(ids)).order_by(School.name, School.id)
        )
        return [_school_view(s) for s in schools]


def _member_view(user: User, membership: Membership) -> StaffMemberView:
    return StaffMemberView(
        id=str(user.id),
        name=user.name,
        email=user.email,
        role=membership.role,
        school_id=str(membership.school_id),
    )


def _prefix_pattern(query: str) -> str:
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


async def list_staff(
    deps: Dependencies,
    principal: Principal,
    school_id: str,
    *,
    query: str = "",
    roles: Sequence[str] = (),
    limit: int = 0,
) -> list[StaffMemberView]:
    """Members of a school the caller belongs to, by name; `query` matches the start of
    the email or of any word of the name. limit 0 means all (up to MAX_STAFF_LIST)."""
    school = _school_of(principal, school_id)
    unknown = [r for r in roles if r not in SCHOOL_ROLES]
    if unknown:
        raise ValidationFailed(
            [FieldViolation("roles", "must each be one of " + ", ".join(SCHOOL_ROLES))]
        )
    if limit < 0:
        raise ValidationFailed([FieldViolation("limit", "must not be negative")])
    if len(query) > MAX_QUERY_LENGTH:
        raise ValidationFailed(
            [FieldViolation("query", f"must be at most {MAX_QUERY_LENGTH} characters")]
        )
    statement = (
        select(User, Membership)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.school_id == school, User.disabled.is_(False))
        .order_by(User.name, User.email)
        .limit(min(limit or MAX_STAFF_LIST, MAX_STAFF_LIST))
    )
    if roles:
        statement = statement.where(Membership.role.in_(list(roles)))
    query = " ".join(query.split())
    if query:
        pattern = _prefix_pattern(query)
        statement = statement.where(
            or_(
                User.name.ilike(pattern, escape="\\"),
                User.name.ilike("% " + pattern, escape="\\"),
                User.email.ilike(pattern, escape="\\"),
            )
        )
    async with deps.db.read_sessions() as session:
        rows = (await session.execute(statement)).all()
    return [_member_view(user, membership) for user, membership in rows]


async def get_staff(
    deps: Dependencies,
    principal: Principal,
    school_id: str,
    user_ids: Sequence[str],
    *,
    with_roles: Sequence[str] = (),
) -> list[StaffMemberView]:
    """Those of `user_ids` who are members of the school (others are simply left
    out), and every member holding one of `with_roles`, in one answer."""
    school = _school_of(principal, school_id)
    ids = parse_ids(user_ids)
    roles = [r for r in dict.fromkeys(with_roles) if r]
    if not ids and not roles:
        return []
    wanted: list[ColumnElement[bool]] = []
    if ids:
        wanted.append(User.id.in_(ids))
    if roles:
        wanted.append(Membership.role.in_(roles))
    async with deps.db.read_sessions() as session:
        rows = (
            await session.execute(
                select(User, Membership)
                .join(Membership, Membership.user_id == User.id)
                .where(
                    Membership.school_id == school,
                    or_(*wanted),
                    User.disabled.is_(False),
                )
                .order_by(User.name, User.email)
                .limit(len(ids) + MAX_STAFF_LIST)
            )
        ).all()
    return [_member_view(user, membership) for user, membership in rows]


async def import_staff(
    deps: Dependencies, principal: Principal, school_id: str, rows: Sequence[StaffRowInput]
) -> ImportResult:
    """Add staff to a school or update their name and role; bad rows are reported and skipped.

    New people get an account without a password: they register through the
    password-reset email like everyone else.
    """
    school_uuid = _school_of(principal, school_id)
    if len(rows) > MAX_ROWS:
        raise ValidationFailed([FieldViolation("items", f"at most {MAX_ROWS} rows per import")])
    good, errors = check_staff_rows(rows)
    created = updated = 0
    async with deps.db.unit_of_work(PRODUCER) as uow:
        school = await uow.session.get(School, school_uuid)
        if school is None:
            raise NotFound("school not found")
        if not (
            principal.is_admin_of(str(school.id))
            or principal.is_trust_admin_of(str(school.trust_id))
        ):
            raise PermissionDenied("only the school's admins may import staff")
        users = {
            u.email: u
            for u in await uow.session.scalars(
                select(User).where(User.email.in_([r.email for r in good])).with_for_update()
            )
        }
        memberships = {
            m.user_id: m
            for m in await uow.session.scalars(
                select(Membership)
                .where(
                    Membership.school_id == school.id,
                    Membership.user_id.in_([u.id for u in users.values()]),
                )
                .with_for_update()
            )
        }
        # An account that also belongs elsewhere keeps its name: importing an email
        # adds the person to this school, it does not hand over their account.
        keep_name = await beyond_reach(uow.session, principal, [u.id for u in users.values()])
        new_people = [
            User(id=uuid.uuid4(), email=row.email, name=row.name)
            for row in good
            if row.email not in users
        ]
        users |= {u.email: u for u in new_people}
        actor = Actor.of(principal)
        role_changes: list[dict[str, object]] = []

        def role_changed(user: User, before: str | None, after: str) -> None:
            # A role given or changed in this school: its admins (and the trust's) may read it.
            role_changes.append(
                audit_log.audit_row(
                    AuditAction.ROLE_CHANGED,
                    actor=actor,
                    subject=Subject(user.id, user.email),
                    school_id=school.id,
                    trust_id=school.trust_id,
                    detail={"from": before, "to": after, "by": "staff_import"},
                )
            )

        try:
            uow.session.add_all(new_people)
            await uow.session.flush()  # the people exist before their memberships refer to them
            for row in good:
                user = users[row.email]
                membership = memberships.get(user.id)
                name = user.name if user.id in keep_name else row.name
                if membership is None:
                    uow.session.add(Membership(user_id=user.id, school_id=school.id, role=row.role))
                    user.name = name
                    role_changed(user, None, row.role)
                    created += 1
                elif user.name != name or membership.role != row.role:
                    if membership.role != row.role:
                        role_changed(user, membership.role, row.role)
                    user.name, membership.role = name, row.role
                    updated += 1
            await audit_log.record_rows(uow.session, role_changes)
            await uow.commit()
        except IntegrityError as error:
            if not _is_unique_violation(error):
                raise
            # Another import added one of these people between our read and our write.
            raise Conflict("the staff list changed during the import; send it again") from None
    log.info(
        "staff imported",
        school_id=str(school_uuid),
        created=created,
        updated=updated,
        rejected_rows=len({e.line for e in errors}),
    )
    return ImportResult(created=created, updated=updated, errors=errors)


async def beyond_reach(
    session: AsyncSession, principal: Principal, user_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of these people who hold a place the caller does not administer.

    That is a school the caller is neither admin nor trust admin of, or a trust
    role in a trust the caller is not trust admin of. Whatever acts on a whole
    account (its name, its soft key, disabling it) is for someone whose reach
    covers all of that person: a school admin can add anyone to their own school
    by email, and must not gain another school's or another trust's member by it.
    """
    if not user_ids:
        return set()
    outside: set[uuid.UUID] = set()
    places = await session.execute(
        select(Membership.user_id, School.id, School.trust_id)
        .join(School, School.id == Membership.school_id)
        .where(Membership.user_id.in_(user_ids))
    )
    for user_id, school_id, trust_id in places:
        if not (
            principal.is_admin_of(str(school_id)) or principal.is_trust_admin_of(str(trust_id))
        ):
            outside.add(user_id)
    roles = await session.execute(
        select(TrustRole.user_id, TrustRole.trust_id).where(TrustRole.user_id.in_(user_ids))
    )
    for user_id, trust_id in roles:
        if not principal.is_trust_admin_of(str(trust_id)):
            outside.add(user_id)
    return outside


def _is_unique_violation(error: IntegrityError) -> bool:
    return getattr(error.orig, "sqlstate", None) == "23505"


def checked_school_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ValidationFailed([FieldViolation("name", "is required")])
    if len(name) > MAX_SCHOOL_NAME_LENGTH:
        raise ValidationFailed(
            [FieldViolation("name", f"must be at most {MAX_SCHOOL_NAME_LENGTH} characters")]
        )
    return name


async def add_school(uow: UnitOfWork, trust_id: uuid.UUID, name: str) -> School:
    """Create a school in this unit of work and tell the other services (SchoolCreated)."""
    school = School(id=uuid.uuid4(), trust_id=trust_id, name=name)
    uow.session.add(school)
    await uow.session.flush()
    uow.publish(SchoolCreated(school_id=str(school.id), trust_id=str(trust_id), name=name))
    return school


async def create_school(
    deps: Dependencies, principal: Principal, trust_id: str, name: str
) -> SchoolView:
    """A trust admin adds a school to their trust."""
    trust = parse_id(trust_id)
    if trust is None or not principal.is_trust_admin_of(str(trust)):
        raise NotFound("trust not found")
    name = checked_school_name(name)
    async with deps.db.unit_of_work(PRODUCER) as uow:
        if await find_school(uow.session, trust, name) is not None:
            raise Conflict("the trust already has a school of that name")
        school = await add_school(uow, trust, name)
        try:
            await uow.commit()
        except IntegrityError as error:
            if not _is_unique_violation(error):
                raise
            raise Conflict("the trust already has a school of that name") from None
    log.info("school created", school_id=str(school.id), trust_id=str(trust))
    return _school_view(school)
