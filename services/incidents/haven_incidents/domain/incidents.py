"""The rules of a new incident record.

The service layer looks up which ids exist in the school (pupils, categories,
agencies in this database; staff in identity) and hands the answers here; this
module decides, and reports every problem at once so the form can show them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from haven_runtime.errors import FieldViolation

MAX_DESCRIPTION_LENGTH = 20_000
MAX_NOTE_LENGTH = 500
MAX_BODY_MARKS = 100
MAX_LIST_LENGTH = 100
MAX_IDEMPOTENCY_KEY_LENGTH = 200
# Devices' clocks drift; a time a few minutes ahead is "now", not the future.
CLOCK_SKEW = timedelta(minutes=5)
# Nursery age: nothing at school happened to a pupil younger than this.
YEARS_BEFORE_SCHOOL = 2
SIDES = ("front", "back")


@dataclass(frozen=True)
class BodyMarkInput:
    side: str
    x: float
    y: float
    note: str


@dataclass(frozen=True)
class BodyMark:
    number: int
    side: str
    x: float
    y: float
    note: str


@dataclass(frozen=True)
class IncidentDraft:
    """What the member of staff asked to record, as they sent it."""

    student_id: str
    description: str
    category_ids: Sequence[str]
    linked_student_ids: Sequence[str] = ()
    body_map: Sequence[BodyMarkInput] = ()
    occurred_at: datetime | None = None
    alert_staff_ids: Sequence[str] = ()
    file_ids: Sequence[str] = ()
    agency_ids: Sequence[str] = ()
    idempotency_key: str = ""


@dataclass(frozen=True)
class KnownIds:
    """Which of the draft's ids exist in the school (as the draft spelled them)."""

    students: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    agencies: frozenset[str] = frozenset()
    staff: frozenset[str] = frozenset()
    # Categories and agencies of the school that an admin retired.
    retired_categories: frozenset[str] = frozenset()
    retired_agencies: frozenset[str] = frozenset()
    # The pupil's date of birth, when the school gave one.
    student_born: date | None = None
    # Files that may not be attached, with why (the files service was asked).
    file_problems: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StaffMember:
    id: str
    name: str
    email: str


@dataclass(frozen=True)
class Recipient:
    id: str
    name: str
    email: str
    named: bool  # named by the author, rather than alerted as a DSL


@dataclass
class CheckedIncident:
    """A draft that passed every rule, with duplicates dropped and marks numbered."""

    student_id: str
    description: str
    category_ids: list[str]
    linked_student_ids: list[str]
    body_map: list[BodyMark]
    occurred_at: datetime
    alert_staff_ids: list[str]
    file_ids: list[str]
    agency_ids: list[str]
    violations: list[FieldViolation] = field(default_factory=list)


def unique(ids: Iterable[str]) -> list[str]:
    """The ids in the order given, each once."""
    return list(dict.fromkeys(ids))


