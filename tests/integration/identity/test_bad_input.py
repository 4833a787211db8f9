"""Over-long input is refused naming the field, before any work: nothing is stored or counted."""

from __future__ import annotations

import grpc

from haven.identity.v1 import identity_pb2 as pb

from .conftest import RunningIdentity
from .helpers import (
    STRONG_PASSWORD,
    bearer,
    import_staff,
    internal_token,
    new_school,
    query,
    rpc_error,
    staff_member,
)

LONG_EMAIL = "a" * 245 + "@example.org"  # 257 characters


async def stored_counts(identity: RunningIdentity) -> dict[str, int]:
    tables = ("audit_events", "rate_limits", "unknown_login_throttles", "users", "outbox")
    counts = {}
    for table in tables:
        [row] = await query(identity.database_url, f"SELECT count(*) AS n FROM {table}")
        counts[table] = row["n"]
    [row] = await query(identity.database_url, "SELECT sum(failed_logins) AS n FROM users")
    counts["failed_logins"] = row["n"] or 0
    return counts


async def test_over_long_emails_passwords_and_codes_are_refused_naming_the_field_and_nothing_is_stored(  # noqa: E501
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, session_token = await staff_member(identity, school)
    token = await internal_token(identity, session_token)
    before = await stored_counts(identity)

    cases = [
        (identity.stub.Login(pb.LoginRequest(email=LONG_EMAIL, password="x")), "email"),
        (identity.stub.Login(pb.LoginRequest(email=email, password="p" * 257)), "password"),
        (identity.stub.Login(pb.LoginRequest(email=email, password="p" * 100_000)), "password"),
        (
            identity.stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=LONG_EMAIL)),
            "email",
        ),
        (
            identity.stub.SetupTotp(
                pb.SetupTotpRequest(password="p" * 257), metadata=bearer(token)
            ),
            "password",
        ),
        (
            identity.stub.ConfirmTotp(pb.ConfirmTotpRequest(code="1" * 65), metadata=bearer(token)),
            "code",
        ),
        (
            identity.stub.Elevate(pb.ElevateRequest(session_token=session_token, code="1" * 65)),
            "code",
        ),
        (
            identity.stub.ListStaff(
                pb.ListStaffRequest(school_id=school.school_id, query="q" * 201),
                metadata=bearer(school.admin_token),
            ),
            "query",
        ),
        (
            identity.stub.CreateSchool(
                pb.CreateSchoolRequest(trust_id=school.trust_id, name="n" * 201),
                metadata=bearer(school.admin_token),
            ),
            "name",
        ),
    ]
    for call, field in cases:
        error = await rpc_error(call)
        assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "validation_failed")
        assert [v.field for v in error.violations] == [field]
        assert "at most" in error.violations[0].message

    assert await stored_counts(identity) == before
    # The account was never touched: the right password still works at once.
    assert (
        await identity.stub.Login(pb.LoginRequest(email=email, password=STRONG_PASSWORD))
    ).session_token


async def test_over_long_names_and_emails_in_a_staff_import_are_reported_by_line_and_field(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    reply = await import_staff(
        identity,
        school,
        [("ok.person@example.org", "n" * 201, "staff"), (LONG_EMAIL, "Long Email", "staff")],
    )
    assert (reply.created, [(e.line, e.field) for e in reply.errors]) == (
        0,
        [(1, "name"), (2, "email")],
    )
