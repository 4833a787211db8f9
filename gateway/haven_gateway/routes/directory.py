"""Schools, pupils, staff, categories and agencies: what the incident form picks from."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from haven.identity.v1 import identity_pb2
from haven.incidents.v1 import incidents_pb2
from haven_gateway import presenters
from haven_gateway.auth import Caller, authenticated, get_peers
from haven_gateway.peers import Peers
from haven_gateway.schemas import NamedList, SchoolList, StaffList, StudentList, problem_responses
from haven_gateway.schools import resolve_school_id

router = APIRouter(prefix="/api/v1", tags=["directory"], responses=problem_responses(401, 404, 422))

SchoolParam = Query(None, max_length=64, description="Optional when you belong to one school.")
LimitParam = Query(20, ge=1, le=100)


@router.get("/schools", response_model=SchoolList)
async def list_schools(
    caller: Caller = Depends(authenticated), peers: Peers = Depends(get_peers)
) -> dict[str, Any]:
    answer = await peers.call(
        peers.identity.ListSchools, identity_pb2.ListSchoolsRequest(), token=caller.internal_token
    )
    return {"items": [presenters.school(s) for s in answer.items], "next_cursor": None}


@router.get("/students", response_model=StudentList)
async def search_students(
    q: str = Query("", max_length=100, description="Start of a first, last or full name."),
    school_id: str | None = Query(
        None, max_length=64, description="Optional: every school of yours when left out."
    ),
    limit: int = LimitParam,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    # Searching across all of one's schools is meaningful (the answer names each
    # pupil's school), so a member of several schools may leave school_id out.
    schools = caller.school_ids
    school = school_id or (schools[0] if len(schools) == 1 else "")
    answer = await peers.call(
        peers.incidents.SearchStudents,
        incidents_pb2.SearchStudentsRequest(query=q, school_id=school, limit=limit),
        token=caller.internal_token,
    )
    return {"items": [presenters.student(s) for s in answer.items], "next_cursor": None}


@router.get("/staff", response_model=StaffList)
async def list_staff(
    q: str = Query("", max_length=100),
    school_id: str | None = SchoolParam,
    limit: int = LimitParam,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    answer = await peers.call(
        peers.identity.ListStaff,
        identity_pb2.ListStaffRequest(
            school_id=resolve_school_id(caller, school_id), query=q, limit=limit
        ),
        token=caller.internal_token,
    )
    return {"items": [presenters.staff_member(s) for s in answer.items], "next_cursor": None}


@router.get("/categories", response_model=NamedList)
async def list_categories(
    school_id: str | None = SchoolParam,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    answer = await peers.call(
        peers.incidents.ListCategories,
        incidents_pb2.ListCategoriesRequest(school_id=resolve_school_id(caller, school_id)),
        token=caller.internal_token,
    )
    return {"items": [presenters.named(c) for c in answer.items], "next_cursor": None}


@router.get("/agencies", response_model=NamedList)
async def list_agencies(
    school_id: str | None = SchoolParam,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    answer = await peers.call(
        peers.incidents.ListAgencies,
        incidents_pb2.ListAgenciesRequest(school_id=resolve_school_id(caller, school_id)),
        token=caller.internal_token,
    )
    return {"items": [presenters.named(a) for a in answer.items], "next_cursor": None}
