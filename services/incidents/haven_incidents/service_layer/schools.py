"""Schools, as identity announces them."""

from __future__ import annotations

import uuid

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert

from haven.identity.v1.identity_pb2 import SchoolCreated
from haven_incidents.adapters.orm import Agency, Category, School
from haven_incidents.domain.defaults import DEFAULT_AGENCIES, DEFAULT_CATEGORIES
from haven_runtime.db import UnitOfWork
from haven_runtime.events import Event
from haven_runtime.logging import get_logger

log = get_logger(__name__)


async def on_school_created(uow: UnitOfWork, event: Event[SchoolCreated]) -> None:
    """Record the school and give it the default categories and agencies, once.

    The consumer already skips an event id it has handled; a second event for
    the same school (identity re-publishing it) finds the school and changes
    nothing, so an admin's later edits to the lists are never undone.
    """
    school = event.payload
    if not school.school_id:
        log.error("SchoolCreated without a school id; ignored")
        return
    created = await uow.session.execute(
        pg_insert(School)
        .values(id=school.school_id, trust_id=school.trust_id, name=school.name)
        .on_conflict_do_nothing(index_elements=[School.id])
        .returning(School.id)
    )
    if created.first() is None:
        log.info("school already known", school_id=school.school_id)
        return
    await uow.session.execute(
        insert(Category),
        [
            {"id": uuid.uuid4(), "school_id": school.school_id, "name": n}
            for n in DEFAULT_CATEGORIES
        ],
    )
    await uow.session.execute(
        insert(Agency),
        [{"id": uuid.uuid4(), "school_id": school.school_id, "name": n} for n in DEFAULT_AGENCIES],
    )
    log.info("school recorded", school_id=school.school_id)
