"""CSV imports: rows carry the physical line they start on; a bad header fails the file."""

from __future__ import annotations

import pytest

from haven_gateway.csv_rows import STAFF_COLUMNS, STUDENT_COLUMNS, CsvFileError, parse_csv


def test_each_row_knows_the_line_it_starts_on_counting_the_header_as_line_1():
    data = (
        b"email,name,role\n"
        b"ann@school.org,Ann Smith,staff\n"
        b"\n"
        b'bob@school.org,"Bob\nJones",dsl\n'
        b"cat@school.org,Cat Lee,admin\n"
    )
    table = parse_csv(data, STAFF_COLUMNS)
    assert [(r.line, r.values["email"]) for r in table.rows] == [
        (2, "ann@school.org"),
        (4, "bob@school.org"),
        (6, "cat@school.org"),
    ]
    assert table.rows[1].values["name"] == "Bob\nJones"
    assert table.errors == []


def test_windows_line_endings_and_an_excel_byte_order_mark_are_read():
    data = (
        "\ufeffupn,first_name,last_name,year_group,date_of_birth\r\n"
        "A123,Zoë,Brontë,7,2014-03-01\r\n"
    )
    table = parse_csv(data.encode(), STUDENT_COLUMNS)
    assert table.rows[0].line == 2
    assert table.rows[0].values == {
        "upn": "A123",
        "first_name": "Zoë",
        "last_name": "Brontë",
        "year_group": "7",
        "date_of_birth": "2014-03-01",
    }


def test_the_header_may_name_columns_in_any_order_and_case():
    table = parse_csv(b" Role ,EMAIL,Name\nstaff,a@b.org,A\n", STAFF_COLUMNS)
    assert table.rows[0].values == {"role": "staff", "email": "a@b.org", "name": "A"}


def test_a_row_with_the_wrong_number_of_values_is_reported_on_its_line_and_skipped():
    data = b"email,name,role\na@b.org,A\nc@d.org,C,staff\ne@f.org,E,staff,extra\n"
    table = parse_csv(data, STAFF_COLUMNS)
    assert [r.line for r in table.rows] == [3]
    assert [(e.line, e.field) for e in table.errors] == [(2, "row"), (4, "row")]
    assert "expected 3 values" in table.errors[0].message


def test_trailing_empty_cells_from_a_spreadsheet_are_ignored():
    table = parse_csv(b"email,name,role,,\na@b.org,A,staff,,\n", STAFF_COLUMNS)
    assert table.errors == []
    assert table.rows[0].values["role"] == "staff"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "no header"),
        (b"\n\n", "no header"),
        (b"ann@school.org,Ann,staff\n", "line 1 must be the header email,name,role"),
        (b"email,name\n", "missing role"),
        (b"email,name,role,notes\n", "unknown 'notes'"),
        (b"email,name,name,role\n", "repeated name"),
    ],
)
def test_a_missing_or_wrong_header_fails_the_whole_file_with_a_clear_message(data, says):
    with pytest.raises(CsvFileError) as caught:
        parse_csv(data, STAFF_COLUMNS)
    assert says in str(caught.value)


def test_a_file_that_is_not_utf8_is_refused_with_advice():
    with pytest.raises(CsvFileError) as caught:
        parse_csv("email,name,role\nz@b.org,Zoë,staff\n".encode("cp1252"), STAFF_COLUMNS)
    assert "UTF-8" in str(caught.value)
