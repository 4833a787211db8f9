"""Storing pupils and finding them by name."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import cast

from sqlalchemy import Table, delete, func, insert, literal_column, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from haven_incidents.adapters.orm import Student, StudentNameWord
from haven_incidents.domain import names
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


@dataclass(frozen=True)
class FoundStudent:
    """A pupil as the name search shows them."""

    id: uuid.UUID
    school_id: str
    upn: str
    first_name: str
    last_name: str
    year_group: str
    date_of_birth: date

    @property
    def display_name(self) -> str:
        return names.display_name(self.first_name, self.last_name)


_SHOWN = "s.id, s.school_id, s.upn, s.first_name, s.last_name, s.year_group, s.date_of_birth"
_ORDER = "s.search_last, s.search_first, s.id"


def search_statement(
    school_ids: Sequence[str], query_words: Sequence[str], limit: int
) -> tuple[str, list[object]]:
    """SQL and arguments for pupils each of whose query words starts a different word
    of their name, best first, at most `limit`.

    Three tiers, each in index order: surnames that start with what was typed
    ("smi", "smith j"), then first names ("jo", "jo sm"), then any other word
    ("smith" finds "O'Brien-Smith"), alphabetical by surname within each. A tier
    is read only while the ones before it have not filled the page (a one-time
    filter on their counts), and the surname tier reads (school_id, search_last,
    ...) or (search_last, ...) in order and stops after `limit` rows: one typed
    letter costs `limit` index entries, not every pupil whose name has an S.

    With two or more words, "smith j" means the surname starts with "smith" and
    the next word of the name with "j". For a one-word surname the next word is
    the first name's, so both prefixes are index conditions on (search_last,
    search_first) and only matching entries are fetched; surnames of several
    words are read apart from a partial index of them, and the regular
    expression settles the order of words. The same, mirrored, for first names.

    The text depends only on the number of words and whether there is one
    school, so each shape is prepared once per connection.
    """
    args: list[object] = [school_ids[0] if len(school_ids) == 1 else list(school_ids), limit]

    def param(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    def in_schools(alias: str) -> str:
        return f"{alias}.school_id = $1" if len(school_ids) == 1 else f"{alias}.school_id = ANY($1)"

    def starts(column: str, word: str) -> str:
        return f"{column} >= {param(word)} AND {column} < {param(prefix_upper_bound(word))}"

    def tier(number: int, *conditions: str, gate: str = "") -> str:
        """The tier's rows: each condition read apart, in order, at most `limit` each."""
        shown = f"{_SHOWN}, s.search_last, s.search_first, {number} AS tier"
        parts = [
            " ".join(
                [
                    f"(SELECT {shown} FROM students s WHERE {gate}{in_schools('s')}",  # noqa: S608
                    f"AND {condition} ORDER BY {_ORDER} LIMIT $2)",
                ]
            )
            for condition in conditions
        ]
        return " UNION ALL ".join(parts)

    lead = query_words[0]
    last_lead = starts("s.search_last", lead)
    first_lead = starts("s.search_first", lead)
    if len(query_words) == 1:
        surname = last_lead
        forename = first_lead
        surname_reads: tuple[str, ...] = (surname,)
        forename_reads: tuple[str, ...] = (f"{forename} AND NOT ({surname})",)
    else:
        # The words in the order typed start the name's words in order:
        # "smith j" -> ^smith\S* j against "smith john". Words are letters and
        # digits only, so they need no escaping in the pattern.
        pattern = param("^" + r"\S* ".join(query_words))
        last_first = f"(s.search_last || ' ' || s.search_first) ~ {pattern}"
        first_last = f"(s.search_first || ' ' || s.search_last) ~ {pattern}"
        surname = f"{last_lead} AND {last_first}"
        forename = f"{first_lead} AND {first_last}"
        first_next = starts("s.search_first", query_words[1])
        last_next = starts("s.search_last", query_words[1])
        surname_reads = (
            f"{last_lead} AND {first_next} AND {last_first}",
            f"{last_lead} AND s.search_last LIKE '% %' AND NOT ({first_next}) AND {last_first}",
        )
        forename_reads = tuple(
            f"{read} AND NOT ({surname})"
            for read in (
                f"{first_lead} AND {last_next} AND {first_last}",
                f"{first_lead} AND s.search_first LIKE '% %' AND NOT ({last_next})"
                f" AND {first_last}",
            )
        )

    # Any word order: the longest word drives the (school_id, word) index, the
    # others are probed by primary key for each pupil it found.
    ordered = sorted(query_words, key=len, reverse=True)
    joins = []
    for index in range(1, len(ordered)):
        earlier = ", ".join(f"w{i}.position" for i in range(index))
        joins.append(
            f"JOIN student_name_words w{index} ON w{index}.student_id = w0.student_id"
            f" AND w{index}.position NOT IN ({earlier})"
            f" AND {starts(f'w{index}.word', ordered[index])}"
        )
    # Only fixed fragments and $n placeholders go into the text; every value is bound.
    lead_word = f"{in_schools('w0')} AND {starts('w0.word', ordered[0])}"
    any_order = " ".join(
        ["SELECT w0.student_id FROM student_name_words w0", *joins, "WHERE", lead_word]
    )
    other = f"s.id IN ({any_order}) AND NOT ({surname}) AND NOT ({forename})"
    first_gate = "(SELECT count(*) FROM surname) < $2 AND "
    second_gate = "(SELECT count(*) FROM surname) + (SELECT count(*) FROM forename) < $2 AND "
    sql = f"""
WITH surname AS (
    {tier(0, *surname_reads)}
), forename AS (
    {tier(1, *forename_reads, gate=first_gate)}
), other AS (
    {tier(2, other, gate=second_gate)}
)
SELECT * FROM surname UNION ALL SELECT * FROM forename UNION ALL SELECT * FROM other
ORDER BY tier, search_last, search_first, id
LIMIT $2"""  # noqa: S608
    return sql, args


def found_student(row: Mapping[str, object]) -> FoundStudent:
    return FoundStudent(**{name: row[name] for name in FoundStudent.__dataclass_fields__})  # type: ignore[arg-type]


async def students_in_school(
    session: AsyncSession, school_id: str, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Student]:
    if not ids:
        return {}
    rows = await session.scalars(
        select(Student).where(Student.school_id == school_id, Student.id.in_(ids))
    )
    return {s.id: s for s in rows}
