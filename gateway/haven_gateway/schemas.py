"""Request and response bodies, as pydantic models: they validate input and make the OpenAPI.

Field limits here stop obviously wrong input at the door with field paths the
client can show; the services still decide everything that needs their data
(whether an id exists in the school, whether a password is strong enough).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from haven_gateway.inputs import (
    MAX_DESCRIPTION,
    MAX_NAME,
    MAX_TOKEN,
    Body,
    Email,
    Name,
    Password,
    PasswordDraft,
    StrictBody,
    Token,
)

# Clocks disagree a little; "not in the future" allows for it.
CLOCK_SKEW = timedelta(minutes=2)

Id = Annotated[str, Field(min_length=1, max_length=64)]
Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


# --- problems ---------------------------------------------------------------


class FieldErrorOut(BaseModel):
    field: str
    message: str


class ProblemOut(BaseModel):
    """RFC 9457 problem details; `code` is the stable, machine-readable value."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldErrorOut] | None = None


# --- health -----------------------------------------------------------------


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready"]
    services: dict[str, str]


# --- account ----------------------------------------------------------------


class PasswordResetIn(StrictBody):
    email: Email


class AcceptedOut(BaseModel):
    status: Literal["accepted"]


class PasswordStrengthIn(StrictBody):
    password: PasswordDraft
    token: str | None = Field(None, max_length=MAX_TOKEN)


class StrengthOut(BaseModel):
    score: int = Field(ge=0, le=4)
    label: str
    acceptable: bool
    warning: str
    suggestions: list[str]


class PasswordResetConfirmIn(StrictBody):
    token: Token
    password: Password


class LoginIn(StrictBody):
    email: Email
    password: Password


class MembershipOut(BaseModel):
    school_id: str
    school_name: str
    role: str
    trust_id: str


class TrustRoleOut(BaseModel):
    trust_id: str
    role: str


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    memberships: list[MembershipOut]
    trust_roles: list[TrustRoleOut]
    totp_enrolled: bool
    elevated_until: Time | None


class LoginOut(BaseModel):
    token: str
    csrf_token: str
    expires_at: Time | None
    user: UserOut


# --- directory --------------------------------------------------------------


class NamedOut(BaseModel):
    id: str
    name: str


class NamedList(BaseModel):
    items: list[NamedOut]
    next_cursor: str | None = None


class SchoolOut(BaseModel):
    id: str
    name: str
    trust_id: str


class SchoolList(BaseModel):
    items: list[SchoolOut]
    next_cursor: str | None = None


class StudentOut(BaseModel):
    id: str
    school_id: str
    upn: str
    first_name: str
    last_name: str
    display_name: str
    year_group: str
    date_of_birth: str | None


class StudentList(BaseModel):
    items: list[StudentOut]
    next_cursor: str | None = None


class StaffOut(BaseModel):
    id: str
    name: str
    email: str
    role: str


class StaffList(BaseModel):
    items: list[StaffOut]
    next_cursor: str | None = None


# --- incidents --------------------------------------------------------------


class BodyMapMarkIn(StrictBody):
    side: Literal["front", "back"]
    x: float = Field(ge=0, le=1, allow_inf_nan=False)
    y: float = Field(ge=0, le=1, allow_inf_nan=False)
    note: str = Field("", max_length=1000)


