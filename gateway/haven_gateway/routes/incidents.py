"""Recording an incident, reading one back, and a pupil's chronology."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Response

from haven.files.v1 import files_pb2
from haven.incidents.v1 import incidents_pb2
from haven_gateway import presenters
from haven_gateway.auth import Caller, authenticated, get_peers
from haven_gateway.peers import Peers
from haven_gateway.problems import Problem
from haven_gateway.schemas import (
    AddendumIn,
    AddendumOut,
    IncidentIn,
    IncidentOut,
    IncidentViewList,
    problem_responses,
)
from haven_gateway.schools import resolve_school_id
from haven_gateway.security_schemas import IncidentList
from haven_runtime.logging import get_logger

log = get_logger("haven.gateway.incidents")

router = APIRouter(
    prefix="/api/v1", tags=["incidents"], responses=problem_responses(401, 403, 404, 422)
)


@router.post(
    "/incidents",
    status_code=201,
    response_model=IncidentOut,
    responses=problem_responses(409, 422),
)
async def record_incident(
    body: IncidentIn,
    response: Response,
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        max_length=200,
        description="Send the same key again to get the same incident, never a second one.",
    ),
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    request = incidents_pb2.RecordIncidentRequest(
        school_id=resolve_school_id(caller, body.school_id),
        student_id=body.student_id,
        description=body.description,
        category_ids=body.category_ids,
        linked_student_ids=body.linked_student_ids,
        body_map=[
            incidents_pb2.BodyMapMark(number=n, side=m.side, x=m.x, y=m.y, note=m.note)
            for n, m in enumerate(body.body_map, start=1)
        ],
        alert_staff_ids=body.alert_staff_ids,
        file_ids=body.file_ids,
        agency_ids=body.agency_ids,
        idempotency_key=idempotency_key or "",
    )
    if body.occurred_at is not None:
        request.occurred_at.CopyFrom(presenters.timestamp(body.occurred_at))
    incident = await peers.call(
        peers.incidents.RecordIncident, request, token=caller.internal_token
    )
    response.headers["Location"] = f"/api/v1/incidents/{incident.id}"
    return await incident_json(peers, caller, incident)


@router.get("/incidents/{incident_id}", response_model=IncidentOut)
async def get_incident(
    incident_id: str, caller: Caller = Depends(authenticated), peers: Peers = Depends(get_peers)
) -> dict[str, Any]:
    incident = await peers.call(
        peers.incidents.GetIncident,
        incidents_pb2.GetIncidentRequest(incident_id=incident_id),
        token=caller.internal_token,
    )
    return await incident_json(peers, caller, incident)


@router.post(
    "/incidents/{incident_id}/addenda",
    status_code=201,
    response_model=AddendumOut,
    responses=problem_responses(403, 404, 422),
)
async def add_addendum(
    incident_id: str,
    body: AddendumIn,
    response: Response,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    """A correction or follow-up, by the incident's author or a DSL; the original never changes.

    Incidents decides who may: 404 for an incident the caller cannot see (the
    same as an unknown id), 403 forbidden for one they can see but may not add to.
    """
    added = await peers.call(
        peers.incidents.AddAddendum,
        incidents_pb2.AddAddendumRequest(incident_id=incident_id, text=body.text),
        token=caller.internal_token,
    )
    response.headers["Location"] = f"/api/v1/incidents/{incident_id}"
    return presenters.addendum(added)


@router.get(
    "/incidents/{incident_id}/views",
    response_model=IncidentViewList,
    responses=problem_responses(403, 404, 422),
)
async def incident_views(
    incident_id: str,
    limit: int = Query(20, ge=1, le=100),
    cursor: str | None = Query(None, max_length=512),
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    """Who viewed the incident or downloaded its files, and from where: for DSLs.

    404 for an incident the caller cannot see; 403 forbidden for one they can
    see but whose audit trail is not theirs to read.
    """
    answer = await peers.call(
        peers.incidents.ListIncidentViews,
        incidents_pb2.ListIncidentViewsRequest(
            incident_id=incident_id, limit=limit, cursor=cursor or ""
        ),
        token=caller.internal_token,
    )
    return {
        "items": [presenters.incident_view(v) for v in answer.items],
        "next_cursor": answer.next_cursor or None,
    }


@router.get("/students/{student_id}/incidents", response_model=IncidentList)
async def student_chronology(
    student_id: str,
    limit: int = Query(20, ge=1, le=100),
    cursor: str | None = Query(None, max_length=512),
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    """Every incident in which the pupil is the student or a linked student, newest first.

    For a DSL whose session is elevated. Incidents decides, from the verified
    token: 403 elevation_required (not elevated, or it has expired), 403
    forbidden (a role that may not see chronologies), 404 (no such pupil here).
    """
    answer = await peers.call(
        peers.incidents.ListStudentIncidents,
        incidents_pb2.ListStudentIncidentsRequest(
            student_id=student_id, limit=limit, cursor=cursor or ""
        ),
        token=caller.internal_token,
    )
    items = await asyncio.gather(*(incident_json(peers, caller, i) for i in answer.items))
    return {"items": list(items), "next_cursor": answer.next_cursor or None}


async def incident_json(
    peers: Peers, caller: Caller, incident: incidents_pb2.Incident
) -> dict[str, Any]:
    files = await asyncio.gather(*(file_summary(peers, caller, f) for f in incident.file_ids))
    return presenters.incident(incident, list(files))


async def file_summary(peers: Peers, caller: Caller, file_id: str) -> dict[str, Any]:
    """A file's name, size and type; just its id if files cannot say right now.

    The incident is the record the reader came for: a file service that is
    down, or slow, must not stop them from reading it.
    """
    try:
        stored = await peers.call(
            peers.files.GetFile,
            files_pb2.GetFileRequest(file_id=file_id),
            token=caller.internal_token,
        )
    except Problem as problem:
        log.warning("file details unavailable", file_id=file_id, code=problem.code)
        return {"id": file_id, "filename": None, "size": None, "content_type": None}
    return presenters.file_summary(stored)
