"""Importing pupils from the school's MIS, and finding them by name."""

from __future__ import annotations

import uuid

import grpc
import pytest

from haven.incidents.v1 import incidents_pb2 as pb

from .incidents_harness import Incidents, pupil


async def search(
    incidents: Incidents, school_ids: list[str], query: str, school_id: str = "", limit: int = 0
) -> list[str]:
    """display_names found by a member of staff of `school_ids`."""
    staff = incidents.metadata(str(uuid.uuid4()), {s: "staff" for s in school_ids})
    found = await incidents.stub.SearchStudents(
        pb.SearchStudentsRequest(query=query, school_id=school_id, limit=limit), metadata=staff
    )
    return [s.display_name for s in found.items]


async def test_import_reports_bad_rows_by_line_and_field_and_keeps_the_good_ones(
    incidents: Incidents,
) -> None:
    school_id = await incidents.new_school()
    rows = [
        pupil(1, "Amelia", "Jones"),  # line 2
        {**pupil(2, "", "Brown"), "upn": "A12"},  # line 3: two problems
        pupil(3, "Oliver", "Smith", year="14"),  # line 4
        pupil(4, "Isla", "Taylor", dob="2999-01-01"),  # line 5
        pupil(5, "Noah", "Wilson", dob="01/02/2015"),  # line 6
        {**pupil(6, "Ava", "Evans"), "upn": "a000000000006"},  # line 7: lower case is fine
        pupil(1, "Amelia", "Jones-Again"),  # line 8: same UPN as line 2
        pupil(7, "Leo", "X" * 101),  # line 9
    ]
    result = await incidents.import_students(school_id, rows)

    assert (result.created, result.updated) == (2, 0)
    assert sorted((e.line, e.field) for e in result.errors) == [
        (3, "first_name"),
        (3, "upn"),
        (4, "year_group"),
        (5, "date_of_birth"),
        (6, "date_of_birth"),
        (8, "upn"),
        (9, "last_name"),
    ]
    assert all(e.message for e in result.errors)
    stored = await incidents.sql(
        "SELECT upn, first_name, last_name FROM students WHERE school_id = $1 ORDER BY upn",
        school_id,
    )
    assert [tuple(r) for r in stored] == [
        ("A000000000001", "Amelia", "Jones"),
        ("A000000000006", "Ava", "Evans"),
    ]


async def test_importing_again_updates_pupils_by_upn(incidents: Incidents) -> None:
    school_id = await incidents.new_school()
    first = await incidents.import_students(
        school_id, [pupil(1, "Amelia", "Jones", year="5"), pupil(2, "Noah", "Wilson")]
    )
    assert (first.created, first.updated) == (2, 0)

    again = await incidents.import_students(
        school_id,
        [
            pupil(1, "Amelia", "Jones-Smith", year="Year 6"),
            pupil(2, "Noah", "Wilson"),
            pupil(3, "Ivy", "Green", year="R"),
        ],
    )
    assert (again.created, again.updated, list(again.errors)) == (1, 2, [])
    stored = await incidents.sql(
        "SELECT upn, last_name, year_group FROM students WHERE school_id = $1 ORDER BY upn",
        school_id,
    )
    assert [tuple(r) for r in stored] == [
        ("A000000000001", "Jones-Smith", "6"),
        ("A000000000002", "Wilson", "5"),
        ("A000000000003", "Green", "R"),
    ]
    # The new surname is searchable, and only once.
    assert await search(incidents, [school_id], "jones sm") == ["Amelia Jones-Smith"]


