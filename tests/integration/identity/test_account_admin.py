"""What admins do to members' accounts: reset a soft key, disable, remove from a school."""

from __future__ import annotations

import json

import grpc

from haven.identity.v1 import identity_pb2 as pb
from haven_runtime.auth import TokenVerifier, load_public_key

from .conftest import RunningIdentity
from .helpers import (
    audit_rows,
    bearer,
    code_for,
    enrol_soft_key,
    import_staff,
    internal_token,
    new_school,
    outbox_payloads,
    query,
    rpc_error,
    sign_in,
    staff_member,
    user_id_of,
)


async def authenticate(identity: RunningIdentity, session_token: str) -> pb.AuthenticateResponse:
    return await identity.stub.Authenticate(pb.AuthenticateRequest(session_token=session_token))


async def test_an_admin_resets_a_members_soft_key_and_soft_key_reset_is_published_for_the_email(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, session_token = await staff_member(identity, school, "dsl")
    key = await enrol_soft_key(identity, await internal_token(identity, session_token))
    elevated = await identity.stub.Elevate(
        pb.ElevateRequest(session_token=session_token, code=code_for(key.secret, 1))
    )
    user_id = await user_id_of(identity, email)

    await identity.stub.ResetTotp(
        pb.ResetTotpRequest(user_id=user_id), metadata=bearer(school.admin_token)
    )

    me = await authenticate(identity, elevated.session_token)
    assert not me.user.totp_enrolled
    assert not me.user.HasField("elevated_until")  # the step-up went with the key
    codes = await query(
        identity.database_url,
        "SELECT count(*) AS n FROM recovery_codes WHERE user_id = $1::uuid",
        user_id,
    )
    assert codes[0]["n"] == 0
    events = await outbox_payloads(identity.database_url, pb.SoftKeyReset)
    [event] = [e for e in events if e.user_id == user_id]
    assert (event.email, event.reset_by_name) == (email, f"Head {school.admin_email[5:13]}")
    assert event.reset_at.seconds > 0
    [audited] = [r for r in await audit_rows(identity, user_id) if r["action"] == "totp_reset"]
    assert str(audited["actor_id"]) == school.admin_id
    # The member can set up a new one.
    again = await enrol_soft_key(identity, me.internal_token)
    assert len(again.recovery_codes) == 10


async def test_resetting_a_soft_key_nobody_set_up_is_refused_with_totp_not_enrolled(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, _ = await staff_member(identity, school)
    error = await rpc_error(
        identity.stub.ResetTotp(
            pb.ResetTotpRequest(user_id=await user_id_of(identity, email)),
            metadata=bearer(school.admin_token),
        )
    )
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "totp_not_enrolled")


async def test_a_disabled_member_cannot_log_in_and_their_sessions_stop_on_the_next_request(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    email, session_token = await staff_member(identity, school)
    user_id = await user_id_of(identity, email)

    await identity.stub.SetUserDisabled(
        pb.SetUserDisabledRequest(user_id=user_id, disabled=True),
        metadata=bearer(school.admin_token),
    )

    assert (await rpc_error(authenticate(identity, session_token))).code == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    assert (await rpc_error(sign_in(identity, email))).reason == "invalid_credentials"

    await identity.stub.SetUserDisabled(
        pb.SetUserDisabledRequest(user_id=user_id, disabled=False),
        metadata=bearer(school.admin_token),
    )
    assert (await sign_in(identity, email)).session_token
    actions = [r["action"] for r in await audit_rows(identity, user_id)]
    assert actions.index("user_disabled") < actions.index("user_enabled")


async def test_an_admin_cannot_disable_their_own_account(identity: RunningIdentity):
    school = await new_school(identity)
    error = await rpc_error(
        identity.stub.SetUserDisabled(
            pb.SetUserDisabledRequest(user_id=school.admin_id, disabled=True),
            metadata=bearer(school.admin_token),
        )
    )
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "own_account")


async def test_a_removed_membership_is_gone_from_the_next_request(
    identity: RunningIdentity, token_public_key: str
):
    verifier = TokenVerifier(load_public_key(token_public_key))
    school = await new_school(identity)
    email, session_token = await staff_member(identity, school, "dsl")
    user_id = await user_id_of(identity, email)
    before = verifier.verify((await authenticate(identity, session_token)).internal_token)
    assert before.schools == {school.school_id: "dsl"}

    await identity.stub.RemoveMembership(
        pb.RemoveMembershipRequest(school_id=school.school_id, user_id=user_id),
        metadata=bearer(school.admin_token),
    )

    after = await authenticate(identity, session_token)
    assert verifier.verify(after.internal_token).schools == {}
    assert list(after.user.memberships) == []
    [removed] = [
        r for r in await audit_rows(identity, user_id) if r["action"] == "membership_removed"
    ]
    assert str(removed["school_id"]) == school.school_id
    assert json.loads(removed["detail"]) == {"role": "dsl"}
    again = await rpc_error(
        identity.stub.RemoveMembership(
            pb.RemoveMembershipRequest(school_id=school.school_id, user_id=user_id),
            metadata=bearer(school.admin_token),
        )
    )
    assert again.code == grpc.StatusCode.NOT_FOUND


async def test_admin_actions_on_someone_outside_the_callers_schools_answer_not_found(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    other = await new_school(identity)
    email, staff_session = await staff_member(identity, school)
    user_id = await user_id_of(identity, email)
    staff_token = await internal_token(identity, staff_session)

    calls = []
    for token in (other.admin_token, staff_token):  # another school's admin; a plain member
        calls += [
            identity.stub.UnlockUser(pb.UnlockUserRequest(user_id=user_id), metadata=bearer(token)),
            identity.stub.ResetTotp(pb.ResetTotpRequest(user_id=user_id), metadata=bearer(token)),
            identity.stub.SetUserDisabled(
                pb.SetUserDisabledRequest(user_id=user_id, disabled=True), metadata=bearer(token)
            ),
            identity.stub.RemoveMembership(
                pb.RemoveMembershipRequest(school_id=school.school_id, user_id=user_id),
                metadata=bearer(token),
            ),
        ]
    calls.append(
        identity.stub.UnlockUser(
            pb.UnlockUserRequest(user_id="no-such-user"), metadata=bearer(school.admin_token)
        )
    )
    for call in calls:
        error = await rpc_error(call)
        assert error.code == grpc.StatusCode.NOT_FOUND
    assert (await authenticate(identity, staff_session)).user.email == email


async def test_a_school_admin_cannot_act_on_a_trust_admin_but_another_trust_admin_can(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    head_email, head_session = await staff_member(identity, school, "admin")
    head_token = await internal_token(identity, head_session)
    # The bootstrap admin is trust_admin of the trust and admin of the school.
    error = await rpc_error(
        identity.stub.SetUserDisabled(
            pb.SetUserDisabledRequest(user_id=school.admin_id, disabled=True),
            metadata=bearer(head_token),
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND

    await identity.stub.UnlockUser(
        pb.UnlockUserRequest(user_id=await user_id_of(identity, head_email)),
        metadata=bearer(school.admin_token),
    )


async def test_a_trust_admin_may_act_in_every_school_of_the_trust(identity: RunningIdentity):
    school = await new_school(identity)
    second = await identity.stub.CreateSchool(
        pb.CreateSchoolRequest(trust_id=school.trust_id, name="Trust Second School"),
        metadata=bearer(school.admin_token),
    )
    email = f"second.{school.admin_email}"
    await identity.stub.ImportStaff(
        pb.ImportStaffRequest(
            school_id=second.id, items=[pb.StaffRow(email=email, name="In Second", role="staff")]
        ),
        metadata=bearer(await internal_token(identity, school.admin_session)),
    )
    user_id = await user_id_of(identity, email)
    await identity.stub.SetUserDisabled(
        pb.SetUserDisabledRequest(user_id=user_id, disabled=True),
        metadata=bearer(await internal_token(identity, school.admin_session)),
    )
    [row] = await query(identity.database_url, "SELECT disabled FROM users WHERE email = $1", email)
    assert row["disabled"]


async def test_a_role_change_by_staff_import_is_audited_for_the_school(identity: RunningIdentity):
    school = await new_school(identity)
    email, _ = await staff_member(identity, school, "staff")
    await import_staff(identity, school, [(email, "Now A Lead", "dsl")])

    changes = [
        json.loads(r["detail"])
        for r in await audit_rows(identity, await user_id_of(identity, email))
        if r["action"] == "role_changed"
    ]
    assert changes == [
        {"from": None, "to": "staff", "by": "staff_import"},
        {"from": "staff", "to": "dsl", "by": "staff_import"},
    ]
