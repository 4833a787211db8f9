"""The audit log: append-only, written with each change, read by school and trust admins."""

from __future__ import annotations

import json

import asyncpg
import grpc
import pytest

from haven.identity.v1 import identity_pb2 as pb

from .conftest import RunningIdentity
from .helpers import (
    STRONG_PASSWORD,
    bearer,
    code_for,
    enrol_soft_key,
    internal_token,
    new_school,
    query,
    rpc_error,
    sign_in,
    staff_member,
    user_id_of,
)


async def audit_page(
    identity: RunningIdentity, token: str, **request: object
) -> pb.ListAuditEventsResponse:
    return await identity.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(**request),  # type: ignore[arg-type]
        metadata=bearer(token),
    )


async def test_audit_events_can_be_neither_changed_nor_deleted(identity: RunningIdentity):
    school = await new_school(identity)
    assert await query(identity.database_url, "SELECT id FROM audit_events LIMIT 1")
    for statement in (
        "UPDATE audit_events SET action = 'nothing_happened'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ):
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="append-only"):
            await query(identity.database_url, statement)
    rows = await query(
        identity.database_url,
        "SELECT action FROM audit_events WHERE subject_user_id = $1::uuid",
        school.admin_id,
    )
    assert "login_succeeded" in [r["action"] for r in rows]


async def test_a_members_security_events_are_recorded_with_who_what_when_and_from_where(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, session_token = await staff_member(identity, school, "dsl")
    await rpc_error(sign_in(identity, email, "a-wrong-password-here"))
    key = await enrol_soft_key(identity, await internal_token(identity, session_token))
    await identity.stub.Elevate(
        pb.ElevateRequest(
            session_token=session_token, code=code_for(key.secret, 1), client_address="192.0.2.5"
        )
    )

    page = await audit_page(identity, school.admin_token, school_id=school.school_id, limit=200)

    user_id = await user_id_of(identity, email)
    mine = [e for e in reversed(page.items) if e.subject_user_id == user_id]
    assert [e.action for e in mine] == [
        "role_changed",
        "password_reset_requested",
        "password_reset_completed",
        "login_succeeded",
        "login_failed",
        "totp_setup_started",
        "totp_enrolled",
        "elevated",
    ]
    failed = mine[4]
    assert (failed.actor_id, failed.subject_email, failed.client_address) == (
        user_id,
        email,
        "127.0.0.1",
    )
    assert json.loads(failed.detail) == {"reason": "wrong_password"}
    assert mine[0].actor_id == school.admin_id and mine[0].school_id == school.school_id
    assert mine[-1].client_address == "192.0.2.5"
    assert all(e.at.seconds > 0 for e in mine)


async def test_nothing_secret_is_ever_written_to_the_audit_log(identity: RunningIdentity):
    school = await new_school(identity)
    email, session_token = await staff_member(identity, school)
    token = await internal_token(identity, session_token)
    key = await enrol_soft_key(identity, token)
    elevated = await identity.stub.Elevate(
        pb.ElevateRequest(session_token=session_token, code=key.recovery_codes[0])
    )
    await rpc_error(sign_in(identity, email, "typed-the-wrong-thing-1"))
    await rpc_error(sign_in(identity, "typed-my-password-here", STRONG_PASSWORD))

    rows = await query(
        identity.database_url, "SELECT row_to_json(a)::text AS r FROM audit_events a"
    )
    everything = "\n".join(r["r"] for r in rows)
    secrets = [
        STRONG_PASSWORD,
        "typed-the-wrong-thing-1",
        "typed-my-password-here",
        session_token,
        elevated.session_token,
        elevated.csrf_token,
        token,
        key.secret,
        *key.recovery_codes,
        *(c.replace("-", "") for c in key.recovery_codes),
    ]
    assert [s for s in secrets if s in everything] == []


async def test_school_admins_read_their_schools_events_only_and_others_get_not_found(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    other = await new_school(identity)
    email, staff_session = await staff_member(identity, school)
    other_email, _ = await staff_member(identity, other)

    page = await audit_page(identity, school.admin_token, school_id=school.school_id, limit=200)

    subjects = {e.subject_email for e in page.items}
    assert email in subjects and other_email not in subjects
    for token, request in (
        (other.admin_token, {"school_id": school.school_id}),
        (await internal_token(identity, staff_session), {"school_id": school.school_id}),
        (school.admin_token, {"school_id": "not-a-school"}),
        (other.admin_token, {"trust_id": school.trust_id}),
    ):
        error = await rpc_error(audit_page(identity, token, **request))
        assert error.code == grpc.StatusCode.NOT_FOUND
    neither = await rpc_error(audit_page(identity, school.admin_token))
    assert (neither.code, neither.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "validation_failed")


async def test_a_trust_admin_reads_the_events_of_every_school_of_the_trust(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    second = await identity.stub.CreateSchool(
        pb.CreateSchoolRequest(trust_id=school.trust_id, name="Audit Second School"),
        metadata=bearer(school.admin_token),
    )
    admin_token = await internal_token(identity, school.admin_session)
    email = f"second.{school.admin_email}"
    await identity.stub.ImportStaff(
        pb.ImportStaffRequest(
            school_id=second.id, items=[pb.StaffRow(email=email, name="Second", role="staff")]
        ),
        metadata=bearer(admin_token),
    )

    page = await audit_page(identity, admin_token, trust_id=school.trust_id, limit=200)

    assert {e.subject_email for e in page.items} >= {email, school.admin_email}
    assert all(e.trust_id in ("", school.trust_id) for e in page.items)


async def test_the_log_pages_newest_first_with_a_cursor(identity: RunningIdentity):
    school = await new_school(identity)
    for _ in range(4):
        await sign_in(identity, school.admin_email)

    whole = await audit_page(identity, school.admin_token, school_id=school.school_id, limit=200)
    assert not whole.next_cursor
    times = [(e.at.seconds, e.at.nanos) for e in whole.items]
    assert times == sorted(times, reverse=True)

    paged, cursor = [], ""
    while True:
        page = await audit_page(
            identity, school.admin_token, school_id=school.school_id, limit=3, cursor=cursor
        )
        assert len(page.items) <= 3
        paged += [e.id for e in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    assert paged == [e.id for e in whole.items]
    bad = await rpc_error(
        audit_page(identity, school.admin_token, school_id=school.school_id, cursor="garbage")
    )
    assert (bad.code, [v.field for v in bad.violations]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        ["cursor"],
    )


async def test_the_default_page_holds_fifty_events_and_no_page_more_than_two_hundred(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    rows = [
        (school.admin_id, school.school_id, school.trust_id) for _ in range(230)
    ]  # as many logins' worth of events, written directly
    conn = await asyncpg.connect(identity.database_url)
    try:
        await conn.executemany(
            "INSERT INTO audit_events (id, action, subject_user_id, school_ids, trust_ids) "
            "VALUES (gen_random_uuid(), 'login_succeeded', $1::uuid, ARRAY[$2::uuid], "
            "ARRAY[$3::uuid])",
            rows,
        )
    finally:
        await conn.close()
    default = await audit_page(identity, school.admin_token, school_id=school.school_id)
    largest = await audit_page(identity, school.admin_token, school_id=school.school_id, limit=1000)
    assert len(default.items) == 50 and default.next_cursor
    assert len(largest.items) == 200 and largest.next_cursor
