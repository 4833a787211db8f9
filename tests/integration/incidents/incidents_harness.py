"""Helpers for the incidents service's integration tests (fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
from nats.js import JetStreamContext

from haven.files.v1 import files_pb2, files_pb2_grpc
from haven.identity.v1 import identity_pb2, identity_pb2_grpc
from haven.identity.v1.identity_pb2 import SchoolCreated
from haven.incidents.v1 import incidents_pb2 as pb
from haven.incidents.v1 import incidents_pb2_grpc
from haven_runtime.events import STREAM, envelope_for, subject_for


class IdentityDouble(identity_pb2_grpc.IdentityServiceServicer):
    """Identity's staff lookups, answered from a dict, refusing calls without a token."""

    def __init__(self) -> None:
        # school_id -> user_id -> member
        self.staff: dict[str, dict[str, identity_pb2.StaffMember]] = {}
        self.tokens_seen: list[str] = []
        self.available = True
        # Answer GetStaff as a release of identity from before with_roles did.
        self.release_before_with_roles = False

    def add(self, school_id: str, role: str = "staff", name: str | None = None) -> str:
        user_id = str(uuid.uuid4())
        name = name or f"{role.upper()} {user_id[:6]}"
        self.staff.setdefault(school_id, {})[user_id] = identity_pb2.StaffMember(
            id=user_id,
            name=name,
            email=f"{user_id[:8]}@school.example.org",
            role=role,
            school_id=school_id,
        )
        return user_id

    def member(self, school_id: str, user_id: str) -> identity_pb2.StaffMember:
        return self.staff[school_id][user_id]

    async def _check(self, context: grpc.aio.ServicerContext) -> None:
        if not self.available:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "identity is down")
        auth = dict(context.invocation_metadata() or ()).get("authorization", "")
        if not auth.startswith("Bearer "):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "no token")
        self.tokens_seen.append(auth[7:])

    async def GetStaff(self, request, context):  # type: ignore[no-untyped-def]
        await self._check(context)
        school = self.staff.get(request.school_id, {})
        named = [school[u] for u in request.user_ids if u in school]
        if self.release_before_with_roles:  # as identity answered before with_roles
            return identity_pb2.ListStaffResponse(items=named)
        holders = [m for m in school.values() if m.role in request.with_roles and m not in named]
        return identity_pb2.ListStaffResponse(
            items=named + holders, roles_included=list(request.with_roles)
        )

    async def ListStaff(self, request, context):  # type: ignore[no-untyped-def]
        await self._check(context)
        members = [
            m
            for m in self.staff.get(request.school_id, {}).values()
            if not request.roles or m.role in request.roles
        ]
        return identity_pb2.ListStaffResponse(items=members[: request.limit or 20])


class FilesDouble(files_pb2_grpc.FilesServiceServicer):
    """Files' GetFile, answered from a dict, refusing calls without a token.

    Like the real service it answers NOT_FOUND for a file the caller may not
    see; the rules about who uploaded what are the incidents service's to apply.
    """

    def __init__(self) -> None:
        self.files: dict[str, files_pb2.StoredFile] = {}
        self.tokens_seen: list[str] = []
        self.available = True

    def stage(
        self, school_id: str, uploaded_by: str, status: str = "staged", incident_id: str = ""
    ) -> str:
        file_id = str(uuid.uuid4())
        self.files[file_id] = files_pb2.StoredFile(
            id=file_id,
            school_id=school_id,
            filename="note.pdf",
            size=1000,
            content_type="application/pdf",
            status=status,
            incident_id=incident_id,
            uploaded_by=uploaded_by,
        )
        return file_id

    async def GetFile(self, request, context):  # type: ignore[no-untyped-def]
        if not self.available:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "files is down")
        auth = dict(context.invocation_metadata() or ()).get("authorization", "")
        if not auth.startswith("Bearer "):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "no token")
        self.tokens_seen.append(auth[7:])
        if request.file_id not in self.files:
            await context.abort(grpc.StatusCode.NOT_FOUND, "file not found")
        return self.files[request.file_id]