def check_draft(draft: IncidentDraft, known: KnownIds, now: datetime) -> CheckedIncident:
    """Apply every rule; the result's `violations` lists each broken one."""
    violations: list[FieldViolation] = []

    def problem(name: str, message: str) -> None:
        violations.append(FieldViolation(name, message))

    if not draft.student_id:
        problem("student_id", "is required")
    elif draft.student_id not in known.students:
        problem("student_id", "is not a pupil of this school")

    if not draft.description.strip():
        problem("description", "is required")
    elif len(draft.description) > MAX_DESCRIPTION_LENGTH:
        problem("description", f"must be at most {MAX_DESCRIPTION_LENGTH} characters")

    if not draft.category_ids:
        problem("category_ids", "choose at least one category")
    _check_each(
        "category_ids",
        draft.category_ids,
        problem,
        lambda c: _entry_rule(c, known.categories, known.retired_categories, "a category"),
    )

    def linked_student_rule(student_id: str) -> str | None:
        if student_id == draft.student_id:
            return "must not be the incident's own pupil"
        return None if student_id in known.students else "is not a pupil of this school"

    _check_each("linked_student_ids", draft.linked_student_ids, problem, linked_student_rule)

    if len(draft.body_map) > MAX_BODY_MARKS:
        problem("body_map", f"must have at most {MAX_BODY_MARKS} marks")
    marks = []
    for index, mark in enumerate(draft.body_map):
        prefix = f"body_map[{index}]"
        if mark.side not in SIDES:
            problem(f"{prefix}.side", "must be front or back")
        for axis, value in (("x", mark.x), ("y", mark.y)):
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                problem(f"{prefix}.{axis}", "must be between 0 and 1")
        if len(mark.note) > MAX_NOTE_LENGTH:
            problem(f"{prefix}.note", f"must be at most {MAX_NOTE_LENGTH} characters")
        marks.append(BodyMark(index + 1, mark.side, mark.x, mark.y, mark.note.strip()))

    occurred_at = draft.occurred_at or now
    if occurred_at > now + CLOCK_SKEW:
        problem("occurred_at", "must not be in the future")
    elif known.student_born is not None and occurred_at < earliest_at_school(known.student_born):
        problem(
            "occurred_at",
            f"must not be before the pupil was {YEARS_BEFORE_SCHOOL} years old",
        )

    _check_each(
        "alert_staff_ids",
        draft.alert_staff_ids,
        problem,
        lambda u: None if u in known.staff else "is not a member of staff of this school",
    )
    _check_each(
        "agency_ids",
        draft.agency_ids,
        problem,
        lambda a: _entry_rule(a, known.agencies, known.retired_agencies, "an agency"),
    )
    _check_each("file_ids", draft.file_ids, problem, lambda f: known.file_problems.get(f.strip()))

    if len(draft.idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        problem("idempotency_key", f"must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters")

    return CheckedIncident(
        student_id=draft.student_id,
        description=draft.description,
        category_ids=unique(draft.category_ids),
        linked_student_ids=unique(draft.linked_student_ids),
        body_map=marks,
        occurred_at=occurred_at,
        alert_staff_ids=unique(draft.alert_staff_ids),
        file_ids=unique(f.strip() for f in draft.file_ids),
        agency_ids=unique(draft.agency_ids),
        violations=violations,
    )


def earliest_at_school(born: date) -> datetime:
    """The first moment the pupil could have been at school (midnight UTC, nursery age)."""
    year = born.year + YEARS_BEFORE_SCHOOL
    try:
        day = born.replace(year=year)
    except ValueError:  # born on 29 February; the birthday is kept on 1 March
        day = date(year, 3, 1)
    return datetime.combine(day, time.min, tzinfo=UTC)


def _entry_rule(
    entry_id: str, active: frozenset[str], retired: frozenset[str], what: str
) -> str | None:
    if entry_id in active:
        return None
    if entry_id in retired:
        return "is retired"
    return f"is not {what} of this school"


def _check_each(
    name: str,
    ids: Sequence[str],
    problem: Callable[[str, str], None],
    rule: Callable[[str], str | None],
) -> None:
    """Report a list that is too long, else each empty or rule-breaking entry by index."""
    if len(ids) > MAX_LIST_LENGTH:
        problem(name, f"must have at most {MAX_LIST_LENGTH} entries")
        return
    for index, value in enumerate(ids):
        message = "must not be empty" if not value.strip() else rule(value)
        if message:
            problem(f"{name}[{index}]", message)


def recipients(named: Sequence[StaffMember], dsls: Sequence[StaffMember]) -> list[Recipient]:
    """Everyone to alert: the staff named, in their order, then the school's DSLs.

    Each person once. The author is alerted only if they named themselves or are
    a DSL, like anyone else.
    """
    result: dict[str, Recipient] = {}
    for member in named:
        result.setdefault(member.id, Recipient(member.id, member.name, member.email, named=True))
    for member in dsls:
        result.setdefault(member.id, Recipient(member.id, member.name, member.email, named=False))
    return list(result.values())
