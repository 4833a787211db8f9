"""An admin's reach over an account ends where their schools end.

An account may belong to several schools (of one trust or of several). A school
admin adds anyone to their own school by importing their email, so that alone
must not hand them the account: disabling it, resetting its soft key, unlocking
it or renaming it acts on the person everywhere, so it needs an admin of every
school (and a trust admin of every trust role) the person holds. Taking the
person out of one's own school stays a school admin's business.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import grpc

from haven.identity.v1 import identity_pb2 as pb

from .conftest import RunningIdentity
from .helpers import (
    bearer,
    enrol_soft_key,
    import_staff,
    internal_token,
    new_school,
    query,
    rpc_error,
    staff_member,
    user_id_of,
)


def account_wide_calls(identity: RunningIdentity, user_id: str, token: str) -> list[Awaitable[Any]]:
    return [
        identity.stub.SetUserDisabled(
            pb.SetUserDisabledRequest(user_id=user_id, disabled=True), metadata=bearer(token)
        ),
        identity.stub.ResetTotp(pb.ResetTotpRequest(user_id=user_id), metadata=bearer(token)),
        identity.stub.UnlockUser(pb.UnlockUserRequest(user_id=user_id), metadata=bearer(token)),
    ]


async def test_importing_another_trusts_member_gives_no_power_over_their_account(
    identity: RunningIdentity,
):
    theirs, ours = await new_school(identity), await new_school(identity)
    email, session = await staff_member(identity, theirs, "dsl", name="Orla Theirs")
    await enrol_soft_key(identity, await internal_token(identity, session))
    user_id = await user_id_of(identity, email)

    imported = await import_staff(identity, ours, [(email, "Renamed By Ours", "staff")])
    assert (imported.created, list(imported.errors)) == (1, [])

    for call in account_wide_calls(identity, user_id, ours.admin_token):
        error = await rpc_error(call)
        assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "not_found"), error
    [row] = await query(
        identity.database_url,
        "SELECT name, disabled, totp_secret IS NOT NULL AS enrolled FROM users WHERE id = $1::uuid",
        user_id,
    )
    assert (row["name"], row["disabled"], row["enrolled"]) == ("Orla Theirs", False, True)
    me = await identity.stub.Authenticate(pb.AuthenticateRequest(session_token=session))
    assert me.user.totp_enrolled

    # Ours may still take them out of ours; then their own school's admin alone may act.
    await identity.stub.RemoveMembership(
        pb.RemoveMembershipRequest(school_id=ours.school_id, user_id=user_id),
        metadata=bearer(ours.admin_token),
    )
    await identity.stub.UnlockUser(
        pb.UnlockUserRequest(user_id=user_id), metadata=bearer(theirs.admin_token)
    )
    me = await identity.stub.Authenticate(pb.AuthenticateRequest(session_token=session))
    assert [m.school_id for m in me.user.memberships] == [theirs.school_id]


async def test_a_school_admin_renames_and_disables_a_member_only_of_their_own_schools(
    identity: RunningIdentity,
):
    ours = await new_school(identity)
    email, _ = await staff_member(identity, ours, "staff", name="First Name")
    user_id = await user_id_of(identity, email)

    await import_staff(identity, ours, [(email, "Second Name", "staff")])
    [row] = await query(
        identity.database_url, "SELECT name FROM users WHERE id = $1::uuid", user_id
    )
    assert row["name"] == "Second Name"
    await identity.stub.SetUserDisabled(
        pb.SetUserDisabledRequest(user_id=user_id, disabled=True),
        metadata=bearer(ours.admin_token),
    )


async def test_a_trust_admin_has_no_power_over_a_member_who_is_also_in_another_trust(
    identity: RunningIdentity,
):
    theirs, ours = await new_school(identity), await new_school(identity)
    email, _ = await staff_member(identity, theirs, "staff", name="Pat Both")
    user_id = await user_id_of(identity, email)
    await import_staff(identity, ours, [(email, "Pat Both", "staff")])

    # ours.admin is trust_admin of our trust: still not of theirs.
    for call in account_wide_calls(identity, user_id, ours.admin_token):
        assert (await rpc_error(call)).code == grpc.StatusCode.NOT_FOUND
    # Only someone who administers both schools could; nobody here does.
    for call in account_wide_calls(identity, user_id, theirs.admin_token):
        assert (await rpc_error(call)).code == grpc.StatusCode.NOT_FOUND
