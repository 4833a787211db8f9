"""Login, Authenticate (the gateway's per-request check) and logout, against a real service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import argon2
import grpc

from haven.identity.v1 import identity_pb2 as pb
from haven_runtime.auth import TokenVerifier, load_public_key

from .conftest import RunningIdentity
from .helpers import (
    STRONG_PASSWORD,
    bearer,
    import_staff,
    new_school,
    query,
    register,
    rpc_error,
    sign_in,
    staff_member,
)


async def authenticate(
    identity: RunningIdentity, session_token: str, csrf_token: str = ""
) -> pb.AuthenticateResponse:
    return await identity.stub.Authenticate(
        pb.AuthenticateRequest(session_token=session_token, csrf_token=csrf_token)
    )


async def test_wrong_password_unknown_email_and_no_password_yet_give_the_same_invalid_credentials(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    newcomer = f"new.{school.admin_email}"
    await import_staff(identity, school, [(newcomer, "New Comer", "staff")])

    errors = [
        await rpc_error(sign_in(identity, school.admin_email, "wrong-password-entirely")),
        await rpc_error(sign_in(identity, "no.one@example.org", STRONG_PASSWORD)),
        await rpc_error(sign_in(identity, newcomer, STRONG_PASSWORD)),
        await rpc_error(sign_in(identity, "not an email", STRONG_PASSWORD)),
    ]
    assert {(e.code, e.reason, e.message) for e in errors} == {
        (
            grpc.StatusCode.UNAUTHENTICATED,
            "invalid_credentials",
            "the email or password is incorrect",
        )
    }


async def test_login_matches_the_email_case_insensitively_and_returns_a_session(
    identity: RunningIdentity,
):
    school = await new_school(identity, signed_in=False)
    await register(identity, school.admin_email)
    before = datetime.now(UTC)

    reply = await sign_in(identity, "  " + school.admin_email.upper())

    assert reply.session_token and reply.csrf_token and reply.session_token != reply.csrf_token
    lifetime = reply.expires_at.ToDatetime(tzinfo=UTC) - before
    assert abs(lifetime - timedelta(hours=identity.settings.session_absolute_hours)) < timedelta(
        seconds=30
    )
    assert reply.user.id == school.admin_id
    assert [(m.school_id, m.role) for m in reply.user.memberships] == [(school.school_id, "admin")]
    assert [(t.trust_id, t.role) for t in reply.user.trust_roles] == [
        (school.trust_id, "trust_admin")
    ]
    stored = await query(
        identity.database_url,
        "SELECT token_hash, csrf_hash, client, client_address FROM sessions "
        "WHERE user_id = $1::uuid",
        school.admin_id,
    )
    assert len(stored) == 1
    assert reply.session_token not in (stored[0]["token_hash"], stored[0]["csrf_hash"])
    assert (stored[0]["client"], stored[0]["client_address"]) == ("pytest", "127.0.0.1")


async def test_authenticate_gives_an_internal_token_that_token_verifier_accepts_with_the_schools(
    identity: RunningIdentity, token_public_key: str
):
    school = await new_school(identity)
    second = await identity.stub.CreateSchool(
        pb.CreateSchoolRequest(trust_id=school.trust_id, name="Second School"),
        metadata=bearer(school.admin_token),
    )
    other_trust = await new_school(identity, signed_in=False)  # not the admin's business

    reply = await authenticate(identity, school.admin_session)
    principal = TokenVerifier(load_public_key(token_public_key)).verify(reply.internal_token)

    assert principal.user_id == school.admin_id
    assert principal.session_id == reply.session_id
    assert principal.email == school.admin_email
    # Admin of the first school directly, of the second through trust_admin.
    assert dict(principal.schools) == {school.school_id: "admin", second.id: "admin"}
    assert other_trust.school_id not in principal.schools
    assert principal.trust_roles == ((school.trust_id, "trust_admin"),)
    assert {(m.school_id, m.role) for m in reply.user.memberships} == set(principal.schools.items())


async def test_a_role_change_takes_effect_on_the_next_authenticate(
    identity: RunningIdentity, token_public_key: str
):
    verifier = TokenVerifier(load_public_key(token_public_key))
    school = await new_school(identity)
    email, session_token = await staff_member(identity, school, "staff")
    assert verifier.verify(
        (await authenticate(identity, session_token)).internal_token
    ).schools == {school.school_id: "staff"}

    await import_staff(identity, school, [(email, "Promoted Person", "dsl")])

    reply = await authenticate(identity, session_token)
    assert verifier.verify(reply.internal_token).schools == {school.school_id: "dsl"}
    assert reply.user.name == "Promoted Person"


async def test_a_trust_dsl_is_dsl_in_every_school_of_the_trust_unless_the_school_made_them_admin(
    identity: RunningIdentity, token_public_key: str
):
    verifier = TokenVerifier(load_public_key(token_public_key))
    school = await new_school(identity)
    second = await identity.stub.CreateSchool(
        pb.CreateSchoolRequest(trust_id=school.trust_id, name="Another School"),
        metadata=bearer(school.admin_token),
    )
    email, session_token = await staff_member(identity, school, "staff")
    user_id = (await authenticate(identity, session_token)).user.id
    await query(
        identity.database_url,
        "INSERT INTO trust_roles (user_id, trust_id, role) "
        "VALUES ($1::uuid, $2::uuid, 'trust_dsl')",
        user_id,
        school.trust_id,
    )
    principal = verifier.verify((await authenticate(identity, session_token)).internal_token)
    assert dict(principal.schools) == {school.school_id: "dsl", second.id: "dsl"}

    await import_staff(identity, school, [(email, "Trust Safeguarding Lead", "admin")])
    principal = verifier.verify((await authenticate(identity, session_token)).internal_token)
    assert dict(principal.schools) == {school.school_id: "admin", second.id: "dsl"}


async def test_authenticate_says_whether_the_csrf_token_belongs_to_the_session(
    identity: RunningIdentity,
):
    school = await new_school(identity, signed_in=False)
    await register(identity, school.admin_email)
    first = await sign_in(identity, school.admin_email)
    second = await sign_in(identity, school.admin_email)

    assert (await authenticate(identity, first.session_token, first.csrf_token)).csrf_valid
    assert not (await authenticate(identity, first.session_token, second.csrf_token)).csrf_valid
    assert not (await authenticate(identity, first.session_token, first.session_token)).csrf_valid
    assert not (await authenticate(identity, first.session_token)).csrf_valid


async def test_logout_revokes_the_session_at_once_and_leaves_the_others(identity: RunningIdentity):
    school = await new_school(identity)
    other = (await sign_in(identity, school.admin_email)).session_token

    await identity.stub.Logout(
        pb.LogoutRequest(session_token=school.admin_session), metadata=bearer(school.admin_token)
    )

    error = await rpc_error(authenticate(identity, school.admin_session))
    assert (error.code, error.reason) == (grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
    assert (await authenticate(identity, other)).user.id == school.admin_id
    # Logging out again is harmless.
    await identity.stub.Logout(pb.LogoutRequest(session_token=school.admin_session))


async def test_an_unknown_expired_or_disabled_session_is_unauthenticated(identity: RunningIdentity):
    school = await new_school(identity)
    expiring = (await sign_in(identity, school.admin_email)).session_token
    await query(
        identity.database_url,
        "UPDATE sessions SET expires_at = now() - interval '1 second' "
        "WHERE id = (SELECT id FROM sessions WHERE user_id = $1::uuid "
        "ORDER BY created_at DESC LIMIT 1)",
        school.admin_id,
    )
    errors = [
        await rpc_error(authenticate(identity, "no-such-session")),
        await rpc_error(authenticate(identity, "")),
        await rpc_error(authenticate(identity, expiring)),
    ]
    await query(
        identity.database_url,
        "UPDATE users SET disabled = true WHERE id = $1::uuid",
        school.admin_id,
    )
    errors.append(await rpc_error(authenticate(identity, school.admin_session)))
    assert {(e.code, e.reason) for e in errors} == {
        (grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
    }


async def test_last_seen_is_recorded_at_most_once_a_minute(identity: RunningIdentity):
    school = await new_school(identity)

    async def last_seen() -> datetime:
        rows = await query(
            identity.database_url,
            "SELECT last_seen_at FROM sessions WHERE user_id = $1::uuid "
            "ORDER BY created_at LIMIT 1",
            school.admin_id,
        )
        return rows[0]["last_seen_at"]

    await query(
        identity.database_url,
        "UPDATE sessions SET last_seen_at = now() - interval '5 minutes' WHERE user_id = $1::uuid",
        school.admin_id,
    )
    stale = await last_seen()
    await authenticate(identity, school.admin_session)
    refreshed = await last_seen()
    assert refreshed > stale + timedelta(minutes=4)
    await authenticate(identity, school.admin_session)
    assert await last_seen() == refreshed


async def test_a_password_hash_with_older_parameters_is_upgraded_at_the_next_login(
    identity: RunningIdentity,
):
    school = await new_school(identity, signed_in=False)
    await register(identity, school.admin_email)
    weaker = argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(
        STRONG_PASSWORD
    )
    await query(
        identity.database_url,
        "UPDATE users SET password_hash = $1 WHERE id = $2::uuid",
        weaker,
        school.admin_id,
    )

    await sign_in(identity, school.admin_email)

    [row] = await query(
        identity.database_url,
        "SELECT password_hash FROM users WHERE id = $1::uuid",
        school.admin_id,
    )
    assert row["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert (await sign_in(identity, school.admin_email)).session_token


async def test_get_me_answers_for_the_caller_with_roles_read_afresh(identity: RunningIdentity):
    school = await new_school(identity)
    me = await identity.stub.GetMe(pb.GetMeRequest(), metadata=bearer(school.admin_token))
    assert (me.id, me.email) == (school.admin_id, school.admin_email)
    assert [(m.school_id, m.role, m.trust_id) for m in me.memberships] == [
        (school.school_id, "admin", school.trust_id)
    ]
    assert not me.totp_enrolled and not me.HasField("elevated_until")

    anonymous = await rpc_error(identity.stub.GetMe(pb.GetMeRequest()))
    assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED
