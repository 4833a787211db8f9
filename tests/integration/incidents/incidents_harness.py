"""Helpers for the incidents service's integration tests (fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import grpc
from nats.js import JetStreamContext

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
        return identity_pb2.ListStaffResponse(
            items=[school[u] for u in request.user_ids if u in school]
        )

    async def ListStaff(self, request, context):  # type: ignore[no-untyped-def]
        await self._check(context)
        members = [
            m
            for m in self.staff.get(request.school_id, {}).values()
            if not request.roles or m.role in request.roles
        ]
        return identity_pb2.ListStaffResponse(items=members[: request.limit or 20])


@dataclass
class Incidents:
    """The running service and what the tests need to talk to it."""

    stub: incidents_pb2_grpc.IncidentsServiceStub
    identity: IdentityDouble
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

    async def wait_until_schools_consumed(self, seconds: float = 15.0) -> None:
        """Until the durable consumer has acknowledged everything in the stream."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            try:
                info = await self.js.consumer_info(STREAM, "incidents-schools")
                if info.num_pending == 0 and info.num_ack_pending == 0:
                    return
            except Exception:  # noqa: BLE001 - the consumer may not exist yet
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("incidents-schools did not catch up")
            await asyncio.sleep(0.05)

    async def new_school(self, name: str = "Test Primary") -> str:
        school_id = str(uuid.uuid4())
        await self.publish_school_created(school_id, name=name)
        await self.wait_until_schools_consumed()
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