async def test_only_an_admin_of_the_school_may_import_pupils(incidents: Incidents) -> None:
    school_id = await incidents.new_school()
    request = pb.ImportStudentsRequest(
        school_id=school_id, items=[pb.StudentRow(line=2, **pupil(1, "Amelia", "Jones"))]
    )
    for schools, code in (
        ({school_id: "dsl"}, grpc.StatusCode.PERMISSION_DENIED),
        ({school_id: "staff"}, grpc.StatusCode.PERMISSION_DENIED),
        ({str(uuid.uuid4()): "admin"}, grpc.StatusCode.NOT_FOUND),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await incidents.stub.ImportStudents(
                request, metadata=incidents.metadata(str(uuid.uuid4()), schools)
            )
        assert raised.value.code() == code
    assert await incidents.sql("SELECT 1 FROM students WHERE school_id = $1", school_id) == []


@pytest.fixture(scope="module")
async def class_list(incidents: Incidents) -> tuple[str, str]:
    """A school with pupils whose names test the search, and a second school."""
    school_id = await incidents.new_school("Search Primary")
    other = await incidents.new_school("Other Primary")
    await incidents.import_students(
        school_id,
        [
            pupil(1, "Zoë", "Smith"),
            pupil(2, "John", "Smith"),
            pupil(3, "Jo", "Smithson"),
            pupil(4, "Sam", "Jones"),
            pupil(5, "Anna", "Johnson"),
            pupil(6, "Mary Ann", "O'Brien-Smith"),
            pupil(7, "Józef", "Nowak"),
            pupil(8, "Émile", "Zola"),
        ],
    )
    await incidents.import_students(other, [pupil(1, "Zoe", "Smith"), pupil(2, "Jon", "Snow")])
    return school_id, other


async def test_search_ignores_case_and_accents(
    incidents: Incidents, class_list: tuple[str, str]
) -> None:
    school_id, _ = class_list
    assert await search(incidents, [school_id], "zoe") == ["Zoë Smith"]
    assert await search(incidents, [school_id], "ZOË SMITH") == ["Zoë Smith"]
    assert await search(incidents, [school_id], "jozef") == ["Józef Nowak"]
    assert await search(incidents, [school_id], "obrien") == ["Mary Ann O'Brien-Smith"]


async def test_search_finds_full_names_in_any_word_order(
    incidents: Incidents, class_list: tuple[str, str]
) -> None:
    school_id, _ = class_list
    assert await search(incidents, [school_id], "jo sm") == ["John Smith", "Jo Smithson"]
    assert await search(incidents, [school_id], "smith j") == ["John Smith", "Jo Smithson"]
    assert await search(incidents, [school_id], "mary smith") == ["Mary Ann O'Brien-Smith"]
    assert await search(incidents, [school_id], "smith mary an") == ["Mary Ann O'Brien-Smith"]
    # Each word of the query needs a word of its own.
    assert await search(incidents, [school_id], "smith smith") == []


async def test_search_answers_one_letter_with_surname_matches_first(
    incidents: Incidents, class_list: tuple[str, str]
) -> None:
    school_id, _ = class_list
    assert await search(incidents, [school_id], "j") == [
        "Anna Johnson",  # surnames starting with J, alphabetically
        "Sam Jones",
        "Józef Nowak",  # then first names, by surname
        "John Smith",
        "Jo Smithson",
    ]
    assert await search(incidents, [school_id], "s") == [
        "John Smith",  # surname
        "Zoë Smith",
        "Jo Smithson",
        "Sam Jones",  # first name
        "Mary Ann O'Brien-Smith",  # another word
    ]


async def test_a_page_that_the_surnames_do_not_fill_goes_on_to_first_names_then_other_words(
    incidents: Incidents, class_list: tuple[str, str]
) -> None:
    school_id, other = class_list
    everyone = [
        "John Smith",
        "Zoë Smith",
        "Jo Smithson",
        "Sam Jones",
        "Mary Ann O'Brien-Smith",
    ]
    for limit in range(1, 6):
        assert await search(incidents, [school_id], "s", limit=limit) == everyone[:limit]
    # The same order when the caller searches several schools at once.
    both = await search(incidents, [school_id, other], "s", limit=10)
    assert both[0] == "John Smith"
    assert sorted(both[1:3]) == ["Zoe Smith", "Zoë Smith"]  # the same name: either order
    assert both[3:] == ["Jo Smithson", "Jon Snow", "Sam Jones", "Mary Ann O'Brien-Smith"]


async def test_two_words_follow_names_of_several_words_in_order(incidents: Incidents) -> None:
    school_id = await incidents.new_school("Double Barrel Primary")
    await incidents.import_students(
        school_id,
        [
            pupil(1, "John", "Smith"),
            pupil(2, "Amy", "Smith-Jones"),
            pupil(3, "Jo", "Smithson"),
            pupil(4, "Mary Ann", "Jones"),
            pupil(5, "Mary", "Anderson"),
            pupil(6, "Ann", "Smithers-Brown"),
        ],
    )
    # Surname first: "j" may start the first name or the surname's next word.
    assert await search(incidents, [school_id], "smith j") == [
        "John Smith",
        "Amy Smith-Jones",
        "Jo Smithson",
    ]
    # First name first, through a first name of two words; "Mary Anderson"
    # (first name Mary, surname starting "an") ranks with them by surname.
    assert await search(incidents, [school_id], "mary an") == ["Mary Anderson", "Mary Ann Jones"]
    # Not in order for Smithers-Brown ("smithers brown ann"), but every word is there.
    assert await search(incidents, [school_id], "smithers ann") == ["Ann Smithers-Brown"]
    assert await search(incidents, [school_id], "smith ann") == ["Ann Smithers-Brown"]


async def test_search_never_shows_another_schools_pupils(
    incidents: Incidents, class_list: tuple[str, str]
) -> None:
    school_id, other = class_list
    assert await search(incidents, [school_id], "zoe smith") == ["Zoë Smith"]
    assert await search(incidents, [other], "jo") == ["Jon Snow"]
    # A member of both sees both, best first; and may narrow to one of them.
    assert sorted(await search(incidents, [school_id, other], "zoe")) == ["Zoe Smith", "Zoë Smith"]
    assert await search(incidents, [school_id, other], "zoe", school_id=other) == ["Zoe Smith"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await search(incidents, [other], "zoe", school_id=school_id)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_search_returns_at_most_the_limit(
    incidents: Incidents, class_list: tuple[str, str]
) -> None:
    school_id, _ = class_list
    assert len(await search(incidents, [school_id], "s", limit=2)) == 2
    assert await search(incidents, [school_id], "   ") == []
    staff = incidents.metadata(str(uuid.uuid4()), {school_id: "staff"})
    found = await incidents.stub.SearchStudents(
        pb.SearchStudentsRequest(query="zoe"), metadata=staff
    )
    [zoe] = found.items
    assert (zoe.first_name, zoe.last_name, zoe.year_group, zoe.date_of_birth) == (
        "Zoë",
        "Smith",
        "5",
        "2015-03-01",
    )
    assert zoe.school_id == school_id


async def test_a_whole_school_imports_at_once_and_again(incidents: Incidents) -> None:
    school_id = await incidents.new_school("Big Secondary")
    rows = [pupil(n, f"First{n}", f"Last{n}", year=str(7 + n % 7)) for n in range(1, 2501)]
    first = await incidents.import_students(school_id, rows)
    assert (first.created, first.updated, list(first.errors)) == (2500, 0, [])
    again = await incidents.import_students(school_id, rows[:1200] + [pupil(9999, "New", "Pupil")])
    assert (again.created, again.updated) == (1, 1200)
    assert await search(incidents, [school_id], "last2500 first") == ["First2500 Last2500"]
