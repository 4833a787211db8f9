"""A pupil's chronology: for the school's DSLs whose session is elevated, and kept on record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from haven.incidents.v1 import incidents_pb2 as pb
from haven_runtime.errors import from_rpc_error

from .incidents_harness import Incidents, pupil

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Pupils:
    school_id: str
    zoe: str
    liam: str
    mia: str
    category_id: str


async def school_with_three_pupils(incidents: Incidents) -> Pupils:
    school_id = await incidents.new_school("Birch Primary")
    await incidents.import_students(
        school_id, [pupil(1, "Zoë", "Smith"), pupil(2, "Liam", "Brown"), pupil(3, "Mia", "Jones")]
    )
    [zoe, liam, mia] = [
        row["id"]
        for row in await incidents.sql(
            "SELECT id FROM students WHERE school_id = $1 ORDER BY upn", school_id
        )
    ]
    incidents.identity.add(school_id, "dsl", "Dee Lead")
    staff = incidents.metadata(str(uuid.uuid4()), {school_id: "staff"})
    categories = await incidents.stub.ListCategories(
        pb.ListCategoriesRequest(school_id=school_id), metadata=staff
    )
    return Pupils(school_id, str(zoe), str(liam), str(mia), categories.items[0].id)


async def record(
    incidents: Incidents,
    school: Pupils,
    student_id: str,
    occurred_at: datetime,
    linked: tuple[str, ...] = (),
) -> str:
    author = incidents.metadata(str(uuid.uuid4()), {school.school_id: "staff"})
    when = Timestamp()
    when.FromDatetime(occurred_at)
    incident = await incidents.stub.RecordIncident(
        pb.RecordIncidentRequest(
            school_id=school.school_id,
            student_id=student_id,
            description="Came in upset and said home was difficult.",
            category_ids=[school.category_id],
            linked_student_ids=list(linked),
            occurred_at=when,
        ),
        metadata=author,
    )
    return incident.id


def dsl_of(
    incidents: Incidents,
    school_id: str,
    *,
    elevated_until: datetime | None,
    role: str = "dsl",
    user_id: str | None = None,
) -> tuple[tuple[str, str], ...]:
    token = incidents.make_token(
        user_id or str(uuid.uuid4()),
        {school_id: role},
        name="Dee Lead",
        elevated_until=elevated_until,
    )
    return (("authorization", "Bearer " + token),)


def elevated() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=10)


async def chronology(
    incidents: Incidents, metadata, student_id: str, limit: int = 0, cursor: str = ""
) -> pb.ListStudentIncidentsResponse:  # type: ignore[no-untyped-def]
    return await incidents.stub.ListStudentIncidents(
        pb.ListStudentIncidentsRequest(student_id=student_id, limit=limit, cursor=cursor),
        metadata=metadata,
        timeout=10,
    )


async def refusal(incidents: Incidents, metadata, student_id: str):  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await chronology(incidents, metadata, student_id)
    return from_rpc_error(raised.value)


async def test_a_member_of_staff_cannot_read_a_chronology(incidents: Incidents) -> None:
    school = await school_with_three_pupils(incidents)
    await record(incidents, school, school.zoe, NOW - timedelta(days=1))
    for role in ("staff", "admin"):
        # Even with an elevated session: chronologies are for DSLs.
        for until in (None, elevated()):
            metadata = dsl_of(incidents, school.school_id, role=role, elevated_until=until)
            error = await refusal(incidents, metadata, school.zoe)
            assert error.code is grpc.StatusCode.PERMISSION_DENIED
            assert error.reason == "forbidden"
    assert (
        await incidents.sql(
            "SELECT * FROM incident_views WHERE student_id = $1", uuid.UUID(school.zoe)
        )
        == []
    )


async def test_a_dsl_without_elevation_is_told_elevation_required(incidents: Incidents) -> None:
    school = await school_with_three_pupils(incidents)
    await record(incidents, school, school.zoe, NOW - timedelta(days=1))
    metadata = dsl_of(incidents, school.school_id, elevated_until=None)
    error = await refusal(incidents, metadata, school.zoe)
    assert error.code is grpc.StatusCode.PERMISSION_DENIED
    assert error.reason == "elevation_required"


async def test_an_expired_elevation_is_refused(incidents: Incidents) -> None:
    school = await school_with_three_pupils(incidents)
    await record(incidents, school, school.zoe, NOW - timedelta(days=1))
    lapsed = datetime.now(UTC) - timedelta(seconds=30)
    metadata = dsl_of(incidents, school.school_id, elevated_until=lapsed)
    error = await refusal(incidents, metadata, school.zoe)
    assert error.code is grpc.StatusCode.PERMISSION_DENIED
    assert error.reason == "elevation_required"


async def test_an_elevated_dsl_sees_incidents_as_student_and_as_linked_student_newest_first_paged(
    incidents: Incidents,
) -> None:
    school = await school_with_three_pupils(incidents)
    oldest = await record(incidents, school, school.zoe, NOW - timedelta(days=30))
    as_linked = await record(
        incidents, school, school.liam, NOW - timedelta(days=2), linked=(school.mia, school.zoe)
    )
    middle = await record(incidents, school, school.zoe, NOW - timedelta(days=10))
    newest = await record(incidents, school, school.zoe, NOW - timedelta(hours=1))
    # Incidents Zoë is not in, here and in another school, never appear.
    await record(incidents, school, school.liam, NOW - timedelta(days=1))
    await record(incidents, school, school.mia, NOW - timedelta(days=5), linked=(school.liam,))
    other = await school_with_three_pupils(incidents)
    await record(incidents, other, other.zoe, NOW - timedelta(days=3))

    reader = str(uuid.uuid4())
    metadata = dsl_of(incidents, school.school_id, elevated_until=elevated(), user_id=reader)
    everything = await chronology(incidents, metadata, school.zoe)
    assert [i.id for i in everything.items] == [newest, as_linked, middle, oldest]
    assert everything.next_cursor == ""
    linked_one = everything.items[1]
    assert linked_one.student.id == school.liam
    assert [s.id for s in linked_one.linked_students] == [school.mia, school.zoe]
    assert linked_one.description  # the whole record, for the DSL

    first = await chronology(incidents, metadata, school.zoe, limit=3)
    assert [i.id for i in first.items] == [newest, as_linked, middle]
    assert first.next_cursor
    second = await chronology(incidents, metadata, school.zoe, limit=3, cursor=first.next_cursor)
    assert [i.id for i in second.items] == [oldest]
    assert second.next_cursor == ""

    # As a linked pupil, Mia's chronology holds the incident about Liam too.
    mias = await chronology(incidents, metadata, school.mia)
    assert as_linked in [i.id for i in mias.items]


async def test_incidents_at_the_same_moment_are_neither_repeated_nor_skipped_across_pages(
    incidents: Incidents,
) -> None:
    school = await school_with_three_pupils(incidents)
    moment = NOW - timedelta(days=4)
    same = {await record(incidents, school, school.zoe, moment) for _ in range(3)}
    metadata = dsl_of(incidents, school.school_id, elevated_until=elevated())
    seen: list[str] = []
    cursor = ""
    while True:
        page = await chronology(incidents, metadata, school.zoe, limit=1, cursor=cursor)
        seen += [i.id for i in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    assert sorted(seen) == sorted(same)
    assert seen == sorted(same, reverse=True)  # ties fall back to the id, descending


async def test_another_schools_dsl_gets_not_found(incidents: Incidents) -> None:
    school = await school_with_three_pupils(incidents)
    other = await school_with_three_pupils(incidents)
    await record(incidents, school, school.zoe, NOW - timedelta(days=1))
    outsider = dsl_of(incidents, other.school_id, elevated_until=elevated())
    for student_id in (school.zoe, str(uuid.uuid4()), "not-an-id"):
        error = await refusal(incidents, outsider, student_id)
        assert error.code is grpc.StatusCode.NOT_FOUND


async def test_every_chronology_read_is_kept_in_the_audit_trail(incidents: Incidents) -> None:
    school = await school_with_three_pupils(incidents)
    first = await record(incidents, school, school.zoe, NOW - timedelta(days=2))
    second = await record(incidents, school, school.liam, NOW - timedelta(days=1), (school.zoe,))
    reader = str(uuid.uuid4())
    metadata = dsl_of(incidents, school.school_id, elevated_until=elevated(), user_id=reader)

    await chronology(incidents, metadata, school.zoe)
    await chronology(incidents, metadata, school.mia)  # nothing to show, still a read

    rows = await incidents.sql(
        "SELECT incident_id, student_id, user_id, user_name, action FROM incident_views "
        "WHERE user_id = $1",
        reader,
    )
    assert {r["action"] for r in rows} == {"chronology_viewed"}
    assert {r["user_name"] for r in rows} == {"Dee Lead"}
    reads = sorted(str(r["student_id"]) for r in rows if r["incident_id"] is None)
    assert reads == sorted([school.zoe, school.mia])
    shown = {str(r["incident_id"]) for r in rows if r["incident_id"] is not None}
    assert shown == {first, second}


async def test_a_cursor_the_service_did_not_give_is_refused(incidents: Incidents) -> None:
    school = await school_with_three_pupils(incidents)
    metadata = dsl_of(incidents, school.school_id, elevated_until=elevated())
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await chronology(incidents, metadata, school.zoe, cursor="bogus")
    error = from_rpc_error(raised.value)
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.violations] == ["cursor"]
