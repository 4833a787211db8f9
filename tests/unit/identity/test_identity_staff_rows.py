"""Checking staff import rows."""

from __future__ import annotations

from haven_identity.domain.staff_import import RowError, StaffRow, StaffRowInput, check_staff_rows


def test_good_rows_are_normalised_and_bad_ones_reported_by_line_and_field():
    good, errors = check_staff_rows(
        [
            StaffRowInput(" Ann@Example.org ", "  Ann   Archer ", " Staff "),
            StaffRowInput("nope", "Bad", "staff"),
            StaffRowInput("cat@example.org", "", "boss"),
        ]
    )
    assert good == [StaffRow(1, "ann@example.org", "Ann Archer", "staff")]
    assert [(e.line, e.field) for e in errors] == [(2, "email"), (3, "name"), (3, "role")]


def test_the_same_email_twice_is_reported_on_the_later_line():
    good, errors = check_staff_rows(
        [StaffRowInput("a@example.org", "A", "staff"), StaffRowInput("A@EXAMPLE.org", "B", "dsl")]
    )
    assert [r.line for r in good] == [1]
    assert errors == [RowError(2, "email", "appears more than once (first on line 1)")]


def test_a_missing_email_says_it_is_required():
    _, errors = check_staff_rows([StaffRowInput("  ", "Name", "staff")])
    assert errors == [RowError(1, "email", "is required")]
