"""Who may read a pupil's chronology, and how its pages are addressed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from haven_incidents.domain.access import require_chronology_reader
from haven_incidents.domain.chronology import (
    ChronologyCursor,
    InvalidCursor,
    page_size,
)
from haven_runtime.auth import Principal
from haven_runtime.errors import NotFound, PermissionDenied

# Set when the module is collected, so far enough ahead to outlast the whole run.
LATER = datetime.now(UTC) + timedelta(days=1)
EARLIER = datetime.now(UTC) - timedelta(seconds=1)


def principal(schools: dict[str, str], elevated_until: datetime | None = None) -> Principal:
    return Principal(
        user_id="me",
        session_id="s",
        name="Me",
        email="me@example.org",
        schools=schools,
        elevated_until=elevated_until,
    )


def test_an_elevated_dsl_of_the_pupils_school_may_read_the_chronology() -> None:
    require_chronology_reader(principal({"s": "dsl"}, LATER), "s")


@pytest.mark.parametrize("role", ["staff", "admin"])
@pytest.mark.parametrize("elevated_until", [None, LATER])
def test_members_who_are_not_dsls_are_forbidden_elevated_or_not(
    role: str, elevated_until: datetime | None
) -> None:
    with pytest.raises(PermissionDenied) as refused:
        require_chronology_reader(principal({"s": role}, elevated_until), "s")
    assert refused.value.reason == "forbidden"


@pytest.mark.parametrize("elevated_until", [None, EARLIER])
def test_a_dsl_without_a_live_elevation_is_told_elevation_required(
    elevated_until: datetime | None,
) -> None:
    with pytest.raises(PermissionDenied) as refused:
        require_chronology_reader(principal({"s": "dsl"}, elevated_until), "s")
    assert refused.value.reason == "elevation_required"


def test_a_pupil_of_another_school_is_not_found_even_for_an_elevated_dsl() -> None:
    with pytest.raises(NotFound):
        require_chronology_reader(principal({"t": "dsl"}, LATER), "s")


def test_a_cursor_comes_back_as_the_position_it_was_made_from() -> None:
    cursor = ChronologyCursor(datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC), uuid.uuid4())
    assert ChronologyCursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize(
    "cursor",
    ["not-a-cursor", "e30", "W10", "eyJ0IjogIjIwMjYtMDMtMDFUMDk6MzA6MDAiLCAiaWQiOiAieCJ9", "%%%"],
)
def test_a_cursor_this_service_did_not_make_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        ChronologyCursor.decode(cursor)


def test_a_cursor_without_a_time_zone_is_refused() -> None:
    naive = ChronologyCursor(datetime(2026, 3, 1, 9, 30), uuid.uuid4()).encode()
    with pytest.raises(InvalidCursor):
        ChronologyCursor.decode(naive)


@pytest.mark.parametrize(("limit", "size"), [(0, 20), (-5, 20), (1, 1), (100, 100), (500, 100)])
def test_a_page_holds_20_incidents_unless_asked_and_never_more_than_100(
    limit: int, size: int
) -> None:
    assert page_size(limit) == size
