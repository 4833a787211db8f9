"""Effective school roles: memberships plus what trust roles imply."""

from __future__ import annotations

from haven_identity.domain.roles import SchoolRef, effective_school_roles, implied_school_role

OAK = SchoolRef("oak", "Oak Primary", "trust-1")
ELM = SchoolRef("elm", "Elm Academy", "trust-1")
ASH = SchoolRef("ash", "Ash School", "trust-2")


def roles(memberships, trust_roles=(), trust_schools=()):  # type: ignore[no-untyped-def]
    return {
        k: v.role
        for k, v in effective_school_roles(memberships, trust_roles, trust_schools).items()
    }


def test_memberships_alone_give_their_roles():
    assert roles([(OAK, "staff"), (ASH, "dsl")]) == {"oak": "staff", "ash": "dsl"}


def test_a_trust_admin_is_admin_in_every_school_of_the_trust_only():
    assert roles([], [("trust-1", "trust_admin")], [OAK, ELM]) == {"oak": "admin", "elm": "admin"}


def test_a_trust_dsl_is_dsl_in_every_school_of_the_trust_and_outranks_a_staff_membership():
    assert roles([(OAK, "staff")], [("trust-1", "trust_dsl")], [OAK, ELM]) == {
        "oak": "dsl",
        "elm": "dsl",
    }


def test_an_explicit_dsl_or_admin_membership_wins_over_the_trust_role():
    trust_dsl = [("trust-1", "trust_dsl")]
    assert roles([(OAK, "admin")], trust_dsl, [OAK, ELM]) == {"oak": "admin", "elm": "dsl"}
    trust_admin = [("trust-1", "trust_admin")]
    assert roles([(OAK, "dsl")], trust_admin, [OAK, ELM]) == {"oak": "dsl", "elm": "admin"}


def test_holding_both_trust_roles_gives_dsl():
    assert implied_school_role(["trust_admin", "trust_dsl"]) == "dsl"
    assert implied_school_role(["trust_admin"]) == "admin"
    assert implied_school_role([]) is None


def test_a_role_through_the_trust_is_marked_as_such():
    result = effective_school_roles([(OAK, "admin")], [("trust-1", "trust_admin")], [OAK, ELM])
    assert (result["oak"].through_trust, result["elm"].through_trust) == (False, True)
