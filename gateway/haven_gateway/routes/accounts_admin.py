"""Administration of accounts: unlock, soft key reset, disable and enable, removing a
membership, and the audit log. Identity decides who may do each and audits it.

Each change counts from the member's very next request through this gateway,
which forgets every remembered session after a change (auth_cache.py), and
within HAVEN_AUTH_CACHE_SECONDS through any other replica.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from haven.identity.v1 import identity_pb2
from haven_gateway import presenters
from haven_gateway.auth import Caller, authenticated, get_peers
from haven_gateway.peers import Peers
from haven_gateway.problems import FieldError, validation_failed
from haven_gateway.schemas import TrustRoleGrantOut, TrustRoleIn, problem_responses
from haven_gateway.schools import resolve_school_id
from haven_gateway.security_schemas import AuditList

router = APIRouter(
    prefix="/api/v1/admin", tags=["administration"], responses=problem_responses(401, 403, 404)
)

NO_CONTENT: dict[str, Any] = {
    "status_code": 204,
    "response_class": Response,
    "responses": problem_responses(404),
}


@router.post("/users/{user_id}/unlock", **NO_CONTENT)
async def unlock_user(
    user_id: str, caller: Caller = Depends(authenticated), peers: Peers = Depends(get_peers)
) -> Response:
    """Lift the lock that repeated failed logins put on an account."""
    await peers.call(
        peers.identity.UnlockUser,
        identity_pb2.UnlockUserRequest(user_id=user_id),
        token=caller.internal_token,
    )
    return Response(status_code=204)


@router.post("/users/{user_id}/totp/reset", **NO_CONTENT)
async def reset_soft_key(
    user_id: str, caller: Caller = Depends(authenticated), peers: Peers = Depends(get_peers)
) -> Response:
    """Remove a member's soft key (they set up a new one); they are emailed."""
    await peers.call(
        peers.identity.ResetTotp,
        identity_pb2.ResetTotpRequest(user_id=user_id),
        token=caller.internal_token,
    )
    return Response(status_code=204)


@router.post("/users/{user_id}/disable", **NO_CONTENT)
async def disable_user(
    user_id: str, caller: Caller = Depends(authenticated), peers: Peers = Depends(get_peers)
) -> Response:
    """Disable an account: its sessions stop working at once and it cannot log in."""
    return await _set_disabled(peers, caller, user_id, disabled=True)


@router.post("/users/{user_id}/enable", **NO_CONTENT)
async def enable_user(
    user_id: str, caller: Caller = Depends(authenticated), peers: Peers = Depends(get_peers)
) -> Response:
    """Enable a disabled account again."""
    return await _set_disabled(peers, caller, user_id, disabled=False)


async def _set_disabled(peers: Peers, caller: Caller, user_id: str, *, disabled: bool) -> Response:
    await peers.call(
        peers.identity.SetUserDisabled,
        identity_pb2.SetUserDisabledRequest(user_id=user_id, disabled=disabled),
        token=caller.internal_token,
    )
    return Response(status_code=204)


@router.delete("/schools/{school_id}/staff/{user_id}", **NO_CONTENT)
async def remove_membership(
    school_id: str,
    user_id: str,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> Response:
    """Remove a member of staff from the school (their account and other schools remain)."""
    await peers.call(
        peers.identity.RemoveMembership,
        identity_pb2.RemoveMembershipRequest(school_id=school_id, user_id=user_id),
        token=caller.internal_token,
    )
    return Response(status_code=204)


@router.post(
    "/trusts/{trust_id}/roles",
    status_code=201,
    response_model=TrustRoleGrantOut,
    responses=problem_responses(422),
)
async def grant_trust_role(
    trust_id: str,
    body: TrustRoleIn,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    """Give someone trust_dsl or trust_admin in every school of the trust (trust_admin only).

    An email with no account gets one without a password (`name` is then
    required); they register through the password-reset email.
    """
    granted = await peers.call(
        peers.identity.GrantTrustRole,
        identity_pb2.GrantTrustRoleRequest(
            trust_id=trust_id, email=body.email, name=body.name, role=body.role
        ),
        token=caller.internal_token,
    )
    return {
        "user_id": granted.user_id,
        "trust_id": trust_id,
        "role": body.role,
        "account_created": granted.account_created,
        "role_added": granted.role_added,
    }


@router.delete(
    "/trusts/{trust_id}/roles/{role}/{user_id}",
    status_code=204,
    response_class=Response,
    responses=problem_responses(404, 409),
)
async def revoke_trust_role(
    trust_id: str,
    role: str,
    user_id: str,
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> Response:
    """Take a trust role away; a trust always keeps one trust_admin (409 `last_trust_admin`)."""
    await peers.call(
        peers.identity.RevokeTrustRole,
        identity_pb2.RevokeTrustRoleRequest(trust_id=trust_id, user_id=user_id, role=role),
        token=caller.internal_token,
    )
    return Response(status_code=204)


@router.get("/audit", response_model=AuditList, responses=problem_responses(422))
async def list_audit_events(
    school_id: str | None = Query(
        None, max_length=64, description="A school's events (optional when you have one school)."
    ),
    trust_id: str | None = Query(None, max_length=64, description="Or a whole trust's events."),
    limit: int = Query(20, ge=1, le=100),
    cursor: str | None = Query(None, max_length=512),
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
) -> dict[str, Any]:
    """The append-only audit log, newest first, for school and trust admins."""
    if school_id and trust_id:
        raise validation_failed([FieldError("trust_id", "Give school_id or trust_id, not both.")])
    request = identity_pb2.ListAuditEventsRequest(limit=limit, cursor=cursor or "")
    if trust_id:
        request.trust_id = trust_id
    else:
        request.school_id = resolve_school_id(caller, school_id)
    answer = await peers.call(peers.identity.ListAuditEvents, request, token=caller.internal_token)
    return {
        "items": [presenters.audit_event(e) for e in answer.items],
        "next_cursor": answer.next_cursor or None,
    }
