"""The rules of an imported pupil row."""

from __future__ import annotations

from datetime import date

import pytest

from haven_incidents.domain.students import (
    StudentInput,
    StudentRecord,
    normalise_year_group,
    validate_import,
    validate_row,
)

TODAY = date(2026, 3, 1)


def row(line: int = 2, **fields: str) -> StudentInput:
    values = {
        "upn": "A123456789012",
        "first_name": "Zoë",
        "last_name": "Smith",
        "year_group": "5",
        "date_of_birth": "2016-09-01",
    }
    values.update(fields)
    return StudentInput(line=line, **values)


def fields_in_error(**fields: str) -> list[str]:
    result = validate_row(row(**fields), TODAY)
    assert isinstance(result, list), result
    return [e.field for e in result]


def test_a_good_row_becomes_a_pupil() -> None:
    result = validate_row(row(first_name="  Zoë  ", last_name="Smith  Jones"), TODAY)
    assert result == StudentRecord("A123456789012", "Zoë", "Smith Jones", "5", date(2016, 9, 1))
    assert isinstance(result, StudentRecord)
    assert result.name_words == [("first", "zoe"), ("last", "smith"), ("last", "jones")]


@pytest.mark.parametrize("upn", ["a123456789012", " A123 4567 89012 ", "Z12345678901A"])
def test_a_upn_is_a_letter_and_twelve_digits_in_any_case_or_a_temporary_one(upn: str) -> None:
    result = validate_row(row(upn=upn), TODAY)
    assert isinstance(result, StudentRecord)
    assert result.upn == upn.replace(" ", "").upper()


@pytest.mark.parametrize(
    "upn", ["", "A12345678901", "A1234567890123", "1123456789012", "AB23456789012"]
)
def test_a_malformed_upn_is_refused(upn: str) -> None:
    assert fields_in_error(upn=upn) == ["upn"]


def test_names_are_required_and_at_most_100_characters() -> None:
    assert fields_in_error(first_name=" ", last_name="x" * 101) == ["first_name", "last_name"]
    assert isinstance(validate_row(row(last_name="x" * 100), TODAY), StudentRecord)
    assert fields_in_error(first_name="--") == ["first_name"]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("R", "R"),
        ("r", "R"),
        ("YR", "R"),
        ("Reception", "R"),
        ("N", "N"),
        ("N1", "N1"),
        ("Nursery", "N"),
        ("1", "1"),
        ("Year 7", "7"),
        ("Y13", "13"),
        (" 10 ", "10"),
    ],
)
def test_year_groups_are_read_as_schools_write_them(given: str, stored: str) -> None:
    assert normalise_year_group(given) == stored
    result = validate_row(row(year_group=given), TODAY)
    assert isinstance(result, StudentRecord) and result.year_group == stored


@pytest.mark.parametrize("year_group", ["", "0", "14", "Year 14", "Y", "P5"])
def test_an_unknown_year_group_is_refused(year_group: str) -> None:
    assert fields_in_error(year_group=year_group) == ["year_group"]


@pytest.mark.parametrize("born", ["", "01/09/2016", "2016-13-01", "2026-03-02"])
def test_a_date_of_birth_is_an_iso_date_not_in_the_future(born: str) -> None:
    assert fields_in_error(date_of_birth=born) == ["date_of_birth"]
    assert isinstance(validate_row(row(date_of_birth="2026-03-01"), TODAY), StudentRecord)


def test_an_import_keeps_good_rows_and_reports_each_bad_one_with_its_line() -> None:
    checked = validate_import(
        [
            row(2),
            row(3, upn="bad", year_group="99"),
            row(4, upn="a123456789012", first_name="Again"),
            row(5, upn="B123456789012"),
        ],
        TODAY,
    )
    assert [r.upn for r in checked.records] == ["A123456789012", "B123456789012"]
    assert [(e.line, e.field) for e in checked.errors] == [
        (3, "upn"),
        (3, "year_group"),
        (4, "upn"),
    ]
    assert "line 2" in checked.errors[-1].message
