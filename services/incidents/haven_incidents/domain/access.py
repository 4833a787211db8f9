"""Who may see and do what, from the roles in the caller's verified token."""

from __future__ import annotations

from collections.abc import Collection

from haven_runtime.auth import Principal
from haven_runtime.errors import FieldViolation, NotFound, PermissionDenied, ValidationFailed


def school_of_caller(principal: Principal, school_id: str) -> str:
    """The school a call is about: the one given, or the caller's only school.

    A school the caller does not belong to is answered like an unknown one.
    """
    if school_id:
        if not principal.belongs_to(school_id):
            raise NotFound("no such school")
        return school_id
    if len(principal.schools) == 1:
        return next(iter(principal.schools))
    if not principal.schools:
        raise NotFound("no such school")
    raise ValidationFailed(
        [FieldViolation("school_id", "is required when you belong to more than one school")]
    )


def require_admin(principal: Principal, school_id: str) -> str:
    """The school, if the caller administers it (members who do not are refused)."""
    school_id = school_of_caller(principal, school_id)
    if not principal.is_admin_of(school_id):
        raise PermissionDenied("only an admin of the school may do this")
    return school_id


def searchable_schools(principal: Principal, school_id: str) -> list[str]:
    """Every school of the caller, or the one asked for if it is one of theirs."""
    if school_id:
        if not principal.belongs_to(school_id):
            raise NotFound("no such school")
        return [school_id]
    return sorted(principal.schools)


def may_read_incident(
    principal: Principal, *, school_id: str, recorded_by: str, alerted_staff_ids: Collection[str]
) -> bool:
    """Its author, the staff named to be alerted, and the school's DSLs, while members."""
    if not principal.belongs_to(school_id):
        return False
    return (
        principal.is_dsl_of(school_id)
        or principal.user_id == recorded_by
        or principal.user_id in alerted_staff_ids
    )


ELEVATION_REQUIRED = "elevation_required"


def require_chronology_reader(principal: Principal, school_id: str) -> None:
    """A pupil's chronology is for the school's DSLs, while their session is elevated.

    Elevation is read from the verified token (identity sets it after a fresh
    soft-key code), never from anything the client sends. A pupil of a school
    the caller does not belong to is answered like an unknown one.
    """
    if not principal.belongs_to(school_id):
        raise NotFound("no such pupil")
    if not principal.is_dsl_of(school_id):
        raise PermissionDenied("only the school's DSLs may read a pupil's chronology")
    if not principal.is_elevated:
        raise PermissionDenied(
            "confirm your soft key to read a pupil's chronology", reason=ELEVATION_REQUIRED
        )


def may_add_addendum(principal: Principal, *, school_id: str, recorded_by: str) -> bool:
    """Corrections and follow-up come from the incident's author or the school's DSLs."""
    if not principal.belongs_to(school_id):
        return False
    return principal.is_dsl_of(school_id) or principal.user_id == recorded_by


def may_read_views(principal: Principal, school_id: str) -> bool:
    """An incident's audit trail is for the school's DSLs (trust DSLs hold the role there)."""
    return principal.belongs_to(school_id) and principal.is_dsl_of(school_id)