class IncidentIn(StrictBody):
    school_id: Id | None = None
    student_id: Id
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION)
    category_ids: list[Id] = Field(min_length=1, max_length=50)
    linked_student_ids: list[Id] = Field(default_factory=list, max_length=100)
    body_map: list[BodyMapMarkIn] = Field(default_factory=list, max_length=100)
    occurred_at: AwareDatetime | None = None
    alert_staff_ids: list[Id] = Field(default_factory=list, max_length=200)
    file_ids: list[Id] = Field(default_factory=list, max_length=50)
    agency_ids: list[Id] = Field(default_factory=list, max_length=50)

    @field_validator("description")
    @classmethod
    def _description_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("linked_student_ids")
    @classmethod
    def _not_the_student_itself(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("student_id") in value:
            raise ValueError("must not include the incident's own student")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError("must not be in the future")
        return value


class StudentRefOut(BaseModel):
    id: str
    display_name: str


class BodyMapMarkOut(BaseModel):
    number: int
    side: str
    x: float
    y: float
    note: str


class FileSummaryOut(BaseModel):
    id: str
    filename: str | None
    size: int | None
    content_type: str | None


class AddendumIn(StrictBody):
    # Strict: an addendum is as permanent as the incident it follows.
    text: str = Field(min_length=1, max_length=MAX_DESCRIPTION)

    @field_validator("text")
    @classmethod
    def _text_is_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class AddendumOut(BaseModel):
    id: str
    text: str
    author: NamedOut | None
    created_at: Time | None


class IncidentOut(BaseModel):
    id: str
    school_id: str
    student: StudentRefOut
    description: str
    categories: list[NamedOut]
    linked_students: list[StudentRefOut]
    body_map: list[BodyMapMarkOut]
    occurred_at: Time | None
    recorded_at: Time | None
    recorded_by: NamedOut | None
    alerted_staff: list[NamedOut]
    files: list[FileSummaryOut]
    agencies: list[NamedOut]
    addenda: list[AddendumOut] = Field(
        default_factory=list, description="Corrections and follow-up, in the order added."
    )


class IncidentViewOut(BaseModel):
    user: NamedOut | None
    action: str = Field(description="viewed | chronology_viewed | file_downloaded")
    at: Time | None
    client_address: str | None
    file_id: str | None = Field(None, description="The file downloaded, for file_downloaded.")


class IncidentViewList(BaseModel):
    items: list[IncidentViewOut]
    next_cursor: str | None


class AlertOut(BaseModel):
    id: str
    incident_id: str
    school_id: str
    student: StudentRefOut
    categories: list[NamedOut]
    recorded_by: NamedOut | None
    occurred_at: Time | None
    created_at: Time | None
    read_at: Time | None


class AlertList(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None
    unread_count: int


# --- files ------------------------------------------------------------------


class StoredFileOut(BaseModel):
    id: str
    filename: str
    size: int
    content_type: str
    sha256: str
    status: str


# --- administration ---------------------------------------------------------


class SchoolIn(Body):
    trust_id: Id
    name: Name


class NameIn(Body):
    name: Name


class TrustRoleIn(StrictBody):
    email: Email
    name: Annotated[str, Field(max_length=MAX_NAME)] = ""
    role: Literal["trust_dsl", "trust_admin"]


class TrustRoleGrantOut(BaseModel):
    user_id: str
    trust_id: str
    role: str
    account_created: bool
    role_added: bool


class ImportRow(Body):
    # Rows are checked one by one by the service, so a bad row is reported and
    # skipped rather than failing the whole import; only shape is checked here.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class StaffRowIn(ImportRow):
    # Generous: identity reports an over-long address on its own line and
    # imports the other rows; only absurd values fail the whole import here.
    email: str = Field("", max_length=320)
    name: str = Field("", max_length=MAX_NAME)
    role: str = Field("", max_length=32)


class StaffImportIn(Body):
    items: list[StaffRowIn] = Field(max_length=10_000)


class StudentRowIn(ImportRow):
    upn: str = Field("", max_length=32)
    first_name: str = Field("", max_length=100)
    last_name: str = Field("", max_length=100)
    year_group: str = Field("", max_length=32)
    date_of_birth: str = Field("", max_length=32)


class StudentImportIn(Body):
    items: list[StudentRowIn] = Field(max_length=10_000)


class ImportErrorOut(BaseModel):
    line: int
    field: str
    message: str


class ImportResultOut(BaseModel):
    created: int
    updated: int
    errors: list[ImportErrorOut]


# --- OpenAPI ----------------------------------------------------------------


def document_unreadable_bodies(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add the 400 that every operation with a body gives for one that is not JSON (or not
    the declared form), which FastAPI's generated document leaves out."""
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation.setdefault("responses", {}).setdefault(
                    "400",
                    {
                        "description": "The body could not be read (RFC 9457 problem details)",
                        "content": {
                            "application/problem+json": {
                                "schema": {"$ref": "#/components/schemas/ProblemOut"}
                            }
                        },
                    },
                )
    return openapi


def problem_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI entries for the problem+json answers a route can give."""
    return {
        status: {
            "model": ProblemOut,
            "content": {"application/problem+json": {}},
            "description": "Problem details (RFC 9457)",
        }
        for status in statuses
    }
