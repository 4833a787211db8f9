"""school_id may be left out by someone who belongs to exactly one school."""

from __future__ import annotations

import pytest

from haven.identity.v1 import identity_pb2
from haven_gateway.auth import Caller
from haven_gateway.problems import Problem
from haven_gateway.schools import resolve_school_id


def caller(*schools: str) -> Caller:
    user = identity_pb2.User(
        id="u1",
        memberships=[identity_pb2.Membership(school_id=s, role="staff") for s in schools],
    )
    return Caller(user=user, internal_token="t", session_id="s", session_token="x", via="bearer")


def test_the_only_school_is_used_when_none_is_named():
    assert resolve_school_id(caller("sch-1"), None) == "sch-1"


def test_a_named_school_is_passed_on_for_the_service_to_check():
    assert resolve_school_id(caller("sch-1"), "sch-2") == "sch-2"


@pytest.mark.parametrize("schools", [("sch-1", "sch-2"), ()])
def test_with_several_schools_or_none_school_id_is_required(schools):
    with pytest.raises(Problem) as caught:
        resolve_school_id(caller(*schools), None)
    assert caught.value.status == 422
    assert [e.field for e in caught.value.errors] == ["school_id"]
