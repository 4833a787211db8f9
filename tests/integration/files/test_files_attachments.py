"""Incidents take staged files through the IncidentRecorded event, exactly once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import grpc
import nats
import pytest
from nats.js import JetStreamContext

from haven.events.v1.envelope_pb2 import EventEnvelope
from haven.files.v1.files_pb2 import FileDownloaded
from haven.incidents.v1 import incidents_pb2 as incidents
from haven_runtime.bus import ensure_stream
from haven_runtime.events import STREAM, envelope_for, subject_for

from . import upload_samples as samples
from .conftest import RunningFiles, RunningIncidents, StartFiles, eventually

DURABLE = "files-attachments"


@pytest.fixture
async def jetstream(nats_url: str) -> AsyncIterator[JetStreamContext]:
    connection = await nats.connect(nats_url)
    js = connection.jetstream()
    await ensure_stream(js)
    yield js
    await connection.close()


def incident_recorded(
    school_id: str, recorded_by: str, file_ids: list[str]
) -> incidents.IncidentRecorded:
    return incidents.IncidentRecorded(
        incident_id=str(uuid.uuid4()),
        school_id=school_id,
        school_name="Oak Primary",
        recorded_by=incidents.NamedRef(id=recorded_by, name="Alice Teacher"),
        file_ids=file_ids,
    )


async def deliver(
    js: JetStreamContext,
    payload: incidents.IncidentRecorded,
    event_id: uuid.UUID,
    msg_id: bool = True,
) -> int:
    """Publish as the incidents relay does; without Nats-Msg-Id the stream keeps a repeat."""
    envelope = envelope_for(payload, event_id=event_id, producer="incidents", at=datetime.now(UTC))
    ack = await js.publish(
        subject_for(payload.DESCRIPTOR.full_name),
        envelope.SerializeToString(),
        headers={"Nats-Msg-Id": str(event_id)} if msg_id else None,
    )
    return ack.seq


async def handled_up_to(js: JetStreamContext, sequence: int) -> None:
    async def acknowledged() -> bool:
        info = await js.consumer_info(STREAM, DURABLE)
        return info.ack_floor.stream_seq >= sequence

    await eventually(acknowledged, what=f"the consumer acknowledged message {sequence}")


async def file_row(files: RunningFiles, file_id: str):  # type: ignore[no-untyped-def]
    (row,) = await files.query(
        "SELECT status, incident_id, attached_at FROM files WHERE id = $1", uuid.UUID(file_id)
    )
    return row


async def test_incident_recorded_attaches_the_file_once_even_when_delivered_twice(
    start_files: StartFiles, jetstream: JetStreamContext
) -> None:
    files = await start_files()
    school, alice = str(uuid.uuid4()), str(uuid.uuid4())
    stored = await files.upload(alice, {school: "staff"}, school, "bruise.png", samples.png())
    event = incident_recorded(school, alice, [stored.id])
    event_id = uuid.uuid4()

    await handled_up_to(jetstream, await deliver(jetstream, event, event_id))
    first = await file_row(files, stored.id)
    assert (first["status"], first["incident_id"]) == ("attached", event.incident_id)

    # The same event again (a redelivery), then the same fact under a new id (a re-publication).
    await deliver(jetstream, event, event_id, msg_id=False)
    await handled_up_to(jetstream, await deliver(jetstream, event, uuid.uuid4()))

    again = await file_row(files, stored.id)
    assert dict(again) == dict(first)
    handled = await files.query(
        "SELECT event_id FROM processed_events WHERE consumer = $1 AND event_id = $2",
        DURABLE,
        event_id,
    )
    assert len(handled) == 1


async def test_an_attached_file_is_visible_to_the_schools_dsl_and_its_download_is_reported_with_where_from(
    start_files: StartFiles, jetstream: JetStreamContext, running_incidents: RunningIncidents
) -> None:
    files = await start_files(incidents_addr=running_incidents.address)
    school, alice, dina, bob = (str(uuid.uuid4()) for _ in range(4))
    content = samples.pdf(50_000)
    stored = await files.upload(alice, {school: "staff"}, school, "report.pdf", content)
    event = incident_recorded(school, alice, [stored.id])
    await running_incidents.record(event.incident_id, school, alice)
    await handled_up_to(jetstream, await deliver(jetstream, event, uuid.uuid4()))

    seen = await files.get_file(dina, {school: "dsl"}, stored.id)
    assert (seen.status, seen.incident_id) == ("attached", event.incident_id)
    assert seen.HasField("attached_at")
    metadata, body = await files.download(
        dina, {school: "dsl"}, stored.id, client_address="203.0.113.9"
    )
    assert body == content
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await files.get_file(bob, {school: "staff"}, stored.id)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND

    (row,) = await files.query(
        "SELECT envelope FROM outbox WHERE event_type = $1", FileDownloaded.DESCRIPTOR.full_name
    )
    reported = FileDownloaded()
    EventEnvelope.FromString(row["envelope"]).payload.Unpack(reported)
    assert (
        reported.file_id,
        reported.incident_id,
        reported.user_id,
        reported.client_address,
    ) == (stored.id, event.incident_id, dina, "203.0.113.9")


async def test_whoever_incidents_lets_see_the_incident_downloads_its_file_and_nobody_else(
    start_files: StartFiles, jetstream: JetStreamContext, running_incidents: RunningIncidents
) -> None:
    files = await start_files(incidents_addr=running_incidents.address)
    school, other = str(uuid.uuid4()), str(uuid.uuid4())
    alice, tom, bob, dina = (str(uuid.uuid4()) for _ in range(4))
    content = samples.pdf(20_000)
    stored = await files.upload(alice, {school: "staff"}, school, "report.pdf", content)
    event = incident_recorded(school, alice, [stored.id])
    # Alice recorded it and named Tom to be alerted; Bob is a colleague left out.
    await running_incidents.record(event.incident_id, school, alice, alerted=[tom])
    await handled_up_to(jetstream, await deliver(jetstream, event, uuid.uuid4()))

    for reader, role in ((alice, "staff"), (tom, "staff"), (dina, "dsl")):
        _, body = await files.download(reader, {school: role}, stored.id)
        assert body == content
    # Asking incidents showed nobody the incident: its trail has no reading from it
    # (each download reaches the trail as file_downloaded, from the FileDownloaded event).
    conn = await asyncpg.connect(running_incidents.database_url)
    try:
        readings = await conn.fetchval(
            "SELECT count(*) FROM incident_views WHERE incident_id = $1 AND action = 'viewed'",
            uuid.UUID(event.incident_id),
        )
    finally:
        await conn.close()
    assert readings == 0

    unknown = await _refusal(files.download(bob, {school: "staff"}, str(uuid.uuid4())))
    assert unknown == grpc.StatusCode.NOT_FOUND
    for reader, schools in (
        (bob, {school: "staff"}),  # not alerted: incidents says no
        (bob, {school: "admin"}),  # an admin is not a reader of incidents
        (tom, {other: "staff"}),  # no longer a member of the school
        (dina, {other: "dsl"}),  # a DSL of another school
    ):
        assert await _refusal(files.download(reader, schools, stored.id)) == unknown
        assert await _refusal(files.get_file(reader, schools, stored.id)) == unknown


async def test_when_incidents_cannot_answer_an_attached_file_is_unavailable_not_shown(
    start_files: StartFiles, jetstream: JetStreamContext, running_incidents: RunningIncidents
) -> None:
    files = await start_files(incidents_addr=running_incidents.address)
    school, alice = str(uuid.uuid4()), str(uuid.uuid4())
    stored = await files.upload(alice, {school: "staff"}, school, "report.pdf", samples.pdf())
    event = incident_recorded(school, alice, [stored.id])
    await running_incidents.record(event.incident_id, school, alice)
    await handled_up_to(jetstream, await deliver(jetstream, event, uuid.uuid4()))

    await running_incidents.stop()

    assert (
        await _refusal(files.download(alice, {school: "staff"}, stored.id))
        == grpc.StatusCode.UNAVAILABLE
    )
    assert not await files.query(
        "SELECT 1 FROM outbox WHERE event_type = $1", FileDownloaded.DESCRIPTOR.full_name
    )


async def _refusal(call) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return refused.value.code()


async def test_an_incident_cannot_take_a_file_someone_else_staged(
    start_files: StartFiles, jetstream: JetStreamContext
) -> None:
    files = await start_files()
    school, alice, mallory = (str(uuid.uuid4()) for _ in range(3))
    stored = await files.upload(alice, {school: "staff"}, school, "report.pdf", samples.pdf())

    event = incident_recorded(school, mallory, [stored.id])
    await handled_up_to(jetstream, await deliver(jetstream, event, uuid.uuid4()))

    row = await file_row(files, stored.id)
    assert (row["status"], row["incident_id"]) == ("staged", None)
