"""Session lifetime (idle and absolute), the caller's session list, and ending one of them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import grpc

from haven.identity.v1 import identity_pb2 as pb

from .conftest import RunningIdentity
from .helpers import (
    audit_rows,
    bearer,
    internal_token,
    new_school,
    query,
    rpc_error,
    sign_in,
    staff_member,
    user_id_of,
)


async def authenticate(identity: RunningIdentity, session_token: str) -> pb.AuthenticateResponse:
    return await identity.stub.Authenticate(pb.AuthenticateRequest(session_token=session_token))


async def set_session(identity: RunningIdentity, session_id: str, assignment: str) -> None:
    await query(
        identity.database_url, f"UPDATE sessions SET {assignment} WHERE id = $1::uuid", session_id
    )


async def test_every_login_gets_a_new_session_token_of_at_least_128_bits(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    tokens = {(await sign_in(identity, school.admin_email)).session_token for _ in range(3)}
    tokens.add(school.admin_session)
    assert len(tokens) == 4
    # URL-safe base64 carries 6 bits a character: 22 characters are 128 bits.
    assert all(len(t) >= 43 for t in tokens)


async def test_a_session_idle_for_longer_than_the_idle_timeout_ends(identity: RunningIdentity):
    school = await new_school(identity)
    idle = identity.settings.session_idle_minutes
    session_id = (await authenticate(identity, school.admin_session)).session_id

    await set_session(identity, session_id, f"last_seen_at = now() - interval '{idle - 1} minutes'")
    assert (await authenticate(identity, school.admin_session)).session_id == session_id
    # That request counted as activity: the clock starts again.
    [row] = await query(
        identity.database_url,
        "SELECT now() - last_seen_at AS idle FROM sessions WHERE id = $1::uuid",
        session_id,
    )
    assert row["idle"] < timedelta(minutes=1)

    await set_session(identity, session_id, f"last_seen_at = now() - interval '{idle + 1} minutes'")
    error = await rpc_error(authenticate(identity, school.admin_session))
    assert (error.code, error.reason) == (grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")


async def test_an_active_session_still_ends_at_its_absolute_lifetime(identity: RunningIdentity):
    school = await new_school(identity)
    session_id = (await authenticate(identity, school.admin_session)).session_id
    [row] = await query(
        identity.database_url,
        "SELECT expires_at - created_at AS lifetime FROM sessions WHERE id = $1::uuid",
        session_id,
    )
    assert row["lifetime"] == timedelta(hours=identity.settings.session_absolute_hours)

    # Used a moment ago, but the login was longer ago than the absolute lifetime.
    await set_session(
        identity,
        session_id,
        "created_at = now() - interval '13 hours', expires_at = now() - interval '1 hour', "
        "last_seen_at = now()",
    )
    error = await rpc_error(authenticate(identity, school.admin_session))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED


async def test_a_member_lists_their_own_live_sessions_with_the_current_one_flagged(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, first = await staff_member(identity, school)
    second = (await sign_in(identity, email)).session_token
    ended = (await sign_in(identity, email)).session_token
    await identity.stub.Logout(pb.LogoutRequest(session_token=ended))
    current = await authenticate(identity, second)

    reply = await identity.stub.ListSessions(
        pb.ListSessionsRequest(), metadata=bearer(current.internal_token)
    )

    first_id = (await authenticate(identity, first)).session_id
    assert {s.id for s in reply.items} == {first_id, current.session_id}
    assert [s.id for s in reply.items if s.current] == [current.session_id]
    for item in reply.items:
        assert item.client == "pytest" and item.client_address == "127.0.0.1"
        assert item.created_at.seconds and item.last_seen_at.seconds
        assert item.expires_at.ToDatetime(tzinfo=UTC) > datetime.now(UTC) + timedelta(hours=11)
        assert not item.HasField("elevated_until")


async def test_a_member_ends_another_of_their_sessions_and_it_stops_working_at_once(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, laptop = await staff_member(identity, school)
    phone = (await sign_in(identity, email)).session_token
    phone_id = (await authenticate(identity, phone)).session_id
    token = await internal_token(identity, laptop)

    await identity.stub.RevokeSession(
        pb.RevokeSessionRequest(session_id=phone_id, client_address="192.0.2.7"),
        metadata=bearer(token),
    )

    error = await rpc_error(authenticate(identity, phone))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert (await authenticate(identity, laptop)).user.email == email
    revoked = [
        r
        for r in await audit_rows(identity, await user_id_of(identity, email))
        if r["action"] == "session_revoked"
    ]
    assert len(revoked) == 1 and revoked[0]["client_address"] == "192.0.2.7"
    assert json.loads(revoked[0]["detail"]) == {"session_id": phone_id, "current": False}


async def test_ending_someone_elses_session_answers_not_found_and_ends_nothing(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    _, victim = await staff_member(identity, school)
    victim_id = (await authenticate(identity, victim)).session_id

    for session_id in (victim_id, str(uuid.uuid4()), "not-an-id"):
        error = await rpc_error(
            identity.stub.RevokeSession(
                pb.RevokeSessionRequest(session_id=session_id),
                metadata=bearer(school.admin_token),
            )
        )
        assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "not_found")
    assert (await authenticate(identity, victim)).session_id == victim_id


async def test_logout_is_audited(identity: RunningIdentity):
    school = await new_school(identity)
    email, session_token = await staff_member(identity, school)
    await identity.stub.Logout(
        pb.LogoutRequest(session_token=session_token, client_address="192.0.2.8")
    )
    rows = await audit_rows(identity, await user_id_of(identity, email))
    assert [r["action"] for r in rows][-1] == "logout"
    assert rows[-1]["client_address"] == "192.0.2.8"
