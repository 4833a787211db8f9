"""Login throttling: delays per account, a lock an admin lifts, a limit per client address."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import grpc
import pytest

from haven.identity.v1 import identity_pb2 as pb
from haven.identity.v1.identity_pb2_grpc import IdentityServiceStub
from haven_runtime.errors import RemoteError, from_rpc_error

from .conftest import RunningIdentity, identity_settings, start_identity, stop_identity
from .helpers import (
    STRONG_PASSWORD,
    audit_rows,
    bearer,
    new_address,
    new_school,
    query,
    rpc_error,
    staff_member,
    user_id_of,
)

WRONG = "not-the-password-at-all"


async def log_in(
    identity: RunningIdentity, email: str, password: str, address: str
) -> pb.LoginResponse:
    return await identity.stub.Login(
        pb.LoginRequest(email=email, password=password, client="pytest", client_address=address)
    )


async def outcome(call) -> RemoteError | pb.LoginResponse:  # type: ignore[no-untyped-def]
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        return from_rpc_error(error)


async def account_counters(identity: RunningIdentity, email: str) -> dict[str, object]:
    [row] = await query(
        identity.database_url,
        "SELECT failed_logins, login_delayed_until, locked_at FROM users WHERE email = $1",
        email,
    )
    return dict(row)


async def end_the_delay(identity: RunningIdentity, email: str) -> None:
    """As if the delay had run out (rather than sleeping through it)."""
    await query(
        identity.database_url,
        "UPDATE users SET login_delayed_until = now() - interval '1 second' WHERE email = $1",
        email,
    )


async def test_after_five_failures_the_next_attempt_waits_and_is_not_checked_against_the_password(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, _ = await staff_member(identity, school)
    address = new_address()
    for _ in range(5):
        error = await rpc_error(log_in(identity, email, WRONG, address))
        assert error.reason == "invalid_credentials"

    # Even the right password is not looked at while the delay runs.
    throttled = await rpc_error(log_in(identity, email, STRONG_PASSWORD, address))

    assert (throttled.code, throttled.reason) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "too_many_attempts",
    )
    assert int(throttled.metadata["retry_after"]) >= 1
    assert (await account_counters(identity, email))["failed_logins"] == 5
    await end_the_delay(identity, email)
    assert (await log_in(identity, email, STRONG_PASSWORD, address)).session_token


async def test_each_further_failure_doubles_the_delay(identity: RunningIdentity):
    school = await new_school(identity)
    email, _ = await staff_member(identity, school)
    address = new_address()
    delays = []
    for attempt in range(8):
        await rpc_error(log_in(identity, email, WRONG, address))
        if attempt >= 4:
            [row] = await query(
                identity.database_url,
                "SELECT extract(epoch FROM login_delayed_until - now()) AS s "
                "FROM users WHERE email = $1",
                email,
            )
            delays.append(round(float(row["s"])))
            await end_the_delay(identity, email)
    assert delays == [1, 2, 4, 8]


async def test_a_success_resets_the_count_of_failures(identity: RunningIdentity):
    school = await new_school(identity)
    email, _ = await staff_member(identity, school)
    address = new_address()
    for _ in range(4):
        await rpc_error(log_in(identity, email, WRONG, address))
    assert (await account_counters(identity, email))["failed_logins"] == 4

    await log_in(identity, email, STRONG_PASSWORD, address)

    counters = await account_counters(identity, email)
    assert counters["failed_logins"] == 0 and counters["login_delayed_until"] is None
    for _ in range(4):  # four more failures are free again
        assert (await rpc_error(log_in(identity, email, WRONG, address))).reason == (
            "invalid_credentials"
        )


async def test_twenty_parallel_wrong_guesses_get_only_five_password_checks(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, _ = await staff_member(identity, school)
    address = new_address()

    outcomes = await asyncio.gather(
        *(outcome(log_in(identity, email, WRONG, address)) for _ in range(20))
    )

    reasons = sorted(o.reason for o in outcomes if isinstance(o, RemoteError))
    assert reasons == ["invalid_credentials"] * 5 + ["too_many_attempts"] * 15
    assert (await account_counters(identity, email))["failed_logins"] == 5
    user_id = await user_id_of(identity, email)
    failures = [
        json.loads(r["detail"])["reason"]
        for r in await audit_rows(identity, user_id)
        if r["action"] == "login_failed"
    ]
    assert sorted(failures) == ["throttled"] * 15 + ["wrong_password"] * 5


async def test_at_the_hundredth_failure_the_account_locks_ends_its_sessions_and_refuses_even_the_right_password(  # noqa: E501
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, session_token = await staff_member(identity, school)
    address = new_address()
    await query(
        identity.database_url, "UPDATE users SET failed_logins = 99 WHERE email = $1", email
    )

    assert (await rpc_error(log_in(identity, email, WRONG, address))).reason == (
        "invalid_credentials"
    )

    counters = await account_counters(identity, email)
    assert counters["failed_logins"] == 100 and counters["locked_at"] is not None
    ended = await rpc_error(
        identity.stub.Authenticate(pb.AuthenticateRequest(session_token=session_token))
    )
    assert ended.code == grpc.StatusCode.UNAUTHENTICATED
    await end_the_delay(identity, email)
    locked = await rpc_error(log_in(identity, email, STRONG_PASSWORD, address))
    assert (locked.code, locked.reason, locked.message) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "invalid_credentials",
        "the email or password is incorrect",
    )
    user_id = await user_id_of(identity, email)
    actions = [r["action"] for r in await audit_rows(identity, user_id)]
    assert "account_locked" in actions
    assert json.loads((await audit_rows(identity, user_id))[-1]["detail"])["reason"] == "locked"


async def test_an_admin_unlocks_a_locked_account_and_the_member_can_log_in_at_once(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, _ = await staff_member(identity, school)
    user_id = await user_id_of(identity, email)
    await query(
        identity.database_url,
        "UPDATE users SET failed_logins = 100, locked_at = now(), "
        "login_delayed_until = now() + interval '15 minutes' WHERE email = $1",
        email,
    )

    await identity.stub.UnlockUser(
        pb.UnlockUserRequest(user_id=user_id), metadata=bearer(school.admin_token)
    )

    counters = await account_counters(identity, email)
    assert counters == {"failed_logins": 0, "login_delayed_until": None, "locked_at": None}
    assert (await log_in(identity, email, STRONG_PASSWORD, new_address())).session_token
    unlocked = [r for r in await audit_rows(identity, user_id) if r["action"] == "user_unlocked"]
    assert len(unlocked) == 1 and str(unlocked[0]["actor_id"]) == school.admin_id
    assert json.loads(unlocked[0]["detail"]) == {"was_locked": True}


async def test_an_email_without_an_account_is_throttled_exactly_like_one_with_an_account(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    known, _ = await staff_member(identity, school)
    unknown = f"nobody.{known}"
    answers: dict[str, list[str]] = {known: [], unknown: []}
    for email in (known, unknown):
        address = new_address()
        for _ in range(7):
            answers[email].append((await rpc_error(log_in(identity, email, WRONG, address))).reason)
    assert (
        answers[known]
        == answers[unknown]
        == ["invalid_credentials"] * 5 + ["too_many_attempts"] * 2
    )
    stored = await query(identity.database_url, "SELECT email_key FROM unknown_login_throttles")
    assert all(unknown not in row["email_key"] for row in stored)  # a keyed hash, not the address


@pytest.fixture(scope="module")
async def strict_identity(
    create_database, nats_url, token_public_key, signing_key
) -> AsyncIterator[RunningIdentity]:  # type: ignore[no-untyped-def]
    """An identity service allowing 3 failed logins per client address per hour."""
    database_url = await create_database("identity")
    settings = identity_settings(
        database_url, nats_url, token_public_key, signing_key, login_limit_per_address=3
    )
    service, task = await start_identity(settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}")
    try:
        yield RunningIdentity(service, settings, IdentityServiceStub(channel), database_url)
    finally:
        await channel.close()
        await stop_identity(service, task)


async def test_a_client_address_with_too_many_failed_logins_in_the_hour_is_refused_for_every_account(  # noqa: E501
    strict_identity: RunningIdentity,
):
    identity = strict_identity
    school = await new_school(identity)
    email, _ = await staff_member(identity, school)
    busy, other = new_address(), new_address()
    for n in range(3):  # three different emails: no account's own delay is involved
        await rpc_error(log_in(identity, f"guess{n}.{email}", WRONG, busy))

    refused = await rpc_error(log_in(identity, email, STRONG_PASSWORD, busy))

    assert (refused.code, refused.reason) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "too_many_attempts",
    )
    assert 3500 < int(refused.metadata["retry_after"]) <= 3600
    assert (await log_in(identity, email, STRONG_PASSWORD, other)).session_token


async def test_successful_logins_do_not_count_against_the_client_address(
    strict_identity: RunningIdentity,
):
    identity = strict_identity
    school = await new_school(identity)
    email, _ = await staff_member(identity, school)
    address = new_address()
    for _ in range(5):
        await log_in(identity, email, STRONG_PASSWORD, address)
    await rpc_error(log_in(identity, email, WRONG, address))
    await rpc_error(log_in(identity, email, WRONG, address))
    assert (await log_in(identity, email, STRONG_PASSWORD, address)).session_token
    [row] = await query(
        identity.database_url,
        "SELECT hits FROM rate_limits WHERE bucket = $1",
        "login:address:" + address,
    )
    assert row["hits"] == 2


async def test_five_parallel_logins_with_the_right_password_all_succeed_from_one_address(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, _ = await staff_member(identity, school)
    address = new_address()

    replies = await asyncio.gather(
        *(log_in(identity, email, STRONG_PASSWORD, address) for _ in range(5))
    )

    assert len({r.session_token for r in replies}) == 5
    counters = await account_counters(identity, email)
    assert counters["failed_logins"] == 0 and counters["login_delayed_until"] is None
