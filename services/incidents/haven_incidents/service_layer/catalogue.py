"""A school's lists of categories and agencies."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from haven_incidents.adapters.orm import Agency, Category, School
from haven_incidents.domain.access import require_admin, school_of_caller
from haven_runtime.auth import Principal
from haven_runtime.db import Database
from haven_runtime.errors import (
    Conflict,
    FailedPrecondition,
    FieldViolation,
    NotFound,
    ValidationFailed,
)
from haven_runtime.logging import get_logger

log = get_logger(__name__)

MAX_NAME_LENGTH = 100

Entry = type[Category] | type[Agency]


async def list_entries(
    db: Database, principal: Principal, model: Entry, school_id: str
) -> list[Category] | list[Agency]:
    """The school's active entries, by name (retired ones are no longer offered)."""
    school_id = school_of_caller(principal, school_id)
    async with db.sessions() as session:
        rows = await session.scalars(
            select(model)
            .where(model.school_id == school_id, model.active, model.retired_at.is_(None))
            .order_by(func.lower(model.name), model.name)
        )
        return list(rows)  # type: ignore[return-value]


async def create_entry(
    db: Database, principal: Principal, model: Entry, school_id: str, name: str
) -> Category | Agency:
    """Add a category or agency; admins only, names unique per school ignoring case."""
    school_id = require_admin(principal, school_id)
    name = " ".join(name.split())
    if not name:
        raise ValidationFailed([FieldViolation("name", "is required")])
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationFailed(
            [FieldViolation("name", f"must be at most {MAX_NAME_LENGTH} characters")]
        )
    async with db.unit_of_work("incidents") as uow:
        if await uow.session.get(School, school_id) is None:
            raise FailedPrecondition("this school is not set up yet", reason="school_not_ready")
        entry_id = (
            await uow.session.execute(
                pg_insert(model)
                .values(id=uuid.uuid4(), school_id=school_id, name=name)
                .on_conflict_do_nothing()
                .returning(model.id)
            )
        ).scalar()
        if entry_id is None:
            raise Conflict(f"{name!r} is already on the list", reason="already_exists")
        await uow.commit()
    return model(id=entry_id, school_id=school_id, name=name, active=True)


async def retire_entry(
    db: Database, principal: Principal, model: Entry, school_id: str, entry_id: str
) -> None:
    """Stop offering a category or agency; admins only. Past incidents keep it by name.

    Retiring one already retired changes nothing (it keeps its first retired_at).
    """
    school_id = require_admin(principal, school_id)
    try:
        parsed = uuid.UUID(entry_id.strip())
    except ValueError:
        raise NotFound("no such entry") from None
    async with db.unit_of_work("incidents") as uow:
        found = (
            await uow.session.execute(
                update(model)
                .where(model.id == parsed, model.school_id == school_id)
                .values(retired_at=func.coalesce(model.retired_at, func.now()))
                .returning(model.id)
            )
        ).first()
        if found is None:
            raise NotFound("no such entry")
        await uow.commit()
    log.info("entry retired", kind=model.__tablename__, school_id=school_id, entry_id=str(parsed))
