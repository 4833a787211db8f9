"""Rules that use facts looked up elsewhere: age, retired entries, files, who may add or audit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

from haven_incidents.domain.access import may_add_addendum, may_read_views
from haven_incidents.domain.files import FileFacts, file_problems
from haven_incidents.domain.incidents import (
    IncidentDraft,
    KnownIds,
    check_draft,
    earliest_at_school,
)
from haven_runtime.auth import Principal

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KNOWN = KnownIds(
    students=frozenset({"pupil"}),
    categories=frozenset({"bullying"}),
    agencies=frozenset({"police"}),
    retired_categories=frozenset({"old-category"}),
    retired_agencies=frozenset({"old-agency"}),
    student_born=date(2015, 3, 1),
)


def problems(known: KnownIds = KNOWN, **fields) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    values = {"student_id": "pupil", "description": "What happened.", "category_ids": ["bullying"]}
    values.update(fields)
    checked = check_draft(IncidentDraft(**values), known, NOW)
    return [(v.field, v.message) for v in checked.violations]


def test_a_pupil_could_be_at_school_from_their_second_birthday() -> None:
    assert earliest_at_school(date(2015, 3, 1)) == datetime(2017, 3, 1, tzinfo=UTC)
    # Born on 29 February: the second birthday is kept on 1 March.
    assert earliest_at_school(date(2016, 2, 29)) == datetime(2018, 3, 1, tzinfo=UTC)


def test_an_incident_before_the_pupil_was_two_is_refused_on_occurred_at() -> None:
    too_early = datetime(2017, 2, 28, 23, 59, tzinfo=UTC)
    assert [f for f, _ in problems(occurred_at=too_early)] == ["occurred_at"]
    assert problems(occurred_at=datetime(2017, 3, 1, tzinfo=UTC)) == []
    # No date of birth: only "not in the future" applies.
    assert problems(replace(KNOWN, student_born=None), occurred_at=too_early) == []


def test_retired_categories_and_agencies_are_refused_as_retired() -> None:
    assert problems(category_ids=["bullying", "old-category"], agency_ids=["old-agency", "x"]) == [
        ("category_ids[1]", "is retired"),
        ("agency_ids[0]", "is retired"),
        ("agency_ids[1]", "is not an agency of this school"),
    ]


def test_only_files_the_caller_staged_in_the_school_may_be_attached() -> None:
    found = {
        "mine": FileFacts("mine", "school", "staged", "me"),
        "theirs": FileFacts("theirs", "school", "staged", "someone"),
        "elsewhere": FileFacts("elsewhere", "other", "staged", "me"),
        "attached": FileFacts("attached", "school", "attached", "me"),
    }
    wanted = ["mine", "theirs", "elsewhere", "attached", "unknown"]
    reasons = file_problems(wanted, found, school_id="school", user_id="me")
    assert sorted(reasons) == ["attached", "elsewhere", "theirs", "unknown"]
    known = replace(KNOWN, file_problems=reasons)
    assert [f for f, _ in problems(known, file_ids=wanted)] == [
        f"file_ids[{i}]" for i in (1, 2, 3, 4)
    ]


def test_addenda_come_from_the_author_or_a_dsl_and_the_trail_is_for_dsls() -> None:
    def who(user_id: str, role: str, school: str = "s") -> Principal:
        return Principal(
            user_id=user_id, session_id="x", name="N", email="e@x.org", schools={school: role}
        )

    assert may_add_addendum(who("author", "staff"), school_id="s", recorded_by="author")
    assert may_add_addendum(who("dsl", "dsl"), school_id="s", recorded_by="author")
    assert not may_add_addendum(who("other", "staff"), school_id="s", recorded_by="author")
    assert not may_add_addendum(who("author", "staff", "t"), school_id="s", recorded_by="author")
    assert may_read_views(who("dsl", "dsl"), "s")
    assert not may_read_views(who("author", "staff"), "s")
    assert not may_read_views(who("dsl", "dsl", "t"), "s")
