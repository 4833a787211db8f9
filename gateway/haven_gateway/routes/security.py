"""The soft key (TOTP), elevated access, and the caller's own sessions.

Nothing here is remembered by the gateway: each request is authenticated by
identity afresh, so an elevation, a rotated token or an ended session counts
from the very next request.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from haven.identity.v1 import identity_pb2
from haven_gateway import presenters
from haven_gateway.auth import (
    Caller,
    authenticated,
    clear_session_cookie,
    get_peers,
    get_settings,
    set_session_cookie,
)
from haven_gateway.peers import Peers
from haven_gateway.problems import held_to_contract
from haven_gateway.request_context import client_address
from haven_gateway.schemas import problem_responses
from haven_gateway.security_schemas import (
    CodeIn,
    ElevateOut,
    RecoveryCodesOut,
    SessionList,
    TotpSetupIn,
    TotpSetupOut,
)
from haven_gateway.settings import GatewaySettings

router = APIRouter(prefix="/api/v1/auth", tags=["account"], responses=problem_responses(401, 403))


@router.post(
    "/totp/setup", response_model=TotpSetupOut, responses=problem_responses(401, 409, 422, 429)
)
async def set_up_soft_key(
    body: TotpSetupIn,
    request: Request,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    """Start enrolling a soft key: needs the password again; pending until confirmed."""
    with held_to_contract({"invalid_credentials": 401, "totp_already_enrolled": 409}):
        answer = await peers.call(
            peers.identity.SetupTotp,
            identity_pb2.SetupTotpRequest(
                password=body.password, client_address=client_address(request)
            ),
            token=caller.internal_token,
        )
    return {"secret": answer.secret, "otpauth_uri": answer.otpauth_uri, "qr_svg": answer.qr_svg}


@router.post(
    "/totp/confirm", response_model=RecoveryCodesOut, responses=problem_responses(409, 422)
)
async def confirm_soft_key(
    body: CodeIn,
    request: Request,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    """Enrol the pending soft key with a code from the app; returns ten recovery codes."""
    with held_to_contract({"invalid_code": 422}):
        answer = await peers.call(
            peers.identity.ConfirmTotp,
            identity_pb2.ConfirmTotpRequest(code=body.code, client_address=client_address(request)),
            token=caller.internal_token,
        )
    return {"recovery_codes": list(answer.recovery_codes)}


@router.post("/elevate", response_model=ElevateOut, responses=problem_responses(409, 422, 429))
async def elevate(
    body: CodeIn,
    request: Request,
    response: Response,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
    settings: GatewaySettings = Depends(get_settings),
) -> dict[str, Any]:
    """Raise this session to elevated; its token is replaced and the old one stops working."""
    with held_to_contract(
        {"invalid_code": 401, "totp_not_enrolled": 409}, throttled="too_many_attempts"
    ):
        answer = await peers.call(
            peers.identity.Elevate,
            identity_pb2.ElevateRequest(
                # The token this request authenticated with, bearer or cookie: that
                # session is the one raised, and replaced.
                session_token=caller.session_token,
                code=body.code,
                client_address=client_address(request),
            ),
            token=caller.internal_token,
        )
    expires = answer.expires_at.ToDatetime(tzinfo=UTC) if answer.HasField("expires_at") else None
    set_session_cookie(response, answer.session_token, expires, settings)
    return {
        "token": answer.session_token,
        "csrf_token": answer.csrf_token,
        "elevated_until": presenters.rfc3339(answer, "elevated_until"),
        "expires_at": presenters.rfc3339(answer, "expires_at"),
    }


@router.get("/sessions", response_model=SessionList)
async def list_sessions(
    caller: Caller = Depends(authenticated), peers: Peers = Depends(get_peers)
) -> dict[str, Any]:
    """The caller's own sessions that have not ended; `current` marks this one."""
    answer = await peers.call(
        peers.identity.ListSessions,
        identity_pb2.ListSessionsRequest(),
        token=caller.internal_token,
    )
    return {"items": [presenters.session(s) for s in answer.items], "next_cursor": None}


@router.delete(
    "/sessions/{session_id}",
    status_code=204,
    response_class=Response,
    responses=problem_responses(404),
)
async def end_session(
    session_id: str,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
    settings: GatewaySettings = Depends(get_settings),
) -> Response:
    """End one of the caller's sessions at once (another's, or an unknown id, is 404)."""
    await peers.call(
        peers.identity.RevokeSession,
        identity_pb2.RevokeSessionRequest(session_id=session_id),
        token=caller.internal_token,
    )
    response = Response(status_code=204)
    if session_id == caller.session_id:
        clear_session_cookie(response, settings)
    return response
