"""Who is calling: a session token (Bearer or the haven_session cookie) checked by identity.

The gateway keeps no sessions of its own. It asks identity.Authenticate, which
reads the account and roles afresh and hands back a short-lived internal token;
that token, never anything the client sent, is what the services see. The
answer is reused for a couple of seconds (auth_cache.py), and forgotten at once
when a change to sessions or accounts passes through this gateway.
Cookie-authenticated unsafe requests must also carry the session's CSRF token,
because a browser attaches cookies to cross-site requests; a bearer token is
never sent by a browser on its own, so needs none.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import structlog
from fastapi import Depends, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from haven.identity.v1 import identity_pb2
from haven_gateway.auth_cache import AuthCache
from haven_gateway.peers import Peers
from haven_gateway.problems import Problem
from haven_gateway.settings import GatewaySettings

SESSION_COOKIE = "haven_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Longer than any token identity issues; anything bigger is not worth a call.
MAX_TOKEN_LENGTH = 512

Via = Literal["bearer", "cookie"]

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="The session token from POST /api/v1/auth/login (mobile apps, scripts).",
)
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session_cookie",
    description=(
        "The session cookie set at login (web). Unsafe methods must also send "
        f"{CSRF_HEADER} equal to the csrf_token returned at login."
    ),
)


@dataclass(frozen=True)
class Caller:
    user: identity_pb2.User
    internal_token: str
    session_id: str
    session_token: str
    via: Via

    @property
    def school_ids(self) -> list[str]:
        return list(dict.fromkeys(m.school_id for m in self.user.memberships))


def csrf_required(method: str, via: Via) -> bool:
    return via == "cookie" and method.upper() in UNSAFE_METHODS


# Dependencies that only read app state are coroutines: FastAPI runs a plain
# `def` dependency in a worker thread, a hop that costs more than the work.
async def get_peers(request: Request) -> Peers:
    peers: Peers = request.app.state.peers
    return peers


async def get_settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


def session_token_from(
    bearer: HTTPAuthorizationCredentials | None, cookie: str | None
) -> tuple[str, Via] | None:
    # Bearer wins: a script that also holds a cookie jar means the token it names.
    if bearer is not None and bearer.credentials:
        return bearer.credentials, "bearer"
    if cookie:
        return cookie, "cookie"
    return None


async def authenticated(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
    cookie: str | None = Depends(cookie_scheme),
) -> Caller:
    found = session_token_from(bearer, cookie)
    if found is None:
        raise unauthenticated("Log in, then send the session cookie or a Bearer token.")
    session_token, via = found
    if len(session_token) > MAX_TOKEN_LENGTH:
        raise unauthenticated("The session token is not valid.")

    needs_csrf = csrf_required(request.method, via)
    csrf_token = request.headers.get(CSRF_HEADER, "") if needs_csrf else ""
    cache: AuthCache = request.app.state.auth_cache
    # Not a dependency of its own: every dependency costs FastAPI some work on
    # each request, and this one runs on nearly every request.
    peers: Peers = request.app.state.peers

    def ask() -> Awaitable[identity_pb2.AuthenticateResponse]:
        return peers.call(
            peers.identity.Authenticate,
            identity_pb2.AuthenticateRequest(session_token=session_token, csrf_token=csrf_token),
        )

    if needs_csrf:
        # A CSRF token is checked by identity against the session, so it always asks.
        answer = await cache.asked_afresh(session_token, ask)
    else:
        answer = await cache.remembered_or_asked(session_token, ask)
    if needs_csrf and not (csrf_token and answer.csrf_valid):
        raise Problem(
            403, "csrf_failed", f"Send the {CSRF_HEADER} header with the csrf_token from login."
        )
    structlog.contextvars.bind_contextvars(user_id=answer.user.id)
    return Caller(
        user=answer.user,
        internal_token=answer.internal_token,
        session_id=answer.session_id,
        session_token=session_token,
        via=via,
    )


def unauthenticated(detail: str) -> Problem:
    return Problem(401, "unauthenticated", detail, headers={"WWW-Authenticate": "Bearer"})


def set_session_cookie(
    response: Response, token: str, expires_at: datetime | None, settings: GatewaySettings
) -> None:
    # The cookie lives exactly as long as the session (a browser session if unknown).
    response.set_cookie(
        SESSION_COOKIE,
        token,
        expires=expires_at,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: GatewaySettings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=settings.secure_cookies, httponly=True, samesite="lax"
    )
