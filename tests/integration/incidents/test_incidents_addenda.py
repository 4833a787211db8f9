"""Addenda: the author or a DSL adds corrections in order; the incident itself never changes."""

from __future__ import annotations

import uuid

import asyncpg
import grpc
import pytest

from haven.incidents.v1 import incidents_pb2 as pb
from haven_runtime.errors import from_rpc_error

from .incidents_harness import Incidents, as_user, record_incident, school_on_record


async def add(incidents: Incidents, metadata, incident_id: str, text: str) -> pb.Addendum:  # type: ignore[no-untyped-def]
    return await incidents.stub.AddAddendum(
        pb.AddAddendumRequest(incident_id=incident_id, text=text), metadata=metadata, timeout=10
    )


async def refusal(incidents: Incidents, metadata, incident_id: str, text: str = "More."):  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await add(incidents, metadata, incident_id, text)
    error = from_rpc_error(raised.value)
    return error.code, error.reason


async def test_the_author_and_a_dsl_add_addenda_shown_in_order_without_editing_the_incident(
    incidents: Incidents,
) -> None:
    school = await school_on_record(incidents)
    author = str(uuid.uuid4())
    incident = await record_incident(incidents, school, author)
    by_author = as_user(incidents, author, {school.id: "staff"}, name="Alex Author")
    by_dsl = as_user(incidents, school.dsl_id, {school.id: "dsl"}, name="Dee Lead", elevated=True)

    first = await add(incidents, by_author, incident.id, "Correction: it was Sunday, not Saturday.")
    second = await add(incidents, by_dsl, incident.id, "Spoke to parent; referred to early help.")
    assert (first.author.id, first.author.name) == (author, "Alex Author")
    assert (second.author.id, second.author.name) == (school.dsl_id, "Dee Lead")
    assert first.HasField("created_at")

    read = await incidents.stub.GetIncident(
        pb.GetIncidentRequest(incident_id=incident.id), metadata=by_author
    )
    assert [(a.id, a.text) for a in read.addenda] == [
        (first.id, "Correction: it was Sunday, not Saturday."),
        (second.id, "Spoke to parent; referred to early help."),
    ]
    # The original is as it was recorded.
    assert read.description == incident.description
    assert read.recorded_at == incident.recorded_at

    chronology = await incidents.stub.ListStudentIncidents(
        pb.ListStudentIncidentsRequest(student_id=school.zoe), metadata=by_dsl
    )
    (listed,) = [i for i in chronology.items if i.id == incident.id]
    assert [a.id for a in listed.addenda] == [first.id, second.id]

    rows = await incidents.sql(
        "SELECT author_id, author_name FROM incident_addenda WHERE incident_id = $1 "
        "ORDER BY created_at",
        uuid.UUID(incident.id),
    )
    assert [(r["author_id"], r["author_name"]) for r in rows] == [
        (author, "Alex Author"),
        (school.dsl_id, "Dee Lead"),
    ]


async def test_only_the_author_or_a_dsl_may_add_and_others_cannot_tell_the_incident_exists(
    incidents: Incidents,
) -> None:
    school = await school_on_record(incidents)
    other = await school_on_record(incidents, "Ash Academy")
    author = str(uuid.uuid4())
    alerted = school.staff_ids[0]
    incident = await record_incident(incidents, school, author, alert=[alerted])

    def user(user_id: str, schools: dict[str, str]):  # type: ignore[no-untyped-def]
        return as_user(incidents, user_id, schools)

    forbidden = (grpc.StatusCode.PERMISSION_DENIED, "forbidden")
    not_found = (grpc.StatusCode.NOT_FOUND, "not_found")
    cases = {
        "alerted staff": (user(alerted, {school.id: "staff"}), forbidden),
        "other staff": (user(school.staff_ids[1], {school.id: "staff"}), not_found),
        "admin of the school": (user(school.admin_id, {school.id: "admin"}), not_found),
        "dsl of another school": (user(other.dsl_id, {other.id: "dsl"}), not_found),
        "the author, after leaving": (user(author, {other.id: "staff"}), not_found),
    }
    for who, (metadata, expected) in cases.items():
        assert await refusal(incidents, metadata, incident.id) == expected, who
    dsl = user(school.dsl_id, {school.id: "dsl"})
    assert await refusal(incidents, dsl, str(uuid.uuid4())) == not_found
    assert await refusal(incidents, dsl, "not-an-id") == not_found
    assert not await incidents.sql(
        "SELECT 1 FROM incident_addenda WHERE incident_id = $1", uuid.UUID(incident.id)
    )


async def test_an_addendum_has_between_1_and_20000_characters(incidents: Incidents) -> None:
    school = await school_on_record(incidents)
    author = str(uuid.uuid4())
    incident = await record_incident(incidents, school, author)
    metadata = as_user(incidents, author, {school.id: "staff"})
    for text in ("", "   \n", "x" * 20_001):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await add(incidents, metadata, incident.id, text)
        error = from_rpc_error(raised.value)
        assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "validation_failed")
        assert [v.field for v in error.violations] == ["text"]
    longest = await add(incidents, metadata, incident.id, "x" * 20_000)
    assert len(longest.text) == 20_000


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE incidents SET description = 'rewritten' WHERE id = $1",
        "DELETE FROM incident_addenda WHERE incident_id = $1",
        "UPDATE incident_addenda SET text = 'rewritten' WHERE incident_id = $1",
        "DELETE FROM incident_views WHERE incident_id = $1",
        "UPDATE incident_views SET user_name = 'someone else' WHERE incident_id = $1",
        "DELETE FROM incidents WHERE id = $1",
    ],
)
async def test_the_database_refuses_to_change_or_delete_an_incident_its_addenda_or_views(
    incidents: Incidents, statement: str
) -> None:
    school = await school_on_record(incidents)
    author = str(uuid.uuid4())
    incident = await record_incident(incidents, school, author)
    metadata = as_user(incidents, author, {school.id: "staff"})
    await add(incidents, metadata, incident.id, "Follow-up.")
    await incidents.stub.GetIncident(
        pb.GetIncidentRequest(incident_id=incident.id), metadata=metadata
    )

    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await incidents.sql(statement, uuid.UUID(incident.id))
    (row,) = await incidents.sql(
        "SELECT description, (SELECT count(*) FROM incident_addenda a WHERE a.incident_id = i.id)"
        " AS addenda, (SELECT count(*) FROM incident_views v WHERE v.incident_id = i.id) AS views"
        " FROM incidents i WHERE id = $1",
        uuid.UUID(incident.id),
    )
    assert (row["description"], row["addenda"], row["views"]) == (incident.description, 1, 1)


async def test_the_database_refuses_to_truncate_the_permanent_record(incidents: Incidents) -> None:
    for table in ("incidents", "incident_addenda", "incident_views"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await incidents.sql(f"TRUNCATE {table} CASCADE")
