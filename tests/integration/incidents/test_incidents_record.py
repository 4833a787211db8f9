"""Recording an incident: every rule checked, the DSLs alerted, read only by those allowed."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from haven.events.v1.envelope_pb2 import EventEnvelope
from haven.incidents.v1 import incidents_pb2 as pb
from haven_runtime.errors import from_rpc_error
from haven_runtime.events import subject_for

from .incidents_harness import Incidents, pupil

DESCRIPTION = "Said at lunch that an older cousin hurt them at the weekend."


@dataclass
class School:
    id: str
    student_id: str
    linked_student_id: str
    category_ids: list[str]
    agency_ids: list[str]
    dsl_ids: list[str]
    staff_ids: list[str]
    admin_id: str


async def school_with_pupils(incidents: Incidents) -> School:
    school_id = await incidents.new_school("Elm Academy")
    await incidents.import_students(
        school_id, [pupil(1, "Zoë", "Smith"), pupil(2, "Liam", "Brown")]
    )
    staff = incidents.metadata(str(uuid.uuid4()), {school_id: "staff"})
    found = await incidents.stub.SearchStudents(
        pb.SearchStudentsRequest(query="", school_id=school_id), metadata=staff
    )
    assert not found.items  # an empty query finds nobody
    zoe = (
        await incidents.stub.SearchStudents(
            pb.SearchStudentsRequest(query="zoe", school_id=school_id), metadata=staff
        )
    ).items[0]
    liam = (
        await incidents.stub.SearchStudents(
            pb.SearchStudentsRequest(query="liam", school_id=school_id), metadata=staff
        )
    ).items[0]
    categories = await incidents.stub.ListCategories(
        pb.ListCategoriesRequest(school_id=school_id), metadata=staff
    )
    agencies = await incidents.stub.ListAgencies(
        pb.ListAgenciesRequest(school_id=school_id), metadata=staff
    )
    identity = incidents.identity
    return School(
        id=school_id,
        student_id=zoe.id,
        linked_student_id=liam.id,
        category_ids=[c.id for c in categories.items],
        agency_ids=[a.id for a in agencies.items],
        dsl_ids=[identity.add(school_id, "dsl", "Dee Lead"), identity.add(school_id, "dsl")],
        staff_ids=[identity.add(school_id, "staff", "Sam Teacher"), identity.add(school_id)],
        admin_id=identity.add(school_id, "admin"),
    )


def at(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


async def recorded_event(
    incidents: Incidents, incident_id: str
) -> tuple[pb.IncidentRecorded, bytes]:
    """The IncidentRecorded event for the incident, as it travelled on NATS."""
    subject = subject_for(pb.IncidentRecorded.DESCRIPTOR.full_name)
    sub = await incidents.js.subscribe(subject, ordered_consumer=True)
    try:
        async with asyncio.timeout(15):
            while True:
                msg = await sub.next_msg(timeout=15)
                envelope = EventEnvelope.FromString(msg.data)
                event = pb.IncidentRecorded()
                envelope.payload.Unpack(event)
                if event.incident_id == incident_id:
                    return event, msg.data
    finally:
        await sub.unsubscribe()


async def test_recording_an_incident_validates_every_field_and_lists_each_error(
    incidents: Incidents,
) -> None:
    school = await school_with_pupils(incidents)
    other = await school_with_pupils(incidents)
    author = incidents.metadata(str(uuid.uuid4()), {school.id: "staff"})

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await incidents.stub.RecordIncident(
            pb.RecordIncidentRequest(
                school_id=school.id,
                student_id=school.student_id,
                description="   ",
                category_ids=[],
                linked_student_ids=[school.student_id, other.student_id],
                body_map=[
                    pb.BodyMapMark(side="left", x=1.5, y=0.5),
                    pb.BodyMapMark(side="front", x=0.2, y=-0.1),
                    pb.BodyMapMark(side="back", x=1.0, y=0.0, note="fine"),
                ],
                occurred_at=at(datetime.now(UTC) + timedelta(hours=1)),
                alert_staff_ids=[school.staff_ids[0], other.staff_ids[0]],
                agency_ids=[school.agency_ids[0], str(uuid.uuid4())],
            ),
            metadata=author,
        )
    error = from_rpc_error(raised.value)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "validation_failed")
    assert sorted(v.field for v in error.violations) == sorted(
        [
            "description",
            "category_ids",
            "linked_student_ids[0]",
            "linked_student_ids[1]",
            "body_map[0].side",
            "body_map[0].x",
            "body_map[1].y",
            "occurred_at",
            "alert_staff_ids[1]",
            "agency_ids[1]",
        ]
    )

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await incidents.stub.RecordIncident(
            pb.RecordIncidentRequest(
                student_id=other.student_id,
                description="x" * 20_001,
                category_ids=[other.category_ids[0], "not-an-id"],
            ),
            metadata=author,
        )
    assert sorted(v.field for v in from_rpc_error(raised.value).violations) == [
        "category_ids[0]",
        "category_ids[1]",
        "description",
        "student_id",
    ]
    assert await incidents.sql("SELECT 1 FROM incidents WHERE school_id = $1", school.id) == []


async def test_a_member_of_several_schools_must_say_which(incidents: Incidents) -> None:
    school = await school_with_pupils(incidents)
    author = incidents.metadata(str(uuid.uuid4()), {school.id: "staff", "elsewhere": "staff"})
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await incidents.stub.RecordIncident(
            pb.RecordIncidentRequest(
                student_id=school.student_id,
                description=DESCRIPTION,
                category_ids=school.category_ids[:1],
            ),
            metadata=author,
        )
    assert [v.field for v in from_rpc_error(raised.value).violations] == ["school_id"]
    outsider = incidents.metadata(str(uuid.uuid4()), {"elsewhere": "dsl"})
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await incidents.stub.RecordIncident(
            pb.RecordIncidentRequest(school_id=school.id, student_id=school.student_id),
            metadata=outsider,
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_recording_publishes_incident_recorded_with_the_dsls_as_recipients_and_without_the_description(  # noqa: E501
    incidents: Incidents,
) -> None:
    school = await school_with_pupils(incidents)
    author_id = str(uuid.uuid4())
    token = incidents.make_token(author_id, {school.id: "staff"}, name="Alex Author")
    occurred = datetime(2026, 1, 5, 10, 15, tzinfo=UTC)
    # Named: a member of staff, and one of the DSLs (alerted once all the same).
    named = [school.staff_ids[0], school.dsl_ids[0], school.staff_ids[0]]
    staged = incidents.files.stage(school.id, author_id)

    incident = await incidents.stub.RecordIncident(
        pb.RecordIncidentRequest(
            student_id=school.student_id,
            description=DESCRIPTION,
            category_ids=school.category_ids[:2],
            linked_student_ids=[school.linked_student_id],
            body_map=[
                pb.BodyMapMark(side="front", x=0.42, y=0.31, note="bruise"),
                pb.BodyMapMark(side="back", x=0.5, y=0.9),
            ],
            occurred_at=at(occurred),
            alert_staff_ids=named,
            file_ids=[staged],
            agency_ids=school.agency_ids[:1],
        ),
        metadata=(("authorization", f"Bearer {token}"),),
    )

    assert incident.school_id == school.id
    assert (incident.student.id, incident.student.display_name) == (school.student_id, "Zoë Smith")
    assert incident.description == DESCRIPTION
    assert [c.id for c in incident.categories] == school.category_ids[:2]
    assert [s.display_name for s in incident.linked_students] == ["Liam Brown"]
    assert [(m.number, m.side, m.note) for m in incident.body_map] == [
        (1, "front", "bruise"),
        (2, "back", ""),
    ]
    assert incident.occurred_at.ToDatetime(tzinfo=UTC) == occurred
    assert (incident.recorded_by.id, incident.recorded_by.name) == (author_id, "Alex Author")
    assert [s.id for s in incident.alerted_staff] == [school.staff_ids[0], school.dsl_ids[0]]
    assert [a.id for a in incident.agencies] == school.agency_ids[:1]
    assert list(incident.file_ids) == [staged]
    # Identity was asked with the caller's own token.
    assert token in incidents.identity.tokens_seen

    event, raw = await recorded_event(incidents, incident.id)
    identity = incidents.identity
    expected = [school.staff_ids[0], school.dsl_ids[0], school.dsl_ids[1]]
    assert [r.user_id for r in event.recipients] == expected
    assert [(r.email, r.name) for r in event.recipients] == [
        (identity.member(school.id, u).email, identity.member(school.id, u).name) for u in expected
    ]
    assert (event.school_id, event.school_name) == (school.id, "Elm Academy")
    assert (event.student.id, event.student.display_name) == (school.student_id, "Zoë Smith")
    assert [c.id for c in event.categories] == school.category_ids[:2]
    assert (event.recorded_by.id, event.recorded_by.name) == (author_id, "Alex Author")
    assert event.occurred_at.ToDatetime(tzinfo=UTC) == occurred
    assert list(event.file_ids) == [staged]
    assert DESCRIPTION.encode() not in raw
    assert b"bruise" not in raw


async def test_an_identity_replica_from_before_with_roles_still_gets_every_dsl_alerted(
    incidents: Incidents,
) -> None:
    """During a rolling upgrade, an older identity ignores GetStaff's with_roles:
    incidents notices (no roles_included) and asks for the DSLs separately."""
    school = await school_with_pupils(incidents)
    author_id = str(uuid.uuid4())
    token = incidents.make_token(author_id, {school.id: "staff"}, name="Alex Author")
    incidents.identity.release_before_with_roles = True

    incident = await incidents.stub.RecordIncident(
        pb.RecordIncidentRequest(
            student_id=school.student_id,
            description=DESCRIPTION,
            category_ids=school.category_ids[:1],
            alert_staff_ids=[school.staff_ids[0]],
        ),
        metadata=(("authorization", f"Bearer {token}"),),
    )

    event, _ = await recorded_event(incidents, incident.id)
    expected = [school.staff_ids[0], school.dsl_ids[0], school.dsl_ids[1]]
    assert [r.user_id for r in event.recipients] == expected


async def test_a_dsl_who_records_an_incident_is_among_its_recipients(incidents: Incidents) -> None:
    school = await school_with_pupils(incidents)
    dsl = school.dsl_ids[1]
    incident = await incidents.stub.RecordIncident(
        pb.RecordIncidentRequest(
            student_id=school.student_id,
            description=DESCRIPTION,
            category_ids=school.category_ids[:1],
        ),
        metadata=incidents.metadata(dsl, {school.id: "dsl"}),
    )
    event, _ = await recorded_event(incidents, incident.id)
    assert [r.user_id for r in event.recipients] == school.dsl_ids
    assert list(incident.alerted_staff) == []


async def test_the_same_idempotency_key_returns_the_same_incident(incidents: Incidents) -> None:
    school = await school_with_pupils(incidents)
    author_id = str(uuid.uuid4())
    author = incidents.metadata(author_id, {school.id: "staff"})

    def request(key: str) -> pb.RecordIncidentRequest:
        return pb.RecordIncidentRequest(
            student_id=school.student_id,
            description=DESCRIPTION,
            category_ids=school.category_ids[:1],
            idempotency_key=key,
        )

    first = await incidents.stub.RecordIncident(request("key-1"), metadata=author)
    again = await incidents.stub.RecordIncident(request("key-1"), metadata=author)
    assert again == first

    # Requests racing with one new key make one incident between them.
    raced = await asyncio.gather(
        *(incidents.stub.RecordIncident(request("key-2"), metadata=author) for _ in range(6))
    )
    assert len({i.id for i in raced}) == 1
    assert raced[0].id != first.id

    # The key is the author's own: someone else's "key-1" is another incident.
    other = await incidents.stub.RecordIncident(
        request("key-1"), metadata=incidents.metadata(str(uuid.uuid4()), {school.id: "staff"})
    )
    assert other.id != first.id

    stored = await incidents.sql("SELECT id FROM incidents WHERE recorded_by = $1", author_id)
    assert len(stored) == 2
    # One event per incident: the outbox holds two that name this author.
    outbox = await incidents.sql(
        "SELECT envelope FROM outbox WHERE event_type = $1",
        pb.IncidentRecorded.DESCRIPTOR.full_name,
    )
    assert sum(author_id.encode() in row["envelope"] for row in outbox) == 2


async def test_a_member_of_staff_who_was_not_alerted_cannot_read_the_incident(
    incidents: Incidents,
) -> None:
    school = await school_with_pupils(incidents)
    other = await school_with_pupils(incidents)
    author_id = str(uuid.uuid4())
    incident = await incidents.stub.RecordIncident(
        pb.RecordIncidentRequest(
            school_id=school.id,
            student_id=school.student_id,
            description=DESCRIPTION,
            category_ids=school.category_ids[:1],
            alert_staff_ids=[school.staff_ids[0]],
        ),
        metadata=incidents.metadata(author_id, {school.id: "staff"}),
    )

    async def read(user_id: str, schools: dict[str, str], incident_id: str = incident.id):  # type: ignore[no-untyped-def]
        return await incidents.stub.GetIncident(
            pb.GetIncidentRequest(incident_id=incident_id),
            metadata=incidents.metadata(user_id, schools),
        )

    assert (await read(author_id, {school.id: "staff"})).description == DESCRIPTION
    assert (await read(school.staff_ids[0], {school.id: "staff"})).id == incident.id
    # A DSL of the school reads it, named or not.
    assert (await read(school.dsl_ids[1], {school.id: "dsl"})).id == incident.id

    for user_id, schools in (
        (school.staff_ids[1], {school.id: "staff"}),  # not alerted
        (school.admin_id, {school.id: "admin"}),  # admins manage, they do not read incidents
        (other.dsl_ids[0], {other.id: "dsl"}),  # another school's DSL
        (school.staff_ids[0], {other.id: "staff"}),  # alerted, but no longer at the school
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await read(user_id, schools)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND

    for unknown in (str(uuid.uuid4()), "not-an-id"):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await read(school.dsl_ids[0], {school.id: "dsl"}, unknown)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND

    views = await incidents.sql(
        "SELECT user_id FROM incident_views WHERE incident_id = $1 ORDER BY at",
        uuid.UUID(incident.id),
    )
    assert [v["user_id"] for v in views] == [author_id, school.staff_ids[0], school.dsl_ids[1]]


async def test_nothing_is_recorded_while_identity_cannot_say_who_the_dsls_are(
    incidents: Incidents,
) -> None:
    school = await school_with_pupils(incidents)
    incidents.identity.available = False
    try:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await incidents.stub.RecordIncident(
                pb.RecordIncidentRequest(
                    school_id=school.id,
                    student_id=school.student_id,
                    description=DESCRIPTION,
                    category_ids=school.category_ids[:1],
                ),
                metadata=incidents.metadata(str(uuid.uuid4()), {school.id: "staff"}),
            )
    finally:
        incidents.identity.available = True
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert await incidents.sql("SELECT 1 FROM incidents WHERE school_id = $1", school.id) == []
