"""Password reset and strength, login, logout and the caller's own account."""

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
from haven_gateway.problems import FieldError, Problem, held_to_contract
from haven_gateway.request_context import client_address
from haven_gateway.schemas import (
    AcceptedOut,
    LoginIn,
    LoginOut,
    PasswordResetConfirmIn,
    PasswordResetIn,
    PasswordStrengthIn,
    StrengthOut,
    UserOut,
    problem_responses,
)
from haven_gateway.settings import GatewaySettings

router = APIRouter(prefix="/api/v1", tags=["account"])

# The same answer whether or not the account exists, so nobody can probe for one.
ACCEPTED = {"status": "accepted"}
MAX_CLIENT_DESCRIPTION = 200
LOGIN_REFUSED = ("invalid_credentials", "The email address or password is not right.")


@router.post(
    "/auth/password-reset",
    status_code=202,
    response_model=AcceptedOut,
    responses=problem_responses(422, 429, 503),
)
async def request_password_reset(
    body: PasswordResetIn, request: Request, peers: Peers = Depends(get_peers)
) -> dict[str, str]:
    with held_to_contract(throttled="too_many_requests"):
        await peers.call(
            peers.identity.RequestPasswordReset,
            identity_pb2.RequestPasswordResetRequest(
                email=body.email, client_address=client_address(request)
            ),
        )
    return ACCEPTED


@router.post(
    "/auth/password-strength", response_model=StrengthOut, responses=problem_responses(422, 503)
)
async def password_strength(
    body: PasswordStrengthIn, peers: Peers = Depends(get_peers)
) -> dict[str, Any]:
    return presenters.strength(await _strength(peers, body.password, body.token or ""))


@router.post(
    "/auth/password-reset/confirm",
    status_code=204,
    response_class=Response,
    responses=problem_responses(410, 422, 503),
)
async def confirm_password_reset(
    body: PasswordResetConfirmIn, peers: Peers = Depends(get_peers)
) -> Response:
    try:
        answer = await peers.call(
            peers.identity.ConfirmPasswordReset,
            identity_pb2.ConfirmPasswordResetRequest(token=body.token, password=body.password),
        )
    except Problem as problem:
        if problem.code != "weak_password":
            raise
        # Identity refused with an error rather than an answer; the client
        # still needs the strength to show why.
        strength = await _strength(peers, body.password, body.token)
        raise weak_password(strength) from None
    if answer.weak:
        raise weak_password(answer.strength)
    return Response(status_code=204)


def weak_password(strength: identity_pb2.PasswordStrength) -> Problem:
    message = strength.warning or "Choose a stronger password."
    return Problem(
        422,
        "weak_password",
        "The password is not strong enough.",
        errors=[FieldError("password", message)],
        extra={"strength": presenters.strength(strength)},
    )


async def _strength(peers: Peers, password: str, token: str) -> identity_pb2.PasswordStrength:
    strength: identity_pb2.PasswordStrength = await peers.call(
        peers.identity.CheckPasswordStrength,
        identity_pb2.CheckPasswordStrengthRequest(password=password, token=token),
    )
    return strength


@router.post("/auth/login", response_model=LoginOut, responses=problem_responses(401, 422, 429))
async def login(
    body: LoginIn,
    request: Request,
    response: Response,
    peers: Peers = Depends(get_peers),
    settings: GatewaySettings = Depends(get_settings),
) -> dict[str, Any]:
    # One answer for unknown email, wrong password, locked or disabled account,
    # whatever words identity used: a refusal must not say which it was.
    with held_to_contract(throttled="too_many_attempts", refused=LOGIN_REFUSED):
        answer = await peers.call(
            peers.identity.Login,
            identity_pb2.LoginRequest(
                email=body.email,
                password=body.password,
                client_address=client_address(request),
                # Shown in the session list, so the user can tell their sessions apart.
                client=request.headers.get("user-agent", "")[:MAX_CLIENT_DESCRIPTION],
            ),
        )
    expires = answer.expires_at.ToDatetime(tzinfo=UTC) if answer.HasField("expires_at") else None
    set_session_cookie(response, answer.session_token, expires, settings)
    response.headers["Cache-Control"] = "no-store"
    return {
        "token": answer.session_token,
        "csrf_token": answer.csrf_token,
        "expires_at": presenters.rfc3339(answer, "expires_at"),
        "user": presenters.user(answer.user),
    }


@router.post(
    "/auth/logout",
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403),
)
async def logout(
    caller: Caller = Depends(authenticated),
    peers: Peers = Depends(get_peers),
    settings: GatewaySettings = Depends(get_settings),
) -> Response:
    await peers.call(
        peers.identity.Logout,
        identity_pb2.LogoutRequest(session_token=caller.session_token),
        token=caller.internal_token,
    )
    response = Response(status_code=204)
    clear_session_cookie(response, settings)
    return response


@router.get("/me", response_model=UserOut, responses=problem_responses(401))
async def me(caller: Caller = Depends(authenticated)) -> dict[str, Any]:
    # Authenticate has just read the account afresh; asking again would add nothing.
    return presenters.user(caller.user)
