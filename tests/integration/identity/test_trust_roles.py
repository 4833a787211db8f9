"""Trust roles: a trust_admin grants trust_dsl or trust_admin; it counts in every school."""

from __future__ import annotations

import uuid

import grpc

from haven.identity.v1 import identity_pb2 as pb

from .conftest import RunningIdentity
from .helpers import (
    audit_rows,
    bearer,
    import_staff,
    internal_token,
    new_school,
    register,
    rpc_error,
    sign_in,
    staff_member,
    user_id_of,
)


async def grant(identity: RunningIdentity, token: str, **fields: str) -> pb.GrantTrustRoleResponse:
    return await identity.stub.GrantTrustRole(
        pb.GrantTrustRoleRequest(**fields), metadata=bearer(token)
    )


async def test_a_trust_dsl_new_to_haven_registers_and_is_dsl_of_every_school_of_the_trust(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    second = await identity.stub.CreateSchool(
        pb.CreateSchoolRequest(trust_id=school.trust_id, name=f"Second {uuid.uuid4().hex[:6]}"),
        metadata=bearer(school.admin_token),
    )
    email = f"Trust.Lead.{uuid.uuid4().hex[:6]}@Example.org"
    granted = await grant(
        identity,
        school.admin_token,
        trust_id=school.trust_id,
        email=email,
        name="Tess Lead",
        role="trust_dsl",
    )
    assert (granted.account_created, granted.role_added) == (True, True)
    assert granted.user_id == await user_id_of(identity, email.lower())

    await register(identity, email.lower())
    session = (await sign_in(identity, email.lower())).session_token
    me = await identity.stub.Authenticate(pb.AuthenticateRequest(session_token=session))
    roles = {m.school_id: m.role for m in me.user.memberships}
    assert roles == {school.school_id: "dsl", second.id: "dsl"}
    assert [(t.trust_id, t.role) for t in me.user.trust_roles] == [(school.trust_id, "trust_dsl")]

    [audited] = [
        r
        for r in await audit_rows(identity, granted.user_id)
        if r["action"] == "trust_role_granted"
    ]
    assert str(audited["actor_id"]) == school.admin_id

    # Granting again changes nothing and says so.
    again = await grant(
        identity, school.admin_token, trust_id=school.trust_id, email=email, role="trust_dsl"
    )
    assert (again.user_id, again.account_created, again.role_added) == (
        granted.user_id,
        False,
        False,
    )

    # Revoked: from the very next request, no school of the trust is theirs.
    await identity.stub.RevokeTrustRole(
        pb.RevokeTrustRoleRequest(
            trust_id=school.trust_id, user_id=granted.user_id, role="trust_dsl"
        ),
        metadata=bearer(school.admin_token),
    )
    me = await identity.stub.Authenticate(pb.AuthenticateRequest(session_token=session))
    assert list(me.user.memberships) == []
    assert "trust_role_revoked" in [
        r["action"] for r in await audit_rows(identity, granted.user_id)
    ]


async def test_an_existing_member_of_staff_is_given_the_trust_role(identity: RunningIdentity):
    school = await new_school(identity)
    email, session = await staff_member(identity, school, "staff", name="Sam Staff")
    granted = await grant(
        identity, school.admin_token, trust_id=school.trust_id, email=email, role="trust_dsl"
    )
    assert (granted.account_created, granted.role_added) == (False, True)
    me = await identity.stub.Authenticate(pb.AuthenticateRequest(session_token=session))
    assert {m.school_id: m.role for m in me.user.memberships} == {school.school_id: "dsl"}
    assert me.user.name == "Sam Staff"  # an existing account keeps its name


async def test_only_a_trust_admin_of_that_trust_grants_and_others_see_no_trust(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    other = await new_school(identity)
    dsl_email, dsl_session = await staff_member(identity, school, "dsl")
    school_admin_email = f"admin.{uuid.uuid4().hex[:6]}@example.org"
    await import_staff(identity, school, [(school_admin_email, "Ada Admin", "admin")])
    await register(identity, school_admin_email)
    school_admin = await internal_token(
        identity, (await sign_in(identity, school_admin_email)).session_token
    )
    for token in (
        await internal_token(identity, dsl_session),  # a DSL of a school in the trust
        school_admin,  # a school admin, not the trust's
        other.admin_token,  # another trust's admin
    ):
        error = await rpc_error(
            grant(
                identity,
                token,
                trust_id=school.trust_id,
                email=dsl_email,
                role="trust_admin",
            )
        )
        assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "not_found")
    rows = await audit_rows(identity, await user_id_of(identity, dsl_email))
    assert "trust_role_granted" not in [r["action"] for r in rows]


async def test_bad_fields_are_named_and_nothing_is_created(identity: RunningIdentity):
    school = await new_school(identity)
    error = await rpc_error(
        grant(
            identity,
            school.admin_token,
            trust_id=school.trust_id,
            email="not an email",
            role="owner",
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} == {"email", "role"}
    missing_name = await rpc_error(
        grant(
            identity,
            school.admin_token,
            trust_id=school.trust_id,
            email=f"new.{uuid.uuid4().hex[:6]}@example.org",
            role="trust_dsl",
        )
    )
    assert [v.field for v in missing_name.violations] == ["name"]


async def test_the_last_trust_admin_cannot_be_revoked(identity: RunningIdentity):
    school = await new_school(identity)
    error = await rpc_error(
        identity.stub.RevokeTrustRole(
            pb.RevokeTrustRoleRequest(
                trust_id=school.trust_id, user_id=school.admin_id, role="trust_admin"
            ),
            metadata=bearer(school.admin_token),
        )
    )
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "last_trust_admin")

    # With a second trust_admin, the first may step down.
    deputy = await grant(
        identity,
        school.admin_token,
        trust_id=school.trust_id,
        email=f"deputy.{uuid.uuid4().hex[:6]}@example.org",
        name="Dee Puty",
        role="trust_admin",
    )
    await identity.stub.RevokeTrustRole(
        pb.RevokeTrustRoleRequest(
            trust_id=school.trust_id, user_id=school.admin_id, role="trust_admin"
        ),
        metadata=bearer(school.admin_token),
    )
    roles = await identity.stub.Authenticate(
        pb.AuthenticateRequest(session_token=school.admin_session)
    )
    assert [t.role for t in roles.user.trust_roles] == []
    assert deputy.role_added
    # A role nobody holds is not found.
    gone = await rpc_error(
        identity.stub.RevokeTrustRole(
            pb.RevokeTrustRoleRequest(
                trust_id=school.trust_id, user_id=deputy.user_id, role="trust_dsl"
            ),
            metadata=bearer(school.admin_token),
        )
    )
    assert gone.code == grpc.StatusCode.NOT_FOUND
