"""Who viewed what: every view, chronology read and file download, for the school's DSLs."""

from __future__ import annotations

import uuid

import grpc
import pytest

from haven.files.v1.files_pb2 import FileDownloaded
from haven.incidents.v1 import incidents_pb2 as pb
from haven_runtime.errors import from_rpc_error

from .incidents_harness import Incidents, as_user, record_incident, school_on_record

DURABLE = "incidents-file-downloads"


async def views(  # type: ignore[no-untyped-def]
    incidents: Incidents, metadata, incident_id: str, limit: int = 0, cursor: str = ""
) -> pb.ListIncidentViewsResponse:
    return await incidents.stub.ListIncidentViews(
        pb.ListIncidentViewsRequest(incident_id=incident_id, limit=limit, cursor=cursor),
        metadata=metadata,
        timeout=10,
    )


async def test_a_dsl_sees_each_view_chronology_read_and_download_newest_first_with_where_from(
    incidents: Incidents,
) -> None:
    school = await school_on_record(incidents)
    author = str(uuid.uuid4())
    alerted = school.staff_ids[0]
    incident = await record_incident(incidents, school, author, alert=[alerted])

    await incidents.stub.GetIncident(
        pb.GetIncidentRequest(incident_id=incident.id),
        metadata=as_user(
            incidents, alerted, {school.id: "staff"}, name="Sam Teacher", address="203.0.113.9"
        ),
    )
    dsl = as_user(
        incidents,
        school.dsl_id,
        {school.id: "dsl"},
        name="Dee Lead",
        address="198.51.100.7",
        elevated=True,
    )
    await incidents.stub.ListStudentIncidents(
        pb.ListStudentIncidentsRequest(student_id=school.zoe), metadata=dsl
    )
    download = FileDownloaded(
        file_id="file-42",
        school_id=school.id,
        incident_id=incident.id,
        user_id=author,
        user_name="Alex Author",
        client_address="192.0.2.1",
    )
    event_id = await incidents.publish_event(download, producer="files")
    # Delivered twice: recorded once.
    await incidents.publish_event(download, producer="files", event_id=event_id)
    await incidents.wait_until_consumed(DURABLE)

    trail = await views(incidents, dsl, incident.id)
    assert [
        (v.action, v.user.id, v.user.name, v.client_address, v.file_id) for v in trail.items
    ] == [
        ("file_downloaded", author, "Alex Author", "192.0.2.1", "file-42"),
        ("chronology_viewed", school.dsl_id, "Dee Lead", "198.51.100.7", ""),
        ("viewed", alerted, "Sam Teacher", "203.0.113.9", ""),
    ]
    times = [v.at.ToDatetime() for v in trail.items]
    assert times == sorted(times, reverse=True)
    assert trail.next_cursor == ""
    # Reading the trail is not itself a view of the incident.
    assert len((await views(incidents, dsl, incident.id)).items) == 3


async def test_a_download_of_a_file_of_an_unknown_incident_or_another_school_is_not_recorded(
    incidents: Incidents,
) -> None:
    school = await school_on_record(incidents)
    incident = await record_incident(incidents, school, str(uuid.uuid4()))
    for incident_id, school_id in ((str(uuid.uuid4()), school.id), (incident.id, "elsewhere")):
        await incidents.publish_event(
            FileDownloaded(
                file_id="f",
                school_id=school_id,
                incident_id=incident_id,
                user_id="u",
                user_name="U",
            ),
            producer="files",
        )
    await incidents.wait_until_consumed(DURABLE)
    dsl = as_user(incidents, school.dsl_id, {school.id: "dsl"})
    assert not (await views(incidents, dsl, incident.id)).items


async def test_the_trail_is_paged_newest_first_without_repeats(incidents: Incidents) -> None:
    school = await school_on_record(incidents)
    author = str(uuid.uuid4())
    incident = await record_incident(incidents, school, author)
    for n in range(5):
        await incidents.stub.GetIncident(
            pb.GetIncidentRequest(incident_id=incident.id),
            metadata=as_user(incidents, author, {school.id: "staff"}, address=f"10.0.0.{n}"),
        )
    dsl = as_user(incidents, school.dsl_id, {school.id: "dsl"})
    seen, cursor = [], ""
    while True:
        page = await views(incidents, dsl, incident.id, limit=2, cursor=cursor)
        assert len(page.items) <= 2
        seen += [v.client_address for v in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == [f"10.0.0.{n}" for n in reversed(range(5))]

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await views(incidents, dsl, incident.id, cursor="not-a-cursor")
    error = from_rpc_error(raised.value)
    assert (error.code, [v.field for v in error.violations]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        ["cursor"],
    )


async def test_only_the_schools_dsls_read_the_trail_and_others_cannot_tell_the_incident_exists(
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
        "the author": (user(author, {school.id: "staff"}), forbidden),
        "alerted staff": (user(alerted, {school.id: "staff"}), forbidden),
        "other staff": (user(school.staff_ids[1], {school.id: "staff"}), not_found),
        "admin of the school": (user(school.admin_id, {school.id: "admin"}), not_found),
        "dsl of another school": (user(other.dsl_id, {other.id: "dsl"}), not_found),
    }
    for who, (metadata, expected) in cases.items():
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await views(incidents, metadata, incident.id)
        error = from_rpc_error(raised.value)
        assert (error.code, error.reason) == expected, who
    dsl = user(school.dsl_id, {school.id: "dsl"})
    for unknown in (str(uuid.uuid4()), "nope"):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await views(incidents, dsl, unknown)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await views(incidents, dsl, incident.id)).items == []
