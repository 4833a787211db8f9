"""Steps the identity tests share: set up a school, register, sign in, read the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import asyncpg
import grpc
from google.protobuf.message import Message

from haven.events.v1.envelope_pb2 import EventEnvelope
from haven.identity.v1 import identity_pb2 as pb
from haven_devstack.waiting import eventually  # noqa: F401 - re-exported for tests
from haven_identity.bootstrap import bootstrap
from haven_runtime.errors import RemoteError, from_rpc_error

from .conftest import RunningIdentity

STRONG_PASSWORD = "violet-ocean-tractor-47-banjo"
OTHER_STRONG_PASSWORD = "gravel Marmalade 93 lighthouse"

P = TypeVar("P", bound=Message)


async def rpc_error(call: Awaitable[Any]) -> RemoteError:
    """The error a call fails with (and a test failure if it succeeds)."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return from_rpc_error(error)
    raise AssertionError("the call succeeded but should have failed")


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def query(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def outbox_payloads(database_url: str, payload_type: type[P]) -> list[P]:
    """Every event of this type in identity's outbox, oldest first."""
    rows = await query(
        database_url,
        "SELECT envelope FROM outbox WHERE event_type = $1 ORDER BY created_at",
        payload_type.DESCRIPTOR.full_name,
    )
    payloads = []
    for row in rows:
        payload = payload_type()
        assert EventEnvelope.FromString(row["envelope"]).payload.Unpack(payload)
        payloads.append(payload)
    return payloads


async def reset_links(identity: RunningIdentity, email: str) -> list[pb.PasswordResetRequested]:
    events = await outbox_payloads(identity.database_url, pb.PasswordResetRequested)
    return [e for e in events if e.email == email.lower()]


def token_of(event: pb.PasswordResetRequested) -> str:
    return parse_qs(urlsplit(event.reset_url).query)["token"][0]


async def latest_reset_token(identity: RunningIdentity, email: str) -> str:
    links = await reset_links(identity, email)
    assert links, f"no reset link was issued for {email}"
    return token_of(links[-1])


def new_address() -> str:
    """A client address no other request used, so per-address limits leave the test alone."""
    return f"test-{uuid.uuid4().hex[:12]}"


async def request_reset_token(identity: RunningIdentity, email: str) -> str:
    await identity.stub.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email=email, client_address=new_address())
    )
    return await latest_reset_token(identity, email)


async def register(identity: RunningIdentity, email: str, password: str = STRONG_PASSWORD) -> None:
    """What a new member of staff does: ask for a reset link and set a password with it."""
    token = await request_reset_token(identity, email)
    result = await identity.stub.ConfirmPasswordReset(
        pb.ConfirmPasswordResetRequest(token=token, password=password)
    )
    assert not result.weak, result.strength


async def sign_in(
    identity: RunningIdentity, email: str, password: str = STRONG_PASSWORD
) -> pb.LoginResponse:
    return await identity.stub.Login(
        pb.LoginRequest(email=email, password=password, client="pytest", client_address="127.0.0.1")
    )


async def internal_token(identity: RunningIdentity, session_token: str) -> str:
    reply = await identity.stub.Authenticate(pb.AuthenticateRequest(session_token=session_token))
    return reply.internal_token


@dataclass
class School:
    trust_id: str
    school_id: str
    admin_id: str
    admin_email: str
    admin_session: str = ""
    admin_token: str = ""


async def new_school(identity: RunningIdentity, *, signed_in: bool = True) -> School:
    """A fresh trust and school with its admin (registered and signed in unless told not to)."""
    tag = uuid.uuid4().hex[:8]
    email = f"head.{tag}@example.org"
    ids = await bootstrap(
        identity.database_url, f"Trust {tag}", f"School {tag}", email, f"Head {tag}"
    )
    school = School(ids["trust_id"], ids["school_id"], ids["admin_user_id"], email)
    if signed_in:
        await register(identity, email)
        school.admin_session = (await sign_in(identity, email)).session_token
        school.admin_token = await internal_token(identity, school.admin_session)
    return school


async def import_staff(
    identity: RunningIdentity, school: School, rows: list[tuple[str, str, str]]
) -> pb.ImportStaffResponse:
    return await identity.stub.ImportStaff(
        pb.ImportStaffRequest(
            school_id=school.school_id,
            items=[pb.StaffRow(email=e, name=n, role=r) for e, n, r in rows],
        ),
        metadata=bearer(school.admin_token),
    )


async def staff_member(
    identity: RunningIdentity, school: School, role: str = "staff", *, name: str = ""
) -> tuple[str, str]:
    """Import one member of staff, register them and sign them in: (email, session token)."""
    email = f"staff.{uuid.uuid4().hex[:8]}@example.org"
    await import_staff(identity, school, [(email, name or f"Member {email[6:14]}", role)])
    await register(identity, email)
    return email, (await sign_in(identity, email)).session_token


async def jetstream_payloads(nats_url: str, payload_type: type[P]) -> list[P]:
    """Every event of this type now in the HAVEN_EVENTS stream (read with a throwaway consumer)."""
    import nats
    import nats.errors
    from nats.js.errors import NotFoundError

    from haven_runtime.events import STREAM, subject_for

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        try:
            sub = await js.pull_subscribe(
                subject_for(payload_type.DESCRIPTOR.full_name), durable=None, stream=STREAM
            )
        except NotFoundError:  # no service has created the stream yet
            return []
        payloads: list[P] = []
        while True:
            try:
                batch = await sub.fetch(200, timeout=0.5)
            except (nats.errors.TimeoutError, TimeoutError):  # nats-py raises either
                return payloads
            for msg in batch:
                payload = payload_type()
                EventEnvelope.FromString(msg.data).payload.Unpack(payload)
                payloads.append(payload)
                await msg.ack()
    finally:
        await nc.close()


def code_for(secret: str, steps_from_now: int = 0) -> str:
    """The code an authenticator app shows now (or that many 30-second steps away)."""
    import time

    import pyotp

    return pyotp.TOTP(secret).at(time.time() + 30 * steps_from_now)


@dataclass
class SoftKey:
    secret: str
    recovery_codes: list[str]


async def enrol_soft_key(
    identity: RunningIdentity, token: str, password: str = STRONG_PASSWORD
) -> SoftKey:
    """Set up and confirm a soft key for the caller of `token` (an internal token)."""
    setup = await identity.stub.SetupTotp(
        pb.SetupTotpRequest(password=password, client_address=new_address()),
        metadata=bearer(token),
    )
    confirmed = await identity.stub.ConfirmTotp(
        pb.ConfirmTotpRequest(code=code_for(setup.secret)), metadata=bearer(token)
    )
    return SoftKey(setup.secret, list(confirmed.recovery_codes))


async def audit_rows(identity: RunningIdentity, user_id: str) -> list[asyncpg.Record]:
    """Every audit event about this account, oldest first."""
    return await query(
        identity.database_url,
        "SELECT * FROM audit_events WHERE subject_user_id = $1::uuid ORDER BY at, id",
        user_id,
    )


async def actions_about(identity: RunningIdentity, user_id: str) -> list[str]:
    return [row["action"] for row in await audit_rows(identity, user_id)]


async def user_id_of(identity: RunningIdentity, email: str) -> str:
    [row] = await query(identity.database_url, "SELECT id FROM users WHERE email = $1", email)
    return str(row["id"])