@dataclass
class Incidents:
    """The running service and what the tests need to talk to it."""

    stub: incidents_pb2_grpc.IncidentsServiceStub
    identity: IdentityDouble
    files: FilesDouble
    js: JetStreamContext
    database_url: str
    make_token: Callable[..., str]
    users: dict[str, dict[str, str]] = field(default_factory=dict)

    def metadata(self, user_id: str, schools: dict[str, str], name: str = "Test User"):  # type: ignore[no-untyped-def]
        return (("authorization", "Bearer " + self.make_token(user_id, schools, name=name)),)

    async def publish_school_created(
        self,
        school_id: str,
        name: str = "Test Primary",
        trust_id: str = "trust-1",
        event_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Publish as identity's relay would; the same event_id again is a redelivery."""
        event_id = event_id or uuid.uuid4()
        payload = SchoolCreated(school_id=school_id, trust_id=trust_id, name=name)
        envelope = envelope_for(
            payload, event_id=event_id, producer="identity", at=datetime.now(UTC)
        )
        # A fresh Nats-Msg-Id, so the stream does not drop a deliberate repeat.
        await self.js.publish(
            subject_for(payload.DESCRIPTOR.full_name),
            envelope.SerializeToString(),
            headers={"Nats-Msg-Id": str(uuid.uuid4())},
        )
        return event_id

    async def publish_event(
        self, payload, producer: str, event_id: uuid.UUID | None = None
    ) -> uuid.UUID:  # type: ignore[no-untyped-def]
        """Publish another service's event as its relay would; the same event_id is a redelivery."""
        event_id = event_id or uuid.uuid4()
        envelope = envelope_for(payload, event_id=event_id, producer=producer, at=datetime.now(UTC))
        await self.js.publish(
            subject_for(payload.DESCRIPTOR.full_name),
            envelope.SerializeToString(),
            headers={"Nats-Msg-Id": str(uuid.uuid4())},
        )
        return event_id

    async def wait_until_schools_consumed(self, seconds: float = 15.0) -> None:
        await self.wait_until_consumed("incidents-schools", seconds)

    async def wait_until_consumed(self, durable: str, seconds: float = 15.0) -> None:
        """Until the durable consumer has acknowledged everything in the stream."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            try:
                info = await self.js.consumer_info(STREAM, durable)
                if info.num_pending == 0 and info.num_ack_pending == 0:
                    return
            except Exception:  # noqa: BLE001 - the consumer may not exist yet
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{durable} did not catch up")
            await asyncio.sleep(0.05)

    async def new_school(self, name: str = "Test Primary") -> str:
        school_id = str(uuid.uuid4())
        await self.publish_school_created(school_id, name=name)
        await self.wait_until_schools_consumed()
        # The consumer's counts can lag its acks; the row itself is the proof.
        deadline = asyncio.get_running_loop().time() + 15
        while not await self.sql("SELECT 1 FROM schools WHERE id = $1", school_id):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"school {school_id} was not recorded")
            await asyncio.sleep(0.05)
        return school_id

    async def sql(self, query: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    async def import_students(self, school_id: str, rows: list[dict]) -> pb.ImportStudentsResponse:  # type: ignore[type-arg]
        admin = str(uuid.uuid4())
        return await self.stub.ImportStudents(
            pb.ImportStudentsRequest(
                school_id=school_id,
                items=[pb.StudentRow(line=i + 2, **row) for i, row in enumerate(rows)],
            ),
            metadata=self.metadata(admin, {school_id: "admin"}),
        )


def pupil(upn_number: int, first: str, last: str, year: str = "5", dob: str = "2015-03-01") -> dict:  # type: ignore[type-arg]
    """A valid import row; upn_number makes a UPN of the right shape."""
    return {
        "upn": f"A{upn_number:012d}",
        "first_name": first,
        "last_name": last,
        "year_group": year,
        "date_of_birth": dob,
    }


@dataclass
class SchoolOnRecord:
    """A school with two pupils (Zoë born 2015-03-01), its lists, DSLs, staff and an admin."""

    id: str
    zoe: str
    liam: str
    category_ids: list[str]
    agency_ids: list[str]
    dsl_id: str
    staff_ids: list[str]
    admin_id: str


async def school_on_record(incidents: Incidents, name: str = "Oak Primary") -> SchoolOnRecord:
    school_id = await incidents.new_school(name)
    await incidents.import_students(
        school_id, [pupil(1, "Zoë", "Smith", dob="2015-03-01"), pupil(2, "Liam", "Brown")]
    )
    zoe, liam = [
        str(row["id"])
        for row in await incidents.sql(
            "SELECT id FROM students WHERE school_id = $1 ORDER BY upn", school_id
        )
    ]
    staff = incidents.metadata(str(uuid.uuid4()), {school_id: "staff"})
    categories = await incidents.stub.ListCategories(
        pb.ListCategoriesRequest(school_id=school_id), metadata=staff
    )
    agencies = await incidents.stub.ListAgencies(
        pb.ListAgenciesRequest(school_id=school_id), metadata=staff
    )
    identity = incidents.identity
    return SchoolOnRecord(
        id=school_id,
        zoe=zoe,
        liam=liam,
        category_ids=[c.id for c in categories.items],
        agency_ids=[a.id for a in agencies.items],
        dsl_id=identity.add(school_id, "dsl", "Dee Lead"),
        staff_ids=[identity.add(school_id, "staff", "Sam Teacher"), identity.add(school_id)],
        admin_id=identity.add(school_id, "admin", "Ada Admin"),
    )


def as_user(
    incidents: Incidents,
    user_id: str,
    schools: dict[str, str],
    *,
    name: str = "Test User",
    address: str = "",
    elevated: bool = False,
) -> tuple[tuple[str, str], ...]:
    """Call metadata for a user, optionally with where they are (as the gateway sends it)."""
    extra = {"elevated_until": datetime.now(UTC) + timedelta(minutes=10)} if elevated else {}
    token = incidents.make_token(user_id, schools, name=name, **extra)
    metadata: tuple[tuple[str, str], ...] = (("authorization", "Bearer " + token),)
    if address:
        metadata = (*metadata, ("x-client-address", address))
    return metadata


async def record_incident(
    incidents: Incidents,
    school: SchoolOnRecord,
    author_id: str,
    *,
    alert: Sequence[str] = (),
    category_ids: Sequence[str] = (),
    agency_ids: Sequence[str] = (),
) -> pb.Incident:
    return await incidents.stub.RecordIncident(
        pb.RecordIncidentRequest(
            school_id=school.id,
            student_id=school.zoe,
            description="Said an older cousin hurt them at the weekend.",
            category_ids=list(category_ids or school.category_ids[:1]),
            agency_ids=list(agency_ids),
            alert_staff_ids=list(alert),
        ),
        metadata=as_user(incidents, author_id, {school.id: "staff"}, name="Alex Author"),
    )
