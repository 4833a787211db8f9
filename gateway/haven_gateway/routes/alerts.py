"""The dashboard's alerts: the incidents the caller has been alerted to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from haven.notifications.v1 import notifications_pb2
from haven_gateway import presenters
from haven_gateway.auth import Caller, authenticated, get_peers
from haven_gateway.peers import Peers
from haven_gateway.schemas import AlertList, problem_responses

router = APIRouter(prefix="/api/v1", tags=["alerts"], responses=problem_responses(401, 403, 422))


@router.get("/alerts", response_model=AlertList, responses=problem_responses(422))
async def list_alerts(
    limit: int = Query(20, ge=1, le=100),
    cursor: str | None = Query(None, max_length=512),
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    answer = await peers.call(
        peers.notifications.ListAlerts,
        notifications_pb2.ListAlertsRequest(limit=limit, cursor=cursor or ""),
        token=caller.internal_token,
    )
    return {
        "items": [presenters.alert(a) for a in answer.items],
        "next_cursor": answer.next_cursor or None,
        "unread_count": answer.unread_count,
    }


@router.post(
    "/alerts/{alert_id}/read",
    status_code=204,
    response_class=Response,
    responses=problem_responses(404),
)
async def mark_alert_read(
    alert_id: str, caller: Caller = Depends(authenticated), peers: Peers = Depends(get_peers)
) -> Response:
    await peers.call(
        peers.notifications.MarkAlertRead,
        notifications_pb2.MarkAlertReadRequest(alert_id=alert_id),
        token=caller.internal_token,
    )
    return Response(status_code=204)
