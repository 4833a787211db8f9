"""Directory, incidents, alerts, files and imports through the gateway."""

from __future__ import annotations

import httpx
import pytest

from .gateway_doubles import OTHER_SCHOOL, SCHOOL

ALICE = {"Authorization": "Bearer session-alice"}
BOB = {"Authorization": "Bearer session-bob"}  # belongs to two schools


async def test_school_id_defaults_to_the_callers_only_school(client, doubles):
    response = await client.get("/api/v1/categories", headers=ALICE)
    assert response.json() == {
        "items": [{"id": "cat-1", "name": "Physical abuse"}],
        "next_cursor": None,
    }
    [(request, _, _)] = doubles.record.of("ListCategories")
    assert request.school_id == SCHOOL


async def test_a_member_of_several_schools_must_name_one(client):
    response = await client.get("/api/v1/categories", headers=BOB)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["school_id"]
    named = await client.get(f"/api/v1/categories?school_id={OTHER_SCHOOL}", headers=BOB)
    assert named.status_code == 200


async def test_a_school_the_caller_does_not_belong_to_is_a_404(client):
    response = await client.get("/api/v1/staff?school_id=school-9", headers=ALICE)
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


async def test_student_search_passes_the_query_and_limit(client, doubles):
    response = await client.get("/api/v1/students?q=sa&limit=5", headers=ALICE)
    assert response.json()["items"][0]["display_name"] == "Sam Pupil"
    [(request, _, _)] = doubles.record.of("SearchStudents")
    assert (request.query, request.school_id, request.limit) == ("sa", SCHOOL, 5)
    too_many = await client.get("/api/v1/students?q=sa&limit=500", headers=ALICE)
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "limit"


async def upload(client, content: bytes, name: str = "note.pdf") -> httpx.Response:
    return await client.post(
        "/api/v1/files", headers=ALICE, files={"file": (name, content, "application/pdf")}
    )


async def test_an_upload_is_streamed_to_files_in_64_kib_chunks(client, doubles):
    content = bytes(range(256)) * 1000  # 256,000 bytes
    response = await upload(client, content, "scan.pdf")
    assert response.status_code == 201
    stored = response.json()
    assert stored["filename"] == "scan.pdf" and stored["size"] == len(content)
    assert stored["status"] == "staged"
    assert doubles.files.chunk_sizes == [65536, 65536, 65536, 256000 - 3 * 65536]
    [(first, _, caller)] = doubles.record.of("Upload")
    assert first.metadata.school_id == SCHOOL and caller == "u-alice"


async def test_an_upload_whose_content_length_is_too_big_is_refused_before_it_is_read(
    client, doubles
):
    too_big = 5 * 1024 * 1024  # this gateway allows 1 MiB

    async def never_read():
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover

    response = await client.post(
        "/api/v1/files",
        headers=ALICE
        | {"content-type": "multipart/form-data; boundary=x", "content-length": str(too_big)},
        content=never_read(),
    )
    assert (response.status_code, response.json()["code"]) == (413, "file_too_large")
    assert doubles.record.of("Upload") == []


async def test_an_upload_that_grows_past_the_limit_is_cut_off_with_413(client, doubles):
    response = await upload(client, b"x" * (1024 * 1024 + 1))
    assert (response.status_code, response.json()["code"]) == (413, "file_too_large")
    assert doubles.files.stored == {}


async def test_a_type_refused_by_files_is_415(client):
    response = await upload(client, b"MZ" + b"\0" * 200_000, "setup.pdf")
    assert (response.status_code, response.json()["code"]) == (415, "file_type_not_allowed")


async def test_an_upload_without_a_file_field_is_422(client):
    response = await client.post("/api/v1/files", headers=ALICE, files={"other": ("a", b"b")})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"


async def test_a_download_streams_the_bytes_as_an_attachment(client, doubles):
    content = bytes(range(256)) * 40
    stored = (await upload(client, content, "Zoë's report.pdf")).json()
    response = await client.get(f"/api/v1/files/{stored['id']}/content", headers=ALICE)
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-length"] == str(len(content))
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"Zo_'s report.pdf\"; filename*=UTF-8''Zo%C3%AB%27s%20report.pdf"
    )
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_downloading_a_file_the_caller_may_not_see_is_a_problem_json_404(client):
    response = await client.get("/api/v1/files/file-unknown/content", headers=ALICE)
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


async def test_a_download_that_fails_midway_is_cut_off_not_completed(client):
    from haven_gateway.downloads import DownloadInterrupted

    stored = (await upload(client, b"%PDF" + b"x" * 5000, "corrupt.pdf")).json()
    with pytest.raises(DownloadInterrupted):
        await client.get(f"/api/v1/files/{stored['id']}/content", headers=ALICE)


async def test_a_recorded_incident_is_201_with_files_and_times_with_offsets(client, doubles):
    stored = (await upload(client, b"%PDF-1.7 body map photo")).json()
    body = {
        "student_id": "st-1",
        "description": "Arrived with a bruise on the left arm.",
        "category_ids": ["cat-1"],
        "body_map": [{"side": "front", "x": 0.42, "y": 0.31, "note": "bruise"}],
        "occurred_at": "2026-11-30T10:15:00+01:00",
        "alert_staff_ids": ["u-dsl"],
        "file_ids": [stored["id"]],
    }
    headers = ALICE | {"Idempotency-Key": "key-1"}
    response = await client.post("/api/v1/incidents", headers=headers, json=body)
    assert response.status_code == 201
    incident = response.json()
    assert response.headers["location"] == f"/api/v1/incidents/{incident['id']}"
    assert incident["occurred_at"] == "2026-11-30T09:15:00+00:00"
    assert incident["recorded_at"] == "2026-11-30T10:00:00+00:00"
    assert incident["body_map"] == [
        {"number": 1, "side": "front", "x": 0.42, "y": 0.31, "note": "bruise"}
    ]
    assert incident["files"] == [
        {"id": stored["id"], "filename": "note.pdf", "size": 23, "content_type": "application/pdf"}
    ]
    assert incident["alerted_staff"] == [{"id": "u-dsl", "name": "Dee Sell"}]
    assert incident["recorded_by"] == {"id": "u-alice", "name": "Alice"}

    again = await client.post("/api/v1/incidents", headers=headers, json=body)
    assert again.json()["id"] == incident["id"]
    keys = [r.idempotency_key for r, _, _ in doubles.record.of("RecordIncident")]
    assert keys == ["key-1", "key-1"]

    fetched = await client.get(f"/api/v1/incidents/{incident['id']}", headers=ALICE)
    assert fetched.json() == incident


