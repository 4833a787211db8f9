"""Validation errors name fields the way the client wrote them: body_map[0].x."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from haven_gateway.field_paths import field_errors, field_path
from haven_gateway.schemas import IncidentIn


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("body", "body_map", 0, "x"), "body_map[0].x"),
        (("body", "category_ids", 2), "category_ids[2]"),
        (("body", "student_id"), "student_id"),
        (("query", "limit"), "limit"),
        (("header", "Idempotency-Key"), "Idempotency-Key"),
        (("body",), "body"),
        (("items", 3, "email"), "items[3].email"),
        (("matrix", 0, 1), "matrix[0][1]"),
        ((), ""),
    ],
)
def test_a_pydantic_location_becomes_a_field_path(loc, path):
    assert field_path(loc) == path


def incident(**changes):
    body = {
        "student_id": "s1",
        "description": "Arrived with a bruise.",
        "category_ids": ["c1"],
    } | changes
    return IncidentIn.model_validate(body)


def errors_of(**changes) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        incident(**changes)
    return {e.field: e.message for e in field_errors(caught.value.errors())}


def test_a_body_map_mark_off_the_outline_is_reported_on_its_own_coordinate():
    errors = errors_of(
        body_map=[{"side": "front", "x": 0.5, "y": 0.5}, {"side": "back", "x": 1.5, "y": 0}]
    )
    assert list(errors) == ["body_map[1].x"]


def test_an_incident_needs_a_pupil_a_description_and_a_category():
    with pytest.raises(ValidationError) as caught:
        IncidentIn.model_validate({"category_ids": []})
    fields = {e.field for e in field_errors(caught.value.errors())}
    assert fields == {"student_id", "description", "category_ids"}


def test_a_blank_description_is_refused_without_pydantics_prefix():
    assert errors_of(description="   ") == {"description": "must not be blank"}


def test_the_student_may_not_be_linked_to_their_own_incident():
    assert list(errors_of(linked_student_ids=["s2", "s1"])) == ["linked_student_ids"]


def test_an_incident_cannot_have_occurred_in_the_future():
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert errors_of(occurred_at=future) == {"occurred_at": "must not be in the future"}


def test_a_time_without_an_offset_is_refused():
    assert list(errors_of(occurred_at="2026-01-01T10:00:00")) == ["occurred_at"]


def test_the_input_value_is_never_echoed_back():
    secret = "x" * 20_001
    with pytest.raises(ValidationError) as caught:
        incident(description=secret)
    assert all(secret not in e.message for e in field_errors(caught.value.errors()))
