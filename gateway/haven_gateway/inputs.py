"""What every request body must be before it goes further: the limits and the two bases.

Limits (each refused with 422 naming the field): email 254 characters (RFC
5321's longest deliverable address), password 256, name 200, code 64,
description 20,000.

A password is measured the way identity measures it: after NFKC
normalisation, so a password typed with decomposed accents (as macOS sends
them) is not refused for being "longer" than the same password typed
elsewhere. Nothing is ever trimmed, truncated or normalised on the way through;
identity gets exactly what the client sent.

Every string must be text that can travel and be stored: an unpaired surrogate
("\\ud800", which JSON allows) cannot be encoded as UTF-8 for gRPC, and a NUL
cannot be stored in PostgreSQL, so either would otherwise end in a 500. The
same goes for path and query parameters ("%00").

Unknown fields. `Body` ignores them, so a newer client can talk to an older
gateway. `StrictBody` refuses them (422 naming the field) where silently
dropping one would do harm:
- the /auth/* bodies, where a typo ("pasword", "tokn") would otherwise be read
  as an absent value: an empty password, a strength check without the account;
- the incident body, because a recorded incident is permanent: a misspelled
  "alert_staf_ids" or "linked_student_id" would be lost for good, and someone
  not alerted.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from starlette.requests import Request

from haven_gateway.problems import FieldError, validation_failed

MAX_EMAIL = 254
MAX_PASSWORD = 256
MAX_NAME = 200
MAX_CODE = 64
MAX_DESCRIPTION = 20_000
MAX_TOKEN = 512
# Normalising composes at most four code points into one (U+1F82 is alpha and
# three marks), so nothing longer than this can come within MAX_PASSWORD.
MAX_RAW_PASSWORD = 4 * MAX_PASSWORD


def unstorable(value: str) -> str | None:
    """Why a string cannot go on to a service, or None when it can."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (it holds an unpaired surrogate)"
    return None


def _check_strings(value: Any) -> None:
    if isinstance(value, str):
        if (reason := unstorable(value)) is not None:
            raise ValueError(reason)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _check_strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key)
            _check_strings(item)


class Body(BaseModel):
    # Clients may send fields a later version knows; ignoring them keeps old gateways working.
    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any, info: ValidationInfo) -> Any:
        # Nested bodies check their own fields; this sees plain values and lists of them.
        _check_strings(value)
        return value


class StrictBody(Body):
    """A body whose unknown fields are refused (see the module's docstring for where)."""

    model_config = ConfigDict(extra="forbid")


def _normalised_length_within_limit(password: str) -> str:
    # The raw length is checked first so that a megabyte is never normalised.
    too_long = len(password) > MAX_RAW_PASSWORD
    if too_long or len(unicodedata.normalize("NFKC", password)) > MAX_PASSWORD:
        raise ValueError(f"must be at most {MAX_PASSWORD} characters")
    return password


Password = Annotated[
    str,
    Field(min_length=1, json_schema_extra={"maxLength": MAX_PASSWORD}),
    AfterValidator(_normalised_length_within_limit),
]
# What the strength meter rates as the user types: it may still be empty.
PasswordDraft = Annotated[
    str,
    Field(json_schema_extra={"maxLength": MAX_PASSWORD}),
    AfterValidator(_normalised_length_within_limit),
]
Email = Annotated[str, Field(min_length=1, max_length=MAX_EMAIL)]
Code = Annotated[str, Field(min_length=1, max_length=MAX_CODE)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
Token = Annotated[str, Field(min_length=1, max_length=MAX_TOKEN)]


async def storable_parameters(request: Request) -> None:
    """Refuse a path or query parameter that no service could be given (422 naming it)."""
    params = [*request.path_params.items(), *request.query_params.multi_items()]
    errors = [
        FieldError(name, reason)
        for name, value in params
        if isinstance(value, str) and (reason := unstorable(value)) is not None
    ]
    if errors:
        raise validation_failed(errors)