async def test_alerts_list_the_callers_alerts_with_the_unread_count(client, doubles):
    response = await client.get("/api/v1/alerts?limit=10", headers=ALICE)
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "id": "al-1",
                "incident_id": "inc-1",
                "school_id": SCHOOL,
                "student": {"id": "st-1", "display_name": "Sam Pupil"},
                "categories": [{"id": "cat-1", "name": "Physical abuse"}],
                "recorded_by": {"id": "u-bob", "name": "Bob"},
                "occurred_at": "2026-11-30T09:00:00+00:00",
                "created_at": "2026-11-30T10:00:01+00:00",
                "read_at": None,
            }
        ],
        "next_cursor": None,
        "unread_count": 1,
    }
    unknown = await client.post("/api/v1/alerts/al-404/read", headers=ALICE)
    assert unknown.status_code == 404


async def test_a_staff_csv_import_reports_errors_on_the_files_own_lines(client, doubles):
    csv = (
        b"email,name,role\n"
        b"ann@school.org,Ann,staff\n"
        b"\n"
        b'not-an-email,"Bob\nJones",dsl\n'
        b"cat@school.org,Cat\n"
    )
    response = await client.post(
        f"/api/v1/admin/schools/{SCHOOL}/staff",
        headers=ALICE | {"content-type": "text/csv"},
        content=csv,
    )
    assert response.status_code == 200
    assert response.json() == {
        "created": 1,
        "updated": 0,
        "errors": [
            {"line": 4, "field": "email", "message": "not an email address"},
            {
                "line": 6,
                "field": "row",
                "message": "expected 3 values (email, name, role), found 2",
            },
        ],
    }
    [(request, _, _)] = doubles.record.of("ImportStaff")
    assert [r.email for r in request.items] == ["ann@school.org", "not-an-email"]


async def test_a_student_csv_import_sends_each_rows_line(client, doubles):
    csv = (
        b"upn,first_name,last_name,year_group,date_of_birth\n"
        b"A1,Sam,Pupil,7,2014-03-01\n"
        b"A2,Kim,Pupil,8,yesterday\n"
    )
    response = await client.post(
        f"/api/v1/admin/schools/{SCHOOL}/students",
        headers=ALICE | {"content-type": "text/csv; charset=utf-8"},
        content=csv,
    )
    assert response.json() == {
        "created": 1,
        "updated": 0,
        "errors": [{"line": 3, "field": "date_of_birth", "message": "not a date"}],
    }
    [(request, _, _)] = doubles.record.of("ImportStudents")
    assert [r.line for r in request.items] == [2, 3]


async def test_a_json_import_numbers_rows_by_position(client, doubles):
    response = await client.post(
        f"/api/v1/admin/schools/{SCHOOL}/students",
        headers=ALICE,
        json={
            "items": [
                {
                    "upn": "A1",
                    "first_name": "Sam",
                    "last_name": "P",
                    "year_group": 7,
                    "date_of_birth": "2014-03-01",
                }
            ]
        },
    )
    assert response.status_code == 200
    [(request, _, _)] = doubles.record.of("ImportStudents")
    assert (request.items[0].line, request.items[0].year_group) == (1, "7")


async def test_a_csv_with_a_wrong_header_is_422_saying_what_the_header_must_be(client, doubles):
    response = await client.post(
        f"/api/v1/admin/schools/{SCHOOL}/staff",
        headers=ALICE | {"content-type": "text/csv"},
        content=b"mail,name,role\na@b.org,A,staff\n",
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert "line 1 must be the header email,name,role" in problem["errors"][0]["message"]
    assert doubles.record.of("ImportStaff") == []


async def test_an_import_in_another_format_is_415(client):
    response = await client.post(
        f"/api/v1/admin/schools/{SCHOOL}/staff",
        headers=ALICE | {"content-type": "application/xml"},
        content=b"<staff/>",
    )
    assert response.status_code == 415


async def test_creating_a_school_answers_201_with_the_school(client, doubles):
    response = await client.post(
        "/api/v1/admin/schools", headers=ALICE, json={"trust_id": "t-1", "name": "Oak Primary"}
    )
    assert response.status_code == 201
    assert response.json() == {"id": "school-new", "name": "Oak Primary", "trust_id": "t-1"}
    [(_, _, caller)] = doubles.record.of("CreateSchool")
    assert caller == "u-alice"


async def test_an_admin_adds_a_category_and_a_duplicate_is_409(client, doubles):
    url = f"/api/v1/admin/schools/{SCHOOL}/categories"
    response = await client.post(url, headers=ALICE, json={"name": "Online safety"})
    assert (response.status_code, response.json()) == (
        201,
        {"id": "cat-new", "name": "Online safety"},
    )
    again = await client.post(url, headers=ALICE, json={"name": "Physical abuse"})
    assert (again.status_code, again.json()["code"]) == (409, "already_exists")
