"""The soft key (TOTP): setup with the password, confirmation, recovery codes, elevation."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import grpc
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from haven.identity.v1 import identity_pb2 as pb
from haven_runtime.auth import TokenVerifier, load_public_key

from .conftest import TOTP_ENCRYPTION_KEY, RunningIdentity
from .helpers import (
    STRONG_PASSWORD,
    SoftKey,
    actions_about,
    audit_rows,
    bearer,
    code_for,
    enrol_soft_key,
    internal_token,
    new_address,
    new_school,
    query,
    rpc_error,
    sign_in,
    staff_member,
    user_id_of,
)


async def setup(identity: RunningIdentity, token: str, password: str = STRONG_PASSWORD):  # type: ignore[no-untyped-def]
    return await identity.stub.SetupTotp(
        pb.SetupTotpRequest(password=password, client_address=new_address()),
        metadata=bearer(token),
    )


async def elevate(
    identity: RunningIdentity, session_token: str, code: str, address: str = ""
) -> pb.ElevateResponse:
    return await identity.stub.Elevate(
        pb.ElevateRequest(
            session_token=session_token, code=code, client_address=address or new_address()
        )
    )


async def member_with_soft_key(identity: RunningIdentity) -> tuple[str, str, SoftKey]:
    """A member of staff who has enrolled a soft key: (email, session token, soft key)."""
    school = await new_school(identity)
    email, session_token = await staff_member(identity, school, "dsl")
    key = await enrol_soft_key(identity, await internal_token(identity, session_token))
    return email, session_token, key


async def forget_used_steps(identity: RunningIdentity, email: str) -> None:
    """As if the last used code were older (rather than waiting 30 seconds for a new one)."""
    await query(
        identity.database_url,
        "UPDATE users SET totp_last_step = totp_last_step - 10 WHERE email = $1",
        email,
    )


async def test_setup_returns_a_secret_an_otpauth_uri_for_haven_and_the_email_and_an_svg_qr_code(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, session_token = await staff_member(identity, school)

    reply = await setup(identity, await internal_token(identity, session_token))

    assert re.fullmatch(r"[A-Z2-7]{32}", reply.secret)  # 160 bits of base32
    uri = urlsplit(reply.otpauth_uri)
    assert (uri.scheme, uri.netloc, unquote(uri.path)) == ("otpauth", "totp", f"/Haven:{email}")
    assert parse_qs(uri.query)["issuer"] == ["Haven"]
    assert parse_qs(uri.query)["secret"] == [reply.secret]
    assert reply.qr_svg.startswith("<svg") and "</svg>" in reply.qr_svg
    me = await identity.stub.Authenticate(pb.AuthenticateRequest(session_token=session_token))
    assert not me.user.totp_enrolled  # pending until a code confirms it


async def test_the_secret_is_stored_encrypted_with_aes_gcm_bound_to_the_account(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, session_token = await staff_member(identity, school)
    reply = await setup(identity, await internal_token(identity, session_token))
    user_id = await user_id_of(identity, email)

    [row] = await query(
        identity.database_url, "SELECT totp_pending_secret FROM users WHERE email = $1", email
    )
    sealed = bytes(row["totp_pending_secret"])
    assert reply.secret.encode() not in sealed
    aead = AESGCM(base64.b64decode(TOTP_ENCRYPTION_KEY))
    aad = b"haven-totp-secret:" + uuid.UUID(user_id).bytes
    assert aead.decrypt(sealed[1:13], sealed[13:], aad).decode() == reply.secret


async def test_setup_needs_the_password_again_and_a_wrong_one_counts_as_a_failed_login(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, session_token = await staff_member(identity, school)
    token = await internal_token(identity, session_token)

    error = await rpc_error(setup(identity, token, "not-my-password-at-all"))

    assert (error.code, error.reason) == (grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials")
    [row] = await query(
        identity.database_url,
        "SELECT failed_logins, totp_pending_secret FROM users WHERE email = $1",
        email,
    )
    assert row["failed_logins"] == 1 and row["totp_pending_secret"] is None
    user_id = await user_id_of(identity, email)
    failed = [r for r in await audit_rows(identity, user_id) if r["action"] == "login_failed"]
    assert json.loads(failed[-1]["detail"]) == {"reason": "wrong_password", "step": "totp_setup"}


async def test_a_valid_code_enrols_the_key_and_returns_ten_single_use_recovery_codes_stored_hashed(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, session_token = await staff_member(identity, school)
    token = await internal_token(identity, session_token)
    secret = (await setup(identity, token)).secret

    reply = await identity.stub.ConfirmTotp(
        pb.ConfirmTotpRequest(code=code_for(secret)), metadata=bearer(token)
    )

    codes = list(reply.recovery_codes)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[0-9a-z]{5}-[0-9a-z]{5}", c) for c in codes)
    user_id = await user_id_of(identity, email)
    stored = await query(
        identity.database_url,
        "SELECT code_hash FROM recovery_codes WHERE user_id = $1::uuid",
        user_id,
    )
    assert len(stored) == 10
    assert not {c.replace("-", "") for c in codes} & {r["code_hash"] for r in stored}
    assert not any(c.replace("-", "") in r["code_hash"] for c in codes for r in stored)
    me = await identity.stub.Authenticate(pb.AuthenticateRequest(session_token=session_token))
    assert me.user.totp_enrolled
    assert (await actions_about(identity, user_id))[-2:] == ["totp_setup_started", "totp_enrolled"]


async def test_a_wrong_confirmation_code_is_refused_with_invalid_code_and_nothing_is_enrolled(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    _, session_token = await staff_member(identity, school)
    token = await internal_token(identity, session_token)
    secret = (await setup(identity, token)).secret
    wrong = f"{(int(code_for(secret)) + 1) % 1_000_000:06d}"

    error = await rpc_error(
        identity.stub.ConfirmTotp(pb.ConfirmTotpRequest(code=wrong), metadata=bearer(token))
    )

    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_code")
    assert [v.field for v in error.violations] == ["code"]
    me = await identity.stub.Authenticate(pb.AuthenticateRequest(session_token=session_token))
    assert not me.user.totp_enrolled


async def test_a_second_setup_after_enrolment_is_refused_with_totp_already_enrolled(
    identity: RunningIdentity,
):
    _, session_token, _ = await member_with_soft_key(identity)
    token = await internal_token(identity, session_token)
    for call in (
        setup(identity, token),
        identity.stub.ConfirmTotp(pb.ConfirmTotpRequest(code="123456"), metadata=bearer(token)),
    ):
        error = await rpc_error(call)
        assert (error.code, error.reason) == (
            grpc.StatusCode.ALREADY_EXISTS,
            "totp_already_enrolled",
        )


async def test_the_confirming_code_cannot_be_used_again_to_elevate(identity: RunningIdentity):
    school = await new_school(identity)
    _, session_token = await staff_member(identity, school)
    token = await internal_token(identity, session_token)
    secret = (await setup(identity, token)).secret
    code = code_for(secret)
    await identity.stub.ConfirmTotp(pb.ConfirmTotpRequest(code=code), metadata=bearer(token))

    error = await rpc_error(elevate(identity, session_token, code))

    assert (error.code, error.reason) == (grpc.StatusCode.UNAUTHENTICATED, "invalid_code")


async def test_elevation_rotates_the_session_and_carries_elevated_until_in_the_internal_token(
    identity: RunningIdentity, token_public_key: str
):
    email, session_token, key = await member_with_soft_key(identity)
    before = datetime.now(UTC)

    reply = await elevate(identity, session_token, code_for(key.secret, 1))

    assert reply.session_token != session_token and reply.csrf_token
    until = reply.elevated_until.ToDatetime(tzinfo=UTC)
    assert abs(until - (before + timedelta(minutes=20))) < timedelta(seconds=30)
    old = await rpc_error(
        identity.stub.Authenticate(pb.AuthenticateRequest(session_token=session_token))
    )
    assert old.code == grpc.StatusCode.UNAUTHENTICATED
    now = await identity.stub.Authenticate(
        pb.AuthenticateRequest(session_token=reply.session_token, csrf_token=reply.csrf_token)
    )
    assert now.csrf_valid and now.session_id == reply.session_id
    assert now.user.totp_enrolled
    assert now.user.elevated_until.ToDatetime(tzinfo=UTC) == until
    principal = TokenVerifier(load_public_key(token_public_key)).verify(now.internal_token)
    assert principal.is_elevated
    assert int(principal.elevated_until.timestamp()) == int(until.timestamp())
    # The elevated session keeps the login's absolute end; it does not extend it.
    [old_row] = await query(
        identity.database_url,
        "SELECT expires_at FROM sessions WHERE user_id = (SELECT id FROM users WHERE email = $1) "
        "ORDER BY created_at LIMIT 1",
        email,
    )
    assert reply.expires_at.ToDatetime(tzinfo=UTC) == old_row["expires_at"]


async def test_a_trust_can_set_its_own_elevation_length(identity: RunningIdentity):
    school = await new_school(identity)
    email, session_token = await staff_member(identity, school, "dsl")
    key = await enrol_soft_key(identity, await internal_token(identity, session_token))
    await query(
        identity.database_url,
        "UPDATE trusts SET elevation_minutes = 5 WHERE id = $1::uuid",
        school.trust_id,
    )
    before = datetime.now(UTC)

    reply = await elevate(identity, session_token, code_for(key.secret, 1))

    until = reply.elevated_until.ToDatetime(tzinfo=UTC)
    assert abs(until - (before + timedelta(minutes=5))) < timedelta(seconds=30)


async def test_a_replayed_code_gets_the_same_answer_as_a_wrong_one(identity: RunningIdentity):
    email, session_token, key = await member_with_soft_key(identity)
    code = code_for(key.secret, 1)
    first = await elevate(identity, session_token, code)

    replayed = await rpc_error(elevate(identity, first.session_token, code))
    wrong = await rpc_error(
        elevate(identity, first.session_token, f"{(int(code) + 1) % 1_000_000:06d}")
    )

    assert (replayed.code, replayed.reason, replayed.message) == (
        wrong.code,
        wrong.reason,
        wrong.message,
    )
    assert (wrong.code, wrong.reason) == (grpc.StatusCode.UNAUTHENTICATED, "invalid_code")


async def test_of_two_concurrent_elevations_with_one_code_exactly_one_succeeds(
    identity: RunningIdentity,
):
    email, first_session, key = await member_with_soft_key(identity)
    second_session = (await sign_in(identity, email)).session_token
    await forget_used_steps(identity, email)
    code = code_for(key.secret)

    async def attempt(session_token: str) -> str:
        try:
            await elevate(identity, session_token, code)
            return "elevated"
        except grpc.aio.AioRpcError as error:
            return error.code().name

    outcomes = await asyncio.gather(attempt(first_session), attempt(second_session))
    assert sorted(outcomes) == ["UNAUTHENTICATED", "elevated"]


async def test_an_unused_recovery_code_elevates_once(identity: RunningIdentity):
    email, session_token, key = await member_with_soft_key(identity)
    recovery = key.recovery_codes[3]

    reply = await elevate(identity, session_token, recovery.upper().replace("-", " "))
    assert reply.elevated_until.seconds > 0

    again = await rpc_error(elevate(identity, reply.session_token, recovery))
    assert again.reason == "invalid_code"
    elevated = [
        json.loads(r["detail"])
        for r in await audit_rows(identity, await user_id_of(identity, email))
        if r["action"] == "elevated"
    ]
    assert [e["method"] for e in elevated] == ["recovery_code"]


async def test_elevation_without_a_soft_key_is_refused_with_totp_not_enrolled(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    _, session_token = await staff_member(identity, school)
    error = await rpc_error(elevate(identity, session_token, "123456"))
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "totp_not_enrolled")


async def test_wrong_codes_count_as_failed_logins_and_too_many_are_throttled(
    identity: RunningIdentity,
):
    email, session_token, key = await member_with_soft_key(identity)
    address = new_address()
    for n in range(5):
        error = await rpc_error(elevate(identity, session_token, f"00000{n}", address))
        assert error.reason == "invalid_code"

    throttled = await rpc_error(elevate(identity, session_token, code_for(key.secret, 1), address))

    assert (throttled.code, throttled.reason) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "too_many_attempts",
    )
    [row] = await query(
        identity.database_url, "SELECT failed_logins FROM users WHERE email = $1", email
    )
    assert row["failed_logins"] == 5
    # The login is throttled by the same count.
    login = await rpc_error(sign_in(identity, email))
    assert login.reason == "too_many_attempts"
    failures = [
        json.loads(r["detail"])["reason"]
        for r in await audit_rows(identity, await user_id_of(identity, email))
        if r["action"] == "elevation_failed"
    ]
    assert failures == ["wrong_code"] * 5 + ["throttled"]


async def test_an_internal_token_of_someone_else_cannot_elevate_this_session(
    identity: RunningIdentity,
):
    _, session_token, key = await member_with_soft_key(identity)
    school = await new_school(identity)
    error = await rpc_error(
        identity.stub.Elevate(
            pb.ElevateRequest(session_token=session_token, code=code_for(key.secret, 1)),
            metadata=bearer(school.admin_token),
        )
    )
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
