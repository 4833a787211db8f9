"""Password-reset limits: per email and per client address, shared by replicas; wrong submissions."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from haven.identity.v1 import identity_pb2 as pb
from haven.identity.v1.identity_pb2_grpc import IdentityServiceStub

from .conftest import RunningIdentity, identity_settings, start_identity, stop_identity
from .helpers import (
    OTHER_STRONG_PASSWORD,
    STRONG_PASSWORD,
    audit_rows,
    new_address,
    new_school,
    query,
    reset_links,
    rpc_error,
    sign_in,
    token_of,
)

WEAK = "password1234"


async def request_reset(
    identity: RunningIdentity, email: str, address: str
) -> pb.RequestPasswordResetResponse:
    return await identity.stub.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email=email, client_address=address)
    )


async def confirm(
    identity: RunningIdentity, token: str, password: str
) -> pb.ConfirmPasswordResetResponse:
    return await identity.stub.ConfirmPasswordReset(
        pb.ConfirmPasswordResetRequest(token=token, password=password, client_address="192.0.2.9")
    )


@pytest.fixture(scope="module")
async def replicas(
    create_database, nats_url, token_public_key, signing_key
) -> AsyncIterator[list[RunningIdentity]]:  # type: ignore[no-untyped-def]
    """Two identity replicas sharing one database, allowing 3 resets per client address."""
    database_url = await create_database("identity")
    running = []
    try:
        for _ in range(2):
            settings = identity_settings(
                database_url, nats_url, token_public_key, signing_key, reset_limit_per_address=3
            )
            service, task = await start_identity(settings)
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}")
            running.append(
                (
                    RunningIdentity(service, settings, IdentityServiceStub(channel), database_url),
                    channel,
                    task,
                )
            )
        yield [r for r, _, _ in running]
    finally:
        for identity, channel, task in running:
            await channel.close()
            await stop_identity(identity.service, task)


async def test_a_sixth_reset_request_for_one_email_in_the_hour_is_refused_whichever_replica_answers(
    replicas: list[RunningIdentity],
):
    school = await new_school(replicas[0], signed_in=False)
    for n in range(5):  # from five addresses, alternating replicas
        await request_reset(replicas[n % 2], school.admin_email, new_address())

    refused = await rpc_error(request_reset(replicas[1], school.admin_email, new_address()))

    assert (refused.code, refused.reason) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "too_many_requests",
    )
    assert 3500 < int(refused.metadata["retry_after"]) <= 3600
    assert len(await reset_links(replicas[0], school.admin_email)) == 5


async def test_the_limit_per_email_counts_emails_without_an_account_too_so_it_reveals_nothing(
    replicas: list[RunningIdentity],
):
    school = await new_school(replicas[0], signed_in=False)
    unknown = f"nobody.{school.admin_email}"
    answers: dict[str, list[str]] = {}
    for email in (school.admin_email, unknown):
        answers[email] = []
        for _ in range(6):
            try:
                await request_reset(replicas[0], email, new_address())
                answers[email].append("accepted")
            except grpc.aio.AioRpcError as error:
                answers[email].append(error.code().name)
    assert (
        answers[school.admin_email] == answers[unknown] == ["accepted"] * 5 + ["RESOURCE_EXHAUSTED"]
    )
    stored = await query(replicas[0].database_url, "SELECT bucket FROM rate_limits")
    assert not any(unknown in row["bucket"] for row in stored)  # a keyed hash, not the address


async def test_a_client_address_gets_its_hourly_number_of_reset_requests_across_replicas(
    replicas: list[RunningIdentity],
):
    address = new_address()
    emails = [f"someone.{n}.{address}@example.org" for n in range(4)]
    for n in range(3):
        await request_reset(replicas[n % 2], emails[n], address)

    refused = await rpc_error(request_reset(replicas[1], emails[3], address))

    assert refused.reason == "too_many_requests"
    await request_reset(replicas[0], emails[3], new_address())  # another address is fine


async def test_parallel_reset_requests_cannot_take_more_than_the_limit(
    replicas: list[RunningIdentity],
):
    address = new_address()

    async def attempt(n: int) -> str:
        try:
            await request_reset(replicas[n % 2], f"p{n}.{address}@example.org", address)
            return "accepted"
        except grpc.aio.AioRpcError as error:
            return error.code().name

    outcomes = await asyncio.gather(*(attempt(n) for n in range(10)))
    assert sorted(outcomes) == ["RESOURCE_EXHAUSTED"] * 7 + ["accepted"] * 3


async def test_four_weak_passwords_leave_the_link_working(identity: RunningIdentity):
    school = await new_school(identity, signed_in=False)
    await request_reset(identity, school.admin_email, new_address())
    token = token_of((await reset_links(identity, school.admin_email))[-1])

    for _ in range(4):
        assert (await confirm(identity, token, WEAK)).weak

    assert not (await confirm(identity, token, STRONG_PASSWORD)).weak


async def test_the_fifth_wrong_submission_ends_the_reset_flow(identity: RunningIdentity):
    school = await new_school(identity, signed_in=False)
    await request_reset(identity, school.admin_email, new_address())
    token = token_of((await reset_links(identity, school.admin_email))[-1])

    answers = [await confirm(identity, token, WEAK) for _ in range(5)]
    assert all(a.weak and a.strength.warning for a in answers)

    spent = await rpc_error(confirm(identity, token, STRONG_PASSWORD))
    assert (spent.code, spent.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "invalid_token")
    refusals = [
        json.loads(r["detail"])
        for r in await audit_rows(identity, school.admin_id)
        if r["action"] == "password_reset_refused_weak"
    ]
    assert [r["wrong_submissions"] for r in refusals] == [1, 2, 3, 4, 5]
    assert [r["link_spent"] for r in refusals] == [False] * 4 + [True]


async def test_a_completed_reset_invalidates_every_other_link_of_the_account(
    identity: RunningIdentity,
):
    school = await new_school(identity, signed_in=False)
    await request_reset(identity, school.admin_email, new_address())
    await request_reset(identity, school.admin_email, new_address())
    older, newer = await reset_links(identity, school.admin_email)
    # Bring the older link back to life, as if two were live at once (two tabs
    # racing the request), to see the completed reset end it.
    await query(
        identity.database_url,
        "UPDATE password_reset_tokens SET expires_at = now() + interval '1 hour' "
        "WHERE user_id = $1::uuid",
        school.admin_id,
    )

    assert not (await confirm(identity, token_of(newer), STRONG_PASSWORD)).weak

    refused = await rpc_error(confirm(identity, token_of(older), OTHER_STRONG_PASSWORD))
    assert refused.reason == "invalid_token"
    assert (await sign_in(identity, school.admin_email, STRONG_PASSWORD)).session_token


async def test_reset_requests_and_completions_are_audited_without_the_token(
    identity: RunningIdentity,
):
    school = await new_school(identity, signed_in=False)
    unknown = f"nobody.{school.admin_email}"
    await request_reset(identity, school.admin_email, "192.0.2.44")
    await request_reset(identity, unknown, "192.0.2.44")
    token = token_of((await reset_links(identity, school.admin_email))[-1])
    await confirm(identity, token, STRONG_PASSWORD)

    mine = [r for r in await audit_rows(identity, school.admin_id) if r["action"] != "role_changed"]
    assert [r["action"] for r in mine] == ["password_reset_requested", "password_reset_completed"]
    assert mine[0]["client_address"] == "192.0.2.44"
    assert mine[0]["school_ids"] == [uuid.UUID(school.school_id)]
    probing = await query(
        identity.database_url,
        "SELECT action, subject_user_id, detail FROM audit_events WHERE subject_email = $1",
        unknown,
    )
    assert [(r["action"], r["subject_user_id"]) for r in probing] == [
        ("password_reset_requested", None)
    ]
    assert json.loads(probing[0]["detail"]) == {"account": "unknown", "sent": False}
    everything = await query(identity.database_url, "SELECT detail::text AS d FROM audit_events")
    assert not any(token in row["d"] for row in everything)


async def test_when_the_hour_is_over_the_limit_starts_again_and_finished_windows_are_cleared_away(
    replicas: list[RunningIdentity],
):
    from haven_identity.adapters.rate_limits import forget_finished_windows
    from haven_runtime.db import Database

    address = new_address()
    for n in range(3):
        await request_reset(replicas[0], f"w{n}.{address}@example.org", address)
    assert (await rpc_error(request_reset(replicas[0], f"w.{address}@example.org", address))).reason
    await query(
        replicas[0].database_url,
        "UPDATE rate_limits SET window_started_at = now() - interval '61 minutes' "
        "WHERE bucket = $1",
        "reset:address:" + address,
    )

    await request_reset(replicas[1], f"w3.{address}@example.org", address)
    [row] = await query(
        replicas[0].database_url,
        "SELECT hits FROM rate_limits WHERE bucket = $1",
        "reset:address:" + address,
    )
    assert row["hits"] == 1

    await query(
        replicas[0].database_url,
        "UPDATE rate_limits SET window_started_at = now() - interval '61 minutes' "
        "WHERE bucket = $1",
        "reset:address:" + address,
    )
    db = Database(replicas[0].database_url, pool_size=1)
    try:
        async with db.unit_of_work() as uow:
            assert await forget_finished_windows(uow.session) >= 1
            await uow.commit()
    finally:
        await db.dispose()
    assert not await query(
        replicas[0].database_url,
        "SELECT 1 FROM rate_limits WHERE bucket = $1",
        "reset:address:" + address,
    )
