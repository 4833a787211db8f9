"""Which school a request is about, when the client may leave it out."""

from __future__ import annotations

from haven_gateway.auth import Caller
from haven_gateway.problems import FieldError, validation_failed


def resolve_school_id(caller: Caller, given: str | None, field: str = "school_id") -> str:
    """The school named, or the caller's only school.

    A school the caller does not belong to is passed on as given: the service
    answers the same 404 as for a school that does not exist.
    """
    if given:
        return given
    schools = caller.school_ids
    if len(schools) == 1:
        return schools[0]
    reason = "you belong to several schools" if schools else "you belong to no school"
    raise validation_failed([FieldError(field, f"Name the school: {reason}.")])
