"""Password reset (also how new staff register) and password strength, against a real service."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import grpc

from haven.identity.v1 import identity_pb2 as pb

from .conftest import PUBLIC_URL, RunningIdentity
from .helpers import (
    OTHER_STRONG_PASSWORD,
    STRONG_PASSWORD,
    eventually,
    jetstream_payloads,
    new_school,
    query,
    reset_links,
    rpc_error,
    sign_in,
    staff_member,
    token_of,
)


async def timed_reset_request(
    identity: RunningIdentity, email: str
) -> tuple[pb.RequestPasswordResetResponse, float]:
    started = time.perf_counter()
    reply = await identity.stub.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email=email, client_address="192.0.2.1")
    )
    return reply, time.perf_counter() - started


async def confirm(
    identity: RunningIdentity, token: str, password: str
) -> pb.ConfirmPasswordResetResponse:
    return await identity.stub.ConfirmPasswordReset(
        pb.ConfirmPasswordResetRequest(token=token, password=password)
    )


async def test_reset_answers_alike_for_known_and_unknown_emails_and_only_the_known_one_publishes(
    identity: RunningIdentity, nats_url: str
):
    school = await new_school(identity, signed_in=False)
    unknown = "nobody.here@example.org"

    known_reply, known_seconds = await timed_reset_request(identity, school.admin_email.upper())
    unknown_reply, unknown_seconds = await timed_reset_request(identity, unknown)

    assert known_reply == unknown_reply == pb.RequestPasswordResetResponse()
    assert known_reply.SerializeToString() == unknown_reply.SerializeToString()
    assert abs(known_seconds - unknown_seconds) < 0.1
    assert len(await reset_links(identity, school.admin_email)) == 1
    assert await reset_links(identity, unknown) == []

    async def published() -> bool:
        events = await jetstream_payloads(nats_url, pb.PasswordResetRequested)
        return any(e.user_id == school.admin_id for e in events)

    await eventually(published)
    events = await jetstream_payloads(nats_url, pb.PasswordResetRequested)
    assert not any(e.email == unknown for e in events)


async def test_a_reset_link_goes_to_the_public_url_and_expires_after_the_configured_time(
    identity: RunningIdentity,
):
    school = await new_school(identity, signed_in=False)
    before = datetime.now(UTC)
    await identity.stub.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email=school.admin_email)
    )
    [link] = await reset_links(identity, school.admin_email)

    assert link.user_id == school.admin_id
    assert link.name.startswith("Head ")
    assert link.reset_url.startswith(f"{PUBLIC_URL}/reset-password?token=")
    assert len(token_of(link)) >= 43  # 32 random bytes, URL-safe base64
    lifetime = link.expires_at.ToDatetime(tzinfo=UTC) - before
    ttl = timedelta(minutes=identity.settings.reset_token_ttl_minutes)
    assert ttl - timedelta(seconds=30) < lifetime <= ttl + timedelta(seconds=30)
    # Only a keyed hash of the token is stored.
    stored = await query(
        identity.database_url,
        "SELECT token_hash FROM password_reset_tokens WHERE user_id = $1::uuid",
        school.admin_id,
    )
    assert [r["token_hash"] for r in stored] != [token_of(link)]
    assert token_of(link) not in stored[0]["token_hash"]


async def test_a_new_reset_link_makes_the_older_one_stop_working(identity: RunningIdentity):
    school = await new_school(identity, signed_in=False)
    for _ in range(2):
        await identity.stub.RequestPasswordReset(
            pb.RequestPasswordResetRequest(email=school.admin_email)
        )
    older, newer = await reset_links(identity, school.admin_email)

    refused = await rpc_error(confirm(identity, token_of(older), STRONG_PASSWORD))
    assert (refused.code, refused.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "invalid_token")
    assert not (await confirm(identity, token_of(newer), STRONG_PASSWORD)).weak


async def test_a_disabled_account_is_sent_no_reset_link(identity: RunningIdentity):
    school = await new_school(identity, signed_in=False)
    await query(
        identity.database_url,
        "UPDATE users SET disabled = true WHERE id = $1::uuid",
        school.admin_id,
    )
    await identity.stub.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email=school.admin_email)
    )
    assert await reset_links(identity, school.admin_email) == []


async def test_a_weak_password_is_refused_with_weak_password_and_the_token_still_works(
    identity: RunningIdentity,
):
    school = await new_school(identity, signed_in=False)
    await identity.stub.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email=school.admin_email)
    )
    token = token_of((await reset_links(identity, school.admin_email))[-1])

    for weak in ("password1234", "short1!", "Head " + school.admin_email):
        refused = await confirm(identity, token, weak)
        assert refused.weak
        assert not refused.strength.acceptable
        assert refused.strength.score <= 2 or len(weak) < 12
        assert refused.strength.warning

    accepted = await confirm(identity, token, STRONG_PASSWORD)
    assert not accepted.weak
    assert accepted.strength.acceptable and accepted.strength.label in ("strong", "very strong")
    assert (await sign_in(identity, school.admin_email)).session_token


async def test_a_reset_token_works_once_even_when_two_confirmations_race(identity: RunningIdentity):
    school = await new_school(identity, signed_in=False)
    await identity.stub.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email=school.admin_email)
    )
    token = token_of((await reset_links(identity, school.admin_email))[-1])

    outcomes = await asyncio.gather(
        confirm(identity, token, STRONG_PASSWORD),
        confirm(identity, token, OTHER_STRONG_PASSWORD),
        return_exceptions=True,
    )
    succeeded = [o for o in outcomes if isinstance(o, pb.ConfirmPasswordResetResponse)]
    failed = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(succeeded) == 1 and not succeeded[0].weak
    assert len(failed) == 1 and failed[0].code() == grpc.StatusCode.FAILED_PRECONDITION
    changed = await query(
        identity.database_url,
        "SELECT count(*) AS n FROM outbox WHERE event_type = $1",
        "haven.identity.v1.PasswordChanged",
    )
    assert changed[0]["n"] >= 1
    # And a third try, after the race, is refused too.
    again = await rpc_error(confirm(identity, token, STRONG_PASSWORD))
    assert again.reason == "invalid_token"


async def test_an_unknown_used_or_expired_token_is_refused_with_invalid_token(
    identity: RunningIdentity,
):
    school = await new_school(identity, signed_in=False)
    unknown = await rpc_error(confirm(identity, "no-such-token", STRONG_PASSWORD))
    empty = await rpc_error(confirm(identity, "", STRONG_PASSWORD))

    await identity.stub.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email=school.admin_email)
    )
    token = token_of((await reset_links(identity, school.admin_email))[-1])
    await query(
        identity.database_url,
        "UPDATE password_reset_tokens SET expires_at = now() - interval '1 second' "
        "WHERE user_id = $1::uuid",
        school.admin_id,
    )
    expired = await rpc_error(confirm(identity, token, STRONG_PASSWORD))

    for error in (unknown, empty, expired):
        assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "invalid_token")


async def test_setting_a_password_ends_every_session_of_the_account_and_publishes_password_changed(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    second_session = (await sign_in(identity, school.admin_email)).session_token

    await identity.stub.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email=school.admin_email)
    )
    token = token_of((await reset_links(identity, school.admin_email))[-1])
    assert not (await confirm(identity, token, OTHER_STRONG_PASSWORD)).weak

    for session_token in (school.admin_session, second_session):
        error = await rpc_error(
            identity.stub.Authenticate(pb.AuthenticateRequest(session_token=session_token))
        )
        assert (error.code, error.reason) == (grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
    old = await rpc_error(sign_in(identity, school.admin_email, STRONG_PASSWORD))
    assert old.reason == "invalid_credentials"
    assert (await sign_in(identity, school.admin_email, OTHER_STRONG_PASSWORD)).session_token

    rows = await query(
        identity.database_url,
        "SELECT envelope FROM outbox WHERE event_type = 'haven.identity.v1.PasswordChanged'",
    )
    from haven.events.v1.envelope_pb2 import EventEnvelope

    changed = []
    for row in rows:
        event = pb.PasswordChanged()
        EventEnvelope.FromString(row["envelope"]).payload.Unpack(event)
        changed.append(event)
    mine = [e for e in changed if e.user_id == school.admin_id]
    assert len(mine) == 2  # registration, then this change
    assert mine[-1].email == school.admin_email


async def test_the_accounts_own_name_school_and_email_count_against_its_password(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, _ = await staff_member(identity, school, name="Bartholomew Quigley")
    await identity.stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=email))
    token = token_of((await reset_links(identity, email))[-1])
    password = "BartholomewQuigley1"

    anonymous = await identity.stub.CheckPasswordStrength(
        pb.CheckPasswordStrengthRequest(password=password)
    )
    personal = await identity.stub.CheckPasswordStrength(
        pb.CheckPasswordStrengthRequest(password=password, token=token)
    )
    assert anonymous.acceptable and anonymous.score >= 3
    assert not personal.acceptable and personal.score < 3
    assert personal.label in ("very weak", "weak", "medium")
    refused = await confirm(identity, token, password)
    assert refused.weak and refused.strength == personal


async def test_password_strength_gives_labels_and_refuses_too_short_or_too_long_passwords(
    identity: RunningIdentity,
):
    async def rate(password: str, token: str = "") -> pb.PasswordStrength:
        return await identity.stub.CheckPasswordStrength(
            pb.CheckPasswordStrengthRequest(password=password, token=token)
        )

    weak = await rate("password")
    assert (weak.score, weak.label, weak.acceptable) == (0, "very weak", False)
    assert weak.warning and list(weak.suggestions)
    strong = await rate(STRONG_PASSWORD)
    assert strong.acceptable and strong.label == ["strong", "very strong"][strong.score - 3]
    short = await rate("x9$Kq!2vLz#")  # 11 characters, random
    assert not short.acceptable and "12" in short.warning
    too_long = await rate(STRONG_PASSWORD * 9)  # 261 characters
    assert not too_long.acceptable and "256" in too_long.warning
    # An unknown token is no error; the password is simply rated without account details.
    assert (await rate(STRONG_PASSWORD, token="not-a-token")).acceptable
