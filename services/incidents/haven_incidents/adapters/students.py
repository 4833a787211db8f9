"""Storing pupils and finding them by name."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Select, Table, and_, case, delete, func, insert, literal_column, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from haven_incidents.adapters.orm import Student, StudentNameWord
from haven_incidents.domain.names import prefix_upper_bound
from haven_incidents.domain.students import StudentRecord

students = cast(Table, Student.__table__)
name_words = cast(Table, StudentNameWord.__table__)


@dataclass(frozen=True)
class UpsertCounts:
    created: int
    updated: int


async def upsert_students(
    session: AsyncSession, school_id: str, records: Sequence[StudentRecord]
) -> UpsertCounts:
    """Insert new pupils and update known ones (by UPN) in one statement.

    `xmax = 0` in RETURNING is true only for rows this statement inserted: an
    updated row carries the updating transaction's id in xmax.
    """
    if not records:
        return UpsertCounts(0, 0)
    insert_students = pg_insert(students)
    stmt = insert_students.on_conflict_do_update(
        constraint="students_school_upn",
        set_={
            "first_name": insert_students.excluded.first_name,
            "last_name": insert_students.excluded.last_name,
            "year_group": insert_students.excluded.year_group,
            "date_of_birth": insert_students.excluded.date_of_birth,
            "search_first": insert_students.excluded.search_first,
            "search_last": insert_students.excluded.search_last,
            "updated_at": func.now(),
        },
    ).returning(students.c.id, students.c.upn, literal_column("xmax = 0").label("inserted"))
    rows = (
        await session.execute(
            stmt,
            [
                {
                    "id": uuid.uuid4(),
                    "school_id": school_id,
                    "upn": r.upn,
                    "first_name": r.first_name,
                    "last_name": r.last_name,
                    "year_group": r.year_group,
                    "date_of_birth": r.date_of_birth,
                    "search_first": r.search_first,
                    "search_last": r.search_last,
                }
                for r in records
            ],
        )
    ).all()
    id_of = {row.upn: row.id for row in rows}
    await _replace_name_words(session, school_id, [(id_of[r.upn], r) for r in records])
    created = sum(1 for row in rows if row.inserted)
    return UpsertCounts(created=created, updated=len(rows) - created)


async def _replace_name_words(
    session: AsyncSession, school_id: str, pupils: Sequence[tuple[uuid.UUID, StudentRecord]]
) -> None:
    await session.execute(
        delete(name_words).where(name_words.c.student_id.in_([pid for pid, _ in pupils]))
    )
    words = [
        {"student_id": pid, "position": position, "school_id": school_id, "word": word}
        for pid, record in pupils
        for position, (_, word) in enumerate(record.name_words)
    ]
    if words:
        await session.execute(insert(name_words), words)


def search_query(
    school_ids: Sequence[str], query_words: Sequence[str], limit: int
) -> Select[tuple[Student, int]]:
    """Pupils each of whose query words starts a different word of their name.

    Best first: the surname starts with the query ("smi", "smith j"), then the
    first name does ("jo", "jo sm"), then any other word; alphabetical within.
    The longest word drives the index; the others join on the same pupil.
    """
    ordered = sorted(query_words, key=len, reverse=True)
    aliases = [name_words.alias(f"w{i}") for i in range(len(ordered))]
    lead = aliases[0]
    hits = select(lead.c.student_id).where(
        lead.c.school_id.in_(school_ids), *_starts_with(lead, ordered[0])
    )
    for index in range(1, len(ordered)):
        word = aliases[index]
        hits = hits.join(
            word,
            and_(
                word.c.student_id == lead.c.student_id,
                word.c.position.not_in([a.c.position for a in aliases[:index]]),
                *_starts_with(word, ordered[index]),
            ),
        )
    matched = hits.distinct().subquery("matched")

    # The query's words, in the order typed, start the name's words in order:
    # "smith j" -> ^smith\S* j against "smith john". Words are letters and
    # digits only, so they need no escaping in the pattern.
    in_order = "^" + r"\S* ".join(query_words)
    last_first = Student.search_last + " " + Student.search_first
    first_last = Student.search_first + " " + Student.search_last
    rank = case(
        (last_first.regexp_match(in_order), 0),
        (first_last.regexp_match(in_order), 1),
        else_=2,
    ).label("rank")
    return (
        select(Student, rank)
        .join(matched, matched.c.student_id == Student.id)
        .order_by(rank, Student.search_last, Student.search_first, Student.id)
        .limit(limit)
    )


def _starts_with(words_table, prefix: str) -> list:  # type: ignore[no-untyped-def]
    return [words_table.c.word >= prefix, words_table.c.word < prefix_upper_bound(prefix)]


async def students_in_school(
    session: AsyncSession, school_id: str, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Student]:
    if not ids:
        return {}
    rows = await session.scalars(
        select(Student).where(Student.school_id == school_id, Student.id.in_(ids))
    )
    return {s.id: s for s in rows}
