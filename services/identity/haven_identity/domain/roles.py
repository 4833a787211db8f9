"""Roles: what a person may do in each school, directly or through their trust.

A member of staff holds at most one role per school (staff, dsl or admin) and
may hold trust roles (trust_dsl, trust_admin) that apply in every school of the
trust. Other services see only the effective role per school, which this
module works out; identity signs it into the internal token.

The rule, kept deliberately simple:
- trust_admin implies admin, and trust_dsl implies dsl, in every school of the trust;
- an explicit membership of dsl or admin wins over the implied role, because the
  school chose it for that person; an explicit staff membership gives way to the
  implied role, since staff is what everyone may do anyway;
- someone who is both trust_dsl and trust_admin of a trust gets dsl: the token
  holds one role per school, and missing safeguarding concerns is the worse
  failure. Their trust-wide admin powers still work wherever they are checked
  against the trust role itself (creating schools, importing staff in identity).
Roles are not ranked against each other beyond this (admin is not "more" than
dsl: an admin manages the school, a dsl sees its incidents).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

STAFF, DSL, ADMIN = "staff", "dsl", "admin"
SCHOOL_ROLES = (STAFF, DSL, ADMIN)
TRUST_DSL, TRUST_ADMIN = "trust_dsl", "trust_admin"
TRUST_ROLES = (TRUST_DSL, TRUST_ADMIN)

_IMPLIED_BY_TRUST_ROLE = {TRUST_DSL: DSL, TRUST_ADMIN: ADMIN}
# When a person holds both trust roles, the one listed first decides (see above).
_TRUST_ROLE_PRECEDENCE = (TRUST_DSL, TRUST_ADMIN)


@dataclass(frozen=True)
class SchoolRef:
    id: str
    name: str
    trust_id: str


@dataclass(frozen=True)
class SchoolRole:
    school: SchoolRef
    role: str
    # True when the role comes from a trust role rather than a membership of the school.
    through_trust: bool = False


def implied_school_role(trust_roles: Iterable[str]) -> str | None:
    held = set(trust_roles)
    for trust_role in _TRUST_ROLE_PRECEDENCE:
        if trust_role in held:
            return _IMPLIED_BY_TRUST_ROLE[trust_role]
    return None


def effective_school_roles(
    memberships: Iterable[tuple[SchoolRef, str]],
    trust_roles: Iterable[tuple[str, str]],
    trust_schools: Iterable[SchoolRef],
) -> dict[str, SchoolRole]:
    """school_id -> the role a person acts with there.

    `memberships` are (school, role) pairs, `trust_roles` (trust_id, role) pairs,
    and `trust_schools` every school of the trusts named in `trust_roles`.
    """
    roles_by_trust: dict[str, list[str]] = {}
    for trust_id, trust_role in trust_roles:
        roles_by_trust.setdefault(trust_id, []).append(trust_role)
    implied: Mapping[str, str | None] = {
        trust_id: implied_school_role(held) for trust_id, held in roles_by_trust.items()
    }

    result: dict[str, SchoolRole] = {}
    for school in trust_schools:
        role = implied.get(school.trust_id)
        if role is not None:
            result[school.id] = SchoolRole(school, role, through_trust=True)
    for school, role in memberships:
        if role in (DSL, ADMIN) or school.id not in result:
            result[school.id] = SchoolRole(school, role)
    return result
