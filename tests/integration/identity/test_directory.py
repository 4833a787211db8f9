"""Schools and staff: import, lists scoped to the caller's schools, new schools."""

from __future__ import annotations

import uuid

import grpc

from haven.identity.v1 import identity_pb2 as pb

from .conftest import RunningIdentity
from .helpers import (
    bearer,
    import_staff,
    internal_token,
    new_school,
    outbox_payloads,
    query,
    rpc_error,
    staff_member,
)


def errors_of(reply: pb.ImportStaffResponse) -> list[tuple[int, str]]:
    return [(e.line, e.field) for e in reply.errors]


async def test_import_staff_reports_bad_rows_by_line_and_field_and_keeps_good_ones(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    tag = uuid.uuid4().hex[:6]
    rows = [
        (f"ann.{tag}@example.org", "Ann Archer", "staff"),  # 1 good
        ("not-an-email", "Bad Email", "staff"),  # 2 bad email
        (f"bob.{tag}@example.org", "   ", "dsl"),  # 3 no name
        (f"cat.{tag}@example.org", "Cat Cole", "headteacher"),  # 4 unknown role
        (f"Dan.{tag}@Example.org", " Dan  Dale ", " DSL "),  # 5 good (normalised)
        (f"ANN.{tag}@example.org", "Ann Again", "admin"),  # 6 same person twice
        ("", "", ""),  # 7 everything missing
    ]

    reply = await import_staff(identity, school, rows)

    assert (reply.created, reply.updated) == (2, 0)
    assert errors_of(reply) == [
        (2, "email"),
        (3, "name"),
        (4, "role"),
        (6, "email"),
        (7, "email"),
        (7, "name"),
        (7, "role"),
    ]
    assert all(e.message for e in reply.errors)
    staff = await identity.stub.ListStaff(
        pb.ListStaffRequest(school_id=school.school_id), metadata=bearer(school.admin_token)
    )
    assert sorted((m.email, m.name, m.role) for m in staff.items) == [
        (f"ann.{tag}@example.org", "Ann Archer", "staff"),
        (f"dan.{tag}@example.org", "Dan Dale", "dsl"),
        (school.admin_email, f"Head {school.admin_email[5:13]}", "admin"),
    ]
    users = await query(
        identity.database_url,
        "SELECT password_hash FROM users WHERE email IN ($1, $2)",
        f"ann.{tag}@example.org",
        f"dan.{tag}@example.org",
    )
    assert [u["password_hash"] for u in users] == [None, None]


async def test_importing_again_updates_names_and_roles_and_creates_no_duplicates(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    tag = uuid.uuid4().hex[:6]
    rows = [
        (f"eve.{tag}@example.org", "Eve Early", "staff"),
        (f"fay.{tag}@example.org", "Fay Fox", "staff"),
    ]
    assert (await import_staff(identity, school, rows)).created == 2

    again = await import_staff(
        identity,
        school,
        [
            (f"EVE.{tag}@example.org", "Eve Evans", "dsl"),
            (f"fay.{tag}@example.org", "Fay Fox", "staff"),
        ],
    )

    assert (again.created, again.updated, list(again.errors)) == (0, 1, [])
    staff = await identity.stub.ListStaff(
        pb.ListStaffRequest(school_id=school.school_id, roles=["dsl"]),
        metadata=bearer(school.admin_token),
    )
    assert [(m.email, m.name) for m in staff.items] == [(f"eve.{tag}@example.org", "Eve Evans")]
    count = await query(
        identity.database_url,
        "SELECT count(*) AS n FROM users WHERE email LIKE $1",
        f"%.{tag}@example.org",
    )
    assert count[0]["n"] == 2


async def test_a_person_already_in_another_school_joins_this_one_with_the_same_account(
    identity: RunningIdentity,
):
    first = await new_school(identity)
    second = await new_school(identity)
    email, _ = await staff_member(identity, first, "dsl")

    reply = await import_staff(identity, second, [(email, "Shared Person", "staff")])

    assert reply.created == 1
    [row] = await query(
        identity.database_url, "SELECT count(*) AS n FROM users WHERE email = $1", email
    )
    assert row["n"] == 1
    roles = await query(
        identity.database_url,
        "SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id "
        "WHERE u.email = $1 ORDER BY m.role",
        email,
    )
    assert [r["role"] for r in roles] == ["dsl", "staff"]


async def test_only_an_admin_of_the_school_may_import_staff(identity: RunningIdentity):
    school = await new_school(identity)
    outsider = await new_school(identity)
    _, dsl_session = await staff_member(identity, school, "dsl")
    dsl_token = await internal_token(identity, dsl_session)
    rows = [pb.StaffRow(email="someone@example.org", name="Someone", role="staff")]

    as_dsl = await rpc_error(
        identity.stub.ImportStaff(
            pb.ImportStaffRequest(school_id=school.school_id, items=rows),
            metadata=bearer(dsl_token),
        )
    )
    as_outsider = await rpc_error(
        identity.stub.ImportStaff(
            pb.ImportStaffRequest(school_id=school.school_id, items=rows),
            metadata=bearer(outsider.admin_token),
        )
    )
    unknown_school = await rpc_error(
        identity.stub.ImportStaff(
            pb.ImportStaffRequest(school_id=str(uuid.uuid4()), items=rows),
            metadata=bearer(school.admin_token),
        )
    )
    anonymous = await rpc_error(
        identity.stub.ImportStaff(pb.ImportStaffRequest(school_id=school.school_id, items=rows))
    )

    assert (as_dsl.code, as_dsl.reason) == (grpc.StatusCode.PERMISSION_DENIED, "forbidden")
    assert (as_outsider.code, as_outsider.message) == (unknown_school.code, unknown_school.message)
    assert as_outsider.code == grpc.StatusCode.NOT_FOUND
    assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED
    assert (
        await query(
            identity.database_url, "SELECT 1 FROM users WHERE email = 'someone@example.org'"
        )
        == []
    )


async def test_list_staff_finds_by_name_or_email_prefix_and_role_for_members_only(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    tag = uuid.uuid4().hex[:6]
    await import_staff(
        identity,
        school,
        [
            (f"gina.{tag}@example.org", "Gina Grant", "staff"),
            (f"hal.{tag}@example.org", "Hal Grant-Hughes", "dsl"),
            (f"ivy.{tag}@example.org", "Ivy 100% Ivy_", "staff"),
        ],
    )
    _, member_session = await staff_member(identity, school, "staff")
    member = bearer(await internal_token(identity, member_session))

    async def names(**request) -> list[str]:  # type: ignore[no-untyped-def]
        reply = await identity.stub.ListStaff(
            pb.ListStaffRequest(school_id=school.school_id, **request), metadata=member
        )
        return [m.name for m in reply.items]

    assert await names(query="gra") == ["Gina Grant", "Hal Grant-Hughes"]
    assert await names(query="HAL") == ["Hal Grant-Hughes"]
    assert await names(query=f"gina.{tag}") == ["Gina Grant"]
    assert await names(query="rant") == []
    assert await names(query="100%") == ["Ivy 100% Ivy_"]
    assert await names(query="1_0") == []  # wildcards are literal
    assert await names(query="gra", roles=["dsl"]) == ["Hal Grant-Hughes"]
    assert len(await names(limit=2)) == 2

    outsider = await new_school(identity)
    hidden = await rpc_error(
        identity.stub.ListStaff(
            pb.ListStaffRequest(school_id=school.school_id), metadata=bearer(outsider.admin_token)
        )
    )
    assert hidden.code == grpc.StatusCode.NOT_FOUND
    bad_role = await rpc_error(
        identity.stub.ListStaff(
            pb.ListStaffRequest(school_id=school.school_id, roles=["owner"]), metadata=member
        )
    )
    assert (bad_role.code, bad_role.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "validation_failed",
    )


async def test_get_staff_returns_only_those_ids_that_are_members_of_the_school(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    other = await new_school(identity)
    tag = uuid.uuid4().hex[:6]
    await import_staff(identity, school, [(f"jo.{tag}@example.org", "Jo Jones", "staff")])
    [jo] = await query(
        identity.database_url, "SELECT id FROM users WHERE email = $1", f"jo.{tag}@example.org"
    )

    reply = await identity.stub.GetStaff(
        pb.GetStaffRequest(
            school_id=school.school_id,
            user_ids=[str(jo["id"]), other.admin_id, str(uuid.uuid4()), "not-a-uuid"],
        ),
        metadata=bearer(school.admin_token),
    )

    assert [(m.id, m.name, m.email, m.role, m.school_id) for m in reply.items] == [
        (str(jo["id"]), "Jo Jones", f"jo.{tag}@example.org", "staff", school.school_id)
    ]


async def test_get_staff_with_roles_also_returns_every_holder_of_them_in_one_answer(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    other = await new_school(identity)
    tag = uuid.uuid4().hex[:6]
    await import_staff(
        identity,
        school,
        [
            (f"jo.{tag}@example.org", "Jo Jones", "staff"),
            (f"di.{tag}@example.org", "Di Lead", "dsl"),
            (f"al.{tag}@example.org", "Al Lead", "dsl"),
            (f"bo.{tag}@example.org", "Bo Other", "staff"),
        ],
    )
    await import_staff(identity, other, [(f"ed.{tag}@example.org", "Ed Elsewhere", "dsl")])
    ids = {
        row["email"]: str(row["id"])
        for row in await query(
            identity.database_url, "SELECT id, email FROM users WHERE email LIKE $1", f"%.{tag}@%"
        )
    }

    reply = await identity.stub.GetStaff(
        pb.GetStaffRequest(
            school_id=school.school_id,
            user_ids=[ids[f"jo.{tag}@example.org"], ids[f"di.{tag}@example.org"], "not-a-uuid"],
            with_roles=["dsl"],
        ),
        metadata=bearer(school.admin_token),
    )

    # The named colleague, and each DSL once (one of them named too); not the
    # unnamed colleague, nor another school's DSL.
    assert [(m.name, m.role) for m in reply.items] == [
        ("Al Lead", "dsl"),
        ("Di Lead", "dsl"),
        ("Jo Jones", "staff"),
    ]
    assert list(reply.roles_included) == ["dsl"]  # every DSL is in the answer


async def test_list_schools_returns_the_schools_the_caller_has_a_role_in(identity: RunningIdentity):
    school = await new_school(identity)
    await new_school(identity)  # someone else's
    reply = await identity.stub.ListSchools(
        pb.ListSchoolsRequest(), metadata=bearer(school.admin_token)
    )
    assert [(s.id, s.trust_id) for s in reply.items] == [(school.school_id, school.trust_id)]


async def test_a_trust_admin_creates_a_school_which_publishes_school_created(
    identity: RunningIdentity,
):
    school = await new_school(identity)
    created = await identity.stub.CreateSchool(
        pb.CreateSchoolRequest(trust_id=school.trust_id, name="  Meadow   Primary "),
        metadata=bearer(school.admin_token),
    )
    assert (created.name, created.trust_id) == ("Meadow Primary", school.trust_id)
    events = [
        e
        for e in await outbox_payloads(identity.database_url, pb.SchoolCreated)
        if e.school_id == created.id
    ]
    assert [(e.trust_id, e.name) for e in events] == [(school.trust_id, "Meadow Primary")]

    duplicate = await rpc_error(
        identity.stub.CreateSchool(
            pb.CreateSchoolRequest(trust_id=school.trust_id, name="Meadow Primary"),
            metadata=bearer(school.admin_token),
        )
    )
    assert duplicate.code == grpc.StatusCode.ALREADY_EXISTS
    nameless = await rpc_error(
        identity.stub.CreateSchool(
            pb.CreateSchoolRequest(trust_id=school.trust_id, name=" "),
            metadata=bearer(school.admin_token),
        )
    )
    assert (
        nameless.code == grpc.StatusCode.INVALID_ARGUMENT and nameless.violations[0].field == "name"
    )


async def test_only_a_trust_admin_of_that_trust_may_create_a_school(identity: RunningIdentity):
    school = await new_school(identity)
    outsider = await new_school(identity)
    _, dsl_session = await staff_member(identity, school, "admin")  # school admin, not trust admin
    school_admin = await internal_token(identity, dsl_session)

    for token in (school_admin, outsider.admin_token):
        refused = await rpc_error(
            identity.stub.CreateSchool(
                pb.CreateSchoolRequest(trust_id=school.trust_id, name="Sneaky School"),
                metadata=bearer(token),
            )
        )
        assert refused.code == grpc.StatusCode.NOT_FOUND
    assert (
        await query(identity.database_url, "SELECT 1 FROM schools WHERE name = 'Sneaky School'")
        == []
    )
