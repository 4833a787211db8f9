"""Importing pupils and finding them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from haven_incidents.adapters.students import (
    FoundStudent,
    found_student,
    search_statement,
    upsert_students,
)
from haven_incidents.domain import names
from haven_incidents.domain.access import require_admin, searchable_schools
from haven_incidents.domain.students import RowError, StudentInput, validate_import
from haven_runtime.auth import Principal
from haven_runtime.db import Database
from haven_runtime.errors import FieldViolation, ValidationFailed
from haven_runtime.logging import get_logger

log = get_logger(__name__)

MAX_IMPORT_ROWS = 20_000
DEFAULT_SEARCH_LIMIT = 20
MAX_SEARCH_LIMIT = 100


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    errors: list[RowError]


async def import_students(
    db: Database, principal: Principal, school_id: str, rows: Sequence[StudentInput]
) -> ImportResult:
    """Good rows go in (new UPNs created, known ones updated); each bad row is reported."""
    school_id = require_admin(principal, school_id)
    if len(rows) > MAX_IMPORT_ROWS:
        raise ValidationFailed(
            [FieldViolation("items", f"import at most {MAX_IMPORT_ROWS} pupils at a time")]
        )
    checked = validate_import(list(rows), today=datetime.now(UTC).date())
    async with db.unit_of_work("incidents") as uow:
        counts = await upsert_students(uow.session, school_id, checked.records)
        await uow.commit()
    log.info(
        "pupils imported",
        school_id=school_id,
        created=counts.created,
        updated=counts.updated,
        rejected=len(checked.errors),
    )
    return ImportResult(counts.created, counts.updated, checked.errors)


async def search_students(
    db: Database, principal: Principal, query: str, school_id: str, limit: int
) -> list[FoundStudent]:
    """Pupils of the caller's schools whose names start with what was typed, best first."""
    school_ids = searchable_schools(principal, school_id)
    words = names.words(query)
    if not words or not school_ids:
        return []
    if len(words) > names.MAX_QUERY_WORDS:
        raise ValidationFailed([FieldViolation("q", f"use at most {names.MAX_QUERY_WORDS} words")])
    limit = DEFAULT_SEARCH_LIMIT if limit <= 0 else min(limit, MAX_SEARCH_LIMIT)
    sql, args = search_statement(school_ids, words, limit)
    return [found_student(row) for row in await db.fetch(sql, *args)]
