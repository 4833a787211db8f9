"""The gateway reuses identity's answer for a session for a few seconds, and forgets it at
once when a change to sessions or accounts passes through it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from haven_gateway.app import create_app
from haven_gateway.auth_cache import changes_accounts

from .gateway_doubles import settings_for

ALICE = {"Authorization": "Bearer session-alice"}
BOB = {"Authorization": "Bearer session-bob"}
ADA = {"Authorization": "Bearer session-ada"}  # admin of Alice's and Bob's school


@pytest.fixture
async def cached(doubles) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    app = create_app(settings_for(doubles.address, auth_cache_seconds=1.0))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


async def test_one_call_to_identity_serves_a_sessions_requests_for_the_seconds_set(cached, doubles):  # type: ignore[no-untyped-def]
    for _ in range(5):
        assert (await cached.get("/api/v1/me", headers=ALICE)).status_code == 200
    assert len(doubles.record.of("Authenticate")) == 1
    # Another session is its own entry.
    assert (await cached.get("/api/v1/me", headers=BOB)).json()["id"] == "u-bob"
    assert len(doubles.record.of("Authenticate")) == 2
    # Past the seconds, identity is asked again, and sees what changed behind our back.
    doubles.identity.disabled.add("u-alice")
    await asyncio.sleep(1.1)
    assert (await cached.get("/api/v1/me", headers=ALICE)).status_code == 401


async def test_a_change_through_the_gateway_counts_from_the_very_next_request(cached, doubles):  # type: ignore[no-untyped-def]
    assert (await cached.get("/api/v1/me", headers=BOB)).status_code == 200
    # Their school's admin disables Bob through this gateway.
    disabled = await cached.post("/api/v1/admin/users/u-bob/disable", headers=ADA)
    assert disabled.status_code == 204
    assert (await cached.get("/api/v1/me", headers=BOB)).status_code == 401


async def test_logging_out_ends_the_session_at_once(cached, doubles):  # type: ignore[no-untyped-def]
    assert (await cached.get("/api/v1/me", headers=ALICE)).status_code == 200
    assert (await cached.post("/api/v1/auth/logout", headers=ALICE)).status_code == 204
    assert (await cached.get("/api/v1/me", headers=ALICE)).status_code == 401


async def test_a_cookie_request_with_a_csrf_token_always_asks_identity(cached, doubles):  # type: ignore[no-untyped-def]
    cached.cookies.set("haven_session", "session-alice")
    assert (await cached.get("/api/v1/me")).status_code == 200
    wrong = await cached.post("/api/v1/alerts/al-1/read", headers={"X-CSRF-Token": "csrf-bob"})
    assert (wrong.status_code, wrong.json()["code"]) == (403, "csrf_failed")
    right = await cached.post("/api/v1/alerts/al-1/read", headers={"X-CSRF-Token": "csrf-alice"})
    assert right.status_code == 204
    assert len(doubles.record.of("Authenticate")) == 3


async def test_requests_arriving_while_identity_is_asked_share_its_one_answer(cached, doubles):  # type: ignore[no-untyped-def]
    replies = await asyncio.gather(*(cached.get("/api/v1/me", headers=ALICE) for _ in range(20)))
    assert {r.status_code for r in replies} == {200}
    assert len(doubles.record.of("Authenticate")) == 1
    # A refusal is shared the same way, and not remembered.
    doubles.identity.disabled.add("u-bob")
    replies = await asyncio.gather(*(cached.get("/api/v1/me", headers=BOB) for _ in range(10)))
    assert {r.status_code for r in replies} == {401}
    assert len(doubles.record.of("Authenticate")) == 2
    doubles.identity.disabled.discard("u-bob")
    assert (await cached.get("/api/v1/me", headers=BOB)).status_code == 200


def test_which_requests_change_sessions_or_accounts():
    assert changes_accounts("POST", "/api/v1/auth/logout")
    assert changes_accounts("DELETE", "/api/v1/auth/sessions/s-1")
    assert changes_accounts("POST", "/api/v1/admin/schools/x/staff")
    assert changes_accounts("post", "/api/v1/auth/totp/confirm")
    assert not changes_accounts("GET", "/api/v1/admin/audit")
    assert not changes_accounts("POST", "/api/v1/auth/login")
    assert not changes_accounts("POST", "/api/v1/auth/password-strength")
    assert not changes_accounts("POST", "/api/v1/incidents")
