"""The rules of a new incident, and who may read one."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from haven_incidents.domain.access import may_read_incident, school_of_caller, searchable_schools
from haven_incidents.domain.incidents import (
    BodyMarkInput,
    IncidentDraft,
    KnownIds,
    StaffMember,
    check_draft,
    recipients,
)
from haven_runtime.auth import Principal
from haven_runtime.errors import NotFound, ValidationFailed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KNOWN = KnownIds(
    students=frozenset({"pupil", "friend"}),
    categories=frozenset({"bullying", "neglect"}),
    agencies=frozenset({"police"}),
    staff=frozenset({"teacher", "dsl"}),
)


def draft(**fields) -> IncidentDraft:  # type: ignore[no-untyped-def]
    values = {"student_id": "pupil", "description": "What happened.", "category_ids": ["bullying"]}
    values.update(fields)
    return IncidentDraft(**values)


def violations(**fields) -> list[str]:  # type: ignore[no-untyped-def]
    return [v.field for v in check_draft(draft(**fields), KNOWN, NOW).violations]


def test_a_complete_draft_passes_with_duplicates_dropped_and_marks_numbered() -> None:
    checked = check_draft(
        draft(
            category_ids=["bullying", "neglect", "bullying"],
            linked_student_ids=["friend", "friend"],
            body_map=[
                BodyMarkInput("front", 0.0, 1.0, " bruise "),
                BodyMarkInput("back", 0.5, 0.5, ""),
            ],
            alert_staff_ids=["teacher", "dsl", "teacher"],
            agency_ids=["police"],
            file_ids=["f1", "f1"],
        ),
        KNOWN,
        NOW,
    )
    assert checked.violations == []
    assert checked.category_ids == ["bullying", "neglect"]
    assert checked.linked_student_ids == ["friend"]
    assert checked.alert_staff_ids == ["teacher", "dsl"]
    assert checked.file_ids == ["f1"]
    assert [(m.number, m.side, m.note) for m in checked.body_map] == [
        (1, "front", "bruise"),
        (2, "back", ""),
    ]
    assert checked.occurred_at == NOW


def test_every_broken_rule_is_reported_by_its_field() -> None:
    assert violations(
        student_id="stranger",
        description=" ",
        category_ids=[],
        linked_student_ids=["stranger", "nobody", ""],
        body_map=[BodyMarkInput("side", math.nan, 2.0, "x" * 501)],
        occurred_at=NOW + timedelta(minutes=6),
        alert_staff_ids=["parent"],
        agency_ids=["mi5"],
        file_ids=[" "],
    ) == [
        "student_id",
        "description",
        "category_ids",
        "linked_student_ids[0]",
        "linked_student_ids[1]",
        "linked_student_ids[2]",
        "body_map[0].side",
        "body_map[0].x",
        "body_map[0].y",
        "body_map[0].note",
        "occurred_at",
        "alert_staff_ids[0]",
        "agency_ids[0]",
        "file_ids[0]",
    ]


def test_the_description_holds_up_to_20000_characters() -> None:
    assert violations(description="x" * 20_000) == []
    assert violations(description="x" * 20_001) == ["description"]


def test_a_time_a_few_minutes_ahead_is_clock_skew_not_the_future() -> None:
    assert violations(occurred_at=NOW + timedelta(minutes=5)) == []
    assert violations(occurred_at=NOW - timedelta(days=400)) == []


def test_unknown_categories_are_reported_one_by_one() -> None:
    assert violations(category_ids=["bullying", "other-school", "nonsense"]) == [
        "category_ids[1]",
        "category_ids[2]",
    ]


def test_recipients_are_the_named_staff_then_the_dsls_each_once() -> None:
    teacher = StaffMember("t", "Teacher", "t@example.org")
    dsl = StaffMember("d", "Dee", "d@example.org")
    dsl2 = StaffMember("e", "Eve", "e@example.org")
    result = recipients([teacher, dsl], [dsl2, dsl])
    assert [(r.id, r.named) for r in result] == [("t", True), ("d", True), ("e", False)]
    assert recipients([], []) == []


def principal(schools: dict[str, str], user_id: str = "me") -> Principal:
    return Principal(
        user_id=user_id, session_id="s", name="Me", email="me@example.org", schools=schools
    )


def test_the_school_may_be_left_out_by_a_member_of_only_one() -> None:
    assert school_of_caller(principal({"a": "staff"}), "") == "a"
    assert school_of_caller(principal({"a": "staff", "b": "dsl"}), "b") == "b"
    with pytest.raises(ValidationFailed):
        school_of_caller(principal({"a": "staff", "b": "dsl"}), "")
    with pytest.raises(NotFound):
        school_of_caller(principal({"a": "staff"}), "b")
    with pytest.raises(NotFound):
        school_of_caller(principal({}), "")
    with pytest.raises(NotFound):
        searchable_schools(principal({"a": "staff"}), "b")
    assert searchable_schools(principal({"b": "staff", "a": "dsl"}), "") == ["a", "b"]


@pytest.mark.parametrize(
    ("user_id", "schools", "may"),
    [
        ("author", {"s": "staff"}, True),
        ("named", {"s": "staff"}, True),
        ("anyone", {"s": "dsl"}, True),
        ("anyone", {"s": "staff"}, False),
        ("anyone", {"s": "admin"}, False),
        ("named", {"t": "staff"}, False),
        ("author", {"t": "dsl"}, False),
    ],
)
def test_an_incident_is_read_by_its_author_the_named_staff_and_the_schools_dsls(
    user_id: str, schools: dict[str, str], may: bool
) -> None:
    assert (
        may_read_incident(
            principal(schools, user_id),
            school_id="s",
            recorded_by="author",
            alerted_staff_ids={"named"},
        )
        is may
    )
