"""Administration: schools, and importing a school's staff and pupils."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from haven.identity.v1 import identity_pb2
from haven.incidents.v1 import incidents_pb2
from haven_gateway import presenters
from haven_gateway.auth import Caller, authenticated, get_peers
from haven_gateway.csv_rows import STAFF_COLUMNS, STUDENT_COLUMNS
from haven_gateway.imports import merge_errors, read_import, row_errors
from haven_gateway.peers import Peers
from haven_gateway.schemas import (
    ImportResultOut,
    NamedOut,
    NameIn,
    SchoolIn,
    SchoolOut,
    StaffImportIn,
    StudentImportIn,
    problem_responses,
)

router = APIRouter(
    prefix="/api/v1/admin", tags=["administration"], responses=problem_responses(401, 403, 404, 422)
)


def inline_definitions(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its local `$defs` written in place: it is not under components."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


def import_body(columns: tuple[str, ...], model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a body read by hand: JSON items or a CSV file with a header line."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": inline_definitions(model.model_json_schema())},
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": ",".join(columns) + "\n",
                },
            },
        }
    }


@router.post(
    "/schools", status_code=201, response_model=SchoolOut, responses=problem_responses(409, 422)
)
async def create_school(
    body: SchoolIn, caller: Caller = Depends(authenticated), peers: Peers = Depends(get_peers)
) -> dict[str, Any]:
    school = await peers.call(
        peers.identity.CreateSchool,
        identity_pb2.CreateSchoolRequest(trust_id=body.trust_id, name=body.name),
        token=caller.internal_token,
    )
    return presenters.school(school)


@router.post(
    "/schools/{school_id}/staff",
    response_model=ImportResultOut,
    responses=problem_responses(400, 413, 415, 422),
    openapi_extra=import_body(STAFF_COLUMNS, StaffImportIn),
)
async def import_staff(
    school_id: str,
    request: Request,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    numbered = await read_import(request, STAFF_COLUMNS, StaffImportIn)
    lines = [line for line, _ in numbered.rows]
    rows = [
        identity_pb2.StaffRow(email=v["email"], name=v["name"], role=v["role"])
        for _, v in numbered.rows
    ]
    if STAFF_ROW_HAS_LINE:
        for row, line in zip(rows, lines, strict=True):
            row.line = line  # type: ignore[attr-defined]
    answer = await peers.call(
        peers.identity.ImportStaff,
        identity_pb2.ImportStaffRequest(school_id=school_id, items=rows),
        token=caller.internal_token,
    )
    service_errors = presenters.import_errors(answer.errors)
    if not STAFF_ROW_HAS_LINE:
        # Identity numbers rows by their position in `items` (1, 2, …); the admin
        # needs the line of the file they are fixing.
        for error in service_errors:
            if 1 <= error["line"] <= len(lines):
                error["line"] = lines[error["line"] - 1]
    return {
        "created": answer.created,
        "updated": answer.updated,
        "errors": merge_errors(row_errors(numbered.errors), service_errors),
    }


# StaffRow may gain a `line` field like StudentRow's; use it when it exists.
STAFF_ROW_HAS_LINE = "line" in identity_pb2.StaffRow.DESCRIPTOR.fields_by_name


@router.post(
    "/schools/{school_id}/students",
    response_model=ImportResultOut,
    responses=problem_responses(400, 413, 415, 422),
    openapi_extra=import_body(STUDENT_COLUMNS, StudentImportIn),
)
async def import_students(
    school_id: str,
    request: Request,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    numbered = await read_import(request, STUDENT_COLUMNS, StudentImportIn)
    answer = await peers.call(
        peers.incidents.ImportStudents,
        incidents_pb2.ImportStudentsRequest(
            school_id=school_id,
            items=[incidents_pb2.StudentRow(line=line, **values) for line, values in numbered.rows],
        ),
        token=caller.internal_token,
    )
    return {
        "created": answer.created,
        "updated": answer.updated,
        "errors": merge_errors(
            row_errors(numbered.errors), presenters.import_errors(answer.errors)
        ),
    }


@router.post(
    "/schools/{school_id}/categories",
    status_code=201,
    response_model=NamedOut,
    responses=problem_responses(409),
)
async def create_category(
    school_id: str,
    body: NameIn,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    category = await peers.call(
        peers.incidents.CreateCategory,
        incidents_pb2.CreateCategoryRequest(school_id=school_id, name=body.name),
        token=caller.internal_token,
    )
    return presenters.named(category)


@router.post(
    "/schools/{school_id}/agencies",
    status_code=201,
    response_model=NamedOut,
    responses=problem_responses(409),
)
async def create_agency(
    school_id: str,
    body: NameIn,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    agency = await peers.call(
        peers.incidents.CreateAgency,
        incidents_pb2.CreateAgencyRequest(school_id=school_id, name=body.name),
        token=caller.internal_token,
    )
    return presenters.named(agency)


RETIRE_DESCRIPTION = """\
An extension to API.md. Retires the {what}: it is no longer offered for new
incidents, and past incidents keep it under its name; nothing is deleted.
For the school's admins; 404 for an unknown id or a school the caller cannot see.
"""


@router.delete(
    "/schools/{school_id}/categories/{category_id}",
    status_code=204,
    response_class=Response,
    responses=problem_responses(403, 404),
    description=RETIRE_DESCRIPTION.format(what="category"),
)
async def retire_category(
    school_id: str,
    category_id: str,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> Response:
    await peers.call(
        peers.incidents.RetireCategory,
        incidents_pb2.RetireRequest(school_id=school_id, id=category_id),
        token=caller.internal_token,
    )
    return Response(status_code=204)


@router.delete(
    "/schools/{school_id}/agencies/{agency_id}",
    status_code=204,
    response_class=Response,
    responses=problem_responses(403, 404),
    description=RETIRE_DESCRIPTION.format(what="agency"),
)
async def retire_agency(
    school_id: str,
    agency_id: str,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> Response:
    await peers.call(
        peers.incidents.RetireAgency,
        incidents_pb2.RetireRequest(school_id=school_id, id=agency_id),
        token=caller.internal_token,
    )
    return Response(status_code=204)
