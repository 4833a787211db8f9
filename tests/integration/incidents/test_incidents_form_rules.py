"""Rules of the form that need others' facts: the pupil's age, and files staged by the author."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from haven.incidents.v1 import incidents_pb2 as pb
from haven_runtime.errors import from_rpc_error

from .incidents_harness import Incidents, SchoolOnRecord, as_user, school_on_record


def at(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


async def record(  # type: ignore[no-untyped-def]
    incidents: Incidents, school: SchoolOnRecord, author: str, description: str, **fields
) -> pb.Incident:
    return await incidents.stub.RecordIncident(
        pb.RecordIncidentRequest(
            school_id=school.id,
            student_id=school.zoe,
            description=description,
            category_ids=school.category_ids[:1],
            **fields,
        ),
        metadata=as_user(incidents, author, {school.id: "staff"}),
        timeout=10,
    )


async def stored(incidents: Incidents, description: str) -> int:
    rows = await incidents.sql("SELECT 1 FROM incidents WHERE description = $1", description)
    return len(rows)


async def test_an_incident_cannot_have_happened_before_the_pupil_was_two(
    incidents: Incidents,
) -> None:
    school = await school_on_record(incidents)  # Zoë was born on 2015-03-01
    author = str(uuid.uuid4())
    description = f"Too early {uuid.uuid4()}"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await record(
            incidents,
            school,
            author,
            description,
            occurred_at=at(datetime(2017, 2, 28, 23, 59, tzinfo=UTC)),
        )
    error = from_rpc_error(raised.value)
    assert error.reason == "validation_failed"
    assert [v.field for v in error.violations] == ["occurred_at"]
    assert await stored(incidents, description) == 0

    on_time = await record(
        incidents, school, author, description, occurred_at=at(datetime(2017, 3, 1, tzinfo=UTC))
    )
    assert on_time.occurred_at.ToDatetime(tzinfo=UTC) == datetime(2017, 3, 1, tzinfo=UTC)


async def test_attached_files_must_be_staged_by_the_author_in_the_same_school(
    incidents: Incidents,
) -> None:
    school = await school_on_record(incidents)
    author = str(uuid.uuid4())
    files = incidents.files
    mine = files.stage(school.id, author)
    file_ids = [
        files.stage(school.id, str(uuid.uuid4())),  # someone else's
        files.stage("another-school", author),  # another school's
        files.stage(school.id, author, status="attached", incident_id=str(uuid.uuid4())),
        str(uuid.uuid4()),  # files does not know it (or will not show it)
        mine,
    ]
    description = f"Files {uuid.uuid4()}"
    seen_before = len(files.tokens_seen)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await record(incidents, school, author, description, file_ids=file_ids)
    error = from_rpc_error(raised.value)
    assert error.reason == "validation_failed"
    assert [v.field for v in error.violations] == [f"file_ids[{i}]" for i in range(4)]
    assert await stored(incidents, description) == 0
    # Files was asked with the author's own token.
    assert len(files.tokens_seen) - seen_before == len(file_ids)

    incident = await record(incidents, school, author, description, file_ids=[mine])
    assert list(incident.file_ids) == [mine]


async def test_when_files_is_unavailable_nothing_is_recorded(incidents: Incidents) -> None:
    school = await school_on_record(incidents)
    author = str(uuid.uuid4())
    staged = incidents.files.stage(school.id, author)
    description = f"Files down {uuid.uuid4()}"
    incidents.files.available = False
    try:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await record(incidents, school, author, description, file_ids=[staged])
    finally:
        incidents.files.available = True
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert await stored(incidents, description) == 0
    # Without files, an incident with no attachments is still recorded.
    incidents.files.available = False
    try:
        await record(incidents, school, author, description)
    finally:
        incidents.files.available = True
    assert await stored(incidents, description) == 1
